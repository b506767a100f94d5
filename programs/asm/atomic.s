# The A extension: an lr/sc increment loop, the AMOs, and sc without a
# reservation (RISC-V unprivileged spec, chapter 8).
# Expected output, one line each (16 hex digits):
#   0000000000000064  counter after 100 lr.d/sc.d increments
#   0000000000000064  amoadd.w returns the old value (100)
#   0000000000000069  ... and memory holds 105
#   0000000000000069  amoswap.d returns the old value
#   ffffffffffffffff  ... and memory holds -1
#   ffffffffffffffff  amomax.d returns the old value -1
#   0000000000000007  ... and memory holds max(-1, 7) = 7
#   0000000000000007  amominu.d: memory holds minu(7, -1) = 7
#   0000000000000005  amoand.w + amoor.w: (7 & 13) | 0 = 5
#   0000000000000001  sc.d without a reservation fails (non-zero)
# Exit code 0.

    .text
    .globl _start
_start:
    la s0, counter
    li s1, 100
increment:
    lr.d t0, (s0)
    addi t0, t0, 1
    sc.d t1, t0, (s0)
    bnez t1, increment      # retry when the reservation was lost
    addi s1, s1, -1
    bnez s1, increment
    ld a0, 0(s0)
    call print_hex

    li t0, 5
    amoadd.w.aqrl a0, t0, (s0)
    call print_hex
    lw a0, 0(s0)
    call print_hex

    li t0, -1
    amoswap.d a0, t0, (s0)
    call print_hex
    ld a0, 0(s0)
    call print_hex

    li t0, 7
    amomax.d.aq a0, t0, (s0)
    call print_hex
    ld a0, 0(s0)
    call print_hex

    li t0, -1
    amominu.d.rl a0, t0, (s0)
    ld a0, 0(s0)
    call print_hex

    li t0, 13
    amoand.w zero, t0, (s0)
    amoor.w zero, zero, (s0)
    lw a0, 0(s0)
    call print_hex

    li t0, 42
    sc.d a0, t0, (s0)
    snez a0, a0
    call print_hex

    li a0, 0
    li a7, 93               # exit
    ecall

# print_hex(a0): writes a0 as 16 hex digits and a newline.
print_hex:
    la t0, hex_buffer
    li t1, 60
nibble:
    srl t2, a0, t1
    andi t2, t2, 15
    la t3, hex_digits
    add t3, t3, t2
    lbu t2, 0(t3)
    sb t2, 0(t0)
    addi t0, t0, 1
    addi t1, t1, -4
    bgez t1, nibble
    li t2, '\n'
    sb t2, 0(t0)
    li a0, 1
    la a1, hex_buffer
    li a2, 17
    li a7, 64               # write
    ecall
    ret

    .section .rodata
hex_digits:
    .ascii "0123456789abcdef"

    .data
    .align 3
counter:
    .dword 0

    .bss
hex_buffer:
    .space 17

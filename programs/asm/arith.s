# Arithmetic edge cases of RV64IM, each result printed as 16 hex digits.
# RISC-V unprivileged spec, 13.2 (division by zero and overflow do not
# trap), 4.2/4.3 (W forms sign-extend their 32-bit results), 2.4 (shift
# amounts use only the low 6 bits, or 5 for W forms).
# Expected output, one line each:
#   ffffffffffffffff  div 7/0 = -1
#   0000000000000007  rem 7%0 = 7
#   ffffffffffffffff  divu 7/0 = 2^64-1
#   0000000000000007  remu 7%0 = 7
#   8000000000000000  div INT64_MIN/-1 overflows to INT64_MIN
#   0000000000000000  rem INT64_MIN%-1 = 0
#   ffffffff80000000  divw INT32_MIN/-1 = INT32_MIN, sign-extended
#   0000000000000000  remw INT32_MIN%-1 = 0
#   ffffffffffffffff  divuw 5/0 = 2^32-1 sign-extended
#   4000000000000000  mulh INT64_MIN*INT64_MIN (high half)
#   fffffffffffffffe  mulhu (2^64-1)^2 (high half)
#   ffffffffffffffff  mulhsu -1 * (2^64-1) (high half)
#   0000000000000000  mul 2^32 * 2^32 (low half)
#   ffffffff80000000  addw 0x7fffffff + 1 wraps
#   ffffffff80000000  sllw 1 << 31
#   fffffffff8000000  sraw INT32_MIN >> 4
#   0000000008000000  srlw 0x80000000 >> 4
#   0000000000000002  sll 1 << 65 (shift amount mod 64)
#   ffffffffffffffff  srai INT64_MIN >> 63
#   0000000000000001  srli INT64_MIN >> 63
#   0000000000000001  slt -1 < 1
#   0000000000000000  sltu -1 < 1 (unsigned)
#   123456789abcdef0  li of a 64-bit constant
#   ffffffffffffff80  lb of 0x80 sign-extends
#   0000000000000080  lbu of 0x80 zero-extends
#   00000000ffffffff  lwu of 0xffffffff zero-extends
# Exit code 0.

    .text
    .globl _start
_start:
    li s0, 7
    li s1, 0
    div a0, s0, s1
    call print_hex
    rem a0, s0, s1
    call print_hex
    divu a0, s0, s1
    call print_hex
    remu a0, s0, s1
    call print_hex

    li s0, 0x8000000000000000
    li s1, -1
    div a0, s0, s1
    call print_hex
    rem a0, s0, s1
    call print_hex
    li s2, 0x80000000
    divw a0, s2, s1
    call print_hex
    remw a0, s2, s1
    call print_hex
    li s3, 5
    divuw a0, s3, zero
    call print_hex

    mulh a0, s0, s0
    call print_hex
    mulhu a0, s1, s1
    call print_hex
    mulhsu a0, s1, s1
    call print_hex
    li s3, 0x100000000
    mul a0, s3, s3
    call print_hex

    li s3, 0x7fffffff
    li s4, 1
    addw a0, s3, s4
    call print_hex
    li s3, 31
    sllw a0, s4, s3
    call print_hex
    li s3, 4
    sraw a0, s2, s3
    call print_hex
    srlw a0, s2, s3
    call print_hex
    li s3, 65
    sll a0, s4, s3
    call print_hex
    srai a0, s0, 63
    call print_hex
    srli a0, s0, 63
    call print_hex
    slt a0, s1, s4
    call print_hex
    sltu a0, s1, s4
    call print_hex
    li a0, 0x123456789abcdef0
    call print_hex

    la s5, bytes
    lb a0, 0(s5)
    call print_hex
    lbu a0, 0(s5)
    call print_hex
    lwu a0, 4(s5)
    call print_hex

    li a0, 0
    li a7, 93               # exit
    ecall

# print_hex(a0): writes a0 as 16 hex digits and a newline.
print_hex:
    la t0, hex_buffer
    li t1, 60               # shift of the top nibble
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
    .align 2
bytes:
    .byte 0x80, 0, 0, 0
    .word 0xffffffff

    .bss
hex_buffer:
    .space 17

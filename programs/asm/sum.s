# Sums 1..100 in a loop, prints the sum in decimal and exits with sum & 255.
# Expected output: "5050\n", exit code 186 (5050 = 19 * 256 + 186).
# Exercises: a counted loop (bge/bgt/blt), mul/rem/div by constants,
# a .bss buffer filled backwards, call/ret.

    .text
    .globl _start
_start:
    li s0, 0                # sum
    li s1, 1                # i
    li s2, 100
loop:
    add s0, s0, s1
    addi s1, s1, 1
    ble s1, s2, loop        # pseudo: bge s2, s1, loop

    mv a0, s0
    call print_decimal
    andi a0, s0, 255
    li a7, 93               # exit
    ecall

# print_decimal(a0): writes a0 (unsigned) in decimal and a newline.
print_decimal:
    la t0, buffer_end
    li t1, 10
    addi t0, t0, -1
    sb t1, 0(t0)            # the newline, last
digits:
    remu t2, a0, t1
    addi t2, t2, '0'
    addi t0, t0, -1
    sb t2, 0(t0)
    divu a0, a0, t1
    bnez a0, digits
    mv a1, t0               # from the first digit
    la a2, buffer_end
    sub a2, a2, a1          # to the end
    li a0, 1
    li a7, 64               # write
    ecall
    ret

    .bss
buffer:
    .zero 24
buffer_end:

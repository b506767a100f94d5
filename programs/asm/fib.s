# Recursive Fibonacci with a stack frame per call, a table of pointers in
# .data (.dword label) and a jump through a register; prints fib(0..15)
# separated by spaces, then exits with fib(15) & 255.
# Expected output: "0 1 1 2 3 5 8 13 21 34 55 89 144 233 377 610\n",
# exit code 98 (610 = 2 * 256 + 98).

    .equ COUNT, 16

    .text
    .globl _start
_start:
    li s0, 0                # n
loop:
    mv a0, s0
    call fib
    mv s1, a0
    call print_decimal
    addi s0, s0, 1
    li t0, COUNT
    la a1, space
    bge s0, t0, last
    j separator
last:
    la a1, newline
separator:
    li a0, 1
    li a2, 1
    li a7, 64               # write
    ecall
    li t0, COUNT
    blt s0, t0, loop

    # Exit through a function pointer stored in .data.
    la t0, exit_pointer
    ld t0, 0(t0)
    andi a0, s1, 255
    jr t0

exit:
    li a7, 93
    ecall

# fib(a0) = fib(a0 - 1) + fib(a0 - 2), fib(0) = 0, fib(1) = 1.
fib:
    li t0, 2
    blt a0, t0, fib_base
    addi sp, sp, -32
    sd ra, 24(sp)
    sd s0, 16(sp)
    sd s1, 8(sp)
    mv s0, a0
    addi a0, s0, -1
    call fib
    mv s1, a0
    addi a0, s0, -2
    call fib
    add a0, a0, s1
    ld ra, 24(sp)
    ld s0, 16(sp)
    ld s1, 8(sp)
    addi sp, sp, 32
fib_base:
    ret

# print_decimal(a0): writes a0 (unsigned) in decimal, without a newline.
print_decimal:
    la t0, buffer_end
    li t1, 10
digits:
    remu t2, a0, t1
    addi t2, t2, '0'
    addi t0, t0, -1
    sb t2, 0(t0)
    divu a0, a0, t1
    bnez a0, digits
    mv a1, t0
    la a2, buffer_end
    sub a2, a2, a1
    li a0, 1
    li a7, 64               # write
    tail write_and_return

write_and_return:
    ecall
    ret

    .section .rodata
space:
    .byte ' '
newline:
    .byte '\n'

    .data
exit_pointer:
    .dword exit

    .bss
buffer:
    .zero 24
buffer_end:

# Hello, world for RV64 Linux (and sim): write(1, msg, 14); exit(0).
# Expected output: "Hello, world!\n", exit code 0.

    .text
    .globl _start
_start:
    li a0, 1                # fd 1: stdout
    la a1, message          # buffer
    li a2, 14               # length of "Hello, world!\n"
    li a7, 64               # write (docs/spec/abi.md)
    ecall
    li a0, 0                # exit code
    li a7, 93               # exit
    ecall

    .section .rodata
message:
    .string "Hello, world!\n"

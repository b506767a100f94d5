# The ecall path's benchmark (benches/ecall/run.sh): read(fd, buf, 1)
# until the end of the file named by the first argument, one byte per
# call; with a second argument (any), then as many brk(0) calls as bytes
# were read. Each round trip is a few guest instructions around one
# ecall, so the host instructions of a run grow by one syscall's trip
# per byte of the file.

    .text
    .globl _start
_start:
    ld s2, 0(sp)            # argc
    li a0, -100             # AT_FDCWD
    ld a1, 16(sp)           # argv[1]: the file
    li a2, 0                # O_RDONLY
    li a3, 0
    li a7, 56               # openat
    ecall
    bltz a0, fail
    mv s0, a0               # the descriptor
    li s1, 0                # bytes read
read_loop:
    mv a0, s0
    la a1, byte
    li a2, 1
    li a7, 63               # read
    ecall
    beqz a0, reads_done
    bltz a0, fail
    addi s1, s1, 1
    j read_loop
reads_done:
    li t0, 3
    blt s2, t0, done        # no second argument: no brk calls
brk_loop:
    beqz s1, done
    li a0, 0
    li a7, 214              # brk
    ecall
    addi s1, s1, -1
    j brk_loop
done:
    li a0, 0
    li a7, 93               # exit
    ecall
fail:
    li a0, 1
    li a7, 93
    ecall

    .data
byte: .zero 8

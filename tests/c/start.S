# The entry of the C test programs: no libc. The kernel (sim or Linux)
# starts us with sp pointing at argc, then the argv pointers.
	.section .text.start
	.globl _start
_start:
	# gp must be set before any gp-relative access; this `la` itself must
	# not be relaxed into one.
	.option push
	.option norelax
	la	gp, __global_pointer$
	.option pop
	ld	a0, 0(sp)	# argc
	addi	a1, sp, 8	# argv
	call	main
	li	a7, 93		# exit(main's result)
	ecall

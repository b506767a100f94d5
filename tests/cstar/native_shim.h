/* The C* prelude and built-ins written in C, so that a C* program whose
 * meaning is the same in C also builds natively:
 *   cc -D'uint64_t=unsigned long' -w -include tests/cstar/native_shim.h prog.c
 * The differential tests (tests/cstar_programs.rs) compare its output
 * with the C* compiler's under qemu-riscv64. No system headers: the C*
 * program's own declarations must not clash with them. */

long write(int fd, const void *buf, unsigned long n);
long read(int fd, void *buf, unsigned long n);
int open(const char *path, int flags, ...);
int close(int fd);
int getpid(void);
void exit(int code);
void *malloc(unsigned long size);

static unsigned long load_character(const void *s, unsigned long i) {
  return ((const unsigned char *)s)[i];
}

static void store_character(void *s, unsigned long i, unsigned long c) {
  ((unsigned char *)s)[i] = (unsigned char)c;
}

static unsigned long string_length(const void *s) {
  unsigned long n = 0;
  while (load_character(s, n) != 0)
    n++;
  return n;
}

static unsigned long string_compare(const void *s, const void *t) {
  unsigned long i = 0;
  while (load_character(s, i) == load_character(t, i)) {
    if (load_character(s, i) == 0)
      return 1;
    i++;
  }
  return 0;
}

static unsigned long is_error(unsigned long r) { return r >= (unsigned long)-4095; }

static void print_char(unsigned long c) {
  char b = (char)c;
  write(1, &b, 1);
}

static void print(const void *s) { write(1, s, string_length(s)); }

static void println(void) { print_char('\n'); }

static void print_unsigned(unsigned long n) {
  if (n >= 10)
    print_unsigned(n / 10);
  print_char('0' + n % 10);
}

static void print_signed(unsigned long n) {
  if (n > 9223372036854775807UL) {
    print_char('-');
    print_unsigned(-n);
  } else
    print_unsigned(n);
}

static void print_hex(unsigned long n, unsigned long digits) {
  unsigned long d;
  if (digits > 1)
    print_hex(n / 16, digits - 1);
  else if (n >= 16)
    print_hex(n / 16, 0);
  d = n % 16;
  print_char(d < 10 ? '0' + d : 'a' + d - 10);
}

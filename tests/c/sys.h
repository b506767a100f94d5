/* Syscall wrappers and tiny output helpers for the C test programs (no
 * libc). Numbers: Linux RISC-V, as in docs/spec/abi.md. */
#ifndef SYS_H
#define SYS_H

typedef unsigned long size_t;
typedef long ssize_t;

#define SYS_openat 56
#define SYS_close 57
#define SYS_read 63
#define SYS_write 64
#define SYS_exit 93
#define SYS_getpid 172
#define SYS_brk 214
#define SYS_clone 220
#define SYS_wait4 260
#define AT_FDCWD (-100)
#define SIGCHLD 17

static inline long syscall3(long n, long a, long b, long c) {
  register long a0 asm("a0") = a;
  register long a1 asm("a1") = b;
  register long a2 asm("a2") = c;
  register long a7 asm("a7") = n;
  asm volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
  return a0;
}

static inline long syscall4(long n, long a, long b, long c, long d) {
  register long a0 asm("a0") = a;
  register long a1 asm("a1") = b;
  register long a2 asm("a2") = c;
  register long a3 asm("a3") = d;
  register long a7 asm("a7") = n;
  asm volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a3), "r"(a7) : "memory");
  return a0;
}

static inline long syscall5(long n, long a, long b, long c, long d, long e) {
  register long a0 asm("a0") = a;
  register long a1 asm("a1") = b;
  register long a2 asm("a2") = c;
  register long a3 asm("a3") = d;
  register long a4 asm("a4") = e;
  register long a7 asm("a7") = n;
  asm volatile("ecall"
               : "+r"(a0)
               : "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a7)
               : "memory");
  return a0;
}

static inline ssize_t sys_write(int fd, const void *buf, size_t n) {
  return syscall3(SYS_write, fd, (long)buf, (long)n);
}
static inline ssize_t sys_read(int fd, void *buf, size_t n) {
  return syscall3(SYS_read, fd, (long)buf, (long)n);
}
static inline int sys_openat(int dirfd, const char *path, int flags) {
  return (int)syscall4(SYS_openat, dirfd, (long)path, flags, 0);
}
static inline int sys_close(int fd) { return (int)syscall3(SYS_close, fd, 0, 0); }
static inline long sys_brk(long addr) { return syscall3(SYS_brk, addr, 0, 0); }
/* fork: clone(SIGCHLD, 0, 0, 0, 0) */
static inline long sys_fork(void) { return syscall5(SYS_clone, SIGCHLD, 0, 0, 0, 0); }
static inline long sys_wait4(long pid, int *status) {
  return syscall4(SYS_wait4, pid, (long)status, 0, 0);
}
static inline void sys_exit(int code) {
  syscall3(SYS_exit, code, 0, 0);
  for (;;) {
  }
}

/* gcc may emit calls to these even with -ffreestanding; the attribute
 * keeps it from turning their loops back into calls to themselves. */
#define NO_PATTERNS __attribute__((used, optimize("no-tree-loop-distribute-patterns")))
NO_PATTERNS void *memset(void *d, int c, size_t n) {
  unsigned char *p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}
NO_PATTERNS void *memcpy(void *d, const void *s, size_t n) {
  unsigned char *p = d;
  const unsigned char *q = s;
  while (n--) *p++ = *q++;
  return d;
}
NO_PATTERNS void *memmove(void *d, const void *s, size_t n) {
  unsigned char *p = d;
  const unsigned char *q = s;
  if (p < q) {
    while (n--) *p++ = *q++;
  } else {
    while (n--) p[n] = q[n];
  }
  return d;
}
NO_PATTERNS int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *p = a, *q = b;
  for (; n; n--, p++, q++)
    if (*p != *q) return *p - *q;
  return 0;
}

static inline size_t str_len(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static inline void print(const char *s) { sys_write(1, s, str_len(s)); }

static inline void print_unsigned(unsigned long v, unsigned base) {
  char buf[32];
  int i = sizeof buf;
  do {
    buf[--i] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  sys_write(1, buf + i, sizeof buf - i);
}

static inline void print_long(long v) {
  if (v < 0) {
    print("-");
    print_unsigned(-(unsigned long)v, 10);
  } else {
    print_unsigned((unsigned long)v, 10);
  }
}

static inline void print_hex(unsigned long v) {
  print("0x");
  print_unsigned(v, 16);
}

/* "name=value\n" */
static inline void show(const char *name, long v) {
  print(name);
  print("=");
  print_long(v);
  print("\n");
}

static inline void show_hex(const char *name, unsigned long v) {
  print(name);
  print("=");
  print_hex(v);
  print("\n");
}

#endif

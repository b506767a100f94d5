#include "sys.h"

static int str_cmp(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return (unsigned char)*a - (unsigned char)*b;
}

static char *str_cpy(char *d, const char *s) {
  char *r = d;
  while ((*d++ = *s++)) {
  }
  return r;
}

static char *str_cat(char *d, const char *s) {
  str_cpy(d + str_len(d), s);
  return d;
}

static void reverse(char *s) {
  for (long i = 0, j = (long)str_len(s) - 1; i < j; i++, j--) {
    char t = s[i];
    s[i] = s[j];
    s[j] = t;
  }
}

static long to_long(const char *s) {
  long sign = 1, v = 0;
  if (*s == '-') sign = -1, s++;
  while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  return sign * v;
}

static char *find(const char *hay, const char *needle) {
  size_t n = str_len(needle);
  for (; *hay; hay++)
    if (memcmp(hay, needle, n) == 0) return (char *)hay;
  return 0;
}

int main(void) {
  char buf[128];
  str_cpy(buf, "Hello");
  str_cat(buf, ", ");
  str_cat(buf, "strings!");
  print(buf);
  print("\n");
  show("len", str_len(buf));
  reverse(buf);
  print(buf);
  print("\n");
  show("cmp_eq", str_cmp("abc", "abc"));
  show("cmp_lt", str_cmp("abc", "abd") < 0);
  show("cmp_gt", str_cmp("b", "abc") > 0);
  show("cmp_prefix", str_cmp("ab", "abc") < 0);
  show("atoi", to_long("-12345"));
  show("atoi2", to_long("9876543210"));
  char *f = find("the quick brown fox", "brown");
  show("find", f ? f - "the quick brown fox" + 0 : -1);
  print(f ? f : "(none)");
  print("\n");
  memset(buf, 'x', 10);
  buf[10] = 0;
  print(buf);
  print("\n");
  memmove(buf + 2, buf, 5);
  memcpy(buf, "ab", 2);
  print(buf);
  print("\n");
  return 0;
}

/* Byte-wise string work on a 64 KiB text, 400 rounds: length, upper-case
 * copy, word count, a rolling checksum. A gcc -O2 benchmark of
 * benches/machine.rs. */
#include "sys.h"

#define LEN 65536
static char text[LEN + 1], upper[LEN + 1];

int main(void) {
  const char *words = "the quick brown fox jumps over a lazy dog ";
  size_t wl = str_len(words);
  for (size_t i = 0; i < LEN; i++) text[i] = words[(i * 7 + i / 13) % wl];
  text[LEN] = 0;
  unsigned long check = 0;
  long count = 0;
  for (int round = 0; round < 400; round++) {
    text[round] = 'a' + round % 26;
    size_t n = str_len(text);
    for (size_t i = 0; i <= n; i++) {
      char ch = text[i];
      upper[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
    }
    count = 0;
    int in_word = 0;
    for (const char *p = upper; *p; p++) {
      if (*p == ' ') {
        in_word = 0;
      } else if (!in_word) {
        in_word = 1;
        count++;
      }
    }
    for (const unsigned char *p = (const unsigned char *)upper; *p; p++) check = check * 31 + *p;
  }
  show("words", count);
  show_hex("check", check);
  return 0;
}

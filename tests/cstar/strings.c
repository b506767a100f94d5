// Differential: strings through the prelude's load_character and
// store_character, string_length and string_compare; recursion.

uint64_t* reverse(uint64_t* s) {
  uint64_t* r;
  uint64_t n;
  uint64_t i;
  n = string_length(s);
  r = malloc(n + 1);
  i = 0;
  while (i < n) {
    store_character(r, i, load_character(s, n - 1 - i));
    i = i + 1;
  }
  store_character(r, n, 0);
  return r;
}

uint64_t hanoi(uint64_t n, uint64_t from, uint64_t to, uint64_t via) {
  if (n == 0)
    return 0;
  return hanoi(n - 1, from, via, to) + 1 + hanoi(n - 1, via, to, from);
}

uint64_t main() {
  uint64_t* s;
  s = reverse("Hello, C* world!");
  print(s);
  println();
  print_unsigned(string_compare(s, "!dlrow *C ,olleH"));
  print_unsigned(string_compare(s, "!dlrow"));
  println();
  print_unsigned(hanoi(16, 1, 3, 2));
  println();
  return string_length(s);
}

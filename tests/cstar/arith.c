// Differential: unsigned arithmetic and comparisons mean the same in C
// with uint64_t = unsigned long.

uint64_t show(uint64_t* label, uint64_t value) {
  print(label);
  print(" = ");
  print_unsigned(value);
  print(" / ");
  print_signed(value);
  print(" / 0x");
  print_hex(value, 0);
  println();
  return value;
}

uint64_t main() {
  uint64_t x;
  uint64_t y;
  x = 1234567;
  y = -89;
  show("x + y", x + y);
  show("x - y", x - y);
  show("x * y", x * y);
  show("x / y", x / y);
  show("y / x", y / x);
  show("y % x", y % x);
  show("x < y", x < y);
  show("y <= x", y <= x);
  show("-x", -x);
  show("max", 18446744073709551615);
  show("(x + 3) * (y - 4) / 7 % 1000", (x + 3) * (y - 4) / 7 % 1000);
  return x % 256;
}

// The C* prelude: compiled into every program (only the procedures a
// program calls are emitted). A program may define a procedure of the
// same name; then its own is used. docs/cstar.md lists this API.

uint64_t* _prelude_heap;   // next free byte of the heap (malloc)
uint64_t* _prelude_char;   // a one-word buffer for print_char

// A bump allocator on brk: rounds size up to whole words, never frees.
// Returns 0 when the kernel refuses to grow the heap.
uint64_t* malloc(uint64_t size) {
  uint64_t* block;
  uint64_t end;
  if (_prelude_heap == (uint64_t*) 0)
    _prelude_heap = (uint64_t*) ((brk(0) + 7) / 8 * 8);
  size = (size + 7) / 8 * 8;
  block = _prelude_heap;
  end = (uint64_t) block + size;
  if (brk(end) != end)
    return (uint64_t*) 0;
  _prelude_heap = (uint64_t*) end;
  return block;
}

// The i-th byte of the string s (C* has no byte loads: divide the word).
uint64_t load_character(uint64_t* s, uint64_t i) {
  uint64_t word;
  uint64_t j;
  word = *(s + i / 8);
  j = i % 8;
  while (j > 0) {
    word = word / 256;
    j = j - 1;
  }
  return word % 256;
}

// Sets the i-th byte of the string s to c.
void store_character(uint64_t* s, uint64_t i, uint64_t c) {
  uint64_t scale;
  uint64_t j;
  uint64_t old;
  scale = 1;
  j = i % 8;
  while (j > 0) {
    scale = scale * 256;
    j = j - 1;
  }
  old = load_character(s, i);
  *(s + i / 8) = *(s + i / 8) - old * scale + c % 256 * scale;
}

uint64_t string_length(uint64_t* s) {
  uint64_t n;
  n = 0;
  while (load_character(s, n) != 0)
    n = n + 1;
  return n;
}

// 1 if s and t hold the same characters, else 0 (as selfie's).
uint64_t string_compare(uint64_t* s, uint64_t* t) {
  uint64_t i;
  i = 0;
  while (load_character(s, i) == load_character(t, i)) {
    if (load_character(s, i) == 0)
      return 1;
    i = i + 1;
  }
  return 0;
}

// A syscall result r is an error when it is in [-4095, -1] as a signed number.
uint64_t is_error(uint64_t r) {
  return r >= -4095;
}

void print_char(uint64_t c) {
  if (_prelude_char == (uint64_t*) 0)
    _prelude_char = malloc(8);
  *_prelude_char = c;
  write(1, _prelude_char, 1);
}

void print(uint64_t* s) {
  write(1, s, string_length(s));
}

void println() {
  print_char(10);
}

void print_unsigned(uint64_t n) {
  if (n >= 10)
    print_unsigned(n / 10);
  print_char('0' + n % 10);
}

// n as a signed number: negative when its top bit is set.
void print_signed(uint64_t n) {
  if (n > 9223372036854775807) {
    print_char('-');
    print_unsigned(-n);
  } else
    print_unsigned(n);
}

// n in lower-case hex without a prefix, padded with zeros to at least
// digits digits (0 or 1: no padding).
void print_hex(uint64_t n, uint64_t digits) {
  uint64_t d;
  if (digits > 1)
    print_hex(n / 16, digits - 1);
  else if (n >= 16)
    print_hex(n / 16, 0);
  d = n % 16;
  if (d < 10)
    print_char('0' + d);
  else
    print_char('a' + d - 10);
}

// A program written the way selfie.c is, construct by construct, so that
// it builds unchanged both with a C compiler (boot level 0: the C library's
// printf, as `cc -D'uint64_t=unsigned long' selfie_style.c`) and with the
// C* compiler (boot level 1: its own printf, built on the var_* macros).
// Both print the same; see docs/cstar.md, "Compiling selfie".
//
// Constructs (selfie's grammar.md plus what selfie.c needs beyond it):
// built-in prototypes with C spellings, a variadic prototype, an unnamed
// parameter, the printf family bootstrapped to non_0_boot_level_*, the
// var_start/var_arg/var_end macros over their dummy definitions, and
// __LINE__ and __func__.
// expect-exit: 0

// ---------------------- BUILTIN PROCEDURES ----------------------

// selfie bootstraps int to uint64_t!
void exit(int code);

uint64_t read(uint64_t fd, uint64_t* buffer, uint64_t bytes_to_read);
uint64_t write(uint64_t fd, uint64_t* buffer, uint64_t bytes_to_write);

// selfie bootstraps char to uint64_t and ignores ellipsis!
uint64_t open(char* filename, uint64_t flags, ...);

// an unnamed parameter in a prototype; void* reads as uint64_t*
void* malloc(unsigned long);

// selfie bootstraps the following *printf procedures
int printf(const char* format, ...);
int sprintf(char* str, const char* format, ...);
int dprintf(int fd, const char* format, ...);

// ---------------------- LIBRARY PROCEDURES ----------------------

char load_character(char* s, uint64_t i);
char* store_character(char* s, uint64_t i, char c);
uint64_t string_length(char* s);
void put_character(char c);
void print_unsigned_integer(uint64_t n);
void print_hexadecimal_no_prefix(uint64_t n, uint64_t a);
uint64_t print_format(char* s, uint64_t i, char* a);
uint64_t vdsprintf(uint64_t fd, char* buffer, char* format, uint64_t* args);

uint64_t non_0_boot_level_printf(char* format, ...);
uint64_t non_0_boot_level_sprintf(char* str, char* format, ...);
uint64_t non_0_boot_level_dprintf(uint64_t fd, char* format, ...);

void assert(uint64_t assert_expr, uint64_t lineno, const char* procedure_name);

uint64_t is_boot_level_zero();

// ----------------------------- MACROS -----------------------------

// these C macros are seen as procedures by the bootstrapping compiler ...
void  var_start(uint64_t* args);
char* var_arg(uint64_t* args);
void  var_end(uint64_t* args);

// ... and need a dummy definition using all arguments to avoid compiler warnings
void  var_start(uint64_t* args) { *args = *args; }
char* var_arg(uint64_t* args)   { *args = *args; return ""; }
void  var_end(uint64_t* args)   { *args = *args; }

// ------------------------ GLOBAL VARIABLES ------------------------

char* character_buffer = (char*) 0;
char* output_buffer = (char*) 0; // sprintf's target, 0 for a file
uint64_t output_cursor = 0;
uint64_t output_fd = 1;

// ------------------------- PROCEDURES -----------------------------

char load_character(char* s, uint64_t i) {
  uint64_t a;
  uint64_t b;
  a = i / sizeof(uint64_t);
  b = i % sizeof(uint64_t);
  // the b-th byte of the a-th word (little endian)
  a = *((uint64_t*) s + a);
  while (b > 0) {
    a = a / 256;
    b = b - 1;
  }
  return a % 256;
}

char* store_character(char* s, uint64_t i, char c) {
  uint64_t a;
  uint64_t b;
  uint64_t scale;
  a = i / sizeof(uint64_t);
  b = i % sizeof(uint64_t);
  scale = 1;
  while (b > 0) {
    scale = scale * 256;
    b = b - 1;
  }
  *((uint64_t*) s + a) = *((uint64_t*) s + a) - load_character(s, i) * scale + c * scale;
  return s;
}

uint64_t string_length(char* s) {
  uint64_t i;
  i = 0;
  while (load_character(s, i) != 0)
    i = i + 1;
  return i;
}

void put_character(char c) {
  if (output_buffer != (char*) 0)
    store_character(output_buffer, output_cursor, c);
  else {
    store_character(character_buffer, 0, c);
    write(output_fd, (uint64_t*) character_buffer, 1);
  }
  output_cursor = output_cursor + 1;
}

void print_unsigned_integer(uint64_t n) {
  if (n >= 10)
    print_unsigned_integer(n / 10);
  put_character('0' + n % 10);
}

void print_hexadecimal_no_prefix(uint64_t n, uint64_t a) {
  if (a > 1)
    print_hexadecimal_no_prefix(n / 16, a - 1);
  else if (n >= 16)
    print_hexadecimal_no_prefix(n / 16, 0);
  if (n % 16 < 10)
    put_character('0' + n % 16);
  else
    put_character('A' + n % 16 - 10);
}

// %s, %c, %lu, %lX and %0<d>lX, as selfie's print_format
uint64_t print_format(char* s, uint64_t i, char* a) {
  uint64_t j;
  if (load_character(s, i) == 's') {
    j = 0;
    while (load_character(a, j) != 0) {
      put_character(load_character(a, j));
      j = j + 1;
    }
    return i + 1;
  } else if (load_character(s, i) == 'c') {
    put_character((uint64_t) a);
    return i + 1;
  } else if (load_character(s, i) == 'l') {
    if (load_character(s, i + 1) == 'u') {
      print_unsigned_integer((uint64_t) a);
      return i + 2;
    } else if (load_character(s, i + 1) == 'X') {
      print_hexadecimal_no_prefix((uint64_t) a, 0);
      return i + 2;
    }
  } else if (load_character(s, i) == '0') {
    print_hexadecimal_no_prefix((uint64_t) a, load_character(s, i + 1) - '0');
    return i + 4;
  }
  return i;
}

uint64_t vdsprintf(uint64_t fd, char* buffer, char* format, uint64_t* args) {
  uint64_t i;
  output_buffer = buffer;
  output_fd = fd;
  output_cursor = 0;
  i = 0;
  while (load_character(format, i) != 0) {
    if (load_character(format, i) == '%') {
      i = i + 1;
      if (load_character(format, i) == '%') {
        put_character('%');
        i = i + 1;
      } else
        i = print_format(format, i, var_arg(args));
    } else {
      put_character(load_character(format, i));
      i = i + 1;
    }
  }
  if (buffer != (char*) 0)
    store_character(buffer, output_cursor, 0);
  output_buffer = (char*) 0;
  return output_cursor;
}

uint64_t non_0_boot_level_printf(char* format, ...) {
  uint64_t* args;
  uint64_t written;
  args = (uint64_t*) 0;
  var_start(args);
  written = vdsprintf(1, (char*) 0, format, args);
  var_end(args);
  return written;
}

uint64_t non_0_boot_level_sprintf(char* buffer, char* format, ...) {
  uint64_t* args;
  uint64_t written;
  args = (uint64_t*) 0;
  var_start(args);
  written = vdsprintf(0, buffer, format, args);
  var_end(args);
  return written;
}

uint64_t non_0_boot_level_dprintf(uint64_t fd, char* format, ...) {
  uint64_t* args;
  uint64_t written;
  args = (uint64_t*) 0;
  var_start(args);
  written = vdsprintf(fd, (char*) 0, format, args);
  var_end(args);
  return written;
}

void assert(uint64_t assert_expr, uint64_t lineno, const char* procedure_name) {
  if (assert_expr == 0) {
    printf("assertion failed in line %lu of %s\n", lineno, procedure_name);
    exit(1);
  } else
    printf("assertion in line %lu of %s holds\n", lineno, procedure_name);
}

// selfie's test: a C library's malloc(0) gives a new address each time
// (or 0), the C* prelude's bump allocator the same one
uint64_t is_boot_level_zero() {
  uint64_t first_malloc;
  uint64_t second_malloc;
  first_malloc = (uint64_t) malloc(0);
  second_malloc = (uint64_t) malloc(0);
  if (first_malloc == 0)
    return 1;
  if (first_malloc != second_malloc)
    return 1;
  return 0;
}

// variadic: at boot level 0 var_start is the dummy above, so only call
// this where the var_* macros are real
uint64_t sum(uint64_t n, ...) {
  uint64_t* args;
  uint64_t s;
  args = (uint64_t*) 0;
  var_start(args);
  s = 0;
  while (n > 0) {
    s = s + (uint64_t) var_arg(args);
    n = n - 1;
  }
  var_end(args);
  return s;
}

int main(int argc, char** argv) {
  char* buffer;
  uint64_t length;
  uint64_t total;

  character_buffer = malloc(sizeof(uint64_t));
  buffer = malloc(64);

  // dprintf first: a C library buffers printf's output, not dprintf's
  dprintf(1, "dprintf to fd %lu\n", (uint64_t) 1);

  if (argv != (char**) 0)
    printf("hello from %s, %lu argument(s)\n", "selfie_style", (uint64_t) argc);
  printf("%lu%% of %c%c%c, 0x%lX, 0x%08lX\n", (uint64_t) 100, 'C', '*', '!',
    (uint64_t) 48879, (uint64_t) 4096);

  length = sprintf(buffer, "%lu+%lu", (uint64_t) 20, (uint64_t) 22);
  printf("sprintf wrote \"%s\" (%lu characters)\n", buffer, length);

  if (is_boot_level_zero())
    total = 1 + 2 + 3 + 4 + 5;
  else
    total = sum(5, 1, 2, 3, 4, 5);
  printf("sum of 1..5 is %lu\n", total);

  assert(length == 5, __LINE__, __func__);

  return 0;
}

//! The C* compiler, rule by rule and meaning by meaning: each test compiles
//! a small program, runs it on `sim` and under qemu-riscv64 (both must
//! agree) and checks stdout and the exit code (docs/spec/cstar.md).

#[path = "cstar/support.rs"]
mod support;

use support::{build, expect, expect_exit, run_with};

// ---- grammar rules (docs/spec/cstar.md, in order) ----

#[test]
fn program_globals_and_procedures_in_any_order() {
    expect(
        "uint64_t g = 7;\n uint64_t later(uint64_t x);\n uint64_t main() { return later(g) + h; }\n\
         uint64_t later(uint64_t x) { return x * 2; }\n uint64_t h = 1;",
        "",
        15,
    );
}

#[test]
fn variable_and_type_including_c_spellings() {
    expect(
        "int a; char b; unsigned long c; unsigned int d; const char* s; void* p; uint64_t** q; long e;\n\
         uint64_t main() { a = 1; b = 2; c = 3; d = 4; e = 5; s = \"x\"; p = (void*) 0; q = (uint64_t**) 0;\n\
         return a + b + c + d + e; }",
        "",
        15,
    );
}

#[test]
fn initialize_with_cast_and_minus() {
    expect(
        "uint64_t a = -1; uint64_t* p = (uint64_t*) 0; uint64_t c = 'A'; uint64_t m = (uint64_t) -3;\n\
         uint64_t main() { if (a + 1 == 0) if (p == (uint64_t*) 0) return c + m; return 1; }",
        "",
        62,
    );
}

#[test]
fn cast_changes_the_type() {
    // (uint64_t) p + 1 adds one byte, p + 1 one word.
    expect(
        "uint64_t main() { uint64_t* p; p = (uint64_t*) 64; return ((uint64_t) p + 1) + ((uint64_t) (p + 1)); }",
        "",
        65 + 72,
    );
}

#[test]
fn value_integer_character_and_hex() {
    expect(
        "uint64_t main() { return 'a' - 97 + 0x10 + '\\n' + 18446744073709551615 + 1; }",
        "",
        26,
    );
}

#[test]
fn procedure_void_prototype_and_parameters() {
    expect(
        "uint64_t r;\n void set(uint64_t a, uint64_t b, uint64_t c);\n\
         uint64_t main() { set(1, 2, 3); return r; }\n\
         void set(uint64_t a, uint64_t b, uint64_t c) { r = a * 100 + b * 10 + c; return; r = 0; }",
        "",
        123,
    );
}

#[test]
fn procedure_with_many_arguments() {
    expect(
        "uint64_t f(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, uint64_t f, uint64_t g,\n\
         uint64_t h, uint64_t i, uint64_t j) { return a + b * 2 + c * 3 + j * 10 - i; }\n\
         uint64_t main() { return f(1, 2, 3, 4, 5, 6, 7, 8, 9, 10); }",
        "",
        1 + 4 + 9 + 100 - 9,
    );
}

#[test]
fn statement_assignment_forms() {
    expect(
        "uint64_t main() { uint64_t* p; uint64_t x; p = malloc(24); *p = 1; *(p + 1) = 2; *(p + 2) = *p + *(p + 1);\n\
         x = *(p + 2); *(p + x - 1) = 40; return *(p + 2) + x; }",
        "",
        43,
    );
}

#[test]
fn if_else_and_nested_bodies() {
    expect(
        "uint64_t f(uint64_t x) { if (x == 1) return 10; else if (x == 2) { x = 20; return x; } else { return 30; } }\n\
         uint64_t main() { if (0) return 1; if (5) { } else return 2; return f(1) + f(2) + f(3); }",
        "",
        60,
    );
}

#[test]
fn while_loops() {
    expect(
        "uint64_t main() { uint64_t i; uint64_t s; i = 0; s = 0; while (i < 10) { s = s + i; i = i + 1; }\n\
         while (0) s = 0; while (i) i = i - 1; return s + i; }",
        "",
        45,
    );
}

#[test]
fn call_as_statement_and_in_expressions_keeps_temporaries() {
    expect(
        "uint64_t id(uint64_t x) { return x; }\n\
         uint64_t main() { id(1); return 1 + id(2) * (3 + id(id(4) + 5)) - id(6) / id(3); }",
        "",
        1 + 2 * 12 - 2,
    );
}

#[test]
fn return_without_value_and_falling_off_the_end() {
    expect(
        "void f() { return; } uint64_t g() { } uint64_t main() { f(); return g(); }",
        "",
        0,
    );
    expect("uint64_t main() { }", "", 0);
}

#[test]
fn expression_comparisons_yield_zero_or_one() {
    expect(
        "uint64_t main() { return (3 == 3) + (3 != 3) * 2 + (2 < 3) * 4 + (3 > 2) * 8 + (3 <= 3) * 16 + (4 >= 5) * 32; }",
        "",
        1 + 4 + 8 + 16,
    );
}

#[test]
fn arithmetic_and_term_precedence() {
    expect(
        "uint64_t main() { return 2 + 3 * 4 - 10 / 3 - 7 % 4 + (2 + 3) * 2; }",
        "",
        2 + 12 - 3 - 3 + 10,
    );
}

#[test]
fn factor_sizeof_negation_deref_parentheses() {
    expect(
        "uint64_t main() { uint64_t* p; p = malloc(8); *p = 5; return sizeof(uint64_t) + sizeof(uint64_t*) + -*p + 10 + -(2 - 3); }",
        "",
        8 + 8 - 5 + 10 + 1,
    );
}

#[test]
fn literal_strings_and_escapes() {
    expect(
        "uint64_t main() { print(\"tab\\there \\\"q\\\" \\\\ 100\\% \\'\\n\"); print(\"\"); return string_length(\"abcdefghij\"); }",
        "tab\there \"q\" \\ 100% '\n",
        10,
    );
}

// ---- meaning: where C* differs from C ----

#[test]
fn division_remainder_and_comparison_are_unsigned() {
    expect(
        "uint64_t main() { uint64_t r; r = 0; if (1 / -1 == 0) r = r + 1; if (1 < -1) r = r + 2; if (-1 > 1) r = r + 4;\n\
         if (-7 % 10 == 9) r = r + 8; if (-1 >= 0) r = r + 16; if (-1 / 2 == 9223372036854775807) r = r + 32; return r; }",
        "",
        63,
    );
}

#[test]
fn comparisons_as_values_are_unsigned() {
    expect(
        "uint64_t main() { return (1 < -1) + (-1 <= 1) * 2 + (-5 > 3) * 4 + (2 >= -2) * 8; }",
        "",
        1 + 4,
    );
}

#[test]
fn minus_is_twos_complement() {
    expect("uint64_t main() { uint64_t x; x = 5; x = -x; return (x + 5 == 0) + (x == 18446744073709551611) * 2; }", "", 3);
}

#[test]
fn string_literals_are_packed_words() {
    // "Hello" as one little-endian word: H e l l o NUL.
    expect(
        "uint64_t main() { uint64_t* s; s = \"ABCDEFGHIJ\"; if (*\"Hello\" != 478560413000) return 1;\n\
         if (*s != 5208208757389214273) return 2; if (*(s + 1) != 19017) return 3; return 0; }",
        "",
        0,
    );
}

#[test]
fn pointer_arithmetic_scales_by_eight() {
    expect(
        "uint64_t main() { uint64_t* p; uint64_t* q; p = malloc(64); q = p + 3;\n\
         if ((uint64_t) q - (uint64_t) p != 24) return 1; if (q - p != 3) return 2; if (q - 1 != p + 2) return 3;\n\
         if (1 + p != p + 1) return 4; *(p + 7) = 9; if (*(q + 4) != 9) return 5; return 0; }",
        "",
        0,
    );
}

#[test]
fn arguments_are_evaluated_left_to_right() {
    expect(
        "uint64_t n; uint64_t next() { n = n + 1; print_unsigned(n); return n; }\n\
         uint64_t f(uint64_t a, uint64_t b, uint64_t c) { return a * 100 + b * 10 + c; }\n\
         uint64_t main() { return f(next(), next(), next()) - 100; }",
        "123",
        23,
    );
}

#[test]
fn recursion() {
    expect(
        "uint64_t fib(uint64_t n) { if (n < 2) return n; return fib(n - 1) + fib(n - 2); }\n\
         uint64_t main() { print_unsigned(fib(20)); println(); return fib(10); }",
        "6765\n",
        55,
    );
}

#[test]
fn globals_are_zero_initialised() {
    expect("uint64_t a; uint64_t* p; uint64_t b = 3; uint64_t c; uint64_t main() { return a + (uint64_t) p + c + b; }", "", 3);
}

#[test]
fn variadic_procedures() {
    expect(
        "uint64_t sum(uint64_t n, ...) { uint64_t* args; uint64_t s; var_start(args); s = 0;\n\
         while (n > 0) { s = s + var_arg(args); n = n - 1; } var_end(args); return s; }\n\
         uint64_t main() { return sum(0) + sum(3, 1, 2, 3) + sum(2, 10, 20); }",
        "",
        36,
    );
}

#[test]
fn main_gets_argc_and_argv() {
    let src = "uint64_t main(uint64_t argc, uint64_t* argv) { uint64_t i; i = 1;\n\
               while (i < argc) { print((uint64_t*) *(argv + i)); println(); i = i + 1; } return argc; }";
    if let Some((out, code)) = run_with(src, &["one", "two"]) {
        assert_eq!((out.as_str(), code), ("one\ntwo\n", 3));
    }
}

// ---- code generation corners ----

#[test]
fn deep_expressions_spill_temporaries() {
    // 30 levels of `x + i * (...)` keep 60 temporaries live: more than there are registers.
    let mut e = String::from("x");
    let mut expected: u64 = 1;
    for i in 0..30u64 {
        e = format!("(x + {i} * (x + {e}))");
        expected = 1u64.wrapping_add(i.wrapping_mul(1 + expected));
    }
    let src = format!(
        "uint64_t main() {{ uint64_t x; x = 1; print_unsigned({e}); return id(1 + (2 + (3 + id(4)))); }}\n\
         uint64_t id(uint64_t v) {{ return v; }}"
    );
    expect(&src, &expected.to_string(), 10);
}

#[test]
fn spilled_temporaries_survive_calls() {
    let mut e = String::from("id(1)");
    for i in 0..40 {
        e = format!("({i} + {e})");
    }
    let src =
        format!("uint64_t id(uint64_t v) {{ return v; }}\n uint64_t main() {{ return {e}; }}");
    let expected: i32 = (0..40).sum::<i32>() + 1;
    expect(&src, "", expected % 256);
}

#[test]
fn large_constants() {
    expect(
        "uint64_t main() { uint64_t r; r = 0; if (0xffffffffffffffff + 1 == 0) r = r + 1;\n\
         if (2147483647 + 1 == 2147483648) r = r + 2; if (4294967296 / 65536 == 65536) r = r + 4;\n\
         if (9223372036854775808 / 4611686018427387904 == 2) r = r + 8; if (0x123456789abcdef0 % 16 == 0) r = r + 16;\n\
         if (2048 + 2047 == 4095) r = r + 32; if (-2049 + 2049 == 0) r = r + 64; return r; }",
        "",
        127,
    );
}

#[test]
fn long_branches_and_many_locals_and_globals() {
    let mut src = String::new();
    for i in 0..700 {
        src.push_str(&format!("uint64_t g{i};\n"));
    }
    src.push_str("uint64_t main() {\n");
    for i in 0..300 {
        src.push_str(&format!("uint64_t l{i};\n"));
    }
    src.push_str("l299 = 0; g699 = 5; if (g699 == 5) {\n");
    for i in 0..1200 {
        src.push_str(&format!(
            "l{} = l{} + {};\n",
            i % 300,
            (i + 299) % 300,
            i % 3
        ));
    }
    src.push_str("}\n g698 = l299; return g698 % 256 + g699; }\n");
    let mut l = [0u64; 300];
    for i in 0..1200 {
        l[i % 300] = l[(i + 299) % 300] + (i % 3) as u64;
    }
    expect(&src, "", ((l[299] % 256 + 5) % 256) as i32);
}

#[test]
fn a_program_may_replace_prelude_and_builtin_procedures() {
    expect(
        "void print_unsigned(uint64_t n) { print(\"mine\"); }\n uint64_t getpid() { return 42; }\n\
         uint64_t main() { print_unsigned(7); return getpid(); }",
        "mine",
        42,
    );
}

#[test]
fn prelude_procedures() {
    expect(
        "uint64_t main() { print_signed(-1234); print_char(' '); print_signed(99); println(); print_hex(48879, 0); print_char(' ');\n\
         print_hex(10, 4); println(); print_unsigned(18446744073709551615); println();\n\
         return string_compare(\"abc\", \"abc\") + string_compare(\"abc\", \"abd\") * 2 + is_error(-1) * 4 + is_error(-4096) * 8 + is_error(3) * 16; }",
        "-1234 99\nbeef 000a\n18446744073709551615\n",
        5,
    );
}

#[test]
fn builtins_read_write_open() {
    let path = support::temp_path(".txt");
    std::fs::write(&path, "some text").expect("write");
    let src = format!(
        "uint64_t main() {{ uint64_t fd; uint64_t* buf; buf = malloc(64); fd = open(\"{}\", 0, 0);\n\
         if (is_error(fd)) return 1; write(1, buf, read(fd, buf, 64)); close(fd);\n\
         if (is_error(open(\"/nonexistent/x\", 0, 0)) == 0) return 2; exit(7); return 3; }}",
        path.display()
    );
    expect(&src, "some text", 7);
    let _ = std::fs::remove_file(path);
}

#[test]
fn fork_wait_getpid() {
    expect(
        "uint64_t main() { uint64_t pid; uint64_t* status; status = malloc(8); pid = fork();\n\
         if (pid == 0) { print(\"child\\n\"); exit(3); }\n\
         if (wait(status) != pid) return 1; print(\"parent\\n\"); if (getpid() == pid) return 2; return *status / 256 % 256; }",
        "child\nparent\n",
        3,
    );
}

#[test]
fn preprocessor_lines_and_comments_are_skipped() {
    expect(
        "#include <stdio.h>\n#define X 1\n// line comment\n/* block\n comment */ uint64_t main() { return /* inline */ 4; } // end",
        "",
        4,
    );
}

#[test]
fn mixing_pointer_and_integer_is_a_warning() {
    let compiled = build(
        "uint64_t* p; uint64_t f(uint64_t* q) { return 0; }\n\
         uint64_t* g() { return 1; }\n uint64_t main() { uint64_t x; x = p; f(x); return 0; }",
    );
    let messages: Vec<String> = compiled.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages[0].starts_with("test.c:2:"), "{messages:?}");
    assert!(
        messages[0].contains("warning: return value: expected uint64_t*, found uint64_t"),
        "{messages:?}"
    );
    assert!(
        messages[1].contains("assignment to 'x': expected uint64_t, found uint64_t*"),
        "{messages:?}"
    );
}

#[test]
fn several_files_make_one_program() {
    let sources = vec![
        (
            "a.c".to_string(),
            "uint64_t twice(uint64_t x); uint64_t main() { return twice(base); }".to_string(),
        ),
        (
            "b.c".to_string(),
            "uint64_t base = 21; uint64_t twice(uint64_t x) { return 2 * x; }".to_string(),
        ),
    ];
    let compiled = sim::toolchain::cstar::compile(&sources).expect("compiles");
    match support::run_both(&compiled.elf, &[]) {
        Some((out, code)) => assert_eq!((out.as_str(), code), ("", 42)),
        None => support::skip(),
    }
}

#[test]
fn symbols_name_procedures_and_globals() {
    let compiled = build("uint64_t counter; uint64_t helper() { return counter; } uint64_t main() { return helper(); }");
    let elf = goblin::elf::Elf::parse(&compiled.elf).expect("valid ELF");
    let names: Vec<&str> = elf
        .syms
        .iter()
        .filter_map(|s| elf.strtab.get_at(s.st_name))
        .collect();
    for name in ["_start", "main", "helper", "counter"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    // Unused prelude procedures are not emitted.
    assert!(!names.contains(&"print_hex"), "{names:?}");
    assert_eq!(elf.entry, 0x10000);
}

#[test]
fn exit_code_is_mains_result() {
    expect_exit("uint64_t main() { return 256 + 9; }", 9);
}

#[test]
fn multiplication_division_remainder_by_powers_of_two() {
    expect(
        "uint64_t main() { uint64_t x; x = -13; if (x * 8 != -104) return 1; if (x / 4 != 4611686018427387900) return 2;\n\
         if (x % 16 != 3) return 3; if (x % 2048 != 2035) return 4; if (x % 4096 != 4083) return 5; if (x * 1 != x) return 6;\n\
         if (x / 1 != x) return 7; if (x % 1 != 0) return 8; if (x / 9223372036854775808 != 1) return 9; return 0; }",
        "",
        0,
    );
}

#[test]
fn selfie_style_program_with_prototypes_and_printf() {
    expect(
        r#"// selfie idioms: prototypes of built-ins, char* and casts, a printf on var_arg
#include <stdarg.h>
void exit(uint64_t code);
uint64_t write(uint64_t fd, uint64_t* buffer, uint64_t bytes_to_write);
uint64_t* malloc(uint64_t size);
uint64_t printf(char* s, ...);

char* greeting = (char*) 0;
uint64_t INT64_MIN_T = -9223372036854775808;

uint64_t printf(char* s, ...) {
  uint64_t* args;
  uint64_t i;
  uint64_t c;
  var_start(args);
  i = 0;
  while (load_character(s, i) != 0) {
    c = load_character(s, i);
    if (c == '%') {
      i = i + 1;
      c = load_character(s, i);
      if (c == 'd') print_signed(var_arg(args));
      else if (c == 's') print((char*) var_arg(args));
      else if (c == 'x') print_hex(var_arg(args), 0);
      else print_char(c);
    } else
      print_char(c);
    i = i + 1;
  }
  var_end(args);
  return i;
}

int main(int argc, char** argv) {
  char* name;
  unsigned long n;
  name = "C*";
  n = printf("hello %s: %d %d %x 100%%\n", name, -7, INT64_MIN_T, 255);
  write(1, (uint64_t*) "ok\n", 3);
  exit(n);
}
"#,
        "hello C*: -7 -9223372036854775808 ff 100%\nok\n",
        25, // the length of the format string
    );
}

// ---- selfie's constructs beyond grammar.md (docs/cstar.md, "selfie.c") ----

#[test]
fn unnamed_parameters_in_prototypes() {
    // selfie.c: `void* malloc(unsigned long);`
    expect(
        "void* malloc(unsigned long);\n uint64_t add(uint64_t, uint64_t*);\n\
         uint64_t main() { uint64_t* p; p = malloc(8); *p = 2; return add(40, p); }\n\
         uint64_t add(uint64_t a, uint64_t* b) { return a + *b; }",
        "",
        42,
    );
}

#[test]
fn line_file_and_func_are_replaced() {
    expect(
        "uint64_t line = __LINE__;\n\
         void show(uint64_t n, char* where) { print(where); print_char(':'); print_unsigned(n); println(); }\n\
         uint64_t answer() {\n  show(__LINE__, __func__);\n  return __LINE__; }\n\
         uint64_t main() { show(line, __FILE__); return answer(); }",
        "test.c:1\nanswer:4\n",
        5,
    );
}

#[test]
fn printf_family_is_bootstrapped_from_non_0_boot_level() {
    // selfie.c declares the C library's printf and defines its own as
    // non_0_boot_level_printf, which is printf for the C* compiler.
    expect(
        "int printf(const char* format, ...);\n int sprintf(char* str, const char* format, ...);\n\
         int dprintf(int fd, const char* format, ...);\n\
         uint64_t out(uint64_t fd, char* buffer, char* format, uint64_t* args) {\n\
           uint64_t i; i = 0;\n\
           while (load_character(format, i) != 0) {\n\
             if (load_character(format, i) == '%') { print_unsigned(var_arg(args)); i = i + 2; }\n\
             else { print_char(load_character(format, i)); i = i + 1; } }\n\
           return fd * 100 + (uint64_t) buffer + i; }\n\
         uint64_t non_0_boot_level_printf(char* format, ...) { uint64_t* args; uint64_t n;\n\
           var_start(args); n = out(1, (char*) 0, format, args); var_end(args); return n; }\n\
         uint64_t non_0_boot_level_dprintf(uint64_t fd, char* format, ...) { uint64_t* args;\n\
           var_start(args); return out(fd, (char*) 0, format, args); }\n\
         uint64_t main() { return printf(\"%d+%d\\n\", 1, 2) + dprintf(2, \"%d\\n\", 7); }",
        "1+2\n7\n",
        (106 + 203) % 256, // fd * 100 + the length of each format
    );
}

#[test]
fn var_macros_win_over_their_dummy_definitions() {
    // selfie.c defines var_start/var_arg/var_end for a C compiler's sake;
    // the C* compiler expands them as macros all the same.
    expect(
        "void  var_start(uint64_t* args);\n char* var_arg(uint64_t* args);\n void  var_end(uint64_t* args);\n\
         void  var_start(uint64_t* args) { *args = *args; }\n\
         char* var_arg(uint64_t* args)   { *args = *args; return \"\"; }\n\
         void  var_end(uint64_t* args)   { *args = *args; }\n\
         uint64_t sum(uint64_t n, ...) { uint64_t* args; uint64_t s; args = (uint64_t*) 0;\n\
           var_start(args); s = 0;\n\
           while (n > 0) { s = s + (uint64_t) var_arg(args); n = n - 1; } var_end(args); return s; }\n\
         uint64_t main() { return sum(4, 1, 2, 3, 4); }",
        "",
        10,
    );
}

#[test]
fn var_arg_has_the_type_of_its_prototype_and_zero_is_a_null_pointer() {
    // No warnings: var_arg is declared char*, and 0 fits any pointer as
    // C's null pointer constant does.
    let compiled = build(
        "char* var_arg(uint64_t* args);\n void show(char* s) { print(s); }\n\
         uint64_t* nothing() { return 0; }\n\
         void each(uint64_t n, ...) { uint64_t* args; uint64_t* p; var_start(args); p = 0;\n\
           while (n > 0) { show(var_arg(args)); n = n - 1; } }\n\
         uint64_t main() { each(2, \"a\", \"b\"); show(0 + 0); return (uint64_t) nothing(); }",
    );
    let warnings: Vec<String> = compiled.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        ["test.c:6:45: warning: argument 1 of 'show': expected uint64_t*, found uint64_t"],
        "only the non-literal 0 + 0 warns"
    );
}

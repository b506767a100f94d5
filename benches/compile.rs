//! Compile-time benchmark (not a test): generates a 10,000-line C*
//! program and times `compile`. Run with `cargo bench --bench compile`.

use std::time::Instant;

use sim::toolchain::cstar::compile;

/// A program of about `lines` lines: many procedures with locals, loops,
/// conditionals, calls, pointer arithmetic and string literals.
fn generate(lines: usize) -> String {
    let mut src = String::from("uint64_t counter;\nuint64_t* table;\n");
    let mut n = 0;
    while src.lines().count() < lines {
        src.push_str(&format!(
            "uint64_t proc{n}(uint64_t a, uint64_t b) {{\n  uint64_t i;\n  uint64_t s;\n  uint64_t* p;\n  i = 0;\n  s = a;\n  p = table + {m};\n\
             while (i < b) {{\n    if (i % 3 == 0)\n      s = s + i * {n} - (a / (i + 1));\n    else {{\n      *(p + i % 8) = s;\n      s = s - *(p + 1);\n    }}\n\
                 i = i + 1;\n  }}\n  counter = counter + 1;\n  if (s > {n}) print(\"proc{n} big\\n\");\n  return s + {prev};\n}}\n",
            m = n % 64,
            prev = if n > 0 { format!("proc{}(a, 2)", n - 1) } else { "0".to_string() },
        ));
        n += 1;
    }
    src.push_str(&format!(
        "uint64_t main() {{\n  table = malloc(1024);\n  print_unsigned(proc{}(1, 3));\n  println();\n  return 0;\n}}\n",
        n - 1
    ));
    src
}

fn main() {
    let source = generate(10_000);
    let lines = source.lines().count();
    let sources = vec![("big.c".to_string(), source)];
    // Warm up once, then take the best of five.
    let mut best = f64::MAX;
    let mut size = 0;
    for _ in 0..6 {
        let start = Instant::now();
        let compiled = compile(&sources).unwrap_or_else(|e| panic!("{e}"));
        best = best.min(start.elapsed().as_secs_f64());
        size = compiled.elf.len();
    }
    println!(
        "compile: {lines} lines in {:.1} ms (best of 6), ELF {size} bytes",
        best * 1000.0
    );
}

//! Target `cstar`: C* sources to the compiler (`toolchain::cstar::compile`),
//! which must answer with diagnostics or an ELF; an ELF runs, bounded.
//!
//! Half the inputs are programs generated from C*'s grammar (globals,
//! procedures, statements, expressions nested at random, calls of the
//! built-ins with edge values), half are mutations of the repository's C*
//! files (programs/, tests/cstar/): bytes, tokens, lines and splices.

use sim::toolchain::cstar::compile;

use crate::guest::{self, SourceTarget};
use crate::rng::Rng;

const TOKENS: &[&str] = &[
    "uint64_t",
    "uint64_t*",
    "void",
    "int",
    "char",
    "sizeof",
    "if",
    "else",
    "while",
    "return",
    "main",
    "x",
    "y",
    "f",
    "(",
    ")",
    "{",
    "}",
    ";",
    ",",
    "=",
    "==",
    "!=",
    "<",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "0",
    "1",
    "-1",
    "18446744073709551615",
    "99999999999999999999",
    "'a'",
    "'\\n'",
    "\"s\"",
    "\"\\q\"",
    "\"open",
    "/*",
    "*/",
    "//",
    "&&",
    "||",
    "!",
    "&",
    "|",
    "^",
    "<<",
    ">>",
    "malloc",
    "fork",
    "exit",
    "write",
    "read",
    "open",
    "wait",
    "shm_open",
    "hv_create",
    "atomic",
    "#include",
    "[",
    "]",
    "->",
    ".",
    "...",
    "var_start",
    "var_arg",
];

/// Calls of built-ins a generated program makes.
const BUILTINS: &[(&str, usize)] = &[
    ("malloc", 1),
    ("write", 3),
    ("read", 3),
    ("exit", 1),
    ("fork", 0),
    ("getpid", 0),
    ("yield", 0),
    ("shm_open", 1),
    ("shm_map", 2),
    ("shm_size", 2),
    ("shm_close", 1),
    ("vm_id", 0),
    ("hv_create", 0),
    ("hv_status", 1),
    ("hv_get_reg", 2),
];

/// The `cstar` target.
pub fn target() -> SourceTarget {
    let repo = guest::repo();
    let mut paths = guest::files(&repo.join("programs"), &["c"]);
    paths.extend(guest::files(&repo.join("tests/cstar"), &["c"]));
    SourceTarget::new(
        "cstar",
        guest::read_all(&paths),
        TOKENS,
        generate_program,
        build,
        50_000,
    )
}

fn build(source: &str) -> Option<Vec<u8>> {
    compile(&[("fuzz.c".to_string(), source.to_string())])
        .ok()
        .map(|c| c.elf)
}

/// A random expression of depth at most `depth`.
fn expr(rng: &mut Rng, depth: u32) -> String {
    if depth == 0 || rng.percent(30) {
        return match rng.below(6) {
            0 => "x".into(),
            1 => "*p".into(),
            2 => format!("{}", rng.pick(crate::rng::INTERESTING)),
            3 => format!("'{}'", *rng.pick(&['a', 'z', '0'])),
            4 => "g".into(),
            _ => format!("{}", rng.below(100)),
        };
    }
    match rng.below(5) {
        0 => format!("(0 - {})", expr(rng, depth - 1)),
        1 => {
            let (name, n) = *rng.pick(BUILTINS);
            let args: Vec<String> = (0..n).map(|_| expr(rng, depth - 1)).collect();
            format!("{name}({})", args.join(", "))
        }
        2 => format!("*({} + {})", "p", expr(rng, depth - 1)),
        3 => format!("f({}, {})", expr(rng, depth - 1), expr(rng, depth - 1)),
        _ => {
            let op = rng.pick(&["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">="]);
            format!("({} {op} {})", expr(rng, depth - 1), expr(rng, depth - 1))
        }
    }
}

/// A random statement nested at most `depth` deep.
fn statement(rng: &mut Rng, depth: u32, out: &mut String) {
    match rng.below(if depth == 0 { 4 } else { 7 }) {
        0 => out.push_str(&format!("x = {};\n", expr(rng, 3))),
        1 => out.push_str(&format!("*(p + {}) = {};\n", rng.below(8), expr(rng, 2))),
        2 => {
            // A call is the one expression that is a statement.
            let (name, n) = *rng.pick(BUILTINS);
            let args: Vec<String> = (0..n).map(|_| expr(rng, 2)).collect();
            out.push_str(&format!("{name}({});\n", args.join(", ")));
        }
        3 => out.push_str(&format!("return {};\n", expr(rng, 2))),
        4 => {
            out.push_str(&format!("if ({}) {{\n", expr(rng, 2)));
            statement(rng, depth - 1, out);
            out.push_str("} else {\n");
            statement(rng, depth - 1, out);
            out.push_str("}\n");
        }
        _ => {
            // Bounded loops: the counter always moves.
            out.push_str(&format!(
                "x = {};\nwhile (x < {}) {{\n",
                rng.below(4),
                rng.below(50)
            ));
            statement(rng, depth - 1, out);
            out.push_str("x = x + 1;\n}\n");
        }
    }
}

fn generate_program(rng: &mut Rng) -> String {
    let mut out = String::from("uint64_t g;\nuint64_t* p;\n");
    out.push_str("uint64_t f(uint64_t a, uint64_t b) {\n  uint64_t x;\n  x = a;\n");
    for _ in 0..rng.below(4) {
        statement(rng, 2, &mut out);
    }
    out.push_str("  return a + b;\n}\n");
    out.push_str(
        "uint64_t main(uint64_t argc, uint64_t* argv) {\n  uint64_t x;\n  p = malloc(64);\n",
    );
    for _ in 0..=rng.below(10) {
        statement(rng, 3, &mut out);
    }
    out.push_str("  return 0;\n}\n");
    out
}

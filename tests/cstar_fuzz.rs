//! The C* compiler never panics: random bytes, random token sequences and
//! pathological nesting all end in `Ok` or `Err`.

use proptest::prelude::*;
use sim::toolchain::cstar::compile;

const TOKENS: &[&str] = &[
    "uint64_t",
    "uint64_t*",
    "void",
    "int",
    "char",
    "unsigned",
    "long",
    "const",
    "sizeof",
    "if",
    "else",
    "while",
    "return",
    "main",
    "x",
    "y",
    "f",
    "print",
    "malloc",
    "var_start",
    "var_arg",
    "(",
    ")",
    "{",
    "}",
    ";",
    ",",
    "...",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "0",
    "1",
    "7",
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
    "#include <x>\n",
    "\n",
    "0x",
    "@",
    "'",
];

fn check(text: &str) {
    let _ = compile(&[("fuzz.c".to_string(), text.to_string())]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_token_sequences_never_panic(picks in proptest::collection::vec(0..TOKENS.len(), 0..120)) {
        let text: Vec<&str> = picks.iter().map(|&i| TOKENS[i]).collect();
        check(&text.join(" "));
    }

    #[test]
    fn random_tokens_inside_main_never_panic(picks in proptest::collection::vec(0..TOKENS.len(), 0..80)) {
        let text: Vec<&str> = picks.iter().map(|&i| TOKENS[i]).collect();
        check(&format!("uint64_t x; uint64_t* y; uint64_t f(uint64_t a, ...) {{ return a; }}\nuint64_t main() {{ uint64_t z; {} }}", text.join(" ")));
    }
}

#[test]
fn pathological_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    for text in [
        format!(
            "uint64_t main() {{ return {}1{}; }}",
            "(".repeat(depth),
            ")".repeat(depth)
        ),
        format!("uint64_t main() {{ return 1{}; }}", " + 1".repeat(depth)),
        format!("uint64_t main() {{ return 1{}; }}", " * 1".repeat(depth)),
        format!(
            "uint64_t main() {{ {} return 0; }}",
            "if (1) ".repeat(depth)
        ),
        format!("uint64_t main() {{ {} }}", "while (1) {".repeat(depth)),
        format!(
            "uint64_t main() {{ return {}1; }}",
            "(uint64_t) -".repeat(depth)
        ),
        "(".repeat(depth),
        "}".repeat(depth),
    ] {
        let result = compile(&[("deep.c".to_string(), text)]);
        assert!(result.is_err());
    }
}

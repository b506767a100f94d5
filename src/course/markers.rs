//! Solution regions: the part of a source file that an assignment asks
//! students to write. The convention (docs/teaching.md, "Markers"):
//!
//! ```text
//! // BEGIN SOLUTION NAME
//! ... the reference solution ...
//! // STUB
//! // ... what the handout puts instead, one commented line each ...
//! // END SOLUTION NAME
//! ```
//!
//! The three markers are whole lines (leading blanks allowed); they work in
//! Rust and in C* alike. Every region has exactly one `// STUB`, every stub
//! line is a `//` comment (so the reference tree compiles the solution
//! only), and regions do not nest. `sim handout` replaces a region by its
//! stub lines with the first `// ` taken off.

/// One solution region of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The assignment it belongs to.
    pub name: String,
    /// 1-based line numbers of `BEGIN SOLUTION`, `STUB` and `END SOLUTION`.
    pub begin: usize,
    pub stub: usize,
    pub end: usize,
}

const BEGIN: &str = "// BEGIN SOLUTION ";
const STUB: &str = "// STUB";
const END: &str = "// END SOLUTION ";

/// The regions of `text`, or what is unbalanced and where (`line N: ...`).
pub fn regions(text: &str) -> Result<Vec<Region>, String> {
    let mut out = Vec::new();
    let mut open: Option<Region> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if let Some(name) = t.strip_prefix(BEGIN) {
            if let Some(r) = &open {
                return Err(format!(
                    "line {n}: BEGIN SOLUTION {name} inside the region {} opened on line {}",
                    r.name, r.begin
                ));
            }
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("line {n}: BEGIN SOLUTION without a name"));
            }
            open = Some(Region {
                name: name.to_string(),
                begin: n,
                stub: 0,
                end: 0,
            });
        } else if t == STUB {
            match &mut open {
                Some(r) if r.stub == 0 => r.stub = n,
                Some(r) => {
                    return Err(format!(
                        "line {n}: a second STUB in region {} (first on line {})",
                        r.name, r.stub
                    ))
                }
                None => return Err(format!("line {n}: STUB outside a solution region")),
            }
        } else if let Some(name) = t.strip_prefix(END) {
            let Some(mut r) = open.take() else {
                return Err(format!("line {n}: END SOLUTION {name} without a BEGIN"));
            };
            if r.name != name.trim() {
                return Err(format!(
                    "line {n}: END SOLUTION {} closes region {} (line {})",
                    name.trim(),
                    r.name,
                    r.begin
                ));
            }
            if r.stub == 0 {
                return Err(format!("line {n}: region {} has no STUB line", r.name));
            }
            r.end = n;
            out.push(r);
        } else if let Some(r) = &open {
            if r.stub != 0 && !t.starts_with("//") {
                return Err(format!(
                    "line {n}: stub line of region {} is not a `//` comment",
                    r.name
                ));
            }
        }
    }
    match open {
        Some(r) => Err(format!(
            "line {}: region {} is never closed by END SOLUTION {}",
            r.begin, r.name, r.name
        )),
        None => Ok(out),
    }
}

/// `text` with every region of assignment `name` replaced by its stub.
/// `None` when the text has no such region.
pub fn stub_out(text: &str, name: &str) -> Result<Option<String>, String> {
    let found = regions(text)?;
    let mine: Vec<&Region> = found.iter().filter(|r| r.name == name).collect();
    if mine.is_empty() {
        return Ok(None);
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len());
    let mut n = 0;
    for r in mine {
        for line in &lines[n..r.begin - 1] {
            out.push_str(line);
            out.push('\n');
        }
        let begin = lines[r.begin - 1];
        let indent = &begin[..begin.len() - begin.trim_start().len()];
        out.push_str(&format!(
            "{indent}// ASSIGNMENT {name}: write this part (assignments/{name}/README.md)\n"
        ));
        for line in &lines[r.stub..r.end - 1] {
            // Only the first comment mark goes: `// // why` stays a comment.
            let uncommented = if line.contains("// ") {
                line.replacen("// ", "", 1)
            } else {
                line.replacen("//", "", 1)
            };
            out.push_str(&uncommented);
            out.push('\n');
        }
        n = r.end;
    }
    for line in &lines[n..] {
        out.push_str(line);
        out.push('\n');
    }
    if !text.ends_with('\n') {
        out.pop();
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "a\n    // BEGIN SOLUTION x\n    real();\n    // STUB\n    // // why\n    // todo();\n    // END SOLUTION x\nb\n";

    #[test]
    fn a_region_is_replaced_by_its_stub() {
        let out = stub_out(SAMPLE, "x").expect("balanced").expect("has x");
        assert_eq!(
            out,
            "a\n    // ASSIGNMENT x: write this part (assignments/x/README.md)\n    // why\n    todo();\nb\n"
        );
        assert_eq!(stub_out(SAMPLE, "y").expect("balanced"), None);
    }

    #[test]
    fn unbalanced_markers_are_errors_with_the_line() {
        let nested = "// BEGIN SOLUTION a\n// BEGIN SOLUTION b\n";
        assert!(regions(nested).unwrap_err().starts_with("line 2"));
        let unclosed = "// BEGIN SOLUTION a\n// STUB\n";
        assert!(regions(unclosed).unwrap_err().contains("never closed"));
        let wrong = "// BEGIN SOLUTION a\n// STUB\n// END SOLUTION b\n";
        assert!(regions(wrong).unwrap_err().contains("closes region a"));
        let no_stub = "// BEGIN SOLUTION a\nx\n// END SOLUTION a\n";
        assert!(regions(no_stub).unwrap_err().contains("no STUB"));
        let code_in_stub = "// BEGIN SOLUTION a\n// STUB\ncode\n// END SOLUTION a\n";
        assert!(regions(code_in_stub)
            .unwrap_err()
            .contains("not a `//` comment"));
    }
}

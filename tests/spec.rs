//! The contracts of docs/spec/ against the code: the call table and the
//! error table of docs/spec/abi.md must list exactly what src/abi/ defines,
//! number for number and name for name, and nothing in the repository's
//! docs may point outside it.
//!
//! The check is generic: a call added to `sim::abi::CALLS` (a Linux call
//! or one of sim's own) fails this test until its row is in the doc; the
//! failure prints the rows to paste.

use std::collections::BTreeMap;
use std::path::Path;

/// The rows of the markdown table between `<!-- NAME:` and `<!-- end NAME -->`,
/// as lists of trimmed cells, header and separator skipped.
fn table(doc: &str, name: &str) -> Vec<Vec<String>> {
    let start = doc
        .find(&format!("<!-- {name}:"))
        .unwrap_or_else(|| panic!("docs/spec/abi.md has no `<!-- {name}:` marker"));
    let end = doc[start..]
        .find(&format!("<!-- end {name} -->"))
        .unwrap_or_else(|| panic!("docs/spec/abi.md has no `<!-- end {name} -->` marker"));
    doc[start..start + end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect()
}

fn abi_doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/spec/abi.md"))
        .expect("docs/spec/abi.md exists")
}

/// What a row of the call table says, as the code would write it.
fn call_row(c: &sim::abi::CallInfo) -> String {
    format!(
        "| {} | {} | {} | {} | {} |",
        c.number,
        c.name,
        c.args,
        c.builtin.map_or("—".to_string(), |b| format!("`{b}`")),
        family(c.number)
    )
}

/// Whose call a number is: sim's own are the hypercalls (400–413) and the
/// shared-memory and course calls (500 and up); the rest keep Linux's
/// numbers (faccessat2, 439, among them).
fn family(number: u64) -> &'static str {
    if (400..=413).contains(&number) || number >= 500 {
        "sim"
    } else {
        "Linux"
    }
}

#[test]
fn every_call_is_in_the_spec_table_and_every_row_is_a_call() {
    let doc = abi_doc();
    let rows: BTreeMap<u64, Vec<String>> = table(&doc, "call-table")
        .into_iter()
        .map(|r| (r[0].parse().expect("a number in the first column"), r))
        .collect();
    let mut problems = Vec::new();
    for c in sim::abi::CALLS {
        let expected = call_row(c);
        match rows.get(&c.number) {
            None => problems.push(format!("missing row: {expected}")),
            Some(r) => {
                let builtin = c.builtin.unwrap_or("—");
                let family = family(c.number);
                if r.len() != 5
                    || r[1] != c.name
                    || r[2] != c.args.to_string()
                    || r[3] != builtin
                    || r[4] != family
                {
                    problems.push(format!("row {r:?} should be: {expected}"));
                }
            }
        }
    }
    for number in rows.keys() {
        if sim::abi::call_info(*number).is_none() {
            problems.push(format!("row {number} names no call of src/abi/mod.rs"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/spec/abi.md's call table and src/abi/mod.rs differ:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_error_is_in_the_spec_table_and_every_row_is_an_error() {
    let doc = abi_doc();
    let rows: Vec<(i64, String)> = table(&doc, "error-table")
        .into_iter()
        .map(|r| (r[0].parse().expect("a number"), r[1].clone()))
        .collect();
    let code: Vec<(i64, String)> = sim::abi::ERRORS
        .iter()
        .map(|(name, e)| (e.0 as i64, name.to_string()))
        .collect();
    assert_eq!(
        rows, code,
        "docs/spec/abi.md's error table and src/abi/errno.rs differ"
    );
}

/// Every file under the repository's directories `dirs`.
fn files_under(dirs: &[&str]) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut pending: Vec<_> = dirs.iter().map(|d| root.join(d)).collect();
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Whether `text` names one of the project's working files that live
/// outside the repository (the design notes it was started from).
fn names_an_outside_file(text: &str) -> bool {
    ["../shared", "DESIGN.md", "STYLE.md", "PERFORMANCE-NOTES"]
        .iter()
        .any(|name| text.contains(name))
}

/// Every markdown file of the repository's docs (and README, assignments).
fn markdown_files() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![root.join("README.md")];
    out.extend(
        files_under(&["docs", "assignments", "programs"])
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    out
}

#[test]
fn docs_link_only_inside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut bad = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).expect("readable");
        // Every relative markdown link `](target)` must name a file that exists.
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or("");
            if target.is_empty() || target.starts_with("http") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = file.parent().expect("in a dir").join(target);
            let inside = resolved
                .canonicalize()
                .map(|p| p.starts_with(root.canonicalize().expect("root")))
                .unwrap_or(false);
            if !inside {
                bad.push(format!("{}: link to {target}", file.display()));
            }
        }
        if names_an_outside_file(&text) {
            bad.push(format!(
                "{}: names a file outside the repository",
                file.display()
            ));
        }
    }
    // Code is read by students too: its comments and messages may not
    // send them outside the repository either.
    for file in files_under(&["src", "examples", "benches", "tests"]) {
        if file.extension().is_some_and(|e| e == "rs") && !file.ends_with(file!()) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if names_an_outside_file(&text) {
                bad.push(format!(
                    "{}: names a file outside the repository",
                    file.display()
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "links outside the repository:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_spec_cited_in_the_sources_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    for path in files_under(&["src", "docs", "tests", "programs"]) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (i, _) in text.match_indices("docs/spec/") {
            let rest = &text[i..];
            let end = rest.find(".md").map(|e| e + 3);
            if let Some(end) = end {
                let cited = &rest[..end];
                if cited
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
                    && !root.join(cited).exists()
                {
                    missing.push(format!("{}: {cited}", path.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cited specs that do not exist:\n{}",
        missing.join("\n")
    );
}

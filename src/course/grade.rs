//! `sim grade NAME`: runs the assignment's test file in the tree and scores
//! each graded test with its points.
//!
//! The tests run as `cargo test --release --test FILE -- --test-threads=1`
//! in the tree's root (one at a time, so a slow machine does not make them
//! race); the result lines (`test NAME ... ok|FAILED|ignored`) are matched to
//! `points.toml`. A graded test that does not run (the tree does not
//! compile, the test was deleted or renamed) scores 0, with a note.

use std::path::Path;
use std::process::Command;

use super::{Assignment, CourseError};

/// One graded test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub passed: bool,
    pub points: u64,
    pub max: u64,
    /// Why it scored 0 without failing ("did not run: ...").
    pub note: Option<String>,
}

/// The grade of one assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub assignment: String,
    pub points: u64,
    pub max: u64,
    pub tests: Vec<TestResult>,
}

/// Grades `assignment` in the tree at `root` (see the module doc).
pub fn grade(root: &Path, assignment: &Assignment) -> Result<Report, CourseError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .current_dir(root)
        .args(["test", "--release", "--test", &assignment.test_file])
        .args(["--", "--test-threads=1"])
        .output()
        .map_err(|e| {
            CourseError::Message(format!(
                "could not run {}: {e}",
                Path::new(&cargo).display()
            ))
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let compiled = stdout.contains("running ");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let why_not = if compiled {
        "did not run (no such test in the file)".to_string()
    } else {
        let first_error = stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or("cargo test failed");
        format!("did not run: the tree does not build ({first_error})")
    };
    Ok(score(assignment, &stdout, &why_not))
}

/// Matches libtest's result lines to the points.
fn score(assignment: &Assignment, stdout: &str, why_not: &str) -> Report {
    let outcome = |test: &str| -> Option<bool> {
        stdout.lines().find_map(|line| {
            let rest = line.strip_prefix("test ")?;
            let (name, result) = rest.split_once(" ... ")?;
            (name.trim() == test).then(|| result.trim() == "ok")
        })
    };
    let tests: Vec<TestResult> = assignment
        .points
        .iter()
        .map(|(name, max)| {
            let ran = outcome(name);
            let passed = ran == Some(true);
            TestResult {
                name: name.clone(),
                passed,
                points: if passed { *max } else { 0 },
                max: *max,
                note: ran.is_none().then(|| why_not.to_string()),
            }
        })
        .collect();
    Report {
        assignment: assignment.name.clone(),
        points: tests.iter().map(|t| t.points).sum(),
        max: assignment.max(),
        tests,
    }
}

impl Report {
    /// One line per test, then the total, as `sim grade` prints it.
    pub fn text(&self) -> String {
        let width = self.tests.iter().map(|t| t.name.len()).max().unwrap_or(0);
        let mut out = format!("assignment {}\n", self.assignment);
        for t in &self.tests {
            let mark = if t.passed { "pass" } else { "FAIL" };
            out.push_str(&format!(
                "  {mark}  {:<width$}  {:>3} / {}",
                t.name, t.points, t.max
            ));
            if let Some(note) = &t.note {
                out.push_str(&format!("  ({note})"));
            }
            out.push('\n');
        }
        out.push_str(&format!("total {} / {}\n", self.points, self.max));
        out
    }

    /// `{"assignment", "points", "max", "tests": [...]}` for an LMS.
    pub fn json(&self) -> String {
        let tests: Vec<String> = self
            .tests
            .iter()
            .map(|t| {
                format!(
                    "{{\"name\": {}, \"passed\": {}, \"points\": {}, \"max\": {}{}}}",
                    json_string(&t.name),
                    t.passed,
                    t.points,
                    t.max,
                    t.note
                        .as_ref()
                        .map_or(String::new(), |n| format!(", \"note\": {}", json_string(n)))
                )
            })
            .collect();
        format!(
            "{{\"assignment\": {}, \"points\": {}, \"max\": {}, \"tests\": [{}]}}",
            json_string(&self.assignment),
            self.points,
            self.max,
            tests.join(", ")
        )
    }
}

/// A JSON string literal (RFC 8259, section 7).
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_become_points() {
        let a = Assignment {
            name: "x".into(),
            title: String::new(),
            test_file: "assignment_x".into(),
            points: vec![("a".into(), 2), ("b".into(), 3), ("c".into(), 5)],
        };
        let out = "running 2 tests\ntest a ... ok\ntest b ... FAILED\n";
        let r = score(&a, out, "did not run");
        assert_eq!((r.points, r.max), (2, 10));
        assert!(r.tests[0].passed && !r.tests[1].passed);
        assert_eq!(r.tests[2].note.as_deref(), Some("did not run"));
        assert!(r.json().starts_with(
            "{\"assignment\": \"x\", \"points\": 2, \"max\": 10, \"tests\": [{\"name\": \"a\""
        ));
        assert!(r.text().ends_with("total 2 / 10\n"));
        assert_eq!(json_string("a\"b\n"), "\"a\\\"b\\u000a\"");
    }
}

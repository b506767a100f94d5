//! `sim handout NAME -o DIR`: the student's copy of the tree. Every file
//! is copied as it is (build outputs and version control excepted), except
//! that each solution region of NAME is replaced by its stub
//! (markers.rs). Other assignments' regions stay solved, so they still
//! pass; the assignment's own grading tests are kept.

use std::path::Path;

use super::{markers, Assignment, CourseError};

/// Directories never copied: build output and version control.
const SKIP: &[&str] = &["target", ".git"];

/// Writes the handout of `assignment` from the tree at `root` into `out`
/// (which must not exist or be empty). Returns the files whose regions were
/// replaced, relative to the root.
pub fn handout(
    root: &Path,
    assignment: &Assignment,
    out: &Path,
) -> Result<Vec<String>, CourseError> {
    let root = root.canonicalize().map_err(|e| CourseError::io(root, e))?;
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| CourseError::io(out, e))?
            .next()
            .is_some()
    {
        return Err(CourseError::Message(format!(
            "{} exists and is not empty; choose a new directory",
            out.display()
        )));
    }
    if let Ok(out_abs) = out.canonicalize() {
        if out_abs.starts_with(&root) && !out_abs.starts_with(root.join("target")) {
            return Err(CourseError::Message(format!(
                "{} is inside the tree it copies; choose a directory outside it",
                out.display()
            )));
        }
    }
    let mut changed = Vec::new();
    copy_dir(&root, &root, out, &assignment.name, &mut changed)?;
    if changed.is_empty() {
        return Err(CourseError::Message(format!(
            "assignment {} has no solution region in the tree (// BEGIN SOLUTION {})",
            assignment.name, assignment.name
        )));
    }
    changed.sort();
    Ok(changed)
}

fn copy_dir(
    root: &Path,
    dir: &Path,
    out: &Path,
    name: &str,
    changed: &mut Vec<String>,
) -> Result<(), CourseError> {
    std::fs::create_dir_all(out).map_err(|e| CourseError::io(out, e))?;
    let entries = std::fs::read_dir(dir).map_err(|e| CourseError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| CourseError::io(dir, e))?;
        let path = entry.path();
        let file_name = entry.file_name();
        let target = out.join(&file_name);
        let kind = entry.file_type().map_err(|e| CourseError::io(&path, e))?;
        // `.git` is a file, not a directory, in a git worktree: skip both.
        if dir == root && SKIP.iter().any(|s| file_name == *s) {
            continue;
        }
        if kind.is_dir() {
            copy_dir(root, &path, &target, name, changed)?;
        } else if kind.is_file() {
            let bytes = std::fs::read(&path).map_err(|e| CourseError::io(&path, e))?;
            let replaced = match std::str::from_utf8(&bytes) {
                Ok(text) => markers::stub_out(text, name)
                    .map_err(|why| CourseError::Message(format!("{}: {why}", path.display())))?,
                Err(_) => None,
            };
            let contents = match replaced {
                Some(text) => {
                    let rel = path.strip_prefix(root).unwrap_or(&path);
                    changed.push(rel.display().to_string());
                    text.into_bytes()
                }
                None => bytes,
            };
            std::fs::write(&target, contents).map_err(|e| CourseError::io(&target, e))?;
        }
    }
    Ok(())
}

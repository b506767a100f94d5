//! Finding the tree and its assignments: `assignments/NAME/points.toml`.
//!
//! `points.toml` is flat: `test = "FILE"` names the integration test file
//! (tests/FILE.rs) that grades the assignment, `title = "..."` its one-line
//! title, and under `[points]` one `test_name = N` line per graded test.

use std::path::{Path, PathBuf};

use super::CourseError;

/// One assignment as its `points.toml` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The directory name under `assignments/` (also the marker name).
    pub name: String,
    pub title: String,
    /// The integration test file, without `.rs`.
    pub test_file: String,
    /// Each graded test with its points, in the file's order.
    pub points: Vec<(String, u64)>,
}

impl Assignment {
    /// The most points there are.
    pub fn max(&self) -> u64 {
        self.points.iter().map(|(_, p)| p).sum()
    }

    /// Reads `assignments/NAME/points.toml` of the tree at `root`.
    pub fn load(root: &Path, name: &str) -> Result<Assignment, CourseError> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let path = root.join("assignments").join(name).join("points.toml");
        if !valid || !path.is_file() {
            return Err(CourseError::Message(format!(
                "no assignment {name:?} in {} (`sim grade --list` lists them)",
                root.join("assignments").display()
            )));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| CourseError::io(&path, e))?;
        parse(name, &text).map_err(|why| CourseError::Message(format!("{}: {why}", path.display())))
    }
}

/// Parses the flat `points.toml` format of the module doc.
fn parse(name: &str, text: &str) -> Result<Assignment, String> {
    let mut title = String::new();
    let mut test_file = String::new();
    let mut points = Vec::new();
    let mut in_points = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line == "[points]" {
            in_points = true;
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| format!("line {}: expected `key = value`, found {line:?}", i + 1))?;
        if in_points {
            let n = value
                .parse()
                .map_err(|_| format!("line {}: points of {key} must be a number", i + 1))?;
            points.push((key.to_string(), n));
        } else {
            let value = value.trim_matches('"').to_string();
            match key {
                "title" => title = value,
                "test" => test_file = value,
                _ => return Err(format!("line {}: unknown key {key}", i + 1)),
            }
        }
    }
    if test_file.is_empty() || points.is_empty() {
        return Err("needs `test = \"FILE\"` and a [points] table".to_string());
    }
    Ok(Assignment {
        name: name.to_string(),
        title,
        test_file,
        points,
    })
}

/// The root of the sim source tree that holds `start`: the nearest
/// directory upwards with a `Cargo.toml` and an `assignments/` directory.
pub fn root_from(start: &Path) -> Result<PathBuf, CourseError> {
    let start = start
        .canonicalize()
        .map_err(|e| CourseError::io(start, e))?;
    start
        .ancestors()
        .find(|d| d.join("Cargo.toml").is_file() && d.join("assignments").is_dir())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            CourseError::Message(format!(
                "{} is not inside a sim source tree (no Cargo.toml with an assignments/ directory above it)",
                start.display()
            ))
        })
}

/// Every assignment of the tree, by name.
pub fn list(root: &Path) -> Result<Vec<Assignment>, CourseError> {
    let dir = root.join("assignments");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| CourseError::io(&dir, e))?
        .flatten()
        .filter(|e| e.path().join("points.toml").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names.iter().map(|n| Assignment::load(root, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_flat_format_and_rejects_the_rest() {
        let a = parse(
            "x",
            "title = \"T\"\ntest = \"assignment_x\"\n[points]\na = 2 # two\nb = 3\n",
        )
        .expect("parses");
        assert_eq!(a.max(), 5);
        assert_eq!(a.points[0], ("a".to_string(), 2));
        assert!(parse("x", "test = \"t\"\n[points]\na = many\n").is_err());
        assert!(parse("x", "title = \"T\"\n").is_err());
    }
}

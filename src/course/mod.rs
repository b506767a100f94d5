//! The course kit: assignments a teacher hands out and grades
//! (docs/teaching.md).
//!
//! An assignment is a directory `assignments/NAME/` of the source tree with
//! a handout (`README.md`) and `points.toml` (the grading test file and the
//! points of each test), plus *solution regions* in the project's sources,
//! marked as markers.rs describes. Control flows in two ways:
//!
//! ```text
//! sim grade NAME   → grade.rs: find the tree (root_from), read points.toml,
//!                    run `cargo test --release --test FILE` there, match each
//!                    result line to its points → a Report (text or JSON)
//! sim handout NAME → handout.rs: copy the tree without target/ and .git,
//!   -o DIR           replacing every region of NAME by its stub (markers.rs)
//! ```
//!
//! Nothing here runs guest code: grading runs the assignment's tests, which
//! use the library (stepping API, inspect.rs) and guest programs.

pub mod assignment;
pub mod grade;
pub mod handout;
pub mod markers;

pub use assignment::{list, root_from, Assignment};
pub use grade::{grade, Report, TestResult};
pub use handout::handout;
pub use markers::{regions, stub_out, Region};

/// An error of the course kit: what went wrong and with which file.
#[derive(Debug, thiserror::Error)]
pub enum CourseError {
    #[error("{0}")]
    Message(String),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl CourseError {
    fn io(path: &std::path::Path, source: std::io::Error) -> CourseError {
        CourseError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

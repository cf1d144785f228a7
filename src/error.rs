//! The library's error type. Every variant names the file or value at fault, and says whether
//! it is a definite negative answer (exit 1) or a failure to answer (exit 2).

use std::io;
use std::path::{Path, PathBuf};

/// Library result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. Display gives one line: the thing at fault, then the cause.
///
/// Causes are carried in fields named `cause` (not `source`) on purpose: the message already
/// contains them, so an error-chain printer must not repeat them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {cause}", path.display())]
    Io { path: PathBuf, cause: io::Error },

    /// A file or value given to glassbox is malformed or unusable.
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },

    /// A source tree contains something glassbox refuses to hash or stage.
    #[error("{}: {reason}", path.display())]
    Tree { path: PathBuf, reason: String },

    /// An external program (cargo, git, rustc) failed or could not be run.
    #[error("{program} failed: {reason}")]
    Tool { program: String, reason: String },

    /// A definite negative answer: a signature that does not verify, a digest that does not
    /// match, an untrusted key.
    #[error("{what}: {reason}")]
    Rejected { what: String, reason: String },
}

impl Error {
    /// The process exit code this error maps to: 1 for a definite "no", 2 for "could not answer".
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Rejected { .. } => 1,
            _ => 2,
        }
    }

    /// The message in two parts: the subject the error names (the file, value or program at
    /// fault, which may come from a hostile input: a file name holding a newline) and the rest,
    /// so that a renderer can print the subject on one line whatever its bytes while the rest
    /// keeps its lines (a tool's own account of a failure). Joined, they are the `Display`.
    pub fn subject_and_rest(&self) -> (String, String) {
        match self {
            Error::Io { path, cause } => (path.display().to_string(), format!(": {cause}")),
            Error::Invalid { what, reason } | Error::Rejected { what, reason } => (what.clone(), format!(": {reason}")),
            Error::Tree { path, reason } => (path.display().to_string(), format!(": {reason}")),
            Error::Tool { program, reason } => (program.clone(), format!(" failed: {reason}")),
        }
    }

    pub fn io(path: impl AsRef<Path>, cause: io::Error) -> Error {
        Error::Io { path: path.as_ref().to_path_buf(), cause }
    }

    pub fn invalid(what: impl std::fmt::Display, reason: impl Into<String>) -> Error {
        Error::Invalid { what: what.to_string(), reason: reason.into() }
    }

    pub fn tree(path: impl AsRef<Path>, reason: impl Into<String>) -> Error {
        Error::Tree { path: path.as_ref().to_path_buf(), reason: reason.into() }
    }

    pub fn tool(program: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Tool { program: program.into(), reason: reason.into() }
    }

    pub fn rejected(what: impl std::fmt::Display, reason: impl Into<String>) -> Error {
        Error::Rejected { what: what.to_string(), reason: reason.into() }
    }
}

/// Attaches the path to an `io::Result`.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|cause| Error::io(path, cause))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_and_the_rest_are_the_message() {
        let errors = [
            Error::io("dir/a\nb", io::Error::from(io::ErrorKind::NotFound)),
            Error::invalid("--key k", "is not a key"),
            Error::tree("src/x", "symlink points outside the tree"),
            Error::tool("cargo build", "error[E0308]\n  --> src/main.rs"),
            Error::rejected("entry 3", "no signature verifies"),
        ];
        for e in errors {
            let (subject, rest) = e.subject_and_rest();
            assert_eq!(format!("{subject}{rest}"), e.to_string());
            assert!(!subject.is_empty() && !rest.is_empty(), "{e}");
        }
    }
}

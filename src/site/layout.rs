//! Where the pages will find the log, as far as `glassbox site` can tell before publishing: a
//! layout that would show every reader a failure is refused (exit 2) and nothing is written;
//! otherwise the summary says where the log must be, so that the CLI can name the next step.
//!
//! What it can know: an absolute `--log-url` on plain `http://` off loopback can never be read
//! by a page that can check (WebCrypto needs HTTPS, and an HTTPS page may not fetch `http://`);
//! a relative one that names the site's root or a directory the site writes is the site's own
//! files, not a log; and a relative one that resolves, inside or beside `--out`, to something
//! already there is read now: a file, a directory without a checkpoint, another log's
//! checkpoint or an older one than the site shows would fail every page. A relative URL with
//! nothing there yet is the ordinary case (the log is copied next): the summary says so.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::tlog::checkpoint::Checkpoint;

/// The directories the site itself writes at its root.
const SITE_DIRS: [&str; 4] = ["releases", "reports", "envelopes", "custody"];

/// Where the pages fetch the log from, and whether a copy is already there.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LogPlacement {
    /// `--log-url` as given.
    pub log_url: String,
    /// For a relative `--log-url`, the directory on this machine it names (relative to
    /// `--out`, resolved lexically); `None` for an absolute URL.
    pub log_copy: Option<PathBuf>,
    /// Whether that directory already holds this log at the site's size or later.
    pub log_copy_present: bool,
}

/// Checks the layout of the log (`origin`, `size`: the site's checkpoint) against `--out`.
pub fn check(log_url: &str, out: &Path, origin: &str, size: u64) -> Result<LogPlacement> {
    let refuse = |why: String| Error::invalid(format!("--log-url {log_url:?}"), why);
    let lower = log_url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(LogPlacement { log_url: log_url.into(), log_copy: None, log_copy_present: false });
    }
    if lower.starts_with("http://") {
        crate::remote::check_url(log_url).map_err(|_| {
            refuse(
                "is plain http:// off loopback: browsers check signatures only on HTTPS pages, and an HTTPS page \
                 may not fetch http://, so no reader could check anything; serve the log over https://"
                    .into(),
            )
        })?;
        return Ok(LogPlacement { log_url: log_url.into(), log_copy: None, log_copy_present: false });
    }
    let relative = normalise(Path::new(log_url)).ok_or_else(|| refuse("is an absolute path".into()))?;
    match relative.components().next() {
        None => return Err(refuse("is the site's own root: the pages would read the site's files as the log".into())),
        Some(Component::Normal(first)) if SITE_DIRS.iter().any(|d| first == *d) => {
            return Err(refuse(format!(
                "is inside {}/, which glassbox site writes: put the log elsewhere (the default is log/)",
                first.to_string_lossy()
            )));
        }
        _ => {}
    }
    let copy = out.join(&relative);
    let present = match std::fs::symlink_metadata(&copy) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(Error::io(&copy, e)),
        Ok(_) => {
            let stale = |why: String| {
                refuse(format!(
                    "names {}, which {why}: every page would say FAILED. Remove it, or copy this log there",
                    copy.display()
                ))
            };
            let text = std::fs::read_to_string(copy.join("checkpoint"))
                .map_err(|_| stale("exists but holds no readable checkpoint".into()))?;
            let body = text.split_once("\n\n").map_or(text.as_str(), |(b, _)| b);
            let found = Checkpoint::parse(&format!("{body}\n"))
                .map_err(|_| stale("holds a checkpoint that does not parse".into()))?;
            if found.origin != origin {
                return Err(stale(format!("holds the log {:?}, not {origin:?}", found.origin)));
            }
            if found.size < size {
                return Err(stale(format!(
                    "holds an older copy of the log ({} entries; the site shows {size})",
                    found.size
                )));
            }
            true
        }
    };
    Ok(LogPlacement { log_url: log_url.into(), log_copy: Some(relative), log_copy_present: present })
}

/// `path` with `.` dropped and `..` applied lexically, as a browser resolves a relative URL: the
/// result may start with `..` (beside `--out`), never holds one after a normal component;
/// `None` for an absolute path.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                _ => parts.push(c),
            },
            Component::Normal(_) => parts.push(c),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_layout_can_know() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        let ok = |url: &str| check(url, &out, "o.example/log", 5);
        assert_eq!(ok("https://log.example/l/").unwrap().log_copy, None);
        assert!(ok("http://127.0.0.1:8080/log/").is_ok());
        let e = ok("http://log.example/l/").unwrap_err().to_string();
        assert!(e.contains("https://"), "{e}");
        for bad in ["./", "a/../", "releases/log/", "envelopes/", "custody/x/"] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        let p = ok("log/").unwrap();
        assert_eq!((p.log_copy, p.log_copy_present), (Some(PathBuf::from("log")), false));
        assert_eq!(ok("../log/").unwrap().log_copy, Some(PathBuf::from("../log")));
        // Something already there is read.
        std::fs::create_dir_all(out.join("log")).unwrap();
        assert!(ok("log/").unwrap_err().to_string().contains("no readable checkpoint"));
        let note = |origin: &str, size: u64| {
            use base64::Engine as _;
            let root = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
            std::fs::write(out.join("log/checkpoint"), format!("{origin}\n{size}\n{root}\n\n— x\n")).unwrap();
        };
        note("other.example/log", 9);
        assert!(ok("log/").unwrap_err().to_string().contains("not \"o.example/log\""));
        note("o.example/log", 4);
        assert!(ok("log/").unwrap_err().to_string().contains("older copy"));
        note("o.example/log", 7);
        assert!(ok("log/").unwrap().log_copy_present);
    }
}

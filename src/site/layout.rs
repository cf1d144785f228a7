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
use crate::tlog::note::{Note, NoteVerifier};
use crate::transparency::{audit, LogDir};

/// What the site itself writes at its root: a log there would be overwritten or never fit.
const SITE_NAMES: [&str; 13] = [
    "releases",
    "reports",
    "envelopes",
    "custody",
    "index.html",
    "rebuilds.html",
    "custody.html",
    "site.json",
    "site.css",
    "verify.js",
    "noble-ed25519.js",
    "noble-ed25519.LICENSE",
    ".glassbox-site",
];

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

/// Checks the layout of the log against `--out`: `log_key` is the log's verifier key and
/// `shown` the checkpoint the site shows, which a copy already in place must be or extend.
pub fn check(log_url: &str, out: &Path, log_key: &NoteVerifier, shown: &Checkpoint) -> Result<LogPlacement> {
    let refuse = |why: String| Error::invalid(format!("--log-url {log_url:?}"), why);
    let lower = log_url.to_ascii_lowercase();
    // verify.js resolves each file name against the URL: a query or fragment would swallow it,
    // and a percent-escape names one path to the browser and another to this check.
    if log_url.contains(['?', '#', '%']) {
        return Err(refuse("holds '?', '#' or '%': give the log's directory as a plain path or URL".into()));
    }
    if let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) {
        if rest.split('/').next().unwrap_or("").contains('@') {
            return Err(refuse(
                "holds a user name or password: browsers refuse to fetch such a URL, and the pages would publish it"
                    .into(),
            ));
        }
    }
    if lower.starts_with("https://") {
        return Ok(LogPlacement { log_url: log_url.into(), log_copy: None, log_copy_present: false });
    }
    if lower.starts_with("http://") {
        // Host names are case-insensitive: `http://LOCALHOST/` is loopback too.
        crate::remote::check_url(&lower).map_err(|_| {
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
        Some(Component::Normal(first)) if SITE_NAMES.iter().any(|d| first == *d) => {
            return Err(refuse(format!(
                "is at {}, which glassbox site writes: put the log elsewhere (the default is log/)",
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
            let (origin, size) = (&shown.origin, shown.size);
            let bytes = crate::fs::read_regular(&copy.join("checkpoint"), crate::fs::limits::CHECKPOINT)
                .map_err(|_| stale("exists but holds no readable checkpoint".into()))?;
            let note = Note::parse(&bytes).map_err(|_| stale("holds a checkpoint that does not parse".into()))?;
            let found =
                Checkpoint::parse(&note.text).map_err(|_| stale("holds a checkpoint that does not parse".into()))?;
            if found.origin != *origin {
                return Err(stale(format!("holds the log {:?}, not {origin:?}", found.origin)));
            }
            // The pages check what the reader's browser is served: this log's key must have
            // signed it, and its tree must be or extend the one the site shows.
            if !note.verified_by(log_key) {
                return Err(stale(format!(
                    "holds a checkpoint of {origin:?} that the log's key did not sign (another log of that name, or an edited copy)"
                )));
            }
            if found.size < size {
                return Err(stale(format!(
                    "holds an older copy of the log ({} entries; the site shows {size})",
                    found.size
                )));
            }
            if audit::check_consistent(&LogDir::new(&copy), shown, &found).is_err() {
                return Err(stale(format!(
                    "holds a tree of {} entries that is not the one the site shows (another history of the log)",
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
    use crate::keys::PrivateKey;

    const ORIGIN: &str = "o.example/log";

    fn shown(size: u64) -> Checkpoint {
        Checkpoint { origin: ORIGIN.into(), size, root: [0; 32], extensions: Vec::new() }
    }

    #[test]
    fn what_the_layout_can_know() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        let key = PrivateKey::from_seed(&[7; 32]);
        let vkey = NoteVerifier::ed25519(ORIGIN, &key.public());
        let ok = |url: &str| check(url, &out, &vkey, &shown(5));
        assert_eq!(ok("https://log.example/l/").unwrap().log_copy, None);
        assert!(ok("http://127.0.0.1:8080/log/").is_ok());
        assert!(ok("http://LOCALHOST:8080/log/").is_ok(), "host names are case-insensitive");
        let e = ok("http://log.example/l/").unwrap_err().to_string();
        assert!(e.contains("https://"), "{e}");
        for bad in ["./", "a/../", "releases/log/", "envelopes/", "custody/x/", "site.json/", ".glassbox-site/"] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        // What a browser would resolve otherwise than this check, or refuse to fetch.
        for bad in
            ["log/%2e%2e/", "%2e/releases/", "log?/", "log#/", "https://l.example/log?/", "https://u:p@l.example/"]
        {
            assert!(ok(bad).is_err(), "{bad}");
        }
        let p = ok("log/").unwrap();
        assert_eq!((p.log_copy, p.log_copy_present), (Some(PathBuf::from("log")), false));
        assert_eq!(ok("../log/").unwrap().log_copy, Some(PathBuf::from("../log")));
        // Something already there is read.
        std::fs::create_dir_all(out.join("log")).unwrap();
        assert!(ok("log/").unwrap_err().to_string().contains("no readable checkpoint"));
        let note = |origin: &str, size: u64, root: [u8; 32], by: &PrivateKey| {
            let text = Checkpoint { origin: origin.into(), size, root, extensions: Vec::new() }.to_text();
            let note = Note::sign(&text, origin, by).unwrap();
            std::fs::write(out.join("log/checkpoint"), note.to_bytes()).unwrap();
        };
        note("other.example/log", 9, [0; 32], &key);
        assert!(ok("log/").unwrap_err().to_string().contains("not \"o.example/log\""));
        note(ORIGIN, 9, [0; 32], &PrivateKey::from_seed(&[8; 32]));
        assert!(ok("log/").unwrap_err().to_string().contains("did not sign"));
        note(ORIGIN, 4, [0; 32], &key);
        assert!(ok("log/").unwrap_err().to_string().contains("older copy"));
        note(ORIGIN, 5, [1; 32], &key);
        assert!(ok("log/").unwrap_err().to_string().contains("not the one the site shows"));
        note(ORIGIN, 5, [0; 32], &key);
        assert!(ok("log/").unwrap().log_copy_present);
    }
}

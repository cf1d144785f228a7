//! `glassbox log gc`: removes what the current checkpoint does not need. A tile or bundle that
//! grows gets a new path (`tile/0/000.p/15`, then `.p/16`, then the full `000`), because a file
//! a committed checkpoint refers to is never rewritten; so every append leaves the previous
//! partial files behind, and a killed append may leave its temporary files and the partial
//! files of entries it never committed. None of those is authenticated by the current
//! checkpoint. `collect` removes exactly them: a partial hash tile, entry bundle or envelope
//! bundle (`.p/<W>`), or envelope-index tile of a log copied from a bucket, whose width is not the one the checkpoint's tree has at that index (the
//! full file exists, or the edge has another width, or the index is beyond the tree), and
//! `.glassbox-tmp-*` files.
//!
//! The log may be hostile (formats.md section 15), and gc deletes: it works under the log's
//! append lock, removes nothing from a log that does not verify with the log's key (every tile,
//! entry bundle and envelope bundle the checkpoint covers is authenticated first, so those it
//! keeps are the ones a verifier reads), and walks the tree without following links: a symlink,
//! FIFO, device or socket under `tile/`, `envelopes/` or `index/` (or a temporary name in the root that is
//! one) refuses the whole run before anything is removed.

use serde::Serialize;

use super::audit::{self, WitnessPolicy};
use super::files::{Kind, TEMP_PREFIX};
use super::store::{self, LogDir};
use crate::error::{Error, Result};
use crate::tlog::checkpoint::parse_decimal;
use crate::tlog::note::NoteVerifier;
use crate::tlog::tiles::{self, TILE_WIDTH};

/// The deepest directory below `tile/` or `envelopes/` a log of `u64` entries can have: the
/// level (or `entries`), seven index groups and the `.p` directory. Deeper is not a log's.
const MAX_DEPTH: usize = 9;

/// One file gc removed (or, with a dry run, would remove).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// The path below the log directory.
    pub path: String,
    pub bytes: u64,
}

/// What a run did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collected {
    pub origin: String,
    /// The size of the checkpoint gc kept the log for.
    pub size: u64,
    pub dry_run: bool,
    /// Files removed, in path order.
    pub removed: Vec<Removed>,
    /// Their total size.
    pub bytes: u64,
    /// `.p` directories left empty and removed.
    pub directories: Vec<String>,
}

/// Removes (or, with `dry_run`, lists) every stale partial file and temporary file of the log
/// at `dir`, whose checkpoint must verify with `vkey`.
pub fn collect(dir: &LogDir, vkey: &NoteVerifier, dry_run: bool) -> Result<Collected> {
    let _lock = store::lock(dir)?;
    // A served directory's committed log may be ahead of its published checkpoint: what looks
    // stale here may be what the service's next start replays. The service keeps it tidy.
    super::served_dir::refuse_if_served(dir)?;
    // What is kept is what a verifier reads: check it all before removing anything, so that a
    // log that verified before gc verifies after it, and a broken one is left as evidence.
    let verified = audit::verify_with_bundles(dir, vkey, &WitnessPolicy::default(), None)?;
    let size = verified.size;
    let mut stale = Vec::new();
    for (name, kind) in dir.list_dir(&[])?.unwrap_or_default() {
        if name.starts_with(TEMP_PREFIX) {
            stale.push((regular(dir, &name, kind)?, name));
        }
    }
    for top in ["tile", "envelopes", "index"] {
        walk(dir, &mut vec![top.to_string()], size, &mut stale)?;
    }
    stale.sort_by(|a, b| a.1.cmp(&b.1));
    let removed: Vec<Removed> = stale.into_iter().map(|(bytes, path)| Removed { path, bytes }).collect();
    let mut directories = Vec::new();
    if !dry_run {
        for file in &removed {
            dir.remove_file(&file.path)?;
        }
        let mut emptied: Vec<&str> = removed.iter().filter_map(|f| f.path.rsplit_once('/')).map(|(d, _)| d).collect();
        emptied.dedup();
        for d in emptied.into_iter().filter(|d| d.ends_with(".p")) {
            if dir.remove_empty_dir(d)? {
                directories.push(d.to_string());
            }
        }
    }
    let bytes = removed.iter().map(|f| f.bytes).sum();
    Ok(Collected { origin: verified.origin, size, dry_run, removed, bytes, directories })
}

/// The size of the regular file `path` listed as `kind`; anything else is refused.
fn regular(dir: &LogDir, path: &str, kind: Kind) -> Result<u64> {
    match kind {
        Kind::File(bytes) => Ok(bytes),
        _ => Err(Error::invalid(
            dir.file(path).display(),
            "is a symbolic link, FIFO, device or socket: refused inside a log, nothing removed",
        )),
    }
}

/// Collects the stale files below the directory `at` (components below the log root).
fn walk(dir: &LogDir, at: &mut Vec<String>, size: u64, stale: &mut Vec<(u64, String)>) -> Result<()> {
    if at.len() > MAX_DEPTH {
        return Err(Error::invalid(dir.file(&at.join("/")).display(), "is deeper than any tile path of a log"));
    }
    let components: Vec<&str> = at.iter().map(String::as_str).collect();
    let Some(entries) = dir.list_dir(&components)? else { return Ok(()) };
    for (name, kind) in entries {
        at.push(name);
        let path = at.join("/");
        if kind == Kind::Directory {
            walk(dir, at, size, stale)?;
        } else {
            let bytes = regular(dir, &path, kind)?;
            let name = at.last().map(String::as_str).unwrap_or_default();
            if name.starts_with(TEMP_PREFIX) || is_stale_partial(at, size) {
                stale.push((bytes, path));
            }
        }
        at.pop();
    }
    Ok(())
}

/// Whether `path` (components) is a partial tile or bundle, `tile/<L>/<N>.p/<W>`,
/// `tile/entries/<N>.p/<W>`, `envelopes/<N>.p/<W>` or `index/<N>.p/<W>` (a log copied from a
/// bucket) in the spec's canonical spelling, whose
/// width is not the one a tree of `size` entries has at that index. Any other name is not
/// glassbox's to remove.
pub(crate) fn is_stale_partial(path: &[String], size: u64) -> bool {
    let Some((width, rest)) = path.split_last() else { return false };
    let Some((last_group, rest)) = rest.split_last() else { return false };
    let Some(last_group) = last_group.strip_suffix(".p") else { return false };
    let (level, groups) = match rest {
        [top, kind, groups @ ..] if top == "tile" && kind == "entries" => (0, groups),
        [top, level, groups @ ..] if top == "tile" => match parse_decimal(level) {
            Some(level) if level < 64 => (level as u8, groups),
            _ => return false,
        },
        [top, groups @ ..] if top == "envelopes" || top == "index" => (0, groups),
        _ => return false,
    };
    let Some(width) = parse_decimal(width).filter(|w| (1..TILE_WIDTH).contains(w)) else { return false };
    let spelled: Vec<&str> = groups.iter().map(String::as_str).chain([last_group]).collect();
    let Some(index) = parse_index(&spelled) else { return false };
    tiles::tile_width(level, index, size) != width
}

/// The index `N` spelled as three-digit groups, all but the last prefixed with `x`, exactly as
/// [`tiles::index_path`] writes it (no other spelling names a file of the log).
fn parse_index(groups: &[&str]) -> Option<u64> {
    let (last, leading) = groups.split_last()?;
    let mut index: u64 = 0;
    for group in leading.iter().map(|g| g.strip_prefix('x')).chain([Some(*last)]) {
        let group = group.filter(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))?;
        index = index.checked_mul(1000)?.checked_add(group.parse().ok()?)?;
    }
    (tiles::index_path(index) == groups.join("/")).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stale(path: &str, size: u64) -> bool {
        is_stale_partial(&path.split('/').map(String::from).collect::<Vec<_>>(), size)
    }

    #[test]
    fn partial_files_the_tree_does_not_have_are_stale() {
        // A tree of 16 entries has the level-0 tile and bundles of width 16, nothing above.
        for kind in ["tile/0", "tile/entries", "envelopes", "index"] {
            assert!(!stale(&format!("{kind}/000.p/16"), 16), "{kind}");
            assert!(stale(&format!("{kind}/000.p/15"), 16), "{kind}: an older width");
            assert!(stale(&format!("{kind}/000.p/17"), 16), "{kind}: a killed append's");
            assert!(stale(&format!("{kind}/001.p/1"), 16), "{kind}: beyond the tree");
            assert!(stale(&format!("{kind}/000.p/16"), 256), "{kind}: the full one exists");
        }
        assert!(stale("tile/1/000.p/1", 16), "no level-1 tile below 256 entries");
        // 70,000 entries (the spec's example): level 0 edge 273 of width 112, level 1 edge 1
        // of width 17, level 2 tile 0 of width 1.
        assert!(!stale("tile/0/273.p/112", 70_000) && stale("tile/0/272.p/112", 70_000));
        assert!(!stale("tile/1/001.p/17", 70_000) && stale("tile/1/001.p/16", 70_000));
        assert!(!stale("tile/2/000.p/1", 70_000));
        assert!(!stale("tile/0/x001/234.p/7", 1_234 * 256 + 7) && stale("tile/0/x001/234.p/6", 1_234 * 256 + 7));
    }

    #[test]
    fn other_names_are_not_glassboxs_to_remove() {
        for path in [
            "tile/0/000",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/015",
            "tile/0/00.p/1",
            "tile/0/x000/001.p/1",
            "tile/0/x01/001.p/1",
            "tile/64/000.p/1",
            "tile/00/000.p/1",
            "tile/0/000.q/1",
            "other/0/000.p/1",
            "envelopes/x/000.p/1",
            "tile/0/000.p/1/extra",
            "000.p/1",
        ] {
            assert!(!stale(path, 0), "{path}");
        }
        assert_eq!(parse_index(&["x001", "x234", "067"]), Some(1_234_067));
        assert_eq!(parse_index(&["000"]), Some(0));
        assert_eq!(parse_index(&["x000", "001"]), None);
    }
}

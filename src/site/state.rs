//! The state `glassbox site --state FILE` keeps between runs, so that a run over a grown log
//! redoes only the work the new entries need (docs/site.md, "Regenerating after every append";
//! the threat model's "The site's state file"). It holds only what earlier runs derived from
//! the authenticated log under the same policy, each part bound to what it was derived from (the
//! custody readings: [`Readings`]); a part whose binding does not hold is not used, and a state
//! that cannot be used at all is replaced. So the state can make a run faster, never change a
//! page: the site is byte for byte the one a run without it gives.
//!
//! The state is the operator's own file and is trusted as the glassbox binary is. It is never
//! inside `--out` (which is published, and may come back from a host nobody trusts); a state
//! that is a symlink, not a regular file, not the running user's, or writable by anyone else
//! (itself, or by replacing it in a directory above it) is refused, not read, and so is a file
//! glassbox did not write (a run would replace it). It is written atomically, mode 0600, with
//! a checksum: a damaged state is not used.

use std::io::Read as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::custody::audit::Readings;
use crate::digest::Sha256Digest;
use crate::error::{Error, IoContext, Result};

/// The first bytes of every state file glassbox writes: a file without them is not replaced.
const MAGIC_PREFIX: &[u8] = b"glassbox site state ";
/// The first bytes of a state file of this layout. The body follows, then its SHA-256.
const MAGIC: &[u8] = b"glassbox site state 2\n";

/// What the state holds (MessagePack, fields by position, after [`MAGIC`]).
#[derive(Default, Serialize, Deserialize)]
pub struct State {
    /// The glassbox version that wrote it: another version's readings are not used (how an
    /// envelope is read may differ between versions).
    glassbox: String,
    /// The log it was made from.
    origin: String,
    /// The custody audit's readings of the custody envelopes.
    pub custody: Option<Readings>,
}

/// A state file as found.
pub struct Found {
    /// The usable state (empty when there was none, or it was not usable).
    pub state: State,
    /// Why a state file that exists was not used.
    pub discarded: Option<String>,
}

/// Reads the state at `path` for a site of the log `origin` written to `out`. Refused (exit 2,
/// naming the file) if it is where the operator's trust does not reach (see the module
/// comment), or is a file glassbox did not write (which a run would replace); a state that does
/// not exist, was written by another version or for another log, is damaged or does not decode
/// is not used (`Found::discarded` says why), and the run makes a new one.
pub fn load(path: &Path, out: &Path, origin: &str) -> Result<Found> {
    check_place(path, out)?;
    let refuse = |why: &str| Error::invalid(path.display(), format!("--state {why}"));
    // O_NOFOLLOW: a symlink is refused, not followed; O_NONBLOCK: a FIFO cannot hang the run.
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Found { state: State::default(), discarded: None })
        }
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(refuse("is a symlink: it must be a regular file"))
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    // Checked on the file opened, so that it cannot be swapped between the check and the read.
    let meta = file.metadata().at(path)?;
    if !meta.is_file() {
        return Err(refuse("is not a regular file"));
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(refuse("belongs to another user: the state is trusted, so only its owner's runs may use it"));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse("may be written by others (group or world): make it 0600"));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).at(path)?;
    let discard = |why: &str| Ok(Found { state: State::default(), discarded: Some(why.to_string()) });
    if bytes.is_empty() {
        return discard("it is empty");
    }
    if !bytes.starts_with(MAGIC_PREFIX) {
        return Err(refuse(
            "is not a state glassbox wrote (it does not start with `glassbox site state`), and a run would \
             replace it: name a new file",
        ));
    }
    let Some(sealed) = bytes.strip_prefix(MAGIC) else { return discard("it is a state of another layout") };
    let Some((body, sum)) = sealed.split_at_checked(sealed.len().saturating_sub(32)) else {
        return discard("it is damaged (shorter than its checksum)");
    };
    if Sha256Digest::of(body).0 != sum {
        return discard("it is damaged (its checksum does not match)");
    }
    let state: State = match rmp_serde::from_slice(body) {
        Ok(state) => state,
        Err(e) => return discard(&format!("it does not decode ({e})")),
    };
    if state.glassbox != env!("CARGO_PKG_VERSION") {
        return discard(&format!("glassbox {} wrote it", state.glassbox));
    }
    if state.origin != origin {
        return discard(&format!("it describes the log {:?}", state.origin));
    }
    Ok(Found { state, discarded: None })
}

/// Writes the state for the next run over the log `origin`, atomically, mode 0600, after
/// checking its place again (`--out` exists now). Directories missing on the way are made,
/// mode 0700.
pub fn save(path: &Path, out: &Path, origin: &str, custody: Option<Readings>) -> Result<()> {
    check_place(path, out)?;
    let state = State { glassbox: env!("CARGO_PKG_VERSION").into(), origin: origin.into(), custody };
    let mut bytes = MAGIC.to_vec();
    rmp_serde::encode::write(&mut bytes, &state)
        .map_err(|e| Error::invalid(path.display(), format!("the state does not encode: {e}")))?;
    let sum = Sha256Digest::of(&bytes[MAGIC.len()..]);
    bytes.extend(sum.0);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).at(dir)?;
    }
    crate::fs::write_atomic(path, &bytes, 0o600)
}

/// Refuses a state inside `out`, named with `..`, or where another user could replace it: every
/// directory above it that exists must be the running user's or root's, and writable by no one
/// else (a sticky one, as `/tmp`, aside).
fn check_place(path: &Path, out: &Path) -> Result<()> {
    let refuse = |why: String| Error::invalid(path.display(), format!("--state {why}"));
    if path.components().any(|c| c == std::path::Component::ParentDir) {
        return Err(refuse("names a directory with `..`: give the path without it".into()));
    }
    let (state, out) = (resolved(path)?, resolved(out)?);
    if state.starts_with(&out) {
        return Err(refuse(format!(
            "is inside --out {}: the site is published, and the state must stay the operator's",
            out.display()
        )));
    }
    let me = rustix::process::geteuid().as_raw();
    for dir in state.ancestors().skip(1).filter(|d| d.exists()) {
        let meta = std::fs::metadata(dir).at(dir)?;
        if meta.uid() != me && meta.uid() != 0 {
            return Err(refuse(format!("is in {}, which another user owns: they could replace it", dir.display())));
        }
        if meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0 {
            return Err(refuse(format!(
                "is in {}, which others may write (group or world): they could replace it",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// `path` with its longest existing ancestor resolved (symlinks followed), the rest appended.
fn resolved(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path).at(path)?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(real) => return Ok(rest.iter().rev().fold(real, |p, c| p.join(c))),
            // There but not resolved: a link to nothing yet (where it leads is decided only
            // when it is made), or a directory that may not be read.
            Err(e) if existing.symlink_metadata().is_ok() => {
                return Err(Error::invalid(
                    path.display(),
                    format!(
                        "--state or --out is through {}, which does not resolve ({e}): a symlink to nothing?",
                        existing.display()
                    ),
                ))
            }
            Err(_) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_owned());
                    existing = parent;
                }
                _ => return Ok(absolute),
            },
        }
    }
}

//! tar and tar.gz archives: members added, removed and changed (type, size, content digest,
//! mode, mtime, uid/gid, owner names, link target), recursing into the contents of changed
//! members with the same comparison, so that an ELF file inside a bundle gets the ELF report.
//!
//! Memory stays bounded: archives are streamed, a first pass keeps only each member's header
//! fields and content digest, and a second pass holds the two versions of one changed member at
//! a time (at most [`MAX_MEMBER_BYTES`] each).

use std::collections::{HashMap, HashSet};
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};
use tar::EntryType;

use super::elf::capped_list;
use super::tar_guard::TarGuard;
use super::DiffReport;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// Archives nested deeper than this (an archive in an archive in …) are compared as bytes.
pub const MAX_DEPTH: usize = 4;
/// Changed members larger than this (on either side) are not read into memory: only their
/// header fields and digests are compared.
pub const MAX_MEMBER_BYTES: u64 = 512 << 20;
/// An archive is read at most this far once decompressed (per pass): a small gzip bomb cannot
/// make `diff` inflate gigabytes for ever.
pub const MAX_ARCHIVE_BYTES: u64 = 8 << 30;
/// An archive with more members than this is not compared (the first pass keeps every
/// member's header fields: about a kilobyte each).
pub const MAX_MEMBERS: usize = 1 << 18;
/// At most this many changed members per archive get a report of their contents.
pub const MAX_CONTENT_DIFFS: usize = 100;
/// Members named in a one-line summary, per list.
const SUMMARY_MEMBERS: usize = 3;

/// How two tar archives differ.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveDiff {
    /// Number of members in A and B.
    pub members_a: usize,
    pub members_b: usize,
    /// Members only B has.
    pub added: Vec<MemberInfo>,
    /// Members only A has.
    pub removed: Vec<MemberInfo>,
    /// Members both have that differ, in A's order.
    pub changed: Vec<MemberDiff>,
    /// True when the members both have come in a different order.
    pub order_differs: bool,
}

/// A member present on one side only.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberInfo {
    pub path: String,
    /// `file`, `dir`, `symlink`, `hardlink`, `char`, `block`, `fifo` or `other`.
    pub kind: String,
    pub size: u64,
    /// The content digest of a regular file.
    pub sha256: Option<Sha256Digest>,
}

/// A member present on both sides that differs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberDiff {
    pub path: String,
    /// The header fields and digest that differ, in a fixed order: `type`, `size`, `sha256`,
    /// `mode`, `mtime`, `uid`, `gid`, `uname`, `gname`, `link`.
    pub changes: Vec<FieldChange>,
    /// How the contents differ, when they do and the member could be compared (regular files of
    /// at most [`MAX_MEMBER_BYTES`], the first [`MAX_CONTENT_DIFFS`] of an archive).
    pub contents: Option<Box<DiffReport>>,
}

/// One header field (or the content digest) with its value on each side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub a: String,
    pub b: String,
}

impl ArchiveDiff {
    /// One line, e.g. `tar.gz members differ: app-1.0/bin/app (ELF sections differ: .text)`.
    /// `label` names the archive format.
    pub fn summary(&self, label: &str) -> String {
        let mut parts = Vec::new();
        if !self.changed.is_empty() {
            let items: Vec<String> = self.changed.iter().map(|m| format!("{} ({})", m.path, m.describe())).collect();
            parts.push(format!("{label} members differ: {}", capped_list(&items, SUMMARY_MEMBERS)));
        }
        for (what, list) in [("added", &self.added), ("removed", &self.removed)] {
            if !list.is_empty() {
                let paths: Vec<String> = list.iter().map(|m| m.path.clone()).collect();
                parts.push(format!("{} {what}: {}", list.len(), capped_list(&paths, SUMMARY_MEMBERS)));
            }
        }
        if self.order_differs {
            parts.push(format!("{label} members in a different order"));
        }
        if parts.is_empty() {
            parts.push(format!(
                "{label} members identical; the archives differ elsewhere (tar headers, padding or compression)"
            ));
        }
        parts.join("; ")
    }
}

impl MemberDiff {
    /// The nested report's summary, else the changed fields.
    fn describe(&self) -> String {
        if let Some(contents) = &self.contents {
            return contents.summary();
        }
        let fields: Vec<String> = self
            .changes
            .iter()
            .map(|c| match c.field.as_str() {
                "sha256" => "contents".to_string(),
                _ => format!("{} {} -> {}", c.field, c.a, c.b),
            })
            .collect();
        fields.join(", ")
    }
}

/// Where an archive's bytes come from; each `open` reads it from the start.
pub(crate) enum Source<'a> {
    File { path: &'a Path, gzip: bool },
    Memory { name: &'a str, data: &'a [u8], gzip: bool },
}

impl<'a> Source<'a> {
    /// The archive's tar stream from the start, decompressed, at most [`MAX_ARCHIVE_BYTES`].
    fn open(&self) -> Result<Box<dyn Read + 'a>> {
        self.open_capped(MAX_ARCHIVE_BYTES)
    }

    fn open_capped(&self, max: u64) -> Result<Box<dyn Read + 'a>> {
        let (reader, gzip): (Box<dyn Read + 'a>, bool) = match *self {
            Source::File { path, gzip } => {
                let (file, _) = crate::fs::open_regular(path)?;
                (Box::new(BufReader::with_capacity(1 << 20, file)), gzip)
            }
            Source::Memory { data, gzip, .. } => (Box::new(data), gzip),
        };
        let tar: Box<dyn Read + 'a> = if gzip { Box::new(GzDecoder::new(reader)) } else { reader };
        Ok(Box::new(TarGuard::new(Capped { inner: tar, read: 0, max })))
    }

    /// An error reading this archive, naming it.
    fn error(&self, cause: io::Error) -> Error {
        match *self {
            Source::File { path, .. } => Error::io(path, cause),
            Source::Memory { name, .. } => Error::invalid(name, format!("cannot read as a tar archive: {cause}")),
        }
    }
}

/// A reader that fails once more than `max` bytes came through it.
struct Capped<R> {
    inner: R,
    read: u64,
    max: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.max {
            return Err(io::Error::other(format!("more than {} bytes once decompressed (glassbox's limit)", self.max)));
        }
        Ok(n)
    }
}

/// A member's identity: its path and how many earlier members have the same path.
type Key = (Vec<u8>, usize);

/// What the first pass keeps of a member.
struct Member {
    key: Key,
    info: MemberInfo,
    /// (field, value) in the order documented on [`MemberDiff::changes`].
    fields: Vec<(&'static str, String)>,
}

/// Compares two tar archives. `depth` is this archive's nesting level (0 for files given to
/// glassbox); members are compared at `depth + 1`.
pub(crate) fn diff_archives(a: &Source, b: &Source, depth: usize) -> Result<ArchiveDiff> {
    let (members_a, members_b) = (list(a)?, list(b)?);
    let index_b: HashMap<&Key, &Member> = members_b.iter().map(|m| (&m.key, m)).collect();
    let keys_a: HashSet<&Key> = members_a.iter().map(|m| &m.key).collect();

    let (mut removed, mut changed) = (Vec::new(), Vec::new());
    let mut wanted: HashMap<Key, usize> = HashMap::new();
    for ma in &members_a {
        let Some(mb) = index_b.get(&ma.key) else {
            removed.push(ma.info.clone());
            continue;
        };
        let changes: Vec<FieldChange> = ma
            .fields
            .iter()
            .zip(&mb.fields)
            .filter(|((_, va), (_, vb))| va != vb)
            .map(|((field, va), (_, vb))| FieldChange { field: field.to_string(), a: va.clone(), b: vb.clone() })
            .collect();
        if changes.is_empty() {
            continue;
        }
        let contents_differ = ma.info.sha256.is_some() && mb.info.sha256.is_some() && ma.info.sha256 != mb.info.sha256;
        if contents_differ
            && depth < MAX_DEPTH
            && wanted.len() < MAX_CONTENT_DIFFS
            && ma.info.size.max(mb.info.size) <= MAX_MEMBER_BYTES
        {
            wanted.insert(ma.key.clone(), changed.len());
        }
        changed.push(MemberDiff { path: ma.info.path.clone(), changes, contents: None });
    }
    let added = members_b.iter().filter(|m| !keys_a.contains(&m.key)).map(|m| m.info.clone()).collect();
    let common_a = members_a.iter().map(|m| &m.key).filter(|k| index_b.contains_key(k));
    let common_b = members_b.iter().map(|m| &m.key).filter(|k| keys_a.contains(k));
    let order_differs = !common_a.eq(common_b);

    compare_contents(a, b, &wanted, &mut changed, depth)?;
    Ok(ArchiveDiff { members_a: members_a.len(), members_b: members_b.len(), added, removed, changed, order_differs })
}

/// First pass: every member's header fields and content digest, streaming the contents.
fn list(src: &Source) -> Result<Vec<Member>> {
    list_capped(src, MAX_ARCHIVE_BYTES, MAX_MEMBERS)
}

/// [`list`] with the limits given: at most `max_bytes` decompressed, `max_members` members.
fn list_capped(src: &Source, max_bytes: u64, max_members: usize) -> Result<Vec<Member>> {
    let mut archive = tar::Archive::new(src.open_capped(max_bytes)?);
    let mut buf = vec![0u8; 1 << 20];
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut members = Vec::new();
    for entry in archive.entries().map_err(|e| src.error(e))? {
        let mut entry = entry.map_err(|e| src.error(e))?;
        if members.len() == max_members {
            return Err(src.error(io::Error::other(format!("more than {max_members} members (glassbox's limit)"))));
        }
        let key = next_key(&mut seen, entry.path_bytes().into_owned());
        let header = entry.header();
        let entry_type = header.entry_type();
        // A numeric field that does not parse is shown as such rather than failing the diff.
        let number = |value: io::Result<u64>, show: fn(u64) -> String| value.map_or_else(|_| "(invalid)".into(), show);
        let mode = number(header.mode().map(u64::from), |m| format!("{m:04o}"));
        let mtime = number(header.mtime(), mtime_text);
        let (uid, gid) = (number(header.uid(), |n| n.to_string()), number(header.gid(), |n| n.to_string()));
        let lossy = |bytes: Option<&[u8]>| bytes.map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        let (uname, gname) = (lossy(header.username_bytes()), lossy(header.groupname_bytes()));
        let link = lossy(entry.link_name_bytes().as_deref());
        let size = entry.size();
        let sha256 = if entry_type.is_file() || entry_type.is_contiguous() {
            Some(Sha256Digest::of_reader(&mut entry, &mut buf).map_err(|e| src.error(e))?.0)
        } else {
            None
        };
        let kind = kind_name(entry_type);
        let fields = vec![
            ("type", kind.to_string()),
            ("size", size.to_string()),
            ("sha256", sha256.map(|d| d.hex()).unwrap_or_default()),
            ("mode", mode),
            ("mtime", mtime),
            ("uid", uid),
            ("gid", gid),
            ("uname", uname),
            ("gname", gname),
            ("link", link),
        ];
        let path = String::from_utf8_lossy(&key.0).into_owned();
        members.push(Member { info: MemberInfo { path, kind: kind.to_string(), size, sha256 }, key, fields });
    }
    Ok(members)
}

/// Second pass: reads each wanted member of A, finds the same member in B and compares the
/// two contents. B is read alongside A and reopened only when a member comes earlier in B than
/// the previous one did (never, for archives in the same order).
fn compare_contents(
    a: &Source,
    b: &Source,
    wanted: &HashMap<Key, usize>,
    changed: &mut [MemberDiff],
    depth: usize,
) -> Result<()> {
    let mut remaining = wanted.len();
    if remaining == 0 {
        return Ok(());
    }
    let mut archive_a = tar::Archive::new(a.open()?);
    let mut entries_a = archive_a.entries().map_err(|e| a.error(e))?;
    let mut seen_a: HashMap<Vec<u8>, usize> = HashMap::new();
    // A member of A (its index in `changed`, key and contents) read but not yet found in the
    // current pass over B.
    let mut pending: Option<(usize, Key, Vec<u8>)> = None;
    while remaining > 0 {
        let mut archive_b = tar::Archive::new(b.open()?);
        let mut entries_b = archive_b.entries().map_err(|e| b.error(e))?;
        let mut seen_b: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut fresh = true;
        while remaining > 0 {
            let (index, key, data_a) = match pending.take() {
                Some(p) => p,
                None => next_wanted(&mut entries_a, &mut seen_a, wanted, a)?
                    .ok_or_else(|| a.error(io::Error::other("the archive changed while it was compared")))?,
            };
            match find(&mut entries_b, &mut seen_b, &key, b)? {
                Some(data_b) => {
                    let name = changed[index].path.clone();
                    changed[index].contents =
                        Some(Box::new(super::diff_memory(&name, &name, &data_a, &data_b, depth + 1)?));
                    remaining -= 1;
                }
                None if fresh => {
                    return Err(b.error(io::Error::other("the archive changed while it was compared")));
                }
                None => {
                    pending = Some((index, key, data_a));
                    break; // reopen B
                }
            }
            fresh = false;
        }
    }
    Ok(())
}

/// The next member of A whose contents are wanted (its index in `changed`, key and contents).
fn next_wanted<R: Read>(
    entries: &mut tar::Entries<'_, R>,
    seen: &mut HashMap<Vec<u8>, usize>,
    wanted: &HashMap<Key, usize>,
    src: &Source,
) -> Result<Option<(usize, Key, Vec<u8>)>> {
    for entry in entries.by_ref() {
        let mut entry = entry.map_err(|e| src.error(e))?;
        let key = next_key(seen, entry.path_bytes().into_owned());
        if let Some(&index) = wanted.get(&key) {
            return Ok(Some((index, key, read_member(&mut entry, src)?)));
        }
    }
    Ok(None)
}

/// Reads on in B until the member `key`; `None` when B ends first.
fn find<R: Read>(
    entries: &mut tar::Entries<'_, R>,
    seen: &mut HashMap<Vec<u8>, usize>,
    key: &Key,
    src: &Source,
) -> Result<Option<Vec<u8>>> {
    for entry in entries.by_ref() {
        let mut entry = entry.map_err(|e| src.error(e))?;
        if next_key(seen, entry.path_bytes().into_owned()) == *key {
            return Ok(Some(read_member(&mut entry, src)?));
        }
    }
    Ok(None)
}

/// A member's contents, at most [`MAX_MEMBER_BYTES`] (the first pass checked the sizes; this
/// holds even if the archive changed since).
fn read_member(entry: &mut impl Read, src: &Source) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    entry.take(MAX_MEMBER_BYTES + 1).read_to_end(&mut data).map_err(|e| src.error(e))?;
    if data.len() as u64 > MAX_MEMBER_BYTES {
        return Err(src.error(io::Error::other("the archive changed while it was compared")));
    }
    Ok(data)
}

fn next_key(seen: &mut HashMap<Vec<u8>, usize>, path: Vec<u8>) -> Key {
    let n = seen.entry(path.clone()).or_default();
    *n += 1;
    (path, *n - 1)
}

fn kind_name(t: EntryType) -> &'static str {
    if t.is_file() || t.is_contiguous() {
        "file"
    } else if t.is_dir() {
        "dir"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_hard_link() {
        "hardlink"
    } else if t.is_character_special() {
        "char"
    } else if t.is_block_special() {
        "block"
    } else if t.is_fifo() {
        "fifo"
    } else {
        "other"
    }
}

/// Seconds since the epoch, with the UTC time when it is a plausible one.
fn mtime_text(mtime: u64) -> String {
    match i64::try_from(mtime) {
        Ok(secs) if secs < 253_402_300_800 => format!("{mtime} ({})", Timestamp(secs).rfc3339()),
        _ => mtime.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use crate::diff::elf::tests::tiny_elf;
    use crate::diff::{diff_bytes, Details, DiffReport, Format};

    /// A tar of (path, contents, mode) regular files, all with the given mtime.
    pub(crate) fn tar(members: &[(&str, &[u8], u32)], mtime: u64) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data, mode) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_mtime(mtime);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    pub(crate) fn gzip(data: &[u8], level: u32) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::new(level));
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn archive(report: &DiffReport) -> &super::ArchiveDiff {
        match &report.details {
            Details::Archive(archive) => archive,
            other => panic!("not an archive report: {other:?}"),
        }
    }

    #[test]
    fn added_removed_and_changed_members_with_nested_elf() {
        let elf_a = tiny_elf(&[(".text", 1, b"\xc3"), (".rodata", 1, b"/home/builder/src/x.rs\0")]);
        let elf_b = tiny_elf(&[(".text", 1, b"\xc3"), (".rodata", 1, b"/home/someone/src/x.rs\0")]);
        let a =
            gzip(&tar(&[("README", b"same", 0o644), ("bin/app", &elf_a, 0o755), ("only-a.txt", b"a", 0o644)], 0), 6);
        let b =
            gzip(&tar(&[("README", b"same", 0o600), ("bin/app", &elf_b, 0o755), ("only-b.txt", b"b", 0o644)], 0), 6);
        let report = diff_bytes("bundle.tar.gz", &a, &b).unwrap();
        assert!(!report.identical());
        assert_eq!((report.a.format, report.b.format), (Format::TarGz, Format::TarGz));
        let diff = archive(&report);
        assert_eq!((diff.members_a, diff.members_b), (3, 3));
        assert_eq!(diff.removed.iter().map(|m| m.path.as_str()).collect::<Vec<_>>(), ["only-a.txt"]);
        assert_eq!(
            diff.added.iter().map(|m| (m.path.as_str(), m.kind.as_str(), m.size)).collect::<Vec<_>>(),
            [("only-b.txt", "file", 1)]
        );
        assert_eq!(diff.changed.len(), 2);
        let readme = &diff.changed[0];
        assert_eq!(readme.path, "README");
        assert_eq!(readme.changes, [super::FieldChange { field: "mode".into(), a: "0644".into(), b: "0600".into() }]);
        assert!(readme.contents.is_none());
        let app = &diff.changed[1];
        assert_eq!(app.changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), ["sha256"]);
        let nested = app.contents.as_ref().unwrap();
        assert_eq!((nested.a.name.as_str(), nested.a.format), ("bin/app", Format::Elf));
        assert!(!diff.order_differs);
        assert_eq!(
            report.summary(),
            "tar.gz members differ: README (mode 0644 -> 0600), bin/app (ELF sections differ: .rodata (at +0x6); \
             1 string only in A, 1 only in B); 1 added: only-b.txt; 1 removed: only-a.txt"
        );
        let elf = report.elf_diffs();
        assert_eq!(elf.len(), 1);
        assert_eq!(elf[0].0, "bin/app");
        assert_eq!(elf[0].1.sections[0].name, ".rodata");
        assert_eq!(elf[0].1.strings.only_in_b, ["/home/someone/src/x.rs"]);
        assert_eq!(report.reports().len(), 2);
    }

    #[test]
    fn members_in_another_order_are_still_paired_and_the_order_is_reported() {
        let files_a: [(&str, &[u8], u32); 3] = [("one", b"1a", 0o644), ("two", b"2a", 0o644), ("three", b"3", 0o644)];
        let files_b: [(&str, &[u8], u32); 3] = [("three", b"3", 0o644), ("two", b"2b", 0o644), ("one", b"1b", 0o644)];
        let report = diff_bytes("x.tar", &tar(&files_a, 5), &tar(&files_b, 5)).unwrap();
        assert_eq!((report.a.format, report.b.format), (Format::Tar, Format::Tar));
        let diff = archive(&report);
        assert!(diff.order_differs);
        assert!(diff.added.is_empty() && diff.removed.is_empty());
        let windows: Vec<(&str, Vec<u8>, Vec<u8>)> = diff
            .changed
            .iter()
            .map(|m| match &m.contents.as_ref().unwrap().details {
                Details::Bytes(b) => (m.path.as_str(), b.window_a.clone(), b.window_b.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(windows, [("one", b"1a".to_vec(), b"1b".to_vec()), ("two", b"2a".to_vec(), b"2b".to_vec())]);
        assert!(report.summary().ends_with("tar members in a different order"), "{}", report.summary());
    }

    #[test]
    fn same_members_other_compression_and_mtime_changes() {
        let files: [(&str, &[u8], u32); 1] = [("f", b"contents", 0o644)];
        let report = diff_bytes("b.tar.gz", &gzip(&tar(&files, 0), 1), &gzip(&tar(&files, 0), 9)).unwrap();
        assert!(archive(&report).changed.is_empty());
        assert_eq!(
            report.summary(),
            "tar.gz members identical; the archives differ elsewhere (tar headers, padding or compression)"
        );
        let report = diff_bytes("b.tar", &tar(&files, 0), &tar(&files, 1_700_000_000)).unwrap();
        assert_eq!(
            report.summary(),
            "tar members differ: f (mtime 0 (1970-01-01T00:00:00Z) -> 1700000000 (2023-11-14T22:13:20Z))"
        );
    }

    #[test]
    fn nesting_is_capped_and_deeper_archives_are_compared_as_bytes() {
        let (mut a, mut b) = (b"inner a".to_vec(), b"inner b".to_vec());
        for _ in 0..super::MAX_DEPTH + 2 {
            a = tar(&[("nested.tar", &a, 0o644)], 0);
            b = tar(&[("nested.tar", &b, 0o644)], 0);
        }
        let report = diff_bytes("outer.tar", &a, &b).unwrap();
        let kinds: Vec<&str> = report
            .reports()
            .iter()
            .map(|r| match r.details {
                Details::Archive(_) => "archive",
                Details::Bytes(_) => "bytes",
                _ => "other",
            })
            .collect();
        let mut expected = vec!["archive"; super::MAX_DEPTH];
        expected.push("bytes");
        assert_eq!(kinds, expected);
        assert_eq!(report.reports().last().unwrap().a.format, Format::Tar);
    }

    #[test]
    fn a_truncated_archive_is_compared_as_bytes_in_memory() {
        let whole = tar(&[("f", &[7u8; 4096], 0o644)], 0);
        let report = diff_bytes("t.tar", &whole, &whole[..1024]).unwrap();
        assert!(matches!(report.details, Details::Bytes(_)), "{report:?}");
        assert_eq!(report.summary(), "sizes 5632 and 1024 bytes; bytes differ at offset 0x400");
    }

    #[test]
    fn decompressed_bytes_and_members_are_capped() {
        let files: Vec<(String, Vec<u8>)> = (0..10).map(|i| (format!("f{i}"), vec![0u8; 4096])).collect();
        let members: Vec<(&str, &[u8], u32)> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice(), 0o644)).collect();
        let bomb = gzip(&tar(&members, 0), 9);
        let src = super::Source::Memory { name: "bomb.tar.gz", data: &bomb, gzip: true };
        assert_eq!(super::list_capped(&src, 1 << 20, 100).unwrap().len(), 10);
        let err = super::list_capped(&src, 20_000, 100).err().unwrap().to_string();
        assert!(err.contains("bomb.tar.gz") && err.contains("decompressed"), "{err}");
        let err = super::list_capped(&src, 1 << 20, 9).err().unwrap().to_string();
        assert!(err.contains("more than 9 members"), "{err}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::testing::bounded_cases(128))]

            #[test]
            fn arbitrary_bytes_as_tar_and_tar_gz_never_panic(
                a in prop::collection::vec(any::<u8>(), 0..2048),
                flips in prop::collection::vec((0usize..4096, any::<u8>()), 0..8),
                gz in any::<bool>(),
            ) {
                // A real archive with bytes overwritten, so that parsing gets past the first header.
                let mut real = tar(&[("x/a", &a, 0o644), ("x/b", b"bb", 0o755)], 0);
                for (at, byte) in &flips {
                    let len = real.len();
                    real[at % len] = *byte;
                }
                let data = if gz { gzip(&real, 1) } else { real };
                let other = tar(&[("x/a", b"other", 0o644)], 0);
                let report = diff_bytes("t", &data, &other).unwrap();
                let _ = report.summary();
                let _ = diff_bytes("t", &a, &data).unwrap().summary();
            }
        }
    }
}

//! Explains where two files differ, as diffoscope would but fast and focused on what Rust builds
//! produce: ELF sections and strings (`elf`), tar and tar.gz members, recursively (`archive`),
//! and raw bytes for everything else (`bytes`); `tar_guard` keeps the `tar` crate from reading
//! huge extension members whole. This module holds the report types and decides
//! which comparison applies. The report is data (camelCase JSON) with a one-line summary; the
//! library never prints.

mod archive;
mod bytes;
mod elf;
pub mod html;
mod tar_guard;

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};

pub use archive::{
    ArchiveDiff, FieldChange, MemberDiff, MemberInfo, MAX_ARCHIVE_BYTES, MAX_CONTENT_DIFFS, MAX_DEPTH, MAX_MEMBERS,
    MAX_MEMBER_BYTES,
};
pub use bytes::{BytesDiff, MIN_STRING, WINDOW_AFTER, WINDOW_BEFORE};
#[doc(hidden)]
pub use elf::synthetic_elf64;
pub use elf::{ElfDiff, SectionDiff, SectionInfo, StringsDiff, MAX_SECTIONS, MAX_STRINGS, MAX_STRINGS_KEPT};
pub use tar_guard::MAX_EXTENSION;

use crate::digest::Sha256Digest;
use crate::error::{Error, IoContext, Result};
use crate::fs::open_regular;
use archive::Source;

/// Files larger than this are not read into memory as a whole: they are compared as byte
/// streams (archives are always streamed, whatever their size).
pub const MAX_IN_MEMORY: u64 = 1 << 30;

/// How two files (or two versions of an archive member) differ.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffReport {
    pub a: Side,
    pub b: Side,
    /// Same bytes on both sides.
    pub identical: bool,
    pub details: Details,
}

/// One of the two things compared.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    /// The path given, or the member's path inside its archive.
    pub name: String,
    pub format: Format,
    pub size: u64,
    pub sha256: Sha256Digest,
}

/// What glassbox recognised a file as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    #[serde(rename = "elf")]
    Elf,
    #[serde(rename = "tar")]
    Tar,
    #[serde(rename = "tar.gz")]
    TarGz,
    /// gzip that does not hold a tar archive (compared as bytes).
    #[serde(rename = "gzip")]
    Gzip,
    #[serde(rename = "data")]
    Data,
}

impl Format {
    /// How reports name the format.
    pub fn label(self) -> &'static str {
        match self {
            Format::Elf => "ELF",
            Format::Tar => "tar",
            Format::TarGz => "tar.gz",
            Format::Gzip => "gzip",
            Format::Data => "data",
        }
    }

    fn is_archive(self) -> bool {
        matches!(self, Format::Tar | Format::TarGz)
    }
}

/// The comparison that applied, and what it found. Serialised with a `kind` tag.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Details {
    Identical,
    /// Both sides are ELF files.
    Elf(ElfDiff),
    /// Both sides are tar or tar.gz archives.
    Archive(ArchiveDiff),
    /// Anything else, or a side glassbox could not parse as its format.
    Bytes(BytesDiff),
}

impl DiffReport {
    /// Same bytes on both sides.
    pub fn identical(&self) -> bool {
        self.identical
    }

    /// One line for error messages and tables, e.g.
    /// `ELF sections differ: .rodata (at +0x1a0), .note.gnu.build-id (at +0xc); 3 strings only in A, 3 only in B`.
    pub fn summary(&self) -> String {
        match &self.details {
            Details::Identical => "identical".to_string(),
            Details::Elf(elf) => elf.summary(),
            Details::Archive(archive) => {
                let label = if self.a.format == self.b.format {
                    self.a.format.label().to_string()
                } else {
                    format!("{}/{}", self.a.format.label(), self.b.format.label())
                };
                archive.summary(&label)
            }
            Details::Bytes(bytes) => {
                let mut parts = Vec::new();
                if self.a.format != self.b.format {
                    parts.push(format!("A is {}, B is {}", self.a.format.label(), self.b.format.label()));
                }
                if self.a.size != self.b.size {
                    parts.push(format!("sizes {} and {} bytes", self.a.size, self.b.size));
                }
                parts.push(bytes.summary());
                parts.join("; ")
            }
        }
    }

    /// This report and every nested report of a changed archive member, depth first.
    pub fn reports(&self) -> Vec<&DiffReport> {
        let mut out = vec![self];
        if let Details::Archive(archive) = &self.details {
            for member in &archive.changed {
                if let Some(contents) = &member.contents {
                    out.extend(contents.reports());
                }
            }
        }
        out
    }

    /// Every ELF comparison in this report (nested ones included), with the name of the file
    /// or member: where to look for the differing sections and the strings only one side has.
    pub fn elf_diffs(&self) -> Vec<(&str, &ElfDiff)> {
        self.reports()
            .into_iter()
            .filter_map(|r| match &r.details {
                Details::Elf(elf) => Some((r.a.name.as_str(), elf)),
                _ => None,
            })
            .collect()
    }
}

/// Compares two files. Errors name the file that is missing, unreadable or not a regular file
/// (a FIFO or a device is refused before anything is read, security review D8).
pub fn diff_files(a: &Path, b: &Path) -> Result<DiffReport> {
    let (size_a, format_a) = inspect(a)?;
    let (size_b, format_b) = inspect(b)?;
    let (name_a, name_b) = (a.display().to_string(), b.display().to_string());
    if !format_a.is_archive() && !format_b.is_archive() && size_a.max(size_b) <= MAX_IN_MEMORY {
        let (data_a, data_b) = rayon::join(|| read_whole(a), || read_whole(b));
        return diff_memory(&name_a, &name_b, &data_a?, &data_b?, 0);
    }
    let digest = |path: &Path| -> Result<Sha256Digest> {
        let (file, _) = open_regular(path)?;
        Ok(Sha256Digest::of_reader(file, &mut vec![0u8; 1 << 20]).at(path)?.0)
    };
    let (sha_a, sha_b) = rayon::join(|| digest(a), || digest(b));
    let side_a = Side { name: name_a, format: format_a, size: size_a, sha256: sha_a? };
    let side_b = Side { name: name_b, format: format_b, size: size_b, sha256: sha_b? };
    let details = if side_a.sha256 == side_b.sha256 {
        Details::Identical
    } else if format_a.is_archive() && format_b.is_archive() {
        let source = |path, format| Source::File { path, gzip: format == Format::TarGz };
        Details::Archive(archive::diff_archives(&source(a, format_a), &source(b, format_b), 0)?)
    } else {
        match bytes::diff_file_bytes(a, b)? {
            Some(bytes) => Details::Bytes(bytes),
            None => Details::Identical, // equal bytes behind different digests cannot happen
        }
    };
    Ok(report(side_a, side_b, details))
}

/// Compares two byte strings that are versions of one thing called `name`.
pub fn diff_bytes(name: &str, a: &[u8], b: &[u8]) -> Result<DiffReport> {
    diff_memory(name, name, a, b, 0)
}

/// Compares in memory; `depth` is the archive nesting level (0: not inside an archive). Fails
/// only when memory for the comparison cannot be had.
fn diff_memory(name_a: &str, name_b: &str, a: &[u8], b: &[u8], depth: usize) -> Result<DiffReport> {
    let (sha_a, sha_b) = rayon::join(|| Sha256Digest::of(a), || Sha256Digest::of(b));
    let side_a = Side { name: name_a.to_string(), format: detect(a), size: a.len() as u64, sha256: sha_a };
    let side_b = Side { name: name_b.to_string(), format: detect(b), size: b.len() as u64, sha256: sha_b };
    if sha_a == sha_b {
        return Ok(report(side_a, side_b, Details::Identical));
    }
    let (format_a, format_b) = (side_a.format, side_b.format);
    if format_a == Format::Elf && format_b == Format::Elf {
        if let Some(elf) = elf::diff_elf(a, b).map_err(|_| out_of_memory(name_a, (a.len() + b.len()) as u64))? {
            return Ok(report(side_a, side_b, Details::Elf(elf)));
        }
    }
    if format_a.is_archive() && format_b.is_archive() && depth < MAX_DEPTH {
        let source = |name, data, format| Source::Memory { name, data, gzip: format == Format::TarGz };
        // An archive that cannot be read to the end is compared as bytes instead.
        if let Ok(archive) = archive::diff_archives(&source(name_a, a, format_a), &source(name_b, b, format_b), depth) {
            return Ok(report(side_a, side_b, Details::Archive(archive)));
        }
    }
    Ok(match bytes::diff_slices(a, b) {
        Some(bytes) => report(side_a, side_b, Details::Bytes(bytes)),
        None => report(side_a, side_b, Details::Identical), // equal bytes behind different digests cannot happen
    })
}

/// The whole of a regular file, its buffer reserved fallibly: a file too large for the memory
/// available is exit 2, not an abort (security review D21).
fn read_whole(path: &Path) -> Result<Vec<u8>> {
    let (file, size) = open_regular(path)?;
    let mut data = Vec::new();
    data.try_reserve_exact(usize::try_from(size).unwrap_or(usize::MAX))
        .map_err(|_| out_of_memory(path.display(), size))?;
    // The file may have grown since: never read past the size checked.
    file.take(size).read_to_end(&mut data).at(path)?;
    Ok(data)
}

fn out_of_memory(what: impl std::fmt::Display, size: u64) -> Error {
    Error::invalid(what, format!("not enough memory to compare {size} bytes"))
}

fn report(a: Side, b: Side, details: Details) -> DiffReport {
    let identical = matches!(details, Details::Identical);
    DiffReport { a, b, identical, details }
}

/// A file's size and format, from its first bytes.
fn inspect(path: &Path) -> Result<(u64, Format)> {
    let (mut file, size) = open_regular(path)?;
    let mut head = [0u8; 512];
    let n = bytes::read_full(&mut file, &mut head).at(path)?;
    Ok((size, detect_head(&head[..n], || open_regular(path).map(|(f, _)| Box::new(f) as Box<dyn Read>))?))
}

/// The format of data held in memory.
fn detect(data: &[u8]) -> Format {
    let head = &data[..data.len().min(512)];
    // Reading from memory cannot fail before the data runs out.
    detect_head(head, || Ok(Box::new(data) as Box<dyn Read + '_>)).unwrap_or(Format::Data)
}

/// The format from the first (up to) 512 bytes; `reopen` gives the whole data again from the
/// start, to look inside gzip.
fn detect_head<'a>(head: &[u8], reopen: impl FnOnce() -> Result<Box<dyn Read + 'a>>) -> Result<Format> {
    if elf::is_elf(head) {
        return Ok(Format::Elf);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let mut inner = [0u8; 512];
        // A gzip stream that is corrupt in its first 512 bytes is not a tar.gz: compare bytes.
        let n = bytes::read_full(&mut GzDecoder::new(reopen()?), &mut inner).unwrap_or(0);
        return Ok(if is_tar(&inner[..n]) { Format::TarGz } else { Format::Gzip });
    }
    Ok(if is_tar(head) { Format::Tar } else { Format::Data })
}

/// A POSIX or GNU tar header: `ustar` at offset 257.
fn is_tar(head: &[u8]) -> bool {
    head.len() >= 512 && &head[257..262] == b"ustar"
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive::tests::{gzip, tar};

    #[test]
    fn files_identical_different_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, data: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, data).unwrap();
            path
        };
        let (a, a2, b) =
            (write("a", b"hello world\n"), write("a2", b"hello world\n"), write("b", b"hello there world\n"));
        let same = diff_files(&a, &a2).unwrap();
        assert!(same.identical());
        assert_eq!(same.summary(), "identical");
        let report = diff_files(&a, &b).unwrap();
        assert!(!report.identical());
        assert_eq!((report.a.format, report.a.size, report.b.size), (Format::Data, 12, 18));
        assert_eq!(report.summary(), "sizes 12 and 18 bytes; bytes differ at offset 0x6");
        let missing = dir.path().join("missing");
        let err = diff_files(&a, &missing).unwrap_err();
        assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
        assert_eq!(err.exit_code(), 2);
        let err = diff_files(&missing, &a).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn archives_on_disk_are_streamed_with_the_same_result_as_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let a = gzip(&tar(&[("d/x", b"one", 0o644), ("d/y", b"two", 0o644)], 0), 6);
        let b = gzip(&tar(&[("d/x", b"one", 0o755), ("d/y", b"TWO", 0o644)], 0), 6);
        let (pa, pb) = (dir.path().join("a.tar.gz"), dir.path().join("b.tar.gz"));
        std::fs::write(&pa, &a).unwrap();
        std::fs::write(&pb, &b).unwrap();
        let on_disk = diff_files(&pa, &pb).unwrap();
        assert_eq!(on_disk.summary(), diff_bytes("x", &a, &b).unwrap().summary());
        assert_eq!(
            on_disk.summary(),
            "tar.gz members differ: d/x (mode 0644 -> 0755), d/y (bytes differ at offset 0x0)"
        );
        assert_eq!((on_disk.a.sha256, on_disk.a.size), (Sha256Digest::of(&a), a.len() as u64));

        // A corrupt archive given as a file is an error that names it.
        std::fs::write(&pb, &b[..b.len() - 12]).unwrap();
        let err = diff_files(&pa, &pb).unwrap_err();
        assert!(err.to_string().contains("b.tar.gz"), "{err}");
    }

    #[test]
    fn formats_are_detected_and_mixed_formats_compare_as_bytes() {
        let plain = tar(&[("f", b"x", 0o644)], 0);
        assert_eq!(detect(&plain), Format::Tar);
        assert_eq!(detect(&gzip(&plain, 6)), Format::TarGz);
        assert_eq!(detect(&gzip(b"not a tar", 6)), Format::Gzip);
        assert_eq!(detect(b"\x7fELF..."), Format::Elf);
        assert_eq!(detect(b""), Format::Data);
        let report = diff_bytes("x", b"\x7fELF", b"text").unwrap();
        assert_eq!(report.summary(), "A is ELF, B is data; bytes differ at offset 0x0");
    }

    #[test]
    fn json_is_camel_case_with_a_kind_tag() {
        let report = diff_bytes("x", b"0123456789abcdef0123", b"0123456789abcdef012X").unwrap();
        let json: serde_json::Value = serde_json::from_str(&crate::json::to_pretty(&report)).unwrap();
        assert_eq!(json["identical"], false);
        assert_eq!(json["a"]["name"], "x");
        assert_eq!(json["a"]["format"], "data");
        assert_eq!(json["a"]["size"], 20);
        assert_eq!(json["a"]["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(json["details"]["kind"], "bytes");
        assert_eq!(json["details"]["firstDifference"], 19);
        assert_eq!(json["details"]["windowStart"], 3);
        assert_eq!(json["details"]["windowB"], "33343536373839616263646566303132"[..].to_string() + "58");
        let same = serde_json::to_value(diff_bytes("x", b"a", b"a").unwrap()).unwrap();
        assert_eq!(same["details"], serde_json::json!({"kind": "identical"}));
    }

    #[test]
    fn reports_parse_back_to_the_same_json() {
        let elf_a = synthetic_elf64(b"/home/builder/src/x.rs\0built 2026-01-02", &[(".rodata", 1, 0, 39)]);
        let elf_b = synthetic_elf64(b"/home/someone/src/x.rs\0built 2026-11-23", &[(".rodata", 1, 0, 39)]);
        let a = gzip(&tar(&[("d/x", &elf_a, 0o755), ("d/y", b"two", 0o644), ("d/gone", b"", 0o644)], 0), 6);
        let b = gzip(&tar(&[("d/x", &elf_b, 0o755), ("d/y", b"TWO", 0o600), ("d/new", b"n", 0o644)], 0), 6);
        let reports = [
            diff_bytes("bundle.tar.gz", &a, &b).unwrap(),
            diff_bytes("x", &elf_a, &elf_b).unwrap(),
            diff_bytes("x", b"0123456789abcdef0123", b"0123456789abcdef012X").unwrap(),
            diff_bytes("x", b"same", b"same").unwrap(),
        ];
        assert!(matches!(reports[0].details, Details::Archive(_)) && matches!(reports[1].details, Details::Elf(_)));
        for report in &reports {
            let json = crate::json::to_pretty(report);
            let back: DiffReport = serde_json::from_str(&json).unwrap();
            assert_eq!(crate::json::to_pretty(&back), json);
            assert_eq!(back.summary(), report.summary());
        }
        let bad = crate::json::to_pretty(&reports[2]).replace("\"windowA\": \"", "\"windowA\": \"z");
        assert!(serde_json::from_str::<DiffReport>(&bad).is_err(), "a window that is not hex is refused");
    }
}

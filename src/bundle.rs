//! Deterministic tar.gz bundles: entries sorted bytewise, GNU headers, one fixed mtime,
//! uid/gid 0 with no names, modes 0755/0644, gzip mtime 0 at a fixed level. The same files
//! always give the same bytes, whoever writes them and wherever.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use flate2::{Compression, GzBuilder};
use tar::{EntryType, Header};

use crate::attest::provenance::BundleSettings;
use crate::digest::{HashingWriter, Sha256Digest};
use crate::error::{Error, IoContext, Result};
use crate::fs::check_relative;

/// gzip compression level of every bundle (recorded in the provenance).
pub const GZIP_LEVEL: u32 = 6;

/// The settings recorded in provenance.
pub fn settings() -> BundleSettings {
    BundleSettings {
        format: "tar+gzip (GNU headers)".into(),
        gzip_level: GZIP_LEVEL,
        gzip_mtime: 0,
        entry_order: "bytewise".into(),
    }
}

/// One file to put in a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleFile {
    /// Path inside the bundle, `/`-separated, relative.
    pub path: String,
    pub source: PathBuf,
    pub executable: bool,
}

/// Digests of a written bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BundleDigests {
    /// sha256 of the .tar.gz file.
    pub sha256: Sha256Digest,
    /// sha256 of the uncompressed tar stream.
    pub tar_sha256: Sha256Digest,
    /// Size of the .tar.gz in bytes.
    pub size: u64,
}

/// Writes `files` (and their parent directories) as a deterministic tar.gz to `out`.
pub fn write_tar_gz(files: &[BundleFile], mtime: u64, out: impl Write) -> Result<BundleDigests> {
    let compressed = HashingWriter::new(out);
    let gz = GzBuilder::new().mtime(0).write(compressed, Compression::new(GZIP_LEVEL));
    let (gz, tar_sha256, _) = write_tar(files, mtime, gz)?;
    let compressed = gz.finish().map_err(|e| Error::io("<bundle>", e))?;
    let (mut out, sha256, size) = compressed.finish();
    out.flush().map_err(|e| Error::io("<bundle>", e))?;
    Ok(BundleDigests { sha256, tar_sha256, size })
}

/// Writes `files` (and their parent directories) as the deterministic, uncompressed tar stream
/// of a bundle to `out`; returns `out`, the stream's SHA-256 and its length. Compressed by
/// [`compress_tar`], it gives exactly the bytes [`write_tar_gz`] writes: a build reads its
/// files once, before the vendor's code runs, and compresses while cargo compiles.
pub fn write_tar<W: Write>(files: &[BundleFile], mtime: u64, out: W) -> Result<(W, Sha256Digest, u64)> {
    let mut sorted: Vec<&BundleFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut dirs = BTreeSet::new();
    for f in &sorted {
        check_relative(&f.path).map_err(|why| Error::invalid(&f.path, why))?;
        let mut parent = f.path.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            dirs.insert(format!("{p}/"));
            parent = p;
        }
    }
    // Entry names: directories end in '/', so a directory sorts before its contents.
    let mut names: Vec<(&str, Option<&BundleFile>)> = dirs.iter().map(|d| (d.as_str(), None)).collect();
    names.extend(sorted.iter().map(|f| (f.path.as_str(), Some(*f))));
    names.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    let mut tar = tar::Builder::new(HashingWriter::new(out));
    for (name, file) in names {
        let mut header = Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        match file {
            None => {
                header.set_entry_type(EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, name, io::empty()).at(name)?;
            }
            Some(f) => {
                let handle = File::open(&f.source).at(&f.source)?;
                let size = handle.metadata().at(&f.source)?.len();
                header.set_entry_type(EntryType::Regular);
                header.set_mode(if f.executable { 0o755 } else { 0o644 });
                header.set_size(size);
                // `take` guards against a file that grows while being read.
                tar.append_data(&mut header, name, handle.take(size)).at(&f.source)?;
            }
        }
    }
    let tar_hashing = tar.into_inner().map_err(|e| Error::io("<bundle>", e))?;
    Ok(tar_hashing.finish())
}

/// Compresses a tar stream from [`write_tar`] (whose digest is `tar_sha256`) into a bundle.
pub fn compress_tar(tar: impl Read, tar_sha256: Sha256Digest, out: impl Write) -> Result<BundleDigests> {
    let compressed = HashingWriter::new(out);
    let mut gz = GzBuilder::new().mtime(0).write(compressed, Compression::new(GZIP_LEVEL));
    io::copy(&mut { tar }, &mut gz).map_err(|e| Error::io("<bundle>", e))?;
    let compressed = gz.finish().map_err(|e| Error::io("<bundle>", e))?;
    let (mut out, sha256, size) = compressed.finish();
    out.flush().map_err(|e| Error::io("<bundle>", e))?;
    Ok(BundleDigests { sha256, tar_sha256, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_files_same_bytes_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "alpha").unwrap();
        std::fs::write(dir.path().join("b"), "beta").unwrap();
        let files = vec![
            BundleFile { path: "top/z/b".into(), source: dir.path().join("b"), executable: true },
            BundleFile { path: "top/a".into(), source: dir.path().join("a"), executable: false },
        ];
        let mut one = Vec::new();
        let d1 = write_tar_gz(&files, 1_700_000_000, &mut one).unwrap();
        let mut reversed = files.clone();
        reversed.reverse();
        let mut two = Vec::new();
        let d2 = write_tar_gz(&reversed, 1_700_000_000, &mut two).unwrap();
        assert_eq!(one, two);
        assert_eq!(d1, d2);
        assert_eq!(d1.sha256, Sha256Digest::of(&one));
        assert_eq!(&one[4..8], &[0, 0, 0, 0], "gzip mtime must be 0");

        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(one.as_slice()));
        let listed: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().display().to_string(), e.header().mode().unwrap(), e.header().mtime().unwrap())
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("top/".into(), 0o755, 1_700_000_000),
                ("top/a".into(), 0o644, 1_700_000_000),
                ("top/z/".into(), 0o755, 1_700_000_000),
                ("top/z/b".into(), 0o755, 1_700_000_000)
            ]
        );
    }

    #[test]
    fn a_tar_compressed_later_is_the_same_bundle() {
        let dir = tempfile::tempdir().unwrap();
        // Several MiB of mixed text and noise, so deflate makes many blocks.
        let mut noise = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..6 {
            let mut body = Vec::new();
            for line in 0..40_000 {
                noise ^= noise << 13;
                noise ^= noise >> 7;
                noise ^= noise << 17;
                body.extend_from_slice(format!("fn item_{i}_{line}() -> u64 {{ {noise} }}\n").as_bytes());
                body.extend_from_slice(&noise.to_le_bytes()[..(line % 8)]);
            }
            std::fs::write(dir.path().join(format!("f{i}")), body).unwrap();
        }
        let files: Vec<BundleFile> = (0..6)
            .map(|i| BundleFile {
                path: format!("top/d{}/f{i}", i % 2),
                source: dir.path().join(format!("f{i}")),
                executable: i == 3,
            })
            .collect();
        let mut direct = Vec::new();
        let d1 = write_tar_gz(&files, 7, &mut direct).unwrap();
        let (tar, tar_sha256, len) = write_tar(&files, 7, Vec::new()).unwrap();
        assert_eq!((tar_sha256, len), (d1.tar_sha256, tar.len() as u64));
        let mut later = Vec::new();
        // Read back in odd-sized pieces: the output must not depend on how input arrives.
        let reader = std::io::BufReader::with_capacity(4093, tar.as_slice());
        let d2 = compress_tar(reader, tar_sha256, &mut later).unwrap();
        assert_eq!(d1, d2);
        assert!(direct == later, "the bytes differ");
    }

    #[test]
    fn unsafe_paths_are_refused() {
        let files = vec![BundleFile { path: "../x".into(), source: "/dev/null".into(), executable: false }];
        assert!(write_tar_gz(&files, 0, Vec::new()).is_err());
    }
}

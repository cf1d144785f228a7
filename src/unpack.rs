//! Safe unpacking of a source bundle received from someone else. Only regular files and
//! directories with plain relative UTF-8 paths under one top directory are accepted; links,
//! devices, absolute paths, `..`, duplicates and oversized entries are refused, and nothing is
//! ever written outside the destination directory.

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use flate2::read::GzDecoder;
use tar::EntryType;

use crate::error::{Error, IoContext, Result};
use crate::fs::check_relative;

/// Caps on what a bundle may hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest single file.
    pub max_entry_bytes: u64,
    /// Largest total of all files.
    pub max_total_bytes: u64,
    pub max_entries: usize,
}

/// Generous for source bundles (ripgrep's is 15 MB), small enough to stop a tar bomb.
pub const DEFAULT_LIMITS: Limits =
    Limits { max_entry_bytes: 1 << 31, max_total_bytes: 16 << 30, max_entries: 1_000_000 };

/// What was unpacked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpacked {
    /// The bundle's one top directory.
    pub top: String,
    pub files: usize,
    pub bytes: u64,
}

/// Unpacks the tar.gz `bundle` into `dest`, which must not exist yet. On error, `dest` may hold
/// a partial tree (always inside `dest`); the caller removes it.
pub fn unpack_bundle(bundle: &Path, dest: &Path, limits: Limits) -> Result<Unpacked> {
    let origin = bundle.display().to_string();
    let file = fs::File::open(bundle).at(bundle)?;
    fs::create_dir(dest).at(dest)?;
    let mut archive = tar::Archive::new(GzDecoder::new(io::BufReader::new(file)));
    let mut top: Option<String> = None;
    let (mut files, mut bytes, mut entries) = (0usize, 0u64, 0usize);
    let bad = |name: &str, why: String| Error::invalid(format!("{origin}: entry {name:?}"), why);

    for entry in archive.entries().map_err(|e| Error::invalid(&origin, format!("not a tar.gz ({e})")))? {
        let mut entry = entry.map_err(|e| Error::invalid(&origin, format!("corrupt tar ({e})")))?;
        entries += 1;
        if entries > limits.max_entries {
            return Err(Error::invalid(&origin, format!("more than {} entries", limits.max_entries)));
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw)
            .map_err(|e| bad(&String::from_utf8_lossy(e.as_bytes()), "name is not UTF-8".into()))?;
        let kind = entry.header().entry_type();
        let path = name.trim_end_matches('/');
        check_relative(path).map_err(|why| bad(&name, why.to_string()))?;
        let first = path.split('/').next().unwrap_or(path);
        match &top {
            None => top = Some(first.to_string()),
            Some(t) if t == first => {}
            Some(t) => return Err(bad(&name, format!("outside the bundle's top directory {t:?}"))),
        }
        let out = dest.join(path);
        match kind {
            EntryType::Directory => match fs::create_dir(&out) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && out.is_dir() => {}
                Err(e) => return Err(Error::io(&out, e)),
            },
            EntryType::Regular | EntryType::Continuous => {
                let size = entry.header().size().map_err(|e| bad(&name, format!("bad size ({e})")))?;
                if size > limits.max_entry_bytes {
                    return Err(bad(
                        &name,
                        format!("declares {size} bytes, more than the cap of {}", limits.max_entry_bytes),
                    ));
                }
                bytes += size;
                if bytes > limits.max_total_bytes {
                    return Err(Error::invalid(&origin, format!("holds more than {} bytes", limits.max_total_bytes)));
                }
                let executable = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
                if let Some(dir) = out.parent() {
                    // Parents are created by us, inside `dest`, and never symlinks: no entry can
                    // create a link.
                    fs::create_dir_all(dir).at(dir)?;
                }
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(if executable { 0o755 } else { 0o644 })
                    .open(&out)
                    .map_err(|e| {
                        if e.kind() == io::ErrorKind::AlreadyExists {
                            bad(&name, "listed twice".into())
                        } else {
                            Error::io(&out, e)
                        }
                    })?;
                let copied = io::copy(&mut (&mut entry).take(size), &mut file).at(&out)?;
                if copied != size {
                    return Err(bad(&name, format!("truncated: {copied} of {size} bytes")));
                }
                files += 1;
            }
            EntryType::Symlink | EntryType::Link => {
                let target =
                    entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
                return Err(bad(
                    &name,
                    format!("is a link (to {target:?}); source bundles hold only files and directories"),
                ));
            }
            other => return Err(bad(&name, format!("is a {other:?} entry (device, fifo, …); refused"))),
        }
    }
    let top = top.ok_or_else(|| Error::invalid(&origin, "the bundle is empty"))?;
    Ok(Unpacked { top, files, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar::{Builder, Header};

    /// A tar.gz with one entry of the given type, path, size and link target.
    fn one_entry(kind: EntryType, path: &str, declared: u64, link: Option<&str>) -> Vec<u8> {
        let mut raw = Vec::new();
        {
            let mut b = Builder::new(&mut raw);
            let mut dir = Header::new_gnu();
            dir.set_entry_type(EntryType::Directory);
            dir.set_mode(0o755);
            dir.set_size(0);
            b.append_data(&mut dir, "top/", io::empty()).unwrap();
            let mut h = Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(0o644);
            h.set_size(declared);
            // Write the name straight into the header: the tar crate's setters refuse `..` and
            // absolute paths, which is exactly what a hostile bundle contains.
            let name = &mut h.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(target) = link {
                h.set_link_name(target).unwrap();
            }
            h.set_cksum();
            let body = vec![b'x'; declared.min(1024) as usize];
            b.append(&h, body.as_slice()).unwrap();
            b.finish().unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &raw).unwrap();
        gz.finish().unwrap()
    }

    fn unpack_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<Unpacked>) {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("b.tar.gz");
        fs::write(&bundle, bytes).unwrap();
        let result = unpack_bundle(&bundle, &dir.path().join("out"), DEFAULT_LIMITS);
        (dir, result)
    }

    #[test]
    fn plain_bundle_unpacks() {
        let (dir, result) = unpack_bytes(&one_entry(EntryType::Regular, "top/a.txt", 3, None));
        assert_eq!(result.unwrap(), Unpacked { top: "top".into(), files: 1, bytes: 3 });
        assert_eq!(fs::read(dir.path().join("out/top/a.txt")).unwrap(), b"xxx");
    }

    #[test]
    fn hostile_entries_are_refused_and_nothing_escapes() {
        let cases: [(EntryType, &str, u64, Option<&str>, &str); 7] = [
            (EntryType::Regular, "top/../../escape.txt", 3, None, "'..'"),
            (EntryType::Regular, "/tmp/glassbox-absolute-escape", 3, None, "absolute"),
            (EntryType::Symlink, "top/link", 0, Some("/etc/passwd"), "is a link"),
            (EntryType::Link, "top/hard", 0, Some("/etc/passwd"), "is a link"),
            (EntryType::Char, "top/dev", 0, None, "Char"),
            (EntryType::Regular, "top/huge", 1 << 40, None, "more than the cap"),
            (EntryType::Regular, "other/x", 3, None, "outside the bundle's top directory"),
        ];
        for (kind, path, size, link, needle) in cases {
            let (dir, result) = unpack_bytes(&one_entry(kind, path, size, link));
            let err = result.expect_err(path).to_string();
            assert!(err.contains(needle), "{path}: {err}");
            assert!(err.contains("b.tar.gz"), "{err}");
            assert!(!dir.path().join("escape.txt").exists());
            assert!(!Path::new("/tmp/glassbox-absolute-escape").exists());
        }
    }
}

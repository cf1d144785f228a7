//! Safe unpacking of a source bundle received from someone else. The bundle is read as GNU tar
//! and Python's tarfile read it (every gzip member, PAX `path` and `size`, GNU long names), or
//! refused: only regular files and directories with plain relative UTF-8 paths under one top
//! directory, no links, devices, sparse files, global headers, `..`, duplicates, oversized
//! entries, disagreeing sizes or data after the archive. Nothing is ever written outside the
//! destination directory, and an attested bundle (`rebuild`) holds nothing but the attested files
//! and the vendored crates: any other entry is refused when its header is read.

use std::fs::{self, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use flate2::read::MultiGzDecoder;
use sha2::{Digest as _, Sha256};
use tar::EntryType;

use crate::digest::Sha256Digest;
use crate::error::{Error, IoContext, Result};
use crate::fs::check_relative;
use crate::manifest::{ManifestEntry, SourceManifest};

mod extensions;
use extensions::{read_extension, Extensions};

/// Caps on what a bundle may hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest single file.
    pub max_entry_bytes: u64,
    /// Largest total of all files.
    pub max_total_bytes: u64,
    pub max_entries: usize,
}

/// The most a bundle may ever hold, whatever its size (ripgrep's source bundle is 15 MB).
pub const DEFAULT_LIMITS: Limits =
    Limits { max_entry_bytes: 1 << 31, max_total_bytes: 16 << 30, max_entries: 1_000_000 };

/// Source compresses 4-10 times; a gzip bomb about a thousand times. A bundle may unpack to this
/// many times its own size, plus [`FLOOR_BYTES`].
pub const MAX_RATIO: u64 = 64;
/// What any bundle may unpack to, however small it is.
pub const FLOOR_BYTES: u64 = 256 << 20;
/// Zero padding allowed after the tar archive's end blocks (GNU tar pads to 10 KiB records).
const MAX_PADDING_BYTES: u64 = 16 << 20;

impl Limits {
    /// The caps for a bundle of `compressed` bytes: at most [`MAX_RATIO`] times its size plus
    /// [`FLOOR_BYTES`], and never more than [`DEFAULT_LIMITS`]. A 6 MB gzip bomb cannot write 6 GB.
    pub fn for_compressed(compressed: u64) -> Limits {
        let total =
            FLOOR_BYTES.saturating_add(compressed.saturating_mul(MAX_RATIO)).min(DEFAULT_LIMITS.max_total_bytes);
        Limits { max_entry_bytes: DEFAULT_LIMITS.max_entry_bytes.min(total), max_total_bytes: total, ..DEFAULT_LIMITS }
    }

    /// The most the decompressed stream (headers, padding and files) may hold.
    fn max_stream_bytes(&self) -> u64 {
        self.max_total_bytes.saturating_mul(2).saturating_add(64 << 20)
    }
}

/// Which entries a bundle may hold.
#[derive(Clone, Copy, Debug)]
pub enum Admission<'a> {
    /// Any files (a bundle given to `review diff`, which has no attested manifest).
    Any,
    /// Exactly an attested source: only the manifest's files and `vendor_dir`'s, under `top`.
    Attested {
        /// The top directory the bundle must have (`<component>-<version>`).
        top: &'a str,
        manifest: &'a SourceManifest,
        /// The vendored crates' directory (relative to `top`), when the provenance has them.
        vendor_dir: Option<&'a str>,
    },
}

/// What was unpacked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpacked {
    /// The bundle's one top directory.
    pub top: String,
    /// Every file written, relative to `top`, with the sha256 of the bytes written, in bundle order.
    pub files: Vec<ManifestEntry>,
    pub bytes: u64,
}

/// Unpacks the tar.gz `bundle` into `dest`, which must not exist yet, admitting only what
/// `admission` allows. On error, `dest` may hold a partial tree (always inside `dest`); the caller
/// removes it.
pub fn unpack_bundle(bundle: &Path, dest: &Path, limits: Limits, admission: Admission<'_>) -> Result<Unpacked> {
    let origin = bundle.display().to_string();
    let file = fs::File::open(bundle).at(bundle)?;
    if !file.metadata().at(bundle)?.is_file() {
        return Err(Error::invalid(&origin, "not a regular file"));
    }
    fs::create_dir(dest).at(dest)?;
    let stream = Capped { inner: MultiGzDecoder::new(BufReader::new(file)), left: limits.max_stream_bytes() };
    let mut archive = tar::Archive::new(stream);
    let unreadable = |e: io::Error| Error::invalid(&origin, format!("cannot be read as tar.gz ({e})"));
    let mut reader = Reader { origin: &origin, dest, limits, admission, top: None, files: Vec::new(), bytes: 0 };
    let mut pending = Extensions::default();
    let mut entries = 0usize;
    // Raw entries: glassbox itself applies GNU long names and PAX records, the way GNU tar and
    // Python do, and refuses what they would read differently.
    for entry in archive.entries().map_err(unreadable)?.raw(true) {
        let mut entry = entry.map_err(unreadable)?;
        entries += 1;
        if entries > limits.max_entries.saturating_mul(4) {
            return Err(Error::invalid(&origin, format!("more than {} entries", limits.max_entries)));
        }
        match entry.header().entry_type() {
            EntryType::GNULongName => pending.long_name(read_extension(&mut entry, &origin)?, &origin)?,
            EntryType::XHeader => pending.pax(&read_extension(&mut entry, &origin)?, &origin)?,
            EntryType::XGlobalHeader => {
                return Err(Error::invalid(
                    &origin,
                    "has a PAX global header (it would rename or resize later entries)",
                ))
            }
            EntryType::GNULongLink => {
                return Err(Error::invalid(&origin, "has a link entry; source bundles hold only files and directories"))
            }
            _ => reader.member(&mut entry, std::mem::take(&mut pending))?,
        }
        if reader.files.len() > limits.max_entries {
            return Err(Error::invalid(&origin, format!("more than {} entries", limits.max_entries)));
        }
    }
    if !pending.is_empty() {
        return Err(Error::invalid(&origin, "ends with an extension header that describes no entry"));
    }
    check_end(archive.into_inner(), &origin)?;
    let top = reader.top.ok_or_else(|| Error::invalid(&origin, "the bundle is empty"))?;
    Ok(Unpacked { top, files: reader.files, bytes: reader.bytes })
}

/// After the tar archive's end: at most some zero padding, then the end of the last gzip member.
/// GNU tar -i and Python's gzip would otherwise read on where glassbox stopped.
fn check_end(mut rest: Capped<impl Read>, origin: &str) -> Result<()> {
    let mut buf = [0u8; 64 << 10];
    let mut padding = 0u64;
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::invalid(
                    origin,
                    format!(
                        "truncated or corrupt gzip stream, or data after its last member ({e}); refused, not ignored"
                    ),
                ))
            }
        };
        padding += n as u64;
        if buf[..n].iter().any(|b| *b != 0) || padding > MAX_PADDING_BYTES {
            return Err(Error::invalid(origin, "holds data after the end of the tar archive; refused, not ignored"));
        }
    }
}

/// A decompressed stream that fails once it has produced its cap.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("it decompresses to more than the cap for a bundle of its size"));
        }
        let max = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// The state of one unpacking.
struct Reader<'a> {
    origin: &'a str,
    dest: &'a Path,
    limits: Limits,
    admission: Admission<'a>,
    top: Option<String>,
    files: Vec<ManifestEntry>,
    bytes: u64,
}

impl Reader<'_> {
    fn bad(&self, name: &str, why: impl Into<String>) -> Error {
        Error::invalid(format!("{}: entry {name:?}", self.origin), why)
    }

    /// Checks one member's header, then creates it.
    fn member<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, ext: Extensions) -> Result<()> {
        let header = entry.header();
        let raw = ext.path.or(ext.long_name).unwrap_or_else(|| header.path_bytes().into_owned());
        let name = String::from_utf8(raw)
            .map_err(|e| self.bad(&String::from_utf8_lossy(e.as_bytes()), "name is not UTF-8"))?;
        if header.as_ustar().is_none() && header.as_bytes()[345..500].iter().any(|b| *b != 0) {
            // Python's tarfile reads these bytes as a name prefix even in GNU headers; GNU tar
            // and the tar crate do not.
            return Err(self.bad(&name, "its header has data where ustar keeps a name prefix"));
        }
        let kind = header.entry_type();
        let size = header.entry_size().map_err(|e| self.bad(&name, format!("bad size ({e})")))?;
        if let Some(pax) = ext.size.filter(|pax| *pax != size) {
            return Err(self.bad(&name, format!("its PAX size ({pax}) and ustar size ({size}) disagree")));
        }
        let executable = header.mode().unwrap_or(0o644) & 0o111 != 0;
        let is_dir = kind == EntryType::Directory;
        let path = if is_dir { name.trim_end_matches('/') } else { name.as_str() };
        check_relative(path).map_err(|why| self.bad(&name, why))?;
        let (first, rel) = path.split_once('/').unwrap_or((path, ""));
        match (&self.top, self.admission) {
            (Some(t), _) if t != first => {
                return Err(self.bad(&name, format!("outside the bundle's top directory {t:?}")))
            }
            (None, Admission::Attested { top, .. }) if top != first => {
                return Err(Error::invalid(self.origin, wrong_bundle(first, top)));
            }
            (Some(_), _) => {}
            (None, _) => self.top = Some(first.to_string()),
        }
        let out = self.dest.join(path);
        match kind {
            EntryType::Directory => {
                if size != 0 {
                    return Err(self.bad(&name, "is a directory with data"));
                }
                self.admit_dir(&name, rel)?;
                fs::create_dir_all(&out).map_err(|e| self.clash(&name, &out, e))
            }
            EntryType::Regular | EntryType::Continuous => {
                self.admit_file(&name, rel)?;
                if size > self.limits.max_entry_bytes {
                    return Err(self.bad(
                        &name,
                        format!("declares {size} bytes, more than the cap of {}", self.limits.max_entry_bytes),
                    ));
                }
                if self.bytes + size > self.limits.max_total_bytes {
                    return Err(Error::invalid(
                        self.origin,
                        format!(
                            "unpacks to more than {} bytes, the cap for a bundle of its size",
                            self.limits.max_total_bytes
                        ),
                    ));
                }
                self.bytes += size;
                let digest = self.write_file(entry, &name, &out, size, executable)?;
                self.files.push(ManifestEntry { path: rel.to_string(), digest });
                Ok(())
            }
            EntryType::Symlink | EntryType::Link => {
                let target =
                    header.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
                Err(self
                    .bad(&name, format!("is a link (to {target:?}); source bundles hold only files and directories")))
            }
            other => Err(self.bad(&name, format!("is a {other:?} entry (device, fifo, sparse, …); refused"))),
        }
    }

    /// A directory is admitted when an admitted file can be inside it.
    fn admit_dir(&self, name: &str, rel: &str) -> Result<()> {
        let Admission::Attested { manifest, vendor_dir, .. } = self.admission else { return Ok(()) };
        let prefix = format!("{rel}/");
        let entries = manifest.entries();
        let at = entries.partition_point(|e| e.path.as_bytes() < prefix.as_bytes());
        let listed = rel.is_empty() || entries.get(at).is_some_and(|e| e.path.starts_with(&prefix));
        let vendored =
            vendor_dir.is_some_and(|v| v == rel || v.starts_with(&prefix) || rel.starts_with(&format!("{v}/")));
        if listed || vendored {
            return Ok(());
        }
        Err(self.not_attested(name))
    }

    /// A file is admitted when the manifest lists it or it is a vendored crate's.
    fn admit_file(&self, name: &str, rel: &str) -> Result<()> {
        let Admission::Attested { manifest, vendor_dir, .. } = self.admission else { return Ok(()) };
        let vendored = vendor_dir.is_some_and(|v| rel.strip_prefix(v).is_some_and(|r| r.starts_with('/')));
        if manifest.get(rel).is_some() || vendored {
            Ok(())
        } else {
            Err(self.not_attested(name))
        }
    }

    /// A directory that cannot be created because an earlier entry made a file of its name is
    /// the bundle's fault; anything else is the destination's.
    fn clash(&self, name: &str, dir: &Path, e: io::Error) -> Error {
        if matches!(e.kind(), io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory) {
            self.bad(name, "clashes with a file of an earlier entry")
        } else {
            Error::io(dir, e)
        }
    }

    fn not_attested(&self, name: &str) -> Error {
        Error::rejected(
            format!("{}: entry {name:?}", self.origin),
            "is not in the attested sources.sha256 (nor a vendored crate's); refused before unpacking",
        )
    }

    /// Writes exactly `size` bytes of `entry` to the new file `out`, hashing them.
    fn write_file<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        out: &Path,
        size: u64,
        executable: bool,
    ) -> Result<Sha256Digest> {
        if let Some(dir) = out.parent() {
            // Parents are created by us, inside `dest`, and never symlinks: no entry can
            // create a link.
            fs::create_dir_all(dir).map_err(|e| self.clash(name, dir, e))?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if executable { 0o755 } else { 0o644 })
            .open(out)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    self.bad(name, "listed twice")
                } else {
                    Error::io(out, e)
                }
            })?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; (64 << 10).min(size.max(1) as usize)];
        let mut copied = 0u64;
        let mut data = entry.take(size);
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A read error is the bundle's (truncated or corrupt gzip), not the output file's.
                Err(e) => return Err(self.bad(name, format!("cannot be read: truncated or corrupt tar.gz ({e})"))),
            };
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).at(out)?;
            copied += n as u64;
        }
        if copied != size {
            return Err(self.bad(name, format!("truncated: {copied} of {size} bytes")));
        }
        Ok(Sha256Digest(hasher.finalize().into()))
    }
}

/// Why a bundle whose first top directory is `first` is not the source bundle of `top`
/// (`<name>-<version>`): most often the binary bundle (`<name>-<version>-<target triple>/`) or
/// another product's or version's source bundle, given where the source bundle belongs.
fn wrong_bundle(first: &str, top: &str) -> String {
    let wanted = format!("a rebuild needs the source bundle {top}-src.tar.gz, whose files are under {top}/");
    match first.strip_prefix(top).and_then(|rest| rest.strip_prefix('-')) {
        Some(triple) if triple.contains('-') => {
            format!("this is the binary bundle of {top} for {triple} (its files are under {first}/); {wanted}")
        }
        _ => format!(
            "this bundle's files are under {first}/, not {top}/: it is another product's or version's bundle; {wanted}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
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
        gzip(&raw)
    }

    fn gzip(raw: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, raw).unwrap();
        gz.finish().unwrap()
    }

    fn unpack_with(bytes: &[u8], limits: Limits, admission: Admission<'_>) -> (tempfile::TempDir, Result<Unpacked>) {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("b.tar.gz");
        fs::write(&bundle, bytes).unwrap();
        let result = unpack_bundle(&bundle, &dir.path().join("out"), limits, admission);
        (dir, result)
    }

    fn unpack_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<Unpacked>) {
        unpack_with(bytes, DEFAULT_LIMITS, Admission::Any)
    }

    #[test]
    fn plain_bundle_unpacks() {
        let (dir, result) = unpack_bytes(&one_entry(EntryType::Regular, "top/a.txt", 3, None));
        let files = vec![ManifestEntry { path: "a.txt".into(), digest: Sha256Digest::of(b"xxx") }];
        assert_eq!(result.unwrap(), Unpacked { top: "top".into(), files, bytes: 3 });
        assert_eq!(fs::read(dir.path().join("out/top/a.txt")).unwrap(), b"xxx");
    }

    #[test]
    fn hostile_entries_are_refused_and_nothing_escapes() {
        let cases: [(EntryType, &str, u64, Option<&str>, &str); 9] = [
            (EntryType::Regular, "top/../../escape.txt", 3, None, "'..'"),
            (EntryType::Regular, "/tmp/glassbox-absolute-escape", 3, None, "absolute"),
            (EntryType::Symlink, "top/link", 0, Some("/etc/passwd"), "is a link"),
            (EntryType::Link, "top/hard", 0, Some("/etc/passwd"), "is a link"),
            (EntryType::Char, "top/dev", 0, None, "Char"),
            (EntryType::Regular, "top/huge", 1 << 40, None, "more than the cap"),
            (EntryType::Regular, "other/x", 3, None, "outside the bundle's top directory"),
            (EntryType::Regular, "top/dir/", 0, None, "not normalised"),
            (EntryType::XGlobalHeader, "top/g", 3, None, "global"),
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

    #[test]
    fn an_entry_below_an_earlier_file_is_the_bundles_fault() {
        for (kind, second) in [(EntryType::Regular, "top/x/y"), (EntryType::Directory, "top/x/")] {
            let mut raw = Vec::new();
            {
                let mut b = Builder::new(&mut raw);
                for (kind, name) in [(EntryType::Regular, "top/x"), (kind, second)] {
                    let mut h = Header::new_gnu();
                    h.set_entry_type(kind);
                    h.set_mode(0o644);
                    h.set_size(0);
                    b.append_data(&mut h, name, io::empty()).unwrap();
                }
                b.finish().unwrap();
            }
            let err = unpack_bytes(&gzip(&raw)).1.unwrap_err().to_string();
            assert!(err.contains("b.tar.gz") && err.contains(second) && err.contains("clashes"), "{err}");
        }
    }

    #[test]
    fn an_attested_bundle_holds_only_the_manifest_and_vendored_files() {
        let d = Sha256Digest::of(b"xxx");
        let manifest =
            SourceManifest::from_entries(vec![ManifestEntry { path: "src/a.rs".into(), digest: d }]).unwrap();
        let admission = Admission::Attested { top: "top", manifest: &manifest, vendor_dir: Some(".glassbox/vendor") };
        for (path, admitted) in [
            ("top/src/a.rs", true),
            ("top/.glassbox/vendor/c-1.0/lib.rs", true),
            ("top/.cargo/config.toml", false),
            ("top/.glassbox/notes.txt", false),
            ("top/.glassbox/vendorx/a", false),
            ("top/src/a.rs.orig", false),
            ("other/src/a.rs", false),
        ] {
            let (_dir, result) = unpack_with(&one_entry(EntryType::Regular, path, 3, None), DEFAULT_LIMITS, admission);
            assert_eq!(result.is_ok(), admitted, "{path}: {result:?}");
        }
        for (path, admitted) in [("top/src/", true), ("top/.glassbox/", true), ("top/target/", false)] {
            let (_dir, result) =
                unpack_with(&one_entry(EntryType::Directory, path, 0, None), DEFAULT_LIMITS, admission);
            assert_eq!(result.is_ok(), admitted, "{path}: {result:?}");
        }
    }

    #[test]
    fn trailing_data_and_truncation_are_refused_naming_the_bundle() {
        let good = one_entry(EntryType::Regular, "top/a.txt", 3, None);
        let mut garbage = good.clone();
        garbage.extend_from_slice(b"garbage");
        let err = unpack_bytes(&garbage).1.unwrap_err().to_string();
        assert!(err.contains("b.tar.gz") && err.contains("after its last member"), "{err}");
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(good.as_slice()).read_to_end(&mut raw).unwrap();
        // The top directory, a.txt's header and data, one end block, then more data.
        raw.truncate(2048);
        raw.extend_from_slice(&[b'y'; 512]);
        let err = unpack_bytes(&gzip(&raw)).1.unwrap_err().to_string();
        assert!(err.contains("b.tar.gz") && err.contains("after the end of the tar archive"), "{err}");
        let err = unpack_bytes(&good[..good.len() / 2]).1.unwrap_err().to_string();
        assert!(err.contains("b.tar.gz") && !err.contains("out/top"), "{err}");
    }

    #[test]
    fn limits_scale_with_the_compressed_size() {
        assert_eq!(Limits::for_compressed(0).max_total_bytes, FLOOR_BYTES);
        assert_eq!(Limits::for_compressed(6 << 20).max_total_bytes, FLOOR_BYTES + (6 << 20) * MAX_RATIO);
        assert_eq!(Limits::for_compressed(u64::MAX).max_total_bytes, DEFAULT_LIMITS.max_total_bytes);
    }

    /// One generated entry: a name from a hostile alphabet, a type, a body.
    fn arb_entry() -> impl Strategy<Value = (String, u8, Vec<u8>)> {
        let part =
            prop::sample::select(vec!["top", "..", ".", "", "a", "b.rs", "/", ".glassbox", "vendor", "CACHEDIR.TAG"]);
        let name = prop::collection::vec(part, 1..5).prop_map(|p| p.join("/"));
        let kind = prop::sample::select(vec![b'0', b'5', b'2', b'1', b'3', b'x', b'L', b'g', b'S', b'7']);
        (name, kind, prop::collection::vec(any::<u8>(), 0..600))
    }

    /// Every regular file below `dir`, and their total size.
    fn written(dir: &Path) -> (Vec<std::path::PathBuf>, u64) {
        let mut files = Vec::new();
        let mut total = 0;
        for e in walkdir::WalkDir::new(dir).follow_links(false) {
            let e = e.unwrap();
            if !e.file_type().is_dir() {
                total += e.metadata().unwrap().len();
                files.push(e.path().to_path_buf());
            }
        }
        (files, total)
    }

    proptest! {
        #![proptest_config(crate::testing::bounded_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic_or_escape(bytes in prop::collection::vec(any::<u8>(), 0..2048), wrap in any::<bool>()) {
            let bytes = if wrap { gzip(&bytes) } else { bytes };
            let (dir, _) = unpack_bytes(&bytes);
            let (files, _) = written(dir.path());
            prop_assert!(files.iter().all(|f| f.starts_with(dir.path().join("out")) || f.ends_with("b.tar.gz")));
        }

        #[test]
        fn arbitrary_archives_stay_inside_and_bounded(entries in prop::collection::vec(arb_entry(), 1..8), attested in any::<bool>()) {
            let mut raw = Vec::new();
            {
                let mut b = Builder::new(&mut raw);
                for (name, kind, body) in &entries {
                    let mut h = Header::new_gnu();
                    h.set_entry_type(EntryType::new(*kind));
                    h.set_mode(0o644);
                    h.set_size(body.len() as u64);
                    let n = name.len().min(100);
                    h.as_old_mut().name[..n].copy_from_slice(&name.as_bytes()[..n]);
                    h.set_cksum();
                    b.append(&h, body.as_slice()).unwrap();
                }
                b.finish().unwrap();
            }
            let limits = Limits { max_entry_bytes: 500, max_total_bytes: 1000, max_entries: 5 };
            let listed = ["a", "b.rs", "top/a"].map(|p| ManifestEntry { path: p.into(), digest: Sha256Digest::of(b"") });
            let manifest = SourceManifest::from_entries(listed.to_vec()).unwrap();
            let admission = if attested {
                Admission::Attested { top: "top", manifest: &manifest, vendor_dir: Some(".glassbox/vendor") }
            } else {
                Admission::Any
            };
            let (dir, result) = unpack_with(&gzip(&raw), limits, admission);
            let (files, total) = written(&dir.path().join("out"));
            if attested {
                // Only the manifest's files and vendored ones are ever written.
                for f in &files {
                    let rel = f.strip_prefix(dir.path().join("out/top")).unwrap().to_str().unwrap();
                    prop_assert!(manifest.get(rel).is_some() || rel.starts_with(".glassbox/vendor/"), "{rel}");
                }
            }
            prop_assert!(total <= 1000, "{total}");
            prop_assert!(files.len() <= 5);
            if let Ok(unpacked) = result {
                prop_assert_eq!(unpacked.files.len(), files.len());
            }
            let (all, _) = written(dir.path());
            prop_assert!(all.iter().all(|f| f.starts_with(dir.path().join("out")) || f.ends_with("b.tar.gz")));
        }

    }
}

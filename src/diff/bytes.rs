//! Raw byte comparison, for files glassbox knows no structure of and as the fallback for the
//! others: the first differing offset and a window of bytes around it on both sides; and the
//! printable strings of a file (as `strings -n 8` finds them).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{hex_decode, hex_encode};
use crate::error::{IoContext, Result};

/// Bytes shown before the first difference.
pub const WINDOW_BEFORE: u64 = 16;
/// Bytes shown from the first difference on.
pub const WINDOW_AFTER: u64 = 32;
/// The shortest run of printable bytes that counts as a string (`strings -n 8`).
pub const MIN_STRING: usize = 8;

/// Where two byte sequences first differ, with the bytes around that place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BytesDiff {
    /// The first offset at which the two differ; when one is a prefix of the other, the
    /// shorter one's length.
    pub first_difference: u64,
    /// The offset of the first byte of both windows.
    pub window_start: u64,
    /// A's bytes from `window_start` (at most `WINDOW_BEFORE + WINDOW_AFTER`; fewer at the end
    /// of the data). Serialised as lowercase hex.
    #[serde(serialize_with = "as_hex", deserialize_with = "from_hex")]
    pub window_a: Vec<u8>,
    /// B's bytes from `window_start`, likewise.
    #[serde(serialize_with = "as_hex", deserialize_with = "from_hex")]
    pub window_b: Vec<u8>,
}

fn as_hex<S: Serializer>(bytes: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex_encode(bytes))
}

fn from_hex<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    hex_decode(&text).ok_or_else(|| serde::de::Error::custom("not hex"))
}

impl BytesDiff {
    /// One line: where the difference is.
    pub fn summary(&self) -> String {
        format!("bytes differ at offset {:#x}", self.first_difference)
    }
}

/// The first index at which `a` and `b` differ; `None` when they are equal. When one is a
/// prefix of the other, the shorter one's length.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    // Compare in blocks (memcmp), then find the byte inside the first block that differs.
    const BLOCK: usize = 4096;
    let common = a.len().min(b.len());
    let mut start = 0;
    while start < common {
        let end = (start + BLOCK).min(common);
        if a[start..end] != b[start..end] {
            return (start..end).find(|&i| a[i] != b[i]);
        }
        start = end;
    }
    (a.len() != b.len()).then_some(common)
}

/// Where `a` and `b` first differ, with the window around it; `None` when they are equal.
pub fn diff_slices(a: &[u8], b: &[u8]) -> Option<BytesDiff> {
    let at = first_difference(a, b)?;
    let start = at.saturating_sub(WINDOW_BEFORE as usize);
    let window = |data: &[u8]| data[start.min(data.len())..(at + WINDOW_AFTER as usize).min(data.len())].to_vec();
    Some(BytesDiff {
        first_difference: at as u64,
        window_start: start as u64,
        window_a: window(a),
        window_b: window(b),
    })
}

/// Like [`diff_slices`] for two files, streaming them (any size); `None` when they are equal.
pub fn diff_file_bytes(a: &Path, b: &Path) -> Result<Option<BytesDiff>> {
    const CHUNK: usize = 1 << 20;
    let (mut file_a, _) = crate::fs::open_regular(a)?;
    let (mut file_b, _) = crate::fs::open_regular(b)?;
    let (mut buf_a, mut buf_b) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut offset = 0u64;
    let at = loop {
        let n_a = read_full(&mut file_a, &mut buf_a).at(a)?;
        let n_b = read_full(&mut file_b, &mut buf_b).at(b)?;
        if let Some(i) = first_difference(&buf_a[..n_a], &buf_b[..n_b]) {
            break offset + i as u64;
        }
        if n_a == 0 {
            return Ok(None); // both ended together
        }
        offset += n_a as u64;
    };
    let start = at.saturating_sub(WINDOW_BEFORE);
    let len = (at - start + WINDOW_AFTER) as usize;
    let window = |file: &mut File, path: &Path| -> Result<Vec<u8>> {
        file.seek(SeekFrom::Start(start)).at(path)?;
        let mut window = vec![0u8; len];
        let n = read_full(file, &mut window).at(path)?;
        window.truncate(n);
        Ok(window)
    };
    Ok(Some(BytesDiff {
        first_difference: at,
        window_start: start,
        window_a: window(&mut file_a, a)?,
        window_b: window(&mut file_b, b)?,
    }))
}

/// Reads until `buf` is full or the reader ends; returns how many bytes were read.
pub fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// True for the bytes GNU `strings` prints by default: printable ASCII and tab.
fn printable(byte: u8) -> bool {
    byte == b'\t' || (0x20..0x7f).contains(&byte)
}

/// Every run of at least [`MIN_STRING`] printable ASCII bytes (and tabs) in `data`, in order,
/// as `strings --all -n 8` prints them. Lazy: the caller decides how many to keep.
pub fn printable_strings(data: &[u8]) -> impl Iterator<Item = &str> {
    // Printable ASCII is UTF-8, so the conversion cannot fail; `filter_map` only satisfies the
    // type checker.
    data.split(|&b| !printable(b)).filter(|run| run.len() >= MIN_STRING).filter_map(|run| std::str::from_utf8(run).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_finds_the_first_byte_across_blocks() {
        let a = vec![7u8; 10_000];
        let mut b = a.clone();
        assert_eq!(first_difference(&a, &b), None);
        b[9_000] = 8;
        b[9_500] = 9;
        assert_eq!(first_difference(&a, &b), Some(9_000));
        assert_eq!(first_difference(&a[..100], &a[..50]), Some(50));
        assert_eq!(first_difference(b"", b""), None);
    }

    #[test]
    fn window_is_16_before_and_32_from_the_difference() {
        let a: Vec<u8> = (0..=255).collect();
        let mut b = a.clone();
        b[100] = 0xff;
        let d = diff_slices(&a, &b).unwrap();
        assert_eq!(d.first_difference, 100);
        assert_eq!(d.window_start, 84);
        assert_eq!(d.window_a, (84..132).collect::<Vec<u8>>());
        assert_eq!(d.window_b[16], 0xff);
        assert_eq!(d.window_b.len(), 48);
        assert_eq!(d.summary(), "bytes differ at offset 0x64");

        // Near the start and past the end of the shorter side.
        let d = diff_slices(b"abc", b"abd").unwrap();
        assert_eq!((d.first_difference, d.window_start), (2, 0));
        assert_eq!((d.window_a.as_slice(), d.window_b.as_slice()), (&b"abc"[..], &b"abd"[..]));
        let d = diff_slices(b"abc", b"abcdef").unwrap();
        assert_eq!((d.first_difference, d.window_a.len(), d.window_b.len()), (3, 3, 6));
        assert!(diff_slices(b"same", b"same").is_none());
    }

    #[test]
    fn file_diff_streams_and_agrees_with_the_slice_diff() {
        let dir = tempfile::tempdir().unwrap();
        let a: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut b = a.clone();
        b[(1 << 20) + 5] ^= 1; // just past the first streamed chunk
        let (pa, pb) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&pa, &a).unwrap();
        std::fs::write(&pb, &b).unwrap();
        assert_eq!(diff_file_bytes(&pa, &pb).unwrap(), diff_slices(&a, &b));
        assert_eq!(diff_file_bytes(&pa, &pa).unwrap(), None);
        std::fs::write(&pb, &a[..2_000_000]).unwrap();
        assert_eq!(diff_file_bytes(&pa, &pb).unwrap().unwrap().first_difference, 2_000_000);
        let missing = diff_file_bytes(&pa, &dir.path().join("missing")).unwrap_err();
        assert!(missing.to_string().contains("missing"), "{missing}");
    }

    #[test]
    fn strings_are_runs_of_at_least_eight_printable_bytes() {
        let data = b"\x00short\x00/home/builder/x\x01\x02tab\there ok\xffexactly8\x00tail-string";
        let found: Vec<&str> = printable_strings(data).collect();
        assert_eq!(found, ["/home/builder/x", "tab\there ok", "exactly8", "tail-string"]);
        assert_eq!(printable_strings(b"1234567").count(), 0);
    }
}

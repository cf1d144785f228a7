//! The tar extension headers that describe the next entry of a bundle: GNU long names (`L`) and
//! PAX records (`x`), parsed strictly and applied the way GNU tar and Python's tarfile apply them;
//! anything they would read differently from glassbox (sparse files, other charsets, a second
//! header for one entry) is refused.

use std::io::Read;

use crate::error::{Error, Result};

/// Extension headers are metadata, held in memory: a few KiB in practice.
const MAX_EXTENSION_BYTES: u64 = 1 << 20;

/// Reads an extension header's data (bounded: it is held in memory).
pub(super) fn read_extension<R: Read>(entry: &mut tar::Entry<'_, R>, origin: &str) -> Result<Vec<u8>> {
    let size = entry.size();
    if size > MAX_EXTENSION_BYTES {
        return Err(Error::invalid(origin, format!("has an extension header of {size} bytes")));
    }
    let mut data = Vec::new();
    entry.take(size).read_to_end(&mut data).map_err(|e| Error::invalid(origin, format!("truncated ({e})")))?;
    Ok(data)
}

/// The GNU long name and PAX records that describe the next entry.
#[derive(Default)]
pub(super) struct Extensions {
    pub long_name: Option<Vec<u8>>,
    pub path: Option<Vec<u8>>,
    pub size: Option<u64>,
    headers: usize,
}

/// PAX keywords that change neither an entry's name, its type nor its bytes.
fn harmless_pax_key(key: &str) -> bool {
    matches!(key, "mtime" | "atime" | "ctime" | "uid" | "gid" | "uname" | "gname" | "comment" | "charset" | "linkpath")
        || key.starts_with("SCHILY.xattr.")
        || key.starts_with("LIBARCHIVE.xattr.")
        || matches!(key, "SCHILY.dev" | "SCHILY.ino" | "SCHILY.nlink" | "SCHILY.fflags" | "LIBARCHIVE.creationtime")
}

/// A run of ASCII digits as a number (no sign, space or `_`, which Python's `int` would accept).
fn decimal<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    std::str::from_utf8(bytes).ok().filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
}

impl Extensions {
    pub fn is_empty(&self) -> bool {
        self.headers == 0
    }

    /// A GNU long name: the name, then NULs.
    pub fn long_name(&mut self, mut data: Vec<u8>, origin: &str) -> Result<()> {
        self.once(origin)?;
        while data.last() == Some(&0) {
            data.pop();
        }
        self.long_name = Some(data);
        Ok(())
    }

    /// Parses PAX records (`<length> <key>=<value>\n`) strictly.
    pub fn pax(&mut self, data: &[u8], origin: &str) -> Result<()> {
        self.once(origin)?;
        let bad = |why: String| Error::invalid(origin, format!("PAX header: {why}"));
        let mut rest = data;
        while !rest.is_empty() {
            let space = rest.iter().position(|b| *b == b' ').ok_or_else(|| bad("a record has no length".into()))?;
            let len: usize = decimal(&rest[..space])
                .filter(|len| *len > space + 1 && *len <= rest.len())
                .ok_or_else(|| bad("a record's length is wrong".into()))?;
            let record = &rest[space + 1..len];
            rest = &rest[len..];
            let record = record.strip_suffix(b"\n").ok_or_else(|| bad("a record does not end in a newline".into()))?;
            let eq = record.iter().position(|b| *b == b'=').ok_or_else(|| bad("a record has no '='".into()))?;
            let key = std::str::from_utf8(&record[..eq]).map_err(|_| bad("a keyword is not UTF-8".into()))?;
            let value = &record[eq + 1..];
            match key {
                "path" if self.path.is_none() => self.path = Some(value.to_vec()),
                "size" if self.size.is_none() => {
                    let size = decimal(value)
                        .ok_or_else(|| bad(format!("size {:?} is not a number", String::from_utf8_lossy(value))))?;
                    self.size = Some(size);
                }
                "path" | "size" => return Err(bad(format!("{key} is given twice"))),
                key if harmless_pax_key(key) => {}
                // GNU.sparse.* makes GNU tar and Python rebuild other bytes under another name;
                // hdrcharset changes how names decode.
                other => return Err(bad(format!("keyword {other:?} is not supported in source bundles"))),
            }
        }
        Ok(())
    }

    fn once(&mut self, origin: &str) -> Result<()> {
        self.headers += 1;
        if self.headers > 1 {
            return Err(Error::invalid(origin, "two extension headers describe one entry"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One PAX record; its length counts itself, so find the fixed point as tar writers do.
    fn record(key: &str, value: &str) -> String {
        let body = format!(" {key}={value}\n");
        let mut len = body.len();
        while len != body.len() + len.to_string().len() {
            len = body.len() + len.to_string().len();
        }
        format!("{len}{body}")
    }

    #[test]
    fn sparse_charset_bad_numbers_and_second_headers_are_refused() {
        let refused = [
            record("GNU.sparse.name", "other.rs"),
            record("hdrcharset", "BINARY"),
            record("size", "1_0"),
            "9 path=a".into(),
        ];
        for data in refused {
            assert!(Extensions::default().pax(data.as_bytes(), "b").is_err(), "{data}");
        }
        let mut ext = Extensions::default();
        ext.pax(record("path", "ab").as_bytes(), "b").unwrap();
        assert!(ext.long_name(b"x\0".to_vec(), "b").is_err());
    }

    proptest! {
        #![proptest_config(crate::testing::bounded_cases(256))]

        #[test]
        fn pax_records_round_trip(path in "[a-z/._-]{1,40}", size in any::<u64>(), mtime in "[0-9.]{0,12}") {
            let data = record("mtime", &mtime) + &record("path", &path) + &record("size", &size.to_string());
            let mut ext = Extensions::default();
            ext.pax(data.as_bytes(), "b").unwrap();
            prop_assert_eq!(ext.path, Some(path.into_bytes()));
            prop_assert_eq!(ext.size, Some(size));
        }

        #[test]
        fn pax_records_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = Extensions::default().pax(&data, "b");
        }
    }
}

//! SHA-256 digests: the one hash glassbox uses for files, trees, envelopes and log entries.

use std::fmt;
use std::io::{self, Read, Write};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest. Displays and serialises as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// Lowercase hex.
    pub fn hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// `sha256:<hex>`, the form glassbox prints for source digests.
    pub fn prefixed(&self) -> String {
        format!("sha256:{}", self.hex())
    }

    /// Parses a digest as a *person* types it on the command line: 64 hex digits of either
    /// case, with or without a `sha256:` prefix. Never use it on a field of a statement, a log
    /// entry or a manifest: those are read with [`Sha256Digest::from_hex`].
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        let bytes = hex_decode(hex)?;
        Some(Sha256Digest(bytes.try_into().ok()?))
    }

    /// Parses a digest field of a document glassbox reads (statement subjects,
    /// `inputAttestations`, review subjects, log entries): exactly 64 lowercase hex digits, no
    /// prefix. One spelling per digest, so that glassbox and any tool that compares strings
    /// agree on what a statement is about.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        Some(Sha256Digest(hex_decode(text)?.try_into().ok()?))
    }

    /// Streams `reader` through SHA-256 using `buf` as the read buffer; returns the digest and
    /// the number of bytes read.
    pub fn of_reader(mut reader: impl Read, buf: &mut [u8]) -> io::Result<(Self, u64)> {
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        loop {
            let n = match reader.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        Ok((Sha256Digest(hasher.finalize().into()), total))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        // Serialised digests are documents glassbox reads: the strict spelling only.
        Sha256Digest::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("a sha256 digest is not 64 lowercase hex digits"))
    }
}

/// Serialisers for the CLI's JSON reports, which write every digest as `sha256:<hex>`
/// (docs/formats.md, "CLI JSON reports"); signed documents keep the bare hex of
/// [`Sha256Digest`]'s own `Serialize`. Use them with `#[serde(serialize_with = "…")]`.
pub mod report {
    use serde::ser::SerializeSeq;
    use serde::Serializer;

    use super::Sha256Digest;

    /// `sha256:<hex>`.
    pub fn prefixed<S: Serializer>(d: &Sha256Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.prefixed())
    }

    /// `sha256:<hex>` or `null`.
    pub fn prefixed_opt<S: Serializer>(d: &Option<Sha256Digest>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&d.prefixed()),
            None => s.serialize_none(),
        }
    }

    /// A list of `sha256:<hex>`.
    pub fn prefixed_vec<S: Serializer>(ds: &[Sha256Digest], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(ds.len()))?;
        for d in ds {
            seq.serialize_element(&d.prefixed())?;
        }
        seq.end()
    }

    /// A digest held as hex text (as a signed document spells it), prefixed; text that is not
    /// a digest is written as it is, so nothing is hidden.
    pub fn hex_text(hex: &str) -> String {
        match Sha256Digest::from_hex(hex) {
            Some(d) => d.prefixed(),
            None => hex.to_string(),
        }
    }

    /// [`hex_text`] of each, as a list.
    pub fn prefixed_hex_vec<S: Serializer>(hexes: &[String], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(hexes.len()))?;
        for h in hexes {
            seq.serialize_element(&hex_text(h))?;
        }
        seq.end()
    }
}

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), written: 0 }
    }

    /// The inner writer, the digest and the byte count of what passed through.
    pub fn finish(self) -> (W, Sha256Digest, u64) {
        (self.inner, Sha256Digest(self.hasher.finalize().into()), self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Lowercase hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Decodes hex (either case); `None` on odd length or a non-hex digit.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes().chunks(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        // FIPS 180-2 examples.
        assert_eq!(Sha256Digest::of(b"abc").hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(Sha256Digest::of(b"").hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let (d, n) = Sha256Digest::of_reader(&b"abc"[..], &mut [0u8; 2]).unwrap();
        assert_eq!((d, n), (Sha256Digest::of(b"abc"), 3));
    }

    #[test]
    fn parse_round_trip() {
        let d = Sha256Digest::of(b"x");
        assert_eq!(Sha256Digest::parse(&d.prefixed()), Some(d));
        assert_eq!(Sha256Digest::parse(&d.hex().to_uppercase()), Some(d));
        assert_eq!(Sha256Digest::parse("abc"), None);
        assert_eq!(Sha256Digest::parse(&"g".repeat(64)), None);
    }

    #[test]
    fn from_hex_takes_only_64_lowercase_hex_digits() {
        let d = Sha256Digest::of(b"x");
        assert_eq!(Sha256Digest::from_hex(&d.hex()), Some(d));
        for bad in
            [d.prefixed(), d.hex().to_uppercase(), d.hex()[..62].to_string(), format!("{}0", d.hex()), "g".repeat(64)]
        {
            assert_eq!(Sha256Digest::from_hex(&bad), None, "{bad}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::testing::bounded_cases(256))]

            #[test]
            fn from_hex_round_trips(bytes in proptest::array::uniform32(any::<u8>())) {
                let d = Sha256Digest(bytes);
                prop_assert_eq!(Sha256Digest::from_hex(&d.hex()), Some(d));
                prop_assert_eq!(Sha256Digest::parse(&d.prefixed()), Some(d));
            }

            #[test]
            fn from_hex_accepts_exactly_the_canonical_spelling(text in "(sha256:)?[0-9a-fA-Fg]{60,66}|\\PC{0,80}") {
                // Never panics; whatever it accepts prints back as the same text.
                if let Some(d) = Sha256Digest::from_hex(&text) {
                    prop_assert_eq!(d.hex(), text.clone());
                }
                if let Some(d) = Sha256Digest::parse(&text) {
                    prop_assert_eq!(d.hex(), text.strip_prefix("sha256:").unwrap_or(&text).to_lowercase());
                }
            }
        }
    }

    #[test]
    fn hashing_writer_counts() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (inner, d, n) = w.finish();
        assert_eq!((inner, d, n), (b"abc".to_vec(), Sha256Digest::of(b"abc"), 3));
    }
}

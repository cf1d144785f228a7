//! A guard on the tar streams `diff` reads. The `tar` crate reads a GNU long-name or long-link
//! member, and a PAX extension member, into memory whole, whatever size its header claims, so a
//! small gzip bomb could make it allocate gigabytes and abort. The guard follows the headers as
//! the bytes pass on their way to the crate (the same way the crate walks them: 512-byte
//! headers, data rounded up to 512, a PAX `size` for the next member, GNU sparse extension
//! blocks) and fails the read that would deliver such a member larger than [`MAX_EXTENSION`].

use std::io::{self, Read};

/// The largest GNU long-name, long-link or PAX extension member read.
pub const MAX_EXTENSION: u64 = 1 << 20;

const BLOCK: usize = 512;

pub(crate) struct TarGuard<R> {
    inner: R,
    /// Bytes passed so far.
    pos: u64,
    /// Where the next 512-byte block to inspect (a header, or a GNU sparse extension block)
    /// starts.
    next: u64,
    block: [u8; BLOCK],
    filled: usize,
    /// A PAX extension's data being collected, and where it ends.
    pax: Option<(Vec<u8>, u64)>,
    /// The size a PAX `size` record gives the next member.
    size_override: Option<u64>,
    /// Inside GNU sparse extension blocks: the member's data (rounded up) that follows them.
    sparse_data: Option<u64>,
    /// The stream cannot be followed (a bad checksum or size): the `tar` crate reports that.
    lost: bool,
}

impl<R> TarGuard<R> {
    pub(crate) fn new(inner: R) -> TarGuard<R> {
        TarGuard {
            inner,
            pos: 0,
            next: 0,
            block: [0; BLOCK],
            filled: 0,
            pax: None,
            size_override: None,
            sparse_data: None,
            lost: false,
        }
    }

    fn observe(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() && !self.lost {
            if self.pos < self.next {
                let n = (self.next - self.pos).min(data.len() as u64) as usize;
                if let Some((bytes, end)) = &mut self.pax {
                    let wanted = end.saturating_sub(self.pos).min(n as u64) as usize;
                    bytes.extend_from_slice(&data[..wanted]);
                }
                self.pos += n as u64;
                data = &data[n..];
                if self.pax.as_ref().is_some_and(|(_, end)| self.pos >= *end) {
                    self.size_override = self.pax.take().and_then(|(bytes, _)| pax_size(&bytes));
                }
                continue;
            }
            let n = (BLOCK - self.filled).min(data.len());
            self.block[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            self.pos += n as u64;
            data = &data[n..];
            if self.filled == BLOCK {
                self.filled = 0;
                self.on_block()?;
            }
        }
        Ok(())
    }

    /// A whole block at `next` has passed (`pos` is just after it).
    fn on_block(&mut self) -> io::Result<()> {
        if let Some(data) = self.sparse_data {
            // A GNU sparse extension block: `isextended` at offset 504.
            if self.block[504] == 1 {
                self.next = self.pos;
            } else {
                self.sparse_data = None;
                self.next = self.pos.saturating_add(data);
            }
            return Ok(());
        }
        if self.block.iter().all(|&b| b == 0) {
            self.next = self.pos;
            return Ok(());
        }
        let header = tar::Header::from_byte_slice(&self.block);
        let sum = self.block[..148].iter().chain(&self.block[156..]).map(|&b| u32::from(b)).sum::<u32>() + 8 * 32;
        let Ok(mut size) = header.entry_size() else {
            self.lost = true;
            return Ok(());
        };
        if header.cksum().ok() != Some(sum) {
            self.lost = true;
            return Ok(());
        }
        let kind = header.entry_type();
        let recognised = header.as_gnu().is_some() || header.as_ustar().is_some();
        let read_whole =
            recognised && (kind.is_gnu_longname() || kind.is_gnu_longlink() || kind.is_pax_local_extensions());
        let extension =
            read_whole || kind.is_gnu_longname() || kind.is_gnu_longlink() || kind.is_pax_global_extensions();
        if !extension {
            size = self.size_override.take().unwrap_or(size);
        }
        if read_whole && size > MAX_EXTENSION {
            return Err(io::Error::other(format!(
                "a tar extension member (long name or PAX header) of {size} bytes; glassbox reads at most {MAX_EXTENSION}"
            )));
        }
        let Some(padded) = size.checked_add(BLOCK as u64 - 1).map(|s| s & !(BLOCK as u64 - 1)) else {
            self.lost = true;
            return Ok(());
        };
        if recognised && kind.is_pax_local_extensions() {
            self.pax = Some((Vec::with_capacity(size as usize), self.pos + size));
            if size == 0 {
                self.pax = None;
                self.size_override = None;
            }
        }
        if kind.is_gnu_sparse() && header.as_gnu().is_some_and(|g| g.isextended[0] == 1) {
            self.sparse_data = Some(padded);
            self.next = self.pos;
        } else {
            // Past the end of any real stream when it saturates: the read ends first.
            self.next = self.pos.saturating_add(padded);
        }
        Ok(())
    }
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n])?;
        Ok(n)
    }
}

/// The `size` record of a PAX extension, as the `tar` crate reads it.
fn pax_size(data: &[u8]) -> Option<u64> {
    for extension in tar::PaxExtensions::new(data) {
        let extension = extension.ok()?;
        if extension.key() == Ok("size") {
            return extension.value().ok()?.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_path("x").unwrap();
        h.set_cksum();
        h
    }

    /// Reads `data` through the guard in small pieces; the error, if any.
    fn guard(data: &[u8]) -> Option<String> {
        let mut reader = TarGuard::new(data);
        let mut buf = [0u8; 700];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(e.to_string()),
            }
        }
    }

    #[test]
    fn ordinary_archives_pass_and_a_huge_long_name_is_refused() {
        let long = "d/".repeat(200) + "file";
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_data(&mut header(tar::EntryType::Regular, 3), &long, &b"abc"[..]).unwrap();
        builder.append_pax_extensions([("size", &b"5"[..])]).unwrap();
        // The PAX size (5) wins over the header's (0): the guard must follow it to stay in step.
        let mut h = header(tar::EntryType::Regular, 0);
        builder.append(&h, &b"12345"[..]).unwrap();
        h = header(tar::EntryType::GNULongName, 2 << 20);
        builder.append(&h, &vec![b'a'; 2 << 20][..]).unwrap();
        let data = builder.into_inner().unwrap();
        let err = guard(&data).expect("the 2 MiB long name is refused");
        assert!(err.contains("extension member") && err.contains("2097152"), "{err}");
        // Without the huge member, nothing is refused, and the tar crate reads the same archive.
        let cut = data.len() - (2 << 20) - 1024 - 512;
        let mut ok = data[..cut].to_vec();
        ok.extend_from_slice(&[0u8; 1024]);
        assert_eq!(guard(&ok), None);
        let mut archive = tar::Archive::new(TarGuard::new(&ok[..]));
        let sizes: Vec<u64> = archive.entries().unwrap().map(|e| e.unwrap().size()).collect();
        assert_eq!(sizes, [3, 5]);
    }

    proptest::proptest! {
        #![proptest_config(crate::testing::bounded_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            kind in proptest::prelude::any::<u8>(),
            size in proptest::prelude::any::<u64>(),
        ) {
            let mut h = header(tar::EntryType::new(kind), 0);
            h.as_mut_bytes()[124..136].copy_from_slice(&{ let mut f = [0x80u8; 12]; f[4..].copy_from_slice(&size.to_be_bytes()); f });
            h.set_cksum();
            let mut stream = h.as_bytes().to_vec();
            stream.extend_from_slice(&data);
            let _ = guard(&stream);
            let _ = guard(&data);
        }
    }
}

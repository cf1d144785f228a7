//! Ed25519 keys: PKCS#8 PEM private keys, SPKI PEM public keys (both readable by openssl), and
//! securesystemslib-compatible key ids. Private key files are read through one function that
//! refuses files others may access; errors name the file and never quote it.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::json;

use crate::digest::{hex_encode, Sha256Digest};
use crate::error::{Error, IoContext, Result};
use crate::json;

/// The securesystemslib default key id: SHA-256 of the canonical JSON of
/// `{"keytype":"ed25519","keyval":{"public":"<hex>"},"scheme":"ed25519"}`, as 64 hex digits.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 hex digits, used in attestation file names.
    pub fn short(&self) -> &str {
        &self.0[..8]
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Ed25519 public key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey> {
        VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| Error::invalid(hex_encode(bytes), "not a valid Ed25519 public key"))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Parses an SPKI PEM (`-----BEGIN PUBLIC KEY-----`, any line width); `origin` names the
    /// source in errors, which never quote the text.
    pub fn from_pem(pem: &str, origin: &str) -> Result<PublicKey> {
        let der = match Pem::parse(pem, origin)? {
            Pem { label: PemLabel::Public, der } => der,
            Pem { label: PemLabel::Private, .. } => {
                return Err(Error::invalid(
                    origin,
                    "this is a private key; a public key (the .pub file) is expected here. Keep the private key \
                     to yourself",
                ))
            }
            Pem { label: PemLabel::Other(label), .. } => {
                return Err(Error::invalid(origin, format!("holds a {label:?}, not a PEM public key")))
            }
        };
        let spki = ed25519_dalek::pkcs8::spki::SubjectPublicKeyInfoRef::try_from(der.as_slice())
            .map_err(|_| Error::invalid(origin, "not a valid SPKI public key (damaged DER)"))?;
        check_ed25519(&spki.algorithm.oid, origin)?;
        VerifyingKey::from_public_key_der(&der)
            .map(PublicKey)
            .map_err(|e| Error::invalid(origin, format!("not a valid Ed25519 public key ({e})")))
    }

    pub fn to_pem(&self) -> String {
        // Encoding a valid key as SPKI cannot fail: it is a fixed-size DER structure.
        self.0.to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    /// Reads a public key file. A private key is refused ("this is a private key"): a path
    /// where others' keys are expected (`--trust`, a policy) must never hold a secret.
    pub fn read(path: &Path) -> Result<PublicKey> {
        let text = read_key_text(path)?;
        PublicKey::from_pem(&text, &path.display().to_string())
    }

    /// Reads a public key file, or the public half of a private key file (read as
    /// [`PrivateKey::read_with`] does, permissions checked); the flag says which it was.
    pub fn read_either(path: &Path, options: KeyFileOptions) -> Result<(PublicKey, bool)> {
        let text = read_key_text(path)?;
        match Pem::parse(&text, &path.display().to_string())?.label {
            PemLabel::Private => Ok((PrivateKey::read_with(path, options)?.public(), true)),
            _ => Ok((PublicKey::from_pem(&text, &path.display().to_string())?, false)),
        }
    }

    pub fn key_id(&self) -> KeyId {
        let doc = json!({
            "keytype": "ed25519",
            "keyval": {"public": hex_encode(self.as_bytes())},
            "scheme": "ed25519",
        });
        // The document holds only strings, so canonical encoding cannot fail.
        let bytes = json::canonical(&doc).unwrap_or_default();
        KeyId(Sha256Digest::of(&bytes).hex())
    }

    /// Strict Ed25519 verification (rejects small-order keys and non-canonical signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        self.0.verify_strict(message, &Signature::from_bytes(&sig)).is_ok()
    }
}

/// One signature to check in a batch: the message, the 64 signature bytes, the key.
pub struct BatchItem<'a> {
    pub message: &'a [u8],
    pub signature: [u8; 64],
    pub key: &'a PublicKey,
}

/// The canonical encodings of the eight points of small order (the identity, the point of
/// order 2, two of order 4, four of order 8): a signature whose R is one of them is refused by
/// [`PublicKey::verify`] (`verify_strict`), so the batch refuses it too.
const SMALL_ORDER: [[u8; 32]; 8] = {
    let mut out = [[0u8; 32]; 8];
    out[0][0] = 1;
    let mut i = 0;
    while i < 32 {
        out[1][i] = 0xff;
        i += 1;
    }
    out[1][0] = 0xec;
    out[1][31] = 0x7f;
    out[3][31] = 0x80;
    out[4] = hex32(b"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
    out[5] = hex32(b"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa");
    out[6] = hex32(b"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05");
    out[7] = hex32(b"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85");
    out
};

const fn hex32(text: &[u8; 64]) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        if c >= b'a' {
            c - b'a' + 10
        } else {
            c - b'0'
        }
    }
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = digit(text[2 * i]) << 4 | digit(text[2 * i + 1]);
        i += 1;
    }
    out
}

/// Whether a 32-byte point encoding is not its point's canonical one: its y coordinate is not
/// reduced mod p = 2^255 - 19, or x is 0 (y = 1 or p - 1) with the sign bit set ("-0").
/// Decompression accepts both; `verify_strict` does not (it compares R byte for byte with the
/// canonical encoding of `[s]B - [k]A`).
fn non_canonical(point: &[u8; 32]) -> bool {
    let unreduced = point[31] & 0x7f == 0x7f && point[1..31].iter().all(|b| *b == 0xff) && point[0] >= 0xed;
    let mut y = *point;
    y[31] &= 0x7f;
    // The canonical y = 1 (the identity) and y = p - 1 (the point of order 2), both with x = 0.
    let x_is_zero = y == SMALL_ORDER[0] || y == SMALL_ORDER[1];
    unreduced || (point[31] & 0x80 != 0 && x_is_zero)
}

/// Whether every signature of `items` verifies, checked together: one multiscalar
/// multiplication for the whole batch, `[-Σ z_i s_i]B + Σ z_i R_i + Σ_k (Σ_{i signed by k} z_i h_i) A_k`
/// tested for the identity, with random 128-bit `z_i` from the operating system and
/// `h_i = SHA-512(R_i || A_i || M_i) mod l`. This is ed25519-dalek's batch equation with the
/// terms of each key summed: a log's statements come from a handful of keys, so the
/// multiplication has about n points instead of 2n, and costs about half. `true` means each
/// would also pass [`PublicKey::verify`], with one caveat below; `false` means at least one
/// fails (check them one by one to find which).
///
/// Cofactored or cofactorless: `verify_strict` checks `[s]B = R + [k]A` exactly
/// (cofactorless), and so does this batch (it tests the random linear combination for the
/// identity without multiplying by the cofactor 8). For points without a torsion component
/// the two agree. They can differ only if R or A has a small-order component: the batch sums
/// `z_i * T_i` over the torsion parts, which can cancel where the single check fails (the
/// other way round does not matter: a failing batch is rechecked one by one). So that the batch
/// accepts nothing the single check refuses, it first refuses what `verify_strict` refuses
/// cheaply: an R or A of small order (the eight canonical encodings above, or a weak key), a
/// non-canonical R (which covers the small-order points' other encodings, "-0" included), and
/// a non-canonical s; `keys/strict.rs` has a vector for each. What remains, an R of mixed order
/// (a prime-order point plus a torsion point) whose batch coefficient happens to cancel the
/// torsion, can only be made by the holder of the signing key itself, on purpose: glassbox
/// signs with dalek, whose R is always `[r]B`, of prime order.
pub fn verify_batch(items: &[BatchItem<'_>]) -> bool {
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
    use rand_core::RngCore as _;
    use sha2::{Digest as _, Sha512};

    if items.is_empty() {
        return true;
    }
    // The z_i: unpredictable to whoever made the signatures, or a forged batch could cancel.
    let mut random = vec![0u8; 16 * items.len()];
    if rand_core::OsRng.try_fill_bytes(&mut random).is_err() {
        return false;
    }
    let mut b_coefficient = Scalar::ZERO;
    let (mut points, mut scalars) = (Vec::with_capacity(items.len() + 8), Vec::with_capacity(items.len() + 8));
    // Each distinct key with the sum of its z_i h_i (linear search: a batch has few keys).
    let mut keys: Vec<(&PublicKey, Scalar)> = Vec::new();
    for (item, z) in items.iter().zip(random.chunks_exact(16)) {
        let mut r = [0u8; 32];
        r.copy_from_slice(&item.signature[..32]);
        if item.key.0.is_weak() || non_canonical(&r) || SMALL_ORDER.contains(&r) {
            return false;
        }
        let mut s = [0u8; 32];
        s.copy_from_slice(&item.signature[32..]);
        let (Some(s), Some(r_point)) =
            (Option::<Scalar>::from(Scalar::from_canonical_bytes(s)), CompressedEdwardsY(r).decompress())
        else {
            return false;
        };
        let mut z_bytes = [0u8; 32];
        z_bytes[..16].copy_from_slice(z);
        let z = Scalar::from_bytes_mod_order(z_bytes);
        let h = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(r)
                .chain_update(item.key.as_bytes())
                .chain_update(item.message)
                .finalize()
                .into(),
        );
        b_coefficient += z * s;
        points.push(r_point);
        scalars.push(z);
        match keys.iter_mut().find(|(k, _)| k.as_bytes() == item.key.as_bytes()) {
            Some((_, sum)) => *sum += z * h,
            None => keys.push((item.key, z * h)),
        }
    }
    points.push(curve25519_dalek::constants::ED25519_BASEPOINT_POINT);
    scalars.push(-b_coefficient);
    for (key, sum) in keys {
        points.push(key.0.to_edwards());
        scalars.push(sum);
    }
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// An Ed25519 private key. Never printed: `Debug` shows only the key id.
pub struct PrivateKey(SigningKey);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.public().key_id())
    }
}

impl PrivateKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> PrivateKey {
        PrivateKey(SigningKey::generate(&mut rand_core::OsRng))
    }

    pub fn from_seed(seed: &[u8; 32]) -> PrivateKey {
        PrivateKey(SigningKey::from_bytes(seed))
    }

    /// A second handle on the same key, for another thread of the one process that holds it
    /// (the log service's indexer). Not `Clone`, so that copies are made on purpose.
    pub fn duplicate(&self) -> PrivateKey {
        PrivateKey(SigningKey::from_bytes(&self.0.to_bytes()))
    }

    /// Parses a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, any line width); errors never quote
    /// the text.
    pub fn from_pem(pem: &str, origin: &str) -> Result<PrivateKey> {
        let der = match Pem::parse(pem, origin)? {
            Pem { label: PemLabel::Private, der } => der,
            Pem { label: PemLabel::Public, .. } => {
                return Err(Error::invalid(origin, "is a public key; a private key (PKCS#8 PEM) is expected here"))
            }
            Pem { label: PemLabel::Other(label), .. } => {
                return Err(Error::invalid(
                    origin,
                    format!(
                        "holds a {label:?}; glassbox reads unencrypted Ed25519 PKCS#8 private keys (\"PRIVATE KEY\")"
                    ),
                ))
            }
        };
        let info = ed25519_dalek::pkcs8::PrivateKeyInfo::try_from(der.as_slice())
            .map_err(|_| Error::invalid(origin, "this is a private key, but not a valid PKCS#8 one (damaged DER)"))?;
        check_ed25519(&info.algorithm.oid, origin)?;
        SigningKey::from_pkcs8_der(&der)
            .map(PrivateKey)
            .map_err(|e| Error::invalid(origin, format!("this is a private key, but not a valid Ed25519 one ({e})")))
    }

    /// [`PrivateKey::read_with`] with the default (strict) options.
    pub fn read(path: &Path) -> Result<PrivateKey> {
        PrivateKey::read_with(path, KeyFileOptions::default())
    }

    /// Reads a private key file: the one way every command loads a signing key. Like ssh, it
    /// refuses a file that group or others may access (unless `options.allow_open`), and it
    /// refuses FIFOs, devices and files larger than a key.
    pub fn read_with(path: &Path, options: KeyFileOptions) -> Result<PrivateKey> {
        let (file, _) = crate::fs::open_regular(path)?;
        let mode = file.metadata().at(path)?.permissions().mode() & 0o7777;
        let bytes = crate::fs::read_opened(file, path, crate::fs::limits::KEY_FILE)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::invalid(path.display(), "not a PEM key file"))?;
        // Parsed first, so that a public key given by mistake is named as one (its 0644 mode
        // would otherwise be reported instead).
        let key = PrivateKey::from_pem(&text, &path.display().to_string())?;
        if mode & 0o077 != 0 && !options.allow_open {
            return Err(Error::invalid(
                path.display(),
                format!(
                    "permissions {mode:04o} for '{}' are too open: a private key must not be accessible by group or \
                     others (chmod 600 it, or set {ALLOW_OPEN_KEYS_VAR}=1 to use it anyway)",
                    crate::text::escape(&path.display().to_string())
                ),
            ));
        }
        Ok(key)
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// Writes `PREFIX.key` (PKCS#8 PEM, mode 0600) and `PREFIX.pub` (SPKI PEM, 0644).
    /// Refuses to replace anything at either path, a dangling symlink included (each file is
    /// written to a temporary name and linked into place only if the name is free), and a
    /// prefix that names a directory (`keys/`).
    pub fn write_pair(&self, prefix: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
        use std::os::unix::ffi::OsStrExt;
        let base = prefix.file_name().filter(|_| !prefix.as_os_str().as_bytes().ends_with(b"/"));
        let Some(base) = base.map(|b| b.to_string_lossy().into_owned()) else {
            return Err(Error::invalid(
                prefix.display(),
                "is a directory, not a key path prefix (give e.g. keys/me to write keys/me.key and keys/me.pub)",
            ));
        };
        let private = prefix.with_file_name(format!("{base}.key"));
        let public = prefix.with_file_name(format!("{base}.pub"));
        for p in [&private, &public] {
            if std::fs::symlink_metadata(p).is_ok() {
                return Err(Error::invalid(p.display(), "already exists; refusing to overwrite a key"));
            }
        }
        // PKCS#8 v1 (no embedded public key): OpenSSL 3.0 cannot read the v2 form.
        let pkcs8 = ed25519_dalek::pkcs8::KeypairBytes { secret_key: self.0.to_bytes(), public_key: None };
        let pem = pkcs8
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::invalid(private.display(), format!("cannot encode key ({e})")))?;
        write_new(&private, pem.as_bytes(), 0o600)?;
        write_new(&public, self.public().to_pem().as_bytes(), 0o644)?;
        Ok((private, public))
    }
}

/// How private key files may be read.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyFileOptions {
    /// Accept a private key file that group or others may access. The CLI sets it from
    /// [`ALLOW_OPEN_KEYS_VAR`]; the library never reads the environment.
    pub allow_open: bool,
}

/// The environment variable (`=1`) with which a user of the CLI accepts private key files that
/// group or others may access.
pub const ALLOW_OPEN_KEYS_VAR: &str = "GLASSBOX_ALLOW_OPEN_KEYS";

/// Writes a new file atomically, never replacing anything at `path`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut tmp = crate::fs::temp_beside(path)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).at(tmp.path())?;
    tmp.write_all(bytes).at(tmp.path())?;
    tmp.as_file().sync_all().at(tmp.path())?;
    tmp.persist_noclobber(path).map_err(|e| Error::io(path, e.error))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Refuses any algorithm but Ed25519, naming the one found.
fn check_ed25519(oid: &ed25519_dalek::pkcs8::ObjectIdentifier, origin: &str) -> Result<()> {
    const ED25519: &str = "1.3.101.112";
    let found = oid.to_string();
    if found == ED25519 {
        return Ok(());
    }
    let name = match found.as_str() {
        "1.2.840.113549.1.1.1" => " (RSA)",
        "1.2.840.10045.2.1" => " (EC, e.g. P-256)",
        "1.3.101.113" => " (Ed448)",
        "1.3.101.110" => " (X25519)",
        _ => "",
    };
    Err(Error::invalid(origin, format!("not an Ed25519 key: its algorithm is OID {found}{name}")))
}

/// What a PEM document's label says it is.
enum PemLabel {
    Private,
    Public,
    Other(String),
}

/// A PEM document's label and DER contents.
struct Pem {
    label: PemLabel,
    der: Vec<u8>,
}

impl Pem {
    /// The first PEM document of `text`. Lenient about line width (openssl writes and reads
    /// any), strict about the rest; errors never quote the text.
    fn parse(text: &str, origin: &str) -> Result<Pem> {
        if text.trim().is_empty() {
            return Err(Error::invalid(origin, "empty file; not a PEM key file"));
        }
        let mut lines = text.lines().map(str::trim);
        let begin = lines.by_ref().find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"));
        let Some(label) = begin else {
            if let Some(form) = form::recognise(text) {
                return Err(Error::invalid(origin, format!("this is {}, not a PEM key file", form.describe())));
            }
            return Err(Error::invalid(origin, "not a PEM key file (no -----BEGIN line)"));
        };
        let private = label.contains("PRIVATE KEY");
        let what = if private { "this is a private key, but its PEM" } else { "the PEM" };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut ended = false;
        for line in lines {
            if line == end {
                ended = true;
                break;
            }
            if line.contains(':') {
                return Err(Error::invalid(origin, format!("{what} has headers (an encrypted key?); not supported")));
            }
            body.push_str(line);
        }
        if !ended {
            return Err(Error::invalid(origin, format!("{what} has no matching -----END line")));
        }
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| Error::invalid(origin, format!("{what} holds damaged Base64")))?;
        let label = match label {
            "PRIVATE KEY" => PemLabel::Private,
            "PUBLIC KEY" => PemLabel::Public,
            other if private => PemLabel::Other(format!("{other} (this is a private key, in another format)")),
            other => PemLabel::Other(other.to_string()),
        };
        Ok(Pem { label, der })
    }
}

fn read_key_text(path: &Path) -> Result<String> {
    crate::fs::read_regular_text(path, crate::fs::limits::KEY_FILE)
}

pub mod form;
#[cfg(test)]
mod strict;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hex_decode;

    #[test]
    fn batches_agree_with_single_verification() {
        for point in SMALL_ORDER {
            assert!(VerifyingKey::from_bytes(&point).unwrap().is_weak(), "{}", hex_encode(&point));
            assert!(!non_canonical(&point));
        }
        let distinct: std::collections::BTreeSet<_> = SMALL_ORDER.iter().collect();
        assert_eq!(distinct.len(), 8);
        assert!(non_canonical(&[0xff; 32]) && !non_canonical(&[0xec; 32]));
        let keys: Vec<PrivateKey> = (0u8..4).map(|i| PrivateKey::from_seed(&[i; 32])).collect();
        let publics: Vec<PublicKey> = keys.iter().map(PrivateKey::public).collect();
        let messages: Vec<Vec<u8>> = (0u8..40).map(|i| vec![i; i as usize]).collect();
        let sigs: Vec<[u8; 64]> = messages.iter().enumerate().map(|(i, m)| keys[i % 4].sign(m)).collect();
        let items = |sigs: &[[u8; 64]]| -> Vec<BatchItem<'_>> {
            (0..40).map(|i| BatchItem { message: &messages[i], signature: sigs[i], key: &publics[i % 4] }).collect()
        };
        assert!(verify_batch(&items(&sigs)));
        assert!(verify_batch(&[]));
        let mut bad = sigs.clone();
        bad[17][40] ^= 1;
        assert!(!verify_batch(&items(&bad)));
        assert!(!publics[1].verify(&messages[17], &bad[17]));
        // Two signatures of one key swapped between their messages; a signature listed under
        // another key; an s pushed out of range (s + l): each fails the batch.
        let mut swapped = sigs.clone();
        swapped.swap(1, 5);
        assert!(!verify_batch(&items(&swapped)));
        let mut other_key: Vec<BatchItem<'_>> = items(&sigs);
        other_key[2].key = &publics[3];
        assert!(!verify_batch(&other_key));
        let mut unreduced = sigs.clone();
        // l = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let l = hex32(b"edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
        let (mut carry, s) = (0u16, &mut unreduced[9][32..]);
        for (b, l) in s.iter_mut().zip(l) {
            let sum = *b as u16 + l as u16 + carry;
            (*b, carry) = (sum as u8, sum >> 8);
        }
        assert!(!verify_batch(&items(&unreduced)));
        // A small-order R is refused before the batch runs.
        let mut small = sigs.clone();
        small[3][..32].copy_from_slice(&SMALL_ORDER[0]);
        assert!(!verify_batch(&items(&small)));
    }

    fn seed(hex: &str) -> [u8; 32] {
        hex_decode(hex).unwrap().try_into().unwrap()
    }

    /// RFC 8032 section 7.1, tests 1 to 3: (secret key, public key, message, signature).
    const RFC8032: [(&str, &str, &str, &str); 3] = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];

    #[test]
    fn rfc8032_vectors() {
        for (sk, pk, msg, sig) in RFC8032 {
            let key = PrivateKey::from_seed(&seed(sk));
            assert_eq!(hex_encode(key.public().as_bytes()), pk);
            let msg = hex_decode(msg).unwrap();
            let signature = key.sign(&msg);
            assert_eq!(hex_encode(&signature), sig);
            assert!(key.public().verify(&msg, &signature));
            let mut tampered = signature;
            tampered[0] ^= 1;
            assert!(!key.public().verify(&msg, &tampered));
            assert!(!key.public().verify(b"other", &signature));
        }
    }

    #[test]
    fn key_id_matches_securesystemslib() {
        // securesystemslib 1.6: SSlibKey.from_crypto(<RFC 8032 test 1 public key>).keyid
        let key = PrivateKey::from_seed(&seed(RFC8032[0].0));
        assert_eq!(key.public().key_id().as_str(), "74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916");
        assert_eq!(key.public().key_id().short(), "74c181c7");
    }

    #[test]
    fn pem_round_trip_and_file_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::generate();
        let (private, public) = key.write_pair(&dir.path().join("me")).unwrap();
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(PublicKey::read(&public).unwrap(), key.public());
        let strict = KeyFileOptions::default();
        assert!(PublicKey::read(&private).unwrap_err().to_string().contains("this is a private key"));
        assert_eq!(PublicKey::read_either(&private, strict).unwrap(), (key.public(), true));
        assert_eq!(PublicKey::read_either(&public, strict).unwrap(), (key.public(), false));
        assert_eq!(PrivateKey::read(&private).unwrap().public(), key.public());
        assert!(key.write_pair(&dir.path().join("me")).is_err(), "must not overwrite");
        assert!(PrivateKey::read(&public).unwrap_err().to_string().contains("is a public key"));
        assert!(key.write_pair(&dir.path().join("sub/")).unwrap_err().to_string().contains("is a directory"));
        assert_eq!(format!("{key:?}"), format!("PrivateKey({})", key.public().key_id()));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::testing::bounded_cases(128))]

            #[test]
            fn any_line_width_reads_the_same_key(seed in any::<[u8; 32]>(), width in 1usize..100) {
                let key = PrivateKey::from_seed(&seed);
                let pem = key.public().to_pem();
                let lines: Vec<&str> = pem.lines().collect();
                let body = lines[1..lines.len() - 1].concat();
                let wrapped: Vec<String> =
                    body.as_bytes().chunks(width).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
                let text = format!("{}\n{}\n{}\n", lines[0], wrapped.join("\n"), lines[lines.len() - 1]);
                prop_assert_eq!(PublicKey::from_pem(&text, "k").unwrap(), key.public());
            }

            #[test]
            fn arbitrary_text_never_panics_nor_is_quoted(
                text in "(-----(BEGIN|END) (PRIVATE|PUBLIC) KEY-----\n|[A-Za-z0-9+/=:]{0,70}\n){0,5}"
            ) {
                for err in [PublicKey::from_pem(&text, "k").err(), PrivateKey::from_pem(&text, "k").err()].into_iter().flatten() {
                    let msg = err.to_string();
                    for line in text.lines().filter(|l| l.len() > 12) {
                        prop_assert!(!msg.contains(line), "{} quotes {}", msg, line);
                    }
                }
            }
        }
    }
}

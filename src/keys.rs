//! Ed25519 keys: PKCS#8 PEM private keys, SPKI PEM public keys (both readable by openssl), and
//! securesystemslib-compatible key ids.

use std::fmt;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::json;

use crate::digest::{hex_encode, Sha256Digest};
use crate::error::{Error, IoContext, Result};
use crate::fs::write_atomic;
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

    /// Parses an SPKI PEM (`-----BEGIN PUBLIC KEY-----`); `origin` names the source in errors.
    pub fn from_pem(pem: &str, origin: &str) -> Result<PublicKey> {
        VerifyingKey::from_public_key_pem(pem)
            .map(PublicKey)
            .map_err(|e| Error::invalid(origin, format!("not an Ed25519 SPKI PEM public key ({e})")))
    }

    pub fn to_pem(&self) -> String {
        // Encoding a valid key as SPKI cannot fail: it is a fixed-size DER structure.
        self.0.to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    /// Reads a public key file; a private key file is accepted too (its public half is used).
    pub fn read(path: &Path) -> Result<PublicKey> {
        let text = read_key_text(path)?;
        if text.contains("PRIVATE KEY") {
            return Ok(PrivateKey::from_pem(&text, &path.display().to_string())?.public());
        }
        PublicKey::from_pem(&text, &path.display().to_string())
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

    pub fn from_pem(pem: &str, origin: &str) -> Result<PrivateKey> {
        SigningKey::from_pkcs8_pem(pem)
            .map(PrivateKey)
            .map_err(|e| Error::invalid(origin, format!("not an Ed25519 PKCS#8 PEM private key ({e})")))
    }

    pub fn read(path: &Path) -> Result<PrivateKey> {
        let text = read_key_text(path)?;
        PrivateKey::from_pem(&text, &path.display().to_string())
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// Writes `PREFIX.key` (PKCS#8 PEM, mode 0600) and `PREFIX.pub` (SPKI PEM, 0644).
    /// Refuses to overwrite an existing key file.
    pub fn write_pair(&self, prefix: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
        let private = prefix.with_file_name(file_name_with(prefix, ".key"));
        let public = prefix.with_file_name(file_name_with(prefix, ".pub"));
        for p in [&private, &public] {
            if p.exists() {
                return Err(Error::invalid(p.display(), "already exists; refusing to overwrite a key"));
            }
        }
        // PKCS#8 v1 (no embedded public key): OpenSSL 3.0 cannot read the v2 form.
        let pkcs8 = ed25519_dalek::pkcs8::KeypairBytes { secret_key: self.0.to_bytes(), public_key: None };
        let pem = pkcs8
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::invalid(private.display(), format!("cannot encode key ({e})")))?;
        write_atomic(&private, pem.as_bytes(), 0o600)?;
        write_atomic(&public, self.public().to_pem().as_bytes(), 0o644)?;
        Ok((private, public))
    }
}

fn file_name_with(prefix: &Path, ext: &str) -> String {
    let base = prefix.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{base}{ext}")
}

fn read_key_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).at(path)?;
    String::from_utf8(bytes).map_err(|_| Error::invalid(path.display(), "key file is not PEM text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hex_decode;

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
        assert_eq!(PublicKey::read(&private).unwrap(), key.public());
        assert_eq!(PrivateKey::read(&private).unwrap().public(), key.public());
        assert!(key.write_pair(&dir.path().join("me")).is_err(), "must not overwrite");
        assert!(PrivateKey::read(&public).is_err());
        assert_eq!(format!("{key:?}"), format!("PrivateKey({})", key.public().key_id()));
    }
}

//! Transparency-log formats, implemented exactly as the C2SP specifications and RFC 6962 define
//! them so that independent tools can verify a glassbox log:
//!
//! - [`merkle`]: RFC 6962 leaf and node hashing, tree roots, inclusion and consistency proofs
//!   (produced from stored complete-subtree hashes, verified with the RFC 9162 algorithms);
//! - [`tiles`]: `c2sp.org/tlog-tiles` geometry (tiles of height 8 at `tile/<L>/<N>[.p/<W>]`,
//!   entry bundles at `tile/entries/<N>[.p/<W>]`) and the bundle and tile encodings;
//! - [`note`]: `c2sp.org/signed-note` (text plus `— name base64(key id || signature)` lines) and
//!   `<name>+<key id>+<base64 key>` verifier keys, with Ed25519 signatures;
//! - [`checkpoint`]: `c2sp.org/tlog-checkpoint` bodies (origin, size, root, extension lines) and
//!   `c2sp.org/tlog-cosignature` v1 (timestamped Ed25519) witness cosignatures;
//! - [`proof`]: `c2sp.org/tlog-proof@v1` receipts (index, inclusion proof, signed checkpoint).
//!
//! Nothing here touches the file system or the clock: storage and timestamps are the caller's.

pub mod checkpoint;
pub mod compact;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod tiles;

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

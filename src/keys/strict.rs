//! Tests of formats.md section 6, "Strict Ed25519": one signature built for each class of input
//! that `verify_strict` refuses and a lax Ed25519 verifier (dalek's `verify`, or its batch
//! equation alone) would accept, checked against [`PublicKey::verify`] and [`verify_batch`]
//! (the classes of "Taming the many EdDSAs", Chalkias, Garillot and Nikolaenko, 2020, that can be
//! made without solving a discrete logarithm).

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::Verifier as _;
use sha2::{Digest as _, Sha512};

use super::*;

const MESSAGE: &[u8] = b"glassbox strict Ed25519";

/// `k = SHA-512(R || A || M) mod L`.
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let hash: [u8; 64] = Sha512::new().chain_update(r).chain_update(a).chain_update(message).finalize().into();
    Scalar::from_bytes_mod_order_wide(&hash)
}

fn signature(r: [u8; 32], s: [u8; 32]) -> [u8; 64] {
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r);
    sig[32..].copy_from_slice(&s);
    sig
}

/// What glassbox's two verifiers say, and what dalek's lax single check says.
fn verdicts(key: &PublicKey, sig: &[u8; 64]) -> (bool, bool, bool) {
    let batch = verify_batch(&[BatchItem { message: MESSAGE, signature: *sig, key }]);
    let lax = key.0.verify(MESSAGE, &Signature::from_bytes(sig)).is_ok();
    (key.verify(MESSAGE, sig), batch, lax)
}

/// The signing key's scalar `a`, so that a test can sign with any R it likes: `s = r + k·a`.
fn scalar(key: &PrivateKey) -> Scalar {
    key.0.to_scalar()
}

#[test]
fn spec_s_at_or_above_the_group_order_is_refused() {
    let key = PrivateKey::from_seed(&[5; 32]);
    let good = key.sign(MESSAGE);
    assert_eq!(verdicts(&key.public(), &good), (true, true, true));
    // s + L names the same scalar mod L: a second encoding of a valid signature (malleability).
    let s = Scalar::from_canonical_bytes(good[32..].try_into().unwrap()).unwrap();
    let mut wide = [0u8; 32];
    let mut carry = 0u16;
    // L = 2^252 + 27742317777372353535851937790883648493, little-endian.
    let order = (Scalar::ZERO - Scalar::ONE).to_bytes();
    for i in 0..32 {
        // L - 1 + 1 below: `order` is L - 1, the carry-in of byte 0 adds the 1.
        let sum = u16::from(s.as_bytes()[i]) + u16::from(order[i]) + carry + u16::from(i == 0);
        wide[i] = sum as u8;
        carry = sum >> 8;
    }
    let malleated = signature(good[..32].try_into().unwrap(), wide);
    assert_eq!(verdicts(&key.public(), &malleated), (false, false, false), "s >= L parses in no dalek check");
}

#[test]
fn spec_a_small_order_public_key_is_refused() {
    // With A the identity, [k]A vanishes: R = [s]B "verifies" any message for any s.
    let key = PublicKey::from_bytes(&SMALL_ORDER[0]).unwrap();
    let s = Scalar::from(7u64);
    let sig = signature((s * B).compress().to_bytes(), s.to_bytes());
    assert_eq!(verdicts(&key, &sig), (false, false, true));
    for point in SMALL_ORDER {
        assert!(PublicKey::from_bytes(&point).unwrap().0.is_weak());
    }
}

#[test]
fn spec_a_small_order_or_non_canonical_r_is_refused() {
    let key = PrivateKey::from_seed(&[6; 32]);
    let public = key.public();
    let a = scalar(&key);
    // R is the identity, canonically (01 00…00), as y = p + 1 (ee ff…ff 7f), and as "-0"
    // (01 00…00 80, x = 0 with the sign bit set); s = k·a makes [s]B = R + [k]A hold.
    let mut y_unreduced = [0xff; 32];
    y_unreduced[0] = 0xee;
    y_unreduced[31] = 0x7f;
    let mut minus_zero = SMALL_ORDER[0];
    minus_zero[31] |= 0x80;
    for (r, lax) in [(SMALL_ORDER[0], true), (y_unreduced, false), (minus_zero, false)] {
        assert_eq!(CompressedEdwardsY(r).decompress().unwrap().compress().to_bytes(), SMALL_ORDER[0]);
        let s = challenge(&r, public.as_bytes(), MESSAGE) * a;
        let sig = signature(r, s.to_bytes());
        // dalek's lax check compares R byte for byte, so only the canonical one passes it; its
        // batch equation alone accepts all three (which is why `verify_batch` checks R first).
        assert_eq!(verdicts(&public, &sig), (false, false, lax), "R = {}", hex_encode(&r));
        let batch = ed25519_dalek::verify_batch(&[MESSAGE], &[Signature::from_bytes(&sig)], &[public.0]);
        assert!(batch.is_ok(), "R = {}", hex_encode(&r));
    }
    // The order-2 point (0, -1) as "-0" too.
    let mut minus_one = SMALL_ORDER[1];
    minus_one[31] |= 0x80;
    assert!(non_canonical(&minus_one) && non_canonical(&minus_zero) && non_canonical(&y_unreduced));
}

#[test]
fn spec_non_canonical_point_encodings() {
    // An unreduced y in [p, 2^255) is y - p in [0, 19), with either sign bit. Those that
    // decompress are of small order for y - p = 0 and 1, so a key encoded so is weak and
    // refused; for ten others they are points of large order that nobody knows the discrete
    // logarithm of. `verify_strict` accepts such a key (it hashes A's bytes as given), so does the
    // batch; formats.md section 6 says so.
    let mut small = Vec::new();
    let mut large = Vec::new();
    for j in 0u8..19 {
        for sign in [0u8, 0x80] {
            let mut bytes = [0xff; 32];
            bytes[0] = 0xed + j;
            bytes[31] = 0x7f | sign;
            assert!(non_canonical(&bytes));
            if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                let key = PublicKey::from_bytes(&bytes).unwrap();
                assert_eq!(key.0.is_weak(), point.is_small_order());
                if point.is_small_order() {
                    small.push((j, sign));
                } else {
                    large.push((j, sign));
                }
            }
        }
    }
    let both = |ys: &[u8]| ys.iter().flat_map(|&j| [(j, 0), (j, 0x80)]).collect::<Vec<_>>();
    assert_eq!(small, both(&[0, 1]));
    assert_eq!(large, both(&[3, 4, 5, 6, 9, 10, 14, 15, 16, 18]));
}

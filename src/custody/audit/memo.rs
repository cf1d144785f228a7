//! What the audit's reading of each custody envelope gave (decoded, its signer found among the
//! keys of its role), kept between runs so that a run over a grown log reads only the new
//! entries' envelopes (`glassbox site --state`, docs/site.md). A reading is a pure function of
//! the entry's index, its envelope's bytes (named by the digest its authenticated entry gives)
//! and the keys of the statement's role, which the trust root and the log's policy statements
//! make. So readings are kept with a binding to both ([`binding`]), and a bundle's readings are
//! taken again only when every custody entry of the bundle is the one read before: same index,
//! same envelope digest (and the envelope stored for it still hashes to that digest). Anything
//! else is read again, as a first run would read it.

use serde::{Deserialize, Serialize};

use super::{Named, Outcome};
use crate::attest::custody::{Decision, DecisionKind, Intake, Release, Request};
use crate::custody::policies::{Role, RoleKeys};
use crate::custody::statements::{Custody, Logged};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::policy::{Policy, TrustedKey};
use crate::time::Timestamp;
use crate::tlog::tiles::TILE_WIDTH;
use crate::transparency::store::EnvelopeBundles;
use crate::transparency::LogDir;

/// The readings of a log's custody envelopes, bundle by bundle.
#[derive(Default, Serialize, Deserialize)]
pub struct Readings {
    /// [`binding`] of the trust root and the log's policy statements they were read under.
    binding: [u8; 32],
    /// Bundle `b`'s readings at `b`.
    bundles: Vec<Blob>,
}

/// One bundle's [`BundleReadings`], encoded (MessagePack, fields by position): each is decoded
/// by the core that uses it, and a bundle whose readings were all taken is kept as it was.
#[derive(Clone, Default)]
pub(super) struct Blob(Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Blob, D::Error> {
        struct Bytes;
        impl serde::de::Visitor<'_> for Bytes {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> std::result::Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> std::result::Result<Blob, E> {
                Ok(Blob(v))
            }
        }
        d.deserialize_byte_buf(Bytes)
    }
}

/// The readings of one envelope bundle (`TILE_WIDTH` entries), as read at a log size that
/// ended at `end`.
#[derive(Serialize, Deserialize)]
struct BundleReadings {
    bundle: u64,
    end: u64,
    entries: Vec<Reading>,
}

/// One custody entry (policy statements aside) and what its envelope turned out to be.
#[derive(Serialize, Deserialize)]
struct Reading {
    index: u64,
    envelope: [u8; 32],
    read: Read,
}

#[derive(Serialize, Deserialize)]
enum Read {
    Intake(Head, Intake),
    Request(Head, Request),
    Decision(Head, StoredDecision),
    Release(Head, Release),
    Ignored,
    MalformedRelease(String),
}

/// A decision's predicate, every field always present: the readings are stored by position,
/// and [`Decision`] leaves out an empty `why`.
#[derive(Serialize, Deserialize)]
struct StoredDecision {
    request: String,
    decision: DecisionKind,
    why: String,
    decided_at: String,
}

/// A decoded statement's fields besides its predicate. The signer is named by its place among
/// its role's keys ([`RoleKeys::of`]), which the binding fixes.
#[derive(Serialize, Deserialize)]
struct Head {
    payload: [u8; 32],
    signer: Option<u32>,
    subject: [u8; 32],
    time: i64,
}

/// What readings depend on besides the entries themselves: the trust root (its digest covers its
/// text and every key it trusts) and every policy statement of the log (index and envelope), the
/// keys each role has.
pub fn binding(root: &Policy, named: &[Option<Named>]) -> [u8; 32] {
    let mut bytes = root.digest.0.to_vec();
    for (index, n) in named.iter().enumerate() {
        if let Some(n) = n.filter(|n| n.is_policy) {
            bytes.extend((index as u64).to_be_bytes());
            bytes.extend(n.digest.0);
        }
    }
    Sha256Digest::of(&bytes).0
}

impl Readings {
    /// Readings made under `binding`, bundle `b`'s at `b` ([`encode`], or as [`Readings::bundle`]
    /// kept it).
    pub(super) fn new(binding: [u8; 32], bundles: Vec<Blob>) -> Readings {
        Readings { binding, bundles }
    }

    /// Whether these readings were made under `binding`.
    pub(super) fn bound_to(&self, binding: &[u8; 32]) -> bool {
        self.binding == *binding
    }

    /// The outcomes of bundle `b` known from these readings, for a log of `size` entries whose
    /// custody entries are `named`; the first index they do not cover (the entries of the bundle
    /// from there on are read); and, when they cover the whole bundle, its readings as they are.
    /// Readings cover the bundle up to the end it had when they were made, and only if each of
    /// its custody entries (policy statements aside) is the one read then, in the same place
    /// with the same envelope digest; else none is taken.
    pub(super) fn bundle(
        &self,
        b: u64,
        size: u64,
        named: &[Option<Named>],
        roles: &RoleKeys,
    ) -> (Vec<Outcome>, u64, Option<Blob>) {
        let start = b * TILE_WIDTH;
        let end = (start + TILE_WIDTH).min(size);
        let none = (Vec::new(), start, None);
        let Some(blob) = self.bundles.get(b as usize) else { return none };
        let Ok(kept) = rmp_serde::from_slice::<BundleReadings>(&blob.0) else { return none };
        if kept.bundle != b || kept.end > end {
            return none;
        }
        let custody = (start..kept.end).filter_map(|i| match named.get(i as usize).copied().flatten() {
            Some(n) if !n.is_policy => Some((i, n.digest)),
            _ => None,
        });
        let mut out = Vec::with_capacity(kept.entries.len());
        // Taken by value: the decoded readings become the outcomes, nothing is copied.
        let mut entries = kept.entries.into_iter();
        for (index, digest) in custody {
            match entries.next().filter(|r| r.index == index && r.envelope == digest.0).and_then(|r| outcome(r, roles))
            {
                Some(o) => out.push(o),
                None => return none,
            }
        }
        // A reading of an entry the log does not have as a custody entry: not this log's readings.
        if entries.next().is_some() {
            return none;
        }
        let whole = (kept.end == end).then(|| blob.clone());
        (out, kept.end, whole)
    }
}

/// Bundle `b`'s readings, `outcomes` (all of its custody entries but policy statements, in log
/// order), for a log of `size` entries.
pub(super) fn encode(b: u64, size: u64, outcomes: &[Outcome], roles: &RoleKeys) -> Blob {
    let end = (b * TILE_WIDTH + TILE_WIDTH).min(size);
    let readings = BundleReadings { bundle: b, end, entries: outcomes.iter().map(|o| stored(o, roles)).collect() };
    // Plain data (integers, strings, byte arrays) always encodes.
    Blob(rmp_serde::to_vec(&readings).unwrap_or_default())
}

/// Fails unless each custody envelope of entry bundle `b` before index `from` (policy statements
/// aside) is stored as its entry names it: what `read_bundle` checks of the envelopes it reads,
/// for those whose reading was kept.
pub(super) fn check_kept(
    dir: &LogDir,
    bundles: &EnvelopeBundles,
    (b, from): (u64, u64),
    size: u64,
    named: &[Option<Named>],
) -> Result<()> {
    let start = b * TILE_WIDTH;
    let end = (start + TILE_WIDTH).min(size);
    let lines = bundles.bundle_of(dir, start, size)?;
    for index in start..from.min(end) {
        let Some(Named { digest, is_policy: false }) = named[index as usize] else { continue };
        let line = lines.get((index - start) as usize).map(Vec::as_slice).unwrap_or_default();
        if Sha256Digest::of(line) != digest {
            let bundle = dir.file(&LogDir::envelopes_path(b, end - start));
            return Err(Error::rejected(
                format!("{} (entry {index})", bundle.display()),
                "the stored envelope does not hash to the entry's digest",
            ));
        }
    }
    Ok(())
}

/// The stored form of one outcome.
fn stored(o: &Outcome, roles: &RoleKeys) -> Reading {
    fn head<P>(l: &Logged<P>, role: Role, roles: &RoleKeys) -> Head {
        // The signer is one of its role's keys (the audit looks for it among them), each key
        // once per role: its place names it.
        let signer = l
            .signer
            .as_ref()
            .and_then(|s| roles.of(role).iter().position(|k| k.key.as_bytes() == s.key.as_bytes()).map(|p| p as u32));
        Head { payload: l.payload.0, signer, subject: l.subject.0, time: l.time.0 }
    }
    let (index, envelope, read) = match o {
        Outcome::Decoded(c) => {
            let role = c.role();
            let read = match c {
                Custody::Intake(l) => Read::Intake(head(l, role, roles), l.predicate.clone()),
                Custody::Request(l) => Read::Request(head(l, role, roles), l.predicate.clone()),
                Custody::Decision(l) => {
                    let Decision { request, decision, why, decided_at } = l.predicate.clone();
                    Read::Decision(head(l, role, roles), StoredDecision { request, decision, why, decided_at })
                }
                Custody::Release(l) => Read::Release(head(l, role, roles), l.predicate.clone()),
            };
            (c.index(), c.envelope(), read)
        }
        Outcome::Ignored { index, envelope } => (*index, *envelope, Read::Ignored),
        Outcome::MalformedRelease { index, envelope, detail } => {
            (*index, *envelope, Read::MalformedRelease(detail.clone()))
        }
    };
    Reading { index, envelope: envelope.0, read }
}

/// The outcome a reading stands for; `None` if its signer is not one of its role's keys (a
/// reading made under other keys).
fn outcome(r: Reading, roles: &RoleKeys) -> Option<Outcome> {
    let (index, envelope) = (r.index, Sha256Digest(r.envelope));
    let logged = |h: Head, role: Role| -> Option<(Option<TrustedKey>, Head)> {
        let signer = match h.signer {
            None => None,
            Some(p) => Some((*roles.of(role).get(p as usize)?).clone()),
        };
        Some((signer, h))
    };
    fn with<P>((signer, h): (Option<TrustedKey>, Head), index: u64, envelope: Sha256Digest, predicate: P) -> Logged<P> {
        let (payload, subject, time) = (Sha256Digest(h.payload), Sha256Digest(h.subject), Timestamp(h.time));
        Logged { index, envelope, payload, signer, predicate, subject, time }
    }
    Some(match r.read {
        Read::Intake(h, p) => Outcome::Decoded(Custody::Intake(with(logged(h, Role::Center)?, index, envelope, p))),
        Read::Request(h, p) => {
            Outcome::Decoded(Custody::Request(with(logged(h, Role::Requester)?, index, envelope, p)))
        }
        Read::Decision(h, StoredDecision { request, decision, why, decided_at }) => {
            let p = Decision { request, decision, why, decided_at };
            Outcome::Decoded(Custody::Decision(with(logged(h, Role::Decider)?, index, envelope, p)))
        }
        Read::Release(h, p) => Outcome::Decoded(Custody::Release(with(logged(h, Role::Gateway)?, index, envelope, p))),
        Read::Ignored => Outcome::Ignored { index, envelope },
        Read::MalformedRelease(detail) => Outcome::MalformedRelease { index, envelope, detail },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::custody::Period;

    fn intake(index: u64, digest: Sha256Digest) -> Outcome {
        let predicate = Intake {
            batch_id: "0".repeat(32),
            count: 3,
            period: Period { start: "2026-11-01T00:00:00Z".into(), end: "2026-11-01T01:00:00Z".into() },
            merkle_root: "ab".repeat(32),
            tree: "t".into(),
        };
        let subject = Sha256Digest::of(b"batch");
        let payload = Sha256Digest::of(&index.to_be_bytes());
        let time = Timestamp(1_793_000_000);
        Outcome::Decoded(Custody::Intake(Logged {
            index,
            envelope: digest,
            payload,
            signer: None,
            predicate,
            subject,
            time,
        }))
    }

    /// A log of `size` entries: entry 1 a policy statement, every other odd one not custody's.
    fn named(size: u64) -> Vec<Option<Named>> {
        (0..size)
            .map(|i| match i {
                1 => Some(Named { digest: Sha256Digest::of(b"policy"), is_policy: true }),
                i if i % 2 == 1 => None,
                i => Some(Named { digest: Sha256Digest::of(&i.to_be_bytes()), is_policy: false }),
            })
            .collect()
    }

    fn outcomes(named: &[Option<Named>]) -> Vec<Outcome> {
        let custody = named.iter().enumerate().filter_map(|(i, n)| n.filter(|n| !n.is_policy).map(|n| (i as u64, n)));
        custody
            .map(|(i, n)| match i % 6 {
                0 => intake(i, n.digest),
                2 => Outcome::Ignored { index: i, envelope: n.digest },
                _ => Outcome::MalformedRelease { index: i, envelope: n.digest, detail: format!("bad {i}") },
            })
            .collect()
    }

    #[test]
    fn readings_come_back_only_for_the_entries_they_were_made_of() {
        let roles = RoleKeys::default();
        let small = named(40);
        let read = outcomes(&small);
        let readings = Readings::new([7; 32], vec![encode(0, 40, &read, &roles)]);
        let stored = rmp_serde::to_vec(&readings).unwrap();
        let readings: Readings = rmp_serde::from_slice(&stored).unwrap();
        assert!(readings.bound_to(&[7; 32]) && !readings.bound_to(&[8; 32]));

        // The same log: every outcome, the bundle kept as it is.
        let (same, from, whole) = readings.bundle(0, 40, &small, &roles);
        assert_eq!(format!("{same:?}"), format!("{read:?}"));
        assert_eq!((from, whole.map(|b| b.0)), (40, Some(readings.bundles[0].0.clone())));

        // The log grew within the bundle: the outcomes up to the old end, the rest to be read.
        let grown = named(50);
        let (some, from, whole) = readings.bundle(0, 50, &grown, &roles);
        assert_eq!(format!("{some:?}"), format!("{read:?}"));
        assert_eq!((from, whole.is_none()), (40, true));
        let all = outcomes(&grown);
        let readings = Readings::new([7; 32], vec![encode(0, 50, &all, &roles)]);
        assert_eq!(readings.bundle(0, 50, &grown, &roles).1, 50);

        // Another envelope at one index, a custody entry more or less, a shorter log: none taken.
        let mut other = grown.clone();
        other[4] = Some(Named { digest: Sha256Digest::of(b"another"), is_policy: false });
        let mut more = grown.clone();
        more[3] = Some(Named { digest: Sha256Digest::of(b"3"), is_policy: false });
        let mut fewer = grown.clone();
        fewer[4] = None;
        for (log, size) in [(&other, 50), (&more, 50), (&fewer, 50), (&grown, 45)] {
            let (none, from, whole) = readings.bundle(0, size, log, &roles);
            assert!(none.is_empty() && from == 0 && whole.is_none());
        }
        // No readings of that bundle.
        assert_eq!(readings.bundle(1, 300, &named(300), &roles).1, TILE_WIDTH);
    }
}

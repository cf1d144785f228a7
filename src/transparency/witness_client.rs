//! The log's side of the C2SP tlog-witness protocol: send a signed checkpoint with a consistency
//! proof to a witness's `add-checkpoint` and get back its cosignature. Synchronous (the HTTP
//! runs on [`crate::remote`]'s private runtime), so a log service can call it from a plain
//! thread. A witness is a remote and possibly hostile peer: its answer is read within bounds,
//! and a cosignature is returned only once it verifies for the configured witness key over
//! exactly the checkpoint sent; cosignatures by other keys in the answer are ignored.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::store::LogDir;
use crate::error::{Error, Result};
use crate::remote::http::{post_blocking, Response};
use crate::tlog::checkpoint::{parse_decimal, verify_cosignature, Checkpoint};
use crate::tlog::merkle;
use crate::tlog::note::{Note, NoteVerifier};
use crate::tlog::Hash;

/// The largest answer read from a witness: cosignature lines or an error line.
pub const MAX_ANSWER: u64 = 64 << 10;
/// The most proof lines the protocol allows.
const MAX_PROOF_LINES: usize = 63;

/// What a witness said to an `add-checkpoint` that it did not refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WitnessAnswer {
    /// The witness's cosignature line(s), each ending in a newline, verified for the witness key
    /// over exactly the checkpoint sent: ready to append to the checkpoint's note.
    Cosigned(String),
    /// 409 with `text/x.tlog.size`: the last checkpoint the witness cosigned for this log has
    /// `latest` entries, not the old size sent. Send again with a proof from `latest`.
    Conflict { latest: u64 },
}

/// POSTs `checkpoint_note` (a signed checkpoint) to `<url>/add-checkpoint` (`url` is the
/// witness's submission prefix) with `old <old_size>` and the consistency `proof` from that
/// size. Every answer other than a verified cosignature or a size conflict is an error naming
/// the URL, the status and the start of the body: 403, 404, 409 (a fork) and 422 are the
/// witness's "no" (exit 1); anything else is a failure to get an answer (exit 2).
pub fn add_checkpoint(
    url: &str,
    witness: &NoteVerifier,
    checkpoint_note: &[u8],
    old_size: u64,
    proof: &[Hash],
    timeout: Duration,
) -> Result<WitnessAnswer> {
    let (note, checkpoint) = read_note(checkpoint_note)?;
    if old_size > checkpoint.size {
        return Err(Error::invalid(
            format!("old size {old_size}"),
            format!("is larger than the checkpoint's size {}", checkpoint.size),
        ));
    }
    if proof.len() > MAX_PROOF_LINES {
        return Err(Error::invalid("consistency proof", format!("has {} hashes (at most 63)", proof.len())));
    }
    let mut body = format!("old {old_size}\n");
    for hash in proof {
        body.push_str(&STANDARD.encode(hash));
        body.push('\n');
    }
    body.push('\n');
    let mut body = body.into_bytes();
    body.extend_from_slice(checkpoint_note);
    let endpoint = format!("{}/add-checkpoint", url.trim_end_matches('/'));
    let response = post_blocking(&endpoint, "text/plain; charset=utf-8", body, MAX_ANSWER, timeout)?;
    interpret(&endpoint, &note, witness, &response)
}

/// Gets `witness`'s cosignature of `checkpoint_note`, the log at `log`'s current checkpoint:
/// sends it with a proof from `old_size` (what the log believes the witness last cosigned; 0
/// when it does not know), and after a 409 naming another size, once more with a proof from
/// that size, computed from the log's tiles (authenticated against the checkpoint's root
/// first). Returns the verified cosignature line(s) to append to the note.
pub fn request_cosignature(
    url: &str,
    witness: &NoteVerifier,
    log: &LogDir,
    checkpoint_note: &[u8],
    old_size: u64,
    timeout: Duration,
) -> Result<String> {
    let (_, checkpoint) = read_note(checkpoint_note)?;
    let (mut old, mut retried) = (old_size, false);
    loop {
        let proof = consistency_proof(log, old, &checkpoint)?;
        match add_checkpoint(url, witness, checkpoint_note, old, &proof, timeout)? {
            WitnessAnswer::Cosigned(lines) => return Ok(lines),
            WitnessAnswer::Conflict { latest } if latest > checkpoint.size => {
                return Err(Error::rejected(
                    url,
                    format!(
                        "the witness has cosigned size {latest} of {}, more than this checkpoint's {}: it has seen a \
                         larger tree",
                        checkpoint.origin, checkpoint.size
                    ),
                ));
            }
            WitnessAnswer::Conflict { latest } if !retried && latest != old => (old, retried) = (latest, true),
            WitnessAnswer::Conflict { latest } => {
                return Err(Error::invalid(
                    url,
                    format!("the witness answered 409 again (its latest size {latest}, sent {old}); try later"),
                ));
            }
        }
    }
}

/// The RFC 6962 consistency proof from `old` entries to `new`'s tree, read from the log's
/// tiles once they are shown to be `new`'s tree (empty when `old` is 0 or `new`'s size).
pub fn consistency_proof(log: &LogDir, old: u64, new: &Checkpoint) -> Result<Vec<Hash>> {
    if old > new.size {
        return Err(Error::invalid(format!("old size {old}"), format!("is larger than the checkpoint's {}", new.size)));
    }
    if old == 0 || old == new.size {
        return Ok(Vec::new());
    }
    let tree = log.tree(new.size);
    if merkle::root(&tree, new.size)? != new.root {
        return Err(Error::rejected(
            log.root.display(),
            format!("its tiles are not the tree of the checkpoint (size {})", new.size),
        ));
    }
    merkle::consistency_proof(&tree, old, new.size)
}

fn read_note(bytes: &[u8]) -> Result<(Note, Checkpoint)> {
    let note = Note::parse(bytes)?;
    let checkpoint = Checkpoint::parse(&note.text)?;
    Ok((note, checkpoint))
}

/// The witness's answer, judged.
fn interpret(endpoint: &str, note: &Note, witness: &NoteVerifier, response: &Response) -> Result<WitnessAnswer> {
    let media_type = response.content_type.as_deref().map(|t| t.split(';').next().unwrap_or("").trim());
    let refused = |what: &str| format!("{what} ({}): {}", response.status, response.body_summary());
    match response.status {
        200 => cosignature_lines(endpoint, note, witness, &response.body).map(WitnessAnswer::Cosigned),
        409 if media_type.is_some_and(|t| t.eq_ignore_ascii_case("text/x.tlog.size")) => {
            let latest = std::str::from_utf8(&response.body)
                .ok()
                .and_then(|text| text.strip_suffix('\n'))
                .and_then(parse_decimal)
                .ok_or_else(|| Error::invalid(endpoint, refused("a 409 whose body is not a size and a newline")))?;
            Ok(WitnessAnswer::Conflict { latest })
        }
        409 => Err(Error::rejected(endpoint, refused("the witness refused the checkpoint as a fork"))),
        403 => Err(Error::rejected(endpoint, refused("the witness found no valid log signature"))),
        404 => Err(Error::rejected(endpoint, refused("the witness does not witness this log"))),
        422 => Err(Error::rejected(endpoint, refused("the witness refused the consistency proof"))),
        status => Err(Error::invalid(endpoint, refused(&format!("the witness answered HTTP {status}")))),
    }
}

/// The lines of a 200 answer that are `witness`'s cosignatures, each verified over exactly the
/// checkpoint text; lines of other keys are dropped. At least one must be there.
fn cosignature_lines(endpoint: &str, note: &Note, witness: &NoteVerifier, body: &[u8]) -> Result<String> {
    let bad = |reason: &str| Error::rejected(endpoint, format!("the witness's answer {reason}"));
    let text = std::str::from_utf8(body).map_err(|_| bad("is not UTF-8"))?;
    if text.is_empty() || !text.ends_with('\n') || text.contains("\n\n") {
        return Err(bad("is not signature lines each ending in a newline"));
    }
    // The answer's lines under the checkpoint's text alone: only what this witness sent counts.
    let answer = Note::parse(format!("{}\n{text}", note.text).as_bytes())
        .map_err(|e| bad(&format!("is not signature lines ({e})")))?;
    let lines: String = answer.signatures.iter().filter(|s| witness.matches(s)).map(|s| s.to_line()).collect();
    if lines.is_empty() {
        return Err(bad(&format!("holds no cosignature by {}", witness.name)));
    }
    if verify_cosignature(&answer, witness).is_none() {
        return Err(bad(&format!("holds a cosignature by {} that does not verify over this checkpoint", witness.name)));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;
    use crate::tlog::checkpoint::cosign;

    fn setup() -> (Note, NoteVerifier, PrivateKey) {
        let log_key = PrivateKey::from_seed(&[1; 32]);
        let checkpoint = Checkpoint { origin: "example.org/log".into(), size: 3, root: [7; 32], extensions: vec![] };
        let witness_key = PrivateKey::from_seed(&[2; 32]);
        (
            checkpoint.sign(&log_key).unwrap(),
            NoteVerifier::cosignature_v1("w.example", &witness_key.public()),
            witness_key,
        )
    }

    fn response(status: u16, content_type: &str, body: &str) -> Response {
        Response { status, retry_after: None, content_type: Some(content_type.into()), body: body.as_bytes().to_vec() }
    }

    #[test]
    fn only_a_verified_cosignature_by_the_witness_is_returned() {
        let (note, witness, key) = setup();
        let ours = cosign(&note.text, "w.example", &key, 1_700_000_000).to_line();
        let stranger = cosign(&note.text, "other.example", &PrivateKey::from_seed(&[3; 32]), 5).to_line();
        let answer = interpret("u", &note, &witness, &response(200, "text/plain", &format!("{stranger}{ours}")));
        assert_eq!(answer.unwrap(), WitnessAnswer::Cosigned(ours.clone()));
        // Over another checkpoint text, by another key under the same name, missing, malformed.
        let other_text = note.text.replace('3', "4");
        let elsewhere = cosign(&other_text, "w.example", &key, 1).to_line();
        let impostor = cosign(&note.text, "w.example", &PrivateKey::from_seed(&[4; 32]), 1).to_line();
        for body in [elsewhere.as_str(), &stranger, "", "garbage\n", &ours[..ours.len() - 1], &format!("{ours}\n")] {
            let err = interpret("u", &note, &witness, &response(200, "text/plain", body)).unwrap_err();
            assert_eq!(err.exit_code(), 1, "{body:?}: {err}");
        }
        // An impostor's line has another key id: ignored, so nothing of ours is there.
        assert!(interpret("u", &note, &witness, &response(200, "text/plain", &impostor)).is_err());
    }

    #[test]
    fn statuses_map_to_answers_and_errors() {
        let (note, witness, _) = setup();
        let conflict = interpret("u", &note, &witness, &response(409, "text/x.tlog.size", "12\n")).unwrap();
        assert_eq!(conflict, WitnessAnswer::Conflict { latest: 12 });
        for bad in ["12", "012\n", "x\n", ""] {
            assert!(interpret("u", &note, &witness, &response(409, "text/x.tlog.size", bad)).is_err(), "{bad:?}");
        }
        let fork = interpret("u", &note, &witness, &response(409, "text/plain", "a fork\n")).unwrap_err();
        assert_eq!(fork.exit_code(), 1);
        assert!(fork.to_string().contains("409") && fork.to_string().contains("a fork"), "{fork}");
        for (status, code) in [(403, 1), (404, 1), (422, 1), (400, 2), (500, 2), (301, 2)] {
            let err = interpret("http://w", &note, &witness, &response(status, "text/plain", "why\n")).unwrap_err();
            assert_eq!(err.exit_code(), code, "{status}");
            assert!(err.to_string().contains("http://w") && err.to_string().contains("why"), "{err}");
        }
    }
}

//! `glassbox witness serve`: the C2SP tlog-witness protocol (`POST /add-checkpoint`). A log sends
//! `old <size>`, the consistency proof lines from that size, a blank line and its signed
//! checkpoint; the witness answers with its tlog-cosignature/v1 line only if the checkpoint is
//! signed by a key configured for its origin and extends the checkpoint it cosigned last for
//! that origin (the same rule as `glassbox log cosign`, [`check_extends`]). The state is
//! durable before the answer leaves ([`super::witness_state`]).
//!
//! Status codes are the spec's: 400 malformed (or `old` above the checkpoint's size), 403 no
//! valid signature by a configured log key, 404 unknown origin, 409 `old` is not the latest
//! cosigned size (body: that size and a newline, `Content-Type: text/x.tlog.size`), 409 the same
//! size with another root (a fork; a plain-text body), 422 a consistency proof that does not
//! verify; and 413 a body over [`MAX_BODY`], 408 a body not received within the deadline.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt;

use super::witness_state::{Latest, WitnessState};
use super::Limits;
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::time::Timestamp;
use crate::tlog::checkpoint::{decode_hash, parse_decimal, Checkpoint};
use crate::tlog::merkle::EMPTY_ROOT;
use crate::tlog::note::{is_valid_key_name, Note, NoteVerifier, ALG_ED25519};
use crate::tlog::Hash;
use crate::transparency::witness::{check_extends, cosignature, witness_verifier, Refusal};

/// The largest request body: the old size, the proof and the signed checkpoint.
pub const MAX_BODY: usize = 1 << 20;
/// The most consistency proof lines a request may carry (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;
/// The content type of a 409 answer that carries the witness's latest size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// The content type of every other answer: cosignature lines, or one line naming the fault.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// A request body must arrive within this time.
const BODY_DEADLINE: Duration = Duration::from_secs(10);
const LIMITS: Limits =
    Limits { max_connections: 128, per_client: 16, idle: Duration::from_secs(15), lifetime: Duration::from_secs(60) };

/// The wall clock, passed in by the caller (the library reads no clock).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;
/// Where the service reports what it did, one line per request (the library never prints).
pub type Report = Arc<dyn Fn(&str) + Send + Sync>;

/// How a witness is set up.
pub struct WitnessConfig {
    /// The witness's name in its cosignature lines.
    pub name: String,
    pub key: PrivateKey,
    /// The SQLite state file (created if missing).
    pub state: PathBuf,
    /// The logs it witnesses: (origin, a plain Ed25519 verifier key of the log); an origin may
    /// have several keys.
    pub logs: Vec<(String, NoteVerifier)>,
    pub clock: Clock,
    pub report: Report,
}

/// A witness, ready to answer requests from any number of threads.
pub struct Witness {
    name: String,
    key: PrivateKey,
    verifier: NoteVerifier,
    logs: BTreeMap<String, Vec<NoteVerifier>>,
    state: Mutex<WitnessState>,
    clock: Clock,
    report: Report,
}

/// An HTTP answer: status, content type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    /// A plain-text answer naming the fault in one line (at most 500 characters of it).
    fn fault(status: u16, reason: impl std::fmt::Display) -> Reply {
        let line: String = reason.to_string().chars().map(|c| if c.is_control() { ' ' } else { c }).take(500).collect();
        Reply { status, content_type: TEXT_CONTENT_TYPE, body: format!("{line}\n") }
    }
}

/// A parsed `add-checkpoint` body.
struct AddCheckpoint {
    old: u64,
    proof: Vec<Hash>,
    /// The signed checkpoint as submitted.
    note_text: String,
    note: Note,
    checkpoint: Checkpoint,
}

/// Reads `old N\n`, up to [`MAX_PROOF_LINES`] base64 hashes each on its line, an empty line,
/// then a signed checkpoint note; the reason when it is not that.
fn parse_request(body: &[u8]) -> std::result::Result<AddCheckpoint, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let (first, mut rest) = text.split_once('\n').ok_or("the body has no old size line")?;
    let old = first
        .strip_prefix("old ")
        .and_then(parse_decimal)
        .ok_or("the first line is not \"old <size>\" (a decimal without leading zeros)")?;
    let mut proof = Vec::new();
    loop {
        let (line, after) = rest.split_once('\n').ok_or("no empty line ends the consistency proof")?;
        rest = after;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err(format!("more than {MAX_PROOF_LINES} consistency proof lines"));
        }
        proof.push(decode_hash(line).ok_or(format!("proof line {} is not the base64 of 32 bytes", proof.len() + 1))?);
    }
    let note = Note::parse(rest.as_bytes()).map_err(|e| format!("the checkpoint is not a signed note: {e}"))?;
    let checkpoint = Checkpoint::parse(&note.text).map_err(|e| format!("the note is not a checkpoint: {e}"))?;
    Ok(AddCheckpoint { old, proof, note_text: rest.to_string(), note, checkpoint })
}

impl Witness {
    /// Checks the name and the log keys and opens (or creates) the state.
    pub fn open(config: WitnessConfig) -> Result<Witness> {
        let verifier = witness_verifier(&config.name, &config.key.public())?;
        let mut logs: BTreeMap<String, Vec<NoteVerifier>> = BTreeMap::new();
        for (origin, key) in config.logs {
            if !is_valid_key_name(&origin) {
                return Err(Error::invalid(format!("log origin {origin:?}"), "cannot be a checkpoint's origin line"));
            }
            if key.alg != ALG_ED25519 {
                return Err(Error::invalid(
                    format!("the key of log {origin:?}"),
                    "is not a log's Ed25519 verifier key (type 0x01)",
                ));
            }
            logs.entry(origin).or_default().push(key);
        }
        if logs.is_empty() {
            return Err(Error::invalid("--log", "a witness needs at least one log (ORIGIN=VKEY)"));
        }
        let state = Mutex::new(WitnessState::open(&config.state)?);
        Ok(Witness {
            name: config.name,
            key: config.key,
            verifier,
            logs,
            state,
            clock: config.clock,
            report: config.report,
        })
    }

    /// The witness's cosignature verifier key, to give to the logs it witnesses.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// Answers one `add-checkpoint` request body.
    pub fn add_checkpoint(&self, body: &[u8]) -> Reply {
        let request = match parse_request(body) {
            Ok(request) => request,
            Err(reason) => return Reply::fault(400, reason),
        };
        let origin = &request.checkpoint.origin;
        let Some(keys) = self.logs.get(origin) else {
            return Reply::fault(404, format!("this witness does not witness the log {origin:?}"));
        };
        if !keys.iter().any(|key| request.note.verified_by(key)) {
            return Reply::fault(403, format!("the checkpoint has no valid signature by a key of the log {origin:?}"));
        }
        if request.old > request.checkpoint.size {
            return Reply::fault(
                400,
                format!("old size {} is larger than the checkpoint's size {}", request.old, request.checkpoint.size),
            );
        }
        match self.decide(&request) {
            Ok(reply) => reply,
            Err(e) => {
                (self.report)(&format!("error: {origin}: {e}"));
                Reply::fault(500, "the witness could not record its state; nothing was cosigned")
            }
        }
    }

    /// The checks against the state and the update, in one transaction.
    fn decide(&self, request: &AddCheckpoint) -> Result<Reply> {
        let checkpoint = &request.checkpoint;
        let origin = &checkpoint.origin;
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = state.transaction()?;
        let latest = tx.latest(origin)?;
        let (size, root) = latest.as_ref().map_or((0, EMPTY_ROOT), |l| (l.size, l.root));
        if request.old != size {
            (self.report)(&format!("conflict: {origin}: old size {} is not {size}", request.old));
            return Ok(Reply { status: 409, content_type: SIZE_CONTENT_TYPE, body: format!("{size}\n") });
        }
        let now = u64::try_from((self.clock)().0).unwrap_or(0);
        if let Err(refusal) = check_extends(size, &root, checkpoint, &request.proof) {
            let (status, reason, message) = match refusal {
                Refusal::Fork { .. } => (409, "fork", refusal.to_string()),
                // A wrong proof may be the client's mistake as well as a rewritten log.
                Refusal::Inconsistent { old, new } | Refusal::Smaller { old, new } => (
                    422,
                    "inconsistent",
                    format!(
                        "the consistency proof from size {old} to {new} does not verify against the root this \
                         witness cosigned at size {old}"
                    ),
                ),
            };
            // Signed by the log key: evidence worth keeping, whatever the client meant.
            tx.keep_refused(origin, checkpoint.size, reason, &request.note_text, now)?;
            tx.commit()?;
            (self.report)(&format!("refused: {origin}: {message}"));
            return Ok(Reply::fault(status, message));
        }
        // A cosignature never claims an earlier time than the last one for this log.
        let at = now.max(latest.as_ref().map_or(0, |l| l.cosigned_at)).min(i64::MAX as u64);
        let line = cosignature(&request.note.text, &self.name, &self.key, Timestamp(at as i64))?.to_line();
        let new = Latest { size: checkpoint.size, root: checkpoint.root, cosigned_at: at };
        tx.advance(origin, latest.as_ref(), &new, &request.note_text)?;
        tx.commit()?;
        (self.report)(&format!("cosigned: {origin} at size {} (old size {size})", checkpoint.size));
        Ok(Reply { status: 200, content_type: TEXT_CONTENT_TYPE, body: line })
    }
}

/// Serves `witness` on `listen` until SIGTERM or SIGINT; `on_listening` learns the bound address.
pub fn serve(
    witness: Witness,
    listen: SocketAddr,
    on_listening: &mut dyn FnMut(SocketAddr) -> Result<()>,
) -> Result<()> {
    super::serve(router(Arc::new(witness)), listen, LIMITS, std::future::pending(), on_listening)
}

/// `POST /add-checkpoint`; anything else is 404 (or 405 for another method on that path).
pub fn router(witness: Arc<Witness>) -> axum::Router {
    axum::Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .fallback(|| async { into_response(Reply::fault(404, "no such endpoint (POST /add-checkpoint)")) })
        .with_state(witness)
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, request: Request) -> Response {
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return into_response(Reply::fault(413, format!("the body is larger than {MAX_BODY} bytes")));
    }
    let body = match read_body(request.into_body()).await {
        Ok(body) => body,
        Err(reply) => return into_response(reply),
    };
    // SQLite and signing block: off the async workers.
    match tokio::task::spawn_blocking(move || witness.add_checkpoint(&body)).await {
        Ok(reply) => into_response(reply),
        Err(_) => into_response(Reply::fault(500, "the request failed")),
    }
}

/// The body, at most [`MAX_BODY`] bytes, all received within [`BODY_DEADLINE`].
async fn read_body(body: axum::body::Body) -> std::result::Result<Vec<u8>, Reply> {
    let deadline = tokio::time::Instant::now() + BODY_DEADLINE;
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(Reply::fault(408, format!("the body did not arrive within {BODY_DEADLINE:?}"))),
            Ok(None) => return Ok(bytes),
            Ok(Some(Err(e))) => return Err(Reply::fault(400, format!("reading the body failed: {e}"))),
            Ok(Some(Ok(chunk))) => {
                if bytes.len() + chunk.len() > MAX_BODY {
                    return Err(Reply::fault(413, format!("the body is larger than {MAX_BODY} bytes")));
                }
                bytes.extend_from_slice(&chunk);
            }
        }
    }
}

fn into_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, reply.content_type)], reply.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::merkle::{self, MemoryTree};

    const ORIGIN: &str = "example.org/log";

    fn tree(tag: u8, size: u64) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for i in 0..size {
            tree.push(merkle::leaf_hash(&[tag, i as u8, (i >> 8) as u8]));
        }
        tree
    }

    fn signed(tree: &MemoryTree, key: &PrivateKey) -> String {
        let checkpoint = Checkpoint { origin: ORIGIN.into(), size: tree.size(), root: tree.root(), extensions: vec![] };
        String::from_utf8(checkpoint.sign(key).unwrap().to_bytes()).unwrap()
    }

    fn body(old: u64, proof: &[Hash], note: &str) -> Vec<u8> {
        use base64::Engine as _;
        let mut text = format!("old {old}\n");
        for hash in proof {
            text.push_str(&base64::engine::general_purpose::STANDARD.encode(hash));
            text.push('\n');
        }
        format!("{text}\n{note}").into_bytes()
    }

    fn witness(state: &std::path::Path, log_key: &PrivateKey, now: i64) -> Witness {
        Witness::open(WitnessConfig {
            name: "witness.example/w1".into(),
            key: PrivateKey::from_seed(&[9; 32]),
            state: state.to_path_buf(),
            logs: vec![(ORIGIN.into(), NoteVerifier::ed25519(ORIGIN, &log_key.public()))],
            clock: Arc::new(move || Timestamp(now)),
            report: Arc::new(|_| {}),
        })
        .unwrap()
    }

    /// The cosignature in a 200 answer verifies over exactly the submitted checkpoint.
    fn cosigned_at(w: &Witness, note: &str, reply: &Reply) -> u64 {
        assert_eq!((reply.status, reply.content_type), (200, TEXT_CONTENT_TYPE), "{reply:?}");
        let note = Note::parse(format!("{note}{}", reply.body).as_bytes()).unwrap();
        crate::tlog::checkpoint::verify_cosignature(&note, w.verifier()).unwrap()
    }

    #[test]
    fn the_spec_statuses() {
        let dir = tempfile::tempdir().unwrap();
        let log_key = PrivateKey::from_seed(&[1; 32]);
        let w = witness(&dir.path().join("state"), &log_key, 1_700_000_000);
        let (t10, t20) = (tree(0, 10), tree(0, 20));
        let (n10, n20) = (signed(&t10, &log_key), signed(&t20, &log_key));
        // First checkpoint: old 0, no proof.
        assert_eq!(cosigned_at(&w, &n10, &w.add_checkpoint(&body(0, &[], &n10))), 1_700_000_000);
        // Stale old size: 409 with the latest size.
        let stale = w.add_checkpoint(&body(0, &[], &n20));
        assert_eq!((stale.status, stale.content_type, stale.body.as_str()), (409, SIZE_CONTENT_TYPE, "10\n"));
        // A wrong proof: 422; the right one: 200.
        let proof = merkle::consistency_proof(&t20, 10, 20).unwrap();
        let mut bad = proof.clone();
        bad[0][0] ^= 1;
        assert_eq!(w.add_checkpoint(&body(10, &bad, &n20)).status, 422);
        cosigned_at(&w, &n20, &w.add_checkpoint(&body(10, &proof, &n20)));
        // The same checkpoint again (a retry after a crash) is cosigned again.
        cosigned_at(&w, &n20, &w.add_checkpoint(&body(20, &[], &n20)));
        // A second history of the same size, signed by the log key: a fork, 409 in plain text.
        let fork = signed(&tree(1, 20), &log_key);
        let refused = w.add_checkpoint(&body(20, &[], &fork));
        assert_eq!((refused.status, refused.content_type), (409, TEXT_CONTENT_TYPE), "{refused:?}");
        assert!(refused.body.contains("forked"), "{refused:?}");
        // Its growth does not extend what was cosigned.
        let (f30, fork30) = (tree(1, 30), signed(&tree(1, 30), &log_key));
        let fork_proof = merkle::consistency_proof(&f30, 20, 30).unwrap();
        assert_eq!(w.add_checkpoint(&body(20, &fork_proof, &fork30)).status, 422);
        // old above the size: 400; an unknown origin: 404; another key: 403.
        assert_eq!(w.add_checkpoint(&body(30, &[], &n20)).status, 400);
        let stranger = PrivateKey::from_seed(&[2; 32]);
        assert_eq!(w.add_checkpoint(&body(20, &[], &signed(&t20, &stranger))).status, 403);
        let other = Checkpoint { origin: "other.example/log".into(), size: 1, root: [0; 32], extensions: vec![] };
        let other = String::from_utf8(other.sign(&log_key).unwrap().to_bytes()).unwrap();
        assert_eq!(w.add_checkpoint(&body(0, &[], &other)).status, 404);
        // After all that, the state is still size 20 of the true history.
        assert_eq!(w.add_checkpoint(&body(0, &[], &n20)).body, "20\n");
    }

    #[test]
    fn the_state_survives_and_time_never_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let log_key = PrivateKey::from_seed(&[1; 32]);
        let n5 = signed(&tree(0, 5), &log_key);
        let w = witness(&state, &log_key, 2_000);
        cosigned_at(&w, &n5, &w.add_checkpoint(&body(0, &[], &n5)));
        drop(w);
        // A clock set back: the cosignature keeps the time of the last one.
        let w = witness(&state, &log_key, 1_000);
        assert_eq!(cosigned_at(&w, &n5, &w.add_checkpoint(&body(5, &[], &n5))), 2_000);
        assert_eq!(w.add_checkpoint(&body(0, &[], &n5)).body, "5\n");
    }

    #[test]
    fn malformed_bodies_are_400() {
        let dir = tempfile::tempdir().unwrap();
        let log_key = PrivateKey::from_seed(&[1; 32]);
        let w = witness(&dir.path().join("state"), &log_key, 0);
        let note = signed(&tree(0, 3), &log_key);
        let hash = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let too_many = format!("old 1\n{}\n{note}", format!("{hash}\n").repeat(64));
        for bad in [
            String::new(),
            format!("old 01\n\n{note}"),
            format!("old -1\n\n{note}"),
            format!("Old 0\n\n{note}"),
            format!("old 0\n{note}"),
            format!("old 0\nnot base64\n\n{note}"),
            format!("old 0\n\n{}", note.replace('\u{2014}', "-")),
            "old 0\n\nexample.org/log\n3\n\n".to_string(),
            too_many,
        ] {
            let reply = w.add_checkpoint(bad.as_bytes());
            assert_eq!(reply.status, 400, "{bad:?}: {reply:?}");
            assert!(reply.body.ends_with('\n') && reply.body.len() <= 501 * 4, "{reply:?}");
        }
        assert_eq!(w.add_checkpoint(&[0xff, b'\n']).status, 400);
    }

    #[test]
    fn configuration_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let log_key = PrivateKey::from_seed(&[1; 32]);
        let config = |name: &str, logs: Vec<(String, NoteVerifier)>| WitnessConfig {
            name: name.into(),
            key: PrivateKey::from_seed(&[9; 32]),
            state: dir.path().join("state"),
            logs,
            clock: Arc::new(|| Timestamp(0)),
            report: Arc::new(|_| {}),
        };
        let log = NoteVerifier::ed25519(ORIGIN, &log_key.public());
        assert!(Witness::open(config("a b", vec![(ORIGIN.into(), log.clone())])).is_err());
        assert!(Witness::open(config("w", vec![])).is_err());
        assert!(Witness::open(config("w", vec![("a+b".into(), log.clone())])).is_err());
        let cosigner = NoteVerifier::cosignature_v1(ORIGIN, &log_key.public());
        assert!(Witness::open(config("w", vec![(ORIGIN.into(), cosigner)])).is_err());
        let w = Witness::open(config("w", vec![(ORIGIN.into(), log)])).unwrap();
        assert_eq!(
            w.verifier().to_string(),
            NoteVerifier::cosignature_v1("w", &PrivateKey::from_seed(&[9; 32]).public()).to_string()
        );
    }
}

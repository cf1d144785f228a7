//! `glassbox witness serve`: the C2SP tlog-witness protocol against the real process on
//! loopback, driven by the log's client (`transparency::witness_client`) and by raw requests.
//! The witness cosigns a log as it grows, answers the spec's status codes, refuses a second
//! history signed by the log key, and keeps its state across a SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use glassbox::remote::http::{post_blocking, Response};
use glassbox::tlog::checkpoint::{verify_cosignature, Checkpoint};
use glassbox::tlog::note::{Note, NoteVerifier};
use glassbox::transparency::witness_client::{self, add_checkpoint, request_cosignature, WitnessAnswer};
use glassbox::transparency::LogDir;

use crate::log::{append_ok, envelopes, new_log, ORIGIN};
use crate::support::*;

const NAME: &str = "witness.example/w1";
const TIMEOUT: Duration = Duration::from_secs(20);

/// A running `glassbox witness serve`, killed (by its PID) when dropped.
pub(crate) struct Served {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    pub url: String,
    /// The verifier key it printed.
    pub vkey: NoteVerifier,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Stops it with SIGTERM (by PID); it must exit 0.
    fn stop(mut self) {
        ok(Command::new("kill").args(["-TERM", &self.child.id().to_string()]));
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "witness exited with {status}");
    }

    fn post(&self, body: Vec<u8>) -> Response {
        post_blocking(&format!("{}/add-checkpoint", self.url), "text/plain", body, 1 << 16, TIMEOUT).unwrap()
    }
}

/// The witness's files: its key pair and state, and where its stderr goes.
pub(crate) struct Setup {
    pub dir: PathBuf,
    pub key: PathBuf,
    pub public: PathBuf,
    pub state: PathBuf,
}

pub(crate) fn setup(dir: &Path) -> Setup {
    let (key, public) = keypair(dir, "witness");
    Setup { dir: dir.to_path_buf(), key, public, state: dir.join("witness-state.db") }
}

/// Starts the witness on a free loopback port for the logs `ORIGIN=VKEY`.
pub(crate) fn serve(s: &Setup, logs: &[String]) -> Served {
    serve_as(s, NAME, logs)
}

/// [`serve`] under the witness name `name`.
pub(crate) fn serve_as(s: &Setup, name: &str, logs: &[String]) -> Served {
    let stderr = tempfile::Builder::new().prefix("witness-stderr").tempfile_in(&s.dir).unwrap().keep().unwrap().1;
    let mut cmd = glassbox();
    cmd.args(["witness", "serve", "--key"]).arg(&s.key).args(["--name", name, "--state"]).arg(&s.state);
    cmd.args(["--listen", "127.0.0.1:0"]);
    for log in logs {
        cmd.args(["--log", log]);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(std::fs::File::create(&stderr).unwrap()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = |what: &str| {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let _ = child.wait();
            panic!("the witness exited before printing {what}: {}", std::fs::read_to_string(&stderr).unwrap());
        }
        line.trim_end().to_string()
    };
    let key_line = line("its key");
    let listening = line("its address");
    let vkey = NoteVerifier::parse(key_line.strip_prefix("witness key ").unwrap()).unwrap();
    let url = listening.strip_prefix("listening on ").unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    Served { child, _stdout: stdout, url, vkey }
}

fn checkpoint_of(log: &Path) -> (Vec<u8>, Checkpoint) {
    let bytes = std::fs::read(log.join("checkpoint")).unwrap();
    let note = Note::parse(&bytes).unwrap();
    (bytes, Checkpoint::parse(&note.text).unwrap())
}

/// Appends `count` envelopes numbered from `first` to the log.
fn grow(log: &Path, key: &Path, first: usize, count: usize) {
    let file = log.with_extension(format!("{first}.jsonl"));
    envelopes(&file, first, count);
    append_ok(log, key, &file);
}

/// Checks the cosignature lines independently of the client, then writes them into the log's
/// checkpoint, as the log service will.
fn publish(log: &Path, witness: &NoteVerifier, lines: &str) {
    let (bytes, _) = checkpoint_of(log);
    let cosigned = [bytes, lines.as_bytes().to_vec()].concat();
    assert!(verify_cosignature(&Note::parse(&cosigned).unwrap(), witness).is_some(), "{lines}");
    std::fs::write(log.join("checkpoint"), cosigned).unwrap();
}

fn verify_witnessed(log: &Path, vkey: &str, witness: &NoteVerifier) -> std::process::Output {
    output(glassbox().args(["log", "verify"]).arg(log).args(["--vkey", vkey]).args([
        "--witness",
        &witness.to_string(),
        "--witness-threshold",
        "1",
    ]))
}

#[test]
fn a_witness_service_cosigns_a_log_as_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let s = setup(dir.path());
    let w = serve(&s, &[format!("{ORIGIN}={vkey}")]);
    // The key it prints is the one `log witness-key` gives for its public key and name.
    let printed = ok(glassbox().args(["log", "witness-key", "--key"]).arg(&s.public).args(["--name", NAME]));
    assert_eq!(w.vkey.to_string(), printed.trim());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&s.state).unwrap().permissions().mode() & 0o777, 0o600);

    // The first checkpoint: old 0, no proof.
    grow(&log, &key, 0, 10);
    let (note, _) = checkpoint_of(&log);
    let WitnessAnswer::Cosigned(lines) = add_checkpoint(&w.url, &w.vkey, &note, 0, &[], TIMEOUT).unwrap() else {
        panic!("not cosigned")
    };
    assert!(lines.starts_with(&format!("\u{2014} {NAME} ")) && lines.ends_with('\n'), "{lines}");
    publish(&log, &w.vkey, &lines);
    let verified = verify_witnessed(&log, &vkey, &w.vkey);
    assert_eq!(verified.status.code(), Some(0), "{}", String::from_utf8_lossy(&verified.stderr));

    // Growth, with the proof from 10 computed from the log's tiles.
    grow(&log, &key, 100, 300);
    let (note, _) = checkpoint_of(&log);
    let lines = request_cosignature(&w.url, &w.vkey, &LogDir::new(&log), &note, 10, TIMEOUT).unwrap();
    publish(&log, &w.vkey, &lines);
    assert_eq!(verify_witnessed(&log, &vkey, &w.vkey).status.code(), Some(0));
    // A retry of the same checkpoint (the log crashed before storing the answer) is cosigned again.
    let (note, cp) = checkpoint_of(&log);
    assert!(matches!(
        add_checkpoint(&w.url, &w.vkey, &note, cp.size, &[], TIMEOUT).unwrap(),
        WitnessAnswer::Cosigned(_)
    ));

    // Racing requests from the same old size: exactly one advances the state.
    grow(&log, &key, 1000, 7);
    let (note, cp) = checkpoint_of(&log);
    let proof = witness_client::consistency_proof(&LogDir::new(&log), 310, &cp).unwrap();
    let answers: Vec<WitnessAnswer> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| add_checkpoint(&w.url, &w.vkey, &note, 310, &proof, TIMEOUT).unwrap()))
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let cosigned = answers.iter().filter(|a| matches!(a, WitnessAnswer::Cosigned(_))).count();
    let conflicts = answers.iter().filter(|a| **a == WitnessAnswer::Conflict { latest: 317 }).count();
    assert_eq!((cosigned, conflicts), (1, 5), "{answers:?}");
    w.stop();
}

#[test]
fn a_stale_old_size_is_answered_409_with_the_latest_size_and_the_client_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let s = setup(dir.path());
    let w = serve(&s, &[format!("{ORIGIN}={vkey}")]);
    grow(&log, &key, 0, 10);
    let (note, _) = checkpoint_of(&log);
    request_cosignature(&w.url, &w.vkey, &LogDir::new(&log), &note, 0, TIMEOUT).unwrap();
    grow(&log, &key, 10, 20);
    let (note, _) = checkpoint_of(&log);
    // The raw answer: 409, text/x.tlog.size, the size and a newline.
    let stale = w.post([b"old 3\n\n".to_vec(), note.clone()].concat());
    assert_eq!(stale.status, 409);
    assert_eq!(stale.content_type.as_deref(), Some("text/x.tlog.size"));
    assert_eq!(stale.body, b"10\n");
    assert_eq!(
        add_checkpoint(&w.url, &w.vkey, &note, 0, &[], TIMEOUT).unwrap(),
        WitnessAnswer::Conflict { latest: 10 }
    );
    // The client learns 10 from the 409 and sends the proof from 10.
    let lines = request_cosignature(&w.url, &w.vkey, &LogDir::new(&log), &note, 0, TIMEOUT).unwrap();
    publish(&log, &w.vkey, &lines);
    assert_eq!(verify_witnessed(&log, &vkey, &w.vkey).status.code(), Some(0));
    // A witness that has seen more than the log offers is an error, not a retry.
    let older = dir.path().join("older");
    std::fs::write(&older, &note).unwrap();
    grow(&log, &key, 30, 5);
    let (bigger, _) = checkpoint_of(&log);
    request_cosignature(&w.url, &w.vkey, &LogDir::new(&log), &bigger, 30, TIMEOUT).unwrap();
    let err = request_cosignature(&w.url, &w.vkey, &LogDir::new(&log), &std::fs::read(&older).unwrap(), 0, TIMEOUT)
        .unwrap_err();
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(err.to_string().contains("size 35"), "{err}");
    // SIGTERM stops it cleanly; restarted on the same state it still knows size 35.
    w.stop();
    let w = serve(&s, &[format!("{ORIGIN}={vkey}")]);
    assert_eq!(
        add_checkpoint(&w.url, &w.vkey, &bigger, 0, &[], TIMEOUT).unwrap(),
        WitnessAnswer::Conflict { latest: 35 }
    );
}

#[test]
fn a_bad_consistency_proof_is_422_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let s = setup(dir.path());
    let w = serve(&s, &[format!("{ORIGIN}={vkey}")]);
    grow(&log, &key, 0, 10);
    let (note, _) = checkpoint_of(&log);
    request_cosignature(&w.url, &w.vkey, &LogDir::new(&log), &note, 0, TIMEOUT).unwrap();
    grow(&log, &key, 10, 290);
    let (note, cp) = checkpoint_of(&log);
    let proof = witness_client::consistency_proof(&LogDir::new(&log), 10, &cp).unwrap();
    assert!(!proof.is_empty());
    for i in 0..proof.len() {
        let mut bad = proof.clone();
        bad[i][7] ^= 0x20;
        let err = add_checkpoint(&w.url, &w.vkey, &note, 10, &bad, TIMEOUT).unwrap_err();
        assert!(err.to_string().contains("(422)"), "{err}");
        assert_eq!(err.exit_code(), 1);
    }
    let short = add_checkpoint(&w.url, &w.vkey, &note, 10, &proof[1..], TIMEOUT).unwrap_err();
    assert!(short.to_string().contains("(422)"), "{short}");
    // Nothing moved: the right proof from 10 is still what it takes.
    assert!(matches!(add_checkpoint(&w.url, &w.vkey, &note, 10, &proof, TIMEOUT).unwrap(), WitnessAnswer::Cosigned(_)));
}

#[test]
fn unknown_logs_foreign_signatures_and_malformed_or_huge_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    let s = setup(dir.path());
    let w = serve(&s, &[format!("{ORIGIN}={vkey}")]);
    grow(&log, &key, 0, 3);
    let (note, _) = checkpoint_of(&log);

    // Another origin: 404. The right origin signed by another key: 403.
    let (other_key, _) = keypair(dir.path(), "other-log");
    let unknown = dir.path().join("unknown");
    ok(glassbox()
        .args(["log", "init"])
        .arg(&unknown)
        .args(["--origin", "example.com/unknown", "--key"])
        .arg(&other_key));
    let (unknown_note, _) = checkpoint_of(&unknown);
    let refused = w.post([b"old 0\n\n".to_vec(), unknown_note].concat());
    assert_eq!(refused.status, 404, "{}", refused.body_summary());
    let impostor = dir.path().join("impostor");
    ok(glassbox().args(["log", "init"]).arg(&impostor).args(["--origin", ORIGIN, "--key"]).arg(&other_key));
    let (impostor_note, _) = checkpoint_of(&impostor);
    let err = add_checkpoint(&w.url, &w.vkey, &impostor_note, 0, &[], TIMEOUT).unwrap_err();
    assert!(err.to_string().contains("(403)"), "{err}");

    // Malformed bodies: 400, each with a line naming the fault.
    let note_text = String::from_utf8(note.clone()).unwrap();
    for bad in [
        "old 0\n".to_string() + &note_text,
        "old 00\n\n".to_string() + &note_text,
        "old 9\n\n".to_string() + &note_text,
        "new 0\n\n".to_string() + &note_text,
        "old 0\n\nexample.com/glassbox-test-log\n3\n".to_string(),
        "old 0\nAAAA\n\n".to_string() + &note_text,
    ] {
        let answer = w.post(bad.clone().into_bytes());
        assert_eq!(answer.status, 400, "{bad:?}: {}", answer.body_summary());
        assert!(!answer.body_summary().is_empty());
    }
    // Too big: 413, before the witness reads it all.
    assert_eq!(status_for_declared_length(&w.url, "/add-checkpoint", 2 << 20), 413);
    // Only POST /add-checkpoint exists.
    let get = glassbox::remote::http::get_blocking(&format!("{}/add-checkpoint", w.url), 1 << 16, TIMEOUT).unwrap();
    assert_eq!(get.status, 405);
    let elsewhere = post_blocking(&format!("{}/other", w.url), "text/plain", note, 1 << 16, TIMEOUT).unwrap();
    assert_eq!(elsewhere.status, 404);
    // After all that the witness still works.
    assert!(matches!(
        add_checkpoint(&w.url, &w.vkey, &checkpoint_of(&log).0, 0, &[], TIMEOUT).unwrap(),
        WitnessAnswer::Cosigned(_)
    ));
}

#[test]
fn a_witness_refuses_a_second_history_signed_by_the_log_key() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key, vkey) = new_log(dir.path());
    // The second history: another log directory, the same key and origin, other entries.
    let fork = dir.path().join("fork");
    let fork_vkey = ok(glassbox().args(["log", "init"]).arg(&fork).args(["--origin", ORIGIN, "--key"]).arg(&key));
    assert_eq!(fork_vkey.trim(), vkey);
    let s = setup(dir.path());
    let w = serve(&s, &[format!("{ORIGIN}={vkey}")]);
    grow(&log, &key, 0, 10);
    grow(&fork, &key, 500, 10);
    let (true_note, true_cp) = checkpoint_of(&log);
    let (fork_note, fork_cp) = checkpoint_of(&fork);
    assert_eq!(true_cp.size, fork_cp.size);
    assert_ne!(true_cp.root, fork_cp.root);
    request_cosignature(&w.url, &w.vkey, &LogDir::new(&log), &true_note, 0, TIMEOUT).unwrap();

    let refuses_the_fork = |w: &Served| {
        // The same size, another root: 409 as plain text (not a size to retry from).
        let answer = w.post([b"old 10\n\n".to_vec(), fork_note.clone()].concat());
        assert_eq!(answer.status, 409, "{}", answer.body_summary());
        assert_ne!(answer.content_type.as_deref(), Some("text/x.tlog.size"));
        assert!(answer.body_summary().contains("forked"), "{}", answer.body_summary());
        let err = request_cosignature(&w.url, &w.vkey, &LogDir::new(&fork), &fork_note, 10, TIMEOUT).unwrap_err();
        assert_eq!(err.exit_code(), 1, "{err}");
        // From 0, the client learns 10 and retries with an (empty) proof: still a fork.
        assert!(request_cosignature(&w.url, &w.vkey, &LogDir::new(&fork), &fork_note, 0, TIMEOUT).is_err());
    };
    refuses_the_fork(&w);
    // The fork grows: its proof from 10 starts from its own root, not the one cosigned.
    grow(&fork, &key, 600, 5);
    let (fork15, _) = checkpoint_of(&fork);
    let err = request_cosignature(&w.url, &w.vkey, &LogDir::new(&fork), &fork15, 10, TIMEOUT).unwrap_err();
    assert!(err.to_string().contains("(422)"), "{err}");

    // Killed outright and restarted on the same state file: the same refusals, and the true
    // history's next checkpoint is cosigned from where it was.
    drop(w);
    let w = serve(&s, &[format!("{ORIGIN}={vkey}")]);
    refuses_the_fork(&w);
    assert!(request_cosignature(&w.url, &w.vkey, &LogDir::new(&fork), &fork15, 10, TIMEOUT).is_err());
    grow(&log, &key, 20, 5);
    let (next, _) = checkpoint_of(&log);
    let lines = request_cosignature(&w.url, &w.vkey, &LogDir::new(&log), &next, 10, TIMEOUT).unwrap();
    publish(&log, &w.vkey, &lines);
    assert_eq!(verify_witnessed(&log, &vkey, &w.vkey).status.code(), Some(0));
    publish_refused(&fork, &w.vkey, &lines);
    assert_eq!(verify_witnessed(&fork, &vkey, &w.vkey).status.code(), Some(1));
}

/// The true history's cosignature pasted onto the fork's checkpoint does not verify there.
fn publish_refused(log: &Path, witness: &NoteVerifier, lines: &str) {
    let (bytes, _) = checkpoint_of(log);
    let pasted = [bytes, lines.as_bytes().to_vec()].concat();
    assert!(verify_cosignature(&Note::parse(&pasted).unwrap(), witness).is_none());
    std::fs::write(log.join("checkpoint"), pasted).unwrap();
}

//! `glassbox key`: key files openssl reads, modes, and securesystemslib key ids.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::*;

#[test]
fn generate_writes_openssl_readable_keys_and_prints_the_key_id() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("me");
    let printed = ok(glassbox().args(["key", "generate", "--out"]).arg(&prefix));
    let id = printed.trim();
    assert_eq!(id.len(), 64);
    let (private, public) = (prefix.with_extension("key"), prefix.with_extension("pub"));
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!printed.contains("PRIVATE"));
    assert_eq!(ok(glassbox().args(["key", "id"]).arg(&public)).trim(), id);
    assert_eq!(ok(glassbox().args(["key", "id"]).arg(&private)).trim(), id);

    // Refuses to overwrite.
    let again = output(glassbox().args(["key", "generate", "--out"]).arg(&prefix));
    assert_eq!(again.status.code(), Some(2));

    if have_tool("openssl", &["version"]) {
        let derived = ok(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&private));
        assert_eq!(derived, std::fs::read_to_string(&public).unwrap());
    }
    if let Some(python) = python_with_sslib() {
        let script = "import sys\nfrom cryptography.hazmat.primitives.serialization import load_pem_public_key\n\
                      from securesystemslib.signer import SSlibKey\n\
                      print(SSlibKey.from_crypto(load_pem_public_key(open(sys.argv[1],'rb').read())).keyid)";
        assert_eq!(ok(Command::new(python).arg("-c").arg(script).arg(&public)).trim(), id);
    }
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn d_keymode_a_private_key_others_can_read_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = keypair(dir.path(), "k");
    write_tree(&dir.path().join("src"), &[("a.txt", "a\n")]);
    let sign = |extra_env: Option<(&str, &str)>| {
        let mut cmd = glassbox();
        cmd.args(["review", "sign", "--no-git", "--criteria", "safe-to-run", "--component", "a", "--version", "1"])
            .arg("--source")
            .arg(dir.path().join("src"))
            .arg("--key")
            .arg(&private)
            .arg("--out")
            .arg(dir.path().join("r.jsonl"));
        if let Some((k, v)) = extra_env {
            cmd.env(k, v);
        }
        output(&mut cmd)
    };
    assert!(sign(None).status.success(), "{}", stderr_of(&sign(None)));
    for mode in [0o644, 0o640, 0o602] {
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = sign(None);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("permissions {mode:04o} for")) && err.contains("k.key"), "{err}");
        assert!(err.contains("too open") && err.contains("GLASSBOX_ALLOW_OPEN_KEYS"), "{err}");
        let out = output(glassbox().args(["key", "id"]).arg(&private));
        assert_eq!(out.status.code(), Some(2), "key id reads the private key too: {}", stderr_of(&out));
    }
    let allowed = sign(Some(("GLASSBOX_ALLOW_OPEN_KEYS", "1")));
    assert!(allowed.status.success(), "{}", stderr_of(&allowed));
}

#[test]
fn d1_a_private_key_where_a_public_key_is_expected_is_named_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = keypair(dir.path(), "builder");
    let body = std::fs::read_to_string(&private).unwrap();
    let secret_line = body.lines().nth(1).unwrap().to_string();
    let out = output(
        glassbox()
            .arg("rebuild")
            .arg(dir.path().join("x.provenance.intoto.jsonl"))
            .arg("--trust")
            .arg(&private)
            .arg("--source")
            .arg(dir.path()),
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("builder.key") && err.contains("this is a private key"), "{err}");
    assert!(!err.contains(&secret_line) && !err.contains("BEGIN"), "the key is echoed: {err}");
    // A damaged private key is named as one, and not quoted.
    let damaged = dir.path().join("damaged.key");
    std::fs::write(&damaged, body.replace(&secret_line, &format!("{secret_line}!"))).unwrap();
    std::fs::set_permissions(&damaged, std::fs::Permissions::from_mode(0o600)).unwrap();
    for args in [vec!["key", "id"], vec!["log", "audit", "L", "--vkey", "v", "--trust"]] {
        let out = output(glassbox().args(&args).arg(&damaged));
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("damaged.key") && err.contains("private key"), "{args:?}: {err}");
        assert!(!err.contains(&secret_line[..20]), "{args:?}: the key is echoed: {err}");
    }
    // key id of a (good) private key prints the id and says what the file is.
    let out = output(glassbox().args(["key", "id"]).arg(&private));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("this is a private key"), "{}", stderr_of(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("BEGIN"));
}

#[test]
fn key_files_openssl_writes_other_algorithms_and_non_keys_are_named_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keypair(dir.path(), "k");
    // A 40-column PEM (as some tools write it) is the same key.
    let rewrap = |path: &std::path::Path, to: &str| {
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let body: String = lines[1..lines.len() - 1].concat();
        let chunks: Vec<String> = body.as_bytes().chunks(40).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
        let out = dir.path().join(to);
        std::fs::write(&out, format!("{}\n{}\n{}\n", lines[0], chunks.join("\n"), lines[lines.len() - 1])).unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600)).unwrap();
        out
    };
    let id = ok(glassbox().args(["key", "id"]).arg(&public));
    assert_eq!(ok(glassbox().args(["key", "id"]).arg(rewrap(&public, "narrow.pub"))), id);
    assert_eq!(ok(glassbox().args(["key", "id"]).arg(rewrap(&private, "narrow.key"))), id);

    let empty = dir.path().join("empty.pub");
    std::fs::write(&empty, "").unwrap();
    let out = output(glassbox().args(["key", "id"]).arg(&empty));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("empty.pub") && stderr_of(&out).contains("not a PEM"), "{}", stderr_of(&out));
    assert!(!stderr_of(&out).contains("preamble"), "{}", stderr_of(&out));

    if have_tool("openssl", &["version"]) {
        for (name, args) in [
            ("rsa", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..]),
            ("p256", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..]),
        ] {
            let key = dir.path().join(format!("{name}.key"));
            ok(Command::new("openssl").arg("genpkey").args(args).arg("-out").arg(&key));
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            let pubkey = dir.path().join(format!("{name}.pub"));
            ok(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&key).arg("-out").arg(&pubkey));
            for file in [&key, &pubkey] {
                let out = output(glassbox().args(["key", "id"]).arg(file));
                let err = stderr_of(&out);
                assert_eq!(out.status.code(), Some(2), "{err}");
                assert!(err.contains("not an Ed25519 key"), "{err}");
                assert!(!err.contains("1.3.101.112"), "Ed25519's own OID named as the unsupported one: {err}");
            }
        }
    }
}

#[test]
fn generate_writes_inside_a_directory_and_never_replaces_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let out = output(
        glassbox().args(["key", "generate", "--out"]).arg(format!("{}/", keys.display())).current_dir(dir.path()),
    );
    assert!(out.status.success() || out.status.code() == Some(2), "{}", stderr_of(&out));
    assert!(!dir.path().join("keys.key").exists(), "wrote ./keys.key beside the directory");
    if out.status.success() {
        assert_eq!(std::fs::read_dir(&keys).unwrap().count(), 2, "writes the pair inside keys/");
    }
    let target = dir.path().join("elsewhere");
    std::os::unix::fs::symlink(&target, dir.path().join("me.key")).unwrap();
    let out = output(glassbox().args(["key", "generate", "--out"]).arg(dir.path().join("me")));
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("me.key"), "{}", stderr_of(&out));
    assert!(!target.exists(), "wrote through the dangling symlink");
    assert!(std::fs::symlink_metadata(dir.path().join("me.key")).unwrap().file_type().is_symlink());
}

/// Five key forms are easily swapped; each option given another says what it got and what it
/// wants (exit 2), never quoting the file.
#[test]
fn a_key_in_the_wrong_form_says_which_form_the_option_wants() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _log_key, log_vkey) = crate::log::new_log(dir.path());
    let (builder_key, builder_pub) = keypair(dir.path(), "builder");
    let (witness_key, witness_pub) = keypair(dir.path(), "witness");
    let log_vkey_file = dir.path().join("log.vkey");
    std::fs::write(&log_vkey_file, format!("{log_vkey}\n")).unwrap();
    let witness_vkey = ok(glassbox().args(["log", "witness-key", "--name", "w.example", "--key"]).arg(&witness_pub));
    let witness_vkey_file = dir.path().join("witness.vkey");
    std::fs::write(&witness_vkey_file, &witness_vkey).unwrap();
    let secret_line = std::fs::read_to_string(&builder_key).unwrap().lines().nth(1).unwrap().to_string();
    let refused = |cmd: &mut Command, needles: &[&str]| {
        let out = output(cmd);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        for needle in needles {
            assert!(err.contains(needle), "{needle:?} not in: {err}");
        }
        assert!(!err.contains(&secret_line) && !err.contains("BEGIN"), "a key is echoed: {err}");
    };
    let verify = || {
        let mut cmd = glassbox();
        cmd.args(["log", "verify"]).arg(&log);
        cmd
    };
    refused(
        verify().arg("--vkey").arg(&builder_pub),
        &["builder.pub", "this is a PEM public key; --vkey wants the log's verifier key", "glassbox log init"],
    );
    refused(
        verify().arg("--vkey").arg(&builder_key),
        &["this is a PEM private key", "--vkey wants the log's verifier key"],
    );
    refused(
        verify().arg("--vkey").arg(&witness_vkey_file),
        &["this is a witness's verifier key", "--vkey wants the log's verifier key"],
    );
    refused(
        verify().args(["--vkey", &log_vkey, "--witness-threshold", "1", "--witness"]).arg(&log_vkey_file),
        &["this is a log's verifier key", "--witness wants a witness's verifier key", "log witness-key"],
    );
    refused(verify().args(["--vkey", "keys/missing.vkey"]), &["keys/missing.vkey", "no such file"]);
    // `log witness-key --key` takes the .pub, `log cosign --key` the .key: swapped, each says so.
    refused(
        glassbox().args(["log", "witness-key", "--key"]).arg(&witness_key),
        &["log witness-key --key wants a PEM public key", "log cosign --key"],
    );
    refused(
        glassbox()
            .args(["log", "cosign"])
            .arg(log.join("checkpoint"))
            .arg("--key")
            .arg(&witness_pub)
            .arg("--state")
            .arg(dir.path().join("w.state"))
            .args(["--log-vkey", &log_vkey]),
        &["this is a PEM public key; log cosign --key wants a PEM private key", "log witness-key --key"],
    );
    // A verifier key where a PEM public key is wanted.
    refused(
        glassbox().args(["log", "audit"]).arg(&log).args(["--vkey", &log_vkey, "--trust"]).arg(&log_vkey_file),
        &["log.vkey", "this is a log's verifier key", "not a PEM key file"],
    );
    // The policy's [log] vkey naming the witness's key.
    std::fs::write(
        dir.path().join("policy.toml"),
        "[builders]\nkeys = [\"builder.pub\"]\n[log]\nvkey = \"witness.vkey\"\nwitnesses = []\nwitness_threshold = 0\n",
    )
    .unwrap();
    refused(
        glassbox().arg("verify").arg(&builder_pub).arg("--policy").arg(dir.path().join("policy.toml")),
        &["[log] vkey", "this is a witness's verifier key", "[log] vkey wants the log's verifier key"],
    );
}

//! A real third-party workspace: ripgrep's published source from crates.io (a build script,
//! jemalloc's C build, dozens of dependencies), built twice by glassbox at different paths and
//! under different environments. Ignored by default because it takes minutes:
//! `cargo test --test it -- --ignored ripgrep`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::support::*;

const RIPGREP: &str = "ripgrep-14.1.1";

/// Downloads ripgrep's .crate through cargo (as a dependency of a scratch package) into a cargo
/// home under `dir` and unpacks it into `dest`.
fn fetch_ripgrep(dir: &Path, dest: &Path) -> PathBuf {
    let fetcher = dir.join("fetcher");
    write_tree(
        &fetcher,
        &[
            ("Cargo.toml", "[package]\nname = \"fetcher\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\nripgrep = \"=14.1.1\"\n"),
            ("src/lib.rs", ""),
        ],
    );
    let cargo_home = dir.join("fetch-cargo-home");
    ok(Command::new("cargo").arg("fetch").current_dir(&fetcher).env("CARGO_HOME", &cargo_home));
    let cache = std::fs::read_dir(cargo_home.join("registry/cache")).unwrap().next().unwrap().unwrap().path();
    std::fs::create_dir_all(dest).unwrap();
    ok(Command::new("tar").arg("-xzf").arg(cache.join(format!("{RIPGREP}.crate"))).arg("-C").arg(dest));
    dest.join(RIPGREP)
}

#[test]
#[ignore = "builds ripgrep twice: minutes"]
fn ripgrep_from_crates_io_builds_identically_twice() {
    let dir = tempfile::tempdir().unwrap();
    let a = fetch_ripgrep(dir.path(), &dir.path().join("a"));
    let b = dir.path().join("elsewhere/deeper/b");
    std::fs::create_dir_all(&b).unwrap();
    ok(Command::new("cp").arg("-a").arg(&a).arg(&b));
    let b = b.join(RIPGREP);
    let (key, _) = keypair(dir.path(), "k");

    let build = |src: &Path, name: &str, umask: &str, extra_env: &[(&str, PathBuf)]| {
        let out = dir.path().join(format!("{name}-out"));
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(GLASSBOX)
            .args(["build", "--source-date-epoch", "1700000000", "--manifest-path"])
            .arg(src.join("Cargo.toml"))
            .arg("--key")
            .arg(&key)
            .arg("--out")
            .arg(&out)
            .arg("--attestations")
            .arg(dir.path().join(format!("{name}-att")));
        for (k, v) in extra_env {
            std::fs::create_dir_all(v).unwrap();
            cmd.env(k, v);
        }
        let started = Instant::now();
        let printed = ok(&mut cmd);
        eprintln!("glassbox build {name}: {:.1} s\n{printed}", started.elapsed().as_secs_f64());
        out
    };
    let out_a = build(&a, "a", "022", &[]);
    let out_b =
        build(&b, "b", "077", &[("HOME", dir.path().join("home-b")), ("CARGO_HOME", dir.path().join("cargo-home-b"))]);
    let (files_a, files_b) = (read_all(&out_a), read_all(&out_b));
    assert_eq!(files_a.len(), 3, "{:?}", files_a.iter().map(|f| &f.0).collect::<Vec<_>>());
    for ((name_a, bytes_a), (name_b, bytes_b)) in files_a.iter().zip(&files_b) {
        assert_eq!(name_a, name_b);
        assert!(bytes_a == bytes_b, "{name_a} differs between the two builds");
        eprintln!("identical: {name_a} ({} bytes)", bytes_a.len());
    }
}

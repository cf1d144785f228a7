//! Integration tests of the `avscan` binary: runs it on directories built in
//! a scratch area and checks its output and exit status.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The EICAR test string, assembled at run time so that no source file holds
/// it whole (and gets flagged by other scanners).
fn eicar() -> Vec<u8> {
    let head = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$";
    let tail = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    [head, tail].concat().into_bytes()
}

/// Creates an empty scratch directory for one test under Cargo's per-target
/// temporary directory.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `avscan` with the given arguments.
fn avscan<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_avscan"))
        .args(args)
        .output()
        .expect("avscan runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn infected_file_exits_1_and_names_the_signature() {
    let dir = scratch_dir("infected");
    fs::write(dir.join("notes.txt"), "shopping list: milk, eggs\n").unwrap();
    fs::create_dir(dir.join("downloads")).unwrap();
    let infected = dir.join("downloads").join("eicar.com");
    fs::write(&infected, eicar()).unwrap();

    let output = avscan([&dir]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "stdout: {out}");
    assert!(
        out.contains(&format!(
            "{}: EICAR-Test-File at offset 0\n",
            infected.display()
        )),
        "stdout: {out}"
    );
    assert!(
        out.ends_with("scanned 2 files: 1 infected, 0 errors\n"),
        "stdout: {out}"
    );
    assert!(!out.contains("notes.txt"), "stdout: {out}");
}

#[test]
fn clean_directory_exits_0() {
    let dir = scratch_dir("clean");
    fs::create_dir_all(dir.join("src/deep/er")).unwrap();
    fs::write(dir.join("README"), "hello\n").unwrap();
    fs::write(dir.join("src/main.c"), "int main(void) { return 0; }\n").unwrap();
    fs::write(dir.join("src/deep/er/data.bin"), [0u8, 1, 2, 3, 255]).unwrap();

    let output = avscan([&dir]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(stdout(&output), "scanned 3 files: 0 infected, 0 errors\n");
    assert_eq!(stderr(&output), "");
}

#[test]
fn missing_path_exits_2() {
    let dir = scratch_dir("missing");
    let missing = dir.join("does-not-exist");

    let output = avscan([&missing]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("avscan: {}:", missing.display())),
        "stderr: {}",
        stderr(&output)
    );
}

#[test]
fn error_takes_precedence_over_matches() {
    let dir = scratch_dir("mixed");
    let infected = dir.join("eicar.com");
    fs::write(&infected, eicar()).unwrap();

    let output = avscan([infected, dir.join("does-not-exist")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("EICAR-Test-File at offset 0"));
    assert!(stdout(&output).ends_with("scanned 1 file: 1 infected, 1 error\n"));
}

#[test]
fn quiet_prints_nothing_but_keeps_the_exit_status() {
    let dir = scratch_dir("quiet");
    fs::write(dir.join("eicar.com"), eicar()).unwrap();

    let output = avscan([Path::new("--quiet"), &dir]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output), "");
}

#[test]
fn bad_usage_exits_2() {
    let no_args = avscan::<_, &str>([]);
    assert_eq!(no_args.status.code(), Some(2));
    assert!(stderr(&no_args).contains("no path to scan"));

    let unknown = avscan(["--frobnicate", "."]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("unknown option '--frobnicate'"));
}

#[cfg(unix)]
#[test]
fn symlinks_inside_directories_are_not_followed() {
    let dir = scratch_dir("symlinks");
    let outside = dir.join("outside");
    let scanned = dir.join("scanned");
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(&scanned).unwrap();
    fs::write(outside.join("eicar.com"), eicar()).unwrap();
    fs::write(scanned.join("clean.txt"), "clean\n").unwrap();
    std::os::unix::fs::symlink(outside.join("eicar.com"), scanned.join("file-link")).unwrap();
    std::os::unix::fs::symlink(&outside, scanned.join("dir-link")).unwrap();

    let output = avscan([&scanned]);
    assert_eq!(output.status.code(), Some(0), "stdout: {}", stdout(&output));
    assert_eq!(stdout(&output), "scanned 1 file: 0 infected, 0 errors\n");

    // A link named on the command line is followed.
    let output = avscan([scanned.join("file-link")]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn scanner_does_not_detect_itself() {
    // The signatures are stored masked in the binary, so scanning it is clean.
    let output = avscan([env!("CARGO_BIN_EXE_avscan")]);
    assert_eq!(output.status.code(), Some(0), "stdout: {}", stdout(&output));
}

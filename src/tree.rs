//! Which files make up a source tree: the files git tracks in a checkout, otherwise every
//! regular file except `.git/`, `.glassbox/` and cargo target directories; minus the
//! `glassbox.toml` excludes. Refuses anything that cannot be hashed the same way everywhere.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::error::{Error, IoContext, Result};
use crate::fs::check_relative;
use crate::glob;

/// The name of the optional per-tree configuration file.
pub const CONFIG_FILE: &str = "glassbox.toml";

/// One file of a source tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeFile {
    /// Path relative to the tree root, `/`-separated, UTF-8.
    pub rel: String,
    /// The file to read: the path itself, or the in-tree target of a symlink.
    pub real: PathBuf,
    pub size: u64,
    pub executable: bool,
}

/// The state of a git checkout the tree belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitState {
    pub commit: String,
    /// Committer time of HEAD, seconds since the epoch: the default SOURCE_DATE_EPOCH.
    pub commit_time: i64,
    /// Tracked files differ from HEAD.
    pub dirty: bool,
}

/// A selected source tree, files sorted bytewise by relative path.
#[derive(Clone, Debug)]
pub struct SourceTree {
    pub root: PathBuf,
    pub files: Vec<TreeFile>,
    pub git: Option<GitState>,
}

impl SourceTree {
    /// Total size of the files in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// How to select a tree.
#[derive(Clone, Debug, Default)]
pub struct TreeOptions {
    /// Accept a git checkout whose tracked files differ from HEAD (marked dirty).
    pub allow_dirty: bool,
    /// Ignore git even in a checkout and walk the directory.
    pub no_git: bool,
    /// The environment for running git (the library does not read the process environment).
    pub env: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TreeConfig {
    #[serde(default)]
    source: SourceConfig,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SourceConfig {
    #[serde(default)]
    exclude: Vec<String>,
}

/// Selects the files of the tree at `root`.
pub fn select(root: &Path, options: &TreeOptions) -> Result<SourceTree> {
    let meta = fs::metadata(root).at(root)?;
    if !meta.is_dir() {
        return Err(Error::tree(root, "not a directory"));
    }
    let root = fs::canonicalize(root).at(root)?;
    let git = if options.no_git { None } else { git_toplevel(&root, &options.env) };
    let (rels, git_state) = match git {
        Some(_) => {
            let state = git_state(&root, &options.env)?;
            if state.dirty && !options.allow_dirty {
                return Err(Error::tree(
                    &root,
                    format!(
                        "tracked files differ from the git commit ({}); commit them or pass --allow-dirty",
                        dirty_files(&root, &options.env)
                    ),
                ));
            }
            (git_files(&root, &options.env)?, Some(state))
        }
        None => (walk_files(&root)?, None),
    };
    let excludes = read_excludes(&root)?;
    let mut cache_dirs = CacheDirs::default();
    let mut files = Vec::with_capacity(rels.len());
    for rel in rels {
        // The walk never lists these; git may track them. Both modes must select the same
        // files, or an unpacked source bundle would hash differently from its checkout.
        if is_reserved(&rel) || cache_dirs.contains(&root, &rel) || excludes.matches(&rel) {
            continue;
        }
        let path = root.join(&rel);
        // A dirty checkout may list a tracked file that was deleted: it is simply not there.
        if git_state.as_ref().is_some_and(|g| g.dirty) && fs::symlink_metadata(&path).is_err() {
            continue;
        }
        files.push(inspect(&root, rel, path)?);
    }
    files.sort_by(|a, b| a.rel.as_bytes().cmp(b.rel.as_bytes()));
    files.dedup_by(|a, b| a.rel == b.rel);
    if files.is_empty() {
        return Err(Error::tree(&root, "no files to hash (is everything ignored or untracked?)"));
    }
    Ok(SourceTree { root, files, git: git_state })
}

/// Paths glassbox never treats as source: anything inside `.git/` or `.glassbox/` (reserved for
/// glassbox's vendored dependencies), at any depth.
fn is_reserved(rel: &str) -> bool {
    rel.split('/').any(|c| c == ".git" || c == ".glassbox")
}

/// Remembers which directories are cargo target directories (hold a `CACHEDIR.TAG`).
#[derive(Default)]
struct CacheDirs(BTreeMap<String, bool>);

impl CacheDirs {
    /// True when a parent directory of `rel` holds a `CACHEDIR.TAG`.
    fn contains(&mut self, root: &Path, rel: &str) -> bool {
        let mut dir = rel;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            let tagged =
                *self.0.entry(parent.to_string()).or_insert_with(|| root.join(parent).join("CACHEDIR.TAG").is_file());
            if tagged {
                return true;
            }
            dir = parent;
        }
        false
    }
}

/// The `glassbox.toml` excludes, compiled once. The file comes from the source (perhaps a
/// hostile one): it is read bounded and must be a regular file.
fn read_excludes(root: &Path) -> Result<glob::PatternSet> {
    let path = root.join(CONFIG_FILE);
    if fs::symlink_metadata(&path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        return Ok(glob::PatternSet::default());
    }
    let text = crate::fs::read_regular_text(&path, crate::fs::limits::POLICY)?;
    let config: TreeConfig =
        toml::from_str(&text).map_err(|e| Error::invalid(path.display(), e.message().to_string()))?;
    glob::PatternSet::new(config.source.exclude.iter().map(String::as_str))
        .map_err(|e| Error::invalid(path.display(), e.to_string()))
}

/// Checks one listed path and resolves it to something readable.
fn inspect(root: &Path, rel: String, path: PathBuf) -> Result<TreeFile> {
    if let Err(why) = check_relative(&rel) {
        return Err(Error::tree(&path, why));
    }
    let meta = fs::symlink_metadata(&path).at(&path)?;
    // One stat per regular file: trees can hold tens of thousands of small files.
    let (real, target_meta) = if meta.file_type().is_symlink() {
        let real = resolve_in_tree(root, &path)?;
        let target_meta = fs::metadata(&real).at(&real)?;
        if !target_meta.is_file() {
            return Err(Error::tree(&path, "symlink does not point to a regular file"));
        }
        (real, target_meta)
    } else if meta.is_file() {
        (path, meta)
    } else {
        return Err(Error::tree(&path, "not a regular file (device, socket, fifo or directory)"));
    };
    Ok(TreeFile { rel, real, size: target_meta.len(), executable: target_meta.permissions().mode() & 0o111 != 0 })
}

/// The target of the symlink `link`, which must stay inside `root` (checked after resolving
/// every link in the chain).
fn resolve_in_tree(root: &Path, link: &Path) -> Result<PathBuf> {
    let target = fs::read_link(link).at(link)?;
    let lexical = link.parent().unwrap_or(root).join(&target);
    if !normalise(&lexical).starts_with(root) {
        return Err(Error::tree(link, format!("symlink points outside the tree (to {})", target.display())));
    }
    let real = fs::canonicalize(link)
        .map_err(|e| Error::tree(link, format!("broken symlink to {} ({e})", target.display())))?;
    if !real.starts_with(root) {
        return Err(Error::tree(link, format!("symlink points outside the tree (to {})", real.display())));
    }
    Ok(real)
}

/// Removes `.` and resolves `..` lexically.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every regular file (and symlink) below `root`, except `.git/`, `.glassbox/` and cargo target
/// directories (those holding a `CACHEDIR.TAG`).
fn walk_files(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name().into_iter();
    let walker = walker.filter_entry(|e| {
        !(e.depth() > 0
            && e.file_type().is_dir()
            && (e.file_name() == ".git" || e.file_name() == ".glassbox" || e.path().join("CACHEDIR.TAG").is_file()))
    });
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
            Error::tree(path, e.to_string())
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let rel = rel.to_str().ok_or_else(|| Error::tree(entry.path(), "file name is not UTF-8"))?;
        out.push(rel.to_string());
    }
    Ok(out)
}

fn git(root: &Path, env: &BTreeMap<String, String>, args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .map_err(|e| Error::tool("git", format!("cannot run git ({e})")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::tool(format!("git {}", args.join(" ")), stderr.trim().to_string()));
    }
    Ok(out.stdout)
}

fn git_toplevel(root: &Path, env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let out = git(root, env, &["rev-parse", "--show-toplevel"]).ok()?;
    Some(PathBuf::from(String::from_utf8(out).ok()?.trim()))
}

fn git_state(root: &Path, env: &BTreeMap<String, String>) -> Result<GitState> {
    let head = git(root, env, &["log", "-1", "--format=%H %ct", "HEAD"])
        .map_err(|_| Error::tree(root, "git checkout has no commit yet; commit the source first"))?;
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.split_whitespace();
    let (Some(commit), Some(time)) = (parts.next(), parts.next()) else {
        return Err(Error::tool("git log", format!("unexpected output {head:?}")));
    };
    let commit_time = time.parse().map_err(|_| Error::tool("git log", format!("bad commit time {time:?}")))?;
    let status = git(root, env, &["status", "--porcelain", "-z", "--untracked-files=no", "--", "."])?;
    Ok(GitState { commit: commit.to_string(), commit_time, dirty: !status.is_empty() })
}

/// The first few tracked files that differ from the commit, for the error that refuses a dirty
/// tree: "a.rs, b/c.rs and 3 more" (names escaped).
fn dirty_files(root: &Path, env: &BTreeMap<String, String>) -> String {
    const SHOWN: usize = 5;
    let Ok(status) = git(root, env, &["status", "--porcelain", "-z", "--untracked-files=no", "--", "."]) else {
        return "git status failed".into();
    };
    // Records are `XY PATH`, NUL-terminated; a rename or copy is followed by its old path.
    let mut names = Vec::new();
    let mut records = status.split(|b| *b == 0).filter(|r| !r.is_empty());
    while let Some(record) = records.next() {
        if record.len() > 3 {
            names.push(crate::text::escape(&String::from_utf8_lossy(&record[3..])).into_owned());
        }
        if record.first().is_some_and(|x| matches!(x, b'R' | b'C'))
            || record.get(1).is_some_and(|y| matches!(y, b'R' | b'C'))
        {
            records.next();
        }
    }
    let more = names.len().saturating_sub(SHOWN);
    names.truncate(SHOWN);
    let mut text = names.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

fn git_files(root: &Path, env: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let out = git(root, env, &["ls-files", "-z", "--recurse-submodules", "--", "."])?;
    out.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|name| {
            String::from_utf8(name.to_vec())
                .map_err(|_| Error::tree(root.join(String::from_utf8_lossy(name).as_ref()), "file name is not UTF-8"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, body) in files {
            let p = dir.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, body).unwrap();
        }
        dir
    }

    fn rels(tree: &SourceTree) -> Vec<&str> {
        tree.files.iter().map(|f| f.rel.as_str()).collect()
    }

    #[test]
    fn walk_skips_reserved_and_target_dirs_and_applies_excludes() {
        let dir = tree_with(&[
            ("b.rs", "b"),
            ("a/z.rs", "z"),
            (".git/HEAD", "x"),
            (".glassbox/vendor/x", "x"),
            ("target/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55"),
            ("target/debug/app", "x"),
            ("notes.bak", "x"),
            ("glassbox.toml", "[source]\nexclude = [\"*.bak\"]\n"),
        ]);
        let tree = select(dir.path(), &TreeOptions { no_git: true, ..Default::default() }).unwrap();
        assert_eq!(rels(&tree), ["a/z.rs", "b.rs", "glassbox.toml"]);
        assert!(tree.git.is_none());
    }

    #[test]
    fn symlinks_inside_are_followed_and_outside_refused() {
        let dir = tree_with(&[("real.txt", "hello")]);
        symlink("real.txt", dir.path().join("link.txt")).unwrap();
        let opts = TreeOptions { no_git: true, ..Default::default() };
        let tree = select(dir.path(), &opts).unwrap();
        assert_eq!(rels(&tree), ["link.txt", "real.txt"]);
        assert_eq!(tree.files[0].size, 5);

        symlink("/etc/passwd", dir.path().join("escape")).unwrap();
        let err = select(dir.path(), &opts).unwrap_err().to_string();
        assert!(err.contains("escape") && err.contains("outside the tree"), "{err}");
    }

    #[test]
    fn non_utf8_names_are_refused() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tree_with(&[("ok.rs", "")]);
        fs::write(dir.path().join(std::ffi::OsStr::from_bytes(b"bad\xff")), "").unwrap();
        let err = select(dir.path(), &TreeOptions { no_git: true, ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn git_mode_skips_the_same_reserved_paths_as_the_walk() {
        let dir = tree_with(&[
            ("a.rs", "a"),
            ("sub/.glassbox/x", "x"),
            ("cache/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55"),
            ("cache/built.bin", "x"),
        ]);
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@e"])
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        git(&["add", "-A", "-f"]);
        git(&["commit", "-q", "-m", "x"]);
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let in_git = select(dir.path(), &TreeOptions { env: env.clone(), ..Default::default() }).unwrap();
        assert!(in_git.git.is_some());
        let walked = select(dir.path(), &TreeOptions { no_git: true, env, ..Default::default() }).unwrap();
        assert_eq!(rels(&in_git), ["a.rs"]);
        assert_eq!(rels(&walked), ["a.rs"]);
    }

    #[test]
    fn bad_config_is_named() {
        let dir = tree_with(&[("glassbox.toml", "[source]\nexclud = []\n")]);
        let err = select(dir.path(), &TreeOptions { no_git: true, ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("glassbox.toml"), "{err}");
    }
}

//! `Cargo.lock`: the exact packages a build uses, each recorded in the provenance as
//! `pkg:cargo/<name>@<version>` with its checksum (registry) or commit (git).

use std::path::Path;

use serde::Deserialize;

use crate::attest::ResourceDescriptor;
use crate::error::{Error, IoContext, Result};

/// A parsed lockfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lockfile {
    pub packages: Vec<LockedPackage>,
}

/// One `[[package]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    /// `registry+…`, `git+…#<commit>`; absent for path (workspace) packages.
    pub source: Option<String>,
    /// sha256 of the `.crate` file, for registry packages.
    pub checksum: Option<String>,
}

#[derive(Deserialize)]
struct RawLock {
    version: Option<u32>,
    #[serde(default)]
    package: Vec<LockedPackage>,
}

impl Lockfile {
    pub fn read(path: &Path) -> Result<Lockfile> {
        let text = std::fs::read_to_string(path).at(path)?;
        Lockfile::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Lockfile> {
        let raw: RawLock = toml::from_str(text).map_err(|e| Error::invalid(origin, e.message().to_string()))?;
        if raw.version.is_none() && raw.package.iter().any(|p| p.source.is_some()) {
            return Err(Error::invalid(
                origin,
                "lockfile format v1 keeps checksums apart; regenerate it with a current cargo",
            ));
        }
        Ok(Lockfile { packages: raw.package })
    }

    /// Packages that come from outside the workspace (registry or git), in lockfile order.
    pub fn external(&self) -> impl Iterator<Item = &LockedPackage> {
        self.packages.iter().filter(|p| p.source.is_some())
    }
}

impl LockedPackage {
    /// The package URL, `pkg:cargo/<name>@<version>`.
    pub fn purl(&self) -> String {
        format!("pkg:cargo/{}@{}", self.name, self.version)
    }

    /// The commit of a git source (`git+https://…#<commit>`).
    pub fn git_commit(&self) -> Option<&str> {
        let source = self.source.as_deref()?;
        source.strip_prefix("git+")?.rsplit_once('#').map(|(_, c)| c)
    }

    /// The provenance's resolved-dependency entry for this package.
    pub fn descriptor(&self) -> ResourceDescriptor {
        let mut d = ResourceDescriptor { uri: Some(self.purl()), ..Default::default() };
        if let Some(sum) = &self.checksum {
            d.digest.insert("sha256".into(), sum.clone());
        }
        if let Some(commit) = self.git_commit() {
            d.digest.insert("gitCommit".into(), commit.into());
        }
        if let Some(source) = &self.source {
            d.annotations.insert("source".into(), source.clone().into());
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "aho-corasick"
version = "1.1.3"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "8e60d3430d3a69478ad0993f19238d2df97c507009a52b3c10addcd7f6bcb916"
dependencies = ["memchr"]

[[package]]
name = "app"
version = "0.1.0"

[[package]]
name = "gitdep"
version = "0.2.0"
source = "git+https://example.com/x.git?rev=abc#0123456789abcdef0123456789abcdef01234567"
"#;

    #[test]
    fn parses_packages_and_descriptors() {
        let lock = Lockfile::parse(LOCK, "Cargo.lock").unwrap();
        assert_eq!(lock.packages.len(), 3);
        let ext: Vec<_> = lock.external().map(|p| p.descriptor()).collect();
        assert_eq!(ext.len(), 2);
        assert_eq!(ext[0].uri.as_deref(), Some("pkg:cargo/aho-corasick@1.1.3"));
        assert_eq!(ext[0].digest["sha256"], "8e60d3430d3a69478ad0993f19238d2df97c507009a52b3c10addcd7f6bcb916");
        assert_eq!(ext[1].digest["gitCommit"], "0123456789abcdef0123456789abcdef01234567");
        assert!(Lockfile::parse("[[package]]\nname = 1\n", "L").unwrap_err().to_string().starts_with("L:"));
    }
}

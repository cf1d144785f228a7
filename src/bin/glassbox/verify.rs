//! `glassbox verify ARTIFACT --policy FILE`: accept or reject an artifact with the evidence.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use glassbox::policy::{verify, Policy, Verdict};
use glassbox::text::escape;

use crate::render::print_json;

#[derive(Args)]
pub struct VerifyArgs {
    /// The artifact: a bundle or a single binary.
    artifact: PathBuf,
    /// The trust policy (TOML); key paths in it are relative to it.
    #[arg(long)]
    policy: PathBuf,
    /// Where the statements are (default: the policy file's directory).
    #[arg(long)]
    attestations: Option<PathBuf>,
    /// The transparency log: a directory, a bucket (`s3://…`, `gs://…`, `az://…`) or a base URL (`https://…`)
    /// (default: <attestations>/log).
    #[arg(long)]
    log: Option<String>,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let policy = Policy::load(&args.policy)?;
    let attestations = args.attestations.unwrap_or_else(|| {
        args.policy.parent().map(PathBuf::from).filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| ".".into())
    });
    let log = args.log.as_deref().map(crate::log::open_log).transpose()?;
    let verdict = verify(&args.artifact, &policy, &attestations, log.as_ref())?;
    if args.json {
        print_json(&verdict)?;
    } else {
        print!("{}", render(&verdict));
    }
    Ok(if verdict.accepted { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The report. Every name in it (the artifact, statement files, key paths, anything a statement
/// says) is escaped: a file named with a newline must not forge a `[met]` or `ACCEPTED` line.
fn render(v: &Verdict) -> String {
    let mut out = format!("{} sha256:{}\n", escape(&v.artifact.display().to_string()), v.sha256.hex());
    for r in &v.requirements {
        out.push_str(&format!(
            "\n[{}] {}: {}\n",
            if r.met { "met" } else { "UNMET" },
            escape(&r.name),
            escape(&r.summary)
        ));
        for e in &r.evidence {
            let key = match (&e.key, &e.key_path) {
                (Some(id), Some(path)) => format!("key {} ({})", id.short(), escape(path)),
                (Some(id), None) => format!("key {}", id.short()),
                _ => "untrusted or unknown key".to_string(),
            };
            let log = e.log_index.map_or(String::new(), |i| format!(", log index {i}"));
            out.push_str(&format!(
                "    {} {}: {}, {key}{log}\n",
                if e.counted { "+" } else { "-" },
                escape(&e.statement),
                escape(&shorten_digests(&e.detail))
            ));
        }
    }
    out.push_str(if v.accepted { "\nACCEPTED\n" } else { "\nREJECTED\n" });
    out
}

/// `sha256:` and 12 hex digits, then `…`, for each full digest in an evidence detail: the text
/// report stays readable; the JSON report keeps them whole.
fn shorten_digests(detail: &str) -> String {
    const PREFIX: &str = "sha256:";
    let mut out = String::new();
    let mut rest = detail;
    while let Some(at) = rest.find(PREFIX) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let hex = &from[PREFIX.len()..];
        let len = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
        if len == 64 {
            out.push_str(&format!("{PREFIX}{}…", &hex[..12]));
        } else {
            out.push_str(&from[..PREFIX.len() + len]);
        }
        rest = &hex[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn full_digests_are_shortened_in_text_only_when_whole() {
        let full = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            super::shorten_digests(&format!("review of {full} -> sha256:12 ok")),
            "review of sha256:abababababab… -> sha256:12 ok"
        );
    }
}

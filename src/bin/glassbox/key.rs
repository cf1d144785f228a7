//! `glassbox key generate` and `glassbox key id`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use glassbox::keys::{PrivateKey, PublicKey};
use glassbox::text::escape;
use serde::Serialize;

use crate::context::key_file_options;
use crate::render::print_json;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Write PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM); print the key id.
    Generate(GenerateArgs),
    /// Print the key id of a public key file (or of a private key file's public half).
    Id(IdArgs),
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Path prefix of the two key files (`keys/me` writes keys/me.key and keys/me.pub); never
    /// replaces an existing file or symlink.
    #[arg(long)]
    out: PathBuf,
    /// Print JSON instead of the bare key id.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct IdArgs {
    /// A PEM public or private key.
    file: PathBuf,
    /// Print the result as JSON on stdout (docs/formats.md describes it).
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyReport {
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<PathBuf>,
}

pub fn run(cmd: KeyCommand) -> Result<ExitCode> {
    match cmd {
        KeyCommand::Generate(args) => {
            let key = PrivateKey::generate();
            let (private, public) = key.write_pair(&args.out)?;
            let id = key.public().key_id().to_string();
            if args.json {
                print_json(&KeyReport { key_id: id, private_key: Some(private), public_key: Some(public) })?;
            } else {
                eprintln!(
                    "wrote {} (private, mode 0600) and {}",
                    escape(&private.display().to_string()),
                    escape(&public.display().to_string())
                );
                println!("{id}");
            }
        }
        KeyCommand::Id(args) => {
            let (key, private) = PublicKey::read_either(&args.file, key_file_options())?;
            let id = key.key_id().to_string();
            if private {
                eprintln!(
                    "note: {}: this is a private key; printing its public key's id (share only the .pub file)",
                    escape(&args.file.display().to_string())
                );
            }
            if args.json {
                print_json(&KeyReport { key_id: id, private_key: None, public_key: None })?;
            } else {
                println!("{id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

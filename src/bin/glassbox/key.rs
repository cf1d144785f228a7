//! `glassbox key generate` and `glassbox key id`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use glassbox::keys::{PrivateKey, PublicKey};
use serde::Serialize;

use crate::render::print_json;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Write PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM); print the key id.
    Generate(GenerateArgs),
    /// Print the key id of a public or private key file.
    Id(IdArgs),
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Path prefix of the two key files.
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
                eprintln!("wrote {} (private, mode 0600) and {}", private.display(), public.display());
                println!("{id}");
            }
        }
        KeyCommand::Id(args) => {
            let id = PublicKey::read(&args.file)?.key_id().to_string();
            if args.json {
                print_json(&KeyReport { key_id: id, private_key: None, public_key: None })?;
            } else {
                println!("{id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

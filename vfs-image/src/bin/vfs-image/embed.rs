//! `vfs-image embed`: owned by the shim work (it writes the body). The argument struct and the
//! `run` entry point are the contract with `main.rs`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

/// Arguments of `vfs-image embed`.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// The image to embed.
    pub image: PathBuf,
    /// The WebAssembly module to embed it into.
    #[arg(long)]
    pub module: PathBuf,
    /// Where to write the resulting module.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Runs `vfs-image embed`.
pub fn run(_args: EmbedArgs) -> Result<ExitCode> {
    bail!("embed: not implemented in this build")
}

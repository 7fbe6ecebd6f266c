//! `vfs-image embed MODULE.wasm LAYER.vfs [LAYER.vfs...] -o OUT.wasm`: reads the files, checks
//! the layers, and hands the rewrite to the library (`vfs_image::embed`, where the layout and
//! its reasons are described).

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use vfs_image::embed::{embed, EmbedError};

/// Arguments of `vfs-image embed`.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// The module to rewrite: a wasm32-wasip1 program linked with vfs-wasi-shim.
    pub module: PathBuf,
    /// Image layers to add, lowest first, on top of any the module already holds.
    #[arg(required = true)]
    pub layers: Vec<PathBuf>,
    /// Where to write the new module.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Runs `vfs-image embed`: reads the files, rewrites, validates and writes the output.
pub fn run(a: EmbedArgs) -> Result<ExitCode> {
    let wasm =
        std::fs::read(&a.module).with_context(|| format!("cannot read {}", a.module.display()))?;
    let mut datas = Vec::with_capacity(a.layers.len());
    for l in &a.layers {
        let bytes = std::fs::read(l).with_context(|| format!("cannot read {}", l.display()))?;
        vfs_image::Image::open(&bytes)
            .with_context(|| format!("{}: not a valid image", l.display()))?;
        datas.push(bytes);
    }
    let refs: Vec<&[u8]> = datas.iter().map(Vec::as_slice).collect();
    let rewritten = embed(&wasm, &refs).map_err(|e| {
        if e == EmbedError::NoShim {
            anyhow::anyhow!(
                "{} does not contain the wasm-vfs shim: {e}",
                a.module.display()
            )
        } else {
            anyhow::anyhow!("cannot embed into {}: {e}", a.module.display())
        }
    })?;
    std::fs::write(&a.output, &rewritten)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

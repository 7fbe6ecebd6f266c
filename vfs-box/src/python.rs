//! `vfs-box python`: build a Python box.
//!
//! Steps: obtain CPython (verified sdist) → build the host flavour of the guest (used to compile
//! bytecode) → stage and compile the stdlib (and tests) → stage the app → pack each as an image
//! layer → build the vfs flavour of the guest → embed the layers into it.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::guest::{self, Flavor};
use crate::layers::{self, Bytecode, StdlibSpec};

/// Arguments of `vfs-box python`.
#[derive(clap::Args, Debug)]
pub struct PythonArgs {
    /// Where to write the box.
    #[arg(short = 'o', long = "output", value_name = "OUT.wasm")]
    pub output: PathBuf,
    /// An application folder, packed as a layer at /app.
    #[arg(long)]
    pub app: Option<PathBuf>,
    /// The script in --app that the box runs when started with no arguments.
    #[arg(long, default_value = "main.py")]
    pub entry: String,
    /// Leave out stdlib paths matching GLOB (relative to the stdlib folder, e.g. `email` or `xml/dom`).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
    /// Add CPython's own test suite (`test/` and the packages' test folders) as a third layer.
    #[arg(long)]
    pub with_tests: bool,
    /// Which form of the stdlib modules to ship (default: pyc, or both with --with-tests).
    #[arg(long, value_enum)]
    pub bytecode: Option<Bytecode>,
    /// Build the baseline instead: plain CPython on host WASI, no image; prints the stdlib folder
    /// to map with `--dir STDLIB::/usr/local/lib/python3.11`.
    #[arg(long)]
    pub host_stdlib: bool,
    /// Pre-initialize the box: snapshot it after CPython starts and CODE runs (e.g.
    /// "import json, re"), so each run starts with the interpreter up. See `vfs-box preinit`.
    #[arg(long, value_name = "CODE")]
    pub preinit: Option<String>,
    /// How the layers store file contents: `lz4` (LZ4 HC level 12, the default: fastest to
    /// read), `zstd` (level 19: smallest), `lz4:LEVEL` (3-12), `zstd:LEVEL` (1-22), or
    /// `none` (raw, read in place).
    #[arg(long, value_name = "CODEC[:LEVEL]|none", default_value_t = layers::DEFAULT_COMPRESSION)]
    pub compress: vfs_image::host::Compression,
}

pub fn build(a: &PythonArgs) -> Result<()> {
    let dist = crate::sdist::obtain()?;
    let host_python = guest::build(&dist, Flavor::Host)?;
    let engine = vfs_runner::engine()?;
    let spec = StdlibSpec {
        bytecode: a.bytecode.unwrap_or(if a.with_tests {
            Bytecode::Both
        } else {
            Bytecode::Pyc
        }),
        excludes: a.excludes.clone(),
        with_tests: a.with_tests,
    };
    let (stdlib, tests) = layers::stage_stdlib(&engine, &host_python, &dist.stdlib(), &spec)?;
    if a.host_stdlib {
        std::fs::copy(&host_python, &a.output)
            .with_context(|| format!("writing {}", a.output.display()))?;
        println!(
            "{}",
            stdlib
                .root
                .join(layers::STDLIB_IN_GUEST.trim_start_matches('/'))
                .display()
        );
        if let Some(t) = tests {
            println!(
                "{}",
                t.root
                    .join(layers::STDLIB_IN_GUEST.trim_start_matches('/'))
                    .display()
            );
        }
        return Ok(());
    }
    let mut images = vec![("stdlib", layers::pack_stage_cached(&stdlib, a.compress)?)];
    if let Some(t) = &tests {
        images.push(("tests", layers::pack_stage_cached(t, a.compress)?));
    }
    if let Some(app) = &a.app {
        let work = crate::cache::cache_root()?
            .join("work")
            .join(std::process::id().to_string());
        let stage = layers::stage_app(&engine, &host_python, &stdlib, app, Some(&a.entry), &work)?;
        images.push(("app", layers::pack(&stage.root, a.compress)?));
        let _ = std::fs::remove_dir_all(&work);
    }
    let code = guest::build(&dist, Flavor::Vfs)?;
    crate::embed::write_box(&code, &images, &a.output)?;
    if let Some(preinit) = &a.preinit {
        crate::preinit::rewrite(&engine, &a.output, preinit, &a.output)?;
    }
    Ok(())
}

//! Building the Python guest (`guests/python`) for wasm32-wasip1 with cargo.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::sdist::Dist;

/// Which filesystem the guest sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// With `vfs-wasi-shim`: `/` is served from the embedded image layers (the box).
    Vfs,
    /// Plain host WASI: only what the runner maps with `--dir` (the baseline).
    Host,
}

/// The guest crate's manifest, found relative to this crate's source (vfs-box is a repository tool).
///
/// When cargo runs vfs-box (`cargo run`, or a test that spawns it), its run-time
/// `CARGO_MANIFEST_DIR` names the checkout in use; the path baked in at compile time may be
/// another checkout's if two share one target directory.
pub fn manifest() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|d| d.join("../guests/python/Cargo.toml").is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("..")
        .join("guests")
        .join("python")
        .join("Cargo.toml")
}

/// Builds the guest and returns the path of the `.wasm` cargo produced.
///
/// Each flavour has its own target folder under the cache, so switching between them relinks
/// nothing and the host build's target folder (which may be locked by `cargo run`) is not touched.
pub fn build(dist: &Dist, flavor: Flavor) -> Result<PathBuf> {
    let name = match flavor {
        Flavor::Vfs => "vfs",
        Flavor::Host => "host",
    };
    let target_dir = crate::cache::cache_root()?.join("guest-target").join(name);
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "build",
        "--release",
        "--quiet",
        "--target",
        "wasm32-wasip1",
        "--manifest-path",
    ])
    .arg(manifest())
    .arg("--target-dir")
    .arg(&target_dir)
    .env("VFS_BOX_PYTHON_LIB", dist.lib_dir())
    // Flags meant for the host build must not leak into the wasm build.
    .env_remove("RUSTFLAGS")
    .env_remove("CARGO_TARGET_DIR")
    .env_remove("CARGO_BUILD_TARGET");
    if flavor == Flavor::Vfs {
        cmd.args(["--features", "vfs"]);
    }
    let status = cmd
        .status()
        .context("running cargo (needed to link the Python guest); is Rust installed?")?;
    if !status.success() {
        bail!(
            "building {} failed ({status}); is the target installed (`rustup target add wasm32-wasip1`)?",
            manifest().display()
        );
    }
    let wasm = target_dir
        .join("wasm32-wasip1")
        .join("release")
        .join("vfs-box-python.wasm");
    if !wasm.is_file() {
        bail!("cargo succeeded but {} is missing", wasm.display());
    }
    Ok(wasm)
}

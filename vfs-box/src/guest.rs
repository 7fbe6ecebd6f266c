//! Building the Python guest (`guests/python`) for wasm32-wasip1 with cargo.

use std::path::PathBuf;

use anyhow::Result;
use vfs_runner::GuestBuild;

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
/// Cargo's own progress is shown: the first build compiles CPython's Rust side and links
/// libpython, which takes minutes.
pub fn build(dist: &Dist, flavor: Flavor) -> Result<PathBuf> {
    let name = match flavor {
        Flavor::Vfs => "vfs",
        Flavor::Host => "host",
    };
    let target_dir = crate::cache::cache_root()?.join("guest-target").join(name);
    let mut build = GuestBuild::new(manifest(), target_dir, "vfs-box-python");
    build
        .env
        .push(("VFS_BOX_PYTHON_LIB".into(), dist.lib_dir().into()));
    build.progress = true;
    if flavor == Flavor::Vfs {
        build.features.push("vfs".into());
    }
    eprintln!("vfs-box: building the Python guest ({name} flavour)");
    build.run()
}

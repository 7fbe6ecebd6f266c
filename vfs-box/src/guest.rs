//! Building the Python guest (`guests/python`) for wasm32-wasip1 with cargo.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::Digest;
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

/// The guest's sources as `vfs-box` was built with them (see `build.rs`).
const GUEST_SOURCES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest-src.tar"));

/// Where the guest is built from: its manifest, and a name for its target folders.
pub struct Sources {
    pub manifest: PathBuf,
    /// `checkout`, or `carried-DIGEST`: each set of sources gets target folders of its own, so
    /// two builds from different paths never replace each other's output.
    pub name: String,
}

/// The guest crate's sources.
///
/// Run by cargo (`cargo run`, or a test that spawns it), vfs-box uses the checkout cargo names
/// at run time in `CARGO_MANIFEST_DIR`, so an edit to the guest is built at once. Anywhere
/// else (an installed binary) it uses the sources it carries, unpacked once into the cache
/// under their digest.
pub fn sources() -> Result<Sources> {
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) {
        let m = dir.join("../guests/python/Cargo.toml");
        if m.is_file() {
            return Ok(Sources {
                manifest: m,
                name: "checkout".into(),
            });
        }
    }
    let digest = format!("{:x}", sha2::Sha256::digest(GUEST_SOURCES));
    let dir = crate::cache::cache_root()?
        .join("guest-src")
        .join(&digest[..16]);
    let manifest = dir.join("guests/python/Cargo.toml");
    if !manifest.is_file() {
        let tmp = dir.with_extension(format!("{}.tmp", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        tar::Archive::new(GUEST_SOURCES)
            .unpack(&tmp)
            .with_context(|| format!("unpacking the guest's sources into {}", tmp.display()))?;
        // Another vfs-box may have finished first: its copy is as good.
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    Ok(Sources {
        manifest,
        name: format!("carried-{}", &digest[..16]),
    })
}

/// Builds the guest and returns the path of its `.wasm`, as cargo produced it then optimized
/// by `wasm-opt` ([`crate::wasm_opt`]).
///
/// Each flavour (and each set of sources) has its own target folder under the cache, so
/// switching between them relinks nothing and the host build's target folder (which may be locked by `cargo run`) is not touched.
/// Cargo's own progress is shown: the first build compiles CPython's Rust side and links
/// libpython, which takes minutes.
pub fn build(dist: &Dist, flavor: Flavor) -> Result<PathBuf> {
    let name = match flavor {
        Flavor::Vfs => "vfs",
        Flavor::Host => "host",
    };
    let src = sources()?;
    // The checkout's folders keep their old names, so existing caches stay warm.
    let folder = match src.name.as_str() {
        "checkout" => name.to_string(),
        other => format!("{name}-{other}"),
    };
    let target_dir = crate::cache::cache_root()?
        .join("guest-target")
        .join(folder);
    let sources = src
        .manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut build = GuestBuild::new(src.manifest, target_dir, "vfs-box-python");
    build
        .env
        .push(("VFS_BOX_PYTHON_LIB".into(), dist.lib_dir().into()));
    // The C modules' toolchain and sources (both flavours carry the modules).
    build.env.extend(crate::cmods::guest_env()?);
    build.progress = true;
    if flavor == Flavor::Vfs {
        build.features.push("vfs".into());
    }
    eprintln!(
        "vfs-box: building the Python guest ({name} flavour) from {}",
        sources.display()
    );
    let wasm = build.run()?;
    crate::wasm_opt::optimized(&wasm)
}

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

/// The guest crate's manifest, in the sources `vfs-box` carries (`build.rs` packs them from
/// the checkout it is built in) unpacked once into the cache under their digest.
///
/// Always these, also when run from a checkout (`cargo run`, the tests): the guest names its
/// path dependencies' files by absolute path (panic locations), and cargo hashes that path
/// into their symbols, which order the linked code; so the same sources built from two clones
/// gave guests of other bytes, optimized again by `wasm-opt` in every clone and compiled again
/// by the server (a fresh clone's test run: 8 m 58 s before; 8 m 24 s and 7 m 14 s after).
/// Unpacked under their digest, the same sources are at the same path on a machine, whichever
/// checkout built `vfs-box`. An edit to the guest reaches it as before: `build.rs` packs the
/// sources again when they change. Copies unused for [`UNUSED_FOR`] are removed.
pub fn sources() -> Result<PathBuf> {
    let digest = format!("{:x}", sha2::Sha256::digest(GUEST_SOURCES));
    let root = crate::cache::cache_root()?.join("guest-src");
    let dir = root.join(&digest[..16]);
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
    // The folder's own time says when it was last used (no package's file: cargo does not
    // look at it). Best effort: a copy kept longer only costs its 1.4 MB.
    let _ = std::fs::File::open(&dir).and_then(|d| d.set_modified(std::time::SystemTime::now()));
    prune_unused(&root, &dir, UNUSED_FOR);
    Ok(manifest)
}

/// How long an unpacked copy of other sources stays: a build running from it (an older
/// `vfs-box`, another checkout) used it when it started, and no build lasts a week.
const UNUSED_FOR: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Removes every folder in `root` but `keep` last used (modified) more than `age` ago: each
/// change to the guest's sources leaves a copy behind.
fn prune_unused(root: &Path, keep: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for e in entries.flatten() {
        let path = e.path();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|d| d > age));
        if path != keep && old {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Builds the guest and returns the path of its `.wasm`, as cargo produced it then optimized
/// by `wasm-opt` ([`crate::wasm_opt`]).
///
/// Each flavour has its own target folder under the cache, so switching between them relinks
/// nothing and the host build's target folder (which may be locked by `cargo run`) is not
/// touched; every set of sources shares it, so new sources rebuild only the crates they hold
/// (the C libraries and registry crates stay built).
/// Cargo's own progress is shown: the first build compiles CPython's Rust side and links
/// libpython, which takes minutes.
pub fn build(dist: &Dist, flavor: Flavor) -> Result<PathBuf> {
    let name = match flavor {
        Flavor::Vfs => "vfs",
        Flavor::Host => "host",
    };
    let manifest = sources()?;
    let target_dir = crate::cache::cache_root()?.join("guest-target").join(name);
    let sources = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut build = GuestBuild::new(manifest, target_dir, "vfs-box-python");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_copies_unused_for_longer_than_the_age_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let (keep, recent, stale) = (
            root.path().join("keep"),
            root.path().join("recent"),
            root.path().join("stale"),
        );
        for d in [&keep, &recent, &stale] {
            std::fs::create_dir_all(d.join("guests")).unwrap();
        }
        let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for d in [&keep, &stale] {
            std::fs::File::open(d)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        prune_unused(root.path(), &keep, std::time::Duration::from_secs(60));
        assert!(keep.is_dir(), "the copy in use stays, however old");
        assert!(recent.is_dir());
        assert!(!stale.exists());
    }
}

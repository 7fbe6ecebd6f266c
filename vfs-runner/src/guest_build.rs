//! Building a guest crate for `wasm32-wasip1` with a nested `cargo build`.
//!
//! Guests are standalone crates (each with its own empty `[workspace]`), built into a target
//! directory of their own so the nested build never waits on the lock of the outer build that
//! runs it (`cargo test`, `cargo run`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The compilation target of every guest.
pub const TARGET: &str = "wasm32-wasip1";

/// Variables the outer cargo sets for the *host* build; none may reach a wasm32 build (host
/// flags such as `-C target-cpu=native` break it, and a target directory or target of the outer
/// build would put the guest somewhere else).
const HOST_BUILD_VARS: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
];

/// What the guest's source tree is called inside the built module (panic locations,
/// `file!()`), whatever folder it was built from.
pub const SOURCE_ROOT_NAME: &str = "/wasm-vfs";

/// The `RUSTC_WRAPPER` of guest builds: runs rustc (behind the caller's own wrapper, if any)
/// with the source tree's path remapped to [`SOURCE_ROOT_NAME`]. Without it a guest names its
/// path dependencies' files by absolute path, so every checkout at another path built other
/// bytes — leaking the builder's folders into every box and defeating every cache keyed by
/// the guest's bytes (`wasm-opt`'s: 1.5 minutes per fresh clone). Passing the remap in
/// `RUSTFLAGS` instead would make cargo rebuild every dependency, C libraries included, for
/// each new path, since the flag holds the path; cargo does not fingerprint what a wrapper adds.
const WRAPPER: &str = r#"#!/bin/sh
# Written by vfs-runner (guest_build.rs): rustc for a guest build, its source tree's path
# remapped so that the module is the same from any checkout.
exec ${VFS_GUEST_INNER_WRAPPER:+"$VFS_GUEST_INNER_WRAPPER"} "$@" "--remap-path-prefix=$VFS_GUEST_SOURCE_ROOT=$VFS_GUEST_SOURCE_NAME"
"#;

/// One release build of a guest crate, like `cargo build --release --target wasm32-wasip1`.
#[derive(Clone, Debug)]
pub struct GuestBuild {
    /// The guest's `Cargo.toml`.
    pub manifest: PathBuf,
    /// The nested build's own target directory.
    pub target_dir: PathBuf,
    /// The `[[bin]]` (or package) name: the build produces `<artifact>.wasm`.
    pub artifact: String,
    /// Cargo features to enable.
    pub features: Vec<String>,
    /// Extra environment for the build (read by the guest's `build.rs`).
    pub env: Vec<(String, OsString)>,
    /// Show cargo's own progress on stderr (for a person waiting on a long first build);
    /// otherwise the build is quiet and its output is kept for the error message.
    pub progress: bool,
}

impl GuestBuild {
    /// A build of `manifest` producing `<artifact>.wasm` into `target_dir`, quiet, no features.
    pub fn new(manifest: PathBuf, target_dir: PathBuf, artifact: &str) -> Self {
        GuestBuild {
            manifest,
            target_dir,
            artifact: artifact.to_owned(),
            features: Vec::new(),
            env: Vec::new(),
            progress: false,
        }
    }

    /// Where the build leaves the module.
    pub fn wasm_path(&self) -> PathBuf {
        self.target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{}.wasm", self.artifact))
    }

    /// Runs the build and returns the path of the `.wasm` it produced.
    pub fn run(&self) -> Result<PathBuf> {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"])
            .arg(&self.manifest)
            .arg("--target-dir")
            .arg(&self.target_dir);
        if !self.progress {
            cmd.arg("--quiet");
        }
        if !self.features.is_empty() {
            cmd.arg("--features").arg(self.features.join(","));
        }
        for var in HOST_BUILD_VARS {
            cmd.env_remove(var);
        }
        let root = source_root(&self.manifest)?;
        cmd.env("RUSTC_WRAPPER", write_wrapper(&self.target_dir)?)
            .env("VFS_GUEST_SOURCE_ROOT", root)
            .env("VFS_GUEST_SOURCE_NAME", SOURCE_ROOT_NAME);
        match std::env::var_os("RUSTC_WRAPPER").filter(|w| !w.is_empty()) {
            Some(inner) => cmd.env("VFS_GUEST_INNER_WRAPPER", inner),
            None => cmd.env_remove("VFS_GUEST_INNER_WRAPPER"),
        };
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let what = self.manifest.display();
        let hint = format!("is the target installed (`rustup target add {TARGET}`)?");
        if self.progress {
            let status = cmd
                .stdin(Stdio::null())
                .status()
                .with_context(|| format!("running cargo to build {what}; is Rust installed?"))?;
            if !status.success() {
                bail!("building {what} failed ({status}); {hint}");
            }
        } else {
            let out = cmd
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("running cargo to build {what}; is Rust installed?"))?;
            if !out.status.success() {
                bail!(
                    "building {what} failed ({}); {hint}\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let wasm = self.wasm_path();
        if !wasm.is_file() {
            bail!("cargo built {what} but {} is missing", wasm.display());
        }
        Ok(wasm)
    }
}

/// The folder a guest's sources hang from: the one holding `guests/` (the checkout, or the
/// sources `vfs-box` carries, unpacked), two above the guest's own folder, which holds its
/// path dependencies too.
fn source_root(manifest: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(manifest)
        .with_context(|| format!("locating {}", manifest.display()))?;
    // `..` taken away as cargo does (by the path's text, not the file system's links), so
    // the root is written as in the paths cargo hands rustc.
    let mut manifest = PathBuf::new();
    for c in absolute.components() {
        match c {
            std::path::Component::ParentDir => {
                manifest.pop();
            }
            std::path::Component::CurDir => {}
            other => manifest.push(other),
        }
    }
    manifest
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .with_context(|| format!("{} is not in a guests/NAME folder", manifest.display()))
}

/// Writes [`WRAPPER`] into `target_dir` (unless it is there already) and returns its path.
fn write_wrapper(target_dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = target_dir.join("rustc-remap.sh");
    if std::fs::read(&path).is_ok_and(|b| b == WRAPPER.as_bytes()) {
        return Ok(path);
    }
    std::fs::create_dir_all(target_dir)
        .with_context(|| format!("creating {}", target_dir.display()))?;
    // Written aside and renamed: another build may be running the old one right now.
    let tmp = target_dir.join(format!(".rustc-remap.sh.{}", std::process::id()));
    std::fs::write(&tmp, WRAPPER).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_root_is_two_above_the_guest_folder_with_dot_dots_taken_away() {
        let root = source_root(Path::new("/a/b/vfs-box/../guests/./python/Cargo.toml")).unwrap();
        assert_eq!(root, Path::new("/a/b"));
        assert!(source_root(Path::new("/Cargo.toml")).is_err());
    }
}

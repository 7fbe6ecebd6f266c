//! Building a guest crate for `wasm32-wasip1` with a nested `cargo build`.
//!
//! Guests are standalone crates (each with its own empty `[workspace]`), built into a target
//! directory of their own so the nested build never waits on the lock of the outer build that
//! runs it (`cargo test`, `cargo run`).

use std::ffi::OsString;
use std::path::PathBuf;
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

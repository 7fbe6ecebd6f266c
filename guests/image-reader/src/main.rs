//! Test guest for embedded image layers. Modes (first argument):
//! - `read PATH`: prints `len=<n> hash=<fnv64>` of one file.
//! - `verify ALLOC_MB`: hashes every file under `/` (paths and contents, sorted), allocates and
//!   writes `ALLOC_MB` MiB of heap in 1 MiB blocks, hashes again, and prints
//!   `verify: files=<n> bytes=<n> hash=<fnv64> after=<fnv64> allocated=<MiB>`.
//! - `write`: changes the tree (new, changed and deleted files, a new directory and symlink) so
//!   the host can export the upper layer after `_start` returns.
//! - `tree`: prints `<path> <len> <fnv64>` for every regular file and `<path> -> <target>` for
//!   every symlink, sorted.

use std::fs;
use std::path::Path;

use vfs_wasi_shim as _;

/// 64-bit FNV-1a: small, dependency-free, and computed identically by the host test.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
const FNV0: u64 = 0xcbf2_9ce4_8422_2325;

/// Every regular file under `dir`: (path, contents hash, length), sorted by path. `/dev` is
/// the system's devices, not the image's files, and is left out as `find / -xdev` leaves out
/// devtmpfs.
fn walk(dir: &Path, out: &mut Vec<(String, u64, u64)>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p == Path::new("/dev") {
            continue;
        }
        let t = e.file_type().unwrap();
        if t.is_dir() {
            walk(&p, out);
        } else if t.is_file() {
            let data = fs::read(&p).unwrap();
            out.push((
                p.to_string_lossy().into_owned(),
                fnv(FNV0, &data),
                data.len() as u64,
            ));
        } else if t.is_symlink() {
            let target = fs::read_link(&p).unwrap();
            out.push((format!("{} -> {}", p.display(), target.display()), 0, 0));
        }
    }
}

fn tree_hash(files: &[(String, u64, u64)]) -> u64 {
    files.iter().fold(FNV0, |h, (p, d, _)| {
        fnv(fnv(h, p.as_bytes()), &d.to_le_bytes())
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("read") => {
            let data = fs::read(&args[2]).unwrap();
            println!("len={} hash={:016x}", data.len(), fnv(FNV0, &data));
        }
        Some("verify") => {
            let mb: usize = args[2].parse().unwrap();
            let mut before = Vec::new();
            walk(Path::new("/"), &mut before);
            let bytes: u64 = before.iter().map(|f| f.2).sum();
            // Allocate in 1 MiB blocks and fill them, so every page the allocator hands out is
            // written: if any overlapped an embedded layer, the second hash would differ.
            let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(mb);
            for i in 0..mb {
                blocks.push(vec![(i % 251) as u8 | 1; 1 << 20]);
            }
            let mut after = Vec::new();
            walk(Path::new("/"), &mut after);
            assert!(blocks
                .iter()
                .enumerate()
                .all(|(i, b)| b.iter().all(|&x| x == (i % 251) as u8 | 1)));
            println!(
                "verify: files={} bytes={} hash={:016x} after={:016x} allocated={}",
                before.len(),
                bytes,
                tree_hash(&before),
                tree_hash(&after),
                blocks.len()
            );
        }
        Some("write") => {
            fs::create_dir_all("/app/new-dir").unwrap();
            fs::write("/app/new-dir/created.txt", b"created by the guest").unwrap();
            fs::write("/app/changed.txt", b"changed by the guest").unwrap();
            fs::remove_file("/app/deleted.txt").unwrap();
            fs::remove_dir_all("/app/gone").unwrap();
            let target = std::ffi::CString::new("new-dir/created.txt").unwrap();
            let link = std::ffi::CString::new("/app/link").unwrap();
            extern "C" {
                fn symlink(target: *const std::ffi::c_char, link: *const std::ffi::c_char) -> i32;
            }
            // SAFETY: NUL-terminated strings that outlive the call.
            assert_eq!(unsafe { symlink(target.as_ptr(), link.as_ptr()) }, 0);
            println!("write: done");
        }
        Some("tree") => {
            let mut files = Vec::new();
            walk(Path::new("/"), &mut files);
            for (p, h, len) in files {
                if p.contains(" -> ") {
                    println!("{p}");
                } else {
                    println!("{p} {len} {h:016x}");
                }
            }
        }
        other => panic!("unknown mode {other:?}"),
    }
}

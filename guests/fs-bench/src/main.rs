//! Times file operations from inside the guest. Built twice from this one source: with the
//! `vfs` feature every call is served by the in-guest VFS; without it, by the host's WASI.
//!
//! Usage: `fs-bench BASE ITERS`. `BASE` is a directory (VFS: any path; host: a preopen). Prints
//! one line per operation: `bench <name> <ns per op> <iterations>`.

use std::fs::{self, File};
use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Instant;

#[cfg(feature = "vfs")]
use vfs_wasi_shim as _;

extern "C" {
    /// wasi-libc's thin wrapper of `path_filestat_get` (NUL-terminated path): the WASI call
    /// without Rust `std`'s and wasi-libc's path handling around it.
    fn __wasi_path_filestat_get(
        fd: u32,
        flags: u32,
        path: *const std::ffi::c_char,
        out: *mut u8,
    ) -> u16;
}

fn time(name: &str, iters: u32, mut f: impl FnMut(u32)) {
    // One untimed round warms caches and lazily created state.
    f(0);
    let t = Instant::now();
    for i in 0..iters {
        f(i);
    }
    let ns = t.elapsed().as_nanos() as f64 / f64::from(iters);
    println!("bench {name} {ns:.1} {iters}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args.get(1).cloned().unwrap_or_else(|| "/bench".into());
    let iters: u32 = args.get(2).map_or(1000, |s| s.parse().unwrap());
    let deep = format!("{base}/a/b/c/d");
    fs::create_dir_all(&deep).unwrap();
    let file = format!("{deep}/file.txt");
    fs::write(&file, vec![7u8; 4096]).unwrap();
    let missing = format!("{deep}/missing.txt");
    let dir = format!("{base}/dir100");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..100 {
        fs::write(format!("{dir}/entry-{i:03}"), b"x").unwrap();
    }
    let scratch = format!("{base}/scratch.bin");
    let block = vec![1u8; 4096];

    time("stat_5_deep", iters, |_| {
        black_box(fs::metadata(&file).unwrap());
    });
    time("stat_missing", iters, |_| {
        black_box(fs::metadata(&missing).is_err());
    });
    // The same stat as a bare WASI call on the preopen (fd 3), if the caller says where `BASE`
    // is relative to it (argument 3; `.` when `BASE` is the preopen itself).
    if let Some(rel) = args.get(3) {
        let rel = if rel == "." {
            "a/b/c/d/file.txt".to_string()
        } else {
            format!("{rel}/a/b/c/d/file.txt")
        };
        let c = std::ffi::CString::new(rel).unwrap();
        let mut st = [0u8; 64];
        time("raw_path_filestat_get", iters, |_| {
            // SAFETY: a NUL-terminated path and a 64-byte filestat buffer.
            let r = unsafe { __wasi_path_filestat_get(3, 1, c.as_ptr(), st.as_mut_ptr()) };
            assert_eq!(r, 0);
            black_box(&st);
        });
    }
    let mut buf = vec![0u8; 4096];
    time("open_read_4k_close", iters, |_| {
        let mut f = File::open(&file).unwrap();
        f.read_exact(&mut buf).unwrap();
        black_box(&buf);
    });
    time("readdir_100", (iters / 10).max(10), |_| {
        let n = fs::read_dir(&dir).unwrap().map(|e| e.unwrap()).count();
        assert_eq!(n, 100);
    });
    time("create_write_4k_unlink", iters, |_| {
        let mut f = File::create(&scratch).unwrap();
        f.write_all(&block).unwrap();
        drop(f);
        fs::remove_file(&scratch).unwrap();
    });
}

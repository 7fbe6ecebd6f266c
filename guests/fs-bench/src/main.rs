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
    /// wasi-libc's thin wrapper of `fd_readdir`.
    fn __wasi_fd_readdir(fd: u32, buf: *mut u8, len: usize, cookie: u64, used: *mut usize) -> u16;
    fn opendir(path: *const std::ffi::c_char) -> *mut std::ffi::c_void;
    fn readdir(dir: *mut std::ffi::c_void) -> *const std::ffi::c_void;
    fn closedir(dir: *mut std::ffi::c_void) -> i32;
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
    // Listing a directory of 100 names, three ways: Rust `std` (on wasi-libc's `readdir`),
    // wasi-libc's `opendir`/`readdir`/`closedir` alone (what CPython's `os.listdir` uses), and
    // the one bare `fd_readdir` call both make (4 KiB buffer, as wasi-libc's), which is the
    // filesystem's whole share of a listing besides opening and closing the directory.
    time("readdir_100", (iters / 10).max(10), |_| {
        let n = fs::read_dir(&dir).unwrap().map(|e| e.unwrap()).count();
        assert_eq!(n, 100);
    });
    let c_dir = std::ffi::CString::new(dir.clone()).unwrap();
    time("readdir_100_libc", (iters / 10).max(10), |_| {
        // SAFETY: a NUL-terminated path; the stream is used only until it is closed.
        let n = unsafe {
            let d = opendir(c_dir.as_ptr());
            assert!(!d.is_null());
            let mut n = 0;
            while !readdir(d).is_null() {
                n += 1;
            }
            closedir(d);
            n
        };
        assert_eq!(n, 102); // with `.` and `..`
    });
    let listed = File::open(&dir).unwrap();
    let mut entries = vec![0u8; 4096];
    time("readdir_100_fd_readdir", iters, |_| {
        let mut used = 0;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&listed) as u32;
        // SAFETY: a 4 KiB buffer and a `size_t` result slot.
        let r = unsafe { __wasi_fd_readdir(fd, entries.as_mut_ptr(), 4096, 0, &mut used) };
        assert_eq!(r, 0);
        // 102 entries of 24-byte headers and their names, all in one call.
        assert_eq!(used, 102 * 24 + 1 + 2 + 100 * 9);
    });
    time("create_write_4k_unlink", iters, |_| {
        let mut f = File::create(&scratch).unwrap();
        f.write_all(&block).unwrap();
        drop(f);
        fs::remove_file(&scratch).unwrap();
    });
}

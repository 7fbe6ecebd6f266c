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
    /// wasi-libc's thin wrappers of `fd_fdstat_get`, `path_open` (NUL-terminated path),
    /// `fd_readdir` and `fd_close`.
    fn __wasi_fd_fdstat_get(fd: u32, out: *mut u8) -> u16;
    #[allow(clippy::too_many_arguments)]
    fn __wasi_path_open(
        fd: u32,
        dirflags: u32,
        path: *const std::ffi::c_char,
        oflags: u16,
        rights_base: u64,
        rights_inheriting: u64,
        fdflags: u16,
        out: *mut u32,
    ) -> u16;
    fn __wasi_fd_close(fd: u32) -> u16;
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
    let under_preopen = |path: &str| {
        let rel = args.get(3)?;
        let p = if rel == "." {
            path.to_string()
        } else {
            format!("{rel}/{path}")
        };
        Some(std::ffi::CString::new(p).unwrap())
    };
    if let Some(c) = under_preopen("a/b/c/d/file.txt") {
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
    // the four bare WASI calls both make (`fd_fdstat_get` of the preopen, `path_open`, one
    // `fd_readdir` with wasi-libc's 4 KiB buffer, `fd_close`): the filesystem's whole share
    // of a listing, the rest being the guest's own work.
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
    if let Some(c) = under_preopen("dir100") {
        let mut entries = vec![0u8; 4096];
        time("readdir_100_wasi_calls", iters, |_| {
            // SAFETY: result buffers of the sizes WASI writes (24-byte fdstat, 4-byte fd,
            // `size_t`), a 4 KiB entry buffer and a NUL-terminated path.
            unsafe {
                let mut fdstat = [0u8; 24];
                assert_eq!(__wasi_fd_fdstat_get(3, fdstat.as_mut_ptr()), 0);
                let mut fd = 0;
                // O_DIRECTORY; rights fd_read and fd_readdir; follow symlinks.
                let r = __wasi_path_open(3, 1, c.as_ptr(), 2, (1 << 1) | (1 << 14), 0, 0, &mut fd);
                assert_eq!(r, 0);
                let mut used = 0;
                let r = __wasi_fd_readdir(fd, entries.as_mut_ptr(), 4096, 0, &mut used);
                assert_eq!(r, 0);
                // 102 entries of 24-byte headers and their names, all in one call.
                assert_eq!(used, 102 * 24 + 1 + 2 + 100 * 9);
                assert_eq!(__wasi_fd_close(fd), 0);
            }
        });
    }
    time("create_write_4k_unlink", iters, |_| {
        let mut f = File::create(&scratch).unwrap();
        f.write_all(&block).unwrap();
        drop(f);
        fs::remove_file(&scratch).unwrap();
    });
}

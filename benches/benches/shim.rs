//! The WASI ABI layer (`vfs-wasi-shim`'s `Shim`) natively, over a `Vec<u8>` memory: what a
//! guest's call costs in the shim and `vfs-core` without the engine around them.
//!
//! Run: `cargo bench -p vfs-benches --bench shim`. The cases that matter for listings:
//! `fd_readdir` of a 100-name directory into wasi-libc's 4 KiB buffer, served from the packed
//! copy of the last listing (`kept`), and the same right after the directory changed, so that
//! every call packs the listing anew (`after_change`; the change itself is not timed).

use criterion::measurement::Measurement;
use criterion::{criterion_main, BatchSize, Criterion};
use std::cell::RefCell;
use std::hint::black_box;
use vfs_core::{Config, Fs};
use vfs_wasi_shim::abi::Shim;
use vfs_wasi_shim::memory::{Memory, VecMemory};

/// Where things go in the test memory.
const OUT: u32 = 64;
const PATH: u32 = 1024;
const BUF: u32 = 4096;
const BUF_LEN: u32 = 4096;

const RIGHTS: u64 = wasi::RIGHTS_FD_READ | wasi::RIGHTS_FD_READDIR;

struct Setup {
    shim: Shim,
    mem: VecMemory,
    root: u32,
}

impl Setup {
    /// A filesystem with `a/b/c/d/file` and `dir100` holding 100 empty files.
    fn new() -> Setup {
        let mut fs = Fs::new(Config::default());
        let root = fs.open_root().unwrap();
        for d in ["a", "a/b", "a/b/c", "a/b/c/d", "dir100"] {
            fs.mkdir(root, d.as_bytes(), 0o755).unwrap();
        }
        fs.close(root).unwrap();
        let shim = Shim::new(fs).unwrap();
        let root = shim.root_fd();
        let mut s = Setup {
            shim,
            mem: VecMemory::new(1 << 16),
            root,
        };
        s.create("a/b/c/d/file");
        for i in 0..100 {
            s.create(&format!("dir100/entry-{i:03}"));
        }
        s
    }

    /// Puts `path` into memory; returns its length.
    fn path(&mut self, path: &str) -> u32 {
        self.mem.write(PATH, path.as_bytes()).unwrap();
        path.len() as u32
    }

    /// `path_open` under the root; returns the new descriptor.
    fn open(&mut self, path: &str, oflags: u16) -> u32 {
        let len = self.path(path);
        let (fd, m) = (self.root, &mut self.mem);
        self.shim
            .path_open(m, fd, 1, PATH, len, oflags, RIGHTS, RIGHTS, 0, OUT)
            .unwrap();
        self.mem.read_u32(OUT).unwrap()
    }

    fn create(&mut self, path: &str) {
        let fd = self.open(path, wasi::OFLAGS_CREAT);
        self.shim.fd_close(fd).unwrap();
    }

    fn unlink(&mut self, path: &str) {
        let len = self.path(path);
        self.shim
            .path_unlink_file(&self.mem, self.root, PATH, len)
            .unwrap();
    }

    /// One `fd_readdir` from cookie 0 into the 4 KiB buffer; returns the bytes used.
    fn list(&mut self, dir: u32) -> u32 {
        self.shim
            .fd_readdir(&mut self.mem, dir, BUF, BUF_LEN, 0, OUT)
            .unwrap();
        self.mem.read_u32(OUT).unwrap()
    }
}

struct ShimSuite;

impl vfs_benches::Suite for ShimSuite {
    fn run<M: Measurement>(c: &mut Criterion<M>) {
        let mut s = Setup::new();
        let dir = s.open("dir100", wasi::OFLAGS_DIRECTORY);
        // All 102 entries (with `.` and `..`) fit the buffer whole: 24-byte headers and names.
        let whole = 102 * 24 + 1 + 2 + 100 * 9;
        assert_eq!(s.list(dir), whole);

        // The closures of one case share the setup (`iter_batched` changes the directory in
        // one and lists it in the other).
        let s = RefCell::new(s);
        let mut g = c.benchmark_group("shim");
        g.bench_function("fd_readdir_100_4k/kept", |b| {
            b.iter(|| black_box(s.borrow_mut().list(dir)))
        });
        g.bench_function("fd_readdir_100_4k/after_change", |b| {
            b.iter_batched(
                || {
                    // A name removed and added again: same entries, a new listing version.
                    let mut s = s.borrow_mut();
                    s.unlink("dir100/entry-050");
                    s.create("dir100/entry-050");
                },
                |()| black_box(s.borrow_mut().list(dir)),
                BatchSize::PerIteration,
            )
        });
        let mut s = s.into_inner();
        assert_eq!(s.list(dir), whole);

        let len = s.path("a/b/c/d/file");
        g.bench_function("path_filestat_get_5_deep", |b| {
            b.iter(|| {
                let (root, m) = (s.root, &mut s.mem);
                s.shim
                    .path_filestat_get(m, root, 1, PATH, len, OUT)
                    .unwrap();
            })
        });
        g.bench_function("path_open_dir_fd_close", |b| {
            b.iter(|| {
                let fd = s.open("dir100", wasi::OFLAGS_DIRECTORY);
                s.shim.fd_close(black_box(fd)).unwrap();
            })
        });
        g.finish();
    }
}

fn shim() {
    vfs_benches::main::<ShimSuite>();
}

criterion_main!(shim);

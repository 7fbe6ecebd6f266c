//! `vfs-core` against `std::fs` on Linux tmpfs (`/dev/shm`), the six everyday operations.
//!
//! Run: `cargo bench -p vfs-benches --bench core`. Each case builds the same tree on both
//! sides first; the kernel side pays for system calls, which is exactly the cost a guest
//! avoids by keeping its files in its own memory.
//!
//! Times are the benchmark thread's CPU time (see `vfs_benches::CpuTime`); `BENCH_WALL=1`
//! measures wall time instead.

use criterion::measurement::Measurement;
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::io::{Read, Write};
use std::path::PathBuf;
use vfs_core::{Access, Config, Fd, FdFlags, Fs, OFlags};

const DEEP: &str = "a/b/c/d/file";
const MISSING: &str = "a/b/c/d/missing";
const BIG: usize = 16 << 20;

/// The fixture on both sides: a 5-deep file, a 4 KiB file, a directory of 100 entries and a
/// 16 MiB file.
struct Fixture {
    fs: Fs,
    root: Fd,
    host: PathBuf,
}

fn fixture() -> Fixture {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    let host = PathBuf::from(format!("{base}/vfs-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&host);
    std::fs::create_dir_all(host.join("a/b/c/d")).unwrap();
    std::fs::write(host.join(DEEP), b"x").unwrap();
    std::fs::write(host.join("4k"), vec![7u8; 4096]).unwrap();
    std::fs::create_dir(host.join("dir100")).unwrap();
    for i in 0..100 {
        std::fs::write(host.join(format!("dir100/entry-{i:03}")), b"").unwrap();
    }
    std::fs::write(host.join("big"), vec![1u8; BIG]).unwrap();

    let mut fs = Fs::new(Config {
        max_bytes: 1 << 30,
        ..Config::default()
    });
    let root = fs.open_root().unwrap();
    for d in ["a", "a/b", "a/b/c", "a/b/c/d", "dir100"] {
        fs.mkdir(root, d.as_bytes(), 0o755).unwrap();
    }
    put(&mut fs, root, DEEP.as_bytes(), b"x");
    put(&mut fs, root, b"4k", &[7u8; 4096]);
    for i in 0..100 {
        put(
            &mut fs,
            root,
            format!("dir100/entry-{i:03}").as_bytes(),
            b"",
        );
    }
    put(&mut fs, root, b"big", &vec![1u8; BIG]);
    Fixture { fs, root, host }
}

/// Opens `name` under `root` for reading (`open(2)` with `O_RDONLY | flags`).
fn open_read(fs: &mut Fs, root: Fd, name: &[u8], flags: OFlags) -> Fd {
    fs.open(root, name, true, flags, Access::Read, FdFlags::empty(), 0)
        .unwrap()
}

/// Creates (or reuses) `name` under `root`, writes `data` and closes it: the vfs side of
/// `std::fs::write`, as the fixture and the create-write-unlink case both need it.
fn put(fs: &mut Fs, root: Fd, name: &[u8], data: &[u8]) {
    let (creat, write) = (OFlags::CREAT, Access::Write);
    let fd = fs
        .open(root, name, true, creat, write, FdFlags::empty(), 0o644)
        .unwrap();
    fs.write(fd, data).unwrap();
    fs.close(fd).unwrap();
}

struct Core;

impl vfs_benches::Suite for Core {
    fn run<M: Measurement>(c: &mut Criterion<M>) {
        benches(c)
    }
}

fn benches<M: Measurement>(c: &mut Criterion<M>) {
    let Fixture { mut fs, root, host } = fixture();
    let mut buf = vec![0u8; BIG];
    // The listing really has 100 names plus `.` and `..` on both sides.
    let d = open_read(&mut fs, root, b"dir100", OFlags::DIRECTORY);
    let mut count = 0;
    fs.readdir(d, 0, |_| {
        count += 1;
        true
    })
    .unwrap();
    fs.close(d).unwrap();
    assert_eq!(count, 102);
    assert_eq!(std::fs::read_dir(host.join("dir100")).unwrap().count(), 100);

    // A hit and a miss: both walk the same four directories and differ only in the last name.
    for (group, path, found) in [
        ("stat_5_deep", DEEP, true),
        ("stat_missing", MISSING, false),
    ] {
        let mut g = c.benchmark_group(group);
        g.bench_function("vfs-core", |b| {
            b.iter(|| {
                let r = fs.stat(root, black_box(path.as_bytes()), true);
                assert_eq!(r.is_ok(), found);
                r
            })
        });
        let p = host.join(path);
        g.bench_function("std-tmpfs", |b| {
            b.iter(|| {
                let r = std::fs::metadata(black_box(&p));
                assert_eq!(r.is_ok(), found);
                r
            })
        });
        g.finish();
    }

    let mut g = c.benchmark_group("open_read_4k_close");
    g.bench_function("vfs-core", |b| {
        b.iter(|| {
            let fd = open_read(&mut fs, root, b"4k", OFlags::empty());
            let n = fs.read(fd, &mut buf[..4096]).unwrap();
            fs.close(fd).unwrap();
            n
        })
    });
    let p = host.join("4k");
    g.bench_function("std-tmpfs", |b| {
        b.iter(|| {
            let mut f = std::fs::File::open(&p).unwrap();
            f.read(&mut buf[..4096]).unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("readdir_100");
    g.bench_function("vfs-core", |b| {
        b.iter(|| {
            let fd = open_read(&mut fs, root, b"dir100", OFlags::DIRECTORY);
            let mut n = 0usize;
            fs.readdir(fd, 0, |e| {
                n += e.name.len();
                true
            })
            .unwrap();
            fs.close(fd).unwrap();
            n
        })
    });
    let p = host.join("dir100");
    g.bench_function("std-tmpfs", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for e in std::fs::read_dir(&p).unwrap() {
                n += e.unwrap().file_name().len();
            }
            n
        })
    });
    g.finish();

    let mut g = c.benchmark_group("create_write_4k_unlink");
    let data = [3u8; 4096];
    g.bench_function("vfs-core", |b| {
        b.iter(|| {
            put(&mut fs, root, b"tmp", &data);
            fs.unlink(root, b"tmp").unwrap();
        })
    });
    let p = host.join("tmp");
    g.bench_function("std-tmpfs", |b| {
        b.iter(|| {
            let mut f = std::fs::File::create(&p).unwrap();
            f.write_all(&data).unwrap();
            drop(f);
            std::fs::remove_file(&p).unwrap();
        })
    });
    g.finish();

    let mut g = c.benchmark_group("read_16m");
    g.throughput(Throughput::Bytes(BIG as u64));
    g.sample_size(30);
    g.bench_function(BenchmarkId::from_parameter("vfs-core"), |b| {
        b.iter(|| {
            let fd = open_read(&mut fs, root, b"big", OFlags::empty());
            let n = fs.read(fd, &mut buf).unwrap();
            fs.close(fd).unwrap();
            n
        })
    });
    let p = host.join("big");
    g.bench_function(BenchmarkId::from_parameter("std-tmpfs"), |b| {
        b.iter(|| {
            let mut f = std::fs::File::open(&p).unwrap();
            f.read(&mut buf).unwrap()
        })
    });
    g.finish();

    let _ = std::fs::remove_dir_all(&host);
}

fn core() {
    vfs_benches::main::<Core>();
}

criterion_main!(core);

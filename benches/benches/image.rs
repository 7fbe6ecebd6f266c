//! vfs-image: opening an image must not get slower as the image grows. Measures open + lookup
//! of a two-level path + read (copy out) of one 16 KiB file, in a 1 MiB and a 200 MiB image, and
//! `open` alone. The two images have the same shape (directories of files of 16 KiB), the big one
//! just has more of everything, so the only growth is O(log n) in the binary searches.
//!
//! Then what compression costs a reader: open + lookup + read of a 4 KiB and a 1 MiB file of
//! Python-like text, stored raw, as Zstandard (level 19) and as LZ4 HC (level 12), read whole
//! into a buffer as CPython reads a `.pyc`, through one reused `Unpacker` as the filesystem does.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use vfs_image::host::{write_image, Compression};
use vfs_image::{Contents, Image, ImageBuilder, Meta, Unpacker};

const FILE: usize = 16 * 1024;

/// An image of `dirs` directories of `files` files of 16 KiB each, all with distinct contents
/// (so dedup does not shrink it).
fn image(dirs: usize, files: usize) -> Vec<u8> {
    let mut b = ImageBuilder::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for d in 0..dirs {
        for f in 0..files {
            let mut data = vec![0u8; FILE];
            for chunk in data.chunks_mut(8) {
                // xorshift64: cheap distinct contents.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            let path = format!("d{d:04}/f{f:04}.py");
            b.add_file(path.as_bytes(), Meta::with_mode(0o644), data)
                .unwrap();
        }
    }
    b.finish().unwrap()
}

fn open_lookup_read(bytes: &[u8], path: &[u8], buf: &mut [u8]) -> usize {
    let img = Image::open(bytes).unwrap();
    let node = img.resolve(path).unwrap().unwrap();
    let data = img.file_data(&node).unwrap();
    buf[..data.len()].copy_from_slice(data);
    data.len()
}

/// Text shaped like Python source, `len` bytes: compresses about as the stdlib's bytecode does
/// (3 to 4 times with Zstandard).
fn python_like(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 12] = [
        "def ",
        "return ",
        "self",
        ".value",
        " = ",
        "\n    ",
        "(x, y)",
        "import ",
        "None",
        "if ",
        "else:",
        "for i in range(n):",
    ];
    let mut v = Vec::with_capacity(len + 32);
    let mut x = seed | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(WORDS[(x % WORDS.len() as u64) as usize].as_bytes());
        if x.is_multiple_of(5) {
            v.extend_from_slice(format!("n{}", x % 1000).as_bytes());
        }
    }
    v.truncate(len);
    v
}

/// An image holding `/small` (4 KiB) and `/large` (1 MiB), stored as `c` says.
fn text_image(c: Compression) -> Vec<u8> {
    let mut b = ImageBuilder::new();
    b.add_file(b"lib/small", Meta::with_mode(0o644), python_like(4096, 1))
        .unwrap();
    b.add_file(
        b"lib/large",
        Meta::with_mode(0o644),
        python_like(1 << 20, 2),
    )
    .unwrap();
    let mut out = Vec::new();
    write_image(&b, c, &mut out).unwrap();
    out
}

/// Open, resolve and read the whole file at `path` into `buf`, decoding if compressed.
fn read_whole(bytes: &[u8], path: &[u8], u: &mut Unpacker, buf: &mut [u8]) -> usize {
    let img = Image::open(bytes).unwrap();
    let node = img.resolve(path).unwrap().unwrap();
    match img.contents(&node).unwrap() {
        Contents::Raw(d) => {
            buf[..d.len()].copy_from_slice(d);
            d.len()
        }
        Contents::Packed(p) => u.read_at(&p, 0, buf).unwrap(),
    }
}

fn compressed(c: &mut Criterion) {
    let cases = [
        ("raw", Compression::None),
        ("zstd-19", Compression::Zstd { level: 19 }),
        ("lz4hc-12", Compression::Lz4 { level: 12 }),
    ];
    let images: Vec<(&str, Vec<u8>)> = cases.iter().map(|(n, c)| (*n, text_image(*c))).collect();
    for (name, bytes) in &images {
        eprintln!(
            "text image {name}: {} bytes (files 4 KiB + 1 MiB)",
            bytes.len()
        );
    }
    let mut buf = vec![0u8; (1 << 20) + 1];
    let mut u = Unpacker::new();
    for (file, path) in [("4KiB", &b"lib/small"[..]), ("1MiB", &b"lib/large"[..])] {
        let mut g = c.benchmark_group(format!("image_read_whole_{file}"));
        for (name, bytes) in &images {
            g.bench_function(*name, |b| {
                b.iter(|| read_whole(black_box(bytes), path, &mut u, &mut buf))
            });
        }
        g.finish();
    }
}

fn bench(c: &mut Criterion) {
    let small = image(4, 16); // 64 files: 1 MiB
    let large = image(200, 64); // 12,800 files: 200 MiB
    eprintln!(
        "image sizes: small {} bytes, large {} bytes",
        small.len(),
        large.len()
    );
    let path = b"d0002/f0009.py";
    let mut buf = vec![0u8; FILE];
    interleaved(&small, &large, path, &mut buf);
    let mut g = c.benchmark_group("image_open_lookup_read");
    g.bench_function("1MiB", |b| {
        b.iter(|| open_lookup_read(black_box(&small), path, &mut buf))
    });
    g.bench_function("200MiB", |b| {
        b.iter(|| open_lookup_read(black_box(&large), path, &mut buf))
    });
    g.finish();
    let mut g = c.benchmark_group("image_open");
    g.bench_function("1MiB", |b| {
        b.iter(|| Image::open(black_box(&small)).unwrap().inode_count())
    });
    g.bench_function("200MiB", |b| {
        b.iter(|| Image::open(black_box(&large)).unwrap().inode_count())
    });
    g.finish();
}

/// Criterion measures one benchmark after the other, so on a shared machine a change of load
/// between them shows up as a difference. This loop alternates the two images in short rounds
/// and keeps the fastest round of each, which is robust to that; it prints the ratio.
fn interleaved(small: &[u8], large: &[u8], path: &[u8], buf: &mut [u8]) {
    use std::time::Instant;
    let round = |bytes: &[u8], buf: &mut [u8]| {
        let t = Instant::now();
        for _ in 0..2000 {
            black_box(open_lookup_read(black_box(bytes), path, buf));
        }
        t.elapsed().as_nanos() as f64 / 2000.0
    };
    let (mut s, mut l) = (f64::MAX, f64::MAX);
    for _ in 0..200 {
        s = s.min(round(small, buf));
        l = l.min(round(large, buf));
    }
    eprintln!(
        "interleaved open+lookup+read, fastest of 200 rounds: 1 MiB {s:.0} ns, 200 MiB {l:.0} ns, ratio {:.2}",
        l / s
    );
}

criterion_group!(benches, bench, compressed);
criterion_main!(benches);

//! Sparse files: writes and truncates far past the end cost only the bytes stored, holes read
//! as zeros, and the byte quota counts stored bytes (as tmpfs counts pages).

mod common;

use common::{create, fs_with};
use vfs_core::Errno::*;
use vfs_core::{Access, Config, Fd, FdFlags, Fs, OFlags, Whence};
use vfs_image::{ImageBuilder, Meta};

const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// A filesystem whose byte quota is `max_bytes`, and its root fd.
fn fs_quota(max_bytes: u64) -> (Fs, Fd) {
    fs_with(Config {
        max_bytes,
        ..Config::default()
    })
}

/// Opens the existing `name` under `r` for appending (`O_WRONLY | O_APPEND`).
fn open_append(fs: &mut Fs, r: Fd, name: &[u8]) -> Fd {
    let (of, acc) = (OFlags::empty(), Access::Write);
    fs.open(r, name, true, of, acc, FdFlags::APPEND, 0).unwrap()
}

fn pread_vec(fs: &mut Fs, fd: Fd, at: u64, n: usize) -> Vec<u8> {
    let mut b = vec![0xEEu8; n];
    let k = fs.pread(fd, &mut b, at).unwrap();
    b.truncate(k);
    b
}

#[test]
fn write_at_2gib_and_1tib_with_small_quota() {
    let (mut fs, r) = fs_quota(1 << 20);
    let fd = create(&mut fs, r, b"f");
    assert_eq!(fs.write(fd, b"head"), Ok(4));
    // CPython's test_large_file_ops: seek to 2 GiB and write.
    fs.seek(fd, 2 * GIB as i64, Whence::Set).unwrap();
    assert_eq!(fs.write(fd, b"xxx"), Ok(3));
    assert_eq!(fs.tell(fd), Ok(2 * GIB + 3));
    assert_eq!(fs.fstat(fd).unwrap().size, 2 * GIB + 3);
    assert!(fs.used_bytes() < 1 << 17, "used {}", fs.used_bytes());
    assert_eq!(fs.pwrite(fd, b"tail", TIB), Ok(4));
    assert_eq!(fs.fstat(fd).unwrap().size, TIB + 4);
    assert!(fs.used_bytes() < 1 << 18, "used {}", fs.used_bytes());
    // Data where written, zeros in the holes, nothing past the end.
    assert_eq!(pread_vec(&mut fs, fd, 0, 6), b"head\0\0");
    assert_eq!(pread_vec(&mut fs, fd, 2 * GIB - 2, 6), b"\0\0xxx\0");
    assert_eq!(pread_vec(&mut fs, fd, GIB, 5), [0u8; 5]);
    assert_eq!(pread_vec(&mut fs, fd, 500 * GIB, 3), [0u8; 3]);
    assert_eq!(pread_vec(&mut fs, fd, TIB - 1, 10), b"\0tail");
    assert_eq!(pread_vec(&mut fs, fd, TIB + 4, 10), b"");
    // A read spanning a hole and data, across a chunk edge.
    let mut big = vec![1u8; 200_000];
    let k = fs.pread(fd, &mut big, 2 * GIB - 100_000).unwrap();
    assert_eq!(k, 200_000);
    assert!(big[..100_000].iter().all(|&b| b == 0));
    assert_eq!(&big[100_000..100_003], b"xxx");
    assert!(big[100_003..].iter().all(|&b| b == 0));
    fs.check_invariants().unwrap();
}

#[test]
fn truncate_grow_is_free_and_shrink_frees() {
    let (mut fs, r) = fs_quota(1 << 20);
    let fd = create(&mut fs, r, b"f");
    fs.ftruncate(fd, TIB).unwrap();
    assert_eq!(fs.fstat(fd).unwrap().size, TIB);
    assert_eq!(fs.used_bytes(), 0);
    assert_eq!(pread_vec(&mut fs, fd, TIB - 3, 8), [0u8; 3]);
    // 100 KiB of data at 3 GiB, spread over chunks.
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8 + 1).collect();
    assert_eq!(fs.pwrite(fd, &data, 3 * GIB), Ok(data.len()));
    let used = fs.used_bytes();
    assert!(
        (100_000..100_000 + 2 * 65_536).contains(&used),
        "used {used}"
    );
    assert_eq!(pread_vec(&mut fs, fd, 3 * GIB, data.len()), data);
    // Shrinking into the data keeps its start, frees the rest.
    fs.ftruncate(fd, 3 * GIB + 10).unwrap();
    assert!(fs.used_bytes() < used, "used {}", fs.used_bytes());
    assert_eq!(pread_vec(&mut fs, fd, 3 * GIB, 20), &data[..10]);
    // Growing again shows zeros where the dropped data was.
    fs.ftruncate(fd, 4 * GIB).unwrap();
    assert_eq!(
        pread_vec(&mut fs, fd, 3 * GIB + 8, 4),
        [data[8], data[9], 0, 0]
    );
    fs.check_invariants().unwrap();
    // Shrinking below the data frees everything; to zero too.
    fs.ftruncate(fd, GIB).unwrap();
    assert_eq!(fs.used_bytes(), 0);
    fs.ftruncate(fd, 0).unwrap();
    assert_eq!(fs.used_bytes(), 0);
    assert_eq!(fs.fstat(fd).unwrap().size, 0);
    fs.check_invariants().unwrap();
    // Unlinking a sparse file with data returns its bytes.
    fs.pwrite(fd, b"abc", 5 * GIB).unwrap();
    assert!(fs.used_bytes() > 0);
    fs.close(fd).unwrap();
    fs.unlink(r, b"f").unwrap();
    assert_eq!(fs.used_bytes(), 0);
    fs.check_invariants().unwrap();
}

#[test]
fn quota_counts_stored_bytes() {
    let (mut fs, r) = fs_quota(300_000);
    let fd = create(&mut fs, r, b"f");
    let chunk = vec![7u8; 65_536];
    // Full chunks far apart: each costs its bytes, the holes nothing.
    for i in 0..4u64 {
        assert_eq!(fs.pwrite(fd, &chunk, i * GIB), Ok(65_536), "chunk {i}");
    }
    assert_eq!(fs.used_bytes(), 4 * 65_536);
    // The fifth fits only partly: a short write, as tmpfs.
    let n = fs.pwrite(fd, &chunk, 10 * GIB).unwrap();
    assert_eq!(n as u64, 300_000 - 4 * 65_536);
    assert_eq!(fs.used_bytes(), 300_000);
    assert_eq!(fs.pwrite(fd, b"z", 20 * GIB), Err(ENOSPC));
    // Overwriting stored bytes needs no space, growing into a hole does not either.
    assert_eq!(fs.pwrite(fd, b"zz", GIB), Ok(2));
    fs.ftruncate(fd, 30 * GIB).unwrap();
    // allocate promises space: refused past the quota.
    assert_eq!(fs.allocate(fd, 30 * GIB, 1 << 20), Err(ENOSPC));
    assert_eq!(fs.used_bytes(), 300_000);
    // Freeing a chunk makes room again.
    fs.ftruncate(fd, 3 * GIB).unwrap();
    assert_eq!(fs.used_bytes(), 3 * 65_536);
    assert_eq!(fs.pwrite(fd, &chunk, 7 * GIB), Ok(65_536));
    fs.check_invariants().unwrap();
}

#[test]
fn dense_files_stay_dense_and_switch_on_a_big_hole() {
    let (mut fs, r) = fs_quota(1 << 30);
    let fd = create(&mut fs, r, b"f");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(fs.write(fd, &data), Ok(data.len()));
    // A small gap is filled with stored zeros (and charged).
    assert_eq!(fs.pwrite(fd, b"q", 300_010), Ok(1));
    assert_eq!(fs.used_bytes(), 300_011);
    // A big one is a hole: the existing bytes carry over, the hole costs nothing.
    assert_eq!(fs.pwrite(fd, b"w", 64 * GIB), Ok(1));
    assert!(fs.used_bytes() < 300_011 + 65_536);
    assert_eq!(pread_vec(&mut fs, fd, 0, data.len()), data);
    assert_eq!(pread_vec(&mut fs, fd, 300_008, 4), b"\0\0q\0");
    assert_eq!(pread_vec(&mut fs, fd, 64 * GIB - 1, 4), b"\0w");
    // O_TRUNC makes it a plain empty file again.
    let fd2 = fs
        .open(
            r,
            b"f",
            true,
            OFlags::TRUNC,
            Access::Write,
            FdFlags::empty(),
            0,
        )
        .unwrap();
    assert_eq!(fs.used_bytes(), 0);
    assert_eq!(fs.write(fd2, b"new"), Ok(3));
    assert_eq!(pread_vec(&mut fs, fd, 0, 10), b"new");
    fs.check_invariants().unwrap();
}

#[test]
fn limits_stay() {
    let (mut fs, r) = fs_quota(1 << 20);
    let fd = create(&mut fs, r, b"f");
    let max = i64::MAX as u64;
    // Up to off_t's maximum. A range passing it is EINVAL (Linux's rw_verify_area) ...
    fs.ftruncate(fd, max).unwrap();
    assert_eq!(fs.ftruncate(fd, max + 1), Err(EINVAL));
    assert_eq!(fs.pwrite(fd, b"abc", max - 2), Err(EINVAL));
    assert_eq!(fs.pwrite(fd, b"ab", max - 2), Ok(2));
    assert_eq!(pread_vec(&mut fs, fd, max - 3, 3), b"\0ab");
    assert_eq!(fs.pread(fd, &mut [0u8; 4], max - 3), Err(EINVAL));
    fs.seek(fd, i64::MAX, Whence::Set).unwrap();
    assert_eq!(fs.write(fd, b"x"), Err(EINVAL));
    assert_eq!(fs.allocate(fd, max - 1, 2), Err(EFBIG));
    // ... while appending is cut short at off_t's maximum, and EFBIG there.
    fs.ftruncate(fd, max - 1).unwrap();
    let fa = open_append(&mut fs, r, b"f");
    assert_eq!(fs.write(fa, b"yz"), Ok(1));
    // The descriptor's offset is at the limit now (EINVAL); pwrite at 0 still appends.
    assert_eq!(fs.write(fa, b"z"), Err(EINVAL));
    assert_eq!(fs.pwrite(fa, b"z", 0), Err(EFBIG));
    assert_eq!(pread_vec(&mut fs, fd, max - 2, 2), b"ay");
    fs.close(fa).unwrap();
    // Appending to a huge sparse file goes to its end.
    fs.ftruncate(fd, 3 * TIB).unwrap();
    let fa = open_append(&mut fs, r, b"f");
    assert_eq!(fs.write(fa, b"end"), Ok(3));
    assert_eq!(fs.fstat(fa).unwrap().size, 3 * TIB + 3);
    assert!(fs.used_bytes() < 1 << 18);
    fs.check_invariants().unwrap();
}

fn image() -> &'static [u8] {
    let mut b = ImageBuilder::new();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8 + 1).collect();
    b.add_file(b"img", Meta::with_mode(0o644), data).unwrap();
    Box::leak(b.finish().unwrap().into_boxed_slice())
}

/// A filesystem over `img` with a byte quota of `max_bytes`, and its file `img` (from the image
/// layer, not yet copied up) open for reading and writing.
fn open_borrowed(img: &'static [u8], max_bytes: u64) -> (Fs, Fd) {
    let mut fs = Fs::with_layers(
        Config {
            max_bytes,
            ..Config::default()
        },
        &[img],
    )
    .unwrap();
    let r = fs.open_root().unwrap();
    let fd = fs
        .open(
            r,
            b"img",
            true,
            OFlags::empty(),
            Access::ReadWrite,
            FdFlags::empty(),
            0,
        )
        .unwrap();
    (fs, fd)
}

#[test]
fn copy_up_then_sparse_growth() {
    let img = image();
    let want: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8 + 1).collect();
    let (mut fs, fd) = open_borrowed(img, 200_000);
    // Growing a borrowed file far: copied up into chunks, the hole costs nothing.
    fs.ftruncate(fd, 2 * GIB).unwrap();
    assert_eq!(fs.used_bytes(), 100_000);
    assert_eq!(pread_vec(&mut fs, fd, 0, 100_000), want);
    assert_eq!(pread_vec(&mut fs, fd, 100_000 - 1, 3), [want[99_999], 0, 0]);
    assert_eq!(fs.pwrite(fd, b"far", 2 * GIB), Ok(3));
    assert_eq!(fs.fstat(fd).unwrap().size, 2 * GIB + 3);
    assert!(fs.used_bytes() < 200_000);
    fs.check_invariants().unwrap();

    // The same by a write far past the end of a fresh borrowed file.
    let (mut fs, fd) = open_borrowed(img, 200_000);
    assert_eq!(fs.used_bytes(), 0);
    assert_eq!(fs.pwrite(fd, b"X", TIB), Ok(1));
    assert!(fs.used_bytes() >= 100_001 && fs.used_bytes() < 200_000);
    assert_eq!(pread_vec(&mut fs, fd, 0, 100_000), want);
    assert_eq!(pread_vec(&mut fs, fd, TIB - 1, 2), b"\0X");
    fs.check_invariants().unwrap();

    // Copy-up needs quota for the borrowed bytes even when the write goes to a hole.
    let (mut fs, fd) = open_borrowed(img, 50_000);
    assert_eq!(fs.pwrite(fd, b"X", TIB), Err(ENOSPC));
    assert_eq!(fs.fstat(fd).unwrap().size, 100_000);
    assert_eq!(fs.used_bytes(), 0);
    fs.check_invariants().unwrap();
}

//! Unit tests of every public operation and its error cases, on `vfs-core` alone.

mod common;

use common::{create, fs_with};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use vfs_core::Errno::*;
use vfs_core::{
    Access, Config, Errno, Fd, FdFlags, FileType, FlockOp, Fs, OFlags, RangeLockKind, SetTime,
    Whence,
};

/// A filesystem with a ticking test clock (each reading is 1 ns later) and its root fd.
fn fs() -> (Fs, Fd) {
    let t = Arc::new(AtomicU64::new(1_000));
    fs_with(Config {
        clock: Box::new(move || t.fetch_add(1, Ordering::Relaxed)),
        ..Config::default()
    })
}

fn open(fs: &mut Fs, dir: Fd, p: &str, of: OFlags, acc: Access) -> Result<Fd, Errno> {
    fs.open(dir, p.as_bytes(), true, of, acc, FdFlags::empty(), 0o644)
}

fn write_file(fs: &mut Fs, dir: Fd, p: &str, data: &[u8]) {
    let fd = create(fs, dir, p);
    assert_eq!(fs.write(fd, data), Ok(data.len()));
    fs.close(fd).unwrap();
}

fn read_all(fs: &mut Fs, dir: Fd, p: &str) -> Vec<u8> {
    let fd = open(fs, dir, p, OFlags::empty(), Access::Read).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = fs.read(fd, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    fs.close(fd).unwrap();
    out
}

fn names(fs: &mut Fs, fd: Fd) -> Vec<String> {
    let mut v = Vec::new();
    fs.readdir(fd, 0, |e| {
        v.push(String::from_utf8_lossy(e.name).into_owned());
        true
    })
    .unwrap();
    v
}

fn ok(fs: &Fs) {
    fs.check_invariants().unwrap();
}

// ----- open ------------------------------------------------------------------------------

#[test]
fn open_create_excl_trunc_directory() {
    let (mut fs, r) = fs();
    assert_eq!(
        open(&mut fs, r, "f", OFlags::empty(), Access::Read),
        Err(ENOENT)
    );
    write_file(&mut fs, r, "f", b"hello");
    assert_eq!(
        open(&mut fs, r, "f", OFlags::CREAT | OFlags::EXCL, Access::Read),
        Err(EEXIST)
    );
    // CREAT without EXCL opens the existing file unchanged.
    let fd = open(&mut fs, r, "f", OFlags::CREAT, Access::Read).unwrap();
    assert_eq!(fs.fstat(fd).unwrap().size, 5);
    fs.close(fd).unwrap();
    // TRUNC empties it, even read-only as on Linux.
    let fd = open(&mut fs, r, "f", OFlags::TRUNC, Access::Read).unwrap();
    assert_eq!(fs.fstat(fd).unwrap().size, 0);
    fs.close(fd).unwrap();
    assert_eq!(
        open(&mut fs, r, "f", OFlags::DIRECTORY, Access::Read),
        Err(ENOTDIR)
    );
    assert_eq!(
        open(&mut fs, r, "f/", OFlags::empty(), Access::Read),
        Err(ENOTDIR)
    );
    assert_eq!(
        open(&mut fs, r, "f/x", OFlags::CREAT, Access::Read),
        Err(ENOTDIR)
    );
    assert_eq!(
        open(
            &mut fs,
            r,
            "g",
            OFlags::CREAT | OFlags::DIRECTORY,
            Access::Read
        ),
        Err(EINVAL)
    );
    assert_eq!(
        open(&mut fs, r, "new/", OFlags::CREAT, Access::Read),
        Err(EISDIR)
    );
    ok(&fs);
}

#[test]
fn open_directories() {
    let (mut fs, r) = fs();
    fs.mkdir(r, b"d", 0o755).unwrap();
    assert_eq!(
        open(&mut fs, r, "d", OFlags::empty(), Access::Write),
        Err(EISDIR)
    );
    assert_eq!(
        open(&mut fs, r, "d", OFlags::empty(), Access::ReadWrite),
        Err(EISDIR)
    );
    assert_eq!(
        open(&mut fs, r, "d", OFlags::CREAT, Access::Read),
        Err(EISDIR)
    );
    assert_eq!(
        open(&mut fs, r, "d", OFlags::TRUNC, Access::Read),
        Err(EISDIR)
    );
    assert_eq!(
        open(&mut fs, r, ".", OFlags::CREAT | OFlags::EXCL, Access::Read),
        Err(EEXIST)
    );
    let d = open(&mut fs, r, "d/", OFlags::DIRECTORY, Access::Read).unwrap();
    assert_eq!(fs.fd_file_type(d), Ok(FileType::Directory));
    let mut b = [0u8; 4];
    assert_eq!(fs.read(d, &mut b), Err(EISDIR));
    assert_eq!(fs.write(d, b"x"), Err(EBADF));
    // Relative to a directory fd.
    let f = create(&mut fs, d, "inner");
    fs.close(f).unwrap();
    assert_eq!(
        fs.stat(r, b"d/inner", true).unwrap().file_type,
        FileType::Regular
    );
    ok(&fs);
}

#[test]
fn open_bad_dirfd_and_absolute_paths() {
    let (mut fs, r) = fs();
    write_file(&mut fs, r, "f", b"x");
    assert_eq!(
        open(&mut fs, 77, "f", OFlags::empty(), Access::Read),
        Err(EBADF)
    );
    // An absolute path ignores the directory fd, even a bad one.
    let fd = open(&mut fs, 77, "/f", OFlags::empty(), Access::Read).unwrap();
    fs.close(fd).unwrap();
    // A dirfd that is a file: ENOTDIR for relative paths.
    let f = open(&mut fs, r, "f", OFlags::empty(), Access::Read).unwrap();
    assert_eq!(
        open(&mut fs, f, "x", OFlags::empty(), Access::Read),
        Err(ENOTDIR)
    );
    assert_eq!(
        open(&mut fs, r, "", OFlags::empty(), Access::Read),
        Err(ENOENT)
    );
}

#[test]
fn open_nofollow_and_symlink_creation() {
    let (mut fs, r) = fs();
    fs.symlink(b"target", r, b"l").unwrap();
    // Following a dangling symlink with CREAT creates its target.
    let fd = open(&mut fs, r, "l", OFlags::CREAT, Access::Write).unwrap();
    fs.write(fd, b"via link").unwrap();
    fs.close(fd).unwrap();
    assert_eq!(read_all(&mut fs, r, "target"), b"via link");
    let nofollow = |fs: &mut Fs, of| fs.open(r, b"l", false, of, Access::Read, FdFlags::empty(), 0);
    assert_eq!(nofollow(&mut fs, OFlags::empty()), Err(ELOOP));
    assert_eq!(nofollow(&mut fs, OFlags::DIRECTORY), Err(ENOTDIR));
    assert_eq!(nofollow(&mut fs, OFlags::CREAT), Err(ELOOP));
    assert_eq!(nofollow(&mut fs, OFlags::CREAT | OFlags::EXCL), Err(EEXIST));
    ok(&fs);
}

// ----- paths -----------------------------------------------------------------------------

#[test]
fn dot_dotdot_and_root() {
    let (mut fs, r) = fs();
    fs.mkdir(r, b"a", 0o755).unwrap();
    fs.mkdir(r, b"a/b", 0o755).unwrap();
    write_file(&mut fs, r, "a/b/f", b"1");
    let root_ino = fs.root_ino();
    assert_eq!(fs.stat(r, b"..", true).unwrap().ino, root_ino);
    assert_eq!(fs.stat(r, b"/../..", true).unwrap().ino, root_ino);
    assert_eq!(fs.stat(r, b"a/b/../../a/./b/f", true).unwrap().size, 1);
    assert_eq!(fs.stat(r, b"//a///b//f", true).unwrap().size, 1);
    let b = open(&mut fs, r, "a/b", OFlags::DIRECTORY, Access::Read).unwrap();
    assert_eq!(fs.stat(b, b"../../../a/b/f", true).unwrap().size, 1);
    assert_eq!(
        fs.stat(b, b"/a", true).unwrap().file_type,
        FileType::Directory
    );
    assert_eq!(fs.stat(r, b"a/b/f/..", true), Err(ENOTDIR));
    assert_eq!(fs.stat(r, b"a/b/f/", true), Err(ENOTDIR));
    assert_eq!(fs.stat(r, b"a/nope/f", true), Err(ENOENT));
}

#[test]
fn symlinks_relative_absolute_loops() {
    let (mut fs, r) = fs();
    fs.mkdir(r, b"d", 0o755).unwrap();
    write_file(&mut fs, r, "d/f", b"abc");
    fs.symlink(b"f", r, b"d/rel").unwrap();
    fs.symlink(b"/d/f", r, b"abs").unwrap();
    fs.symlink(b"d", r, b"dl").unwrap();
    assert_eq!(fs.stat(r, b"d/rel", true).unwrap().size, 3);
    assert_eq!(fs.stat(r, b"abs", true).unwrap().size, 3);
    assert_eq!(fs.stat(r, b"dl/f", true).unwrap().size, 3);
    assert_eq!(fs.stat(r, b"dl/rel", true).unwrap().size, 3);
    let l = fs.stat(r, b"abs", false).unwrap();
    assert_eq!((l.file_type, l.size, l.mode), (FileType::Symlink, 4, 0o777));
    // Trailing slash follows even for lstat, and demands a directory.
    assert_eq!(
        fs.stat(r, b"dl/", false).unwrap().file_type,
        FileType::Directory
    );
    assert_eq!(fs.stat(r, b"abs/", false), Err(ENOTDIR));
    // Loops.
    fs.symlink(b"loop", r, b"loop").unwrap();
    fs.symlink(b"b", r, b"a").unwrap();
    fs.symlink(b"a", r, b"b").unwrap();
    assert_eq!(fs.stat(r, b"loop", true), Err(ELOOP));
    assert_eq!(fs.stat(r, b"a/x", true), Err(ELOOP));
    assert_eq!(
        fs.stat(r, b"loop", false).unwrap().file_type,
        FileType::Symlink
    );
    // A chain of 40 links resolves; 41 is ELOOP.
    fs.symlink(b"d/f", r, b"c0").unwrap();
    for i in 1..=40 {
        fs.symlink(
            format!("c{}", i - 1).as_bytes(),
            r,
            format!("c{i}").as_bytes(),
        )
        .unwrap();
    }
    assert_eq!(fs.stat(r, b"c39", true).unwrap().size, 3);
    assert_eq!(fs.stat(r, b"c40", true), Err(ELOOP));
    ok(&fs);
}

#[test]
fn name_and_path_limits() {
    let (mut fs, r) = fs();
    let long = "x".repeat(256);
    let max = "y".repeat(255);
    assert_eq!(fs.mkdir(r, long.as_bytes(), 0o755), Err(ENAMETOOLONG));
    fs.mkdir(r, max.as_bytes(), 0o755).unwrap();
    assert_eq!(
        fs.stat(r, format!("{long}/a").as_bytes(), true),
        Err(ENAMETOOLONG)
    );
    let huge = "a/".repeat(2048);
    assert_eq!(fs.stat(r, huge.as_bytes(), true), Err(ENAMETOOLONG));
    assert_eq!(fs.stat(r, b"a\0b", true), Err(EINVAL));
    assert_eq!(fs.mkdir(r, b"n\0", 0o755), Err(EINVAL));
    assert_eq!(fs.symlink(b"", r, b"s"), Err(ENOENT));
    assert_eq!(fs.symlink(&[b'a'; 4096], r, b"s"), Err(ENAMETOOLONG));
}

// ----- read / write / seek ---------------------------------------------------------------

#[test]
fn read_write_seek_tell() {
    let (mut fs, r) = fs();
    let fd = create(&mut fs, r, "f");
    assert_eq!(fs.write(fd, b"hello world"), Ok(11));
    assert_eq!(fs.tell(fd), Ok(11));
    assert_eq!(fs.seek(fd, 0, Whence::Set), Ok(0));
    let mut b = [0u8; 5];
    assert_eq!(fs.read(fd, &mut b), Ok(5));
    assert_eq!(&b, b"hello");
    assert_eq!(fs.seek(fd, 1, Whence::Cur), Ok(6));
    assert_eq!(fs.read(fd, &mut b), Ok(5));
    assert_eq!(&b, b"world");
    assert_eq!(fs.read(fd, &mut b), Ok(0));
    assert_eq!(fs.seek(fd, -5, Whence::End), Ok(6));
    assert_eq!(fs.seek(fd, -1, Whence::Set), Err(EINVAL));
    assert_eq!(fs.seek(fd, -100, Whence::End), Err(EINVAL));
    assert_eq!(fs.seek(fd, i64::MAX, Whence::Cur), Err(EINVAL));
    // Beyond EOF: reads give 0, a write fills the gap with zeros.
    assert_eq!(fs.seek(fd, 20, Whence::Set), Ok(20));
    assert_eq!(fs.read(fd, &mut b), Ok(0));
    assert_eq!(fs.write(fd, b"!"), Ok(1));
    let all = read_all(&mut fs, r, "f");
    assert_eq!(all.len(), 21);
    assert_eq!(&all[11..20], &[0u8; 9]);
    assert_eq!(fs.seek(99, 0, Whence::Set), Err(EBADF));
    assert_eq!(fs.tell(99), Err(EBADF));
    ok(&fs);
}

#[test]
fn access_modes_are_enforced() {
    let (mut fs, r) = fs();
    write_file(&mut fs, r, "f", b"data");
    let ro = open(&mut fs, r, "f", OFlags::empty(), Access::Read).unwrap();
    let wo = open(&mut fs, r, "f", OFlags::empty(), Access::Write).unwrap();
    let mut b = [0u8; 4];
    assert_eq!(fs.write(ro, b"x"), Err(EBADF));
    assert_eq!(fs.pwrite(ro, b"x", 0), Err(EBADF));
    assert_eq!(fs.read(wo, &mut b), Err(EBADF));
    assert_eq!(fs.pread(wo, &mut b, 0), Err(EBADF));
    assert_eq!(fs.ftruncate(ro, 0), Err(EINVAL));
    assert_eq!(fs.allocate(ro, 0, 1), Err(EBADF));
    assert_eq!(fs.access(ro), Ok(Access::Read));
    assert_eq!(fs.access(wo), Ok(Access::Write));
    assert_eq!(fs.read(1234, &mut b), Err(EBADF));
}

#[test]
fn pread_pwrite_and_append() {
    let (mut fs, r) = fs();
    let fd = create(&mut fs, r, "f");
    assert_eq!(fs.pwrite(fd, b"abc", 5), Ok(3));
    assert_eq!(fs.tell(fd), Ok(0));
    let mut b = [9u8; 8];
    assert_eq!(fs.pread(fd, &mut b, 0), Ok(8));
    assert_eq!(&b, b"\0\0\0\0\0abc");
    assert_eq!(fs.pread(fd, &mut b, 100), Ok(0));
    assert_eq!(fs.pread(fd, &mut b, u64::MAX), Err(EINVAL));
    assert_eq!(fs.pwrite(fd, b"x", 1 << 63), Err(EINVAL));
    fs.close(fd).unwrap();
    let fd = fs
        .open(
            r,
            b"f",
            true,
            OFlags::empty(),
            Access::ReadWrite,
            FdFlags::APPEND,
            0,
        )
        .unwrap();
    assert_eq!(fs.write(fd, b"Z"), Ok(1));
    assert_eq!(fs.tell(fd), Ok(9));
    // Linux: pwrite on an O_APPEND descriptor appends.
    assert_eq!(fs.pwrite(fd, b"Y", 0), Ok(1));
    assert_eq!(read_all(&mut fs, r, "f"), b"\0\0\0\0\0abcZY");
    fs.set_fd_flags(fd, FdFlags::empty()).unwrap();
    assert_eq!(fs.fd_flags(fd), Ok(FdFlags::empty()));
    fs.seek(fd, 0, Whence::Set).unwrap();
    fs.write(fd, b"Q").unwrap();
    assert_eq!(read_all(&mut fs, r, "f")[0], b'Q');
}

#[test]
fn vectored_io() {
    let (mut fs, r) = fs();
    let fd = create(&mut fs, r, "f");
    assert_eq!(fs.write_vectored(fd, &[b"ab", b"", b"cde"]), Ok(5));
    let (mut x, mut y) = ([0u8; 3], [0u8; 3]);
    assert_eq!(fs.pread_vectored(fd, &mut [&mut x, &mut y], 0), Ok(5));
    assert_eq!((&x, &y[..2]), (b"abc", &b"de"[..]));
    fs.seek(fd, 1, Whence::Set).unwrap();
    assert_eq!(fs.read_vectored(fd, &mut [&mut x[..1], &mut y]), Ok(4));
    assert_eq!(fs.tell(fd), Ok(5));
    assert_eq!(fs.pwrite_vectored(fd, &[b"1", b"2"], 10), Ok(2));
    assert_eq!(fs.fstat(fd).unwrap().size, 12);
}

#[test]
fn truncate_and_allocate() {
    let (mut fs, r) = fs();
    let fd = create(&mut fs, r, "f");
    fs.write(fd, b"abcdef").unwrap();
    fs.ftruncate(fd, 3).unwrap();
    assert_eq!(read_all(&mut fs, r, "f"), b"abc");
    fs.ftruncate(fd, 5).unwrap();
    assert_eq!(read_all(&mut fs, r, "f"), b"abc\0\0");
    assert_eq!(fs.ftruncate(fd, 1 << 63), Err(EINVAL));
    assert_eq!(fs.allocate(fd, 0, 0), Err(EINVAL));
    fs.allocate(fd, 2, 10).unwrap();
    assert_eq!(fs.fstat(fd).unwrap().size, 12);
    fs.allocate(fd, 0, 1).unwrap(); // inside: no change
    assert_eq!(fs.fstat(fd).unwrap().size, 12);
    assert_eq!(fs.allocate(fd, i64::MAX as u64, 10), Err(EFBIG));
    let d = open(&mut fs, r, ".", OFlags::empty(), Access::Read).unwrap();
    assert_eq!(fs.ftruncate(d, 0), Err(EINVAL));
    assert_eq!(fs.ftruncate(99, 0), Err(EBADF));
    ok(&fs);
}

// ----- stat and times --------------------------------------------------------------------

#[test]
fn stat_fields_and_times() {
    let t = Arc::new(AtomicU64::new(100));
    let clock = t.clone();
    let (mut fs, r) = fs_with(Config {
        clock: Box::new(move || clock.load(Ordering::Relaxed)),
        dev: 42,
        uid: 7,
        gid: 8,
        ..Config::default()
    });
    let fd = fs
        .open(
            r,
            b"f",
            true,
            OFlags::CREAT,
            Access::ReadWrite,
            FdFlags::empty(),
            0o4640,
        )
        .unwrap();
    let s = fs.fstat(fd).unwrap();
    assert_eq!(
        (s.dev, s.uid, s.gid, s.mode, s.nlink),
        (42, 7, 8, 0o4640, 1)
    );
    assert_eq!((s.atime_ns, s.mtime_ns, s.ctime_ns), (100, 100, 100));
    t.store(200, Ordering::Relaxed);
    fs.write(fd, b"x").unwrap();
    let s = fs.fstat(fd).unwrap();
    assert_eq!((s.atime_ns, s.mtime_ns, s.ctime_ns), (100, 200, 200));
    t.store(300, Ordering::Relaxed);
    let mut b = [0u8; 1];
    fs.pread(fd, &mut b, 0).unwrap();
    assert_eq!(fs.fstat(fd).unwrap().atime_ns, 300);
    t.store(400, Ordering::Relaxed);
    fs.futimens(fd, SetTime::At(5), SetTime::Omit).unwrap();
    let s = fs.fstat(fd).unwrap();
    assert_eq!((s.atime_ns, s.mtime_ns, s.ctime_ns), (5, 200, 400));
    t.store(500, Ordering::Relaxed);
    fs.utimensat(r, b"f", true, SetTime::Omit, SetTime::Now)
        .unwrap();
    let s = fs.stat(r, b"f", true).unwrap();
    assert_eq!((s.atime_ns, s.mtime_ns, s.ctime_ns), (5, 500, 500));
    // Both omitted: nothing changes, not even ctime.
    t.store(600, Ordering::Relaxed);
    fs.futimens(fd, SetTime::Omit, SetTime::Omit).unwrap();
    assert_eq!(fs.fstat(fd).unwrap().ctime_ns, 500);
    // A symlink's own times with follow = false.
    fs.symlink(b"f", r, b"l").unwrap();
    fs.utimensat(r, b"l", false, SetTime::At(1), SetTime::At(2))
        .unwrap();
    assert_eq!(fs.stat(r, b"l", false).unwrap().mtime_ns, 2);
    assert_eq!(fs.stat(r, b"f", true).unwrap().mtime_ns, 500);
    // Creating a name changes the parent's mtime.
    t.store(700, Ordering::Relaxed);
    fs.mkdir(r, b"d", 0o700).unwrap();
    assert_eq!(fs.fstat(r).unwrap().mtime_ns, 700);
    assert_eq!(
        fs.utimensat(r, b"nope", true, SetTime::Now, SetTime::Now),
        Err(ENOENT)
    );
    assert_eq!(fs.futimens(99, SetTime::Now, SetTime::Now), Err(EBADF));
}

#[test]
fn directory_nlink_and_size() {
    let (mut fs, r) = fs();
    let s = fs.fstat(r).unwrap();
    assert_eq!((s.nlink, s.size), (2, 40));
    fs.mkdir(r, b"a", 0o755).unwrap();
    fs.mkdir(r, b"b", 0o755).unwrap();
    write_file(&mut fs, r, "f", b"");
    let s = fs.fstat(r).unwrap();
    assert_eq!((s.nlink, s.size), (4, 100));
    fs.rmdir(r, b"a").unwrap();
    assert_eq!(fs.fstat(r).unwrap().nlink, 3);
}

// ----- mkdir / rmdir / unlink ------------------------------------------------------------

#[test]
fn mkdir_errors() {
    let (mut fs, r) = fs();
    fs.mkdir(r, b"d/", 0o755).unwrap();
    assert_eq!(fs.mkdir(r, b"d", 0o755), Err(EEXIST));
    assert_eq!(fs.mkdir(r, b".", 0o755), Err(EEXIST));
    assert_eq!(fs.mkdir(r, b"/", 0o755), Err(EEXIST));
    assert_eq!(fs.mkdir(r, b"x/y", 0o755), Err(ENOENT));
    write_file(&mut fs, r, "f", b"");
    assert_eq!(fs.mkdir(r, b"f/y", 0o755), Err(ENOTDIR));
    fs.symlink(b"dangling", r, b"l").unwrap();
    assert_eq!(fs.mkdir(r, b"l", 0o755), Err(EEXIST));
    assert_eq!(fs.stat(r, b"d", true).unwrap().mode, 0o755);
    assert_eq!(fs.mkdir(9, b"z", 0o755), Err(EBADF));
}

#[test]
fn rmdir_errors() {
    let (mut fs, r) = fs();
    fs.mkdir(r, b"d", 0o755).unwrap();
    write_file(&mut fs, r, "d/f", b"");
    assert_eq!(fs.rmdir(r, b"d"), Err(ENOTEMPTY));
    assert_eq!(fs.rmdir(r, b"d/f"), Err(ENOTDIR));
    assert_eq!(fs.rmdir(r, b"/"), Err(EBUSY));
    assert_eq!(fs.rmdir(r, b"d/."), Err(EINVAL));
    assert_eq!(fs.rmdir(r, b"d/.."), Err(ENOTEMPTY));
    assert_eq!(fs.rmdir(r, b"nope"), Err(ENOENT));
    fs.symlink(b"d", r, b"l").unwrap();
    assert_eq!(fs.rmdir(r, b"l"), Err(ENOTDIR));
    fs.unlink(r, b"d/f").unwrap();
    fs.rmdir(r, b"d/").unwrap();
    assert_eq!(fs.stat(r, b"d", true), Err(ENOENT));
    ok(&fs);
}

#[test]
fn unlink_errors() {
    let (mut fs, r) = fs();
    fs.mkdir(r, b"d", 0o755).unwrap();
    write_file(&mut fs, r, "f", b"");
    assert_eq!(fs.unlink(r, b"d"), Err(EISDIR));
    assert_eq!(fs.unlink(r, b"."), Err(EISDIR));
    assert_eq!(fs.unlink(r, b"/"), Err(EISDIR));
    assert_eq!(fs.unlink(r, b"f/"), Err(ENOTDIR));
    assert_eq!(fs.unlink(r, b"nope"), Err(ENOENT));
    fs.symlink(b"d", r, b"l").unwrap();
    fs.unlink(r, b"l").unwrap(); // removes the link, not the directory
    assert!(fs.stat(r, b"d", true).is_ok());
    fs.unlink(r, b"f").unwrap();
    assert_eq!(fs.stat(r, b"f", true), Err(ENOENT));
    ok(&fs);
}

#[test]
fn unlink_while_open_keeps_data() {
    let (mut fs, r) = fs();
    let fd = create(&mut fs, r, "f");
    fs.write(fd, b"still here").unwrap();
    let inodes = fs.used_inodes();
    fs.unlink(r, b"f").unwrap();
    let s = fs.fstat(fd).unwrap();
    assert_eq!((s.nlink, s.size), (0, 10));
    let mut b = [0u8; 10];
    assert_eq!(fs.pread(fd, &mut b, 0), Ok(10));
    assert_eq!(&b, b"still here");
    fs.write(fd, b"!").unwrap();
    assert_eq!(fs.used_inodes(), inodes);
    ok(&fs);
    fs.close(fd).unwrap();
    assert_eq!(fs.used_inodes(), inodes - 1);
    assert_eq!(fs.used_bytes(), 0);
    ok(&fs);
}

#[test]
fn removed_open_directory() {
    let (mut fs, r) = fs();
    fs.mkdir(r, b"p", 0o755).unwrap();
    fs.mkdir(r, b"p/d", 0o755).unwrap();
    let d = open(&mut fs, r, "p/d", OFlags::DIRECTORY, Access::Read).unwrap();
    fs.rmdir(r, b"p/d").unwrap();
    assert_eq!(fs.fstat(d).unwrap().nlink, 0);
    let mut n = 0;
    fs.readdir(d, 0, |_| {
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        open(&mut fs, d, "x", OFlags::CREAT, Access::Write),
        Err(ENOENT)
    );
    assert_eq!(fs.mkdir(d, b"x", 0o755), Err(ENOENT));
    // `..` still leads to the old parent, even after that is removed too.
    fs.rmdir(r, b"p").unwrap();
    assert_eq!(fs.stat(d, b"..", true).unwrap().nlink, 0);
    ok(&fs);
    fs.close(d).unwrap();
    assert_eq!(fs.used_inodes(), 1);
    ok(&fs);
}

// ----- rename ----------------------------------------------------------------------------

#[test]
fn rename_cases() {
    let (mut fs, r) = fs();
    write_file(&mut fs, r, "a", b"A");
    write_file(&mut fs, r, "b", b"B");
    fs.rename(r, b"a", r, b"b").unwrap(); // over a file
    assert_eq!(read_all(&mut fs, r, "b"), b"A");
    assert_eq!(fs.stat(r, b"a", true), Err(ENOENT));
    fs.mkdir(r, b"d", 0o755).unwrap();
    fs.mkdir(r, b"e", 0o755).unwrap();
    fs.rename(r, b"d", r, b"e").unwrap(); // over an empty directory
    fs.mkdir(r, b"e/sub", 0o755).unwrap();
    assert_eq!(fs.rename(r, b"e", r, b"e/sub/x"), Err(EINVAL));
    assert_eq!(fs.rename(r, b"e", r, b"e/sub"), Err(EINVAL));
    assert_eq!(fs.rename(r, b"b", r, b"e"), Err(EISDIR));
    fs.mkdir(r, b"f", 0o755).unwrap();
    assert_eq!(fs.rename(r, b"f", r, b"b"), Err(ENOTDIR));
    assert_eq!(fs.rename(r, b"f", r, b"e"), Err(ENOTEMPTY));
    assert_eq!(fs.rename(r, b"e/sub", r, b"e/sub/.."), Err(EBUSY));
    assert_eq!(fs.rename(r, b".", r, b"x"), Err(EBUSY));
    assert_eq!(fs.rename(r, b"nope", r, b"x"), Err(ENOENT));
    assert_eq!(fs.rename(r, b"b/", r, b"x"), Err(ENOTDIR));
    assert_eq!(fs.rename(r, b"b", r, b"x/"), Err(ENOTDIR));
    fs.rename(r, b"f/", r, b"g/").unwrap();
    // Same inode (hard links): nothing happens, both names stay.
    fs.link(r, b"b", false, r, b"b2").unwrap();
    fs.rename(r, b"b", r, b"b2").unwrap();
    assert_eq!(fs.stat(r, b"b", true).unwrap().nlink, 2);
    // Moving a directory updates `..` and link counts.
    fs.rename(r, b"g", r, b"e/sub/g").unwrap();
    assert_eq!(
        fs.stat(r, b"e/sub/g/../..", true).unwrap().ino,
        fs.stat(r, b"e", true).unwrap().ino
    );
    assert_eq!(fs.stat(r, b"e/sub", true).unwrap().nlink, 3);
    ok(&fs);
}

#[test]
fn rename_over_open_file_keeps_it() {
    let (mut fs, r) = fs();
    write_file(&mut fs, r, "a", b"new");
    write_file(&mut fs, r, "b", b"old");
    let fd = open(&mut fs, r, "b", OFlags::empty(), Access::Read).unwrap();
    fs.rename(r, b"a", r, b"b").unwrap();
    let mut buf = [0u8; 3];
    assert_eq!(fs.read(fd, &mut buf), Ok(3));
    assert_eq!(&buf, b"old");
    assert_eq!(fs.fstat(fd).unwrap().nlink, 0);
    ok(&fs);
}

// ----- link / symlink / readlink ---------------------------------------------------------

#[test]
fn hard_links() {
    let (mut fs, r) = fs();
    write_file(&mut fs, r, "f", b"data");
    fs.link(r, b"f", false, r, b"g").unwrap();
    let (a, b) = (
        fs.stat(r, b"f", true).unwrap(),
        fs.stat(r, b"g", true).unwrap(),
    );
    assert_eq!((a.ino, a.nlink), (b.ino, 2));
    assert_eq!(fs.link(r, b"f", false, r, b"g"), Err(EEXIST));
    assert_eq!(fs.link(r, b"nope", false, r, b"h"), Err(ENOENT));
    assert_eq!(fs.link(r, b"f", false, r, b"h/"), Err(ENOENT));
    assert_eq!(fs.link(r, b"f", false, r, b"."), Err(EEXIST));
    fs.mkdir(r, b"d", 0o755).unwrap();
    assert_eq!(fs.link(r, b"d", false, r, b"d2"), Err(EPERM));
    // follow = false links the symlink itself; true links its target.
    fs.symlink(b"f", r, b"l").unwrap();
    fs.link(r, b"l", false, r, b"l2").unwrap();
    assert_eq!(
        fs.stat(r, b"l2", false).unwrap().file_type,
        FileType::Symlink
    );
    fs.link(r, b"l", true, r, b"f3").unwrap();
    assert_eq!(fs.stat(r, b"f3", false).unwrap().nlink, 3);
    fs.unlink(r, b"f").unwrap();
    assert_eq!(read_all(&mut fs, r, "g"), b"data");
    ok(&fs);
}

#[test]
fn readlink_rules() {
    let (mut fs, r) = fs();
    fs.symlink(b"some/target", r, b"l").unwrap();
    let mut big = [0u8; 64];
    assert_eq!(fs.readlink(r, b"l", &mut big), Ok(11));
    assert_eq!(&big[..11], b"some/target");
    let mut small = [0u8; 4];
    assert_eq!(fs.readlink(r, b"l", &mut small), Ok(4));
    assert_eq!(&small, b"some");
    assert_eq!(fs.readlink(r, b"l", &mut []), Err(EINVAL));
    write_file(&mut fs, r, "f", b"");
    assert_eq!(fs.readlink(r, b"f", &mut big), Err(EINVAL));
    assert_eq!(fs.readlink(r, b"nope", &mut big), Err(ENOENT));
    assert_eq!(fs.readlink(r, b"", &mut big), Err(ENOENT));
    assert_eq!(fs.readlink_vec(r, b"l").unwrap(), b"some/target");
    assert_eq!(fs.symlink(b"x", r, b"l"), Err(EEXIST));
    assert_eq!(fs.symlink(b"x", r, b"new/"), Err(ENOENT));
}

// ----- readdir ---------------------------------------------------------------------------

#[test]
fn readdir_lists_dot_dotdot_and_entries() {
    let (mut fs, r) = fs();
    fs.mkdir(r, b"d", 0o755).unwrap();
    write_file(&mut fs, r, "f", b"");
    fs.symlink(b"f", r, b"l").unwrap();
    let mut seen = Vec::new();
    fs.readdir(r, 0, |e| {
        seen.push((String::from_utf8_lossy(e.name).into_owned(), e.file_type));
        true
    })
    .unwrap();
    assert_eq!(
        seen,
        vec![
            (".".into(), FileType::Directory),
            ("..".into(), FileType::Directory),
            ("d".into(), FileType::Directory),
            ("f".into(), FileType::Regular),
            ("l".into(), FileType::Symlink),
        ]
    );
    let f = open(&mut fs, r, "f", OFlags::empty(), Access::Read).unwrap();
    assert_eq!(fs.readdir(f, 0, |_| true), Err(ENOTDIR));
    assert_eq!(fs.readdir(99, 0, |_| true), Err(EBADF));
}

#[test]
fn readdir_cookies_survive_changes() {
    let (mut fs, r) = fs();
    for i in 0..50 {
        write_file(&mut fs, r, &format!("f{i:02}"), b"");
    }
    // Read the first 20 entries (".", "..", f00..f17), then change the directory.
    let mut cookie = 0;
    let mut got = Vec::new();
    fs.readdir(r, 0, |e| {
        got.push(String::from_utf8_lossy(e.name).into_owned());
        cookie = e.next_cookie;
        got.len() < 20
    })
    .unwrap();
    assert_eq!(got.last().unwrap(), "f17");
    // Remove some already seen and some not yet seen, add new ones, rename one ahead.
    fs.unlink(r, b"f17").unwrap();
    fs.unlink(r, b"f03").unwrap();
    fs.unlink(r, b"f30").unwrap();
    write_file(&mut fs, r, "new", b"");
    fs.rename(r, b"f40", r, b"f41").unwrap(); // replaces f41 in place
    let mut rest = Vec::new();
    fs.readdir(r, cookie, |e| {
        rest.push(String::from_utf8_lossy(e.name).into_owned());
        true
    })
    .unwrap();
    let expected: Vec<String> = (18..50)
        .filter(|i| *i != 30 && *i != 40)
        .map(|i| format!("f{i:02}"))
        .chain(["new".to_string()])
        .collect();
    assert_eq!(rest, expected);
    // Every entry that existed throughout was seen exactly once.
    let all: Vec<_> = got.iter().chain(rest.iter()).collect();
    for i in (0..50).filter(|i| ![3, 17, 30, 40].contains(i)) {
        let n = format!("f{i:02}");
        assert_eq!(all.iter().filter(|x| ***x == n).count(), 1, "{n}");
    }
    assert_eq!(names(&mut fs, r).len(), 2 + 47);
}

// ----- descriptors -----------------------------------------------------------------------

#[test]
fn lowest_free_numbering_and_renumber() {
    let (mut fs, r) = fs();
    assert_eq!(r, 0);
    let a = create(&mut fs, r, "a");
    let b = create(&mut fs, r, "b");
    let c = create(&mut fs, r, "c");
    assert_eq!((a, b, c), (1, 2, 3));
    fs.close(b).unwrap();
    assert_eq!(fs.close(b), Err(EBADF));
    assert_eq!(create(&mut fs, r, "d"), 2);
    // renumber moves the description (offset included) and closes the target.
    fs.write(a, b"xyz").unwrap();
    fs.renumber(a, 3).unwrap();
    assert_eq!(fs.tell(3), Ok(3));
    assert_eq!(fs.tell(a), Err(EBADF));
    assert_eq!(fs.renumber(a, 5), Err(EBADF));
    assert_eq!(fs.renumber(3, 3), Ok(()));
    assert_eq!(fs.renumber(3, 100_000), Err(EBADF));
    fs.renumber(3, 10).unwrap();
    assert_eq!(create(&mut fs, r, "e"), 1);
    ok(&fs);
}

#[test]
fn host_fds_share_the_numbering() {
    let (mut fs, _) = fs_with(Config::default());
    // Root took 0; stdio-like host fds go to 1 and 2 explicitly, a preopen anywhere.
    assert_eq!(fs.adopt_host_fd(Some(1), 101), Ok(1));
    assert_eq!(fs.adopt_host_fd(Some(1), 101), Err(EEXIST));
    assert_eq!(fs.adopt_host_fd(None, 103), Ok(2));
    assert_eq!(fs.host_fd(2), Some(103));
    assert_eq!(fs.host_fd(0), None);
    let f = create(&mut fs, 0, "f");
    assert_eq!(f, 3);
    assert_eq!(fs.fstat(1), Err(EBADF));
    assert_eq!(fs.write(1, b"x"), Err(EBADF));
    fs.renumber(2, 7).unwrap();
    assert_eq!(fs.host_fd(7), Some(103));
    fs.close(1).unwrap();
    assert_eq!(fs.host_fd(1), None);
    assert_eq!(fs.open_fds(), 3);
}

#[test]
fn rights_and_flags_are_stored() {
    let (mut fs, r) = fs();
    assert_eq!(fs.rights(r), Ok((u64::MAX, u64::MAX)));
    fs.set_rights(r, 0b1010, 0b11).unwrap();
    assert_eq!(fs.rights(r), Ok((0b1010, 0b11)));
    assert_eq!(fs.rights(9), Err(EBADF));
    fs.set_fd_flags(r, FdFlags::NONBLOCK | FdFlags::SYNC)
        .unwrap();
    assert_eq!(fs.fd_flags(r), Ok(FdFlags::NONBLOCK | FdFlags::SYNC));
    assert_eq!(fs.sync(r), Ok(()));
    assert_eq!(fs.datasync(r), Ok(()));
    assert_eq!(fs.sync(9), Err(EBADF));
    assert_eq!(fs.datasync(9), Err(EBADF));
    assert_eq!(fs.fd_ino(r), Ok(fs.root_ino()));
}

// ----- limits ----------------------------------------------------------------------------

#[test]
fn byte_quota() {
    let (mut fs, r) = fs_with(Config {
        max_bytes: 10,
        ..Config::default()
    });
    let fd = create(&mut fs, r, "f");
    assert_eq!(fs.write(fd, b"12345678"), Ok(8));
    assert_eq!(fs.write(fd, b"abcdef"), Ok(2)); // short write, as tmpfs
    assert_eq!(fs.write(fd, b"z"), Err(ENOSPC));
    assert_eq!(fs.pwrite(fd, b"ZZ", 0), Ok(2)); // overwriting needs no space
                                                // Growing by truncation makes a hole, which costs nothing (as on tmpfs) ...
    fs.ftruncate(fd, 11).unwrap();
    assert_eq!(fs.used_bytes(), 10);
    // ... but posix_fallocate promises space.
    assert_eq!(fs.allocate(fd, 0, 20), Err(ENOSPC));
    assert_eq!(fs.symlink(b"t", r, b"l"), Err(ENOSPC));
    fs.ftruncate(fd, 4).unwrap();
    assert_eq!(fs.used_bytes(), 4);
    fs.symlink(b"tt", r, b"l").unwrap();
    assert_eq!(fs.used_bytes(), 6);
    ok(&fs);
    fs.unlink(r, b"l").unwrap();
    fs.close(fd).unwrap();
    fs.unlink(r, b"f").unwrap();
    assert_eq!(fs.used_bytes(), 0);
    ok(&fs);
}

#[test]
fn inode_quota() {
    let (mut fs, r) = fs_with(Config {
        max_inodes: 3,
        ..Config::default()
    });
    fs.mkdir(r, b"a", 0o755).unwrap();
    write_file(&mut fs, r, "b", b"");
    assert_eq!(fs.mkdir(r, b"c", 0o755), Err(ENOSPC));
    assert_eq!(
        open(&mut fs, r, "c", OFlags::CREAT, Access::Write),
        Err(ENOSPC)
    );
    assert_eq!(fs.symlink(b"x", r, b"c"), Err(ENOSPC));
    fs.link(r, b"b", false, r, b"c").unwrap(); // a link is no new inode
    fs.rmdir(r, b"a").unwrap();
    fs.mkdir(r, b"a2", 0o755).unwrap();
    ok(&fs);
}

#[test]
fn limits_changed_on_a_live_filesystem() {
    let (mut fs, r) = fs_with(Config::default());
    let fd = create(&mut fs, r, "f");
    assert_eq!(fs.write(fd, b"12345678"), Ok(8));
    // Below what is in use: refused, as a tmpfs remount is, and nothing changes.
    assert_eq!(fs.set_limits(7, 100, 100), Err(EINVAL));
    assert_eq!(fs.set_limits(100, 1, 100), Err(EINVAL));
    assert_eq!(fs.config().max_bytes, Config::default().max_bytes);
    fs.set_limits(10, 3, 100).unwrap();
    assert_eq!(fs.write(fd, b"abc"), Ok(2));
    assert_eq!(fs.write(fd, b"z"), Err(ENOSPC));
    write_file(&mut fs, r, "g", b"");
    assert_eq!(fs.mkdir(r, b"d", 0o755), Err(ENOSPC));
    // Descriptors above a lowered limit stay usable; new ones must fit under it.
    fs.set_limits(10, 3, fd).unwrap();
    assert_eq!(fs.pwrite(fd, b"Z", 0), Ok(1));
    assert_eq!(
        open(&mut fs, r, "g", OFlags::empty(), Access::Read),
        Err(EMFILE)
    );
    ok(&fs);
}

#[test]
fn fd_limit() {
    let (mut fs, r) = fs_with(Config {
        max_fds: 3,
        ..Config::default()
    });
    let _a = create(&mut fs, r, "a");
    let _b = create(&mut fs, r, "b");
    assert_eq!(
        open(&mut fs, r, "c", OFlags::CREAT, Access::Write),
        Err(EMFILE)
    );
    // Nothing was created by the refused open.
    assert_eq!(fs.stat(r, b"c", true), Err(ENOENT));
    assert_eq!(fs.open_root(), Err(EMFILE));
    assert_eq!(fs.adopt_host_fd(None, 5), Err(EMFILE));
    ok(&fs);
}

#[test]
fn huge_sizes_are_errors_not_aborts() {
    let (mut fs, r) = fs();
    let fd = create(&mut fs, r, "f");
    // Files are sparse: a huge length or offset costs only what is stored.
    fs.ftruncate(fd, 1 << 60).unwrap();
    assert_eq!(fs.pwrite(fd, b"x", 1 << 60), Ok(1));
    assert!(fs.used_bytes() <= 1 << 16);
    assert_eq!(fs.allocate(fd, 1 << 40, 1 << 61), Err(ENOSPC));
    fs.seek(fd, i64::MAX, Whence::Set).unwrap();
    // Linux's rw_verify_area: the range would pass off_t.
    assert_eq!(fs.write(fd, b"x"), Err(EINVAL));
    ok(&fs);
}

// ----- locks -----------------------------------------------------------------------------

#[test]
fn flock_per_description() {
    let (mut fs, r) = fs();
    let a = create(&mut fs, r, "f");
    let b = open(&mut fs, r, "f", OFlags::empty(), Access::Read).unwrap();
    fs.flock(a, FlockOp::Shared).unwrap();
    fs.flock(b, FlockOp::Shared).unwrap();
    assert_eq!(fs.flock(b, FlockOp::Exclusive), Err(Errno::EWOULDBLOCK));
    // The failed conversion dropped b's shared lock (Linux), so a can upgrade now.
    fs.flock(a, FlockOp::Exclusive).unwrap();
    assert_eq!(fs.flock(b, FlockOp::Shared), Err(EAGAIN));
    fs.close(a).unwrap(); // closing drops the lock
    fs.flock(b, FlockOp::Exclusive).unwrap();
    fs.flock(b, FlockOp::Unlock).unwrap();
    fs.flock(b, FlockOp::Unlock).unwrap();
    assert_eq!(fs.flock(42, FlockOp::Shared), Err(EBADF));
    // renumber carries the lock with the description.
    fs.flock(b, FlockOp::Exclusive).unwrap();
    fs.renumber(b, 9).unwrap();
    let c = open(&mut fs, r, "f", OFlags::empty(), Access::Read).unwrap();
    assert_eq!(fs.flock(c, FlockOp::Shared), Err(EAGAIN));
    fs.close(9).unwrap();
    fs.flock(c, FlockOp::Shared).unwrap();
}

#[test]
fn range_locks_per_owner() {
    let (mut fs, r) = fs();
    let a = create(&mut fs, r, "f");
    let ro = open(&mut fs, r, "f", OFlags::empty(), Access::Read).unwrap();
    let wo = open(&mut fs, r, "f", OFlags::empty(), Access::Write).unwrap();
    assert_eq!(
        fs.lock_range(ro, 1, RangeLockKind::Write, 0, 10),
        Err(EBADF)
    );
    assert_eq!(fs.lock_range(wo, 1, RangeLockKind::Read, 0, 10), Err(EBADF));
    fs.lock_range(a, 1, RangeLockKind::Write, 0, 10).unwrap();
    // Same owner: never a conflict, even through another descriptor.
    fs.lock_range(wo, 1, RangeLockKind::Write, 5, 10).unwrap();
    assert_eq!(
        fs.get_range_lock(ro, 1, RangeLockKind::Write, 0, 0),
        Ok(None)
    );
    // Other owner: conflicts with the merged 0..15 write lock.
    let c = fs
        .get_range_lock(ro, 2, RangeLockKind::Read, 14, 1)
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.owner, c.kind, c.start, c.len),
        (1, RangeLockKind::Write, 0, 15)
    );
    assert_eq!(fs.lock_range(ro, 2, RangeLockKind::Read, 3, 1), Err(EAGAIN));
    fs.lock_range(ro, 2, RangeLockKind::Read, 15, 0).unwrap();
    assert_eq!(
        fs.lock_range(a, 1, RangeLockKind::Write, 20, 1),
        Err(EAGAIN)
    );
    assert_eq!(
        fs.get_range_lock(ro, 1, RangeLockKind::Unlock, 0, 1),
        Err(EINVAL)
    );
    assert_eq!(
        fs.lock_range(a, 1, RangeLockKind::Write, u64::MAX, 2),
        Err(EINVAL)
    );
    // POSIX close rule: closing any fd owner 1 locked through drops all its locks on the file.
    fs.close(wo).unwrap();
    assert_eq!(
        fs.get_range_lock(ro, 2, RangeLockKind::Write, 0, 15),
        Ok(None)
    );
    fs.close(ro).unwrap();
    fs.lock_range(a, 1, RangeLockKind::Write, 0, 0).unwrap();
}

#[test]
fn errno_display_and_raw() {
    assert_eq!(ENOENT.to_string(), "no such file or directory (ENOENT)");
    assert_eq!(Errno::from_raw(ENOTEMPTY.raw()), Some(ENOTEMPTY));
    assert_eq!(Errno::EWOULDBLOCK, EAGAIN);
    assert_eq!(Errno::from_raw(9999), None);
    let e: Box<dyn std::error::Error> = Box::new(EEXIST);
    assert!(e.to_string().contains("EEXIST"));
}

#[test]
fn fs_can_move_between_threads() {
    // The shim keeps one Fs behind a lock; that needs Send.
    fn send<T: Send>() {}
    send::<Fs>();
    send::<Errno>();
}

/// Repeated lookups are answered from the path cache; every change of a directory's names
/// must be seen by the next lookup of a path through it, from the root and from a dirfd.
#[test]
fn path_cache_sees_every_namespace_change() {
    let (mut fs, root) = fs();
    fs.mkdir(root, b"a", 0o755).unwrap();
    fs.mkdir(root, b"a/b", 0o755).unwrap();
    write_file(&mut fs, root, "a/b/f", b"one");
    let a = open(&mut fs, root, "a", OFlags::DIRECTORY, Access::Read).unwrap();
    let ino = |fs: &mut Fs, dir: Fd, p: &str| fs.stat(dir, p.as_bytes(), true).map(|s| s.ino);
    let f1 = ino(&mut fs, root, "/a/b/f").unwrap();
    // Twice each, so the second answer comes from the cache.
    for _ in 0..2 {
        assert_eq!(ino(&mut fs, root, "/a/b/f"), Ok(f1));
        assert_eq!(ino(&mut fs, a, "b/f"), Ok(f1));
        assert_eq!(ino(&mut fs, root, "a/b/../b/./f"), Ok(f1));
    }
    // unlink, then create again: a new inode.
    fs.unlink(root, b"a/b/f").unwrap();
    assert_eq!(ino(&mut fs, root, "/a/b/f"), Err(ENOENT));
    assert_eq!(ino(&mut fs, a, "b/f"), Err(ENOENT));
    write_file(&mut fs, root, "a/b/f", b"two");
    let f2 = ino(&mut fs, root, "/a/b/f").unwrap();
    assert_eq!(ino(&mut fs, a, "b/f"), Ok(f2));
    // rename of a directory on the path, and back.
    fs.rename(root, b"a/b", root, b"a/c").unwrap();
    assert_eq!(ino(&mut fs, root, "/a/b/f"), Err(ENOENT));
    assert_eq!(ino(&mut fs, root, "/a/c/f"), Ok(f2));
    fs.rename(root, b"a/c", root, b"a/b").unwrap();
    assert_eq!(ino(&mut fs, root, "/a/c/f"), Err(ENOENT));
    assert_eq!(ino(&mut fs, root, "/a/b/f"), Ok(f2));
    // rename over the file, link, symlink, and a symlink replacing a directory.
    write_file(&mut fs, root, "g", b"three");
    let g = ino(&mut fs, root, "g").unwrap();
    fs.rename(root, b"g", root, b"a/b/f").unwrap();
    assert_eq!(ino(&mut fs, root, "/a/b/f"), Ok(g));
    fs.link(root, b"a/b/f", false, root, b"h").unwrap();
    assert_eq!(ino(&mut fs, root, "h"), Ok(g));
    fs.symlink(b"a/b", root, b"s").unwrap();
    assert_eq!(ino(&mut fs, root, "s/f"), Ok(g));
    let s = fs.stat(root, b"s", false).unwrap();
    assert_eq!(s.file_type, FileType::Symlink);
    assert_eq!(ino(&mut fs, root, "s"), ino(&mut fs, root, "a/b"));
    fs.unlink(root, b"a/b/f").unwrap();
    fs.rmdir(root, b"a/b").unwrap();
    assert_eq!(ino(&mut fs, root, "s/f"), Err(ENOENT));
    assert_eq!(ino(&mut fs, root, "s"), Err(ENOENT));
    assert_eq!(fs.stat(root, b"s", false).map(|s| s.ino), Ok(s.ino));
    fs.symlink(b"/h", root, b"a/b").unwrap();
    assert_eq!(ino(&mut fs, a, "b"), Ok(g));
    // A removed start directory lists nothing, also for a path looked up before.
    assert_eq!(ino(&mut fs, a, "b"), Ok(g));
    fs.unlink(root, b"a/b").unwrap();
    fs.rmdir(root, b"a").unwrap();
    assert_eq!(ino(&mut fs, a, "b"), Err(ENOENT));
    assert_eq!(ino(&mut fs, a, "."), Ok(fs.fd_ino(a).unwrap()));
    // The descriptor a relative path starts from is checked on every call.
    fs.close(a).unwrap();
    assert_eq!(ino(&mut fs, a, "b"), Err(EBADF));
    let f = open(&mut fs, root, "h", OFlags::empty(), Access::Read).unwrap();
    assert_eq!(ino(&mut fs, f, "x"), Err(ENOTDIR));
}

/// atime follows Linux's relatime (tmpfs's default): a read or a listing sets it only when it
/// is not later than the mtime or ctime, or is a day old.
#[test]
fn atime_is_relatime() {
    let t = Arc::new(AtomicU64::new(100));
    let clock = t.clone();
    let (mut fs, r) = fs_with(Config {
        clock: Box::new(move || clock.load(Ordering::Relaxed)),
        ..Config::default()
    });
    let fd = create(&mut fs, r, "f");
    let mut b = [0u8; 1];
    let atime = |fs: &Fs, fd: Fd| fs.fstat(fd).unwrap().atime_ns;
    // Created at 100: atime == mtime, so the first read stamps it.
    t.store(200, Ordering::Relaxed);
    fs.pread(fd, &mut b, 0).unwrap();
    assert_eq!(atime(&fs, fd), 200);
    // Now later than mtime and ctime: further reads leave it.
    t.store(300, Ordering::Relaxed);
    fs.pread(fd, &mut b, 0).unwrap();
    assert_eq!(atime(&fs, fd), 200);
    // A write makes the next read stamp it again.
    t.store(400, Ordering::Relaxed);
    fs.pwrite(fd, b"x", 0).unwrap();
    t.store(500, Ordering::Relaxed);
    fs.pread(fd, &mut b, 0).unwrap();
    assert_eq!(atime(&fs, fd), 500);
    // A day later (as the clock was last read: here by a mkdir) it is stamped again.
    let day = 24 * 3600 * 1_000_000_000u64;
    t.store(500 + day, Ordering::Relaxed);
    fs.pread(fd, &mut b, 0).unwrap();
    assert_eq!(atime(&fs, fd), 500, "no call has read the clock since 500");
    fs.mkdir(r, b"d", 0o755).unwrap();
    fs.pread(fd, &mut b, 0).unwrap();
    assert_eq!(atime(&fs, fd), 500 + day);
    // Directories too: the listing after a change stamps it, the next one does not.
    let d = open(&mut fs, r, "d", OFlags::DIRECTORY, Access::Read).unwrap();
    t.store(600 + day, Ordering::Relaxed);
    fs.readdir(d, 0, |_| true).unwrap();
    assert_eq!(atime(&fs, d), 600 + day);
    t.store(700 + day, Ordering::Relaxed);
    fs.readdir(d, 0, |_| true).unwrap();
    assert_eq!(atime(&fs, d), 600 + day);
}

/// A directory's whole listing: what `readdir_version` promises stays the same while the
/// version does.
fn listing(fs: &mut Fs, fd: Fd) -> Vec<(Vec<u8>, u64, FileType, u64)> {
    let mut v = Vec::new();
    fs.readdir(fd, 0, |e| {
        v.push((e.name.to_vec(), e.ino, e.file_type, e.next_cookie));
        true
    })
    .unwrap();
    v
}

#[test]
fn readdir_version_changes_exactly_when_listings_may() {
    let (mut fs, r) = fs();
    fs.mkdir(r, b"a", 0o755).unwrap();
    fs.mkdir(r, b"b", 0o755).unwrap();
    let dir = |fs: &mut Fs, p: &str| open(fs, r, p, OFlags::DIRECTORY, Access::Read).unwrap();
    let (a, b) = (dir(&mut fs, "a"), dir(&mut fs, "b"));
    type Step = fn(&mut Fs, Fd);
    // Each step, and whether it changes what `a` or `b` list (including `..`).
    let steps: Vec<(&str, Step, bool)> = vec![
        ("create a/f", |fs, r| write_file(fs, r, "a/f", b"1"), true),
        ("write a/f", |fs, r| write_file(fs, r, "a/f", b"22"), false),
        (
            "utimes a",
            |fs, r| {
                fs.utimensat(r, b"a", true, SetTime::Now, SetTime::Now)
                    .unwrap()
            },
            false,
        ),
        (
            "mkdir a/d",
            |fs, r| fs.mkdir(r, b"a/d", 0o755).unwrap(),
            true,
        ),
        (
            "link a/f a/g",
            |fs, r| fs.link(r, b"a/f", false, r, b"a/g").unwrap(),
            true,
        ),
        (
            "symlink a/s",
            |fs, r| fs.symlink(b"f", r, b"a/s").unwrap(),
            true,
        ),
        // Two names of one file: POSIX's rename does nothing.
        (
            "rename a/g over a/f",
            |fs, r| fs.rename(r, b"a/g", r, b"a/f").unwrap(),
            false,
        ),
        ("create a/h", |fs, r| write_file(fs, r, "a/h", b""), true),
        (
            "rename a/h over a/f",
            |fs, r| fs.rename(r, b"a/h", r, b"a/f").unwrap(),
            true,
        ),
        (
            "rename a/s to b/s",
            |fs, r| fs.rename(r, b"a/s", r, b"b/s").unwrap(),
            true,
        ),
        ("unlink b/s", |fs, r| fs.unlink(r, b"b/s").unwrap(), true),
        ("rmdir a/d", |fs, r| fs.rmdir(r, b"a/d").unwrap(), true),
        // `b`'s own names stay, but its `..` changes.
        (
            "move b into a",
            |fs, r| fs.rename(r, b"b", r, b"a/b").unwrap(),
            true,
        ),
    ];
    let mut before = [
        (fs.readdir_version(a).unwrap(), listing(&mut fs, a)),
        (fs.readdir_version(b).unwrap(), listing(&mut fs, b)),
    ];
    for (what, step, changes) in steps {
        step(&mut fs, r);
        let now = [
            (fs.readdir_version(a).unwrap(), listing(&mut fs, a)),
            (fs.readdir_version(b).unwrap(), listing(&mut fs, b)),
        ];
        for (old, new) in before.iter().zip(&now) {
            // The promise: the same version means the same listing.
            if old.0 == new.0 {
                assert_eq!(old.1, new.1, "{what}: listing changed, version did not");
            }
        }
        // And a step that leaves every listing alone keeps every version (else a cache of
        // listings would be useless).
        let any_changed = before.iter().zip(&now).any(|(o, n)| o.1 != n.1);
        assert_eq!(any_changed, changes, "{what}");
        if !changes {
            assert_eq!(before[0].0, now[0].0, "{what}: version changed needlessly");
            assert_eq!(before[1].0, now[1].0, "{what}: version changed needlessly");
        }
        before = now;
    }
    // A removed directory lists nothing and has no version; a new one in its place (which
    // may reuse its inode) gets a version never seen before.
    let old = fs.readdir_version(b).unwrap().unwrap();
    fs.rmdir(r, b"a/b").unwrap();
    assert_eq!(fs.readdir_version(b), Ok(None));
    fs.close(b).unwrap();
    fs.mkdir(r, b"a/b", 0o755).unwrap();
    let b2 = dir(&mut fs, "a/b");
    let new = fs.readdir_version(b2).unwrap().unwrap();
    assert!(new != old && new != before[0].0.unwrap());
    // Not a directory, or not open.
    let f = open(&mut fs, r, "a/f", OFlags::empty(), Access::Read).unwrap();
    assert_eq!(fs.readdir_version(f), Err(ENOTDIR));
    assert_eq!(fs.readdir_version(99), Err(EBADF));
    ok(&fs);
}

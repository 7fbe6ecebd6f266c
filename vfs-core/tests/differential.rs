//! Differential test: random operation sequences run on `vfs-core` and on the real kernel
//! (Linux tmpfs under `/dev/shm`), comparing every result and, at the end, the whole tree.
//!
//! The real side runs in a forked child that `chroot`s into a fresh directory, so absolute
//! paths, absolute symlink targets and `..` at the root mean there exactly what they mean in
//! `vfs-core`. The child also closes every inherited descriptor first, so the kernel hands out
//! descriptor numbers from 0 exactly as `vfs-core` does, and the numbers are compared too.
//! Needs root (for `chroot`); without it the test says so and passes nothing off as checked:
//! it fails.
//!
//! Cases: 2,000 by default; `PROPTEST_CASES=100000 cargo test -p vfs-core --release --test
//! differential` for the long run.

use proptest::prelude::*;
use std::ffi::CString;
use std::fmt::Write as _;
use vfs_core::{
    Access, Config, Errno, FdFlags, FileType, FlockOp, Fs, OFlags, RangeLockKind, SetTime, Whence,
};

// ---------------------------------------------------------------------------------------------
// Operations

#[derive(Clone, Debug)]
struct OpenArgs {
    creat: bool,
    excl: bool,
    trunc: bool,
    directory: bool,
    nofollow: bool,
    access: u8,
    append: bool,
    mode: u32,
}

#[derive(Clone, Debug)]
enum Op {
    Open(u32, Vec<u8>, OpenArgs),
    Close(u32),
    Read(u32, usize),
    Write(u32, usize, u8),
    Pread(u32, usize, u64),
    Pwrite(u32, usize, u8, u64),
    Seek(u32, i64, u8),
    Tell(u32),
    Fstat(u32),
    Stat(u32, Vec<u8>, bool),
    Ftruncate(u32, u64),
    Allocate(u32, u64, u64),
    Mkdir(u32, Vec<u8>, u32),
    Rmdir(u32, Vec<u8>),
    Unlink(u32, Vec<u8>),
    Rename(u32, Vec<u8>, u32, Vec<u8>),
    Link(u32, Vec<u8>, bool, u32, Vec<u8>),
    Symlink(Vec<u8>, u32, Vec<u8>),
    Readlink(u32, Vec<u8>, usize),
    Readdir(u32),
    Utimens(u32, Vec<u8>, bool),
    Futimens(u32),
    Fsync(u32),
    Fdatasync(u32),
    SetAppend(u32, bool),
    GetFlags(u32),
    Renumber(u32, u32),
    Flock(u32, u8),
    SetLk(u32, u8, u64, u64),
    GetLk(u32, u8, u64, u64),
    Dup(u32),
    DupFd(u32, u32),
    Dup2(u32, u32),
    Pipe,
}

/// A descriptor for calls on open files: mostly the few that opens hand out.
fn fd_sel() -> impl Strategy<Value = u32> {
    prop_oneof![14 => 1u32..4, 1 => Just(0u32), 1 => 4u32..9]
}

/// A directory descriptor for path calls: mostly the root (0).
fn dir_sel() -> impl Strategy<Value = u32> {
    prop_oneof![16 => Just(0u32), 3 => 1u32..4, 1 => 4u32..9]
}

fn component() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        20 => Just(b"a".to_vec()),
        20 => Just(b"b".to_vec()),
        12 => Just(b"c".to_vec()),
        2 => Just(b".".to_vec()),
        3 => Just(b"..".to_vec()),
        1 => Just(vec![b'x'; 256]),
    ]
}

fn path() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            6 => prop::collection::vec(component(), 1..2),
            3 => prop::collection::vec(component(), 2..3),
            1 => prop::collection::vec(component(), 3..4),
        ],
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.12),
        prop::bool::weighted(0.01),
    )
        .prop_map(|(comps, abs, trailing, empty)| {
            if empty {
                return Vec::new();
            }
            let mut p = Vec::new();
            if abs {
                p.push(b'/');
            }
            p.extend(comps.join(&b'/'));
            if trailing {
                p.push(b'/');
            }
            p
        })
}

fn open_args() -> impl Strategy<Value = OpenArgs> {
    (
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.06),
        prop::bool::weighted(0.1),
        prop_oneof![1 => Just(0u8), 1 => Just(1u8), 2 => Just(2u8)],
        prop::bool::weighted(0.2),
        prop::sample::select(vec![0o644u32, 0o600, 0o755]),
    )
        .prop_map(
            |(creat, excl, trunc, directory, nofollow, access, append, mode)| OpenArgs {
                creat,
                excl,
                trunc,
                directory,
                nofollow,
                access,
                append,
                mode,
            },
        )
}

/// Far offsets: a chunk edge of sparse files, past the largest hole a dense file fills, the
/// largest dense file, 2 GiB (CPython's test_large_file_ops), 1 TiB, and the `off_t` limit.
/// Both sides are sparse, so these cost only the bytes written.
const FAR: [u64; 6] = [
    64 * 1024,
    300_000,
    1 << 30,
    1 << 31,
    1 << 40,
    i64::MAX as u64 - 100,
];

/// An offset or length: mostly small, sometimes near one of `FAR` (on either side).
fn off(small: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..small,
        1 => (prop::sample::select(FAR.to_vec()), 0u64..160).prop_map(|(b, d)| b - 60 + d),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        24 => (dir_sel(), path(), open_args()).prop_map(|(d, p, a)| Op::Open(d, p, a)),
        2 => fd_sel().prop_map(Op::Close),
        3 => (fd_sel(), 0usize..80).prop_map(|(f, n)| Op::Read(f, n)),
        4 => (fd_sel(), 0usize..60, any::<u8>()).prop_map(|(f, n, b)| Op::Write(f, n, b)),
        2 => (fd_sel(), 0usize..80, off(120)).prop_map(|(f, n, o)| Op::Pread(f, n, o)),
        2 => (fd_sel(), 0usize..60, any::<u8>(), off(120)).prop_map(|(f, n, b, o)| Op::Pwrite(f, n, b, o)),
        2 => (fd_sel(), -20i64..150, 0u8..3).prop_map(|(f, o, w)| Op::Seek(f, o, w)),
        1 => (fd_sel(), off(150), 0u8..3).prop_map(|(f, o, w)| Op::Seek(f, o as i64, w)),
        1 => fd_sel().prop_map(Op::Tell),
        2 => fd_sel().prop_map(Op::Fstat),
        4 => (dir_sel(), path(), any::<bool>()).prop_map(|(d, p, f)| Op::Stat(d, p, f)),
        2 => (fd_sel(), off(150)).prop_map(|(f, l)| Op::Ftruncate(f, l)),
        1 => (fd_sel(), off(100), 0u64..100).prop_map(|(f, o, l)| Op::Allocate(f, o, l)),
        6 => (dir_sel(), path(), prop::sample::select(vec![0o755u32, 0o700])).prop_map(|(d, p, m)| Op::Mkdir(d, p, m)),
        3 => (dir_sel(), path()).prop_map(|(d, p)| Op::Rmdir(d, p)),
        3 => (dir_sel(), path()).prop_map(|(d, p)| Op::Unlink(d, p)),
        6 => (dir_sel(), path(), dir_sel(), path()).prop_map(|(a, p, b, q)| Op::Rename(a, p, b, q)),
        3 => (dir_sel(), path(), any::<bool>(), dir_sel(), path()).prop_map(|(a, p, f, b, q)| Op::Link(a, p, f, b, q)),
        4 => (path(), dir_sel(), path()).prop_map(|(t, d, p)| Op::Symlink(t, d, p)),
        2 => (dir_sel(), path(), 0usize..8).prop_map(|(d, p, n)| Op::Readlink(d, p, n)),
        3 => fd_sel().prop_map(Op::Readdir),
        1 => (dir_sel(), path(), any::<bool>()).prop_map(|(d, p, f)| Op::Utimens(d, p, f)),
        1 => fd_sel().prop_map(Op::Futimens),
        1 => fd_sel().prop_map(Op::Fsync),
        1 => fd_sel().prop_map(Op::Fdatasync),
        1 => (fd_sel(), any::<bool>()).prop_map(|(f, a)| Op::SetAppend(f, a)),
        1 => fd_sel().prop_map(Op::GetFlags),
        2 => (fd_sel(), fd_sel()).prop_map(|(a, b)| Op::Renumber(a, b)),
        2 => (fd_sel(), 0u8..3).prop_map(|(f, k)| Op::Flock(f, k)),
        1 => (fd_sel(), 0u8..3, 0u64..50, 0u64..50).prop_map(|(f, k, s, l)| Op::SetLk(f, k, s, l)),
        1 => (fd_sel(), 0u8..2, 0u64..50, 0u64..50).prop_map(|(f, k, s, l)| Op::GetLk(f, k, s, l)),
        2 => fd_sel().prop_map(Op::Dup),
        1 => (fd_sel(), 0u32..9).prop_map(|(f, m)| Op::DupFd(f, m)),
        2 => (fd_sel(), fd_sel()).prop_map(|(a, b)| Op::Dup2(a, b)),
        2 => Just(Op::Pipe),
    ]
}

// ---------------------------------------------------------------------------------------------
// Result encoding shared by both sides

fn err_name(raw: i32) -> String {
    match Errno::from_raw(raw) {
        Some(e) => e.name().to_string(),
        None => format!("E{raw}"),
    }
}

fn ftype_char(t: FileType) -> char {
    match t {
        FileType::Regular => 'f',
        FileType::Directory => 'd',
        FileType::Symlink => 'l',
        FileType::CharDevice => 'c',
        FileType::Fifo => 'p',
    }
}

fn fmt_stat(t: char, perm: u32, nlink: u64, size: u64) -> String {
    format!("{t} {perm:o} n{nlink} s{size}")
}

/// The parts of a file `size` bytes long whose contents the trees compare: all of a small
/// file; of a large (sparse) one the start, the end and around each of `FAR`, where the
/// operations write (everything they write lands within 400 bytes of those).
fn windows(size: u64) -> Vec<(u64, usize)> {
    const W: u64 = 1024;
    if size <= 1 << 20 {
        return vec![(0, size as usize)];
    }
    let mut v = vec![(0, W as usize)];
    for b in FAR {
        let lo = b.saturating_sub(W).max(W);
        if lo < size {
            v.push((lo, ((size - lo).min(2 * W)) as usize));
        }
    }
    v.push((size - W, W as usize));
    v
}

fn data(n: usize, b: u8) -> Vec<u8> {
    (0..n).map(|i| b.wrapping_add(i as u8)).collect()
}

// ---------------------------------------------------------------------------------------------
// vfs-core side

fn vfs_err(e: Errno) -> String {
    format!("err {}", e.name())
}

fn vfs_apply(fs: &mut Fs, op: &Op) -> String {
    let r: Result<String, Errno> = (|| {
        Ok(match op {
            Op::Open(d, p, a) => {
                let mut of = OFlags::empty();
                of.set(OFlags::CREAT, a.creat);
                of.set(OFlags::EXCL, a.excl);
                of.set(OFlags::TRUNC, a.trunc);
                of.set(OFlags::DIRECTORY, a.directory);
                let acc = [Access::Read, Access::Write, Access::ReadWrite][a.access as usize];
                let ff = if a.append {
                    FdFlags::APPEND
                } else {
                    FdFlags::empty()
                };
                let fd = fs.open(*d, p, !a.nofollow, of, acc, ff, a.mode)?;
                format!("fd {fd}")
            }
            Op::Close(f) => {
                fs.close(*f)?;
                "ok".into()
            }
            Op::Read(f, n) => {
                let mut b = vec![0; *n];
                let k = fs.read(*f, &mut b)?;
                format!("{:?}", &b[..k])
            }
            Op::Write(f, n, b) => format!("{}", fs.write(*f, &data(*n, *b))?),
            Op::Pread(f, n, o) => {
                let mut b = vec![0; *n];
                let k = fs.pread(*f, &mut b, *o)?;
                format!("{:?}", &b[..k])
            }
            Op::Pwrite(f, n, b, o) => format!("{}", fs.pwrite(*f, &data(*n, *b), *o)?),
            Op::Seek(f, o, w) => {
                let w = [Whence::Set, Whence::Cur, Whence::End][*w as usize];
                format!("{}", fs.seek(*f, *o, w)?)
            }
            Op::Tell(f) => format!("{}", fs.tell(*f)?),
            Op::Fstat(f) => {
                let s = fs.fstat(*f)?;
                fmt_stat(ftype_char(s.file_type), s.mode, s.nlink, s.size)
            }
            Op::Stat(d, p, follow) => {
                let s = fs.stat(*d, p, *follow)?;
                fmt_stat(ftype_char(s.file_type), s.mode, s.nlink, s.size)
            }
            Op::Ftruncate(f, l) => {
                fs.ftruncate(*f, *l)?;
                "ok".into()
            }
            Op::Allocate(f, o, l) => {
                fs.allocate(*f, *o, *l)?;
                "ok".into()
            }
            Op::Mkdir(d, p, m) => {
                fs.mkdir(*d, p, *m)?;
                "ok".into()
            }
            Op::Rmdir(d, p) => {
                fs.rmdir(*d, p)?;
                "ok".into()
            }
            Op::Unlink(d, p) => {
                fs.unlink(*d, p)?;
                "ok".into()
            }
            Op::Rename(a, p, b, q) => {
                fs.rename(*a, p, *b, q)?;
                "ok".into()
            }
            Op::Link(a, p, f, b, q) => {
                fs.link(*a, p, *f, *b, q)?;
                "ok".into()
            }
            Op::Symlink(t, d, p) => {
                fs.symlink(t, *d, p)?;
                "ok".into()
            }
            Op::Readlink(d, p, n) => {
                let mut b = vec![0; *n];
                let k = fs.readlink(*d, p, &mut b)?;
                format!("{:?}", &b[..k])
            }
            Op::Readdir(f) => {
                let mut names = Vec::new();
                fs.readdir(*f, 0, |e| {
                    names.push(format!(
                        "{}:{}",
                        String::from_utf8_lossy(e.name),
                        ftype_char(e.file_type)
                    ));
                    true
                })?;
                names.sort();
                names.join(",")
            }
            Op::Utimens(d, p, follow) => {
                fs.utimensat(*d, p, *follow, SetTime::Now, SetTime::Omit)?;
                "ok".into()
            }
            Op::Futimens(f) => {
                fs.futimens(*f, SetTime::Omit, SetTime::Now)?;
                "ok".into()
            }
            Op::Fsync(f) => {
                fs.sync(*f)?;
                "ok".into()
            }
            Op::Fdatasync(f) => {
                fs.datasync(*f)?;
                "ok".into()
            }
            Op::SetAppend(f, a) => {
                // Only O_APPEND changes: a pipe's O_NONBLOCK stays (see the real side).
                let mut fl = fs.fd_flags(*f)? & FdFlags::NONBLOCK;
                fl.set(FdFlags::APPEND, *a);
                fs.set_fd_flags(*f, fl)?;
                "ok".into()
            }
            Op::GetFlags(f) => {
                let acc = match fs.access(*f)? {
                    Access::Read => "r",
                    Access::Write => "w",
                    Access::ReadWrite => "rw",
                };
                let fl = fs.fd_flags(*f)?;
                let (app, nb) = (fl.contains(FdFlags::APPEND), fl.contains(FdFlags::NONBLOCK));
                format!("{acc} append={app} nonblock={nb}")
            }
            Op::Renumber(a, b) => {
                fs.renumber(*a, *b)?;
                "ok".into()
            }
            Op::Dup(f) => format!("{}", fs.dup(*f, 0)?),
            Op::DupFd(f, m) => format!("{}", fs.dup(*f, *m)?),
            Op::Dup2(a, b) => format!("{}", fs.dup2(*a, *b)?),
            Op::Pipe => {
                let (r, w) = fs.pipe(FdFlags::NONBLOCK)?;
                format!("{r} {w}")
            }
            Op::Flock(f, k) => {
                let op = [FlockOp::Shared, FlockOp::Exclusive, FlockOp::Unlock][*k as usize];
                fs.flock(*f, op)?;
                "ok".into()
            }
            Op::SetLk(f, k, s, l) => {
                let kind = [
                    RangeLockKind::Read,
                    RangeLockKind::Write,
                    RangeLockKind::Unlock,
                ][*k as usize];
                fs.lock_range(*f, 0, kind, *s, *l)?;
                "ok".into()
            }
            Op::GetLk(f, k, s, l) => {
                let kind = [RangeLockKind::Read, RangeLockKind::Write][*k as usize];
                match fs.get_range_lock(*f, 0, kind, *s, *l)? {
                    None => "unlocked".into(),
                    Some(l) => format!("{l:?}"),
                }
            }
        })
    })();
    r.unwrap_or_else(vfs_err)
}

fn vfs_tree(fs: &mut Fs) -> String {
    let mut out = String::new();
    let root = fs.open_root().expect("open root for the final walk");
    let mut classes: Vec<(u64, String)> = Vec::new();
    vfs_walk(fs, root, b"", &mut out, &mut classes);
    fs.close(root).unwrap();
    out
}

fn class_of(classes: &mut Vec<(u64, String)>, ino: u64, path: &str) -> String {
    if let Some((_, p)) = classes.iter().find(|(i, _)| *i == ino) {
        return p.clone();
    }
    classes.push((ino, path.to_string()));
    path.to_string()
}

fn vfs_walk(
    fs: &mut Fs,
    root: u32,
    dir: &[u8],
    out: &mut String,
    classes: &mut Vec<(u64, String)>,
) {
    let dpath = if dir.is_empty() {
        b"/".to_vec()
    } else {
        dir.to_vec()
    };
    let dfd = fs
        .open(
            root,
            &dpath,
            false,
            OFlags::DIRECTORY,
            Access::Read,
            FdFlags::empty(),
            0,
        )
        .expect("open dir for walk");
    let mut names = Vec::new();
    fs.readdir(dfd, 0, |e| {
        if e.name != b"." && e.name != b".." {
            names.push(e.name.to_vec());
        }
        true
    })
    .unwrap();
    fs.close(dfd).unwrap();
    names.sort();
    for n in names {
        let mut p = dir.to_vec();
        p.push(b'/');
        p.extend_from_slice(&n);
        let s = fs.stat(root, &p, false).unwrap();
        let ps = String::from_utf8_lossy(&p).into_owned();
        let class = class_of(classes, s.ino, &ps);
        let _ = write!(
            out,
            "{ps} {} ={class}",
            fmt_stat(ftype_char(s.file_type), s.mode, s.nlink, s.size)
        );
        match s.file_type {
            FileType::Regular => {
                let fd = fs
                    .open(
                        root,
                        &p,
                        false,
                        OFlags::empty(),
                        Access::Read,
                        FdFlags::empty(),
                        0,
                    )
                    .unwrap();
                let mut text = String::new();
                for (at, n) in windows(s.size) {
                    let mut b = vec![0; n];
                    let k = fs.pread(fd, &mut b, at).unwrap();
                    let _ = write!(text, " @{at} {:?}", &b[..k]);
                }
                fs.close(fd).unwrap();
                let _ = writeln!(out, "{text}");
            }
            FileType::Symlink => {
                let t = fs.readlink_vec(root, &p).unwrap();
                let _ = writeln!(out, " -> {}", String::from_utf8_lossy(&t));
            }
            FileType::Directory => {
                let _ = writeln!(out);
                vfs_walk(fs, root, &p, out, classes);
            }
            // The sequences make neither devices nor pipes in the tree.
            FileType::CharDevice | FileType::Fifo => {
                let _ = writeln!(out);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real side (runs in the chrooted child)

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn cstr(p: &[u8]) -> CString {
    CString::new(p).expect("generated paths have no NUL")
}

fn real_err() -> String {
    format!("err {}", err_name(errno()))
}

fn check(r: libc::c_int) -> Result<libc::c_int, String> {
    if r < 0 {
        Err(real_err())
    } else {
        Ok(r)
    }
}

fn check_ssize(r: libc::ssize_t) -> Result<usize, String> {
    if r < 0 {
        Err(real_err())
    } else {
        Ok(r as usize)
    }
}

fn real_ftype(mode: libc::mode_t) -> char {
    match mode & libc::S_IFMT {
        libc::S_IFREG => 'f',
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        libc::S_IFCHR => 'c',
        libc::S_IFIFO => 'p',
        _ => '?',
    }
}

fn real_stat_str(st: &libc::stat) -> String {
    fmt_stat(
        real_ftype(st.st_mode),
        st.st_mode & 0o7777,
        st.st_nlink,
        st.st_size as u64,
    )
}

#[allow(unsafe_code)]
fn real_apply(op: &Op) -> String {
    // SAFETY (whole function): plain system calls on integer descriptors, NUL-terminated
    // paths that live across the call, and buffers whose lengths are passed with them.
    let r: Result<String, String> = (|| unsafe {
        Ok(match op {
            Op::Open(d, p, a) => {
                let mut fl = [libc::O_RDONLY, libc::O_WRONLY, libc::O_RDWR][a.access as usize];
                for (on, bit) in [
                    (a.creat, libc::O_CREAT),
                    (a.excl, libc::O_EXCL),
                    (a.trunc, libc::O_TRUNC),
                    (a.directory, libc::O_DIRECTORY),
                    (a.nofollow, libc::O_NOFOLLOW),
                    (a.append, libc::O_APPEND),
                ] {
                    if on {
                        fl |= bit;
                    }
                }
                let c = cstr(p);
                let fd = check(libc::openat(
                    *d as i32,
                    c.as_ptr(),
                    fl,
                    a.mode as libc::c_uint,
                ))?;
                format!("fd {fd}")
            }
            Op::Close(f) => {
                check(libc::close(*f as i32))?;
                "ok".into()
            }
            Op::Read(f, n) => {
                let mut b = vec![0u8; *n];
                let k = check_ssize(libc::read(*f as i32, b.as_mut_ptr().cast(), *n))?;
                format!("{:?}", &b[..k])
            }
            Op::Write(f, n, b) => {
                let d = data(*n, *b);
                format!(
                    "{}",
                    check_ssize(libc::write(*f as i32, d.as_ptr().cast(), *n))?
                )
            }
            Op::Pread(f, n, o) => {
                let mut b = vec![0u8; *n];
                let k = check_ssize(libc::pread(*f as i32, b.as_mut_ptr().cast(), *n, *o as i64))?;
                format!("{:?}", &b[..k])
            }
            Op::Pwrite(f, n, b, o) => {
                let d = data(*n, *b);
                format!(
                    "{}",
                    check_ssize(libc::pwrite(*f as i32, d.as_ptr().cast(), *n, *o as i64))?
                )
            }
            Op::Seek(f, o, w) => {
                let w = [libc::SEEK_SET, libc::SEEK_CUR, libc::SEEK_END][*w as usize];
                let r = libc::lseek(*f as i32, *o, w);
                if r < 0 {
                    return Err(real_err());
                }
                format!("{r}")
            }
            Op::Tell(f) => {
                let r = libc::lseek(*f as i32, 0, libc::SEEK_CUR);
                if r < 0 {
                    return Err(real_err());
                }
                format!("{r}")
            }
            Op::Fstat(f) => {
                let mut st: libc::stat = std::mem::zeroed();
                check(libc::fstat(*f as i32, &mut st))?;
                real_stat_str(&st)
            }
            Op::Stat(d, p, follow) => {
                let mut st: libc::stat = std::mem::zeroed();
                let c = cstr(p);
                let fl = if *follow {
                    0
                } else {
                    libc::AT_SYMLINK_NOFOLLOW
                };
                check(libc::fstatat(*d as i32, c.as_ptr(), &mut st, fl))?;
                real_stat_str(&st)
            }
            Op::Ftruncate(f, l) => {
                check(libc::ftruncate(*f as i32, *l as i64))?;
                "ok".into()
            }
            Op::Allocate(f, o, l) => {
                check(libc::fallocate(*f as i32, 0, *o as i64, *l as i64))?;
                "ok".into()
            }
            Op::Mkdir(d, p, m) => {
                let c = cstr(p);
                check(libc::mkdirat(*d as i32, c.as_ptr(), *m))?;
                "ok".into()
            }
            Op::Rmdir(d, p) => {
                let c = cstr(p);
                check(libc::unlinkat(*d as i32, c.as_ptr(), libc::AT_REMOVEDIR))?;
                "ok".into()
            }
            Op::Unlink(d, p) => {
                let c = cstr(p);
                check(libc::unlinkat(*d as i32, c.as_ptr(), 0))?;
                "ok".into()
            }
            Op::Rename(a, p, b, q) => {
                let (c, e) = (cstr(p), cstr(q));
                check(libc::renameat(*a as i32, c.as_ptr(), *b as i32, e.as_ptr()))?;
                "ok".into()
            }
            Op::Link(a, p, f, b, q) => {
                let (c, e) = (cstr(p), cstr(q));
                let fl = if *f { libc::AT_SYMLINK_FOLLOW } else { 0 };
                check(libc::linkat(
                    *a as i32,
                    c.as_ptr(),
                    *b as i32,
                    e.as_ptr(),
                    fl,
                ))?;
                "ok".into()
            }
            Op::Symlink(t, d, p) => {
                let (c, e) = (cstr(t), cstr(p));
                check(libc::symlinkat(c.as_ptr(), *d as i32, e.as_ptr()))?;
                "ok".into()
            }
            Op::Readlink(d, p, n) => {
                let c = cstr(p);
                let mut b = vec![0u8; *n];
                let k = check_ssize(libc::readlinkat(
                    *d as i32,
                    c.as_ptr(),
                    b.as_mut_ptr().cast(),
                    *n,
                ))?;
                format!("{:?}", &b[..k])
            }
            Op::Readdir(f) => {
                let dot = cstr(b".");
                let nfd = check(libc::openat(
                    *f as i32,
                    dot.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY,
                ))?;
                let dir = libc::fdopendir(nfd);
                if dir.is_null() {
                    let e = real_err();
                    libc::close(nfd);
                    return Err(e);
                }
                let mut names = Vec::new();
                let mut failed = None;
                loop {
                    *libc::__errno_location() = 0;
                    let ent = libc::readdir(dir);
                    if ent.is_null() {
                        if errno() != 0 {
                            failed = Some(real_err());
                        }
                        break;
                    }
                    let name = std::ffi::CStr::from_ptr((*ent).d_name.as_ptr());
                    let t = match (*ent).d_type {
                        libc::DT_REG => 'f',
                        libc::DT_DIR => 'd',
                        libc::DT_LNK => 'l',
                        _ => '?',
                    };
                    names.push(format!("{}:{t}", name.to_string_lossy()));
                }
                libc::closedir(dir);
                if let Some(e) = failed {
                    return Err(e);
                }
                names.sort();
                names.join(",")
            }
            Op::Utimens(d, p, follow) => {
                let c = cstr(p);
                let ts = [
                    libc::timespec {
                        tv_sec: 0,
                        tv_nsec: libc::UTIME_NOW,
                    },
                    libc::timespec {
                        tv_sec: 0,
                        tv_nsec: libc::UTIME_OMIT,
                    },
                ];
                let fl = if *follow {
                    0
                } else {
                    libc::AT_SYMLINK_NOFOLLOW
                };
                check(libc::utimensat(*d as i32, c.as_ptr(), ts.as_ptr(), fl))?;
                "ok".into()
            }
            Op::Futimens(f) => {
                let ts = [
                    libc::timespec {
                        tv_sec: 0,
                        tv_nsec: libc::UTIME_OMIT,
                    },
                    libc::timespec {
                        tv_sec: 0,
                        tv_nsec: libc::UTIME_NOW,
                    },
                ];
                check(libc::futimens(*f as i32, ts.as_ptr()))?;
                "ok".into()
            }
            Op::Fsync(f) => {
                check(libc::fsync(*f as i32))?;
                "ok".into()
            }
            Op::Fdatasync(f) => {
                check(libc::fdatasync(*f as i32))?;
                "ok".into()
            }
            Op::SetAppend(f, a) => {
                // Only O_APPEND changes: a pipe made non-blocking must stay so, or a read of
                // an empty one would hang the child.
                let keep = check(libc::fcntl(*f as i32, libc::F_GETFL))? & libc::O_NONBLOCK;
                let fl = if *a { libc::O_APPEND } else { 0 };
                check(libc::fcntl(*f as i32, libc::F_SETFL, fl | keep))?;
                "ok".into()
            }
            Op::GetFlags(f) => {
                let fl = check(libc::fcntl(*f as i32, libc::F_GETFL))?;
                let acc = match fl & libc::O_ACCMODE {
                    libc::O_RDONLY => "r",
                    libc::O_WRONLY => "w",
                    _ => "rw",
                };
                format!(
                    "{acc} append={} nonblock={}",
                    fl & libc::O_APPEND != 0,
                    fl & libc::O_NONBLOCK != 0
                )
            }
            Op::Dup(f) => format!("{}", check(libc::dup(*f as i32))?),
            Op::DupFd(f, m) => format!("{}", check(libc::fcntl(*f as i32, libc::F_DUPFD, *m))?),
            Op::Dup2(a, b) => format!("{}", check(libc::dup2(*a as i32, *b as i32))?),
            Op::Pipe => {
                let mut fds = [0i32; 2];
                // Non-blocking, because that is what a pipe in a single-threaded guest is.
                check(libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK))?;
                format!("{} {}", fds[0], fds[1])
            }
            Op::Renumber(a, b) => {
                if a == b {
                    check(libc::fcntl(*a as i32, libc::F_GETFD))?;
                } else {
                    check(libc::dup2(*a as i32, *b as i32))?;
                    check(libc::close(*a as i32))?;
                }
                "ok".into()
            }
            Op::Flock(f, k) => {
                let op = [libc::LOCK_SH, libc::LOCK_EX, libc::LOCK_UN][*k as usize];
                check(libc::flock(*f as i32, op | libc::LOCK_NB))?;
                "ok".into()
            }
            Op::SetLk(f, k, s, l) => {
                let mut fl: libc::flock = std::mem::zeroed();
                fl.l_type = [libc::F_RDLCK, libc::F_WRLCK, libc::F_UNLCK][*k as usize] as i16;
                fl.l_whence = libc::SEEK_SET as i16;
                fl.l_start = *s as i64;
                fl.l_len = *l as i64;
                check(libc::fcntl(*f as i32, libc::F_SETLK, &fl))?;
                "ok".into()
            }
            Op::GetLk(f, k, s, l) => {
                let mut fl: libc::flock = std::mem::zeroed();
                fl.l_type = [libc::F_RDLCK, libc::F_WRLCK][*k as usize] as i16;
                fl.l_whence = libc::SEEK_SET as i16;
                fl.l_start = *s as i64;
                fl.l_len = *l as i64;
                check(libc::fcntl(*f as i32, libc::F_GETLK, &mut fl))?;
                if fl.l_type == libc::F_UNLCK as i16 {
                    "unlocked".into()
                } else {
                    format!("locked by {}", fl.l_pid)
                }
            }
        })
    })();
    r.unwrap_or_else(|e| e)
}

fn real_tree() -> String {
    use std::os::unix::fs::MetadataExt;
    fn walk(dir: &str, out: &mut String, classes: &mut Vec<(u64, String)>) {
        let rd = if dir.is_empty() { "/" } else { dir };
        let mut names: Vec<String> = std::fs::read_dir(rd)
            .expect("read_dir in walk")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let p = format!("{dir}/{n}");
            let m = std::fs::symlink_metadata(&p).unwrap();
            let class = class_of(classes, m.ino(), &p);
            let _ = write!(
                out,
                "{p} {} ={class}",
                fmt_stat(real_ftype(m.mode()), m.mode() & 0o7777, m.nlink(), m.size())
            );
            let t = real_ftype(m.mode());
            if t == 'f' {
                use std::os::unix::fs::FileExt;
                let f = std::fs::File::open(&p).unwrap();
                let mut text = String::new();
                for (at, n) in windows(m.size()) {
                    let mut b = vec![0; n];
                    let mut k = 0;
                    while k < n {
                        match f.read_at(&mut b[k..], at + k as u64).unwrap() {
                            0 => break,
                            r => k += r,
                        }
                    }
                    let _ = write!(text, " @{at} {:?}", &b[..k]);
                }
                let _ = writeln!(out, "{text}");
            } else if t == 'l' {
                let target = std::fs::read_link(&p).unwrap();
                let _ = writeln!(out, " -> {}", target.to_string_lossy());
            } else {
                let _ = writeln!(out);
                walk(&p, out, classes);
            }
        }
    }
    let mut out = String::new();
    walk("", &mut out, &mut Vec::new());
    out
}

/// Runs `ops` on the real filesystem in a fresh chrooted child; returns one line per op and
/// then the tree.
#[allow(unsafe_code)]
fn run_real(ops: &[Op], layers: bool) -> (Vec<String>, String) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    let dir = format!(
        "{base}/vfs-diff-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    std::fs::create_dir(&dir).unwrap();
    let cdir = cstr(dir.as_bytes());
    let mut pipe = [0i32; 2];
    // SAFETY: fork in a test process; the child only makes system calls, allocates (glibc
    // keeps malloc usable across fork) and leaves with _exit, never returning to the harness.
    let out = unsafe {
        assert_eq!(libc::pipe(pipe.as_mut_ptr()), 0);
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            const OUT: i32 = 1023;
            if libc::dup2(pipe[1], OUT) < 0 {
                libc::_exit(2);
            }
            for fd in 0..OUT {
                libc::close(fd);
            }
            libc::umask(0);
            // A write to a pipe with no reader must be EPIPE, as in a guest, not a death.
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            if libc::chroot(cdir.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                let msg = b"CHROOT FAILED\n";
                libc::write(OUT, msg.as_ptr().cast(), msg.len());
                libc::_exit(3);
            }
            if layers {
                real_fixture();
            }
            let root = libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            let mut text = format!("root {root}\n");
            for op in ops {
                text.push_str(&real_apply(op).replace('\n', " "));
                text.push('\n');
            }
            text.push_str("TREE\n");
            text.push_str(&real_tree());
            let mut b = text.as_bytes();
            while !b.is_empty() {
                let n = libc::write(OUT, b.as_ptr().cast(), b.len());
                if n <= 0 {
                    break;
                }
                b = &b[n as usize..];
            }
            libc::_exit(0);
        }
        libc::close(pipe[1]);
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let n = libc::read(pipe[0], buf.as_mut_ptr().cast(), buf.len());
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        libc::close(pipe[0]);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        out
    };
    std::fs::remove_dir_all(&dir).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        !text.starts_with("CHROOT FAILED"),
        "the differential test needs root for chroot"
    );
    let (head, tree) = text.split_once("TREE\n").expect("child finished");
    let mut lines: Vec<String> = head.lines().map(str::to_string).collect();
    assert_eq!(lines.remove(0), "root 0");
    (lines, tree.to_string())
}

fn run_vfs(ops: &[Op], layers: bool) -> (Vec<String>, String) {
    let mut fs = if layers {
        Fs::with_layers(Config::default(), image_layers()).unwrap()
    } else {
        Fs::new(Config::default())
    };
    assert_eq!(fs.open_root(), Ok(0));
    let mut lines = Vec::new();
    for op in ops {
        lines.push(vfs_apply(&mut fs, op));
        if let Err(e) = fs.check_invariants() {
            panic!("invariant broken after {op:?}: {e}");
        }
    }
    (lines, vfs_tree(&mut fs))
}

/// The sequence in a readable form (paths as text) for failure messages.
fn show(ops: &[Op]) -> String {
    let mut s = String::new();
    for (i, op) in ops.iter().enumerate() {
        let t = format!("{op:?}");
        // Paths print as byte lists; turn each `[..]` of printable bytes back into text.
        let mut out = String::new();
        let mut rest = t.as_str();
        while let Some(a) = rest.find('[') {
            out.push_str(&rest[..a]);
            let Some(b) = rest[a..].find(']') else { break };
            let inner = &rest[a + 1..a + b];
            let bytes: Option<Vec<u8>> = if inner.is_empty() {
                Some(Vec::new())
            } else {
                inner.split(", ").map(|x| x.parse().ok()).collect()
            };
            match bytes {
                Some(v) if v.len() > 20 && v.iter().all(|&c| c == b'x') => {
                    out.push_str("\"<256 x>\"")
                }
                Some(v) => out.push_str(&format!("{:?}", String::from_utf8_lossy(&v))),
                None => out.push_str(&rest[a..a + b + 1]),
            }
            rest = &rest[a + b + 1..];
        }
        out.push_str(rest);
        let _ = writeln!(s, "  #{i} {out}");
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Starting tree for the cases that mount image layers: on `vfs-core` as two read-only layers
// (the lower one has a file the upper one whites out, and the upper replaces a lower file), on
// the kernel as the merged tree written out. Names are from the test's alphabet so that
// operations collide with them.

const FIX_AA: &[u8] = b"lower a/a, hard-linked as b/c";
const FIX_BA: &[u8] = b"upper b/a";

fn image_layers() -> &'static [&'static [u8]] {
    use vfs_image::{ImageBuilder, Meta};
    static L: std::sync::OnceLock<Vec<&'static [u8]>> = std::sync::OnceLock::new();
    L.get_or_init(|| {
        let leak = |b: &ImageBuilder| -> &'static [u8] {
            Box::leak(b.finish().unwrap().into_boxed_slice())
        };
        let mut low = ImageBuilder::new();
        low.add_dir(b"a", Meta::with_mode(0o755)).unwrap();
        low.add_dir(b"a/b", Meta::with_mode(0o755)).unwrap();
        low.add_dir(b"b", Meta::with_mode(0o750)).unwrap();
        low.add_file(b"a/a", Meta::with_mode(0o644), FIX_AA.to_vec())
            .unwrap();
        low.add_hardlink(b"b/c", b"a/a").unwrap();
        low.add_symlink(b"c", Meta::with_mode(0o777), b"a/a")
            .unwrap();
        low.add_file(b"b/a", Meta::with_mode(0o600), b"lower b/a".to_vec())
            .unwrap();
        low.add_file(b"b/b", Meta::with_mode(0o644), b"whited out".to_vec())
            .unwrap();
        let mut up = ImageBuilder::new();
        up.add_dir(b"b", Meta::with_mode(0o750)).unwrap();
        up.add_file(b"b/a", Meta::with_mode(0o600), FIX_BA.to_vec())
            .unwrap();
        up.add_whiteout(b"b/b").unwrap();
        vec![leak(&low), leak(&up)]
    })
}

/// Writes the merged tree of `image_layers` into the (chrooted) real root.
#[allow(unsafe_code)]
fn real_fixture() {
    // SAFETY: system calls with NUL-terminated literals and in-bounds buffers.
    unsafe {
        libc::mkdir(c"/a".as_ptr(), 0o755);
        libc::mkdir(c"/a/b".as_ptr(), 0o755);
        libc::mkdir(c"/b".as_ptr(), 0o750);
        let put = |p: &std::ffi::CStr, mode: libc::c_uint, data: &[u8]| {
            let fd = libc::open(p.as_ptr(), libc::O_CREAT | libc::O_WRONLY, mode);
            libc::write(fd, data.as_ptr().cast(), data.len());
            libc::close(fd);
        };
        put(c"/a/a", 0o644, FIX_AA);
        put(c"/b/a", 0o600, FIX_BA);
        libc::link(c"/a/a".as_ptr(), c"/b/c".as_ptr());
        libc::symlink(c"a/a".as_ptr(), c"/c".as_ptr());
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 4000, ..ProptestConfig::default() })]

    #[test]
    fn vfs_core_agrees_with_linux_tmpfs(
        layers in prop::bool::weighted(0.4),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let (real, real_tree) = run_real(&ops, layers);
        let (ours, our_tree) = run_vfs(&ops, layers);
        for (i, op) in ops.iter().enumerate() {
            prop_assert_eq!(&ours[i], &real[i], "at op #{} of\n{}", i, show(&ops));
            if std::env::var_os("DIFF_STATS").is_some() {
                let kind = format!("{op:?}");
                let kind = kind.split('(').next().unwrap_or("").to_string();
                let outcome = if ours[i].starts_with("err") { ours[i].clone() } else { "ok".into() };
                eprintln!("STAT {kind} {outcome}");
            }
        }
        prop_assert_eq!(our_tree, real_tree);
    }
}

//! Devices and descriptors: `/dev/null`, `zero`, `full`, `random`, `urandom` against the real
//! ones of this machine (random sequences of calls, every result compared), and unit tests of
//! `/dev/fd/N`, the stdio links, `dup`/`dup2` and pipes on `vfs-core` alone.
//!
//! Pipes, `dup`, `dup2` and `F_DUPFD` are also in the tmpfs differential test (`differential.rs`).

use proptest::prelude::*;
use vfs_core::Errno::*;
use vfs_core::{Access, Errno, Fd, FdFlags, FileType, Fs, OFlags, Whence, PIPE_CAPACITY};

const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// A filesystem with `/dev` made, and its root descriptor.
fn dev_fs() -> (Fs, Fd) {
    let mut fs = Fs::default();
    let root = fs.open_root().unwrap();
    fs.mount_dev().unwrap();
    (fs, root)
}

/// Creates (or opens) the regular file `path` with `access`.
fn create(fs: &mut Fs, root: Fd, path: &str, access: Access) -> Fd {
    fs.open(
        root,
        path.as_bytes(),
        true,
        OFlags::CREAT,
        access,
        FdFlags::empty(),
        0o644,
    )
    .unwrap()
}

fn open(fs: &mut Fs, root: Fd, path: &str, access: Access) -> Result<Fd, Errno> {
    fs.open(
        root,
        path.as_bytes(),
        true,
        OFlags::empty(),
        access,
        FdFlags::empty(),
        0,
    )
}

// ---------------------------------------------------------------------------------------------
// Against the real /dev

#[derive(Clone, Debug)]
enum Op {
    /// Opens device `0` with access `1` (0 read, 1 write, 2 both) and append `2`.
    Open(usize, u8, bool),
    Close(usize),
    Read(usize, usize),
    Write(usize, usize),
    Pread(usize, usize, u64),
    Pwrite(usize, usize, u64),
    Seek(usize, i64, u8),
    Fstat(usize),
    Ftruncate(usize, u64),
    Fsync(usize),
    Allocate(usize, u64, u64),
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0usize..4;
    prop_oneof![
        4 => (0usize..DEVICES.len(), 0u8..3, any::<bool>()).prop_map(|(d, a, p)| Op::Open(d, a, p)),
        1 => slot.clone().prop_map(Op::Close),
        3 => (slot.clone(), 0usize..100).prop_map(|(s, n)| Op::Read(s, n)),
        3 => (slot.clone(), 0usize..100).prop_map(|(s, n)| Op::Write(s, n)),
        1 => (slot.clone(), 0usize..100, 0u64..1000).prop_map(|(s, n, o)| Op::Pread(s, n, o)),
        1 => (slot.clone(), 0usize..100, 0u64..1000).prop_map(|(s, n, o)| Op::Pwrite(s, n, o)),
        2 => (slot.clone(), -50i64..1000, 0u8..3).prop_map(|(s, o, w)| Op::Seek(s, o, w)),
        2 => slot.clone().prop_map(Op::Fstat),
        1 => (slot.clone(), 0u64..100).prop_map(|(s, l)| Op::Ftruncate(s, l)),
        1 => slot.clone().prop_map(Op::Fsync),
        1 => (slot, 0u64..100, 0u64..100).prop_map(|(s, o, l)| Op::Allocate(s, o, l)),
    ]
}

/// What a read returned, comparable across the two sides: random bytes only by length.
fn shown_read(dev: usize, bytes: &[u8]) -> String {
    if DEVICES[dev].contains("random") {
        format!("{} random bytes", bytes.len())
    } else {
        format!("{bytes:?}")
    }
}

/// Runs `ops` with each side's `apply`, which gets the op and the (descriptor, device) each
/// slot holds and returns the result text (and the new descriptor for an `Open`).
struct Side<F> {
    slots: Vec<Option<(i64, usize)>>,
    apply: F,
}

impl<F: FnMut(&Op, Option<(i64, usize)>) -> (String, Option<i64>)> Side<F> {
    fn run(mut self, ops: &[Op]) -> Vec<String> {
        let mut out = Vec::new();
        for op in ops {
            let slot = match op {
                Op::Open(..) => None,
                Op::Close(s)
                | Op::Read(s, _)
                | Op::Write(s, _)
                | Op::Pread(s, ..)
                | Op::Pwrite(s, ..)
                | Op::Seek(s, ..)
                | Op::Fstat(s)
                | Op::Ftruncate(s, _)
                | Op::Fsync(s)
                | Op::Allocate(s, ..) => Some(*s),
            };
            let held = slot.and_then(|s| self.slots.get(s).copied().flatten());
            if slot.is_some() && held.is_none() {
                out.push("no such slot".into());
                continue;
            }
            let (text, opened) = (self.apply)(op, held);
            match (op, opened) {
                (Op::Open(d, ..), Some(fd)) => self.slots.push(Some((fd, *d))),
                (Op::Close(s), _) => self.slots[*s] = None,
                _ => {}
            }
            out.push(text);
        }
        out
    }
}

fn vfs_side(ops: &[Op]) -> Vec<String> {
    let (mut fs, root) = dev_fs();
    let err = |e: Errno| format!("err {}", e.name());
    Side {
        slots: Vec::new(),
        apply: |op: &Op, held: Option<(i64, usize)>| {
            let (fd, dev) = held.map(|(f, d)| (f as Fd, d)).unwrap_or((0, 0));
            let text = match op {
                Op::Open(d, a, app) => {
                    let access = [Access::Read, Access::Write, Access::ReadWrite][*a as usize];
                    let flags = if *app {
                        FdFlags::APPEND
                    } else {
                        FdFlags::empty()
                    };
                    let path = format!("/dev/{}", DEVICES[*d]);
                    return match fs.open(
                        root,
                        path.as_bytes(),
                        true,
                        OFlags::empty(),
                        access,
                        flags,
                        0,
                    ) {
                        Ok(fd) => ("ok".into(), Some(i64::from(fd))),
                        Err(e) => (err(e), None),
                    };
                }
                Op::Close(_) => fs.close(fd).map(|()| "ok".into()).unwrap_or_else(err),
                Op::Read(_, n) => {
                    let mut b = vec![7u8; *n];
                    match fs.read(fd, &mut b) {
                        Ok(k) => shown_read(dev, &b[..k]),
                        Err(e) => err(e),
                    }
                }
                Op::Write(_, n) => fs
                    .write(fd, &vec![1u8; *n])
                    .map(|k| k.to_string())
                    .unwrap_or_else(err),
                Op::Pread(_, n, o) => {
                    let mut b = vec![7u8; *n];
                    match fs.pread(fd, &mut b, *o) {
                        Ok(k) => shown_read(dev, &b[..k]),
                        Err(e) => err(e),
                    }
                }
                Op::Pwrite(_, n, o) => fs
                    .pwrite(fd, &vec![1u8; *n], *o)
                    .map(|k| k.to_string())
                    .unwrap_or_else(err),
                Op::Seek(_, o, w) => {
                    let whence = [Whence::Set, Whence::Cur, Whence::End][*w as usize];
                    fs.seek(fd, *o, whence)
                        .map(|p| p.to_string())
                        .unwrap_or_else(err)
                }
                Op::Fstat(_) => match fs.fstat(fd) {
                    Ok(st) => {
                        let t = if st.file_type == FileType::CharDevice {
                            'c'
                        } else {
                            '?'
                        };
                        format!("{t} {:o} n{} s{}", st.mode, st.nlink, st.size)
                    }
                    Err(e) => err(e),
                },
                Op::Ftruncate(_, l) => fs
                    .ftruncate(fd, *l)
                    .map(|()| "ok".into())
                    .unwrap_or_else(err),
                Op::Fsync(_) => fs.sync(fd).map(|()| "ok".into()).unwrap_or_else(err),
                Op::Allocate(_, o, l) => fs
                    .allocate(fd, *o, *l)
                    .map(|()| "ok".into())
                    .unwrap_or_else(err),
            };
            (text, None)
        },
    }
    .run(ops)
}

fn real_side(ops: &[Op]) -> Vec<String> {
    let err = || {
        let raw = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        match Errno::from_raw(raw) {
            Some(e) => format!("err {}", e.name()),
            None => format!("err E{raw}"),
        }
    };
    let mut opened = Vec::new();
    let out = Side {
        slots: Vec::new(),
        apply: |op: &Op, held: Option<(i64, usize)>| {
            let (fd, dev) = held.map(|(f, d)| (f as i32, d)).unwrap_or((-1, 0));
            // SAFETY: plain system calls on descriptors this test opened, with buffers of the
            // lengths passed.
            let text = unsafe {
                match op {
                    Op::Open(d, a, app) => {
                        let acc = [libc::O_RDONLY, libc::O_WRONLY, libc::O_RDWR][*a as usize];
                        let flags = acc | if *app { libc::O_APPEND } else { 0 } | libc::O_CLOEXEC;
                        let path = std::ffi::CString::new(format!("/dev/{}", DEVICES[*d])).unwrap();
                        let fd = libc::open(path.as_ptr(), flags);
                        if fd < 0 {
                            return (err(), None);
                        }
                        opened.push(fd);
                        return ("ok".into(), Some(i64::from(fd)));
                    }
                    Op::Close(_) => {
                        if libc::close(fd) == 0 {
                            opened.retain(|&f| f != fd);
                            "ok".into()
                        } else {
                            err()
                        }
                    }
                    Op::Read(_, n) => {
                        let mut b = vec![7u8; *n];
                        let k = libc::read(fd, b.as_mut_ptr().cast(), *n);
                        if k < 0 {
                            err()
                        } else {
                            shown_read(dev, &b[..k as usize])
                        }
                    }
                    Op::Write(_, n) => {
                        let b = vec![1u8; *n];
                        let k = libc::write(fd, b.as_ptr().cast(), *n);
                        if k < 0 {
                            err()
                        } else {
                            k.to_string()
                        }
                    }
                    Op::Pread(_, n, o) => {
                        let mut b = vec![7u8; *n];
                        let k = libc::pread(fd, b.as_mut_ptr().cast(), *n, *o as i64);
                        if k < 0 {
                            err()
                        } else {
                            shown_read(dev, &b[..k as usize])
                        }
                    }
                    Op::Pwrite(_, n, o) => {
                        let b = vec![1u8; *n];
                        let k = libc::pwrite(fd, b.as_ptr().cast(), *n, *o as i64);
                        if k < 0 {
                            err()
                        } else {
                            k.to_string()
                        }
                    }
                    Op::Seek(_, o, w) => {
                        let whence = [libc::SEEK_SET, libc::SEEK_CUR, libc::SEEK_END][*w as usize];
                        let p = libc::lseek(fd, *o, whence);
                        if p < 0 {
                            err()
                        } else {
                            p.to_string()
                        }
                    }
                    Op::Fstat(_) => {
                        let mut st: libc::stat = std::mem::zeroed();
                        if libc::fstat(fd, &mut st) != 0 {
                            err()
                        } else {
                            let t = if st.st_mode & libc::S_IFMT == libc::S_IFCHR {
                                'c'
                            } else {
                                '?'
                            };
                            format!(
                                "{t} {:o} n{} s{}",
                                st.st_mode & 0o7777,
                                st.st_nlink,
                                st.st_size
                            )
                        }
                    }
                    Op::Ftruncate(_, l) => {
                        if libc::ftruncate(fd, *l as i64) == 0 {
                            "ok".into()
                        } else {
                            err()
                        }
                    }
                    Op::Fsync(_) => {
                        if libc::fsync(fd) == 0 {
                            "ok".into()
                        } else {
                            err()
                        }
                    }
                    Op::Allocate(_, o, l) => {
                        if libc::fallocate(fd, 0, *o as i64, *l as i64) == 0 {
                            "ok".into()
                        } else {
                            err()
                        }
                    }
                }
            };
            (text, None)
        },
    }
    .run(ops);
    for fd in opened {
        // SAFETY: closing descriptors this test opened and did not close.
        unsafe { libc::close(fd) };
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn devices_agree_with_linux_dev(ops in prop::collection::vec(op(), 1..30)) {
        let ours = vfs_side(&ops);
        let real = real_side(&ops);
        for (i, (a, b)) in ours.iter().zip(&real).enumerate() {
            prop_assert_eq!(a, b, "at op #{} of {:?}", i, ops);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Unit tests

#[test]
fn dev_holds_the_devices_and_links() {
    let mut fs = Fs::default();
    let root = fs.open_root().unwrap();
    let (bytes, inodes) = (fs.used_bytes(), fs.used_inodes());
    fs.mount_dev().unwrap();
    // devtmpfs is not the user's tmpfs: neither quota moves.
    assert_eq!((fs.used_bytes(), fs.used_inodes()), (bytes, inodes));
    for d in DEVICES {
        let st = fs.stat(root, format!("/dev/{d}").as_bytes(), true).unwrap();
        assert_eq!(
            (st.file_type, st.mode, st.size),
            (FileType::CharDevice, 0o666, 0)
        );
    }
    // No controlling terminal: /dev/tty is there, and opening it is ENXIO, as for a daemon.
    assert_eq!(
        fs.stat(root, b"/dev/tty", true).unwrap().file_type,
        FileType::CharDevice
    );
    assert_eq!(open(&mut fs, root, "/dev/tty", Access::Write), Err(ENXIO));
    for (name, n) in [("stdin", 0), ("stdout", 1), ("stderr", 2)] {
        assert_eq!(
            fs.readlink_vec(root, format!("/dev/{name}").as_bytes())
                .unwrap(),
            format!("fd/{n}").into_bytes()
        );
    }
    // Making it again leaves what is there alone.
    let fd = open(&mut fs, root, "/dev/null", Access::Read).unwrap();
    fs.mount_dev().unwrap();
    assert_eq!(fs.fstat(fd).unwrap().file_type, FileType::CharDevice);
    fs.check_invariants().unwrap();
}

#[test]
fn dev_fd_names_what_each_descriptor_refers_to() {
    let (mut fs, root) = dev_fs();
    let f = create(&mut fs, root, "/tmp-file", Access::ReadWrite);
    fs.write(f, b"hello").unwrap();
    let path = format!("/dev/fd/{f}");
    // stat follows to the file itself, as Linux's magic links do.
    let st = fs.stat(root, path.as_bytes(), true).unwrap();
    assert_eq!((st.file_type, st.size), (FileType::Regular, 5));
    let again = open(&mut fs, root, &path, Access::Read).unwrap();
    let mut b = [0u8; 5];
    assert_eq!(fs.read(again, &mut b), Ok(5));
    assert_eq!(&b, b"hello");
    // The answer follows the table, not a cache: once closed, the name is gone.
    fs.close(f).unwrap();
    assert_eq!(fs.stat(root, path.as_bytes(), true), Err(ENOENT));
    assert_eq!(fs.stat(root, b"/dev/fd/x", true), Err(ENOENT));
    assert_eq!(fs.stat(root, b"/dev/fd/01", true), Err(ENOENT));
    fs.check_invariants().unwrap();
}

#[test]
fn stdio_links_reach_the_hosts_descriptors() {
    // Laid out as the shim does: stdio keeps its numbers, the root comes next.
    let mut fs = Fs::default();
    for fd in 0..3 {
        fs.adopt_host_fd(Some(fd), fd).unwrap();
    }
    let root = fs.open_root().unwrap();
    fs.mount_dev().unwrap();
    // Descriptor 1 is the host's: /dev/stdout opens another descriptor of the host's 1.
    let out = open(&mut fs, root, "/dev/stdout", Access::Write).unwrap();
    assert_eq!(fs.host_fd(out), Some(1));
    assert_eq!(
        fs.stat(root, b"/dev/stdout", true).unwrap().file_type,
        FileType::CharDevice
    );
    // Redirected to a file, /dev/stdout is that file.
    let file = create(&mut fs, root, "/log", Access::Write);
    let saved = fs.dup(1, 0).unwrap();
    assert_eq!(fs.dup2(file, 1), Ok(1));
    assert!(
        fs.holds_host_fd(1),
        "the saved copy still holds the host's 1"
    );
    let st = fs.stat(root, b"/dev/stdout", true).unwrap();
    assert_eq!(st.file_type, FileType::Regular);
    fs.write(1, b"captured").unwrap();
    assert_eq!(fs.dup2(saved, 1), Ok(1));
    fs.close(saved).unwrap();
    assert_eq!(fs.host_fd(1), Some(1));
    assert_eq!(fs.stat(root, b"/log", true).unwrap().size, 8);
    fs.check_invariants().unwrap();
}

#[test]
fn dup_shares_the_offset_and_flags() {
    let (mut fs, root) = dev_fs();
    let a = create(&mut fs, root, "/f", Access::ReadWrite);
    let b = fs.dup(a, 0).unwrap();
    let c = fs.dup(a, 10).unwrap();
    assert_eq!(c, 10);
    fs.write(a, b"abc").unwrap();
    assert_eq!(fs.tell(b), Ok(3));
    fs.set_fd_flags(b, FdFlags::APPEND).unwrap();
    assert_eq!(fs.fd_flags(c), Ok(FdFlags::APPEND));
    fs.close(a).unwrap();
    fs.write(c, b"d").unwrap();
    assert_eq!(fs.tell(b), Ok(4));
    assert_eq!(fs.dup(99, 0), Err(EBADF));
    assert_eq!(fs.dup2(b, 5000), Err(EBADF));
    assert_eq!(fs.dup(b, 5000), Err(EINVAL));
    assert_eq!(fs.dup2(b, b), Ok(b));
    fs.check_invariants().unwrap();
}

#[test]
fn a_pipe_carries_bytes_and_never_waits() {
    let (mut fs, _root) = dev_fs();
    let used = fs.used_inodes();
    let (r, w) = fs.pipe(FdFlags::empty()).unwrap();
    assert_eq!(fs.fstat(r).unwrap().file_type, FileType::Fifo);
    let mut b = [0u8; 8];
    // Empty with a writer: a blocking read would wait forever in one thread.
    assert_eq!(fs.read(r, &mut b), Err(EAGAIN));
    assert_eq!(fs.write(w, b"ping"), Ok(4));
    assert_eq!(fs.pipe_buffered(r), Ok(4));
    assert_eq!(fs.read(r, &mut b), Ok(4));
    assert_eq!(&b[..4], b"ping");
    assert_eq!(fs.read(w, &mut b), Err(EBADF));
    assert_eq!(fs.seek(r, 0, Whence::Set), Err(ESPIPE));
    // Full: a long write is short, then nothing fits.
    let big = vec![9u8; PIPE_CAPACITY + 100];
    assert_eq!(fs.write(w, &big), Ok(PIPE_CAPACITY));
    assert_eq!(fs.write(w, b"x"), Err(EAGAIN));
    let mut sink = vec![0u8; PIPE_CAPACITY];
    assert_eq!(fs.read(r, &mut sink), Ok(PIPE_CAPACITY));
    // No writer left: end of file after what is buffered.
    fs.write(w, b"end").unwrap();
    let w2 = fs.dup(w, 0).unwrap();
    fs.close(w).unwrap();
    assert_eq!(fs.write(w2, b"!"), Ok(1));
    fs.close(w2).unwrap();
    assert_eq!(fs.read(r, &mut b), Ok(4));
    assert_eq!(fs.read(r, &mut b), Ok(0));
    // No reader: EPIPE.
    let (r, w) = fs.pipe(FdFlags::empty()).unwrap();
    fs.close(r).unwrap();
    assert_eq!(fs.write(w, b"x"), Err(EPIPE));
    fs.close(w).unwrap();
    assert_eq!(
        fs.used_inodes(),
        used,
        "pipes cost no inode quota and are freed"
    );
    fs.check_invariants().unwrap();
}

#[test]
fn a_pipe_needs_two_free_descriptors() {
    let (mut fs, _root) = dev_fs();
    fs.set_limits(1 << 20, 1 << 10, 3).unwrap();
    // 0 is the root; 1 and 2 are free, so one pipe fits, a second does not.
    let (r, w) = fs.pipe(FdFlags::empty()).unwrap();
    assert_eq!((r, w), (1, 2));
    fs.close(w).unwrap();
    assert_eq!(fs.pipe(FdFlags::empty()), Err(EMFILE));
    assert_eq!(
        fs.open_fds(),
        2,
        "a failed pipe leaves no descriptor behind"
    );
    fs.check_invariants().unwrap();
}

#[test]
fn devices_read_and_write_as_on_linux() {
    let (mut fs, root) = dev_fs();
    let mut b = [5u8; 16];
    let null = open(&mut fs, root, "/dev/null", Access::ReadWrite).unwrap();
    assert_eq!(fs.read(null, &mut b), Ok(0));
    assert_eq!(fs.write(null, b"gone"), Ok(4));
    let full = open(&mut fs, root, "/dev/full", Access::ReadWrite).unwrap();
    assert_eq!(fs.write(full, b"x"), Err(ENOSPC));
    assert_eq!(fs.read(full, &mut b), Ok(16));
    assert_eq!(b, [0; 16]);
    let rnd = open(&mut fs, root, "/dev/urandom", Access::Read).unwrap();
    let mut x = [0u8; 32];
    let mut y = [0u8; 32];
    fs.read(rnd, &mut x).unwrap();
    fs.read(rnd, &mut y).unwrap();
    assert_ne!(x, y, "two reads of /dev/urandom differ");
    assert_ne!(x, [0; 32]);
}

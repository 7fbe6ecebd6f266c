//! Arbitrary operation sequences on `vfs-core`: no input may panic, and after every operation
//! the filesystem's bookkeeping must be consistent (`Fs::check_invariants`).
//!
//! Names come from a tiny alphabet (plus arbitrary bytes now and then) so that collisions,
//! renames over existing names, symlink loops and deep paths are common. Quotas are small so
//! that ENOSPC/EMFILE paths run too.
//!
//! Half the inputs run over a fixed two-layer image stack (`Fs::with_layers`). Descriptors are
//! duplicated (`dup`, `dup2`), pipes made, and `/dev` mounted and opened (`/dev/fd/N` too), so
//! shared open file descriptions and the special inodes meet every other call.
//!
//! Run: `cargo +nightly fuzz run core_ops -- -runs=1200000` (from `fuzz/`).
#![no_main]

mod shared;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shared::P;
use vfs_core::{Access, FdFlags, FlockOp, OFlags, RangeLockKind, SetTime, Whence};

#[derive(Arbitrary, Debug)]
enum Op {
    Open(u8, P, bool, u8, u8, u8, u32),
    Close(u8),
    Read(u8, u16),
    Write(u8, u16, u8),
    Pread(u8, u16, u64),
    Pwrite(u8, u16, u64),
    Seek(u8, i64, u8),
    Tell(u8),
    Fstat(u8),
    Stat(u8, P, bool),
    Ftruncate(u8, u64),
    Allocate(u8, u64, u64),
    Utimens(u8, P, bool, u64),
    Futimens(u8, u64),
    Mkdir(u8, P),
    Rmdir(u8, P),
    Unlink(u8, P),
    Rename(u8, P, u8, P),
    Link(u8, P, bool, u8, P),
    Symlink(P, u8, P),
    Readlink(u8, P, u8),
    Readdir(u8, u64, u8),
    SetFlags(u8, u8),
    Renumber(u8, u8),
    Flock(u8, u8),
    LockRange(u8, u64, u8, u64, u64),
    GetLock(u8, u64, u8, u64, u64),
    Sync(u8),
    Adopt(Option<u8>, u32),
    SetRights(u8, u64, u64),
    Dup(u8, u8),
    Dup2(u8, u8),
    Pipe(u8),
    MountDev,
    /// Opens `/dev/NAME` (one of `DEV_NAMES`) or, past them, `/dev/fd/N`, with access `2`.
    OpenDev(u8, u8, u8),
}

/// The names under `/dev` that `OpenDev` picks from.
const DEV_NAMES: [&str; 9] = [
    "null", "zero", "full", "random", "urandom", "tty", "stdin", "stdout", "stderr",
];

#[derive(Arbitrary, Debug)]
struct Input {
    mount_layers: bool,
    ops: Vec<Op>,
}

fn fd(x: u8) -> u32 {
    u32::from(x % 20)
}

/// A byte picks a range-lock kind (`F_RDLCK`, `F_WRLCK`, `F_UNLCK`), for setting and testing.
fn range_kind(k: u8) -> RangeLockKind {
    [
        RangeLockKind::Read,
        RangeLockKind::Write,
        RangeLockKind::Unlock,
    ][(k % 3) as usize]
}

fuzz_target!(|input: Input| {
    let mut fs = shared::fs(input.mount_layers);
    let ops = &input.ops;
    let _ = fs.open_root();
    let mut buf = vec![0u8; 1 << 16];
    for op in ops.iter().take(200) {
        match op {
            Op::Open(d, p, follow, of, acc, ff, mode) => {
                let of = OFlags::from_bits_truncate(u32::from(*of));
                let acc = [Access::Read, Access::Write, Access::ReadWrite][(*acc % 3) as usize];
                let ff = FdFlags::from_bits_truncate(u32::from(*ff));
                let _ = fs.open(fd(*d), &p.bytes(), *follow, of, acc, ff, *mode);
            }
            Op::Close(f) => drop(fs.close(fd(*f))),
            Op::Read(f, n) => drop(fs.read(fd(*f), &mut buf[..usize::from(*n)])),
            Op::Write(f, n, b) => {
                let data = vec![*b; usize::from(*n)];
                let _ = fs.write(fd(*f), &data);
            }
            Op::Pread(f, n, o) => drop(fs.pread(fd(*f), &mut buf[..usize::from(*n)], *o)),
            Op::Pwrite(f, n, o) => {
                let data = vec![1u8; usize::from(*n)];
                let _ = fs.pwrite(fd(*f), &data, *o);
            }
            Op::Seek(f, o, w) => {
                let w = [Whence::Set, Whence::Cur, Whence::End][(*w % 3) as usize];
                let _ = fs.seek(fd(*f), *o, w);
            }
            Op::Tell(f) => drop(fs.tell(fd(*f))),
            Op::Fstat(f) => drop(fs.fstat(fd(*f))),
            Op::Stat(d, p, follow) => drop(fs.stat(fd(*d), &p.bytes(), *follow)),
            Op::Ftruncate(f, l) => drop(fs.ftruncate(fd(*f), *l)),
            Op::Allocate(f, o, l) => drop(fs.allocate(fd(*f), *o, *l)),
            Op::Utimens(d, p, follow, t) => {
                let _ = fs.utimensat(fd(*d), &p.bytes(), *follow, SetTime::At(*t), SetTime::Now);
            }
            Op::Futimens(f, t) => drop(fs.futimens(fd(*f), SetTime::Omit, SetTime::At(*t))),
            Op::Mkdir(d, p) => drop(fs.mkdir(fd(*d), &p.bytes(), 0o755)),
            Op::Rmdir(d, p) => drop(fs.rmdir(fd(*d), &p.bytes())),
            Op::Unlink(d, p) => drop(fs.unlink(fd(*d), &p.bytes())),
            Op::Rename(a, p, b, q) => drop(fs.rename(fd(*a), &p.bytes(), fd(*b), &q.bytes())),
            Op::Link(a, p, f, b, q) => {
                let _ = fs.link(fd(*a), &p.bytes(), *f, fd(*b), &q.bytes());
            }
            Op::Symlink(t, d, p) => drop(fs.symlink(&t.bytes(), fd(*d), &p.bytes())),
            Op::Readlink(d, p, n) => {
                let _ = fs.readlink(fd(*d), &p.bytes(), &mut buf[..usize::from(*n)]);
            }
            Op::Readdir(f, cookie, stop) => {
                let mut seen = 0u8;
                let _ = fs.readdir(fd(*f), *cookie, |_| {
                    seen = seen.wrapping_add(1);
                    seen != *stop
                });
            }
            Op::SetFlags(f, fl) => {
                let _ = fs.set_fd_flags(fd(*f), FdFlags::from_bits_truncate(u32::from(*fl)));
                let _ = fs.fd_flags(fd(*f));
            }
            Op::Renumber(a, b) => drop(fs.renumber(fd(*a), fd(*b))),
            Op::Flock(f, k) => {
                let k = [FlockOp::Shared, FlockOp::Exclusive, FlockOp::Unlock][(*k % 3) as usize];
                let _ = fs.flock(fd(*f), k);
            }
            Op::LockRange(f, owner, k, s, l) => {
                let _ = fs.lock_range(fd(*f), owner % 4, range_kind(*k), *s, *l);
            }
            Op::GetLock(f, owner, k, s, l) => {
                let _ = fs.get_range_lock(fd(*f), owner % 4, range_kind(*k), *s, *l);
            }
            Op::Sync(f) => {
                let _ = fs.sync(fd(*f));
                let _ = fs.datasync(fd(*f));
            }
            Op::Adopt(at, h) => drop(fs.adopt_host_fd(at.map(fd), *h)),
            Op::SetRights(f, b, i) => {
                let _ = fs.set_rights(fd(*f), *b, *i);
                let _ = fs.rights(fd(*f));
                let _ = fs.access(fd(*f));
                let _ = fs.fd_file_type(fd(*f));
            }
            Op::Dup(f, min) => drop(fs.dup(fd(*f), fd(*min))),
            Op::Dup2(a, b) => drop(fs.dup2(fd(*a), fd(*b))),
            Op::Pipe(fl) => {
                if let Ok((r, _)) = fs.pipe(FdFlags::from_bits_truncate(u32::from(*fl))) {
                    let _ = fs.pipe_buffered(r);
                }
            }
            Op::MountDev => drop(fs.mount_dev()),
            Op::OpenDev(which, n, acc) => {
                let name = match DEV_NAMES.get(usize::from(*which % 12)) {
                    Some(name) => format!("/dev/{name}"),
                    None => format!("/dev/fd/{}", fd(*n)),
                };
                let acc = [Access::Read, Access::Write, Access::ReadWrite][(*acc % 3) as usize];
                let _ = fs.open(0, name.as_bytes(), true, OFlags::empty(), acc, FdFlags::empty(), 0);
            }
        }
        if let Err(e) = fs.check_invariants() {
            panic!("invariant broken after {op:?}: {e}");
        }
    }
});

//! The POSIX calls WASI preview 1 does not have but the VFS can answer, for a guest's language
//! runtime to offer its programs (the Python box gives them to `os` and `fcntl`): `dup`, `dup2`,
//! `pipe`, `flock`, byte-range locks and the figures `statvfs` reports. Errors are WASI `errno` numbers, which are also wasi-libc's
//! `errno` values.

use super::state::{self, State};
use crate::abi::WasiError;
pub use vfs_core::{FlockOp, RangeLockKind};

/// A POSIX call's result in the guest: the value, or the `errno` to set.
pub type Result<T> = core::result::Result<T, u16>;

fn errno(e: vfs_core::Errno) -> u16 {
    WasiError::from(e).0.raw()
}

/// Runs `f` on the state; `EBUSY` if it is not available (a re-entrant call, or no VFS).
fn with<T>(f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
    state::with(f).unwrap_or(Err(wasi::ERRNO_BUSY.raw()))
}

/// A second descriptor for what `fd` refers to (sharing its offset and status flags), the
/// lowest free number not below `min`. Like `fcntl(fd, F_DUPFD, min)`; `dup(fd)` is `min` 0.
/// A host descriptor (stdio) is duplicated in the table: the host's own stays open until the
/// last guest descriptor of it is closed.
pub fn dup(fd: u32, min: u32) -> Result<u32> {
    with(|st| st.shim.fs_mut().dup(fd, min).map_err(errno))
}

/// Makes `to` refer to what `from` refers to, closing `to` first; returns `to`. Like `dup2`.
/// What `to` held, if it was a host descriptor no other guest descriptor refers to, is closed
/// on the host, as `close(to)` would.
pub fn dup2(from: u32, to: u32) -> Result<u32> {
    with(|st| {
        let fs = st.shim.fs_mut();
        let displaced = if from == to { None } else { fs.host_fd(to) };
        let r = fs.dup2(from, to).map_err(errno)?;
        if let Some(h) = displaced {
            if !st.shim.fs().holds_host_fd(h) {
                super::host::close(h);
            }
        }
        Ok(r)
    })
}

/// A pipe inside the instance: (read end, write end). Like `pipe`; see `vfs_core::Fs::pipe`
/// for what a single-threaded guest gets where Linux would wait.
pub fn pipe() -> Result<(u32, u32)> {
    with(|st| {
        st.shim
            .fs_mut()
            .pipe(vfs_core::FdFlags::empty())
            .map_err(errno)
    })
}

/// What `statvfs` of the VFS reports: its quotas and what is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// The byte quota (`--max-fs-bytes`, tmpfs's `size=`).
    pub max_bytes: u64,
    /// Bytes of file data and symlink targets held.
    pub used_bytes: u64,
    /// The inode quota (tmpfs's `nr_inodes=`).
    pub max_inodes: u64,
    /// Inodes in use.
    pub used_inodes: u64,
    /// Bytes of the embedded image layers: the read-only part of the filesystem, in use from
    /// the start (as a squashfs reports its image as used).
    pub image_bytes: u64,
    /// `st_dev` of every file of the VFS: a path on another device (a host directory) is not
    /// the VFS's to describe.
    pub dev: u64,
}

/// The VFS's quotas and use, for `statvfs`/`fstatvfs`.
pub fn usage() -> Result<Usage> {
    with(|st| {
        let fs = st.shim.fs();
        Ok(Usage {
            max_bytes: fs.config().max_bytes,
            used_bytes: fs.used_bytes(),
            max_inodes: fs.config().max_inodes,
            used_inodes: fs.used_inodes(),
            image_bytes: st.layers.iter().map(|l| l.len() as u64).sum(),
            dev: fs.config().dev,
        })
    })
}

/// `ENOLCK` for a host descriptor: WASI gives no way to lock the host's files (Linux says the
/// same of a mount without a lock manager).
fn no_host_locks(st: &State, fd: u32) -> Result<()> {
    match st.shim.fs().host_fd(fd) {
        Some(_) => Err(wasi::ERRNO_NOLCK.raw()),
        None => Ok(()),
    }
}

/// `flock(fd, op)` on the open file description `fd` refers to; a conflict is `EWOULDBLOCK`
/// whether or not `LOCK_NB` was asked for (see `vfs_core::Fs::flock`: nothing waits).
pub fn flock(fd: u32, op: FlockOp) -> Result<()> {
    with(|st| {
        no_host_locks(st, fd)?;
        st.shim.fs_mut().flock(fd, op).map_err(errno)
    })
}

/// The one owner of the guest's byte-range locks: a WASI guest is one process.
const PROCESS: u64 = 1;

/// `fcntl(F_SETLK)` / `lockf`: locks (or with `Unlock` releases) `len` bytes from `start`
/// (`len` 0: to the end and beyond) for the guest's process; a conflict is `EWOULDBLOCK`.
pub fn lock_range(fd: u32, kind: RangeLockKind, start: u64, len: u64) -> Result<()> {
    with(|st| {
        no_host_locks(st, fd)?;
        st.shim
            .fs_mut()
            .lock_range(fd, PROCESS, kind, start, len)
            .map_err(errno)
    })
}

/// `lockf(fd, F_TEST)`: whether another owner's lock would conflict with a write lock of the
/// range. Only the guest's own process locks, so this is false unless an embedder's other
/// owners share the filesystem.
pub fn range_is_locked(fd: u32, start: u64, len: u64) -> Result<bool> {
    with(|st| {
        no_host_locks(st, fd)?;
        st.shim
            .fs()
            .get_range_lock(fd, PROCESS, RangeLockKind::Write, start, len)
            .map(|l| l.is_some())
            .map_err(errno)
    })
}

/// The descriptor's offset and its file's size, to turn `lockf`'s `SEEK_CUR`/`SEEK_END`
/// starts into absolute ones.
pub fn offset_and_size(fd: u32) -> Result<(u64, u64)> {
    with(|st| {
        let fs = st.shim.fs();
        let offset = fs.tell(fd).map_err(errno)?;
        let size = fs.fstat(fd).map_err(errno)?.size;
        Ok((offset, size))
    })
}

//! The POSIX calls WASI preview 1 does not have but the VFS can answer, for a guest's language
//! runtime to offer its programs (the Python box gives them to `os`): `dup`, `dup2`, `pipe` and
//! the figures `statvfs` reports. Errors are WASI `errno` numbers, which are also wasi-libc's
//! `errno` values.

use super::state::{self, State};
use crate::abi::WasiError;

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
            dev: fs.config().dev,
        })
    })
}

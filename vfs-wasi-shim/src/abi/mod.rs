//! The WASI preview 1 filesystem ABI over [`vfs_core::Fs`]: one method per WASI call.
//!
//! Each method decodes its arguments from guest memory (through [`Memory`], so every pointer is
//! bounds-checked), calls `vfs-core`, encodes the result, and maps the error. All the meaning
//! lives in `vfs-core`; nothing here decides POSIX semantics. Routing between the VFS and the
//! host (stdio, host preopens) is the caller's job: these methods only see VFS descriptors.

mod dir;
mod fd;
pub mod layout;
mod path;
mod poll;

pub use poll::PollOutcome;

use crate::memory::Efault;
use vfs_core::{Fd, FileType, Fs, SetTime};

/// Every right WASI preview 1 defines (bits 0..=28): what the VFS root hands to what it opens.
pub const RIGHTS_ALL: u64 = (1 << 29) - 1;

/// Rights that mean "this descriptor may change file data" (wasi-libc's `O_WRONLY` set).
const RIGHTS_WRITE: u64 = wasi::RIGHTS_FD_WRITE
    | wasi::RIGHTS_FD_DATASYNC
    | wasi::RIGHTS_FD_ALLOCATE
    | wasi::RIGHTS_FD_FILESTAT_SET_SIZE;

/// Rights that mean "this descriptor may read" (wasi-libc's `O_RDONLY` set).
const RIGHTS_READ: u64 = wasi::RIGHTS_FD_READ | wasi::RIGHTS_FD_READDIR;

/// A failed WASI call: the errno the guest receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasiError(pub wasi::Errno);

/// What every ABI method returns.
pub type AbiResult<T = ()> = Result<T, WasiError>;

impl From<Efault> for WasiError {
    fn from(_: Efault) -> Self {
        WasiError(wasi::ERRNO_FAULT)
    }
}

impl From<vfs_core::Errno> for WasiError {
    fn from(e: vfs_core::Errno) -> Self {
        WasiError(errno(e))
    }
}

/// Shorthand for returning a specific WASI errno.
fn err<T>(e: wasi::Errno) -> AbiResult<T> {
    Err(WasiError(e))
}

/// Maps a POSIX error from `vfs-core` to WASI's numbering.
pub fn errno(e: vfs_core::Errno) -> wasi::Errno {
    use vfs_core::Errno as E;
    match e {
        E::EPERM => wasi::ERRNO_PERM,
        E::ENOENT => wasi::ERRNO_NOENT,
        E::EBADF => wasi::ERRNO_BADF,
        E::EAGAIN => wasi::ERRNO_AGAIN,
        E::EACCES => wasi::ERRNO_ACCES,
        E::EBUSY => wasi::ERRNO_BUSY,
        E::EEXIST => wasi::ERRNO_EXIST,
        E::EXDEV => wasi::ERRNO_XDEV,
        E::ENOTDIR => wasi::ERRNO_NOTDIR,
        E::EISDIR => wasi::ERRNO_ISDIR,
        E::EINVAL => wasi::ERRNO_INVAL,
        E::ENFILE => wasi::ERRNO_NFILE,
        E::EMFILE => wasi::ERRNO_MFILE,
        E::EFBIG => wasi::ERRNO_FBIG,
        E::ENOSPC => wasi::ERRNO_NOSPC,
        E::ESPIPE => wasi::ERRNO_SPIPE,
        E::EROFS => wasi::ERRNO_ROFS,
        E::EMLINK => wasi::ERRNO_MLINK,
        E::ENAMETOOLONG => wasi::ERRNO_NAMETOOLONG,
        E::ENOTEMPTY => wasi::ERRNO_NOTEMPTY,
        E::ELOOP => wasi::ERRNO_LOOP,
        E::EOVERFLOW => wasi::ERRNO_OVERFLOW,
        E::ENOTSUP => wasi::ERRNO_NOTSUP,
        E::EIO => wasi::ERRNO_IO,
        // `Errno` is non-exhaustive: a variant added later is still an I/O failure.
        #[allow(unreachable_patterns)]
        _ => wasi::ERRNO_IO,
    }
}

/// WASI's `filetype` for a `vfs-core` file type.
pub fn filetype(t: FileType) -> wasi::Filetype {
    match t {
        FileType::Regular => wasi::FILETYPE_REGULAR_FILE,
        FileType::Directory => wasi::FILETYPE_DIRECTORY,
        FileType::Symlink => wasi::FILETYPE_SYMBOLIC_LINK,
    }
}

/// Decodes `fstflags` plus the two timestamps into `vfs-core`'s (atime, mtime) choices.
fn set_times(atim: u64, mtim: u64, fst: u16) -> AbiResult<(SetTime, SetTime)> {
    let known = wasi::FSTFLAGS_ATIM
        | wasi::FSTFLAGS_ATIM_NOW
        | wasi::FSTFLAGS_MTIM
        | wasi::FSTFLAGS_MTIM_NOW;
    if fst & !known != 0 {
        return err(wasi::ERRNO_INVAL);
    }
    let one = |value: u64, at: u16, now: u16| match (fst & at != 0, fst & now != 0) {
        (true, true) => err(wasi::ERRNO_INVAL),
        (true, false) => Ok(SetTime::At(value)),
        (false, true) => Ok(SetTime::Now),
        (false, false) => Ok(SetTime::Omit),
    };
    Ok((
        one(atim, wasi::FSTFLAGS_ATIM, wasi::FSTFLAGS_ATIM_NOW)?,
        one(mtim, wasi::FSTFLAGS_MTIM, wasi::FSTFLAGS_MTIM_NOW)?,
    ))
}

/// A directory the VFS hands to the guest as a WASI preopen.
#[derive(Debug, Clone)]
struct Preopen {
    fd: Fd,
    name: Vec<u8>,
}

/// The WASI view of one [`Fs`]: the filesystem plus the preopens it exposes.
pub struct Shim {
    fs: Fs,
    preopens: Vec<Preopen>,
    /// The last listing `fd_readdir` packed (see `dir.rs`).
    listing: dir::PackedListing,
}

impl Shim {
    /// Wraps `fs` and opens its root as a preopen named `/` (the next free descriptor).
    pub fn new(mut fs: Fs) -> Result<Shim, vfs_core::Errno> {
        let root = fs.open_root()?;
        fs.set_rights(root, RIGHTS_ALL, RIGHTS_ALL)?;
        Ok(Shim {
            fs,
            preopens: vec![Preopen {
                fd: root,
                name: b"/".to_vec(),
            }],
            listing: Default::default(),
        })
    }

    /// The filesystem behind the ABI.
    pub fn fs(&self) -> &Fs {
        &self.fs
    }

    /// The filesystem behind the ABI, for changes (adopting host descriptors, exporting).
    pub fn fs_mut(&mut self) -> &mut Fs {
        &mut self.fs
    }

    /// The descriptor of the VFS root preopen (`/`).
    pub fn root_fd(&self) -> Fd {
        self.preopens.first().map_or(u32::MAX, |p| p.fd)
    }

    fn preopen(&self, fd: Fd) -> Option<&Preopen> {
        self.preopens.iter().find(|p| p.fd == fd)
    }
}

#[cfg(test)]
mod tests;

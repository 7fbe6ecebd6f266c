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

/// Every WASI preview 1 errno, indexed by its number: `wasi::Errno` can only be built from its
/// constants, which are consecutive from 0 to 76.
pub(crate) const WASI_ERRNOS: [wasi::Errno; 77] = [
    wasi::ERRNO_SUCCESS,
    wasi::ERRNO_2BIG,
    wasi::ERRNO_ACCES,
    wasi::ERRNO_ADDRINUSE,
    wasi::ERRNO_ADDRNOTAVAIL,
    wasi::ERRNO_AFNOSUPPORT,
    wasi::ERRNO_AGAIN,
    wasi::ERRNO_ALREADY,
    wasi::ERRNO_BADF,
    wasi::ERRNO_BADMSG,
    wasi::ERRNO_BUSY,
    wasi::ERRNO_CANCELED,
    wasi::ERRNO_CHILD,
    wasi::ERRNO_CONNABORTED,
    wasi::ERRNO_CONNREFUSED,
    wasi::ERRNO_CONNRESET,
    wasi::ERRNO_DEADLK,
    wasi::ERRNO_DESTADDRREQ,
    wasi::ERRNO_DOM,
    wasi::ERRNO_DQUOT,
    wasi::ERRNO_EXIST,
    wasi::ERRNO_FAULT,
    wasi::ERRNO_FBIG,
    wasi::ERRNO_HOSTUNREACH,
    wasi::ERRNO_IDRM,
    wasi::ERRNO_ILSEQ,
    wasi::ERRNO_INPROGRESS,
    wasi::ERRNO_INTR,
    wasi::ERRNO_INVAL,
    wasi::ERRNO_IO,
    wasi::ERRNO_ISCONN,
    wasi::ERRNO_ISDIR,
    wasi::ERRNO_LOOP,
    wasi::ERRNO_MFILE,
    wasi::ERRNO_MLINK,
    wasi::ERRNO_MSGSIZE,
    wasi::ERRNO_MULTIHOP,
    wasi::ERRNO_NAMETOOLONG,
    wasi::ERRNO_NETDOWN,
    wasi::ERRNO_NETRESET,
    wasi::ERRNO_NETUNREACH,
    wasi::ERRNO_NFILE,
    wasi::ERRNO_NOBUFS,
    wasi::ERRNO_NODEV,
    wasi::ERRNO_NOENT,
    wasi::ERRNO_NOEXEC,
    wasi::ERRNO_NOLCK,
    wasi::ERRNO_NOLINK,
    wasi::ERRNO_NOMEM,
    wasi::ERRNO_NOMSG,
    wasi::ERRNO_NOPROTOOPT,
    wasi::ERRNO_NOSPC,
    wasi::ERRNO_NOSYS,
    wasi::ERRNO_NOTCONN,
    wasi::ERRNO_NOTDIR,
    wasi::ERRNO_NOTEMPTY,
    wasi::ERRNO_NOTRECOVERABLE,
    wasi::ERRNO_NOTSOCK,
    wasi::ERRNO_NOTSUP,
    wasi::ERRNO_NOTTY,
    wasi::ERRNO_NXIO,
    wasi::ERRNO_OVERFLOW,
    wasi::ERRNO_OWNERDEAD,
    wasi::ERRNO_PERM,
    wasi::ERRNO_PIPE,
    wasi::ERRNO_PROTO,
    wasi::ERRNO_PROTONOSUPPORT,
    wasi::ERRNO_PROTOTYPE,
    wasi::ERRNO_RANGE,
    wasi::ERRNO_ROFS,
    wasi::ERRNO_SPIPE,
    wasi::ERRNO_SRCH,
    wasi::ERRNO_STALE,
    wasi::ERRNO_TIMEDOUT,
    wasi::ERRNO_TXTBSY,
    wasi::ERRNO_XDEV,
    wasi::ERRNO_NOTCAPABLE,
];

/// Maps a POSIX error from `vfs-core` to WASI's numbering. The number comes from the WASI
/// column of `vfs-core`'s one errno table (`Errno::wasi_number`), so there is no second list
/// to keep here and no catch-all arm: a new error cannot be added there without its WASI
/// number. That each number is in range is checked at compile time below (so the `IO`
/// fallback is never taken), and that it names the same error is checked by a test.
pub fn errno(e: vfs_core::Errno) -> wasi::Errno {
    WASI_ERRNOS
        .get(usize::from(e.wasi_number()))
        .copied()
        .unwrap_or(wasi::ERRNO_IO)
}

const _: () = {
    let all = vfs_core::Errno::ALL;
    let mut i = 0;
    while i < all.len() {
        assert!((all[i].wasi_number() as usize) < WASI_ERRNOS.len());
        i += 1;
    }
};

/// WASI's `filetype` for a `vfs-core` file type.
pub fn filetype(t: FileType) -> wasi::Filetype {
    match t {
        FileType::Regular => wasi::FILETYPE_REGULAR_FILE,
        FileType::Directory => wasi::FILETYPE_DIRECTORY,
        FileType::Symlink => wasi::FILETYPE_SYMBOLIC_LINK,
        FileType::CharDevice => wasi::FILETYPE_CHARACTER_DEVICE,
        // WASI preview 1 has no FIFO type; `unknown` is also what wasmtime says of a host pipe.
        FileType::Fifo => wasi::FILETYPE_UNKNOWN,
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

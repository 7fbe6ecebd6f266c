//! POSIX error numbers, as values.
//!
//! Every fallible operation in this crate returns one of these. The names are POSIX's; the
//! numeric values are Linux's (x86-64/generic), so that tests can compare them with the errno a
//! real system call returned without a translation table. No WASI type appears here: the shim
//! maps these to WASI's own numbering.

use core::fmt;

/// A POSIX error number (the `errno` a failed call would set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(i32)]
pub enum Errno {
    /// Operation not permitted (e.g. `link` to a directory).
    EPERM = 1,
    /// No such file or directory.
    ENOENT = 2,
    /// Input/output error: a read-only image layer turned out to be corrupt.
    EIO = 5,
    /// Bad file descriptor, or the descriptor's access mode forbids the call.
    EBADF = 9,
    /// Resource temporarily unavailable; also `EWOULDBLOCK` (a lock conflict).
    EAGAIN = 11,
    /// Permission denied.
    EACCES = 13,
    /// Device or resource busy (e.g. `rmdir` of the root).
    EBUSY = 16,
    /// File exists.
    EEXIST = 17,
    /// Cross-device link.
    EXDEV = 18,
    /// A path component, or the target of the call, is not a directory.
    ENOTDIR = 20,
    /// Is a directory.
    EISDIR = 21,
    /// Invalid argument.
    EINVAL = 22,
    /// Too many open files in the system.
    ENFILE = 23,
    /// Too many open files (the fd table is full).
    EMFILE = 24,
    /// File too large.
    EFBIG = 27,
    /// No space left on device (byte or inode quota reached).
    ENOSPC = 28,
    /// Illegal seek.
    ESPIPE = 29,
    /// Read-only file system.
    EROFS = 30,
    /// Too many links.
    EMLINK = 31,
    /// File name too long.
    ENAMETOOLONG = 36,
    /// Directory not empty.
    ENOTEMPTY = 39,
    /// Too many levels of symbolic links.
    ELOOP = 40,
    /// Value too large for defined data type.
    EOVERFLOW = 75,
    /// Operation not supported.
    ENOTSUP = 95,
}

impl Errno {
    /// `EWOULDBLOCK` is the same number as `EAGAIN` on Linux; this is that alias.
    pub const EWOULDBLOCK: Errno = Errno::EAGAIN;

    /// The Linux numeric value of this error.
    pub fn raw(self) -> i32 {
        self as i32
    }

    /// The error for a Linux errno value, if this crate knows it.
    pub fn from_raw(raw: i32) -> Option<Errno> {
        use Errno::*;
        const ALL: [Errno; 24] = [
            EPERM,
            ENOENT,
            EIO,
            EBADF,
            EAGAIN,
            EACCES,
            EBUSY,
            EEXIST,
            EXDEV,
            ENOTDIR,
            EISDIR,
            EINVAL,
            ENFILE,
            EMFILE,
            EFBIG,
            ENOSPC,
            ESPIPE,
            EROFS,
            EMLINK,
            ENAMETOOLONG,
            ENOTEMPTY,
            ELOOP,
            EOVERFLOW,
            ENOTSUP,
        ];
        ALL.into_iter().find(|e| e.raw() == raw)
    }

    /// The POSIX name, e.g. `"ENOENT"`.
    pub fn name(self) -> &'static str {
        use Errno::*;
        match self {
            EPERM => "EPERM",
            ENOENT => "ENOENT",
            EIO => "EIO",
            EBADF => "EBADF",
            EAGAIN => "EAGAIN",
            EACCES => "EACCES",
            EBUSY => "EBUSY",
            EEXIST => "EEXIST",
            EXDEV => "EXDEV",
            ENOTDIR => "ENOTDIR",
            EISDIR => "EISDIR",
            EINVAL => "EINVAL",
            ENFILE => "ENFILE",
            EMFILE => "EMFILE",
            EFBIG => "EFBIG",
            ENOSPC => "ENOSPC",
            ESPIPE => "ESPIPE",
            EROFS => "EROFS",
            EMLINK => "EMLINK",
            ENAMETOOLONG => "ENAMETOOLONG",
            ENOTEMPTY => "ENOTEMPTY",
            ELOOP => "ELOOP",
            EOVERFLOW => "EOVERFLOW",
            ENOTSUP => "ENOTSUP",
        }
    }

    fn description(self) -> &'static str {
        use Errno::*;
        match self {
            EPERM => "operation not permitted",
            ENOENT => "no such file or directory",
            EIO => "input/output error",
            EBADF => "bad file descriptor",
            EAGAIN => "resource temporarily unavailable",
            EACCES => "permission denied",
            EBUSY => "device or resource busy",
            EEXIST => "file exists",
            EXDEV => "cross-device link",
            ENOTDIR => "not a directory",
            EISDIR => "is a directory",
            EINVAL => "invalid argument",
            ENFILE => "too many open files in system",
            EMFILE => "too many open files",
            EFBIG => "file too large",
            ENOSPC => "no space left on device",
            ESPIPE => "illegal seek",
            EROFS => "read-only file system",
            EMLINK => "too many links",
            ENAMETOOLONG => "file name too long",
            ENOTEMPTY => "directory not empty",
            ELOOP => "too many levels of symbolic links",
            EOVERFLOW => "value too large for defined data type",
            ENOTSUP => "operation not supported",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.name())
    }
}

impl std::error::Error for Errno {}

/// The result type of every `vfs-core` operation.
pub type Result<T> = core::result::Result<T, Errno>;

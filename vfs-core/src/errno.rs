//! POSIX error numbers, as values.
//!
//! Every fallible operation in this crate returns one of these. The names are POSIX's; the
//! numeric values are Linux's (x86-64/generic), so that tests can compare them with the errno a
//! real system call returned without a translation table.
//!
//! The list exists once: the `errnos!` table below, one row per error, generates the enum
//! (with each variant's documentation), [`Errno::ALL`], [`Errno::name`], the descriptions and
//! [`Errno::wasi_number`]. A row cannot leave a column out (the macro would not match it), and
//! the generated `match`es have no catch-all arm, so nothing can be forgotten when an error is
//! added. The WASI column is a plain number (WASI preview 1's `errno` value for the same error):
//! it is kept here so that the shim's mapping comes from this same list, and it brings no WASI
//! type or dependency into this crate.

use core::fmt;

/// Generates [`Errno`] and its tables from rows of
/// `docs VARIANT = linux_number, wasi wasi_number, "description";`.
macro_rules! errnos {
    ($($(#[$doc:meta])* $name:ident = $linux:literal, wasi $wasi:literal, $desc:literal;)*) => {
        /// A POSIX error number (the `errno` a failed call would set).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[repr(i32)]
        pub enum Errno {
            $($(#[$doc])* $name = $linux,)*
        }

        impl Errno {
            /// Every error this crate returns, in the table's order. Like the list of
            /// `errno` values in `<errno.h>`.
            pub const ALL: &'static [Errno] = &[$(Errno::$name),*];

            /// The POSIX name, e.g. `"ENOENT"` (the symbol `<errno.h>` defines).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Errno::$name => stringify!($name),)*
                }
            }

            /// What `strerror` says for this error, in lower case.
            const fn description(self) -> &'static str {
                match self {
                    $(Errno::$name => $desc,)*
                }
            }

            /// The number WASI preview 1 gives the same error (its `errno` enumeration), for
            /// a shim that reports errors to a WASI guest. A plain number, so that this crate
            /// needs no WASI type; `vfs-wasi-shim` checks each one against the `wasi` crate's
            /// names. No POSIX counterpart.
            pub const fn wasi_number(self) -> u16 {
                match self {
                    $(Errno::$name => $wasi,)*
                }
            }
        }
    };
}

errnos! {
    /// Operation not permitted (e.g. `link` to a directory).
    EPERM = 1, wasi 63, "operation not permitted";
    /// No such file or directory.
    ENOENT = 2, wasi 44, "no such file or directory";
    /// No such device or address: `/dev/tty` of a process with no controlling terminal.
    ENXIO = 6, wasi 60, "no such device or address";
    /// Input/output error: a read-only image layer turned out to be corrupt.
    EIO = 5, wasi 29, "input/output error";
    /// Bad file descriptor, or the descriptor's access mode forbids the call.
    EBADF = 9, wasi 8, "bad file descriptor";
    /// Resource temporarily unavailable; also `EWOULDBLOCK` (a lock conflict).
    EAGAIN = 11, wasi 6, "resource temporarily unavailable";
    /// Permission denied.
    EACCES = 13, wasi 2, "permission denied";
    /// Device or resource busy (e.g. `rmdir` of the root).
    EBUSY = 16, wasi 10, "device or resource busy";
    /// File exists.
    EEXIST = 17, wasi 20, "file exists";
    /// Cross-device link.
    EXDEV = 18, wasi 75, "cross-device link";
    /// No such device: the call does not apply to this kind of file (`fallocate` of a device).
    ENODEV = 19, wasi 43, "no such device";
    /// A path component, or the target of the call, is not a directory.
    ENOTDIR = 20, wasi 54, "not a directory";
    /// Is a directory.
    EISDIR = 21, wasi 31, "is a directory";
    /// Invalid argument.
    EINVAL = 22, wasi 28, "invalid argument";
    /// Too many open files in the system.
    ENFILE = 23, wasi 41, "too many open files in system";
    /// Too many open files (the fd table is full).
    EMFILE = 24, wasi 33, "too many open files";
    /// File too large.
    EFBIG = 27, wasi 22, "file too large";
    /// No space left on device (byte or inode quota reached).
    ENOSPC = 28, wasi 51, "no space left on device";
    /// Illegal seek.
    ESPIPE = 29, wasi 70, "illegal seek";
    /// Broken pipe: a write to a pipe whose read end is closed.
    EPIPE = 32, wasi 64, "broken pipe";
    /// Read-only file system.
    EROFS = 30, wasi 69, "read-only file system";
    /// Too many links.
    EMLINK = 31, wasi 34, "too many links";
    /// File name too long.
    ENAMETOOLONG = 36, wasi 37, "file name too long";
    /// Directory not empty.
    ENOTEMPTY = 39, wasi 55, "directory not empty";
    /// Too many levels of symbolic links.
    ELOOP = 40, wasi 32, "too many levels of symbolic links";
    /// Value too large for defined data type.
    EOVERFLOW = 75, wasi 61, "value too large for defined data type";
    /// Operation not supported.
    ENOTSUP = 95, wasi 58, "operation not supported";
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
        Errno::ALL.iter().copied().find(|e| e.raw() == raw)
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

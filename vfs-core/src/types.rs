//! The plain data types of the public API: flags, file types, stat results, directory entries.

use bitflags::bitflags;

/// A file descriptor number. Numbering is POSIX's: the lowest free number is used.
pub type Fd = u32;

/// An inode number, stable for as long as any name or open descriptor refers to the inode.
pub type Ino = u64;

bitflags! {
    /// Flags of `open` that choose how the path is resolved and created
    /// (`O_CREAT`, `O_DIRECTORY`, `O_EXCL`, `O_TRUNC` in POSIX).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct OFlags: u32 {
        /// Create the file if it does not exist (`O_CREAT`).
        const CREAT = 1 << 0;
        /// Fail with `ENOTDIR` unless the path names a directory (`O_DIRECTORY`).
        const DIRECTORY = 1 << 1;
        /// With `CREAT`: fail with `EEXIST` if the name exists, even as a symlink (`O_EXCL`).
        const EXCL = 1 << 2;
        /// Truncate a regular file to length 0 (`O_TRUNC`).
        const TRUNC = 1 << 3;
    }
}

bitflags! {
    /// Per-descriptor status flags (`O_APPEND`, `O_DSYNC`, `O_NONBLOCK`, `O_RSYNC`, `O_SYNC`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct FdFlags: u32 {
        /// Every write goes to the end of the file (`O_APPEND`).
        const APPEND = 1 << 0;
        /// Data is durable when a write returns (`O_DSYNC`); memory is the medium, so it always is.
        const DSYNC = 1 << 1;
        /// Calls that would wait fail with `EAGAIN` instead (`O_NONBLOCK`); nothing here waits.
        const NONBLOCK = 1 << 2;
        /// Reads see synchronized data (`O_RSYNC`); always true in memory.
        const RSYNC = 1 << 3;
        /// Data and metadata are durable when a write returns (`O_SYNC`); always true in memory.
        const SYNC = 1 << 4;
    }
}

/// The access mode a descriptor was opened with (`O_RDONLY`, `O_WRONLY`, `O_RDWR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// `O_RDONLY`.
    Read,
    /// `O_WRONLY`.
    Write,
    /// `O_RDWR`.
    ReadWrite,
}

impl Access {
    /// Whether reads are allowed.
    pub fn can_read(self) -> bool {
        matches!(self, Access::Read | Access::ReadWrite)
    }
    /// Whether writes are allowed.
    pub fn can_write(self) -> bool {
        matches!(self, Access::Write | Access::ReadWrite)
    }
}

/// The type of an inode (the `S_IFMT` part of `st_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// `S_IFREG`.
    Regular,
    /// `S_IFDIR`.
    Directory,
    /// `S_IFLNK`.
    Symlink,
    /// `S_IFCHR`: the devices under `/dev` (`null`, `zero`, `full`, `random`, `urandom`, and
    /// the host's stdio as `/dev/fd/0`..`2` show it).
    CharDevice,
    /// `S_IFIFO`: one end of a pipe made by [`crate::Fs::pipe`].
    Fifo,
}

/// Where `seek` counts from (`SEEK_SET`, `SEEK_CUR`, `SEEK_END`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Whence {
    /// From the start of the file.
    Set,
    /// From the current offset.
    Cur,
    /// From the end of the file.
    End,
}

/// The metadata `stat` returns (`struct stat` in POSIX, times in nanoseconds since the epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stat {
    /// Device number of the filesystem (`st_dev`), from [`crate::Config::dev`].
    pub dev: u64,
    /// Inode number (`st_ino`).
    pub ino: Ino,
    /// File type (the `S_IFMT` bits of `st_mode`).
    pub file_type: FileType,
    /// Permission bits, including set-uid/set-gid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Number of hard links (`st_nlink`); 0 for a file that was unlinked while open.
    pub nlink: u64,
    /// Owner (`st_uid`).
    pub uid: u32,
    /// Group (`st_gid`).
    pub gid: u32,
    /// Size in bytes (`st_size`): file length, symlink target length, or for a directory
    /// 20 bytes per entry including `.` and `..`, as Linux tmpfs reports it.
    pub size: u64,
    /// Last access (`st_atim`), nanoseconds.
    pub atime_ns: u64,
    /// Last data modification (`st_mtim`), nanoseconds.
    pub mtime_ns: u64,
    /// Last status change (`st_ctim`), nanoseconds.
    pub ctime_ns: u64,
}

/// How `futimens`/`utimensat` set one timestamp (`UTIME_OMIT`, `UTIME_NOW`, or a value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetTime {
    /// Leave the time unchanged (`UTIME_OMIT`).
    Omit,
    /// Set it to the clock's current time (`UTIME_NOW`).
    Now,
    /// Set it to this many nanoseconds since the epoch.
    At(u64),
}

/// One entry handed out by [`crate::Fs::readdir`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'a> {
    /// The entry's name (no `/`, no NUL).
    pub name: &'a [u8],
    /// Inode number of the entry.
    pub ino: Ino,
    /// Type of the entry (symlinks are not followed).
    pub file_type: FileType,
    /// Cookie to pass to `readdir` to continue after this entry (WASI's `d_next`).
    pub next_cookie: u64,
}

/// A `flock` operation (`LOCK_SH`, `LOCK_EX`, `LOCK_UN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlockOp {
    /// Take a shared lock (`LOCK_SH`).
    Shared,
    /// Take an exclusive lock (`LOCK_EX`).
    Exclusive,
    /// Drop the lock this open file description holds (`LOCK_UN`).
    Unlock,
}

/// The type of a POSIX byte-range lock (`F_RDLCK`, `F_WRLCK`, `F_UNLCK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RangeLockKind {
    /// A shared (read) lock, `F_RDLCK`.
    Read,
    /// An exclusive (write) lock, `F_WRLCK`.
    Write,
    /// Remove locks in the range, `F_UNLCK`.
    Unlock,
}

/// A byte-range lock as `fcntl(F_GETLK)` reports it: the first lock that conflicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RangeLock {
    /// The lock's owner (a process id in POSIX terms).
    pub owner: u64,
    /// `Read` or `Write`.
    pub kind: RangeLockKind,
    /// First byte covered.
    pub start: u64,
    /// Number of bytes covered; 0 means "to the end of the file and beyond", as in `l_len`.
    pub len: u64,
}

//! Errors of the reader, the verifier and the writer.
//!
//! Every error names *what* is wrong (which field, which inode, which path), so that a corrupt
//! image can be diagnosed from the message alone.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Everything that can go wrong when reading, verifying or writing an image.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The byte slice ends before `what` does.
    Truncated {
        /// The structure that does not fit.
        what: &'static str,
        /// Bytes it needs (end offset).
        need: u64,
        /// Bytes available.
        have: u64,
    },
    /// The first 8 bytes are not the image magic.
    BadMagic,
    /// A major version this reader does not understand.
    UnsupportedVersion {
        /// Major version in the header.
        major: u16,
        /// Minor version in the header.
        minor: u16,
    },
    /// A header field has an impossible value.
    BadHeader(&'static str),
    /// A count or size is so large that computing with it overflows, or it exceeds a limit.
    TooLarge {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// Two regions of the image overlap or are out of order.
    Overlap {
        /// The first region.
        first: &'static str,
        /// The region that starts before `first` ends.
        second: &'static str,
    },
    /// A range points outside the region it must lie in.
    OutOfBounds {
        /// What the range is (file data, a name, a symlink target ...).
        what: &'static str,
        /// Start of the range, relative to its region.
        offset: u64,
        /// Length of the range.
        len: u64,
        /// Length of the region.
        limit: u64,
    },
    /// An inode record is malformed.
    BadInode {
        /// Inode index.
        ino: u32,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A directory entry is malformed (bad name, bad type, bad target inode).
    BadEntry {
        /// The directory holding it.
        dir: u32,
        /// Position of the entry in the directory.
        pos: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A directory contains itself or an ancestor, or is linked from two directories.
    Cycle {
        /// The directory holding the entry.
        dir: u32,
        /// The directory the entry points at.
        child: u32,
    },
    /// The entries of a directory are not strictly sorted by name.
    Unsorted {
        /// The directory.
        dir: u32,
    },
    /// An inode that no directory entry reaches.
    Orphan {
        /// The inode index.
        ino: u32,
    },
    /// A stored link count differs from the number of names that refer to the inode.
    LinkCount {
        /// The inode index.
        ino: u32,
        /// Count in the inode record.
        stored: u32,
        /// Names found.
        counted: u64,
    },
    /// Two files' data ranges overlap without being identical (dedup shares whole ranges only).
    DataOverlap {
        /// One inode.
        a: u32,
        /// The other inode.
        b: u32,
    },
    /// A checksum does not match its region.
    Checksum {
        /// Which checksum.
        region: &'static str,
        /// Stored value.
        stored: u64,
        /// Computed value.
        computed: u64,
    },
    /// An operation needs a directory (POSIX `ENOTDIR`).
    NotADirectory {
        /// The inode index.
        ino: u32,
    },
    /// An operation needs a regular file (POSIX `EISDIR`/`EINVAL`).
    NotAFile {
        /// The inode index.
        ino: u32,
    },
    /// An operation needs a symlink (POSIX `EINVAL` from `readlink`).
    NotASymlink {
        /// The inode index.
        ino: u32,
    },
    /// A compressed file's body is malformed, or decoding it failed (truncated frame, a frame
    /// that expands past its declared size, overlapping chunks).
    BadPacked {
        /// Inode index.
        ino: u32,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The file is stored compressed, so it has no bytes in place: read it with
    /// `Image::contents` and an `Unpacker`, or `Image::read_file`.
    Compressed {
        /// Inode index.
        ino: u32,
    },
    /// Writer: a path or name that cannot be stored.
    InvalidPath {
        /// The path as given.
        path: Vec<u8>,
        /// Why it is rejected.
        why: &'static str,
    },
    /// Writer: the path already exists (POSIX `EEXIST`).
    Exists {
        /// The path.
        path: Vec<u8>,
    },
    /// Writer or path lookup: the path does not exist (POSIX `ENOENT`).
    NotFound {
        /// The path.
        path: Vec<u8>,
    },
    /// Writer: the image would exceed a limit of the format.
    Limit(String),
    /// Writer: the sink given to `finish_with` failed (the cause is the sink's to report).
    Output,
}

/// Short for `core::result::Result<T, vfs_image::Error>`.
pub type Result<T, E = Error> = core::result::Result<T, E>;

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { what, need, have } => {
                write!(f, "truncated image: {what} needs {need} bytes, image has {have}")
            }
            Error::BadMagic => write!(f, "not a vfs image (bad magic)"),
            Error::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported image version {major}.{minor} (this reader knows 1.x)")
            }
            Error::BadHeader(why) => write!(f, "bad header: {why}"),
            Error::TooLarge { what, value } => write!(f, "oversized {what}: {value}"),
            Error::Overlap { first, second } => {
                write!(f, "overlapping regions: {second} starts inside or before {first}")
            }
            Error::OutOfBounds { what, offset, len, limit } => write!(
                f,
                "{what} out of bounds: {len} bytes at offset {offset}, region is {limit} bytes"
            ),
            Error::BadInode { ino, why } => write!(f, "bad inode {ino}: {why}"),
            Error::BadEntry { dir, pos, why } => {
                write!(f, "bad entry {pos} in directory inode {dir}: {why}")
            }
            Error::Cycle { dir, child } => write!(
                f,
                "cyclic image: directory inode {dir} links directory inode {child}, which is not its own child"
            ),
            Error::Unsorted { dir } => {
                write!(f, "directory inode {dir}: entries not strictly sorted by name")
            }
            Error::Orphan { ino } => write!(f, "inode {ino} is not reachable from the root"),
            Error::LinkCount { ino, stored, counted } => write!(
                f,
                "inode {ino}: link count is {stored} but {counted} names refer to it"
            ),
            Error::DataOverlap { a, b } => {
                write!(f, "file data of inodes {a} and {b} partly overlap")
            }
            Error::Checksum { region, stored, computed } => write!(
                f,
                "{region} checksum mismatch: stored {stored:016x}, computed {computed:016x}"
            ),
            Error::NotADirectory { ino } => write!(f, "inode {ino} is not a directory"),
            Error::NotAFile { ino } => write!(f, "inode {ino} is not a regular file"),
            Error::NotASymlink { ino } => write!(f, "inode {ino} is not a symlink"),
            Error::BadPacked { ino, why } => write!(f, "compressed file inode {ino}: {why}"),
            Error::Compressed { ino } => {
                write!(f, "inode {ino} is stored compressed (no bytes in place)")
            }
            Error::InvalidPath { path, why } => write!(f, "invalid path {:?}: {why}", show(path)),
            Error::Exists { path } => write!(f, "{:?} already exists", show(path)),
            Error::NotFound { path } => write!(f, "{:?}: no such file or directory", show(path)),
            Error::Limit(msg) => write!(f, "format limit exceeded: {msg}"),
            Error::Output => write!(f, "writing the image failed"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

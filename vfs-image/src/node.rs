//! Decoded metadata: node kinds, inode records and directory entries as the reader hands them out.

use crate::format::{KIND_DIR, KIND_FILE, KIND_SYMLINK, KIND_WHITEOUT};

/// What an inode is. Mirrors the file type bits of `st_mode` (`S_IFREG`, `S_IFDIR`, `S_IFLNK`)
/// plus the overlay's whiteout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A regular file (`S_IFREG`).
    File,
    /// A directory (`S_IFDIR`).
    Dir,
    /// A symbolic link (`S_IFLNK`).
    Symlink,
    /// A whiteout: in a layer, hides the same name in the layers below (like overlayfs's 0/0
    /// character device or OCI's `.wh.NAME`).
    Whiteout,
}

impl Kind {
    pub(crate) fn from_byte(b: u8) -> Option<Kind> {
        match b {
            KIND_FILE => Some(Kind::File),
            KIND_DIR => Some(Kind::Dir),
            KIND_SYMLINK => Some(Kind::Symlink),
            KIND_WHITEOUT => Some(Kind::Whiteout),
            _ => None,
        }
    }

    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Kind::File => KIND_FILE,
            Kind::Dir => KIND_DIR,
            Kind::Symlink => KIND_SYMLINK,
            Kind::Whiteout => KIND_WHITEOUT,
        }
    }

    /// The `S_IFMT` bits for this kind, as in `st_mode` of POSIX `stat` (a whiteout reports as a
    /// character device, the way overlayfs shows it).
    pub fn mode_type_bits(self) -> u32 {
        match self {
            Kind::File => 0o100000,
            Kind::Dir => 0o040000,
            Kind::Symlink => 0o120000,
            Kind::Whiteout => 0o020000,
        }
    }
}

/// Ownership, permissions and times of a node: what POSIX `chmod`, `chown` and `utimensat` set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Meta {
    /// Permission bits, `st_mode & 07777` (type bits are not stored here).
    pub mode: u32,
    /// Owner, `st_uid`.
    pub uid: u32,
    /// Group, `st_gid`.
    pub gid: u32,
    /// Last access, nanoseconds since the Unix epoch (`st_atim`).
    pub atime_ns: i64,
    /// Last modification, nanoseconds since the Unix epoch (`st_mtim`).
    pub mtime_ns: i64,
    /// Last status change, nanoseconds since the Unix epoch (`st_ctim`).
    pub ctime_ns: i64,
}

impl Meta {
    /// Metadata with the given permission bits, owner 0:0 and all times at the epoch.
    pub const fn with_mode(mode: u32) -> Meta {
        Meta {
            mode: mode & 0o7777,
            uid: 0,
            gid: 0,
            atime_ns: 0,
            mtime_ns: 0,
            ctime_ns: 0,
        }
    }

    /// Sets all three times to `ns` (how `pack --mtime` pins them).
    pub const fn with_times(mut self, ns: i64) -> Meta {
        self.atime_ns = ns;
        self.mtime_ns = ns;
        self.ctime_ns = ns;
        self
    }

    /// Sets the owner.
    pub const fn with_owner(mut self, uid: u32, gid: u32) -> Meta {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

/// One decoded inode record: what POSIX `lstat` would report for it.
///
/// A `Node` is a small copy of the record; it does not borrow the image. Its `ino` is the index of
/// the record in the inode table, stable for the life of the image (use it as `st_ino`, perhaps
/// offset per layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    pub(crate) ino: u32,
    pub(crate) kind: Kind,
    pub(crate) opaque: bool,
    pub(crate) parent: u32,
    pub(crate) nlink: u32,
    pub(crate) size: u64,
    pub(crate) offset: u64,
    /// Bytes the contents take in their region: `size`, or a compressed file's body length.
    pub(crate) stored: u64,
    /// A regular file stored as a packed body (format 1.1).
    pub(crate) compressed: bool,
    /// Which member of a shared body the file is (format 1.2), or `None`.
    pub(crate) member: Option<u16>,
    pub(crate) meta: Meta,
}

impl Node {
    /// Index of this inode in the image's inode table (`st_ino` within the image).
    pub fn ino(&self) -> u32 {
        self.ino
    }
    /// File, directory, symlink or whiteout (`S_IFMT` of `st_mode`).
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// Is this a directory marked opaque (hides all lower layers' contents below it)?
    pub fn is_opaque(&self) -> bool {
        self.opaque
    }
    /// Is this a regular file stored compressed?
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }
    /// Bytes the contents take in the image: the size, or a compressed file's body length.
    pub fn stored_len(&self) -> u64 {
        self.stored
    }
    /// Is this a whiteout?
    pub fn is_whiteout(&self) -> bool {
        self.kind == Kind::Whiteout
    }
    /// Is this a directory?
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
    /// Permission bits (`st_mode & 07777`).
    pub fn mode(&self) -> u32 {
        self.meta.mode
    }
    /// Full `st_mode`: type bits and permission bits.
    pub fn st_mode(&self) -> u32 {
        self.kind.mode_type_bits() | self.meta.mode
    }
    /// Owner (`st_uid`).
    pub fn uid(&self) -> u32 {
        self.meta.uid
    }
    /// Group (`st_gid`).
    pub fn gid(&self) -> u32 {
        self.meta.gid
    }
    /// Number of names for this inode (`st_nlink`); for a directory 2 + its subdirectories.
    pub fn nlink(&self) -> u32 {
        self.nlink
    }
    /// `st_size`: file length, symlink target length, or a directory's number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Access time in ns since the epoch (`st_atim`).
    pub fn atime_ns(&self) -> i64 {
        self.meta.atime_ns
    }
    /// Modification time in ns since the epoch (`st_mtim`), exactly as packed.
    pub fn mtime_ns(&self) -> i64 {
        self.meta.mtime_ns
    }
    /// Status change time in ns since the epoch (`st_ctim`).
    pub fn ctime_ns(&self) -> i64 {
        self.meta.ctime_ns
    }
    /// All of mode, owner and times at once.
    pub fn meta(&self) -> Meta {
        self.meta
    }
    /// For a directory, the inode of its parent (`..`); the root is its own parent.
    pub fn parent(&self) -> u32 {
        self.parent
    }
}

/// One entry of a directory, as POSIX `readdir` returns it, with the target's inode decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'a> {
    /// The name: raw bytes (POSIX names need not be UTF-8), borrowed from the image.
    pub name: &'a [u8],
    /// The inode the name refers to.
    pub node: Node,
}

//! The inode table: every file, directory and symlink, keyed by a stable number.
//!
//! Inodes live in a `slab`, and the inode number is the slab key plus one (so 0 is never an
//! inode). A slot is freed only when the inode has no name left (`nlink == 0`) *and* nothing
//! holds it open (`refs == 0`), so a number is never reused while anything refers to it.

use crate::data::FileData;
use crate::dir::Dir;
use crate::lock::Locks;
use crate::special::{Device, Pipe};
use crate::types::{FileType, Ino, Stat};
use slab::Slab;

/// What an inode holds.
#[derive(Debug)]
pub(crate) enum Kind {
    File(FileData),
    Dir(Dir),
    Symlink(Box<[u8]>),
    /// A character device under `/dev`.
    Device(Device),
    /// A pipe: never named in a directory, alive while a descriptor of either end is open.
    Pipe(Box<Pipe>),
}

#[derive(Debug)]
pub(crate) struct Inode {
    pub kind: Kind,
    /// Permission bits (`& 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Names referring to the inode. For a directory only "alive" (2) or "removed" (0) is
    /// kept here; `stat` adds the subdirectories' `..` links.
    pub nlink: u64,
    /// Open descriptors, plus one per removed-but-open child directory (whose `..` still
    /// points here, as a dentry pins its parent in Linux).
    pub refs: u64,
    pub atime: u64,
    pub mtime: u64,
    pub ctime: u64,
    /// Advisory locks, allocated on first use.
    pub locks: Option<Box<Locks>>,
    /// (layer, image inode) this inode was made from, if it came from an image layer.
    pub origin: Option<(usize, u32)>,
    /// Names of this (image) inode in directories not yet loaded from the layers: counted in
    /// `nlink` already, so hard links keep their count before every name has been seen.
    pub lower_links: u64,
    /// Made by the system, not the user (`/dev` and what is in it, pipes, the stdio devices):
    /// counts against neither quota, as devtmpfs and pipefs are not the user's tmpfs.
    pub system: bool,
}

impl Inode {
    pub fn new(kind: Kind, mode: u32, uid: u32, gid: u32, now: u64) -> Inode {
        let nlink = if matches!(kind, Kind::Dir(_)) { 2 } else { 1 };
        Inode {
            kind,
            mode: mode & 0o7777,
            uid,
            gid,
            nlink,
            refs: 0,
            atime: now,
            mtime: now,
            ctime: now,
            locks: None,
            origin: None,
            lower_links: 0,
            system: false,
        }
    }

    pub fn file_type(&self) -> FileType {
        match self.kind {
            Kind::File(_) => FileType::Regular,
            Kind::Dir(_) => FileType::Directory,
            Kind::Symlink(_) => FileType::Symlink,
            Kind::Device(_) => FileType::CharDevice,
            Kind::Pipe(_) => FileType::Fifo,
        }
    }

    /// `st_size`: bytes for files, target length for symlinks, and for directories the
    /// 20-bytes-per-entry figure Linux tmpfs uses (`BOGO_DIRENT_SIZE`, `.` and `..` included;
    /// a removed directory keeps the 40 of an empty one, as tmpfs does).
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File(d) => d.len(),
            Kind::Symlink(t) => t.len() as u64,
            Kind::Dir(d) => 20 * (d.len() as u64 + 2),
            // Linux says 0 for both: a device has no length, a pipe's contents are no size.
            Kind::Device(_) | Kind::Pipe(_) => 0,
        }
    }

    /// Bytes this inode counts against `max_bytes`: data still borrowed from an image
    /// layer costs nothing until it is copied up.
    pub fn charged_bytes(&self) -> u64 {
        if self.system {
            return 0;
        }
        match &self.kind {
            // An image symlink's target stays the image's (it never changes).
            Kind::Symlink(_) if self.origin.is_some() => 0,
            Kind::File(d) => d.owned_bytes(),
            Kind::Symlink(t) => t.len() as u64,
            // A pipe's buffer is bounded (`PIPE_CAPACITY`) and, as on Linux, is not tmpfs's.
            Kind::Dir(_) | Kind::Device(_) | Kind::Pipe(_) => 0,
        }
    }

    #[inline]
    pub fn stat(&self, ino: Ino, dev: u64) -> Stat {
        Stat {
            dev,
            ino,
            file_type: self.file_type(),
            mode: self.mode,
            nlink: match &self.kind {
                // A live directory's link count is its own name, its `.`, and each child's `..`.
                Kind::Dir(d) if self.nlink > 0 => 2 + d.subdirs(),
                // A pipe's inode lives in Linux's pipefs, where it has its one link; the host's
                // stdio is a terminal or pipe of the host's, named there.
                Kind::Pipe(_) | Kind::Device(Device::Host(_)) => 1,
                _ => self.nlink,
            },
            uid: self.uid,
            gid: self.gid,
            size: self.size(),
            atime_ns: self.atime,
            mtime_ns: self.mtime,
            ctime_ns: self.ctime,
        }
    }

    pub fn dir(&self) -> Option<&Dir> {
        match &self.kind {
            Kind::Dir(d) => Some(d),
            _ => None,
        }
    }

    pub fn dir_mut(&mut self) -> Option<&mut Dir> {
        match &mut self.kind {
            Kind::Dir(d) => Some(d),
            _ => None,
        }
    }
}

/// The slab of inodes with ino ⇄ key conversion.
#[derive(Debug, Default)]
pub(crate) struct InodeTable {
    slab: Slab<Inode>,
}

impl InodeTable {
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn insert(&mut self, inode: Inode) -> Ino {
        self.slab.insert(inode) as Ino + 1
    }

    pub fn get(&self, ino: Ino) -> Option<&Inode> {
        let key = usize::try_from(ino.checked_sub(1)?).ok()?;
        self.slab.get(key)
    }

    pub fn get_mut(&mut self, ino: Ino) -> Option<&mut Inode> {
        let key = usize::try_from(ino.checked_sub(1)?).ok()?;
        self.slab.get_mut(key)
    }

    pub fn remove(&mut self, ino: Ino) -> Option<Inode> {
        let key = usize::try_from(ino.checked_sub(1)?).ok()?;
        self.slab.try_remove(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Ino, &Inode)> {
        self.slab.iter().map(|(k, v)| (k as Ino + 1, v))
    }
}

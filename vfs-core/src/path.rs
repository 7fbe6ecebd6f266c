//! Path resolution, in one place, as WASI's `path_*` calls and POSIX's `*at` calls do it.
//!
//! Two strategies, both walking the byte slice component by component without allocating:
//!
//! * [`Fs::walk_parent`] resolves every component but the last ("open the parent, act on the
//!   last component"), which is what creating, removing and renaming operations need. The last
//!   component is never followed even if it is a symlink.
//! * [`Fs::resolve`] resolves the whole path, following a final symlink if asked (or if a
//!   trailing slash demands a directory).
//!
//! Rules: a path starting with `/` starts at the filesystem root, any other at the directory
//! given; `.` stays, `..` goes to the parent and at the root stays at the root; a symlink in the
//! middle of a path is always followed (relative targets from the directory holding the link,
//! absolute ones from the root), and more than [`MAX_SYMLINKS`] links on one resolution is
//! `ELOOP`; a component longer than [`NAME_MAX`] is `ENAMETOOLONG`, as is a path of
//! [`PATH_MAX`] bytes or more; a NUL byte anywhere is `EINVAL`; an empty path is `ENOENT`; a
//! component that is a regular file followed by more components is `ENOTDIR`, and so is a
//! trailing slash on something that is not a directory.
//!
//! Following a symlink recurses, one level per link, so the depth is bounded by `MAX_SYMLINKS`.

use crate::errno::{Errno, Result};
use crate::fs::Fs;
use crate::inode::Kind;
use crate::types::{FileType, Ino};

/// Longest name of one directory entry, in bytes (Linux's `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Paths of this many bytes or more are refused (Linux's `PATH_MAX`, which counts the NUL).
pub const PATH_MAX: usize = 4096;
/// Symlinks one resolution may follow before failing with `ELOOP` (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;

/// Why a path walk stopped without an answer.
///
/// Walks take `&self` and must not allocate, so they cannot turn a directory that is still in
/// the image layers into inodes themselves; they stop and say which directory needs loading.
/// [`Fs::with_load`] loads it and runs the operation again, so `NeedsLoad` never reaches a
/// public call's caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WalkError {
    /// The walk failed with this POSIX error: that is the operation's answer.
    Errno(Errno),
    /// The walk reached directory `Ino` whose entries are still only in the image layers.
    NeedsLoad(Ino),
}

impl From<Errno> for WalkError {
    fn from(e: Errno) -> Self {
        WalkError::Errno(e)
    }
}

/// What walks, and the operations built on them, return (see [`WalkError`]).
pub(crate) type WalkResult<T> = core::result::Result<T, WalkError>;

/// The last component of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Last<'p> {
    /// A real name.
    Name(&'p [u8]),
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// The path was only slashes: it names the root itself.
    Root,
}

/// The directory holding the last component, and that component.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parent<'p> {
    pub dir: Ino,
    pub last: Last<'p>,
    /// The path ended with one or more `/` after the last component.
    pub trailing_slash: bool,
}

fn classify(comp: &[u8]) -> Last<'_> {
    match comp {
        b"." => Last::Dot,
        b".." => Last::DotDot,
        n => Last::Name(n),
    }
}

fn strip_slashes(mut s: &[u8]) -> &[u8] {
    while let [b'/', rest @ ..] = s {
        s = rest;
    }
    s
}

/// Checks a whole path argument: not empty, no NUL, shorter than `PATH_MAX`.
pub(crate) fn check_path(path: &[u8]) -> Result<()> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.contains(&0) {
        return Err(Errno::EINVAL);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

/// Checks one name: `ENAMETOOLONG` past `NAME_MAX`.
pub(crate) fn check_name(name: &[u8]) -> Result<()> {
    if name.len() > NAME_MAX {
        Err(Errno::ENAMETOOLONG)
    } else {
        Ok(())
    }
}

impl Fs {
    /// The inode of `..` of directory `dir` (the root is its own parent).
    pub(crate) fn parent_of(&self, dir: Ino) -> Ino {
        match self.inodes.get(dir).map(|i| &i.kind) {
            Some(Kind::Dir(d)) => d.parent(),
            _ => self.root,
        }
    }

    /// Resolves all components of `path` but the last, starting at directory `start`.
    pub(crate) fn walk_parent<'p>(
        &self,
        start: Ino,
        path: &'p [u8],
        hops: &mut u32,
    ) -> WalkResult<Parent<'p>> {
        // The NUL scan is done once per call in `start_of`; symlink targets never hold NUL.
        if path.is_empty() {
            return Err(Errno::ENOENT.into());
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG.into());
        }
        let mut dir = if path[0] == b'/' { self.root } else { start };
        let mut rest = strip_slashes(path);
        if rest.is_empty() {
            return Ok(Parent {
                dir: self.root,
                last: Last::Root,
                trailing_slash: true,
            });
        }
        loop {
            let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
            let (comp, after) = rest.split_at(end);
            let next = strip_slashes(after);
            if next.is_empty() {
                return Ok(Parent {
                    dir,
                    last: classify(comp),
                    trailing_slash: !after.is_empty(),
                });
            }
            dir = match comp {
                b"." => dir,
                b".." => self.parent_of(dir),
                name => self.step(dir, name, hops)?,
            };
            rest = next;
        }
    }

    /// Moves from directory `dir` into its entry `name`, which must be (or lead through
    /// symlinks to) a directory.
    fn step(&self, dir: Ino, name: &[u8], hops: &mut u32) -> WalkResult<Ino> {
        let slot = self.lookup_name(dir, name)?.ok_or(Errno::ENOENT)?;
        match slot.1 {
            FileType::Directory => Ok(slot.0),
            FileType::Regular | FileType::CharDevice | FileType::Fifo => Err(Errno::ENOTDIR.into()),
            FileType::Symlink => {
                let target = self.follow_link(slot.0, hops)?;
                let ino = self.resolve_from(dir, target, true, hops)?;
                if self.file_type_of(ino) == Some(FileType::Directory) {
                    Ok(ino)
                } else {
                    Err(Errno::ENOTDIR.into())
                }
            }
        }
    }

    /// Counts one symlink hop and returns the link's target.
    pub(crate) fn follow_link(&self, link: Ino, hops: &mut u32) -> Result<&[u8]> {
        *hops += 1;
        if *hops > MAX_SYMLINKS {
            return Err(Errno::ELOOP);
        }
        match self.inodes.get(link).map(|i| &i.kind) {
            Some(Kind::Symlink(t)) => Ok(t),
            _ => Err(Errno::ENOENT),
        }
    }

    /// Looks `name` up in directory `dir`: `ENOTDIR` if `dir` is not one, `None` if absent
    /// (always, in a removed directory), `ENAMETOOLONG` past `NAME_MAX` (Linux finds that out
    /// only when it looks the name up, so errors found before the lookup win). A directory
    /// still in the image layers is [`WalkError::NeedsLoad`].
    pub(crate) fn lookup_name(&self, dir: Ino, name: &[u8]) -> WalkResult<Option<(Ino, FileType)>> {
        if self.fd_dir == Some(dir) {
            check_name(name)?;
            return Ok(self.lookup_fd_dir(name));
        }
        // One inode fetch per component: this is the hot path of every walk.
        let Some(inode) = self.inodes.get(dir) else {
            return Err(Errno::ENOENT.into());
        };
        let Kind::Dir(d) = &inode.kind else {
            return Err(Errno::ENOTDIR.into());
        };
        // A removed directory is empty, and Linux says so before it looks at the name.
        if inode.nlink == 0 {
            return Ok(None);
        }
        check_name(name)?;
        if d.lower().is_some() {
            // Still in the image layers: the public call loads it and retries.
            return Err(WalkError::NeedsLoad(dir));
        }
        Ok(d.get(name).map(|s| (s.ino, s.file_type)))
    }

    pub(crate) fn file_type_of(&self, ino: Ino) -> Option<FileType> {
        self.inodes.get(ino).map(|i| i.file_type())
    }

    /// Resolves `path` from directory `start` to an inode, following a final symlink when
    /// `follow` is set or a trailing slash asks for a directory.
    pub(crate) fn resolve_from(
        &self,
        start: Ino,
        path: &[u8],
        follow: bool,
        hops: &mut u32,
    ) -> WalkResult<Ino> {
        let p = self.walk_parent(start, path, hops)?;
        let ino = match p.last {
            Last::Root | Last::Dot => p.dir,
            Last::DotDot => self.parent_of(p.dir),
            Last::Name(name) => {
                let (ino, ft) = self.lookup_name(p.dir, name)?.ok_or(Errno::ENOENT)?;
                if ft == FileType::Symlink && (follow || p.trailing_slash) {
                    let target = self.follow_link(ino, hops)?;
                    self.resolve_from(p.dir, target, true, hops)?
                } else {
                    ino
                }
            }
        };
        if p.trailing_slash && self.file_type_of(ino) != Some(FileType::Directory) {
            return Err(Errno::ENOTDIR.into());
        }
        Ok(ino)
    }

    /// [`Fs::resolve_from`] relative to descriptor `dirfd`, with a fresh hop count.
    pub(crate) fn resolve(&mut self, dirfd: u32, path: &[u8], follow: bool) -> WalkResult<Ino> {
        let start = self.start_of(dirfd, path)?;
        self.resolve_cached(start, path, follow)
    }

    /// [`Fs::walk_parent`] relative to descriptor `dirfd`, with a fresh hop count: the first
    /// step of every call that acts on a name in a directory (mkdir, unlink, rename ...).
    pub(crate) fn walk_parent_at<'p>(&self, dirfd: u32, path: &'p [u8]) -> WalkResult<Parent<'p>> {
        let start = self.start_of(dirfd, path)?;
        self.walk_parent(start, path, &mut 0)
    }

    /// What resolving `path` (relative to `dirfd`) gave before — an inode or `ENOENT` — if the
    /// path cache has it. `None` sends the caller down the full walk, which also reports any
    /// other error: a hit means the same bytes passed `check_path` and were resolved from this
    /// start, with this answer, since the last change of any directory's names. Only
    /// directories are ever cached as starts (inodes never change kind, and a number is reused
    /// only after a removal, which empties the cache), so `dirfd`'s type needs no check here.
    pub(crate) fn lookup_cached(
        &self,
        dirfd: u32,
        path: &[u8],
        follow: bool,
    ) -> Option<Result<Ino>> {
        let start = match path.first()? {
            b'/' => self.root,
            _ => self.fds.file(dirfd).ok()?.ino,
        };
        self.path_cache.get(start, follow, path)
    }

    /// [`Fs::resolve_from`] with a fresh hop count, answered from the path cache when this
    /// path was resolved from `start` before and no directory changed since (see `cache.rs`).
    pub(crate) fn resolve_cached(
        &mut self,
        start: Ino,
        path: &[u8],
        follow: bool,
    ) -> WalkResult<Ino> {
        if let Some(r) = self.path_cache.get(start, follow, path) {
            return Ok(r?);
        }
        let mut hops = 0;
        self.walked_fd_dir.set(false);
        let r = self.resolve_from(start, path, follow, &mut hops);
        if self.walked_fd_dir.get() {
            return r;
        }
        match r {
            Ok(ino) => self.path_cache.insert(start, follow, path, Some(ino)),
            Err(WalkError::Errno(Errno::ENOENT)) => {
                self.path_cache.insert(start, follow, path, None);
            }
            // Not `NeedsLoad`: that answer is only "load it and try again".
            Err(_) => {}
        }
        r
    }

    /// Where resolving `path` relative to `dirfd` starts. As in POSIX, an absolute path ignores
    /// `dirfd` entirely, and a malformed path is reported before a bad descriptor.
    pub(crate) fn start_of(&self, dirfd: u32, path: &[u8]) -> Result<Ino> {
        check_path(path)?;
        if path[0] == b'/' {
            Ok(self.root)
        } else {
            self.dir_of_fd(dirfd)
        }
    }

    /// The directory inode `dirfd` refers to: `EBADF` if it is not open, `ENOTDIR` if it
    /// is not a directory.
    pub(crate) fn dir_of_fd(&self, dirfd: u32) -> Result<Ino> {
        let f = self.fds.file(dirfd)?;
        match self.file_type_of(f.ino) {
            Some(FileType::Directory) => Ok(f.ino),
            _ => Err(Errno::ENOTDIR),
        }
    }
}

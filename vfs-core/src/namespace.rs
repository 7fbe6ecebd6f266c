//! Operations on names: mkdir, rmdir, unlink, rename, link, symlink, readlink, readdir.
//!
//! Each follows Linux's order of checks, so the errno a caller sees for a path with several
//! problems is the one Linux (tmpfs) would report; the differential test holds us to it.

use crate::dir::{Dir, FIRST_SEQ};
use crate::errno::{Errno, Result};
use crate::fs::Fs;
use crate::inode::Kind;
use crate::path::{Last, WalkResult, PATH_MAX};
use crate::types::{DirEntry, Fd, FileType, Ino};

impl Fs {
    /// Creates a directory. Like `mkdirat`: `EEXIST` if the name exists (as anything,
    /// a dangling symlink included, and for `.`, `..`, `/`), `ENOENT` if the parent is
    /// missing or removed, `ENOSPC` past the inode quota. A trailing slash is allowed.
    pub fn mkdir(&mut self, dirfd: Fd, path: &[u8], mode: u32) -> Result<()> {
        self.with_load(|fs| {
            let p = fs.walk_parent_at(dirfd, path)?;
            let Last::Name(name) = p.last else {
                return Err(Errno::EEXIST.into());
            };
            if fs.lookup_name(p.dir, name)?.is_some() {
                return Err(Errno::EEXIST.into());
            }
            fs.create_inode(p.dir, name, Kind::Dir(Dir::new(p.dir)), mode)?;
            Ok(())
        })
    }

    /// Removes an empty directory. Like `unlinkat(AT_REMOVEDIR)`: `ENOTDIR` if the name is
    /// not a directory (a symlink to one included), `ENOTEMPTY` if it has entries, `EBUSY`
    /// for the root, `EINVAL` for a last component `.`, `ENOTEMPTY` for `..`. An open
    /// descriptor keeps the removed directory (empty, `nlink` 0) until closed.
    pub fn rmdir(&mut self, dirfd: Fd, path: &[u8]) -> Result<()> {
        self.with_load(|fs| {
            let p = fs.walk_parent_at(dirfd, path)?;
            let name = match p.last {
                Last::Root => return Err(Errno::EBUSY.into()),
                Last::Dot => return Err(Errno::EINVAL.into()),
                Last::DotDot => return Err(Errno::ENOTEMPTY.into()),
                Last::Name(n) => n,
            };
            let (ino, ft) = fs.lookup_name(p.dir, name)?.ok_or(Errno::ENOENT)?;
            if ft != FileType::Directory {
                return Err(Errno::ENOTDIR.into());
            }
            if ino == fs.root {
                return Err(Errno::EBUSY.into());
            }
            if !fs.is_empty_dir(ino) {
                return Err(Errno::ENOTEMPTY.into());
            }
            let now = fs.now();
            fs.edit_names(p.dir, Some(now), |d| d.remove(name));
            fs.kill_dir(ino);
            Ok(())
        })
    }

    fn is_empty_dir(&self, ino: Ino) -> bool {
        if let Some((len, _)) = self.unloaded_counts(ino) {
            return len == 0;
        }
        self.inodes
            .get(ino)
            .and_then(|i| i.dir())
            .is_some_and(|d| d.is_empty())
    }

    /// Marks an (empty, already unnamed) directory removed. If it is still open it stays, and
    /// pins its parent so that `..` from it stays valid, as a Linux dentry does.
    fn kill_dir(&mut self, ino: Ino) {
        let now = self.now();
        let Some(i) = self.inodes.get_mut(ino) else {
            return;
        };
        i.nlink = 0;
        i.ctime = now;
        let open = i.refs > 0;
        let parent = i.dir().map_or(ino, |d| d.parent());
        // Nothing resolves inside a removed directory any more (`lookup_name`): a change of
        // its names like any other. Unreferenced, it becomes its own parent, so that freeing
        // it now does not touch the parent's pin count.
        self.edit_names(ino, None, |d| {
            if !open {
                d.set_parent(ino);
            }
        });
        if !open {
            self.maybe_free(ino);
        } else if parent != ino {
            if let Some(p) = self.inodes.get_mut(parent) {
                p.refs += 1;
            }
        }
    }

    /// Removes a name of a non-directory; the inode lives on while open. Like `unlinkat`:
    /// `EISDIR` for a directory (Linux's answer; POSIX also allows `EPERM`), `ENOTDIR` for a
    /// trailing slash on a non-directory.
    pub fn unlink(&mut self, dirfd: Fd, path: &[u8]) -> Result<()> {
        self.with_load(|fs| {
            let p = fs.walk_parent_at(dirfd, path)?;
            let Last::Name(name) = p.last else {
                return Err(Errno::EISDIR.into());
            };
            let (ino, ft) = fs.lookup_name(p.dir, name)?.ok_or(Errno::ENOENT)?;
            if ft == FileType::Directory {
                return Err(Errno::EISDIR.into());
            }
            if p.trailing_slash {
                return Err(Errno::ENOTDIR.into());
            }
            let now = fs.now();
            fs.edit_names(p.dir, Some(now), |d| d.remove(name));
            fs.drop_link(ino, now);
            Ok(())
        })
    }

    /// One name of a non-directory is gone.
    fn drop_link(&mut self, ino: Ino, now: u64) {
        if let Some(i) = self.inodes.get_mut(ino) {
            i.nlink = i.nlink.saturating_sub(1);
            i.ctime = now;
        }
        self.maybe_free(ino);
    }

    /// Whether directory `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: Ino, mut b: Ino) -> bool {
        loop {
            if a == b {
                return true;
            }
            let p = self.parent_of(b);
            if p == b {
                return false;
            }
            b = p;
        }
    }

    /// Renames `old` to `new`, replacing `new` if it exists. Like `renameat`:
    /// `EBUSY` if either last component is `.`, `..` or `/`; `ENOENT` if `old` is missing;
    /// `ENOTDIR` for a trailing slash when `old` is not a directory; `EINVAL` for moving a
    /// directory into its own subtree; `ENOTEMPTY` when `new` is a non-empty directory (or an
    /// ancestor of `old`); nothing at all when both name the same inode; `ENOTDIR` for a
    /// directory over a non-directory; `EISDIR` for a non-directory over a directory.
    pub fn rename(&mut self, olddirfd: Fd, old: &[u8], newdirfd: Fd, new: &[u8]) -> Result<()> {
        self.with_load(|fs| {
            let op = fs.walk_parent_at(olddirfd, old)?;
            let np = fs.walk_parent_at(newdirfd, new)?;
            let (Last::Name(oname), Last::Name(nname)) = (op.last, np.last) else {
                return Err(Errno::EBUSY.into());
            };
            let (oino, oft) = fs.lookup_name(op.dir, oname)?.ok_or(Errno::ENOENT)?;
            // Looking a name up in a removed directory fails before anything else is checked.
            if fs.inodes.get(np.dir).is_none_or(|i| i.nlink == 0) {
                return Err(Errno::ENOENT.into());
            }
            let target = fs.lookup_name(np.dir, nname)?;
            let is_dir = oft == FileType::Directory;
            if !is_dir && (op.trailing_slash || np.trailing_slash) {
                return Err(Errno::ENOTDIR.into());
            }
            if is_dir && fs.is_ancestor(oino, np.dir) {
                return Err(Errno::EINVAL.into());
            }
            if let Some((tino, tft)) = target {
                if tft == FileType::Directory && fs.is_ancestor(tino, op.dir) {
                    return Err(Errno::ENOTEMPTY.into());
                }
                if tino == oino {
                    return Ok(());
                }
                if is_dir && tft != FileType::Directory {
                    return Err(Errno::ENOTDIR.into());
                }
                if !is_dir && tft == FileType::Directory {
                    return Err(Errno::EISDIR.into());
                }
                if tft == FileType::Directory && !fs.is_empty_dir(tino) {
                    return Err(Errno::ENOTEMPTY.into());
                }
            } else if fs.inodes.get(np.dir).is_none_or(|i| i.nlink == 0) {
                return Err(Errno::ENOENT.into());
            }
            let now = fs.now();
            // Unhook the old name first: when both names are in one directory the new name's slot
            // is then updated (or added) in the same map.
            fs.edit_names(op.dir, Some(now), |d| d.remove(oname));
            let replacing = target.is_some();
            fs.edit_names(np.dir, Some(now), |d| {
                if replacing {
                    d.replace(nname, oino, oft);
                } else {
                    d.insert(nname, oino, oft);
                }
            });
            if let Some(i) = fs.inodes.get_mut(oino) {
                i.ctime = now;
            }
            // A moved directory's `..` changes (nothing for a non-directory).
            fs.edit_names(oino, None, |d| d.set_parent(np.dir));
            match target {
                Some((tino, FileType::Directory)) => fs.kill_dir(tino),
                Some((tino, _)) => fs.drop_link(tino, now),
                None => {}
            }
            Ok(())
        })
    }

    /// Makes `new` another name for the file `old` names. Like `linkat` (with
    /// `AT_SYMLINK_FOLLOW` when `follow`): `EEXIST` if `new` exists, `EPERM` if `old` is a
    /// directory, `ENOENT` if `new`'s parent is missing or removed.
    pub fn link(
        &mut self,
        olddirfd: Fd,
        old: &[u8],
        follow: bool,
        newdirfd: Fd,
        new: &[u8],
    ) -> Result<()> {
        self.with_load(|fs| {
            let oino = fs.resolve(olddirfd, old, follow)?;
            let np = fs.walk_parent_at(newdirfd, new)?;
            let nname = fs.creatable_name(&np)?;
            let dir_live = fs.inodes.get(np.dir).is_some_and(|i| i.nlink > 0);
            if !dir_live {
                return Err(Errno::ENOENT.into());
            }
            let ft = fs.file_type_of(oino).ok_or(Errno::ENOENT)?;
            if ft == FileType::Directory {
                return Err(Errno::EPERM.into());
            }
            let now = fs.now();
            if let Some(i) = fs.inodes.get_mut(oino) {
                if i.nlink == 0 {
                    return Err(Errno::ENOENT.into());
                }
                i.nlink += 1;
                i.ctime = now;
            }
            fs.edit_names(np.dir, Some(now), |d| d.insert(nname, oino, ft));
            Ok(())
        })
    }

    /// The last component of a path that names a new non-directory (`link`, `symlink`):
    /// `EEXIST` for `.`, `..`, `/` or an existing name, `ENOENT` for a trailing slash.
    fn creatable_name<'p>(&self, p: &crate::path::Parent<'p>) -> WalkResult<&'p [u8]> {
        let Last::Name(name) = p.last else {
            return Err(Errno::EEXIST.into());
        };
        if self.lookup_name(p.dir, name)?.is_some() {
            return Err(Errno::EEXIST.into());
        }
        if p.trailing_slash {
            return Err(Errno::ENOENT.into());
        }
        Ok(name)
    }

    /// Creates a symlink `path` pointing at `target` (stored as given, not resolved).
    /// Like `symlinkat`: `ENOENT` for an empty target, `ENAMETOOLONG` for one of
    /// `PATH_MAX` bytes or more, `EEXIST` if `path` exists.
    pub fn symlink(&mut self, target: &[u8], dirfd: Fd, path: &[u8]) -> Result<()> {
        self.with_load(|fs| {
            if target.is_empty() {
                return Err(Errno::ENOENT.into());
            }
            if target.contains(&0) {
                return Err(Errno::EINVAL.into());
            }
            if target.len() >= PATH_MAX {
                return Err(Errno::ENAMETOOLONG.into());
            }
            let p = fs.walk_parent_at(dirfd, path)?;
            let name = fs.creatable_name(&p)?;
            fs.create_inode(p.dir, name, Kind::Symlink(target.into()), 0o777)?;
            Ok(())
        })
    }

    /// Copies the target of symlink `path` into `buf`, truncating silently if `buf` is short,
    /// and returns the bytes copied. Like `readlinkat`: `EINVAL` if `path` is not a symlink or
    /// `buf` is empty.
    pub fn readlink(&mut self, dirfd: Fd, path: &[u8], buf: &mut [u8]) -> Result<usize> {
        self.with_load(|fs| {
            if buf.is_empty() {
                return Err(Errno::EINVAL.into());
            }
            if path.is_empty() {
                // Linux reads the link `dirfd` itself refers to (AT_EMPTY_PATH is implied); a
                // descriptor here never refers to a symlink, so that is ENOENT once it is valid.
                fs.fds.file(dirfd)?;
                return Err(Errno::ENOENT.into());
            }
            let ino = fs.resolve(dirfd, path, false)?;
            match fs.inodes.get(ino).map(|i| &i.kind) {
                Some(Kind::Symlink(t)) => {
                    let n = t.len().min(buf.len());
                    buf[..n].copy_from_slice(&t[..n]);
                    Ok(n)
                }
                _ => Err(Errno::EINVAL.into()),
            }
        })
    }

    /// The whole target of symlink `path`, as a new vector. Like `readlinkat` with a buffer
    /// that is always large enough.
    pub fn readlink_vec(&mut self, dirfd: Fd, path: &[u8]) -> Result<Vec<u8>> {
        self.with_load(|fs| {
            let ino = fs.resolve(dirfd, path, false)?;
            match fs.inodes.get(ino).map(|i| &i.kind) {
                Some(Kind::Symlink(t)) => Ok(t.to_vec()),
                _ => Err(Errno::EINVAL.into()),
            }
        })
    }

    /// The version of directory `fd`'s listing, for a caller that keeps copies of listings
    /// (the WASI shim packs `fd_readdir`'s answer once per version): while it stays the same,
    /// [`Fs::readdir`] reports the same entries, inodes, types and cookies. Marks the directory
    /// read (its atime, as `readdir` does), so a listing served from such a copy counts as
    /// one. `None` for a removed directory, which lists nothing; `ENOTDIR` if `fd` is not a
    /// directory. No POSIX counterpart: the part of `getdents` that says whether anything
    /// changed.
    pub fn readdir_version(&mut self, fd: Fd) -> Result<Option<u64>> {
        let ino = self.dir_to_list(fd)?;
        let version = match self.inodes.get(ino).map(|i| (i.nlink, &i.kind)) {
            Some((1.., Kind::Dir(d))) => Some(d.version()),
            _ => None,
        };
        self.touch_atime(ino);
        Ok(version)
    }

    /// The directory behind `fd`, its names loaded from the image layers unless it was
    /// removed; `ENOTDIR` if `fd` is not a directory.
    fn dir_to_list(&mut self, fd: Fd) -> Result<Ino> {
        let ino = self.fds.file(fd)?.ino;
        if self.inodes.get(ino).is_some_and(|i| i.nlink > 0) {
            self.load_dir(ino)?;
        }
        match self.inodes.get(ino).map(|i| &i.kind) {
            Some(Kind::Dir(_)) => Ok(ino),
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::EBADF),
        }
    }

    /// Lists directory `fd` from `cookie`: calls `f` for each entry until it returns false or
    /// the directory ends. Cookie 0 starts with `.` (cookie 1 with `..`), then the names in
    /// creation order; pass an entry's `next_cookie` to continue after it. Cookies stay valid
    /// while the directory changes: a name that exists for the whole listing is reported
    /// exactly once. Like `getdents` with `telldir`/`seekdir` (WASI `fd_readdir`).
    /// `ENOTDIR` if `fd` is not a directory; a removed directory lists nothing at all (what
    /// POSIX's `readdir` shows for it).
    pub fn readdir(
        &mut self,
        fd: Fd,
        cookie: u64,
        mut f: impl FnMut(&DirEntry<'_>) -> bool,
    ) -> Result<()> {
        let ino = self.dir_to_list(fd)?;
        let inode = self.inodes.get(ino).ok_or(Errno::EBADF)?;
        let Kind::Dir(d) = &inode.kind else {
            return Err(Errno::ENOTDIR);
        };
        if inode.nlink == 0 {
            // Linux's getdents says ENOENT here, and POSIX has libc turn that into an empty
            // listing (glibc does); WASI's fd_readdir has no libc in between, so answer that.
            return Ok(());
        }
        let mut go = true;
        if cookie == 0 {
            go = f(&DirEntry {
                name: b".",
                ino,
                file_type: FileType::Directory,
                next_cookie: 1,
            });
        }
        if go && cookie <= 1 {
            go = f(&DirEntry {
                name: b"..",
                ino: d.parent(),
                file_type: FileType::Directory,
                next_cookie: FIRST_SEQ,
            });
        }
        if go {
            d.for_each_from(
                cookie.max(FIRST_SEQ),
                |name, ino, file_type, next_cookie| {
                    f(&DirEntry {
                        name,
                        ino,
                        file_type,
                        next_cookie,
                    })
                },
            );
        }
        self.touch_atime(ino);
        Ok(())
    }
}

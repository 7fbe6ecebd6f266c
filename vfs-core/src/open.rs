//! `open`: resolving, creating and truncating, with POSIX's (Linux's) error order.

use crate::data::FileData;
use crate::errno::{Errno, Result};
use crate::fs::Fs;
use crate::inode::{Inode, Kind};
use crate::path::{Last, WalkResult};
use crate::types::{Access, Fd, FdFlags, FileType, Ino, OFlags};

impl Fs {
    /// Opens (and with `CREAT` creates) the file `path` names relative to `dirfd`.
    /// Like `openat`; `follow` false is `O_NOFOLLOW` (a final symlink is `ELOOP`).
    ///
    /// Errors, in the order Linux checks them: `EMFILE` when the table is full; `EINVAL` for
    /// `CREAT | DIRECTORY`; path errors (`ENOENT`, `ENOTDIR`, `ENAMETOOLONG`, `ELOOP`, `EINVAL`);
    /// `EEXIST` for `CREAT | EXCL` on an existing name; `EISDIR` for a directory opened for
    /// writing, with `CREAT` or with `TRUNC`, and for `CREAT` of any path ending in `/`;
    /// `ENOTDIR` for `DIRECTORY` on a non-directory; `ENOSPC` when no inode may be created.
    /// `TRUNC` truncates a regular file even when opened read-only, as Linux does. `mode` is
    /// stored as given (there is no umask).
    #[allow(clippy::too_many_arguments)] // mirrors openat's arguments one for one
    pub fn open(
        &mut self,
        dirfd: Fd,
        path: &[u8],
        follow: bool,
        oflags: OFlags,
        access: Access,
        fdflags: FdFlags,
        mode: u32,
    ) -> Result<Fd> {
        self.with_load(|fs| {
            if !fs.fds.has_free(fs.config.max_fds) {
                return Err(Errno::EMFILE.into());
            }
            if oflags.contains(OFlags::CREAT | OFlags::DIRECTORY) {
                return Err(Errno::EINVAL.into());
            }
            let start = fs.start_of(dirfd, path)?;
            let ino = if oflags.contains(OFlags::CREAT) {
                fs.open_create(start, path.to_vec(), follow, oflags, mode)?
            } else {
                // A plain resolution: under O_NOFOLLOW a final symlink comes back as itself,
                // dangling or not, and is refused below (ENOTDIR under O_DIRECTORY, else ELOOP).
                fs.resolve_cached(start, path, follow)?
            };
            let ft = fs.file_type_of(ino).ok_or(Errno::ENOENT)?;
            match ft {
                FileType::Directory => {
                    if access.can_write() || oflags.intersects(OFlags::CREAT | OFlags::TRUNC) {
                        return Err(Errno::EISDIR.into());
                    }
                }
                // Only reached under O_NOFOLLOW; Linux checks O_DIRECTORY first.
                FileType::Symlink if oflags.contains(OFlags::DIRECTORY) => {
                    return Err(Errno::ENOTDIR.into())
                }
                FileType::Symlink => return Err(Errno::ELOOP.into()),
                FileType::Regular => {
                    if oflags.contains(OFlags::DIRECTORY) {
                        return Err(Errno::ENOTDIR.into());
                    }
                    if oflags.contains(OFlags::TRUNC) {
                        fs.truncate_inode(ino, 0)?;
                    }
                }
                // `O_TRUNC` means nothing to a device or a pipe, and Linux ignores it.
                FileType::CharDevice | FileType::Fifo => {
                    if oflags.contains(OFlags::DIRECTORY) {
                        return Err(Errno::ENOTDIR.into());
                    }
                    if let Some(host) = fs.device_open(ino)? {
                        // `/dev/fd/1` while descriptor 1 is the host's: another descriptor
                        // of the host's, which the shim forwards.
                        return Ok(fs.adopt_host_fd(None, host)?);
                    }
                }
            }
            Ok(fs.new_fd(ino, access, fdflags)?)
        })
    }

    /// The `CREAT` path of `open`: finds or creates the file, following a final symlink
    /// (also a dangling one, whose target is then created) unless `EXCL` or `!follow`.
    fn open_create(
        &mut self,
        start: Ino,
        mut path: Vec<u8>,
        follow: bool,
        oflags: OFlags,
        mode: u32,
    ) -> WalkResult<Ino> {
        let mut hops = 0;
        let mut dir = start;
        loop {
            let p = self.walk_parent(dir, &path, &mut hops)?;
            let name = match p.last {
                Last::Name(n) => n,
                // `.`, `..`, `/` name an existing directory.
                _ if oflags.contains(OFlags::EXCL) => return Err(Errno::EEXIST.into()),
                _ => return Err(Errno::EISDIR.into()),
            };
            // Linux refuses a trailing slash with O_CREAT before looking the name up.
            if p.trailing_slash {
                return Err(Errno::EISDIR.into());
            }
            match self.lookup_name(p.dir, name)? {
                None => {
                    let name = name.to_vec();
                    let file = Kind::File(FileData::default());
                    return Ok(self.create_inode(p.dir, &name, file, mode)?);
                }
                Some((ino, ft)) => {
                    if oflags.contains(OFlags::EXCL) {
                        return Err(Errno::EEXIST.into());
                    }
                    if ft != FileType::Symlink {
                        return Ok(ino);
                    }
                    if !follow {
                        return Err(Errno::ELOOP.into());
                    }
                    let target = self.follow_link(ino, &mut hops)?.to_vec();
                    dir = p.dir;
                    path = target;
                }
            }
        }
    }

    /// Makes a new inode named `name` in directory `dir`, which must still be linked
    /// (`ENOENT` otherwise), within the inode and byte quotas (`ENOSPC`).
    pub(crate) fn create_inode(
        &mut self,
        dir: Ino,
        name: &[u8],
        kind: Kind,
        mode: u32,
    ) -> Result<Ino> {
        match self.inodes.get(dir) {
            Some(i) if i.nlink > 0 && i.dir().is_some() => {}
            Some(i) if i.dir().is_none() => return Err(Errno::ENOTDIR),
            _ => return Err(Errno::ENOENT),
        }
        self.check_inode_quota()?;
        let now = self.now();
        let mut inode = Inode::new(kind, mode, self.config.uid, self.config.gid, now);
        let charge = inode.charged_bytes();
        if charge > self.config.max_bytes.saturating_sub(self.used_bytes) {
            return Err(Errno::ENOSPC);
        }
        if let Kind::Dir(d) = &mut inode.kind {
            // Not named anywhere yet; the insertion below drops the path cache again.
            d.edit(&mut self.path_cache).set_parent(dir);
        }
        let ft = inode.file_type();
        let ino = self.inodes.insert(inode);
        self.used_bytes += charge;
        self.edit_names(dir, Some(now), |d| d.insert(name, ino, ft));
        Ok(ino)
    }
}

//! The filesystem object and the operations on descriptors themselves: creation, close,
//! renumbering, stat, flags, rights, host descriptors, sync.

use crate::cache::PathCache;
use crate::config::Config;
use crate::data::FileData;
use crate::dir::{Dir, DirEdit};
use crate::errno::{Errno, Result};
use crate::fd::{Closed, Entry, FdTable, OpenFile};
use crate::inode::{Inode, InodeTable, Kind};
use crate::types::{Access, Fd, FdFlags, FileType, Ino, Stat};

/// The whole filesystem: inode table, descriptor table, locks and limits.
///
/// One `Fs` is one process's view (one descriptor table), which is what a WASI guest has.
/// Every method mirrors a POSIX call and returns that call's error numbers.
pub struct Fs {
    pub(crate) inodes: InodeTable,
    pub(crate) fds: FdTable,
    pub(crate) config: Config,
    pub(crate) root: Ino,
    /// Bytes charged against `config.max_bytes`.
    pub(crate) used_bytes: u64,
    /// The read-only image layers under the writable tree, if any.
    pub(crate) lower: Option<vfs_image::Overlay<'static>>,
    /// Inodes made from image inodes, by (layer, image inode): a second name of a hard link
    /// finds the inode made for the first.
    pub(crate) lower_inos: hashbrown::HashMap<(usize, u32), Ino>,
    /// Inodes made from image layers; they do not count against `max_inodes`.
    pub(crate) lower_inodes: u64,
    /// The clock's last reading: what relatime's one-day rule compares with (see
    /// [`Fs::touch_atime`]).
    pub(crate) last_now: std::cell::Cell<u64>,
    /// Whole paths resolved before, dropped whenever a directory's entries change.
    pub(crate) path_cache: PathCache,
    /// Decodes compressed image files on read. Its memory (at most one chunk, ≤ 1 MiB, and
    /// the decoder's tables) is the filesystem's own, counted against no quota, like a page
    /// cache; the chunk is dropped when the file it came from is closed.
    pub(crate) unpacker: vfs_image::Unpacker,
    /// The magic `/dev/fd` directory, once [`Fs::mount_dev`] made it.
    pub(crate) fd_dir: Option<Ino>,
    /// The devices standing for the host's descriptors 0, 1, 2 under `/dev/fd`.
    pub(crate) stdio_inos: Vec<Ino>,
    /// Set by a walk that went through `/dev/fd`: what it found depends on the descriptor
    /// table, which the path cache does not watch, so that resolution is not cached.
    pub(crate) walked_fd_dir: std::cell::Cell<bool>,
    /// Inodes the system made (`Inode::system`: `/dev`, pipes, the stdio devices); they do not
    /// count against `max_inodes`, as devtmpfs and pipefs are not tmpfs.
    pub(crate) system_inodes: u64,
}

impl std::fmt::Debug for Fs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fs")
            .field("config", &self.config)
            .field("inodes", &self.inodes.len())
            .field("used_bytes", &self.used_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for Fs {
    fn default() -> Self {
        Fs::new(Config::default())
    }
}

impl Fs {
    /// Creates an empty filesystem: a root directory (mode 0o755) and no open descriptors.
    /// Like `mount -t tmpfs`.
    pub fn new(config: Config) -> Fs {
        let now = config.clock.now_ns();
        let mut inodes = InodeTable::default();
        // The root is its own parent; its number is fixed up right after insertion.
        let root = inodes.insert(Inode::new(
            Kind::Dir(Dir::new(0)),
            0o755,
            config.uid,
            config.gid,
            now,
        ));
        let mut fs = Fs {
            inodes,
            fds: FdTable::default(),
            config,
            root,
            used_bytes: 0,
            lower: None,
            lower_inos: hashbrown::HashMap::new(),
            lower_inodes: 0,
            last_now: std::cell::Cell::new(now),
            path_cache: PathCache::default(),
            unpacker: vfs_image::Unpacker::new(),
            fd_dir: None,
            stdio_inos: Vec::new(),
            walked_fd_dir: std::cell::Cell::new(false),
            system_inodes: 0,
        };
        fs.edit_names(root, None, |d| d.set_parent(root));
        fs
    }

    /// Frees the memory that only speeds reading up: the decoder of compressed image files,
    /// its tables and the chunk it last decoded. Nothing visible changes. Like Linux's
    /// `echo 1 > /proc/sys/vm/drop_caches`; a pre-initialized box calls it before its snapshot
    /// so the snapshot carries no decoded copies of image files.
    pub fn drop_caches(&mut self) {
        self.unpacker = vfs_image::Unpacker::new();
    }

    /// The limits and settings this filesystem was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Changes the limits of a live filesystem, as `mount -o remount,size=B,nr_inodes=N` does
    /// for tmpfs and `setrlimit(RLIMIT_NOFILE)` for descriptors. As tmpfs, refuses with
    /// `EINVAL` (changing nothing) a byte or inode limit below what is already in use; as
    /// `setrlimit`, a lowered descriptor limit leaves descriptors open above it alone and
    /// applies only to new ones.
    pub fn set_limits(&mut self, max_bytes: u64, max_inodes: u64, max_fds: u32) -> Result<()> {
        if max_bytes < self.used_bytes || max_inodes < self.used_inodes() {
            return Err(Errno::EINVAL);
        }
        self.config.max_bytes = max_bytes;
        self.config.max_inodes = max_inodes;
        self.config.max_fds = max_fds;
        Ok(())
    }

    /// Bytes of file data and symlink targets currently charged against `max_bytes`
    /// (like `f_blocks - f_bfree` of `statvfs`, in bytes).
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Inodes alive, including unlinked ones still open (like `f_files - f_ffree`); inodes
    /// loaded from image layers are not counted, as they cost no quota.
    pub fn used_inodes(&self) -> u64 {
        (self.inodes.len() as u64).saturating_sub(self.lower_inodes + self.system_inodes)
    }

    /// Descriptors open, host ones included.
    pub fn open_fds(&self) -> usize {
        self.fds.open_count()
    }

    /// The inode number of the root directory.
    pub fn root_ino(&self) -> Ino {
        self.root
    }

    pub(crate) fn now(&self) -> u64 {
        let now = self.config.clock.now_ns();
        self.last_now.set(now);
        now
    }

    /// Records an access (a read, a listing) in the inode's atime as Linux's `relatime` does,
    /// tmpfs's default: only if the atime is not later than the mtime or the ctime, or is a day
    /// old. The one-day rule is checked against the clock's last reading (any call that stamps
    /// a time reads it), so a repeated read of an unchanged file reads no clock at all — in a
    /// guest each reading is a call to the host.
    pub(crate) fn touch_atime(&mut self, ino: Ino) {
        const DAY_NS: u64 = 24 * 60 * 60 * 1_000_000_000;
        let Some(i) = self.inodes.get(ino) else {
            return;
        };
        let stale = i.atime <= i.mtime
            || i.atime <= i.ctime
            || self.last_now.get().saturating_sub(i.atime) >= DAY_NS;
        if stale {
            let now = self.now();
            if let Some(i) = self.inodes.get_mut(ino) {
                i.atime = now;
            }
        }
    }

    /// Changes the names of directory `dir`, or its `..`, with `f`. Every such change goes
    /// through here: a [`DirEdit`] is made only by `Dir::edit`, which drops the path cache (a
    /// cached resolution may pass through `dir`), and each of its changes gives the directory
    /// a new listing version ([`Fs::readdir_version`]). With `now`, also stamps the
    /// directory's mtime and ctime, as POSIX requires of adding, replacing or removing a name;
    /// `None` where POSIX sees no change of the directory itself (loading its names from the
    /// image layers, moving or removing it, making it the root).
    pub(crate) fn edit_names<R>(
        &mut self,
        dir: Ino,
        now: Option<u64>,
        f: impl FnOnce(&mut DirEdit<'_>) -> R,
    ) {
        let Some(i) = self.inodes.get_mut(dir) else {
            return;
        };
        if let Some(now) = now {
            i.mtime = now;
            i.ctime = now;
        }
        if let Some(d) = i.dir_mut() {
            // What the edit returns (a removed slot) is of no use here.
            let _ = f(&mut d.edit(&mut self.path_cache));
        }
    }

    /// Opens the root directory read-only; the shim hands this descriptor to the guest as its
    /// preopened `/`. Like `open("/", O_RDONLY | O_DIRECTORY)`.
    pub fn open_root(&mut self) -> Result<Fd> {
        let root = self.root;
        self.new_fd(root, Access::Read, FdFlags::empty())
    }

    /// Allocates the lowest free descriptor for an open file description of `ino`.
    pub(crate) fn new_fd(&mut self, ino: Ino, access: Access, flags: FdFlags) -> Result<Fd> {
        let fd = self.fds.alloc_file(
            OpenFile {
                ino,
                offset: 0,
                access,
                flags,
                rights: (u64::MAX, u64::MAX),
                flock: None,
                range_owners: Vec::new(),
            },
            self.config.max_fds,
        )?;
        if let Some(i) = self.inodes.get_mut(ino) {
            i.refs += 1;
        }
        self.open_special(ino, access);
        Ok(fd)
    }

    /// Checks the inode quota before creating one (`ENOSPC`, as tmpfs's `nr_inodes`).
    pub(crate) fn check_inode_quota(&self) -> Result<()> {
        if self.used_inodes() >= self.config.max_inodes {
            Err(Errno::ENOSPC)
        } else {
            Ok(())
        }
    }

    /// Frees `ino` if nothing refers to it any more; a freed removed directory releases the
    /// pin on its parent, which may free that in turn.
    pub(crate) fn maybe_free(&mut self, mut ino: Ino) {
        loop {
            let Some(i) = self.inodes.get(ino) else {
                return;
            };
            if i.nlink != 0 || i.refs != 0 || ino == self.root {
                return;
            }
            let Some(inode) = self.inodes.remove(ino) else {
                return;
            };
            self.used_bytes = self.used_bytes.saturating_sub(inode.charged_bytes());
            if let Some(key) = inode.origin {
                self.lower_inos.remove(&key);
                self.lower_inodes = self.lower_inodes.saturating_sub(1);
            }
            if inode.system {
                self.system_inodes = self.system_inodes.saturating_sub(1);
            }
            match inode.kind {
                Kind::Dir(d) if d.parent() != ino => {
                    if let Some(p) = self.inodes.get_mut(d.parent()) {
                        p.refs = p.refs.saturating_sub(1);
                    }
                    ino = d.parent();
                }
                _ => return,
            }
        }
    }

    /// Closes a descriptor. The range locks of owners that locked through its open file
    /// description go at once (POSIX: closing any descriptor of a file drops the process's
    /// locks on it); the description itself, with its `flock`, goes with its last descriptor,
    /// and the inode with its last reference if it was unlinked. Like `close`.
    pub fn close(&mut self, fd: Fd) -> Result<()> {
        match self.fds.take(fd) {
            None => Err(Errno::EBADF),
            Some(Closed::Host) => Ok(()),
            Some(Closed::Last(f)) => {
                self.release(f);
                Ok(())
            }
            Some(Closed::Shared { ino, range_owners }) => {
                self.release_range_owners(ino, &range_owners);
                Ok(())
            }
        }
    }

    fn release_range_owners(&mut self, ino: Ino, owners: &[u64]) {
        if let Some(l) = self.inodes.get_mut(ino).and_then(|i| i.locks.as_mut()) {
            for o in owners {
                l.release_owner(*o);
            }
        }
        if let Some(i) = self.inodes.get_mut(ino) {
            if i.locks.as_ref().is_some_and(|l| l.is_empty()) {
                i.locks = None;
            }
        }
    }

    fn release(&mut self, f: OpenFile) {
        self.release_range_owners(f.ino, &f.range_owners);
        self.release_special(f.ino, f.access);
        if let Some(i) = self.inodes.get_mut(f.ino) {
            if let Some(l) = i.locks.as_mut() {
                l.flock_release(f.flock);
                if l.is_empty() {
                    i.locks = None;
                }
            }
            i.refs = i.refs.saturating_sub(1);
            if let Kind::File(FileData::Packed(p)) = &i.kind {
                if self.unpacker.holds(p) {
                    // Decoded bytes of a closed file are not kept: a snapshot taken later
                    // (a pre-initialized box) carries none of them.
                    self.unpacker.forget();
                }
            }
        }
        self.maybe_free(f.ino);
    }

    /// Moves descriptor `from` to number `to`, closing whatever `to` held first; `from` is
    /// then free. Like WASI's `fd_renumber` (POSIX `dup2` followed by `close(from)`).
    /// `EBADF` if `from` is not open or `to` is beyond the table.
    pub fn renumber(&mut self, from: Fd, to: Fd) -> Result<()> {
        if self.fds.get(from).is_none() || to >= self.config.max_fds {
            return Err(Errno::EBADF);
        }
        if from == to {
            return Ok(());
        }
        if self.fds.get(to).is_some() {
            self.close(to)?;
        }
        self.fds.move_entry(from, to, self.config.max_fds)
    }

    /// A new descriptor for the open file description `fd` refers to (the same offset and
    /// status flags), at the lowest free number not below `min`. Like `fcntl(fd, F_DUPFD,
    /// min)`; `dup(fd)` is `min` 0. `EBADF` if `fd` is not open, `EINVAL` if `min` is beyond
    /// the table, `EMFILE` if no number is free.
    pub fn dup(&mut self, fd: Fd, min: Fd) -> Result<Fd> {
        self.fds.dup(fd, min, self.config.max_fds)
    }

    /// Makes `to` refer to what `from` refers to, closing `to` first if it was open; `from`
    /// stays open. Like `dup2(from, to)`: nothing happens if they are equal and `from` is
    /// open; `EBADF` if `from` is not open or `to` is beyond the table.
    pub fn dup2(&mut self, from: Fd, to: Fd) -> Result<Fd> {
        let entry = self.fds.get(from).ok_or(Errno::EBADF)?;
        if to >= self.config.max_fds {
            return Err(Errno::EBADF);
        }
        if from != to {
            if self.fds.get(to).is_some() {
                self.close(to)?;
            }
            self.fds.place(to, entry, self.config.max_fds)?;
        }
        Ok(to)
    }

    /// Whether any descriptor still refers to host descriptor `host`: the shim closes a host
    /// descriptor on the host only when the last one referring to it is closed.
    pub fn holds_host_fd(&self, host: u32) -> bool {
        self.fds.holds_host(host)
    }

    /// Enters a host descriptor (stdio, a host preopen) in the table so that numbering is
    /// decided in one place: at `at` if given (must be free: `EEXIST`, or beyond the table:
    /// `EBADF`), else at the lowest free number (`EMFILE` when full). Core calls on it fail
    /// with `EBADF`; the shim forwards them to the host.
    pub fn adopt_host_fd(&mut self, at: Option<Fd>, host: u32) -> Result<Fd> {
        match at {
            Some(fd) => self
                .fds
                .place(fd, Entry::Host(host), self.config.max_fds)
                .map(|()| fd),
            None => self.fds.alloc_host(host, self.config.max_fds),
        }
    }

    /// The host descriptor behind `fd`, if `fd` is a host entry.
    pub fn host_fd(&self, fd: Fd) -> Option<u32> {
        match self.fds.get(fd) {
            Some(Entry::Host(h)) => Some(h),
            _ => None,
        }
    }

    /// Metadata of the file `fd` refers to, also after it was unlinked (then `nlink` is 0).
    /// Like `fstat`.
    pub fn fstat(&self, fd: Fd) -> Result<Stat> {
        let f = self.fds.file(fd)?;
        self.stat_ino(f.ino).ok_or(Errno::EBADF)
    }

    /// `stat` of an inode; a directory whose entries are still in the image layers gets its
    /// link count and size from the layers.
    #[inline]
    pub(crate) fn stat_ino(&self, ino: Ino) -> Option<Stat> {
        let i = self.inodes.get(ino)?;
        let mut st = i.stat(ino, self.config.dev);
        let unloaded = i.dir().is_some_and(|d| d.lower().is_some());
        if let Some((len, subdirs)) = unloaded.then(|| self.unloaded_counts(ino)).flatten() {
            if i.nlink > 0 {
                st.nlink = 2 + subdirs;
            }
            st.size = 20 * (len + 2);
        }
        Some(st)
    }

    /// Metadata of the file `path` names relative to `dirfd`; with `follow` false a final
    /// symlink is described itself. Like `fstatat` (`stat`/`lstat`).
    // Inlined into the caller (the WASI shim), so the `Stat` is built where it is used: moving
    // it is a `memory.copy` in wasm32, which wasmtime runs as a call into the host.
    #[inline]
    pub fn stat(&mut self, dirfd: Fd, path: &[u8], follow: bool) -> Result<Stat> {
        match self.lookup_cached(dirfd, path, follow) {
            Some(Ok(ino)) => {
                if let Some(st) = self.stat_ino(ino) {
                    return Ok(st);
                }
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
        self.stat_walk(dirfd, path, follow)
    }

    /// [`Fs::stat`] of a path not in the path cache: walks it (and caches the result). Kept
    /// out of line so that the inlined cache hit stays small.
    #[inline(never)]
    fn stat_walk(&mut self, dirfd: Fd, path: &[u8], follow: bool) -> Result<Stat> {
        self.with_load(|fs| {
            let ino = fs.resolve(dirfd, path, follow)?;
            Ok(fs.stat_ino(ino).ok_or(Errno::ENOENT)?)
        })
    }

    /// The status flags of `fd`. Like `fcntl(F_GETFL)` (WASI `fd_fdstat_get`).
    pub fn fd_flags(&self, fd: Fd) -> Result<FdFlags> {
        Ok(self.fds.file(fd)?.flags)
    }

    /// Replaces the status flags of `fd`. Like `fcntl(F_SETFL)` (WASI `fd_fdstat_set_flags`).
    pub fn set_fd_flags(&mut self, fd: Fd, flags: FdFlags) -> Result<()> {
        self.fds.file_mut(fd)?.flags = flags;
        Ok(())
    }

    /// The access mode `fd` was opened with (`fcntl(F_GETFL) & O_ACCMODE`).
    pub fn access(&self, fd: Fd) -> Result<Access> {
        Ok(self.fds.file(fd)?.access)
    }

    /// The type of the file `fd` refers to (`fstat(fd).st_mode & S_IFMT`).
    pub fn fd_file_type(&self, fd: Fd) -> Result<FileType> {
        let f = self.fds.file(fd)?;
        self.file_type_of(f.ino).ok_or(Errno::EBADF)
    }

    /// The inode number `fd` refers to (`fstat(fd).st_ino`).
    pub fn fd_ino(&self, fd: Fd) -> Result<Ino> {
        Ok(self.fds.file(fd)?.ino)
    }

    /// The opaque (base, inheriting) rights stored with `fd` for the WASI shim; a new
    /// descriptor has all bits set. Nothing in this crate interprets them.
    pub fn rights(&self, fd: Fd) -> Result<(u64, u64)> {
        Ok(self.fds.file(fd)?.rights)
    }

    /// Stores new rights with `fd` (WASI `fd_fdstat_set_rights`).
    pub fn set_rights(&mut self, fd: Fd, base: u64, inheriting: u64) -> Result<()> {
        self.fds.file_mut(fd)?.rights = (base, inheriting);
        Ok(())
    }

    /// Makes the file's data and metadata durable. Like `fsync`. In memory there is nothing
    /// to wait for — the memory is the medium, and it lives exactly as long as the instance —
    /// so this succeeds at once for any open descriptor. (Persisting is done by exporting the
    /// upper layer as an image, not per file.) `EINVAL` on a device or pipe, as on Linux.
    pub fn sync(&mut self, fd: Fd) -> Result<()> {
        self.datasync(fd)
    }

    /// Makes the file's data durable. Like `fdatasync`; succeeds at once for the same reason
    /// as [`Fs::sync`], and refuses devices and pipes as it does.
    pub fn datasync(&mut self, fd: Fd) -> Result<()> {
        let ino = self.fds.file(fd)?.ino;
        if self.is_special(ino) {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
}

//! What is not a file of data but answers `read` and `write` all the same: the character
//! devices under `/dev` and pipes.
//!
//! Devices are inodes of their own kind named in `/dev` (made by [`Fs::mount_dev`]), with
//! Linux's behaviour: `null` reads end of file and swallows writes, `zero` reads zeros, `full`
//! reads zeros and refuses writes with `ENOSPC`, `random` and `urandom` read the
//! configured [`crate::Entropy`], and `tty` is `ENXIO` to open (there is no controlling
//! terminal). `/dev/fd/N` names what descriptor `N` refers to, as
//! Linux's `/proc/self/fd/N` magic links do, and `/dev/stdin`, `/dev/stdout`, `/dev/stderr`
//! are symlinks to `fd/0`..`fd/2`.
//!
//! A pipe is an inode named nowhere with a bounded buffer. The guest has one thread, so
//! whatever would block forever on Linux answers at once: reading an empty pipe whose write
//! end is still open is `EAGAIN` (with no writer left it is end of file), and a write that
//! finds the buffer full is short, or `EAGAIN` if nothing fits.

use std::collections::VecDeque;

use crate::errno::{Errno, Result};
use crate::fs::Fs;
use crate::inode::{Inode, Kind};
use crate::types::{Access, Fd, FdFlags, FileType, Ino};

/// Bytes a pipe holds before writes are refused: Linux's default pipe size (16 pages).
pub const PIPE_CAPACITY: usize = 65_536;

/// Writes of at most this many bytes go into a pipe whole or not at all (POSIX `PIPE_BUF`).
const PIPE_BUF: usize = 4096;

/// A character device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Device {
    /// `/dev/null` (1, 3).
    Null,
    /// `/dev/zero` (1, 5).
    Zero,
    /// `/dev/full` (1, 7).
    Full,
    /// `/dev/random` (1, 8) and `/dev/urandom` (1, 9): the same source, as since Linux 5.6.
    Random,
    /// `/dev/tty` (5, 0): the controlling terminal, which a box never has (a WASI program
    /// cannot acquire one), so opening it is `ENXIO`, as for a daemon or a cron job on Linux.
    Tty,
    /// The host's descriptor of this number (stdio): what `/dev/fd/N` names while guest
    /// descriptor `N` is the host's. Opening it gives another descriptor of the host's.
    Host(u32),
}

/// A pipe's buffer and how many open file descriptions each end has.
#[derive(Debug, Default)]
pub(crate) struct Pipe {
    buf: VecDeque<u8>,
    readers: u32,
    writers: u32,
}

/// The devices `mount_dev` makes: name, device, permission bits (Linux's).
const DEVICES: [(&[u8], Device, u32); 6] = [
    (b"null", Device::Null, 0o666),
    (b"zero", Device::Zero, 0o666),
    (b"full", Device::Full, 0o666),
    (b"random", Device::Random, 0o666),
    (b"urandom", Device::Random, 0o666),
    (b"tty", Device::Tty, 0o666),
];

/// The stdio names and the `fd/N` each points at.
const STDIO_LINKS: [(&[u8], &[u8]); 3] = [
    (b"stdin", b"fd/0"),
    (b"stdout", b"fd/1"),
    (b"stderr", b"fd/2"),
];

impl Fs {
    /// Makes `/dev` (if missing) with `null`, `zero`, `full`, `random`, `urandom`, `fd` and the
    /// `stdin`/`stdout`/`stderr` links, as a Linux system's devtmpfs and udev do at boot.
    /// Names that already exist are left alone. What it makes counts against neither quota
    /// (devtmpfs is not the user's tmpfs); the `fd` directory is the magic one every later lookup of `/dev/fd/N` goes through.
    pub fn mount_dev(&mut self) -> Result<()> {
        let root = self.root;
        let dev = match self.lookup_loaded(root, b"dev")? {
            Some((ino, FileType::Directory)) => ino,
            Some(_) => return Err(Errno::EEXIST),
            None => self.create_system(root, b"dev", Kind::Dir(crate::dir::Dir::new(0)), 0o755)?,
        };
        for (name, device, mode) in DEVICES {
            if self.lookup_loaded(dev, name)?.is_none() {
                self.create_system(dev, name, Kind::Device(device), mode)?;
            }
        }
        let fd_dir = match self.lookup_loaded(dev, b"fd")? {
            Some((ino, FileType::Directory)) => ino,
            Some(_) => return Err(Errno::EEXIST),
            None => self.create_system(dev, b"fd", Kind::Dir(crate::dir::Dir::new(0)), 0o500)?,
        };
        for (name, target) in STDIO_LINKS {
            if self.lookup_loaded(dev, name)?.is_none() {
                self.create_system(dev, name, Kind::Symlink(target.into()), 0o777)?;
            }
        }
        if self.stdio_inos.is_empty() {
            self.make_stdio_inodes();
        }
        self.fd_dir = Some(fd_dir);
        // Lookups cached before may have gone through a plain `/dev/fd`.
        self.path_cache.clear();
        Ok(())
    }

    /// [`Fs::create_inode`] for what the system makes (`/dev` and its entries): counted
    /// against neither quota once made (the byte charge is given back).
    fn create_system(&mut self, dir: Ino, name: &[u8], kind: Kind, mode: u32) -> Result<Ino> {
        let ino = self.create_inode(dir, name, kind, mode)?;
        if let Some(i) = self.inodes.get_mut(ino) {
            self.used_bytes -= i.charged_bytes();
            i.system = true;
            self.system_inodes += 1;
        }
        Ok(ino)
    }

    /// Looks `name` up in `dir`, loading `dir` from the image layers first if needed.
    fn lookup_loaded(&mut self, dir: Ino, name: &[u8]) -> Result<Option<(Ino, FileType)>> {
        self.with_load(|fs| fs.lookup_name(dir, name))
    }

    /// What `name` in the magic `/dev/fd` names: the inode descriptor `name` refers to (its
    /// file, directory, device or pipe, as Linux's magic links jump straight to it), or for a
    /// host descriptor 0..=2 the device standing for it. `None` if `name` is not an open
    /// descriptor (`ENOENT`, as on Linux).
    pub(crate) fn lookup_fd_dir(&self, name: &[u8]) -> Option<(Ino, FileType)> {
        if name.is_empty() || name.len() > 10 || (name.len() > 1 && name[0] == b'0') {
            return None;
        }
        let fd: Fd = std::str::from_utf8(name).ok()?.parse().ok()?;
        let ino = match self.fds.file(fd) {
            Ok(f) => f.ino,
            Err(_) => {
                let host = self.host_fd(fd)?;
                *self.stdio_inos.get(host as usize)?
            }
        };
        self.walked_fd_dir.set(true);
        Some((ino, self.file_type_of(ino)?))
    }

    /// Makes the devices that stand for the host's stdio under `/dev/fd` (named nowhere, kept
    /// alive by the filesystem itself).
    pub(crate) fn make_stdio_inodes(&mut self) {
        let now = self.config.clock.now_ns();
        for h in 0..3u32 {
            let mut inode = Inode::new(Kind::Device(Device::Host(h)), 0o620, 0, 0, now);
            inode.nlink = 0;
            inode.system = true;
            // The filesystem's own reference: never freed.
            inode.refs = 1;
            let ino = self.inodes.insert(inode);
            self.system_inodes += 1;
            self.stdio_inos.push(ino);
        }
    }

    /// What opening a device does instead of making an open file description: adopt another
    /// descriptor of the host's (`Ok(Some(h))`), or fail (`/dev/tty`); `Ok(None)` for the rest.
    pub(crate) fn device_open(&self, ino: Ino) -> Result<Option<u32>> {
        match self.inodes.get(ino).map(|i| &i.kind) {
            Some(Kind::Device(Device::Host(h))) => Ok(Some(*h)),
            Some(Kind::Device(Device::Tty)) => Err(Errno::ENXIO),
            _ => Ok(None),
        }
    }

    /// Makes a pipe: returns (read end, write end), the two lowest free descriptors. Like
    /// `pipe2(fds, flags)`; `flags` are status flags of both ends (`NONBLOCK` changes nothing:
    /// every end already answers without waiting). `EMFILE` if two numbers are not free, and
    /// then nothing is made.
    pub fn pipe(&mut self, flags: FdFlags) -> Result<(Fd, Fd)> {
        let now = self.now();
        let ino = self.inodes.insert(Inode::new(
            Kind::Pipe(Box::default()),
            0o600,
            self.config.uid,
            self.config.gid,
            now,
        ));
        if let Some(i) = self.inodes.get_mut(ino) {
            i.nlink = 0;
            i.system = true;
        }
        // Not the user's inode quota: a pipe is pipefs's, not tmpfs's.
        self.system_inodes += 1;
        let r = self.new_fd(ino, Access::Read, flags);
        let w = r.and_then(|r| self.new_fd(ino, Access::Write, flags).map(|w| (r, w)));
        match w {
            Ok(fds) => Ok(fds),
            Err(e) => {
                if let Ok(r) = r {
                    let _ = self.close(r);
                }
                // Nothing opened it, or the read end's close freed it already.
                if self.inodes.get(ino).is_some_and(|i| i.refs == 0) {
                    self.maybe_free(ino);
                }
                Err(e)
            }
        }
    }

    /// Counts a new open file description of a pipe at its end (`access`).
    pub(crate) fn open_special(&mut self, ino: Ino, access: Access) {
        if let Some(Kind::Pipe(p)) = self.inodes.get_mut(ino).map(|i| &mut i.kind) {
            if access.can_read() {
                p.readers += 1;
            }
            if access.can_write() {
                p.writers += 1;
            }
        }
    }

    /// Counts a closed open file description of a pipe at its end.
    pub(crate) fn release_special(&mut self, ino: Ino, access: Access) {
        if let Some(Kind::Pipe(p)) = self.inodes.get_mut(ino).map(|i| &mut i.kind) {
            if access.can_read() {
                p.readers = p.readers.saturating_sub(1);
            }
            if access.can_write() {
                p.writers = p.writers.saturating_sub(1);
            }
        }
    }

    /// `read` of a device or pipe into `bufs`; `None` if `ino` is neither.
    pub(crate) fn read_special(
        &mut self,
        ino: Ino,
        bufs: &mut [&mut [u8]],
    ) -> Option<Result<usize>> {
        let inode = self.inodes.get_mut(ino)?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        match &mut inode.kind {
            Kind::Device(Device::Null) => Some(Ok(0)),
            Kind::Device(Device::Zero | Device::Full) => {
                bufs.iter_mut().for_each(|b| b.fill(0));
                Some(Ok(total))
            }
            Kind::Device(Device::Random) => {
                bufs.iter_mut().for_each(|b| self.config.entropy.fill(b));
                Some(Ok(total))
            }
            // Opening one gives a host descriptor (or fails), so no open file description
            // reads it.
            Kind::Device(Device::Host(_) | Device::Tty) => Some(Err(Errno::EBADF)),
            Kind::Pipe(p) => {
                if p.buf.is_empty() {
                    return Some(if p.writers == 0 || total == 0 {
                        Ok(0)
                    } else {
                        Err(Errno::EAGAIN)
                    });
                }
                let mut n = 0;
                for b in bufs.iter_mut() {
                    let take = b.len().min(p.buf.len());
                    for (dst, src) in b.iter_mut().zip(p.buf.drain(..take)) {
                        *dst = src;
                    }
                    n += take;
                    if p.buf.is_empty() {
                        break;
                    }
                }
                Some(Ok(n))
            }
            _ => None,
        }
    }

    /// `write` of `bufs` to a device or pipe; `None` if `ino` is neither.
    pub(crate) fn write_special(&mut self, ino: Ino, bufs: &[&[u8]]) -> Option<Result<usize>> {
        let inode = self.inodes.get_mut(ino)?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        match &mut inode.kind {
            Kind::Device(Device::Null | Device::Zero | Device::Random) => Some(Ok(total)),
            Kind::Device(Device::Full) => Some(Err(Errno::ENOSPC)),
            Kind::Device(Device::Host(_) | Device::Tty) => Some(Err(Errno::EBADF)),
            Kind::Pipe(p) => {
                // Linux looks at the length before the readers.
                if total == 0 {
                    return Some(Ok(0));
                }
                if p.readers == 0 {
                    // Linux also raises SIGPIPE; a guest has no signals, so the error is all.
                    return Some(Err(Errno::EPIPE));
                }
                let room = PIPE_CAPACITY - p.buf.len();
                if room == 0 || (total <= PIPE_BUF && room < total) {
                    return Some(Err(Errno::EAGAIN));
                }
                let mut left = room;
                for b in bufs {
                    let n = b.len().min(left);
                    p.buf.extend(&b[..n]);
                    left -= n;
                    if left == 0 {
                        break;
                    }
                }
                Some(Ok(room - left))
            }
            _ => None,
        }
    }

    /// Whether `ino` is a pipe: `lseek`, `pread` and `pwrite` on it are `ESPIPE`.
    pub(crate) fn is_pipe(&self, ino: Ino) -> bool {
        matches!(self.inodes.get(ino).map(|i| &i.kind), Some(Kind::Pipe(_)))
    }

    /// Whether `ino` is a device or a pipe, which `fsync` refuses with `EINVAL` on Linux
    /// (their drivers have nothing to make durable).
    pub(crate) fn is_special(&self, ino: Ino) -> bool {
        matches!(
            self.inodes.get(ino).map(|i| &i.kind),
            Some(Kind::Pipe(_) | Kind::Device(_))
        )
    }

    /// Bytes waiting in the pipe `fd` is an end of. Like `ioctl(fd, FIONREAD)`; `EINVAL` if
    /// `fd` is not a pipe (`EBADF` if not open).
    pub fn pipe_buffered(&self, fd: Fd) -> Result<usize> {
        let ino = self.fds.file(fd)?.ino;
        match self.inodes.get(ino).map(|i| &i.kind) {
            Some(Kind::Pipe(p)) => Ok(p.buf.len()),
            _ => Err(Errno::EINVAL),
        }
    }
}

//! Operations on the contents and times of an open file: read, write, seek, truncate,
//! allocate, set times.

use crate::errno::{Errno, Result};
use crate::fs::Fs;
use crate::inode::Kind;
use crate::types::{Fd, FdFlags, Ino, SetTime, Whence};

/// Largest file size and offset: `off_t` is signed 64-bit (Linux's `MAX_LFS_FILESIZE`).
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// Linux's `rw_verify_area`: a read or write whose range would pass `off_t` is `EINVAL`
/// before anything else looks at the file (the offset is the descriptor's or `pread`'s, even
/// under `O_APPEND`).
fn check_range(offset: u64, lens: impl Iterator<Item = usize>) -> Result<()> {
    let count: u64 = lens.map(|n| n as u64).sum();
    if offset.saturating_add(count) > MAX_FILE_SIZE {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl Fs {
    /// Reads from the descriptor's offset and advances it. Like `read`.
    /// `EBADF` if not open for reading, `EISDIR` on a directory; 0 at end of file.
    pub fn read(&mut self, fd: Fd, buf: &mut [u8]) -> Result<usize> {
        self.read_vectored(fd, &mut [buf])
    }

    /// Reads into several buffers in turn, as one call. Like `readv`.
    pub fn read_vectored(&mut self, fd: Fd, bufs: &mut [&mut [u8]]) -> Result<usize> {
        let f = self.fds.file(fd)?;
        let (ino, offset) = (f.ino, f.offset);
        if !f.access.can_read() {
            return Err(Errno::EBADF);
        }
        check_range(offset, bufs.iter().map(|b| b.len()))?;
        let n = self.read_inode(ino, offset, bufs)?;
        self.fds.file_mut(fd)?.offset = offset + n as u64;
        Ok(n)
    }

    /// Reads at `offset` without moving the descriptor's offset. Like `pread`.
    /// `EINVAL` for an offset beyond `off_t`.
    pub fn pread(&mut self, fd: Fd, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.pread_vectored(fd, &mut [buf], offset)
    }

    /// Vectored [`Fs::pread`]. Like `preadv`.
    pub fn pread_vectored(&mut self, fd: Fd, bufs: &mut [&mut [u8]], offset: u64) -> Result<usize> {
        let f = self.fds.file(fd)?;
        let ino = f.ino;
        // Linux refuses a positioned read of a pipe before it looks at the access mode.
        if self.is_pipe(ino) {
            return Err(Errno::ESPIPE);
        }
        if !f.access.can_read() {
            return Err(Errno::EBADF);
        }
        if offset > MAX_FILE_SIZE {
            return Err(Errno::EINVAL);
        }
        check_range(offset, bufs.iter().map(|b| b.len()))?;
        self.read_inode(ino, offset, bufs)
    }

    fn read_inode(&mut self, ino: Ino, offset: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        if let Some(r) = self.read_special(ino, bufs) {
            return r;
        }
        let inode = self.inodes.get(ino).ok_or(Errno::EBADF)?;
        let Kind::File(data) = &inode.kind else {
            return Err(Errno::EISDIR);
        };
        let mut total = 0usize;
        for b in bufs.iter_mut() {
            let n = data.read_at(offset + total as u64, b, &mut self.unpacker)?;
            total += n;
            if n < b.len() {
                break;
            }
        }
        self.touch_atime(ino);
        Ok(total)
    }

    /// Writes at the descriptor's offset (at the end with `APPEND`) and advances it.
    /// Like `write`. `EBADF` if not open for writing; `ENOSPC` if the byte quota allows no
    /// byte at all (a write that fits partly is short, as on Linux); `EFBIG` past `off_t`.
    pub fn write(&mut self, fd: Fd, buf: &[u8]) -> Result<usize> {
        self.write_vectored(fd, &[buf])
    }

    /// Writes several buffers in turn, as one call. Like `writev`.
    pub fn write_vectored(&mut self, fd: Fd, bufs: &[&[u8]]) -> Result<usize> {
        let f = self.fds.file(fd)?;
        if !f.access.can_write() {
            return Err(Errno::EBADF);
        }
        let (ino, append, offset) = (f.ino, f.flags.contains(FdFlags::APPEND), f.offset);
        check_range(offset, bufs.iter().map(|b| b.len()))?;
        let end = self.write_inode(ino, append, offset, bufs)?;
        let n = self.fds.file_mut(fd)?;
        let written = end.1;
        n.offset = end.0;
        Ok(written)
    }

    /// Writes at `offset` without moving the descriptor's offset. Like `pwrite`; as on
    /// Linux, with `APPEND` the data goes to the end of the file whatever `offset` says.
    pub fn pwrite(&mut self, fd: Fd, buf: &[u8], offset: u64) -> Result<usize> {
        self.pwrite_vectored(fd, &[buf], offset)
    }

    /// Vectored [`Fs::pwrite`]. Like `pwritev`.
    pub fn pwrite_vectored(&mut self, fd: Fd, bufs: &[&[u8]], offset: u64) -> Result<usize> {
        let f = self.fds.file(fd)?;
        if self.is_pipe(f.ino) {
            return Err(Errno::ESPIPE);
        }
        if !f.access.can_write() {
            return Err(Errno::EBADF);
        }
        if offset > MAX_FILE_SIZE {
            return Err(Errno::EINVAL);
        }
        check_range(offset, bufs.iter().map(|b| b.len()))?;
        let (ino, append) = (f.ino, f.flags.contains(FdFlags::APPEND));
        self.write_inode(ino, append, offset, bufs).map(|(_, n)| n)
    }

    /// Writes `bufs` at `offset` (or the end); returns (offset after, bytes written).
    fn write_inode(
        &mut self,
        ino: Ino,
        append: bool,
        offset: u64,
        bufs: &[&[u8]],
    ) -> Result<(u64, usize)> {
        if let Some(r) = self.write_special(ino, bufs) {
            // A device or pipe has no offset to move.
            return r.map(|n| (offset, n));
        }
        let now = self.now();
        let avail = self.config.max_bytes.saturating_sub(self.used_bytes);
        let inode = self.inodes.get_mut(ino).ok_or(Errno::EBADF)?;
        let Kind::File(data) = &mut inode.kind else {
            return Err(Errno::EISDIR);
        };
        let size = data.len();
        let start = if append { size } else { offset };
        let want: u64 = bufs.iter().map(|b| b.len() as u64).sum();
        if want == 0 {
            // Linux returns before moving an O_APPEND offset to the end.
            return Ok((offset, 0));
        }
        if start >= MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        // Short write at the off_t limit or the byte quota, as Linux does at s_maxbytes and
        // when tmpfs runs out of space; nothing fits at all is an error. What the quota
        // counts is the bytes stored: bytes still borrowed from an image layer cost nothing
        // yet, but the first write copies them up (so the quota must hold them then), and
        // holes of a sparse file cost nothing.
        let charged = data.owned_bytes();
        let cost = |n: u64| {
            data.owned_bytes_after_write(start, n, avail)
                .saturating_sub(charged)
        };
        let most = want.min(MAX_FILE_SIZE - start);
        let allowed = if cost(most) <= avail {
            most
        } else {
            // The longest prefix that fits: cost(lo) fits, cost(hi) does not.
            let (mut lo, mut hi) = (0, most);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if cost(mid) <= avail {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        if allowed == 0 {
            return Err(Errno::ENOSPC);
        }
        let r = data.write_vectored_at(start, bufs, allowed, avail);
        // Even a write the allocator cut short may have stored something: keep the tally true.
        self.used_bytes = self.used_bytes - charged + data.owned_bytes();
        let pos = start + r?;
        inode.mtime = now;
        inode.ctime = now;
        Ok((pos, (pos - start) as usize))
    }

    /// Moves the descriptor's offset. Like `lseek`. Seeking past the end is allowed (a later
    /// write fills the gap with zeros); a negative result is `EINVAL`, and so is `End` on a
    /// directory.
    pub fn seek(&mut self, fd: Fd, offset: i64, whence: Whence) -> Result<u64> {
        let f = self.fds.file(fd)?;
        let inode = self.inodes.get(f.ino).ok_or(Errno::EBADF)?;
        let base: i128 = match (whence, &inode.kind) {
            (_, Kind::Pipe(_)) => return Err(Errno::ESPIPE),
            // Linux's devices accept any seek and stay where they are.
            (_, Kind::Device(_)) => return Ok(0),
            (Whence::Set, _) => 0,
            (Whence::Cur, _) => f.offset as i128,
            (Whence::End, Kind::File(d)) => d.len() as i128,
            (Whence::End, _) => return Err(Errno::EINVAL),
        };
        let new = base + offset as i128;
        if new < 0 || new > MAX_FILE_SIZE as i128 {
            return Err(Errno::EINVAL);
        }
        self.fds.file_mut(fd)?.offset = new as u64;
        Ok(new as u64)
    }

    /// The descriptor's current offset. Like `lseek(fd, 0, SEEK_CUR)` (WASI `fd_tell`):
    /// `ESPIPE` on a pipe, 0 on a device.
    pub fn tell(&self, fd: Fd) -> Result<u64> {
        let f = self.fds.file(fd)?;
        if self.is_pipe(f.ino) {
            return Err(Errno::ESPIPE);
        }
        Ok(f.offset)
    }

    /// Sets the file's length: shrinking drops data, growing adds zeros. Like `ftruncate`.
    /// `EINVAL` past `off_t` or unless `fd` is a regular file open for writing (Linux's
    /// rule). Growing makes a hole that costs no quota (as on tmpfs); only a small gap that
    /// fits the quota is stored as zeros.
    pub fn ftruncate(&mut self, fd: Fd, len: u64) -> Result<()> {
        if len > MAX_FILE_SIZE {
            return Err(Errno::EINVAL);
        }
        let f = self.fds.file(fd)?;
        let ino = f.ino;
        let is_file = matches!(self.inodes.get(ino).map(|i| &i.kind), Some(Kind::File(_)));
        if !is_file || !f.access.can_write() {
            return Err(Errno::EINVAL);
        }
        self.truncate_inode(ino, len)
    }

    /// Sets a regular file's length, charging or refunding the byte quota.
    pub(crate) fn truncate_inode(&mut self, ino: Ino, len: u64) -> Result<()> {
        let now = self.now();
        let avail = self.config.max_bytes.saturating_sub(self.used_bytes);
        let inode = self.inodes.get_mut(ino).ok_or(Errno::ENOENT)?;
        let Kind::File(data) = &mut inode.kind else {
            return Err(Errno::EISDIR);
        };
        // Shrinking a borrowed file keeps borrowing; growing leaves a hole unless the gap is
        // small and fits the quota (then it is stored zeros); see `FileData::set_len`.
        let before = data.owned_bytes();
        let after = data.owned_bytes_after_set_len(len, avail);
        if after > before && after - before > avail {
            return Err(Errno::ENOSPC);
        }
        let r = data.set_len(len, avail);
        self.used_bytes = self.used_bytes - before + data.owned_bytes();
        r?;
        inode.mtime = now;
        inode.ctime = now;
        Ok(())
    }

    /// Guarantees space for bytes `offset..offset + len`, growing the file with zeros if it
    /// ends before. Like `posix_fallocate` (Linux `fallocate` mode 0): `EBADF` if not open,
    /// `EINVAL` for `len` 0 or offsets past `off_t`, `EBADF` unless open for writing, `EFBIG` if the end passes
    /// `off_t`, `ENOSPC` past the byte quota.
    pub fn allocate(&mut self, fd: Fd, offset: u64, len: u64) -> Result<()> {
        let f = self.fds.file(fd)?;
        if len == 0 || offset > MAX_FILE_SIZE || len > MAX_FILE_SIZE {
            return Err(Errno::EINVAL);
        }
        if !f.access.can_write() {
            return Err(Errno::EBADF);
        }
        let ino = f.ino;
        let inode = self.inodes.get(ino).ok_or(Errno::EBADF)?;
        // Linux looks at the kind of file before the range: a pipe cannot be allocated in, a
        // device is no regular file.
        let data = match &inode.kind {
            Kind::File(data) => data,
            Kind::Pipe(_) => return Err(Errno::ESPIPE),
            Kind::Device(_) => return Err(Errno::ENODEV),
            _ => return Err(Errno::EISDIR),
        };
        let end = offset + len;
        if end > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        // Files are sparse, so growing costs nothing; but `posix_fallocate` promises the
        // space, so the new part must fit the byte quota (it is not reserved, though).
        // (Only the range itself counts: a hole before `offset` stays a hole.)
        if end > data.len() {
            let avail = self.config.max_bytes.saturating_sub(self.used_bytes);
            if end - offset.max(data.len()) > avail {
                return Err(Errno::ENOSPC);
            }
            self.truncate_inode(ino, end)?;
        }
        Ok(())
    }

    /// Sets the access and modification times of the file `fd` refers to; the change time
    /// becomes now unless both are `Omit`. Like `futimens`.
    pub fn futimens(&mut self, fd: Fd, atime: SetTime, mtime: SetTime) -> Result<()> {
        let ino = self.fds.file(fd)?.ino;
        self.set_times(ino, atime, mtime)
    }

    /// Sets the times of the file `path` names; with `follow` false a final symlink's own
    /// times. Like `utimensat`.
    pub fn utimensat(
        &mut self,
        dirfd: Fd,
        path: &[u8],
        follow: bool,
        atime: SetTime,
        mtime: SetTime,
    ) -> Result<()> {
        self.with_load(|fs| {
            let ino = fs.resolve(dirfd, path, follow)?;
            Ok(fs.set_times(ino, atime, mtime)?)
        })
    }

    fn set_times(&mut self, ino: Ino, atime: SetTime, mtime: SetTime) -> Result<()> {
        let now = self.now();
        let inode = self.inodes.get_mut(ino).ok_or(Errno::ENOENT)?;
        let pick = |t: SetTime, old: u64| match t {
            SetTime::Omit => old,
            SetTime::Now => now,
            SetTime::At(ns) => ns,
        };
        if atime == SetTime::Omit && mtime == SetTime::Omit {
            return Ok(());
        }
        inode.atime = pick(atime, inode.atime);
        inode.mtime = pick(mtime, inode.mtime);
        inode.ctime = now;
        Ok(())
    }
}

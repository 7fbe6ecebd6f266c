//! `fd_*` calls on VFS descriptors.

use super::layout::{self, Fdstat, Filestat};
use super::{err, filetype, set_times, AbiResult, Shim};
use crate::memory::Memory;
use vfs_core::{Fd, FdFlags, Whence};

/// The WASI `fdflags` bits; `vfs-core`'s `FdFlags` uses the same bit for each flag.
const FDFLAGS_KNOWN: u16 = wasi::FDFLAGS_APPEND
    | wasi::FDFLAGS_DSYNC
    | wasi::FDFLAGS_NONBLOCK
    | wasi::FDFLAGS_RSYNC
    | wasi::FDFLAGS_SYNC;

/// Decodes WASI `fdflags`; unknown bits are `EINVAL`.
pub(super) fn fdflags(bits: u16) -> AbiResult<FdFlags> {
    if bits & !FDFLAGS_KNOWN != 0 {
        return err(wasi::ERRNO_INVAL);
    }
    FdFlags::from_bits(u32::from(bits)).map_or(err(wasi::ERRNO_INVAL), Ok)
}

impl Shim {
    /// `fd_advise`: accepted and ignored, after checking the descriptor and the advice;
    /// similar to `posix_fadvise` in POSIX.
    pub fn fd_advise(&mut self, fd: Fd, _offset: u64, _len: u64, advice: u8) -> AbiResult {
        if advice > wasi::ADVICE_NOREUSE.raw() {
            return err(wasi::ERRNO_INVAL);
        }
        self.fs.fd_file_type(fd)?;
        Ok(())
    }

    /// `fd_allocate`; similar to `posix_fallocate` in POSIX.
    pub fn fd_allocate(&mut self, fd: Fd, offset: u64, len: u64) -> AbiResult {
        Ok(self.fs.allocate(fd, offset, len)?)
    }

    /// `fd_close`; similar to `close` in POSIX.
    pub fn fd_close(&mut self, fd: Fd) -> AbiResult {
        self.fs.close(fd)?;
        self.preopens.retain(|p| p.fd != fd);
        Ok(())
    }

    /// `fd_datasync`; similar to `fdatasync` in POSIX.
    pub fn fd_datasync(&mut self, fd: Fd) -> AbiResult {
        Ok(self.fs.datasync(fd)?)
    }

    /// `fd_sync`; similar to `fsync` in POSIX.
    pub fn fd_sync(&mut self, fd: Fd) -> AbiResult {
        Ok(self.fs.sync(fd)?)
    }

    /// `fd_fdstat_get`; similar to `fcntl(F_GETFL)` plus `fstat`'s file type in POSIX.
    pub fn fd_fdstat_get(&mut self, mem: &mut impl Memory, fd: Fd, out: u32) -> AbiResult {
        let (rights_base, rights_inheriting) = self.fs.rights(fd)?;
        let st = Fdstat {
            filetype: filetype(self.fs.fd_file_type(fd)?).raw(),
            // Same bit per flag on both sides, and only five of them: the cast cannot lose any.
            flags: self.fs.fd_flags(fd)?.bits() as u16,
            rights_base,
            rights_inheriting,
        };
        Ok(mem.write(out, &st.encode())?)
    }

    /// `fd_fdstat_set_flags`; similar to `fcntl(F_SETFL)` in POSIX.
    pub fn fd_fdstat_set_flags(&mut self, fd: Fd, flags: u16) -> AbiResult {
        let flags = fdflags(flags)?;
        Ok(self.fs.set_fd_flags(fd, flags)?)
    }

    /// `fd_fdstat_set_rights`: rights can only be dropped, never regained.
    pub fn fd_fdstat_set_rights(&mut self, fd: Fd, base: u64, inheriting: u64) -> AbiResult {
        let (cur_base, cur_inh) = self.fs.rights(fd)?;
        if base & !cur_base != 0 || inheriting & !cur_inh != 0 {
            return err(wasi::ERRNO_NOTCAPABLE);
        }
        Ok(self.fs.set_rights(fd, base, inheriting)?)
    }

    /// `fd_filestat_get`; similar to `fstat` in POSIX.
    pub fn fd_filestat_get(&mut self, mem: &mut impl Memory, fd: Fd, out: u32) -> AbiResult {
        let st = self.fs.fstat(fd)?;
        Ok(mem.write(out, &filestat(&st).encode())?)
    }

    /// `fd_filestat_set_size`; similar to `ftruncate` in POSIX.
    pub fn fd_filestat_set_size(&mut self, fd: Fd, size: u64) -> AbiResult {
        Ok(self.fs.ftruncate(fd, size)?)
    }

    /// `fd_filestat_set_times`; similar to `futimens` in POSIX.
    pub fn fd_filestat_set_times(&mut self, fd: Fd, atim: u64, mtim: u64, fst: u16) -> AbiResult {
        let (a, m) = set_times(atim, mtim, fst)?;
        Ok(self.fs.futimens(fd, a, m)?)
    }

    /// `fd_read`: fills the iovecs in order, stopping at a short read; similar to `readv`.
    pub fn fd_read(
        &mut self,
        mem: &mut impl Memory,
        fd: Fd,
        iovs: u32,
        iovs_len: u32,
        nread: u32,
    ) -> AbiResult {
        self.transfer(mem, fd, iovs, iovs_len, nread, None, Direction::Read)
    }

    /// `fd_pread`: like `fd_read` at `offset`, leaving the file offset alone; similar to `preadv`.
    pub fn fd_pread(
        &mut self,
        mem: &mut impl Memory,
        fd: Fd,
        iovs: u32,
        iovs_len: u32,
        offset: u64,
        nread: u32,
    ) -> AbiResult {
        self.transfer(
            mem,
            fd,
            iovs,
            iovs_len,
            nread,
            Some(offset),
            Direction::Read,
        )
    }

    /// The loop `fd_read`/`fd_pread` and `fd_write`/`fd_pwrite` share: one buffer after the
    /// other, stopping at the first short transfer as `readv`/`writev` do, the total stored at
    /// `count_ptr`.
    #[allow(clippy::too_many_arguments)]
    fn transfer(
        &mut self,
        mem: &mut impl Memory,
        fd: Fd,
        iovs: u32,
        iovs_len: u32,
        count_ptr: u32,
        mut offset: Option<u64>,
        dir: Direction,
    ) -> AbiResult {
        let saved = check_iovec_call(mem, count_ptr, iovs, iovs_len, dir)?;
        let mut total: u32 = 0;
        for i in 0..iovs_len {
            let (buf, len) = match saved.get(i as usize) {
                Some(&iov) => iov,
                None => layout::read_iovec(mem, iovs, i)?,
            };
            let n = match (dir, offset) {
                (Direction::Read, Some(off)) => self.fs.pread(fd, mem.slice_mut(buf, len)?, off)?,
                (Direction::Read, None) => self.fs.read(fd, mem.slice_mut(buf, len)?)?,
                (Direction::Write, Some(off)) => self.fs.pwrite(fd, mem.slice(buf, len)?, off)?,
                (Direction::Write, None) => self.fs.write(fd, mem.slice(buf, len)?)?,
            };
            // n <= len <= u32::MAX, and the sum of lengths is bounded by the memory size.
            let n = n as u32;
            total = total.saturating_add(n);
            offset = offset.map(|o| o + u64::from(n));
            if n < len {
                break;
            }
        }
        Ok(mem.write_u32(count_ptr, total)?)
    }

    /// `fd_write`: writes the ciovecs in order, stopping at a short write; similar to `writev`.
    pub fn fd_write(
        &mut self,
        mem: &mut impl Memory,
        fd: Fd,
        iovs: u32,
        iovs_len: u32,
        nwritten: u32,
    ) -> AbiResult {
        self.transfer(mem, fd, iovs, iovs_len, nwritten, None, Direction::Write)
    }

    /// `fd_pwrite`: like `fd_write` at `offset`; similar to `pwritev` in POSIX.
    pub fn fd_pwrite(
        &mut self,
        mem: &mut impl Memory,
        fd: Fd,
        iovs: u32,
        iovs_len: u32,
        offset: u64,
        nwritten: u32,
    ) -> AbiResult {
        self.transfer(
            mem,
            fd,
            iovs,
            iovs_len,
            nwritten,
            Some(offset),
            Direction::Write,
        )
    }

    /// `fd_seek`; similar to `lseek` in POSIX.
    pub fn fd_seek(
        &mut self,
        mem: &mut impl Memory,
        fd: Fd,
        offset: i64,
        whence: u8,
        newoffset: u32,
    ) -> AbiResult {
        let whence = match whence {
            0 => Whence::Set,
            1 => Whence::Cur,
            2 => Whence::End,
            _ => return err(wasi::ERRNO_INVAL),
        };
        mem.slice_mut(newoffset, 8)?;
        let pos = self.fs.seek(fd, offset, whence)?;
        Ok(mem.write_u64(newoffset, pos)?)
    }

    /// `fd_tell`; similar to `lseek(fd, 0, SEEK_CUR)` in POSIX.
    pub fn fd_tell(&mut self, mem: &mut impl Memory, fd: Fd, out: u32) -> AbiResult {
        let pos = self.fs.tell(fd)?;
        Ok(mem.write_u64(out, pos)?)
    }

    /// `fd_renumber`: moves `from` to `to`, closing what `to` held; similar to `dup2` + `close`.
    pub fn fd_renumber(&mut self, from: Fd, to: Fd) -> AbiResult {
        self.fs.renumber(from, to)?;
        self.preopens.retain(|p| p.fd != to);
        for p in &mut self.preopens {
            if p.fd == from {
                p.fd = to;
            }
        }
        Ok(())
    }

    /// `fd_prestat_get`: describes a VFS preopen (`EBADF` for any other descriptor).
    pub fn fd_prestat_get(&mut self, mem: &mut impl Memory, fd: Fd, out: u32) -> AbiResult {
        let Some(p) = self.preopen(fd) else {
            return err(wasi::ERRNO_BADF);
        };
        let len = p.name.len() as u32;
        Ok(mem.write(out, &layout::encode_prestat_dir(len))?)
    }

    /// `fd_prestat_dir_name`: the preopen's guest path, unterminated.
    pub fn fd_prestat_dir_name(
        &mut self,
        mem: &mut impl Memory,
        fd: Fd,
        path: u32,
        path_len: u32,
    ) -> AbiResult {
        let Some(p) = self.preopen(fd) else {
            return err(wasi::ERRNO_BADF);
        };
        if (path_len as usize) < p.name.len() {
            return err(wasi::ERRNO_NAMETOOLONG);
        }
        Ok(mem.write(path, &p.name)?)
    }
}

/// WASI's `filestat` for a `vfs-core` stat.
pub(super) fn filestat(st: &vfs_core::Stat) -> Filestat {
    Filestat {
        dev: st.dev,
        ino: st.ino,
        filetype: filetype(st.file_type).raw(),
        nlink: st.nlink,
        size: st.size,
        atim: st.atime_ns,
        mtim: st.mtime_ns,
        ctim: st.ctime_ns,
    }
}

/// Checks the result slot, the whole iovec array and every buffer it names (for writing, when
/// the call fills them) before any data moves, so a bad pointer anywhere is `EFAULT` with the
/// file, its offset and guest memory untouched; checking each buffer only when its turn came
/// would let the earlier ones transfer first.
///
/// Returns the iovecs to use when a read buffer overlaps the iovec array itself: the first
/// transfer would then rewrite the entries still to come, so they are decoded now, once, as
/// the kernel copies the array in before `readv` starts. Otherwise (nearly always) the empty
/// vector, which does not allocate, and the loop decodes each entry in place: nothing else
/// writes to the array during the call.
fn check_iovec_call(
    mem: &mut impl Memory,
    result: u32,
    iovs: u32,
    iovs_len: u32,
    dir: Direction,
) -> AbiResult<Vec<(u32, u32)>> {
    mem.slice_mut(result, 4)?;
    let array_len = iovs_len
        .checked_mul(layout::IOVEC_SIZE)
        .ok_or(super::WasiError(wasi::ERRNO_FAULT))?;
    mem.slice(iovs, array_len)?;
    let array = u64::from(iovs)..u64::from(iovs) + u64::from(array_len);
    let mut overlap = false;
    for i in 0..iovs_len {
        let (buf, len) = layout::read_iovec(mem, iovs, i)?;
        let ok = match dir {
            Direction::Read => mem.slice_mut(buf, len).is_ok(),
            Direction::Write => mem.slice(buf, len).is_ok(),
        };
        if !ok {
            return err(wasi::ERRNO_FAULT);
        }
        let end = u64::from(buf) + u64::from(len);
        overlap |=
            matches!(dir, Direction::Read) && u64::from(buf) < array.end && array.start < end;
    }
    if !overlap {
        return Ok(Vec::new());
    }
    Ok((0..iovs_len)
        .map(|i| layout::read_iovec(mem, iovs, i))
        .collect::<Result<_, _>>()?)
}

/// Which way [`Shim::transfer`] moves bytes.
#[derive(Clone, Copy)]
enum Direction {
    /// File to guest memory (`fd_read`, `fd_pread`).
    Read,
    /// Guest memory to file (`fd_write`, `fd_pwrite`).
    Write,
}

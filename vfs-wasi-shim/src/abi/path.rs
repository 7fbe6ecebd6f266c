//! `path_*` calls relative to a VFS directory descriptor.

use super::fd::{fdflags, filestat};
use super::{err, set_times, AbiResult, Shim, RIGHTS_READ, RIGHTS_WRITE};
use crate::memory::Memory;
use vfs_core::{Access, Fd, OFlags};

/// Permission bits of files created through WASI, which has no mode argument: 0666 less the
/// usual umask 022, what a POSIX program would get by default.
const FILE_MODE: u32 = 0o644;
/// Permission bits of directories created through WASI (0777 less umask 022).
const DIR_MODE: u32 = 0o755;

/// Decodes `lookupflags`: whether the last component's symlink is followed.
fn follow(flags: u32) -> AbiResult<bool> {
    if flags & !wasi::LOOKUPFLAGS_SYMLINK_FOLLOW != 0 {
        return err(wasi::ERRNO_INVAL);
    }
    Ok(flags & wasi::LOOKUPFLAGS_SYMLINK_FOLLOW != 0)
}

/// Decodes WASI `oflags` (same bits as `vfs-core`'s `OFlags`); unknown bits are `EINVAL`.
fn oflags(bits: u16) -> AbiResult<OFlags> {
    OFlags::from_bits(u32::from(bits)).map_or(err(wasi::ERRNO_INVAL), Ok)
}

/// The access mode wasi-libc meant when it chose these rights for `open`.
fn access(rights: u64) -> Access {
    match (rights & RIGHTS_READ != 0, rights & RIGHTS_WRITE != 0) {
        (_, false) => Access::Read,
        (false, true) => Access::Write,
        (true, true) => Access::ReadWrite,
    }
}

impl Shim {
    /// `path_create_directory`; similar to `mkdirat` in POSIX.
    pub fn path_create_directory(
        &mut self,
        mem: &impl Memory,
        fd: Fd,
        path: u32,
        len: u32,
    ) -> AbiResult {
        let p = mem.slice(path, len)?;
        Ok(self.fs.mkdir(fd, p, DIR_MODE)?)
    }

    /// `path_filestat_get`; similar to `fstatat` in POSIX.
    pub fn path_filestat_get(
        &mut self,
        mem: &mut impl Memory,
        fd: Fd,
        flags: u32,
        path: u32,
        len: u32,
        out: u32,
    ) -> AbiResult {
        let follow = follow(flags)?;
        let st = self.fs.stat(fd, mem.slice(path, len)?, follow)?;
        Ok(mem.write(out, &filestat(&st).encode())?)
    }

    /// `path_filestat_set_times`; similar to `utimensat` in POSIX.
    #[allow(clippy::too_many_arguments)]
    pub fn path_filestat_set_times(
        &mut self,
        mem: &impl Memory,
        fd: Fd,
        flags: u32,
        path: u32,
        len: u32,
        atim: u64,
        mtim: u64,
        fst: u16,
    ) -> AbiResult {
        let follow = follow(flags)?;
        let (a, m) = set_times(atim, mtim, fst)?;
        Ok(self.fs.utimensat(fd, mem.slice(path, len)?, follow, a, m)?)
    }

    /// `path_link`; similar to `linkat` in POSIX.
    #[allow(clippy::too_many_arguments)]
    pub fn path_link(
        &mut self,
        mem: &impl Memory,
        old_fd: Fd,
        old_flags: u32,
        old_path: u32,
        old_len: u32,
        new_fd: Fd,
        new_path: u32,
        new_len: u32,
    ) -> AbiResult {
        let follow = follow(old_flags)?;
        let old = mem.slice(old_path, old_len)?;
        let new = mem.slice(new_path, new_len)?;
        Ok(self.fs.link(old_fd, old, follow, new_fd, new)?)
    }

    /// `path_open`: opens (and maybe creates) a file or directory; similar to `openat` in POSIX.
    ///
    /// The new descriptor's rights are those asked for, limited by the directory's inheriting
    /// rights; its access mode follows from them the way wasi-libc derives them from `O_*`.
    #[allow(clippy::too_many_arguments)]
    pub fn path_open(
        &mut self,
        mem: &mut impl Memory,
        fd: Fd,
        dirflags: u32,
        path: u32,
        len: u32,
        oflags_bits: u16,
        rights_base: u64,
        rights_inheriting: u64,
        fdflags_bits: u16,
        fd_out: u32,
    ) -> AbiResult {
        let follow = follow(dirflags)?;
        let of = oflags(oflags_bits)?;
        let ff = fdflags(fdflags_bits)?;
        let (_, dir_inheriting) = self.fs.rights(fd)?;
        let base = rights_base & dir_inheriting;
        let inheriting = rights_inheriting & dir_inheriting;
        mem.slice_mut(fd_out, 4)?;
        let new = self.fs.open(
            fd,
            mem.slice(path, len)?,
            follow,
            of,
            access(base),
            ff,
            FILE_MODE,
        )?;
        if self.fs.host_fd(new).is_some() {
            // `/dev/fd/N` of a host descriptor (`/dev/stdout`): another descriptor of the
            // host's, whose rights the host keeps.
            return Ok(mem.write_u32(fd_out, new)?);
        }
        if let Err(e) = self.fs.set_rights(new, base, inheriting) {
            // Do not leak a descriptor the guest never learns about.
            let _ = self.fs.close(new);
            return Err(e.into());
        }
        Ok(mem.write_u32(fd_out, new)?)
    }

    /// `path_readlink`: the target, truncated to the buffer; similar to `readlinkat` in POSIX.
    #[allow(clippy::too_many_arguments)]
    pub fn path_readlink(
        &mut self,
        mem: &mut impl Memory,
        fd: Fd,
        path: u32,
        len: u32,
        buf: u32,
        buf_len: u32,
        bufused: u32,
    ) -> AbiResult {
        // The path and the output buffer may overlap in guest memory: copy the path first.
        let p = mem.slice(path, len)?.to_vec();
        mem.slice_mut(bufused, 4)?;
        let n = self.fs.readlink(fd, &p, mem.slice_mut(buf, buf_len)?)?;
        Ok(mem.write_u32(bufused, n as u32)?)
    }

    /// `path_remove_directory`; similar to `unlinkat(AT_REMOVEDIR)` in POSIX.
    pub fn path_remove_directory(
        &mut self,
        mem: &impl Memory,
        fd: Fd,
        path: u32,
        len: u32,
    ) -> AbiResult {
        Ok(self.fs.rmdir(fd, mem.slice(path, len)?)?)
    }

    /// `path_rename`; similar to `renameat` in POSIX.
    #[allow(clippy::too_many_arguments)]
    pub fn path_rename(
        &mut self,
        mem: &impl Memory,
        old_fd: Fd,
        old_path: u32,
        old_len: u32,
        new_fd: Fd,
        new_path: u32,
        new_len: u32,
    ) -> AbiResult {
        let old = mem.slice(old_path, old_len)?;
        let new = mem.slice(new_path, new_len)?;
        Ok(self.fs.rename(old_fd, old, new_fd, new)?)
    }

    /// `path_symlink`: creates `new_path` pointing at `old_path`; similar to `symlinkat`.
    pub fn path_symlink(
        &mut self,
        mem: &impl Memory,
        old_path: u32,
        old_len: u32,
        fd: Fd,
        new_path: u32,
        new_len: u32,
    ) -> AbiResult {
        let target = mem.slice(old_path, old_len)?;
        let link = mem.slice(new_path, new_len)?;
        Ok(self.fs.symlink(target, fd, link)?)
    }

    /// `path_unlink_file`; similar to `unlinkat(0)` in POSIX.
    pub fn path_unlink_file(
        &mut self,
        mem: &impl Memory,
        fd: Fd,
        path: u32,
        len: u32,
    ) -> AbiResult {
        Ok(self.fs.unlink(fd, mem.slice(path, len)?)?)
    }
}

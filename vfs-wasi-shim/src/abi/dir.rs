//! `fd_readdir`: packing directory entries into the guest's buffer.

use super::layout::encode_dirent;
use super::{filetype, AbiResult, Shim};
use crate::memory::Memory;
use vfs_core::Fd;

impl Shim {
    /// `fd_readdir`: writes `dirent` headers, each followed by its name, starting at `cookie`.
    ///
    /// As WASI specifies, the buffer is filled completely when there are more entries than fit,
    /// including a cut-off last entry: `bufused == buf_len` tells wasi-libc to come back, and it
    /// resumes from the `d_next` of the last entry it could read whole (cookies are stable in
    /// `vfs-core`, so nothing is skipped or repeated). Similar to `readdir` in POSIX.
    pub fn fd_readdir(
        &mut self,
        mem: &mut impl Memory,
        fd: Fd,
        buf: u32,
        buf_len: u32,
        cookie: u64,
        bufused: u32,
    ) -> AbiResult {
        mem.slice_mut(bufused, 4)?;
        let out = mem.slice_mut(buf, buf_len)?;
        let mut used = 0usize;
        self.fs.readdir(fd, cookie, |e| {
            let namlen = e.name.len() as u32;
            let head = encode_dirent(e.next_cookie, e.ino, namlen, filetype(e.file_type).raw());
            for part in [&head[..], e.name] {
                let room = out.len() - used;
                let n = part.len().min(room);
                out[used..used + n].copy_from_slice(&part[..n]);
                used += n;
            }
            used < out.len()
        })?;
        Ok(mem.write_u32(bufused, used as u32)?)
    }
}

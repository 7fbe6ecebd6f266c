//! `fd_readdir`: packing directory entries into the guest's buffer.

use super::layout::{encode_dirent, DIRENT_SIZE};
use super::{filetype, AbiResult, Shim};
use crate::memory::Memory;
use vfs_core::Fd;

/// Copies `src` into `dst` (of the same length). Names are short, and a variable-length
/// `copy_from_slice` compiles to `memory.copy`, which wasmtime runs as a call into the host
/// (two per entry would be most of the packing cost); up to 32 bytes are copied here with
/// fixed-size, possibly overlapping 8-, 4-, 2- and 1-byte moves instead.
fn copy_short(dst: &mut [u8], src: &[u8]) {
    fn at<const N: usize>(dst: &mut [u8], src: &[u8], i: usize) {
        if let (Some(d), Some(s)) = (dst.get_mut(i..i + N), src.get(i..i + N)) {
            d.copy_from_slice(s);
        }
    }
    let n = src.len().min(dst.len());
    match n {
        0 => {}
        1 => at::<1>(dst, src, 0),
        2..=3 => {
            at::<2>(dst, src, 0);
            at::<2>(dst, src, n - 2);
        }
        4..=7 => {
            at::<4>(dst, src, 0);
            at::<4>(dst, src, n - 4);
        }
        8..=16 => {
            at::<8>(dst, src, 0);
            at::<8>(dst, src, n - 8);
        }
        17..=32 => {
            at::<8>(dst, src, 0);
            at::<8>(dst, src, 8);
            at::<8>(dst, src, n - 16);
            at::<8>(dst, src, n - 8);
        }
        _ => dst[..n].copy_from_slice(&src[..n]),
    }
}

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
            let end = used + DIRENT_SIZE + e.name.len();
            if let Some(whole) = out.get_mut(used..end) {
                // The common case: the entry fits whole.
                let (h, name) = whole.split_at_mut(DIRENT_SIZE);
                h.copy_from_slice(&head);
                copy_short(name, e.name);
                used = end;
            } else {
                // The last entry, cut off where the buffer ends.
                for part in [&head[..], e.name] {
                    let room = out.len() - used;
                    let n = part.len().min(room);
                    out[used..used + n].copy_from_slice(&part[..n]);
                    used += n;
                }
            }
            used < out.len()
        })?;
        Ok(mem.write_u32(bufused, used as u32)?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_short_copies_every_length() {
        let src: Vec<u8> = (1..=80).collect();
        for n in 0..=80 {
            let mut dst = vec![0u8; n];
            super::copy_short(&mut dst, &src[..n]);
            assert_eq!(dst, &src[..n], "length {n}");
        }
    }
}

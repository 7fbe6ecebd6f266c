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

/// The last directory listing packed in `fd_readdir`'s format, so that listing an unchanged
/// directory again (a program's `os.listdir` of the same folder, every `read_dir` of a search
/// path) is one copy instead of an encoding per entry. Keyed by `vfs-core`'s listing version,
/// which is never reused, so it cannot serve a stale or a foreign listing.
///
/// A listing is kept from its second read on: the first read of a version packs straight into
/// the guest's buffer, as without a copy, so a directory listed once after every change (or
/// two directories listed in turn) costs no more than before.
#[derive(Default)]
pub(crate) struct PackedListing {
    /// The listing version read last without being kept.
    seen: Option<u64>,
    /// The listing version packed last.
    version: Option<u64>,
    /// Whether all of it is kept; not for a listing over [`PackedListing::MAX_BYTES`], which is
    /// then packed straight into the guest's buffer by every call, as long as its version
    /// stays the same (so it is not tried again).
    whole: bool,
    /// Every entry from cookie 0, each a `dirent` header and its name.
    bytes: Vec<u8>,
    /// Per entry, in order: its own position (the cookie that starts a listing at it, one
    /// less than its `d_next`) and its offset in `bytes`. A cookie lists the entries at or
    /// after it, even one left by a name removed since, as `vfs-core` does.
    starts: Vec<(u64, u32)>,
}

impl PackedListing {
    /// Listings larger than this are packed straight into the guest's buffer on every call
    /// instead: a copy of a huge directory is memory held for little gain.
    const MAX_BYTES: usize = 64 << 10;

    /// Copies the packed entries from `cookie` on into `out`, as many bytes as fit (the last
    /// entry possibly cut off, as `fd_readdir` wants); returns how many.
    fn copy_to(&self, out: &mut [u8], cookie: u64) -> usize {
        let i = self.starts.partition_point(|&(c, _)| c < cookie);
        let at = self
            .starts
            .get(i)
            .map_or(self.bytes.len(), |&(_, at)| at as usize);
        let src = &self.bytes[at..];
        let n = src.len().min(out.len());
        out[..n].copy_from_slice(&src[..n]);
        n
    }
}

/// Appends one entry (header and name) to `out` as far as it fits; returns whether the whole
/// entry did.
fn pack(out: &mut [u8], used: &mut usize, e: &vfs_core::DirEntry<'_>) -> bool {
    let head = encode_dirent(
        e.next_cookie,
        e.ino,
        e.name.len() as u32,
        filetype(e.file_type).raw(),
    );
    let end = *used + DIRENT_SIZE + e.name.len();
    if let Some(whole) = out.get_mut(*used..end) {
        // The common case: the entry fits whole.
        let (h, name) = whole.split_at_mut(DIRENT_SIZE);
        h.copy_from_slice(&head);
        copy_short(name, e.name);
        *used = end;
        return true;
    }
    // The last entry, cut off where the buffer ends.
    for part in [&head[..], e.name] {
        let n = part.len().min(out.len() - *used);
        out[*used..*used + n].copy_from_slice(&part[..n]);
        *used += n;
    }
    false
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
        let used = match self.fs.readdir_version(fd)? {
            // A removed directory lists nothing.
            None => 0,
            Some(v) => {
                if self.listing.version != Some(v) {
                    if self.listing.seen == Some(v) {
                        self.repack(fd, v)?;
                    } else {
                        self.listing.seen = Some(v);
                    }
                }
                if self.listing.version == Some(v) && self.listing.whole {
                    self.listing.copy_to(out, cookie)
                } else {
                    let mut used = 0;
                    self.fs.readdir(fd, cookie, |e| pack(out, &mut used, e))?;
                    used
                }
            }
        };
        Ok(mem.write_u32(bufused, used as u32)?)
    }

    /// Packs all of directory `fd` (at listing version `version`) into the kept listing, or
    /// notes that it is too large to keep.
    fn repack(&mut self, fd: Fd, version: u64) -> Result<(), vfs_core::Errno> {
        let PackedListing {
            version: packed,
            whole,
            seen: _,
            bytes,
            starts,
        } = &mut self.listing;
        *packed = None;
        bytes.clear();
        starts.clear();
        let mut fits = true;
        let mut used = 0;
        self.fs.readdir(fd, 0, |e| {
            let at = used;
            let end = at + DIRENT_SIZE + e.name.len();
            if end > PackedListing::MAX_BYTES {
                fits = false;
                return false;
            }
            if end > bytes.len() {
                // Grown (and zeroed) in large steps, not per entry: a variable-length fill is
                // a call into the host in wasm, like a variable-length copy.
                bytes.resize(end.max(2 * bytes.len()).max(4096), 0);
            }
            pack(bytes, &mut used, e);
            starts.push((e.next_cookie.saturating_sub(1), at as u32));
            true
        })?;
        bytes.truncate(if fits { used } else { 0 });
        if !fits {
            starts.clear();
        }
        *packed = Some(version);
        *whole = fits;
        Ok(())
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

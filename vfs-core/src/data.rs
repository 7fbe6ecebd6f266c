//! File contents: owned bytes (dense or sparse), or bytes borrowed from a read-only image
//! until first written.
//!
//! Most files are small and written from the start, so the common representation is one
//! contiguous `Vec` (`Owned`). A write or a growing truncate that would leave a large hole
//! (more than [`SPARSE_GAP`] bytes, or more than the byte quota still allows), or that would make
//! the file larger than [`DENSE_LIMIT`], switches the file to `Sparse`: fixed-size chunks of
//! [`CHUNK`] bytes in a map by chunk number, where a missing chunk, or the part of a chunk past
//! its stored bytes, reads as zeros. Stored bytes (what the byte quota counts) are then only the
//! bytes up to the last written byte of each chunk, as tmpfs charges only the pages written.

use std::collections::BTreeMap;

use crate::errno::{Errno, Result};

/// Bytes per chunk of a sparse file.
pub const CHUNK: u64 = 64 * 1024;
/// Largest hole a dense file fills with zeros; a larger one makes the file sparse.
pub const SPARSE_GAP: u64 = 256 * 1024;
/// Largest dense file; growing past it makes the file sparse (no `Vec` larger than this, so
/// no reallocation of gigabytes and no `usize` overflow on 32-bit targets).
pub const DENSE_LIMIT: u64 = 1 << 30;

/// The bytes of a regular file.
///
/// `Borrowed` points into a read-only image layer (baked into the module's data segment, so
/// `'static`); it is copied into `Owned` (or `Sparse`) only when the file is first changed
/// ("copy-up"). Reading never copies.
#[derive(Clone, Debug)]
pub(crate) enum FileData {
    /// Bytes this filesystem owns and may change, contiguous: the file's length is the `Vec`'s.
    Owned(Vec<u8>),
    /// Bytes of a read-only lower layer, never changed in place.
    Borrowed(&'static [u8]),
    /// A compressed file of a read-only lower layer: decoded on read (by the filesystem's
    /// `Unpacker`), and into `Owned` bytes when first changed, as `Borrowed` is copied.
    Packed(vfs_image::Packed<'static>),
    /// A file with holes: chunks that were written, everything else zeros.
    Sparse(Sparse),
}

/// Contents of a sparse file (see [`FileData::Sparse`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Sparse {
    /// Logical length.
    len: u64,
    /// Sum of the chunks' lengths.
    stored: u64,
    /// Chunk number → the chunk's bytes from its start up to its last stored byte
    /// (at most `CHUNK`; never past `len`). Bytes beyond read as zeros.
    chunks: BTreeMap<u64, Vec<u8>>,
}

impl Default for FileData {
    fn default() -> Self {
        FileData::Owned(Vec::new())
    }
}

/// Whether a file whose dense length is `len` stays dense when it must cover `start..end`,
/// with `avail` bytes of quota left.
fn stays_dense(len: u64, start: u64, end: u64, avail: u64) -> bool {
    start.saturating_sub(len) <= SPARSE_GAP.min(avail) && end <= DENSE_LIMIT
}

/// Stored length of chunk `idx` of a dense file `len` bytes long, seen as chunks.
fn dense_chunk_len(len: u64, idx: u64) -> u64 {
    len.saturating_sub(idx * CHUNK).min(CHUNK)
}

/// Bytes added by writing `start..end` (`end > start`) over chunks whose current stored
/// lengths `chunk_len` gives.
fn chunk_growth(start: u64, end: u64, chunk_len: impl Fn(u64) -> u64) -> u64 {
    let mut add = 0;
    let mut idx = start / CHUNK;
    let last = (end - 1) / CHUNK;
    while idx <= last {
        let cur = chunk_len(idx);
        let upto = (end - idx * CHUNK).min(CHUNK);
        add += upto.saturating_sub(cur);
        idx += 1;
    }
    add
}

/// Copies `bytes` into chunks. `ENOSPC` if the allocator refuses.
fn to_chunks(bytes: &[u8]) -> Result<Sparse> {
    let mut s = Sparse {
        len: bytes.len() as u64,
        stored: bytes.len() as u64,
        chunks: BTreeMap::new(),
    };
    for (i, c) in bytes.chunks(CHUNK as usize).enumerate() {
        let mut v = Vec::new();
        v.try_reserve_exact(c.len()).map_err(|_| Errno::ENOSPC)?;
        v.extend_from_slice(c);
        s.chunks.insert(i as u64, v);
    }
    Ok(s)
}

/// The whole contents of a compressed lower file, decoded: what a copy-up starts from.
/// `EIO` if the image is corrupt there, `ENOSPC` if the allocator refuses.
fn unpack_vec(p: &vfs_image::Packed) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    vfs_image::Unpacker::new()
        .read_all(p, &mut v)
        .map_err(|e| match e {
            vfs_image::Error::Limit(_) | vfs_image::Error::TooLarge { .. } => Errno::ENOSPC,
            _ => Errno::EIO,
        })?;
    Ok(v)
}

fn copy_vec(b: &[u8]) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(b.len()).map_err(|_| Errno::ENOSPC)?;
    v.extend_from_slice(b);
    Ok(v)
}

impl Sparse {
    fn chunk_len(&self, idx: u64) -> u64 {
        self.chunks.get(&idx).map_or(0, |c| c.len() as u64)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = (buf.len() as u64).min(self.len - offset) as usize;
        let mut done = 0usize;
        while done < n {
            let pos = offset + done as u64;
            let (idx, o) = (pos / CHUNK, (pos % CHUNK) as usize);
            let m = (CHUNK as usize - o).min(n - done);
            let dst = &mut buf[done..done + m];
            match self.chunks.get(&idx) {
                Some(c) if c.len() > o => {
                    let k = m.min(c.len() - o);
                    dst[..k].copy_from_slice(&c[o..o + k]);
                    dst[k..].fill(0);
                }
                _ => dst.fill(0),
            }
            done += m;
        }
        n
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let (idx, o) = (pos / CHUNK, (pos % CHUNK) as usize);
            let m = (CHUNK as usize - o).min(buf.len() - done);
            let c = self.chunks.entry(idx).or_default();
            if c.len() < o + m {
                let grow = o + m - c.len();
                if c.capacity() < o + m {
                    // Grow geometrically, but never past one chunk.
                    let target = (2 * c.capacity()).clamp(o + m, CHUNK as usize);
                    c.try_reserve_exact(target - c.len())
                        .map_err(|_| Errno::ENOSPC)?;
                }
                c.resize(o + m, 0);
                self.stored += grow as u64;
            }
            c[o..o + m].copy_from_slice(&buf[done..done + m]);
            done += m;
            // Per chunk, so that a write the allocator stops halfway leaves no bytes past the
            // end (they would show through a later growth instead of zeros).
            self.len = self.len.max(offset + done as u64);
        }
        Ok(())
    }

    /// Stored bytes after shrinking to `len` (< `self.len`).
    fn stored_after_shrink(&self, len: u64) -> u64 {
        let mut drop = 0;
        for (&idx, c) in self.chunks.range(len / CHUNK..) {
            let keep = len.saturating_sub(idx * CHUNK).min(c.len() as u64);
            drop += c.len() as u64 - keep;
        }
        self.stored - drop
    }

    fn shrink(&mut self, len: u64) {
        let first_gone = len.div_ceil(CHUNK);
        let gone = self.chunks.split_off(&first_gone);
        self.stored -= gone.values().map(|c| c.len() as u64).sum::<u64>();
        if !len.is_multiple_of(CHUNK) {
            if let Some(c) = self.chunks.get_mut(&(len / CHUNK)) {
                let keep = (len % CHUNK) as usize;
                if c.len() > keep {
                    self.stored -= (c.len() - keep) as u64;
                    c.truncate(keep);
                }
            }
        }
        self.len = len;
    }
}

impl FileData {
    /// The contents as one slice, when they are stored contiguously (not sparse).
    pub fn as_contiguous(&self) -> Option<&[u8]> {
        match self {
            FileData::Owned(v) => Some(v),
            FileData::Borrowed(b) => Some(b),
            FileData::Packed(_) | FileData::Sparse(_) => None,
        }
    }

    /// A copy of the whole contents, holes as zeros. `ENOSPC` if the allocator refuses,
    /// `EFBIG` if the length does not fit in memory at all. (Only the tests need it: the
    /// filesystem reads through `read_at`.)
    #[cfg(test)]
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        if let Some(b) = self.as_contiguous() {
            return copy_vec(b);
        }
        let n = usize::try_from(self.len()).map_err(|_| Errno::EFBIG)?;
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| Errno::ENOSPC)?;
        v.resize(n, 0);
        let k = self.read_at(0, &mut v, &mut vfs_image::Unpacker::new())?;
        v.truncate(k);
        Ok(v)
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            FileData::Owned(v) => v.len() as u64,
            FileData::Borrowed(b) => b.len() as u64,
            FileData::Packed(p) => p.len(),
            FileData::Sparse(s) => s.len,
        }
    }

    /// Whether the bytes are still those of a lower layer (the tests' question;
    /// `Fs::untouched_image_file` asks a stricter one).
    #[cfg(test)]
    pub fn is_borrowed(&self) -> bool {
        matches!(self, FileData::Borrowed(_) | FileData::Packed(_))
    }

    /// Whether the file is stored as chunks with holes.
    #[cfg(test)]
    pub fn is_sparse(&self) -> bool {
        matches!(self, FileData::Sparse(_))
    }

    /// Bytes this file holds in memory of its own: what the byte quota counts. Borrowed
    /// bytes cost nothing; holes of a sparse file cost nothing.
    pub fn owned_bytes(&self) -> u64 {
        match self {
            FileData::Owned(v) => v.len() as u64,
            FileData::Borrowed(_) | FileData::Packed(_) => 0,
            FileData::Sparse(s) => s.stored,
        }
    }

    /// What [`FileData::owned_bytes`] will be after `write_vectored_at(start, _, n, avail)`.
    pub fn owned_bytes_after_write(&self, start: u64, n: u64, avail: u64) -> u64 {
        if n == 0 {
            return self.owned_bytes();
        }
        let end = start.saturating_add(n);
        match self {
            FileData::Owned(_) | FileData::Borrowed(_) | FileData::Packed(_) => {
                let len = self.len();
                if stays_dense(len, start, end, avail) {
                    len.max(end)
                } else {
                    len + chunk_growth(start, end, |i| dense_chunk_len(len, i))
                }
            }
            FileData::Sparse(s) => s.stored + chunk_growth(start, end, |i| s.chunk_len(i)),
        }
    }

    /// What [`FileData::owned_bytes`] will be after `set_len(len, avail)`.
    pub fn owned_bytes_after_set_len(&self, len: u64, avail: u64) -> u64 {
        let cur = self.len();
        match self {
            _ if len == 0 => 0,
            FileData::Borrowed(_) if len <= cur => 0,
            FileData::Owned(_) | FileData::Borrowed(_) | FileData::Packed(_) => {
                if len <= cur || stays_dense(cur, len, len, avail) {
                    len
                } else {
                    cur
                }
            }
            FileData::Sparse(s) if len < cur => s.stored_after_shrink(len),
            FileData::Sparse(s) => s.stored,
        }
    }

    /// Copies bytes starting at `offset` into `buf`; returns how many (0 at or past the end).
    /// A compressed file is decoded by `unpacker`; `EIO` if the image is corrupt there.
    pub fn read_at(
        &self,
        offset: u64,
        buf: &mut [u8],
        unpacker: &mut vfs_image::Unpacker,
    ) -> Result<usize> {
        let data = match self {
            FileData::Owned(v) => v.as_slice(),
            FileData::Borrowed(b) => b,
            FileData::Sparse(s) => return Ok(s.read_at(offset, buf)),
            FileData::Packed(p) => {
                return unpacker.read_at(p, offset, buf).map_err(|_| Errno::EIO);
            }
        };
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= data.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    /// Writes `buf` at `offset`, the gap after the old end reading as zeros.
    /// The caller has checked quotas and that `offset + buf.len()` fits.
    #[cfg(test)]
    pub fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<()> {
        self.write_vectored_at(offset, &[buf], buf.len() as u64, u64::MAX)
            .map(|_| ())
    }

    /// Writes the first `n` bytes of `bufs` (in turn) at `offset`, the gap after the old end
    /// reading as zeros; returns the bytes written (`n`, or fewer if `bufs` hold fewer).
    /// `avail` (quota left) decides, as in [`FileData::owned_bytes_after_write`], whether a
    /// gap is filled or left as a hole. The caller has checked the quota with that function
    /// and that `offset + n` fits `off_t`. `ENOSPC` if the allocator refuses (what was
    /// written before stays).
    pub fn write_vectored_at(
        &mut self,
        offset: u64,
        bufs: &[&[u8]],
        n: u64,
        avail: u64,
    ) -> Result<u64> {
        let total: u64 = bufs.iter().map(|b| b.len() as u64).sum();
        let n = n.min(total);
        if n == 0 {
            return Ok(0);
        }
        let end = offset.checked_add(n).ok_or(Errno::EFBIG)?;
        if let FileData::Packed(p) = self {
            // Copy-up of a compressed file: decoded whole, then written like an owned file.
            *self = FileData::Owned(unpack_vec(p)?);
        }
        // Choose the representation once for the whole write, as the quota check did.
        match self {
            FileData::Borrowed(b) => {
                *self = if stays_dense(b.len() as u64, offset, end, avail) {
                    FileData::Owned(copy_vec(b)?)
                } else {
                    FileData::Sparse(to_chunks(b)?)
                };
            }
            FileData::Owned(v) if !stays_dense(v.len() as u64, offset, end, avail) => {
                *self = FileData::Sparse(to_chunks(v)?);
            }
            _ => {}
        }
        let mut pos = offset;
        let mut left = n;
        for b in bufs {
            if left == 0 {
                break;
            }
            let take = (b.len() as u64).min(left) as usize;
            let b = &b[..take];
            match self {
                FileData::Owned(v) => dense_write(v, pos, b)?,
                FileData::Sparse(s) => s.write_at(pos, b)?,
                // Unreachable: copied above.
                FileData::Borrowed(_) | FileData::Packed(_) => return Err(Errno::ENOSPC),
            }
            pos += take as u64;
            left -= take as u64;
        }
        Ok(n)
    }

    /// Sets the length: shrinking drops bytes, growing adds zeros (`ftruncate`) — stored ones
    /// for a small gap that fits `avail`, else a hole.
    pub fn set_len(&mut self, len: u64, avail: u64) -> Result<()> {
        let cur = self.len();
        if len == cur {
            return Ok(());
        }
        if len == 0 {
            // Dropping a borrowed image file needs no copy at all.
            *self = FileData::Owned(Vec::new());
            return Ok(());
        }
        if let FileData::Packed(p) = self {
            // Copy-up of a compressed file (no prefix of it can stay borrowed).
            *self = FileData::Owned(unpack_vec(p)?);
        }
        match self {
            FileData::Borrowed(b) if len < cur => {
                // Shrinking a borrowed file can keep borrowing a prefix.
                let b: &'static [u8] = b;
                *self = FileData::Borrowed(&b[..len as usize]);
            }
            FileData::Sparse(s) if len < cur => s.shrink(len),
            FileData::Sparse(s) => s.len = len,
            FileData::Borrowed(_) | FileData::Owned(_)
                if len > cur && !stays_dense(cur, len, len, avail) =>
            {
                let mut s = to_chunks(self.as_contiguous().unwrap_or_default())?;
                s.len = len;
                *self = FileData::Sparse(s);
            }
            FileData::Borrowed(b) => {
                // Growing a little: copy up, then as for an owned file.
                let mut v = copy_vec(b)?;
                dense_set_len(&mut v, len)?;
                *self = FileData::Owned(v);
            }
            FileData::Owned(v) => dense_set_len(v, len)?,
            FileData::Packed(_) => return Err(Errno::EIO), // unreachable: decoded above
        }
        Ok(())
    }
}

fn dense_write(v: &mut Vec<u8>, offset: u64, buf: &[u8]) -> Result<()> {
    let start = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
    let end = start.checked_add(buf.len()).ok_or(Errno::EFBIG)?;
    if end > v.len() {
        v.try_reserve(end - v.len()).map_err(|_| Errno::ENOSPC)?;
        if start > v.len() {
            v.resize(start, 0);
        }
        let overlap = v.len() - start;
        v[start..].copy_from_slice(&buf[..overlap]);
        v.extend_from_slice(&buf[overlap..]);
    } else {
        v[start..end].copy_from_slice(buf);
    }
    Ok(())
}

fn dense_set_len(v: &mut Vec<u8>, len: u64) -> Result<()> {
    let len = usize::try_from(len).map_err(|_| Errno::EFBIG)?;
    if len > v.len() {
        v.try_reserve(len - v.len()).map_err(|_| Errno::ENOSPC)?;
        v.resize(len, 0);
    } else {
        v.truncate(len);
        // Give memory back when a file shrinks a lot, so quotas and reality agree.
        if v.capacity() > 4096 && v.capacity() / 4 > len {
            v.shrink_to_fit();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(d: &FileData) -> Vec<u8> {
        d.to_vec().unwrap()
    }

    #[test]
    fn write_read_gap_and_truncate() {
        let mut d = FileData::default();
        d.write_at(3, b"ab").unwrap();
        assert_eq!(all(&d), b"\0\0\0ab");
        d.write_at(4, b"XYZ").unwrap();
        assert_eq!(all(&d), b"\0\0\0aXYZ");
        let mut buf = [0u8; 4];
        assert_eq!(d.read_at(5, &mut buf, &mut Default::default()), Ok(2));
        assert_eq!(&buf[..2], b"YZ");
        assert_eq!(d.read_at(99, &mut buf, &mut Default::default()), Ok(0));
        d.set_len(2, u64::MAX).unwrap();
        assert_eq!(d.len(), 2);
        d.set_len(4, u64::MAX).unwrap();
        assert_eq!(all(&d), b"\0\0\0\0");
        assert!(!d.is_sparse());
    }

    #[test]
    fn borrowed_copies_only_on_write() {
        static IMG: &[u8] = b"hello world";
        let mut d = FileData::Borrowed(IMG);
        d.set_len(5, 0).unwrap();
        assert!(d.is_borrowed());
        assert_eq!(d.as_contiguous(), Some(&b"hello"[..]));
        d.write_at(0, b"J").unwrap();
        assert!(!d.is_borrowed());
        assert_eq!(all(&d), b"Jello");
    }

    /// Writes and truncates that match a plain model, across chunk edges, with the
    /// predicted stored bytes equal to the real ones.
    #[test]
    fn sparse_matches_model_and_prediction() {
        let mut d = FileData::default();
        let mut model: Vec<u8> = Vec::new();
        let steps: &[(bool, u64, usize)] = &[
            (true, 10, 5),
            (true, 3 * CHUNK - 2, 7),
            (true, 5 * CHUNK + 100, 2 * CHUNK as usize + 3),
            (false, 3 * CHUNK, 0),
            (true, CHUNK - 1, 2),
            (false, 9 * CHUNK + 1, 0),
            (true, 9 * CHUNK + 3, 1),
            (false, CHUNK + 1, 0),
            (true, 20, 4),
        ];
        for (i, &(write, at, n)) in steps.iter().enumerate() {
            let before = d.owned_bytes();
            if write {
                let buf: Vec<u8> = (0..n).map(|k| ((k as u8) ^ (i as u8 + 1)) | 1).collect();
                let want = d.owned_bytes_after_write(at, n as u64, 0);
                d.write_vectored_at(at, &[&buf[..n / 2], &buf[n / 2..]], n as u64, 0)
                    .unwrap();
                assert_eq!(d.owned_bytes(), want, "step {i}");
                let end = at as usize + n;
                if model.len() < end {
                    model.resize(end, 0);
                }
                model[at as usize..end].copy_from_slice(&buf);
            } else {
                let want = d.owned_bytes_after_set_len(at, 0);
                d.set_len(at, 0).unwrap();
                assert_eq!(d.owned_bytes(), want, "step {i}");
                model.resize(at as usize, 0);
            }
            assert!(d.is_sparse(), "step {i}: avail 0 leaves holes");
            assert!(d.owned_bytes() <= before + n as u64 + CHUNK, "step {i}");
            assert_eq!(d.len(), model.len() as u64, "step {i}");
            assert_eq!(all(&d), model, "step {i}");
            let mut b = vec![7u8; 300];
            let k = d
                .read_at(CHUNK - 150, &mut b, &mut Default::default())
                .unwrap();
            let lo = (CHUNK as usize - 150).min(model.len());
            let hi = (lo + 300).min(model.len());
            assert_eq!(&b[..k], &model[lo..hi], "step {i}");
        }
    }
}

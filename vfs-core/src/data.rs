//! File contents: owned bytes, or bytes borrowed from a read-only image until first written.

use crate::errno::{Errno, Result};

/// The bytes of a regular file.
///
/// `Borrowed` points into a read-only image layer (baked into the module's data segment, so
/// `'static`); it is copied into `Owned` only when the file is first changed ("copy-up").
/// Reading never copies.
#[derive(Clone, Debug)]
pub enum FileData {
    /// Bytes this filesystem owns and may change.
    Owned(Vec<u8>),
    /// Bytes of a read-only lower layer, never changed in place.
    Borrowed(&'static [u8]),
}

impl Default for FileData {
    fn default() -> Self {
        FileData::Owned(Vec::new())
    }
}

impl FileData {
    /// The current contents.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            FileData::Owned(v) => v,
            FileData::Borrowed(b) => b,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Whether the bytes are still those of a lower layer.
    pub fn is_borrowed(&self) -> bool {
        matches!(self, FileData::Borrowed(_))
    }

    /// Mutable access, copying borrowed bytes first. Fails with `ENOSPC` rather than aborting
    /// when the allocator refuses.
    fn owned(&mut self) -> Result<&mut Vec<u8>> {
        if let FileData::Borrowed(b) = *self {
            let mut v = Vec::new();
            v.try_reserve_exact(b.len()).map_err(|_| Errno::ENOSPC)?;
            v.extend_from_slice(b);
            *self = FileData::Owned(v);
        }
        match self {
            FileData::Owned(v) => Ok(v),
            FileData::Borrowed(_) => Err(Errno::ENOSPC), // unreachable: converted just above
        }
    }

    /// Copies bytes starting at `offset` into `buf`; returns how many (0 at or past the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let data = self.as_slice();
        let Ok(start) = usize::try_from(offset) else {
            return 0;
        };
        if start >= data.len() {
            return 0;
        }
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        n
    }

    /// Writes `buf` at `offset`, filling any gap after the old end with zeros.
    /// The caller has checked quotas and that `offset + buf.len()` fits.
    pub fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<()> {
        let start = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
        let end = start.checked_add(buf.len()).ok_or(Errno::EFBIG)?;
        let v = self.owned()?;
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

    /// Sets the length: shrinking drops bytes, growing appends zeros (`ftruncate`).
    pub fn set_len(&mut self, len: u64) -> Result<()> {
        let len = usize::try_from(len).map_err(|_| Errno::EFBIG)?;
        if len == self.as_slice().len() {
            return Ok(());
        }
        if len == 0 {
            // Dropping a borrowed image file needs no copy at all.
            *self = FileData::Owned(Vec::new());
            return Ok(());
        }
        if let FileData::Borrowed(b) = *self {
            if len < b.len() {
                // Shrinking a borrowed file can keep borrowing a prefix.
                *self = FileData::Borrowed(&b[..len]);
                return Ok(());
            }
        }
        let v = self.owned()?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_gap_and_truncate() {
        let mut d = FileData::default();
        d.write_at(3, b"ab").unwrap();
        assert_eq!(d.as_slice(), b"\0\0\0ab");
        d.write_at(4, b"XYZ").unwrap();
        assert_eq!(d.as_slice(), b"\0\0\0aXYZ");
        let mut buf = [0u8; 4];
        assert_eq!(d.read_at(5, &mut buf), 2);
        assert_eq!(&buf[..2], b"YZ");
        assert_eq!(d.read_at(99, &mut buf), 0);
        d.set_len(2).unwrap();
        assert_eq!(d.len(), 2);
        d.set_len(4).unwrap();
        assert_eq!(d.as_slice(), b"\0\0\0\0");
    }

    #[test]
    fn borrowed_copies_only_on_write() {
        static IMG: &[u8] = b"hello world";
        let mut d = FileData::Borrowed(IMG);
        d.set_len(5).unwrap();
        assert!(d.is_borrowed());
        assert_eq!(d.as_slice(), b"hello");
        d.write_at(0, b"J").unwrap();
        assert!(!d.is_borrowed());
        assert_eq!(d.as_slice(), b"Jello");
    }
}

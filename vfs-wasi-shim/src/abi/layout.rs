//! Byte layouts of the WASI preview 1 structures the filesystem calls read and write.
//!
//! Offsets are those of `wasi_snapshot_preview1.witx` on wasm32 (little-endian, C alignment).
//! Each encoder builds the whole record in a local array and writes it with one bounds-checked
//! copy, so a bad pointer leaves guest memory untouched.

use crate::memory::{Efault, Memory};

/// Size of `iovec`/`ciovec`: `{ buf: u32, buf_len: u32 }`.
pub const IOVEC_SIZE: u32 = 8;
/// Size of `filestat`.
pub const FILESTAT_SIZE: usize = 64;
/// Size of `fdstat`.
pub const FDSTAT_SIZE: usize = 24;
/// Size of `prestat`.
pub const PRESTAT_SIZE: usize = 8;
/// Size of the fixed part of `dirent` (the name follows it, unterminated).
pub const DIRENT_SIZE: usize = 24;
/// Size of `subscription`.
pub const SUBSCRIPTION_SIZE: u32 = 48;
/// Size of `event`.
pub const EVENT_SIZE: usize = 32;

/// `filestat`: what `fd_filestat_get`/`path_filestat_get` return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filestat {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

impl Filestat {
    /// The 64 bytes the guest sees.
    pub fn encode(&self) -> [u8; FILESTAT_SIZE] {
        let mut b = [0; FILESTAT_SIZE];
        b[0..8].copy_from_slice(&self.dev.to_le_bytes());
        b[8..16].copy_from_slice(&self.ino.to_le_bytes());
        b[16] = self.filetype;
        b[24..32].copy_from_slice(&self.nlink.to_le_bytes());
        b[32..40].copy_from_slice(&self.size.to_le_bytes());
        b[40..48].copy_from_slice(&self.atim.to_le_bytes());
        b[48..56].copy_from_slice(&self.mtim.to_le_bytes());
        b[56..64].copy_from_slice(&self.ctim.to_le_bytes());
        b
    }
}

/// `fdstat`: what `fd_fdstat_get` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fdstat {
    pub filetype: u8,
    pub flags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
}

impl Fdstat {
    /// The 24 bytes the guest sees.
    pub fn encode(&self) -> [u8; FDSTAT_SIZE] {
        let mut b = [0; FDSTAT_SIZE];
        b[0] = self.filetype;
        b[2..4].copy_from_slice(&self.flags.to_le_bytes());
        b[8..16].copy_from_slice(&self.rights_base.to_le_bytes());
        b[16..24].copy_from_slice(&self.rights_inheriting.to_le_bytes());
        b
    }
}

/// `prestat` of a preopened directory whose name is `name_len` bytes long.
pub fn encode_prestat_dir(name_len: u32) -> [u8; PRESTAT_SIZE] {
    let mut b = [0; PRESTAT_SIZE];
    b[0] = wasi::PREOPENTYPE_DIR.raw();
    b[4..8].copy_from_slice(&name_len.to_le_bytes());
    b
}

/// The fixed part of a `dirent`.
pub fn encode_dirent(next: u64, ino: u64, namlen: u32, filetype: u8) -> [u8; DIRENT_SIZE] {
    let mut b = [0; DIRENT_SIZE];
    b[0..8].copy_from_slice(&next.to_le_bytes());
    b[8..16].copy_from_slice(&ino.to_le_bytes());
    b[16..20].copy_from_slice(&namlen.to_le_bytes());
    b[20] = filetype;
    b
}

/// An `event` of type `fd_read`/`fd_write`/`clock`.
pub fn encode_event(
    userdata: u64,
    error: u16,
    kind: u8,
    nbytes: u64,
    flags: u16,
) -> [u8; EVENT_SIZE] {
    let mut b = [0; EVENT_SIZE];
    b[0..8].copy_from_slice(&userdata.to_le_bytes());
    b[8..10].copy_from_slice(&error.to_le_bytes());
    b[10] = kind;
    b[16..24].copy_from_slice(&nbytes.to_le_bytes());
    b[24..26].copy_from_slice(&flags.to_le_bytes());
    b
}

/// One decoded `subscription`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    pub userdata: u64,
    /// `eventtype`: 0 clock, 1 fd_read, 2 fd_write. Any other value is kept as read; `poll_oneoff`
    /// writes no event for it (it is not an error), as for a clock subscription next to VFS ones.
    pub kind: u8,
    /// For fd subscriptions: the file descriptor.
    pub fd: u32,
}

impl Subscription {
    /// Decodes the `index`th subscription of the array at `base`.
    pub fn read(mem: &impl Memory, base: u32, index: u32) -> Result<Subscription, Efault> {
        let at = base
            .checked_add(index.checked_mul(SUBSCRIPTION_SIZE).ok_or(Efault)?)
            .ok_or(Efault)?;
        let b = mem.slice(at, SUBSCRIPTION_SIZE)?;
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
        Ok(Subscription {
            userdata: u64_at(0),
            kind: b[8],
            fd: u32_at(16),
        })
    }

    /// Offset of the fd field inside a subscription (used to retarget a forwarded copy).
    pub const FD_OFFSET: usize = 16;
}

/// Reads the `index`th `iovec` of the array at `base`: `(buf, buf_len)`.
pub fn read_iovec(mem: &impl Memory, base: u32, index: u32) -> Result<(u32, u32), Efault> {
    let at = base
        .checked_add(index.checked_mul(IOVEC_SIZE).ok_or(Efault)?)
        .ok_or(Efault)?;
    Ok((
        mem.read_u32(at)?,
        mem.read_u32(at.checked_add(4).ok_or(Efault)?)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_witx_offsets() {
        let f = Filestat {
            dev: 1,
            ino: 2,
            filetype: 4,
            nlink: 3,
            size: 5,
            atim: 6,
            mtim: 7,
            ctim: 8,
        }
        .encode();
        assert_eq!(f[16], 4);
        assert_eq!(f[24], 3);
        assert_eq!(f[56], 8);
        let d = encode_dirent(9, 10, 3, 3);
        assert_eq!((d[0], d[8], d[16], d[20]), (9, 10, 3, 3));
        let e = encode_event(7, 8, 1, 100, 1);
        assert_eq!((e[0], e[8], e[10], e[16], e[24]), (7, 8, 1, 100, 1));
    }
}

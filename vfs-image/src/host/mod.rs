//! Host-side helpers (feature `host`, needs `std`): pack a directory of the host filesystem,
//! unpack an image into one, and import OCI/Docker layer tars. The guest never links these.

mod compress;
mod error;
mod oci;
mod pack;
mod unpack;

pub use compress::{
    recompress, shared_shift, ChunkPacker, Compression, DEFAULT_LZ4_LEVEL, DEFAULT_ZSTD_LEVEL,
};
pub use error::HostError;
pub use oci::{import_tar, TarReport};
pub use pack::{
    build_dir, pack_dir, pack_dir_with, write_image, PackOptions, PackProgress, PackReport,
};
pub use unpack::{unpack, UnpackOptions, UnpackReport};

use crate::Meta;

/// Nanoseconds since the epoch from seconds and nanoseconds, saturating at the `i64` range
/// (about years 1677 to 2262) instead of wrapping.
pub fn ns_from(sec: i64, nsec: i64) -> i64 {
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// Metadata overrides shared by `pack` and `--from-tar`: pinned times and owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// When set, atime, mtime and ctime of every node are this many seconds since the epoch.
    pub mtime: Option<i64>,
    /// When set, every node is owned by this uid:gid.
    pub owner: Option<(u32, u32)>,
}

impl Overrides {
    /// Applies the overrides to `m`.
    pub fn apply(&self, mut m: Meta) -> Meta {
        if let Some(s) = self.mtime {
            m = m.with_times(ns_from(s, 0));
        }
        if let Some((u, g)) = self.owner {
            m = m.with_owner(u, g);
        }
        m
    }
}

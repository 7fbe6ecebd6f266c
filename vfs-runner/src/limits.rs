//! Limits a host sets on one run of a box: `--max-fs-bytes`, `--max-inodes`, `--max-fds`,
//! `--max-memory`, defined once for `vfs-box run`, `vfs-box bench` (and a server later).
//!
//! The memory limit is the store's ([`wasmtime::StoreLimits`]): a `memory.grow` past it fails
//! (returns -1, so `malloc` returns NULL and CPython raises `MemoryError`) instead of trapping.
//! The filesystem limits belong to the VFS inside the guest, so they travel the one way every
//! WASI host has to reach it: environment variables (see [`Limits::env`]), which the shim reads
//! from the host (`environ_get`), not from anything the guest can change.

use wasmtime::{StoreLimits, StoreLimitsBuilder};

/// The limits of one run; `None` leaves the box's own default (the VFS's are 1 GiB of data,
/// a million inodes and 1024 descriptors; memory up to the 4 GiB of wasm32).
#[derive(clap::Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of file data and symlink targets the box's filesystem may hold (like a
    /// tmpfs mount's `size=`): a write past it fails with ENOSPC. Suffixes: 1000000, 64KiB,
    /// 64MiB, 1GB...
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_fs_bytes: Option<u64>,
    /// Most files, directories and symlinks the guest may create (like a tmpfs mount's
    /// `nr_inodes=`; the image's own files do not count): a create past it fails with ENOSPC.
    #[arg(long, value_name = "N")]
    pub max_inodes: Option<u64>,
    /// Size of the guest's descriptor table, stdio and host directories included (like
    /// RLIMIT_NOFILE, `ulimit -n`): an open past it fails with EMFILE.
    #[arg(long, value_name = "N")]
    pub max_fds: Option<u32>,
    /// Most bytes of linear memory the guest may have (like RLIMIT_AS, `ulimit -v`): a
    /// `memory.grow` past it fails, so allocation fails (MemoryError in Python) instead of the
    /// guest trapping. A box whose initial memory (e.g. a pre-initialized snapshot's) is
    /// already larger cannot start. Suffixes: 64MiB, 1GiB...
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_memory: Option<u64>,
}

/// The environment variables that carry the filesystem limits to the shim; they must match
/// `vfs_wasi_shim::layers::LIMIT_VARS` (the Python box tests check the two ends meet).
/// The variable names are the shim's own (`vfs_wasi_shim::layers::LIMIT_VARS`), so the two
/// sides cannot disagree on them.
const FS_BYTES: &str = vfs_wasi_shim::layers::LIMIT_VARS[0];
const INODES: &str = vfs_wasi_shim::layers::LIMIT_VARS[1];
const FDS: &str = vfs_wasi_shim::layers::LIMIT_VARS[2];

impl Limits {
    /// The environment entries that give the filesystem limits to the shim in the guest.
    ///
    /// They are added after the user's `--env`. The guest sees them (`os.environ`) and a user's
    /// `--env VFS_MAX_FDS=…` could add another; the shim takes the smallest value of a name
    /// given twice, so such an entry can lower a limit set here but never raise it. Without a
    /// flag here, an `--env` entry is the only limit, which is the host's choice as much as a
    /// flag is: whoever picks a box's environment is its host (a CGI/WAGI server puts request
    /// data only under `HTTP_*`, `QUERY_STRING` and similar names).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        [
            (FS_BYTES, self.max_fs_bytes),
            (INODES, self.max_inodes),
            (FDS, self.max_fds.map(u64::from)),
        ]
        .into_iter()
        .filter_map(|(name, v)| Some((name, v?.to_string())))
        .collect()
    }

    /// The store limits: memory as asked (growth past it fails, never traps), the rest as
    /// wasmtime's defaults.
    pub fn store_limits(&self) -> StoreLimits {
        let mut b = StoreLimitsBuilder::new().trap_on_grow_failure(false);
        if let Some(max) = self.max_memory {
            b = b.memory_size(usize::try_from(max).unwrap_or(usize::MAX));
        }
        b.build()
    }
}

/// A byte count: a plain number, or one with a unit as in `64MiB`, `64 MiB`, `1.5GB`, `10k`
/// (binary units `KiB`, `MiB`, `GiB`, `TiB`; decimal ones `kB`, `MB`, `GB`, `TB`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("{s:?} is not a size (e.g. 1000000, 64KiB, 64MiB, 1GB): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1000000"), Ok(1_000_000));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("2KiB"), Ok(2048));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("64 parsecs").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn env_holds_only_the_limits_set() {
        assert!(Limits::default().env().is_empty());
        let l = Limits {
            max_fs_bytes: Some(1_000_000),
            max_fds: Some(64),
            max_memory: Some(64 << 20),
            ..Limits::default()
        };
        assert_eq!(
            l.env(),
            [
                ("VFS_MAX_FS_BYTES", "1000000".to_owned()),
                ("VFS_MAX_FDS", "64".to_owned())
            ]
        );
    }
}

//! `vfs-core`: an in-memory POSIX filesystem, the part of wasm-vfs that gives files meaning.
//!
//! One [`Fs`] holds an inode table (a `slab`: stable inode numbers), directories (`hashbrown`
//! maps, with readdir cookies that survive changes), a descriptor table with POSIX numbering,
//! advisory locks and quotas. Paths are byte slices resolved relative to a directory
//! descriptor exactly as WASI's `path_*` calls need. Every operation mirrors a POSIX call and
//! fails with that call's [`Errno`], in Linux's order of checks: Linux tmpfs is the reference,
//! and a differential test runs random operation sequences against it.
//!
//! The crate knows nothing of WASI (the `vfs-wasi-shim` crate maps ABI to calls here), has no
//! `unsafe`, and does not panic on any input: quotas turn runaway growth into `ENOSPC`, not an
//! abort. File contents (`FileData` in `data.rs`) can borrow bytes of a read-only image layer
//! until the first write copies them.
//!
//! Where to find things: path walking in `path.rs` (its cache of whole paths in `cache.rs`),
//! `open` in `open.rs`, reads and writes in `file.rs`, `rename`/`unlink`/`readdir` and friends
//! in `namespace.rs`, locks in `lock.rs`, descriptors in `fd.rs`, inodes in `inode.rs`,
//! directory contents in `dir.rs`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod check;
mod config;
mod data;
mod dir;
mod errno;
mod fd;
mod file;
mod fs;
mod inode;
mod layers;
mod lock;
mod namespace;
mod open;
mod path;
mod types;

pub use config::{Clock, Config, SystemClock};
pub use errno::{Errno, Result};
pub use file::MAX_FILE_SIZE;
pub use fs::Fs;
pub use layers::ImageOrigin;
pub use path::{MAX_SYMLINKS, NAME_MAX, PATH_MAX};
pub use types::{
    Access, DirEntry, Fd, FdFlags, FileType, FlockOp, Ino, OFlags, RangeLock, RangeLockKind,
    SetTime, Stat, Whence,
};

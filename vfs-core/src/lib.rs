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
//! abort. File contents (`data.rs`) can borrow bytes of a read-only image layer
//! until the first write copies them.
//!
//! Map of the files (the public operations are methods of [`Fs`], spread by subject):
//!
//! | file | what it holds |
//! |---|---|
//! | `fs.rs` | [`Fs`] itself: creation, the root, `close`, `renumber`, `fstat`/`fstatat`, descriptor flags and rights |
//! | `path.rs` | path resolution, the one walk every `*at` operation uses |
//! | `cache.rs` | the cache of whole-path resolutions, dropped by every change of names |
//! | `open.rs` | `openat`: resolve, create, truncate |
//! | `file.rs` | `read`/`write`/`pread`/`pwrite`/`lseek`/`ftruncate`/`futimens`/`fallocate` |
//! | `namespace.rs` | `mkdirat`, `unlinkat`, `renameat`, `linkat`, `symlinkat`, `readlinkat`, `readdir` |
//! | `dir.rs` | directory contents, readdir cookies, and `DirEdit`, the only way to change names |
//! | `data.rs` | file contents: owned (dense or sparse) or borrowed from an image |
//! | `layers.rs` | image layers under the writable tree: lazy loading, copy-up, [`ImageOrigin`] |
//! | `inode.rs` | the inode table |
//! | `fd.rs` | the descriptor table and open file descriptions |
//! | `lock.rs` | `flock` and POSIX byte-range locks |
//! | `special.rs` | devices under `/dev` (`null`, `zero`, `full`, `random`, `urandom`, `fd/N`, stdio) and pipes |
//! | `config.rs` | limits (quotas) and the clock |
//! | `errno.rs` | [`Errno`], generated from one table with its names, texts and WASI numbers |
//! | `types.rs` | the public plain data types (flags, [`Stat`], [`DirEntry`]) |
//! | `check.rs` | the full consistency check used by tests and fuzzing |
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
mod special;
mod types;

pub use config::{Clock, Config, Entropy, SystemClock, SystemEntropy};
pub use errno::{Errno, Result};
pub use file::MAX_FILE_SIZE;
pub use fs::Fs;
pub use layers::ImageOrigin;
pub use path::{MAX_SYMLINKS, NAME_MAX, PATH_MAX};
pub use special::PIPE_CAPACITY;
pub use types::{
    Access, DirEntry, Fd, FdFlags, FileType, FlockOp, Ino, OFlags, RangeLock, RangeLockKind,
    SetTime, Stat, Whence,
};

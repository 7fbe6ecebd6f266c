//! vfs-wasi-shim: the WASI preview 1 filesystem, served from `vfs-core` inside the guest.
//!
//! A `wasm32-wasip1` program normally reaches the host for every file operation: wasi-libc
//! calls symbols named `__imported_wasi_snapshot_preview1_<call>`, which are imports. This
//! crate *defines* those symbols for every filesystem call (all `fd_*`, all `path_*`, and
//! `poll_oneoff`), so the linker binds wasi-libc to us instead of to the host. Each call is then
//! routed by descriptor: files of the in-memory filesystem (its root `/` is a preopen, its lower
//! layers are images embedded in the module) are served here; stdio and the host's own
//! preopened directories are forwarded to the host's real imports unchanged. Arguments,
//! environment, clocks, randomness, `proc_exit` and sockets are never intercepted.
//!
//! Using it from Rust takes one line, `use vfs_wasi_shim as _;` (no init call: the state is
//! built on the first WASI call, which wasi-libc makes before `main` to list preopens).
//!
//! The crate is layered so that the code which understands WASI can be tested natively:
//!
//! | file | what it holds |
//! |---|---|
//! | [`memory`] | the only raw-pointer code: a bounds-checked [`memory::Memory`] trait over the guest's own memory (and a `Vec<u8>` in tests); the embedded layer table |
//! | [`abi`] (`abi/mod.rs`) | the `Shim` over any `Memory`: descriptor routing, errno mapping, `fd_prestat_*`, `fd_renumber` |
//! | `abi/fd.rs` | every other `fd_*` call on VFS descriptors |
//! | `abi/dir.rs` | `fd_readdir` and the kept packed listing |
//! | `abi/path.rs` | every `path_*` call |
//! | `abi/poll.rs` | `poll_oneoff` |
//! | `abi/layout.rs` | byte layouts of WASI's structures (`filestat`, `fdstat`, `dirent`, events) |
//! | [`layers`] | building the `vfs_core::Fs` over the embedded layers |
//! | [`preopen`] | the names the guest sees for the host's preopens (a host `/` is [`preopen::HOST_ROOT`]) |
//! | [`export`] | `vfs_export_upper`: what the guest wrote, as an image layer |
//! | `guest/exports.rs` (wasm32 only) | the interposed `__imported_wasi_snapshot_preview1_*` symbols |
//! | `guest/host.rs`, `guest/state.rs` | forwarding to the host's WASI; the one global state |
//! | `guest/posix.rs` | [`posix`]: `dup`, `dup2`, `pipe`, `statvfs` figures for the guest's runtime |
//! | `guest/resume.rs`, `guest/trace.rs` | [`resume`] for pre-initialized instances; `VFS_TRACE` |
//!
//! Set `VFS_TRACE=1` in the guest's environment to get one line per intercepted call on stderr.

#![deny(unsafe_code)]

pub mod abi;
pub mod export;
pub mod layers;
pub mod memory;
pub mod preopen;

#[cfg(target_arch = "wasm32")]
mod guest;

/// Call at the start of a run of a pre-initialized (snapshotted) guest: adopts the run's host
/// preopens (documented on the function).
#[cfg(target_arch = "wasm32")]
pub use guest::resume::resume;

/// `dup`, `dup2`, `pipe` and the figures of `statvfs`, which WASI preview 1 lacks, answered
/// by the VFS for a guest runtime to offer its programs.
#[cfg(target_arch = "wasm32")]
pub use guest::posix;

/// Frees the filesystem's read caches (`vfs_core::Fs::drop_caches`): call it last in a
/// pre-initialization function, so the snapshot holds no decoded copies of compressed files.
#[cfg(target_arch = "wasm32")]
pub fn drop_caches() {
    guest::state::with(|st| st.shim.fs_mut().drop_caches());
}

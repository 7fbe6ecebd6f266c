//! `vfs-runner`: the one place that builds guests and runs them on wasmtime.
//!
//! `vfs-box` (which builds and runs Python boxes) and the end-to-end tests (which build Rust
//! guests and run them with captured output) both need the same two things, and when each had its
//! own copy they drifted: only one removed `CARGO_ENCODED_RUSTFLAGS` from the nested build, and
//! the trap of a guest was told from a host error by a string prefix. Here each lives once:
//!
//! | file | what it holds |
//! |---|---|
//! | [`guest_build`] | a nested `cargo build --target wasm32-wasip1` with the host build's flags removed |
//! | [`engine`] | the wasmtime engine configuration (copy-on-write images; on-demand or pooled memory) |
//! | [`wasi`] | what one instance gets from the host: `argv`, environment, `--dir` maps, stdio |
//! | [`limits`] | `--max-fs-bytes`, `--max-inodes`, `--max-fds`, `--max-memory`: store limits and the environment that carries the filesystem's to the guest |
//! | [`instance`] | linker, instantiation, `_start` with the exit status or a typed [`Trapped`] error, calling an export that returns a buffer |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod engine;
pub mod guest_build;
pub mod instance;
pub mod limits;
pub mod wasi;

pub use engine::{engine, engine_with, server_engine, wt, Allocation};
pub use guest_build::GuestBuild;
pub use instance::{call_buffer_export, instantiate, linker, start, store, Host, Trapped};
pub use limits::{parse_size, Limits};
pub use wasi::{DirMap, EnvVar, Invocation, Stdio};

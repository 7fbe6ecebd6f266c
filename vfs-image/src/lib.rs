//! `vfs-image`: the wasm-vfs image format.
//!
//! An image is a filesystem tree baked into bytes so that a WebAssembly guest can use it *in
//! place*: [`Image::open`] checks a fixed-size header and the bounds of four regions (O(1), no
//! allocation), [`Image::lookup`] is a binary search in a sorted directory table, and
//! [`Image::file_data`] is a borrowed slice of the image. Start-up cost is thus independent of the
//! image's size. The byte layout is specified in `docs/image-format.md`.
//!
//! Why it is built this way:
//! - **Hostile bytes are normal.** Every offset, length and count is checked before use, and the
//!   no-cycle rule (a subdirectory's inode number is greater than its parent's) makes every walk
//!   terminate. Errors name what is wrong; nothing panics.
//! - **Deterministic writer.** [`ImageBuilder`] keeps children in sorted maps and numbers inodes
//!   breadth-first, so the same tree always gives the same bytes.
//! - **Layers.** Whiteouts and opaque directories are part of the format; [`Overlay`] implements
//!   the overlayfs rules over a stack of images and [`squash`] flattens one.
//! - **Guest-friendly.** With `default-features = false` the crate is `no_std` + `alloc` and has
//!   one dependency (`xxhash-rust`); the host helpers (`pack_dir`, `unpack`, OCI tar import)
//!   the module rewriter behind `vfs-image embed` and the CLI live behind the `host`, `embed`
//!   and `cli` features.
//!
//! Map of the files:
//!
//! | file | what it holds |
//! |---|---|
//! | [`boxconfig`] | a box's run configuration (`ENTRYPOINT`, `CMD`, `ENV`, `WORKDIR`, `LABEL`) at `/.vfs-box/config` |
//! | [`format`](mod@format) | the byte layout: header, inode and dirent fields, and the layer table of a module built with the shim |
//! | `reader.rs` | [`Image`]: open (O(1)), lookup, read in place |
//! | `packed.rs` | compressed files (format 1.1): [`Packed`] bodies, the bounded [`Unpacker`], [`pack_body`] |
//! | `node.rs` | decoded kinds, inodes, directory entries |
//! | `writer.rs` | [`ImageBuilder`]: deterministic, deduplicating |
//! | `overlay.rs` | [`Overlay`] and [`squash`]: the overlayfs rules over a stack of layers |
//! | `verify.rs` | checksums and the full structural walk (`vfs-image verify`) |
//! | `error.rs` | [`Error`] |
//! | [`embed`] (feature `embed`) | baking layers into a module |
//! | [`host`] (feature `host`) | `pack_dir`, `unpack`, OCI layer tar import |
//! | `bin/vfs-image/` (feature `cli`) | the CLI: `pack.rs` (`pack`, `squash`), `browse.rs` (`ls`, `cat`, `stat`, `unpack`), `inspect.rs` (`inspect`, `verify`), `diff.rs`, `embed.rs` |
#![forbid(unsafe_code)]
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub mod boxconfig;
mod error;
pub mod format;
mod node;
mod overlay;
mod packed;
mod reader;
mod verify;
mod writer;

#[cfg(feature = "embed")]
pub mod embed;
#[cfg(feature = "host")]
pub mod host;

pub use error::{Error, Result};
pub use node::{DirEntry, Kind, Meta, Node};
pub use overlay::{squash, squash_tree, LayerNode, Overlay, OverlayEntry, OverlayNode};
pub use packed::{pack_body, pack_shared_body, Packed, Unpacker};
pub use reader::{Contents, Header, Image, ReadDir};
pub use verify::{data_checksum, meta_checksum, Stats};
pub use writer::{ImageBuilder, Packer, DEFAULT_DIR_META};

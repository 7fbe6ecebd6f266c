//! `vfs-slots`: linear memories for wasmtime that stay resident from one fresh instance to the
//! next, for a server that gives every request its own instance of a pre-initialized box.
//!
//! A fresh instance starts from the box's snapshot. Its memory is mapped copy-on-write, so
//! the first write to each page costs a page fault and a page copy, and CPython 3.11 writes a
//! reference count into every object it touches: one request dirties hundreds of pages spread
//! over the heap. wasmtime 48's pooling allocator keeps a slot's written pages resident and
//! copies them back from the image, but it asks `PAGEMAP_SCAN` for at most 32 regions and
//! hands every page past the 32nd back to the kernel, so the next instance faults on them
//! again (wasmtime 50 resumes the scan; it needs rustc 1.97). Here the scan goes on to the end:
//! a slot's written pages are copied back from the image and stay mapped, and an instance
//! that touches what the last one touched takes no page fault. And as a page turns private
//! only by faulting, a restore after an instance during which the process took no fault at
//! all reuses the last scan's list instead of walking the page tables again.
//!
//! | file | what it holds |
//! |---|---|
//! | [`split`] | a module cut into code (an empty data section) and the memory image its data segments made |
//! | [`slot`] | the engine's `MemoryCreator`: slots per image, restored page by page after each instance |
//! | [`tripwire`] | stopping a running instance from another thread: its access to a memory taken away |
//! | `sys` | the only unsafe code: `mmap` reservations, the sealed `memfd` image, `PAGEMAP_SCAN` |
//!
//! Use: `Config::with_host_memory(slots)` with on-demand allocation and
//! `memory_init_cow(false)` (wasmtime 48 panics when a copy-on-write image meets a memory it
//! did not create), compile the module from [`split::split`], and instantiate inside
//! [`Slots::with_image`].

pub mod slot;
pub mod split;
mod sys;
pub mod tripwire;

pub use slot::{Image, Slots};
pub use split::{split, Split, Unsplittable};
pub use sys::Marks;
pub use tripwire::Tripwire;

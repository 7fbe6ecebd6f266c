//! The crate's only unsafe code: address-space reservations, the sealed image file, and
//! Linux's `PAGEMAP_SCAN`. Every function checks its range against the mapping it acts on, so
//! the safe modules above cannot reach memory that is not theirs.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The host's page size.
pub fn page_size() -> usize {
    static SIZE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *SIZE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    })
}

/// Rounds `n` up to a whole number of host pages.
pub fn page_align(n: usize) -> usize {
    n.div_ceil(page_size()) * page_size()
}

/// Page faults this process has taken so far, minor and major, all threads together
/// (`getrusage(RUSAGE_SELF)`). A write that makes a page private, or touches one not mapped,
/// faults; so equal counts before and after an instance mean it wrote no page it had not
/// been given privately already. `None` if the count cannot be read.
pub fn faults() -> Option<u64> {
    // SAFETY: `getrusage` writes one `rusage` into the zeroed value it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return None;
    }
    Some((usage.ru_minflt as u64).wrapping_add(usage.ru_majflt as u64))
}

/// A `-1` return as the `errno` it set.
fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    }
}

/// A range of address space reserved with `mmap(PROT_NONE)`, unmapped when dropped. Parts
/// of it are made accessible with [`Reservation::protect`] and filled with
/// [`Reservation::map_file`]; the guest sees it through the pointer [`Reservation::base`].
pub struct Reservation {
    addr: usize,
    len: usize,
}

impl Reservation {
    /// Reserves `len` bytes (a multiple of the page size), inaccessible, backed by nothing.
    pub fn new(len: usize) -> io::Result<Reservation> {
        assert!(
            len.is_multiple_of(page_size()),
            "reservations are whole pages"
        );
        // SAFETY: a fresh anonymous mapping at an address the kernel picks touches nothing
        // that exists.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("reserving {len} bytes of address space: {e}"),
            ));
        }
        Ok(Reservation {
            addr: p as usize,
            len,
        })
    }

    /// Where the reservation starts.
    pub fn base(&self) -> *mut u8 {
        self.addr as *mut u8
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    fn at(&self, r: &Range<usize>) -> (*mut libc::c_void, usize) {
        assert!(
            r.start <= r.end && r.end <= self.len,
            "{r:?} is outside a reservation of {} bytes",
            self.len
        );
        assert!(
            r.start.is_multiple_of(page_size()) && r.end.is_multiple_of(page_size()),
            "{r:?} is not whole pages"
        );
        ((self.addr + r.start) as *mut libc::c_void, r.end - r.start)
    }

    /// Maps the first `len` bytes of `file` over the reservation's start, private and
    /// writable (copy on write: the file never changes).
    pub fn map_file(&self, file: &OwnedFd, len: usize) -> io::Result<()> {
        let (p, n) = self.at(&(0..page_align(len)));
        if n == 0 {
            return Ok(());
        }
        // SAFETY: MAP_FIXED replaces only pages of this reservation (checked by `at`), which
        // no one else maps.
        let q = unsafe {
            libc::mmap(
                p,
                n,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                file.as_raw_fd(),
                0,
            )
        };
        if q == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("mapping the memory image: {e}"),
            ));
        }
        Ok(())
    }

    /// Makes `range` (offsets, whole pages) readable and writable, or inaccessible.
    pub fn protect(&self, range: Range<usize>, writable: bool) -> io::Result<()> {
        let (p, n) = self.at(&range);
        if n == 0 {
            return Ok(());
        }
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_NONE
        };
        // SAFETY: changes the protection of this reservation's own pages only.
        check(unsafe { libc::mprotect(p, n, prot) }, "mprotect")
    }

    /// The pages of `range` (offsets, whole pages) as a [`Region`] whose access another thread
    /// may change while an instance runs in this reservation.
    pub fn region(&self, range: Range<usize>) -> Region {
        let (p, n) = self.at(&range);
        Region {
            addr: p as usize,
            len: n,
        }
    }

    /// Gives the pages of `range` back to the kernel (`MADV_DONTNEED`): afterwards they read
    /// as the file they map, or as zeros.
    pub fn discard(&self, range: Range<usize>) -> io::Result<()> {
        let (p, n) = self.at(&range);
        if n == 0 {
            return Ok(());
        }
        // SAFETY: this reservation's own pages; no reference into them is alive (the caller
        // holds `&mut` to the slot and no instance uses it).
        check(
            unsafe { libc::madvise(p, n, libc::MADV_DONTNEED) },
            "madvise",
        )
    }

    /// Puts the pages at `offset..offset + src.len()` (in an accessible part) back to `src`'s
    /// bytes, a page at a time, leaving alone the pages that already hold them. Most private
    /// pages an instance leaves behind are unchanged (a reference count raised and lowered
    /// again, or a page an earlier instance wrote): reading two pages costs less than writing
    /// one back. In one run of the Flask example, 294 of 609 private pages per request were
    /// unchanged and restores took 12 % less time than copying every page.
    pub fn restore(&mut self, offset: usize, src: &[u8]) {
        let end = offset.checked_add(src.len()).expect("offset overflow");
        assert!(end <= self.len, "write past the reservation");
        for (i, chunk) in src.chunks(page_size()).enumerate() {
            let at = self.addr + offset + i * page_size();
            // SAFETY: in bounds (checked above); `&mut self` means no instance is using the
            // memory, so nothing else reads or writes it while the slice is alive.
            let dst = unsafe { std::slice::from_raw_parts_mut(at as *mut u8, chunk.len()) };
            if dst != chunk {
                dst.copy_from_slice(chunk);
            }
        }
    }

    /// Writes `src` at `offset`, which must lie in an accessible part.
    pub fn write(&mut self, offset: usize, src: &[u8]) {
        let end = offset.checked_add(src.len()).expect("offset overflow");
        assert!(end <= self.len, "write past the reservation");
        // SAFETY: in bounds (checked); `&mut self` means no instance is using the memory, and
        // the caller only writes parts it made accessible.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), (self.addr + offset) as *mut u8, src.len())
        }
    }

    /// Reads the byte at `offset`, which must lie in an accessible part.
    pub fn read(&self, offset: usize) -> u8 {
        assert!(offset < self.len, "read past the reservation");
        // SAFETY: in bounds (checked); a volatile read, as the page may be mapped from a file.
        unsafe { std::ptr::read_volatile((self.addr + offset) as *const u8) }
    }

    /// Writes zeros over `range`, which must lie in an accessible part.
    pub fn zero(&mut self, range: Range<usize>) {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: as for `write`.
        unsafe { std::ptr::write_bytes((self.addr + range.start) as *mut u8, 0, range.len()) }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // SAFETY: the whole mapping this value owns; nothing refers to it any more.
        unsafe { libc::munmap(self.addr as *mut libc::c_void, self.len) };
    }
}

// SAFETY: a reservation is plain address space; access to its contents is governed by `&mut`
// (the host) and by wasmtime's ownership of the instance (the guest).
unsafe impl Send for Reservation {}
// SAFETY: as above; `&self` methods only change page tables, never read or write contents.
unsafe impl Sync for Reservation {}

/// Some pages of a [`Reservation`], named by address so that a thread that does not own the
/// reservation can change their access (`mprotect`). Whoever holds one must stop using it
/// before the reservation is dropped ([`crate::Tripwire`] does, under its lock).
#[derive(Clone, Copy)]
pub struct Region {
    addr: usize,
    len: usize,
}

impl Region {
    /// Makes the region readable and writable, or inaccessible (`mprotect`).
    pub fn protect(&self, writable: bool) -> io::Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_NONE
        };
        // SAFETY: pages of a live reservation (the holder's promise, above); changing their
        // protection never invalidates a Rust reference, as only wasm code reads them.
        check(
            unsafe { libc::mprotect(self.addr as *mut libc::c_void, self.len, prot) },
            "mprotect",
        )
    }
}

/// A memory image in a sealed `memfd`: what every slot maps copy-on-write, and a read-only
/// view of it to restore pages from.
pub struct ImageFile {
    fd: OwnedFd,
    view: usize,
    len: usize,
}

impl ImageFile {
    /// Writes `contents` to a new memory file, seals it against any change, and maps a view.
    pub fn new(contents: &[u8]) -> io::Result<ImageFile> {
        let len = page_align(contents.len());
        // SAFETY: the name is a NUL-terminated literal.
        let raw = unsafe {
            libc::memfd_create(
                c"vfs-slots-image".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("memfd_create: {e}")));
        }
        // SAFETY: `raw` is a descriptor we just opened and own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let file = File::from(fd.try_clone()?);
        file.set_len(len as u64)?;
        std::os::unix::fs::FileExt::write_all_at(&file, contents, 0)?;
        // No write, no size change from here on: a mapping of it can never see other bytes or
        // lose its pages (SIGBUS) to a truncation.
        let seals =
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on our own descriptor.
        check(
            unsafe { libc::fcntl(raw, libc::F_ADD_SEALS, seals) },
            "sealing the memory image",
        )?;
        let view = if len == 0 {
            0
        } else {
            // SAFETY: a new shared read-only mapping of our sealed file.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    raw,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(
                    e.kind(),
                    format!("mapping the memory image: {e}"),
                ));
            }
            p as usize
        };
        Ok(ImageFile { fd, view, len })
    }

    /// The file, for [`Reservation::map_file`].
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Its length (whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: a read-only mapping of `len` bytes that lives as long as `self`, of a file
        // sealed against writes and size changes, so the bytes never change under the slice.
        unsafe { std::slice::from_raw_parts(self.view as *const u8, self.len) }
    }
}

impl Drop for ImageFile {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: our own mapping; the slices `bytes` gave out borrowed `self`.
            unsafe { libc::munmap(self.view as *mut libc::c_void, self.len) };
        }
    }
}

// SAFETY: an immutable file and an immutable mapping of it.
unsafe impl Send for ImageFile {}
// SAFETY: as above.
unsafe impl Sync for ImageFile {}

/// `struct pm_scan_arg` of `<linux/fs.h>` (Linux 6.7).
#[repr(C)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `struct page_region`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

/// `PAGEMAP_SCAN`: `_IOWR('f', 16, struct pm_scan_arg)`.
const PAGEMAP_SCAN: libc::c_ulong =
    (3 << 30) | ((std::mem::size_of::<PmScanArg>() as libc::c_ulong) << 16) | (0x66 << 8) | 16;
const PAGE_IS_WRITTEN: u64 = 1 << 1;
const PAGE_IS_FILE: u64 = 1 << 2;
const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_PFNZERO: u64 = 1 << 5;
const PAGE_IS_SOFT_DIRTY: u64 = 1 << 7;

/// Regions asked for per `ioctl`; the scan resumes where a full batch stopped.
const BATCH: usize = 256;

/// How a written page is told from one only read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marks {
    /// The page table entry's soft-dirty bit: set by every write fault, and never cleared
    /// here. Checking it reads only the page tables.
    SoftDirty,
    /// Present, not the zero page, and not a page of the image file (a private copy): the
    /// kernel looks at each page's own descriptor, several times slower. For kernels built
    /// without `CONFIG_MEM_SOFT_DIRTY`.
    File,
}

impl Marks {
    /// `(category_mask, category_inverted)` selecting written pages.
    fn categories(self) -> (u64, u64) {
        match self {
            Marks::SoftDirty => (
                PAGE_IS_PRESENT | PAGE_IS_SOFT_DIRTY | PAGE_IS_PFNZERO,
                PAGE_IS_PFNZERO,
            ),
            Marks::File => (
                PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_PFNZERO | PAGE_IS_FILE,
                PAGE_IS_PFNZERO | PAGE_IS_FILE,
            ),
        }
    }
}

/// Finds the pages of a reservation an instance wrote, with `PAGEMAP_SCAN` on
/// `/proc/self/pagemap`.
pub struct PageScanner {
    pagemap: File,
    regions: Vec<PageRegion>,
    marks: Marks,
}

impl PageScanner {
    /// Opens `/proc/self/pagemap` and finds the first way in `marks` that tells written pages
    /// apart here: `None` when the kernel has no `PAGEMAP_SCAN` (Linux 6.7) or none works.
    pub fn open_with(marks: &[Marks]) -> Option<PageScanner> {
        let pagemap = File::open("/proc/self/pagemap").ok()?;
        let mut s = PageScanner {
            pagemap,
            regions: vec![PageRegion::default(); BATCH],
            marks: Marks::File,
        };
        // An empty range: the kernel validates the request and reports nothing.
        s.scan(0, 0, 1).ok()?;
        let works = marks.iter().find(|&&m| s.probe(m).unwrap_or(false))?;
        s.marks = *works;
        Some(s)
    }

    /// How this scanner tells written pages.
    pub fn marks(&self) -> Marks {
        self.marks
    }

    /// Whether `marks` finds exactly the written pages of a private mapping of a file: of
    /// four pages, one read, two written, one never touched.
    fn probe(&mut self, marks: Marks) -> io::Result<bool> {
        let page = page_size();
        let image = ImageFile::new(&vec![7u8; 4 * page])?;
        let mut r = Reservation::new(4 * page)?;
        r.map_file(image.fd(), 4 * page)?;
        let read = r.read(0);
        r.write(page, &[read]);
        r.write(2 * page, &[1]);
        let saved = std::mem::replace(&mut self.marks, marks);
        let mut found = Vec::new();
        let scanned = self.written(&r, 4 * page, 4, &mut found);
        self.marks = saved;
        scanned?;
        Ok(found.len() == 1 && found[0] == (page..3 * page))
    }

    /// One `ioctl` over addresses `start..end`: fills `self.regions`, returns how many it
    /// filled and where the walk ended.
    fn scan(&mut self, start: usize, end: usize, max_pages: usize) -> io::Result<(usize, usize)> {
        let mut arg = PmScanArg {
            size: std::mem::size_of::<PmScanArg>() as u64,
            flags: 0,
            start: start as u64,
            end: end as u64,
            walk_end: 0,
            vec: self.regions.as_mut_ptr() as u64,
            vec_len: self.regions.len() as u64,
            max_pages: max_pages as u64,
            category_inverted: self.marks.categories().1,
            category_mask: self.marks.categories().0,
            category_anyof_mask: 0,
            return_mask: 0,
        };
        // SAFETY: the kernel reads `arg` and writes at most `vec_len` regions into
        // `self.regions`, which holds that many; it only reads page tables of the range.
        let n = unsafe { libc::ioctl(self.pagemap.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((n as usize, arg.walk_end as usize))
    }

    /// The written pages of `reservation`'s first `len` bytes, at most `max_pages` of them,
    /// as offset ranges appended to `out`; returns the offset where the scan stopped (`len`
    /// when it saw everything).
    pub fn written(
        &mut self,
        reservation: &Reservation,
        len: usize,
        max_pages: usize,
        out: &mut Vec<Range<usize>>,
    ) -> io::Result<usize> {
        assert!(len <= reservation.len);
        let base = reservation.addr;
        let end = base + len;
        let mut at = base;
        let mut budget = max_pages;
        while at < end && budget > 0 {
            let (n, walk_end) = self.scan(at, end, budget)?;
            for r in &self.regions[..n] {
                let (s, e) = (r.start as usize, r.end as usize);
                if s < at || e > end || s >= e {
                    return Err(io::Error::other(
                        "PAGEMAP_SCAN gave a region outside the scan",
                    ));
                }
                budget = budget.saturating_sub((e - s) / page_size());
                out.push(s - base..e - base);
            }
            if walk_end <= at || walk_end > end {
                return Err(io::Error::other("PAGEMAP_SCAN did not advance"));
            }
            at = walk_end;
            if n < self.regions.len() {
                // Not a full batch: the walk reached the end or the page budget.
                break;
            }
        }
        Ok(at - base)
    }
}

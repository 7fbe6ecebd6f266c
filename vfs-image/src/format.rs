//! The on-disk layout: constants, field offsets, and little-endian encoding of the header,
//! inode records and directory entries. `docs/image-format.md` describes the same bytes in prose;
//! keep the two in step.

/// The first 8 bytes of every image.
pub const MAGIC: [u8; 8] = *b"VFSIMG\r\n";
/// Major version: readers refuse other majors.
pub const VERSION_MAJOR: u16 = 1;
/// Minor version of images without compressed files (what a 1.0 reader reads).
pub const VERSION_MINOR: u16 = 0;
/// Minor version of images holding compressed files (1.1 added them; a 1.0 reader refuses
/// such an image by its unknown header flag [`HEADER_FLAG_COMPRESSED`]).
pub const VERSION_MINOR_COMPRESSED: u16 = 1;
/// Minor version of images holding shared bodies (1.2 added them; a 1.0 or 1.1 reader refuses
/// such an image by its unknown header flag [`HEADER_FLAG_SHARED`]).
pub const VERSION_MINOR_SHARED: u16 = 2;
/// Size of the version 1 header.
pub const HEADER_SIZE: usize = 128;
/// Size of one inode record.
pub const INODE_SIZE: usize = 64;
/// Size of one directory entry.
pub const DIRENT_SIZE: usize = 12;
/// File data starts at multiples of this (relative to the start of the image), so a guest can
/// use a file's bytes in place as `u64`/SIMD-aligned data if the image itself is 16-aligned.
pub const DATA_ALIGN: u64 = 16;
/// Longest name the writer accepts (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Longest symlink target the writer accepts (Linux `PATH_MAX` minus the NUL).
pub const SYMLINK_MAX: usize = 4095;

/// Header flag: the image holds whiteouts or opaque directories (it is meant as an upper layer).
pub const HEADER_FLAG_LAYER: u32 = 1;
/// Header flag: some files are stored compressed (format 1.1).
pub const HEADER_FLAG_COMPRESSED: u32 = 2;
/// Header flag: some packed bodies are shared by several files, compressed together
/// (format 1.2). Only with [`HEADER_FLAG_COMPRESSED`].
pub const HEADER_FLAG_SHARED: u32 = 4;
/// Header flags this reader understands.
pub const HEADER_FLAGS_KNOWN: u32 = HEADER_FLAG_LAYER | HEADER_FLAG_COMPRESSED | HEADER_FLAG_SHARED;

/// Inode flag: the directory is opaque (hides everything below it in lower layers).
pub const INODE_FLAG_OPAQUE: u8 = 1;
/// Inode flag: the file's contents are a packed body (chunk table + compressed chunks), not
/// the bytes themselves. Only with [`HEADER_FLAG_COMPRESSED`].
pub const INODE_FLAG_COMPRESSED: u8 = 2;
/// Inode flag (with [`INODE_FLAG_COMPRESSED`]): the packed body is shared by several files
/// and the inode's `member` field says which part of its decoded bytes is this file's. Only
/// with [`HEADER_FLAG_SHARED`].
pub const INODE_FLAG_SHARED: u8 = 4;

/// Codec byte of a packed body: every compressed chunk is one Zstandard frame (RFC 8878).
pub const CODEC_ZSTD: u8 = 1;
/// Codec byte of a packed body: every compressed chunk is one LZ4 block (the LZ4 block
/// format, no frame), decoding to exactly the chunk's length.
pub const CODEC_LZ4: u8 = 2;
/// Size of a packed body's header: codec `u8`, chunk shift `u8`, member count `u16` (0 for a
/// body of one file), chunk count `u32`. A shared body's member table (`u64` decoded length,
/// then a `u64` start per member) follows, then the chunk table (`u32` end offsets).
pub const PACKED_HEADER: usize = 8;
/// Most members a shared body may have (the writer's limit; the format's is `u16::MAX`): a
/// bound on the member table a reader meets.
pub const SHARED_MEMBERS_MAX: usize = 64;
/// Chunk size the writer uses, as a shift: 128 KiB, Zstandard's largest block, so one chunk is
/// one block and a `pread` in the middle of a large file decodes at most 128 KiB.
pub const CHUNK_SHIFT: u8 = 17;
/// Smallest chunk shift a reader accepts (4 KiB).
pub const CHUNK_SHIFT_MIN: u8 = 12;
/// Largest chunk shift a reader accepts (1 MiB): bounds what decoding one chunk may allocate.
pub const CHUNK_SHIFT_MAX: u8 = 20;

/// The layer table a module linked with `vfs-wasi-shim` carries in a data segment: where
/// `vfs_image::embed` records the layers it placed in memory and where the shim finds them at
/// start-up with no parsing. One definition for both sides: the shim declares its `static` as a
/// [`LayerTable`], and `embed` patches the bytes at the offsets below.
///
/// Layout (little-endian, 16-aligned): [`LAYER_MAGIC`], `u32` capacity, `u32` count, then
/// capacity × (`u32` address, `u32` length), lowest layer first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct LayerTable {
    /// [`LAYER_MAGIC`]: what `embed` searches the data segments for.
    pub magic: [u8; 16],
    /// Number of slots ([`LAYER_SLOTS`] in tables the shim declares).
    pub capacity: u32,
    /// Slots in use.
    pub count: u32,
    /// `(address, length)` of each embedded layer in linear memory.
    pub slots: [[u32; 2]; LAYER_SLOTS],
}

impl LayerTable {
    /// A table with no layers, as linked into the guest before `embed` runs.
    pub const EMPTY: LayerTable = LayerTable {
        magic: LAYER_MAGIC,
        capacity: LAYER_SLOTS as u32,
        count: 0,
        slots: [[0; 2]; LAYER_SLOTS],
    };
}

/// The 16 bytes that open a [`LayerTable`].
pub const LAYER_MAGIC: [u8; 16] = *b"wasm-vfs:layers1";
/// How many layers the shim's table holds.
pub const LAYER_SLOTS: usize = 16;
/// Offset of the `u32` capacity in a [`LayerTable`].
pub const LT_CAPACITY: usize = 16;
/// Offset of the `u32` count in a [`LayerTable`].
pub const LT_COUNT: usize = 20;
/// Offset of the first slot in a [`LayerTable`]; each slot is [`LT_SLOT_SIZE`] bytes.
pub const LT_SLOTS: usize = 24;
/// Size of one `(address, length)` slot.
pub const LT_SLOT_SIZE: usize = 8;

// The offsets above are the `repr(C)` layout of the struct: checked at compile time so the two
// descriptions cannot drift apart.
const _: () = {
    assert!(core::mem::offset_of!(LayerTable, capacity) == LT_CAPACITY);
    assert!(core::mem::offset_of!(LayerTable, count) == LT_COUNT);
    assert!(core::mem::offset_of!(LayerTable, slots) == LT_SLOTS);
    assert!(core::mem::size_of::<[[u32; 2]; LAYER_SLOTS]>() == LT_SLOT_SIZE * LAYER_SLOTS);
};

// Header field offsets.
pub(crate) const H_VERSION_MAJOR: usize = 8;
pub(crate) const H_VERSION_MINOR: usize = 10;
pub(crate) const H_HEADER_SIZE: usize = 12;
pub(crate) const H_FLAGS: usize = 16;
pub(crate) const H_ROOT: usize = 20;
pub(crate) const H_IMAGE_SIZE: usize = 24;
pub(crate) const H_INODE_OFF: usize = 32;
pub(crate) const H_INODE_COUNT: usize = 40;
pub(crate) const H_DIRENT_OFF: usize = 48;
pub(crate) const H_DIRENT_COUNT: usize = 56;
pub(crate) const H_STRINGS_OFF: usize = 64;
pub(crate) const H_STRINGS_LEN: usize = 72;
pub(crate) const H_DATA_OFF: usize = 80;
pub(crate) const H_DATA_LEN: usize = 88;
pub(crate) const H_META_CHECKSUM: usize = 96;
pub(crate) const H_DATA_CHECKSUM: usize = 104;

// Inode record field offsets.
pub(crate) const I_KIND: usize = 0;
pub(crate) const I_FLAGS: usize = 1;
pub(crate) const I_MEMBER: usize = 2;
pub(crate) const I_MODE: usize = 4;
pub(crate) const I_UID: usize = 8;
pub(crate) const I_GID: usize = 12;
pub(crate) const I_NLINK: usize = 16;
pub(crate) const I_PARENT: usize = 20;
pub(crate) const I_SIZE: usize = 24;
pub(crate) const I_OFFSET: usize = 32;
pub(crate) const I_ATIME: usize = 40;
pub(crate) const I_MTIME: usize = 48;
pub(crate) const I_CTIME: usize = 56;

// Directory entry field offsets.
pub(crate) const D_NAME_OFF: usize = 0;
pub(crate) const D_NAME_LEN: usize = 4;
pub(crate) const D_KIND: usize = 6;
pub(crate) const D_INO: usize = 8;

/// Kind byte values, shared by inode records and directory entries.
pub(crate) const KIND_FILE: u8 = 1;
pub(crate) const KIND_DIR: u8 = 2;
pub(crate) const KIND_SYMLINK: u8 = 3;
pub(crate) const KIND_WHITEOUT: u8 = 4;

/// Reads a little-endian `u16` at `at`. The caller has checked that `at + 2 <= b.len()`; the
/// fallback of 0 is never taken for in-bounds offsets and keeps this total (no panic).
pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_le_bytes([s[0], s[1]]),
        None => 0,
    }
}

/// Reads a little-endian `u32` at `at` (see [`u16_at`]).
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

/// Reads a little-endian `u64` at `at` (see [`u16_at`]).
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    match b.get(at..at + 8) {
        Some(s) => u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]),
        None => 0,
    }
}

/// Writes a little-endian `u16` at `at` into a buffer the writer sized itself.
pub(crate) fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian `u32` at `at`.
pub(crate) fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian `u64` at `at`.
pub(crate) fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Rounds `v` up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn align_up(v: u64, align: u64) -> Option<u64> {
    Some(v.checked_add(align - 1)? & !(align - 1))
}

/// Is `name` a legal single directory entry name? POSIX names are bytes: anything but empty,
/// `.`, `..`, or containing `/` or NUL. Returns the reason when it is not.
pub fn check_name(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name == b"." || name == b".." {
        return Err("name is . or ..");
    }
    if name.contains(&b'/') {
        return Err("name contains '/'");
    }
    if name.contains(&0) {
        return Err("name contains NUL");
    }
    if name.len() > NAME_MAX {
        return Err("name longer than 255 bytes");
    }
    Ok(())
}

//! Compressed files (format 1.1): the packed body a compressed file's inode points at, how a
//! reader decodes it with bounded memory, and how the writer builds one.
//!
//! A packed body is a chunk table followed by the chunks, each chunk being `1 << shift` bytes
//! of the file (the last one shorter) stored on its own: a Zstandard frame or an LZ4 block (the
//! body's codec), or the bytes themselves when compressing did not make them smaller. Chunks are independent, so a read in
//! the middle of a large file decodes only the chunks it touches.
//!
//! Hostile bodies are normal: every length is checked against the file's declared size before
//! anything is decoded. A frame must be single-segment, declare exactly its chunk's length and
//! use no dictionary and no checksum; the decoder is fed only that frame and may never produce
//! a byte more than declared. So a truncated frame, a bomb (a frame that expands past its
//! declared size) and a table whose chunks overlap are errors, and decoding one chunk never
//! allocates more than about twice the chunk size.

use alloc::vec::Vec;

use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use ruzstd::io::Read;

use crate::error::{Error, Result};
use crate::format::*;

/// A validated view of one compressed file's body. Built by
/// [`Image::contents`](crate::Image::contents); the checks done there are O(1), and each
/// chunk's range is checked again when it is used.
///
/// A body of one file decodes to that file. A shared body (format 1.2) decodes to the bytes
/// of all its members back to back, and this view is of one member: its `size` bytes from
/// `base` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packed<'a> {
    ino: u32,
    size: u64,
    layout: Layout,
    /// The whole body: header, member table, chunk table, chunks.
    body: &'a [u8],
}

/// What a body's header and tables say, checked against the inode that points at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Layout {
    /// Where this file's bytes start in the body's decoded bytes (0 unless shared).
    base: u64,
    /// Length of the body's decoded bytes (the file's size unless shared).
    total: u64,
    /// Member count (0: a body of one file).
    members: u16,
    shift: u8,
    count: u32,
    /// Offset of the chunk table in the body.
    table: usize,
    /// Length of the whole body.
    len: u64,
}

/// Reads and checks the header and tables of the body that starts at `head` (the bytes from the
/// body's start to the end of the data region) for inode `ino`, a file of `size` bytes that is
/// member `member` of a shared body, or `None` for a body of its own. O(1).
fn layout(ino: u32, size: u64, member: Option<u16>, head: &[u8]) -> Result<Layout> {
    let bad = |why| Error::BadPacked { ino, why };
    let h = head
        .get(..PACKED_HEADER)
        .ok_or(bad("body header past the data region"))?;
    if h[0] != CODEC_ZSTD && h[0] != CODEC_LZ4 {
        return Err(bad("unknown codec"));
    }
    let shift = h[1];
    if !(CHUNK_SHIFT_MIN..=CHUNK_SHIFT_MAX).contains(&shift) {
        return Err(bad("chunk size out of range"));
    }
    if size == 0 {
        return Err(bad("an empty file has no body"));
    }
    let members = u16_at(h, 2);
    let (base, total, table) = match (members, member) {
        (0, None) => (0, size, PACKED_HEADER),
        (0, Some(_)) => return Err(bad("a shared file's body has no members")),
        (1, _) => return Err(bad("a shared body has a single member")),
        (_, None) => return Err(bad("a file of its own points at a shared body")),
        (m, Some(k)) if k >= m => return Err(bad("member index past the member table")),
        (m, Some(k)) => {
            let table = PACKED_HEADER + 8 + 8 * m as usize;
            let t = head
                .get(PACKED_HEADER..table)
                .ok_or(bad("member table past the data region"))?;
            let total = u64_at(t, 0);
            let base = u64_at(t, 8 + 8 * k as usize);
            if base.checked_add(size).is_none_or(|e| e > total) {
                return Err(bad("member lies outside the body's decoded bytes"));
            }
            (base, total, table)
        }
    };
    let count = u32_at(h, 4);
    if count as u64 != total.div_ceil(1 << shift) {
        return Err(bad("chunk count does not match the decoded size"));
    }
    let table_end = table as u64 + 4 * count as u64;
    let last = (table_end - 4) as usize;
    let last_end = head
        .get(last..last + 4)
        .map(|b| u32_at(b, 0) as u64)
        .ok_or(bad("chunk table past the data region"))?;
    Ok(Layout {
        base,
        total,
        members,
        shift,
        count,
        table,
        len: table_end + last_end,
    })
}

/// The length of the body that starts at `head` (the bytes from the body's start to the end of
/// the data region) for inode `ino` of `size` bytes (`member` as in [`Packed::new`]), after
/// checking its header and table bounds.
pub(crate) fn body_len(ino: u32, size: u64, member: Option<u16>, head: &[u8]) -> Result<u64> {
    layout(ino, size, member, head).map(|l| l.len)
}

impl<'a> Packed<'a> {
    /// Wraps `body`, which [`body_len`] measured, of inode `ino` holding `size` bytes: the
    /// whole body, or member `member` of a shared one.
    pub(crate) fn new(
        ino: u32,
        size: u64,
        member: Option<u16>,
        body: &'a [u8],
    ) -> Result<Packed<'a>> {
        let l = layout(ino, size, member, body)?;
        if l.len != body.len() as u64 {
            return Err(Error::BadPacked {
                ino,
                why: "body length does not match its chunk table",
            });
        }
        Ok(Packed {
            ino,
            size,
            layout: l,
            body,
        })
    }

    /// The file's length once decoded (`st_size`).
    pub fn len(&self) -> u64 {
        self.size
    }

    /// Whether the file is empty (never true: empty files are not packed).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Bytes the body takes in the image: header, tables and chunks (shared bodies are
    /// stored once for all their members).
    pub fn stored_len(&self) -> u64 {
        self.body.len() as u64
    }

    /// The whole body as stored (for checksums and identity).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The codec byte ([`CODEC_ZSTD`] or [`CODEC_LZ4`]).
    pub fn codec(&self) -> u8 {
        self.body[0]
    }

    /// The inode the body belongs to (for error messages).
    pub fn ino(&self) -> u32 {
        self.ino
    }

    /// Number of files sharing the body (1 for a body of one file).
    pub fn members(&self) -> u16 {
        self.layout.members.max(1)
    }

    /// Length of the body's decoded bytes: the file's own, or all members' of a shared body.
    pub fn decoded_len(&self) -> u64 {
        self.layout.total
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> u32 {
        self.layout.count
    }

    /// Bytes per chunk (all but the last).
    pub fn chunk_size(&self) -> u64 {
        1 << self.layout.shift
    }

    /// Decoded length of chunk `i`.
    fn raw_len(&self, i: u32) -> usize {
        let start = (i as u64) << self.layout.shift;
        self.layout
            .total
            .saturating_sub(start)
            .min(self.chunk_size()) as usize
    }

    fn end(&self, i: u32) -> u64 {
        u32_at(self.body, self.layout.table + 4 * i as usize) as u64
    }

    /// Chunk `i`: (decoded length, stored bytes). A chunk stored as long as its decoded length
    /// is stored raw; one stored longer is an error (the writer stores raw instead).
    pub fn chunk(&self, i: u32) -> Result<(usize, &'a [u8])> {
        let bad = |why| Error::BadPacked { ino: self.ino, why };
        if i >= self.layout.count {
            return Err(bad("chunk index out of range"));
        }
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        let end = self.end(i);
        if start > end {
            return Err(bad("chunk table not ascending (chunks overlap)"));
        }
        let base = self.layout.table as u64 + 4 * self.layout.count as u64;
        let stored = self
            .body
            .get((base + start) as usize..(base + end) as usize)
            .ok_or(bad("chunk past the end of the body"))?;
        let raw = self.raw_len(i);
        if stored.len() > raw {
            return Err(bad("chunk stored larger than its contents"));
        }
        Ok((raw, stored))
    }
}

/// Checks that `frame` is one Zstandard frame header a reader accepts for a chunk of `raw`
/// bytes: single segment (so the window is the content and nothing larger is allocated), its
/// declared content size exactly `raw`, no dictionary, no checksum, no reserved bit.
fn check_frame(frame: &[u8], raw: usize) -> core::result::Result<(), &'static str> {
    const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
    if frame.get(..4) != Some(&MAGIC[..]) {
        return Err("chunk is not a Zstandard frame");
    }
    let fhd = *frame.get(4).ok_or("truncated frame header")?;
    if fhd & 0x20 == 0 {
        return Err("frame is not single-segment");
    }
    if fhd & 0x08 != 0 || fhd & 0x03 != 0 || fhd & 0x04 != 0 {
        return Err("frame uses a reserved bit, a dictionary or a checksum");
    }
    let (len, add) = match fhd >> 6 {
        0 => (1, 0),
        1 => (2, 256),
        2 => (4, 0),
        _ => (8, 0),
    };
    let field = frame.get(5..5 + len).ok_or("truncated frame header")?;
    let mut fcs = 0u64;
    for (k, b) in field.iter().enumerate() {
        fcs |= (*b as u64) << (8 * k);
    }
    if fcs + add != raw as u64 {
        return Err("frame declares a size other than its chunk's");
    }
    Ok(())
}

/// Decodes compressed files: one Zstandard decoder (its tables are reused from file to file)
/// and a cache of the last chunk decoded, for reads that take a chunk in pieces.
///
/// A read that covers whole chunks decodes them straight into the caller's buffer; only a read
/// of part of a chunk decodes it into the cache, so the next read of the same chunk (a
/// sequential reader going 8 KiB at a time) copies from there. The cache holds at most one
/// chunk (≤ 1 MiB) and [`Unpacker::forget`] empties it.
#[derive(Default)]
pub struct Unpacker {
    decoder: Option<FrameDecoder>,
    cache: Vec<u8>,
    /// (address of the body, chunk index) the cache holds.
    cached: Option<(usize, u32)>,
}

impl core::fmt::Debug for Unpacker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Unpacker")
            .field("cached", &self.cached)
            .field("cache_len", &self.cache.len())
            .finish()
    }
}

impl Unpacker {
    /// A decoder with an empty cache. Allocates nothing until it first decodes.
    pub fn new() -> Unpacker {
        Unpacker::default()
    }

    /// Drops the cached chunk and frees its memory (what a snapshot should not carry).
    pub fn forget(&mut self) {
        self.cache = Vec::new();
        self.cached = None;
    }

    /// Whether the cache holds a chunk of `p` (so closing `p` may [`forget`](Self::forget)).
    pub fn holds(&self, p: &Packed) -> bool {
        self.cached
            .is_some_and(|(at, _)| at == p.body.as_ptr() as usize)
    }

    /// Bytes of decoded data held in the cache.
    pub fn cached_bytes(&self) -> usize {
        self.cache.len()
    }

    /// Decodes chunk `i` of `p` into `out`, which is exactly its decoded length.
    fn decode_chunk(&mut self, p: &Packed, i: u32, out: &mut [u8]) -> Result<()> {
        let (raw, stored) = p.chunk(i)?;
        let bad = |why| Error::BadPacked { ino: p.ino, why };
        debug_assert_eq!(out.len(), raw);
        if stored.len() == raw {
            out.copy_from_slice(stored);
            return Ok(());
        }
        if p.codec() == CODEC_LZ4 {
            // Writes only inside `out`, allocates nothing; the block must fill it exactly.
            return match lz4_flex::block::decompress_into(stored, out) {
                Ok(n) if n == raw => Ok(()),
                Ok(_) => Err(bad("block decodes to fewer bytes than declared")),
                Err(_) => Err(bad(
                    "corrupt or truncated block, or one that expands beyond its declared size",
                )),
            };
        }
        check_frame(stored, raw).map_err(bad)?;
        let dec = self.decoder.get_or_insert_with(FrameDecoder::new);
        let mut src = stored;
        dec.init(&mut src).map_err(|_| bad("bad frame header"))?;
        let mut done = 0usize;
        loop {
            // Ask for one byte more than is left, so a frame that would overrun is caught
            // after at most one block (≤ 128 KiB) beyond the declared size.
            let want = raw - done + 1;
            dec.decode_blocks(&mut src, BlockDecodingStrategy::UptoBytes(want))
                .map_err(|_| bad("corrupt or truncated frame"))?;
            let n = dec
                .read(&mut out[done..])
                .map_err(|_| bad("corrupt frame"))?;
            done += n;
            if dec.can_collect() > 0 {
                return Err(bad("frame expands beyond its declared size"));
            }
            if dec.is_finished() {
                break;
            }
            if n == 0 && src.is_empty() {
                return Err(bad("truncated frame"));
            }
        }
        if done != raw {
            return Err(bad("frame decodes to fewer bytes than declared"));
        }
        if !src.is_empty() {
            return Err(bad("bytes after the frame"));
        }
        Ok(())
    }

    /// Copies bytes of `p` starting at `offset` into `buf`, decoding the chunks they lie in;
    /// returns how many (0 at or past the end). Like POSIX `pread`.
    pub fn read_at(&mut self, p: &Packed, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if offset >= p.size {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(p.size - offset) as usize;
        let mut done = 0usize;
        while done < n {
            // Position in the body's decoded bytes (a shared body's member starts at `base`).
            let pos = p.layout.base + offset + done as u64;
            let i = (pos >> p.layout.shift) as u32;
            let o = (pos - ((i as u64) << p.layout.shift)) as usize;
            let raw = p.raw_len(i);
            let m = (raw - o).min(n - done);
            let dst = &mut buf[done..done + m];
            let key = (p.body.as_ptr() as usize, i);
            if self.cached == Some(key) {
                dst.copy_from_slice(&self.cache[o..o + m]);
            } else if m == raw {
                self.decode_chunk(p, i, dst)?;
            } else {
                let (_, stored) = p.chunk(i)?;
                if stored.len() == raw {
                    dst.copy_from_slice(&stored[o..o + m]);
                } else {
                    let mut cache = core::mem::take(&mut self.cache);
                    self.cached = None;
                    cache.clear();
                    cache
                        .try_reserve_exact(raw)
                        .map_err(|_| Error::Limit("out of memory decoding a chunk".into()))?;
                    cache.resize(raw, 0);
                    let r = self.decode_chunk(p, i, &mut cache);
                    self.cache = cache;
                    r?;
                    self.cached = Some(key);
                    dst.copy_from_slice(&self.cache[o..o + m]);
                }
            }
            done += m;
        }
        Ok(n)
    }

    /// The whole file, decoded into `out` (cleared first). Memory for exactly the declared size
    /// is reserved up front; beyond it, only the one-chunk cache is used (for a shared body's
    /// member whose bytes start or end inside a chunk).
    pub fn read_all(&mut self, p: &Packed, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let n = usize::try_from(p.size).map_err(|_| Error::TooLarge {
            what: "compressed file",
            value: p.size,
        })?;
        out.try_reserve_exact(n)
            .map_err(|_| Error::Limit("out of memory decoding a file".into()))?;
        out.resize(n, 0);
        self.read_at(p, 0, out)?;
        Ok(())
    }
}

/// Builds the packed body of `content` with chunks of `1 << shift` bytes, compressing each with
/// `compress`, which returns for `codec` [`CODEC_ZSTD`] a single-segment Zstandard frame without
/// dictionary or checksum, for [`CODEC_LZ4`] an LZ4 block, or `None` to store the chunk raw.
/// Returns `None` when packing would not save at least [`DATA_ALIGN`] bytes, so the file is
/// better stored raw and read in place.
pub fn pack_body(
    content: &[u8],
    codec: u8,
    shift: u8,
    compress: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    pack_parts(&[content], codec, shift, compress)
}

/// Builds the shared body (format 1.2) of `members`, 2 to [`SHARED_MEMBERS_MAX`] contents that
/// are compressed together, back to back in this order, so each chunk's compressor sees the
/// others' bytes: what makes `foo.pyc` and `foo.opt-1.pyc` cost little more than one of them.
/// Chunks and `compress` as in [`pack_body`]; `None` when that would not save at least
/// [`DATA_ALIGN`] bytes over storing every member raw.
pub fn pack_shared_body(
    members: &[&[u8]],
    codec: u8,
    shift: u8,
    compress: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    if !(2..=SHARED_MEMBERS_MAX).contains(&members.len()) || members.iter().any(|m| m.is_empty()) {
        return None;
    }
    pack_parts(members, codec, shift, compress)
}

/// [`pack_body`] for one part, [`pack_shared_body`] for several.
fn pack_parts(
    parts: &[&[u8]],
    codec: u8,
    shift: u8,
    compress: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total == 0
        || !(CHUNK_SHIFT_MIN..=CHUNK_SHIFT_MAX).contains(&shift)
        || (codec != CODEC_ZSTD && codec != CODEC_LZ4)
    {
        return None;
    }
    let joined;
    let content: &[u8] = if parts.len() == 1 {
        parts[0]
    } else {
        joined = parts.concat();
        &joined
    };
    let chunks: Vec<&[u8]> = content.chunks(1 << shift).collect();
    let count = u32::try_from(chunks.len()).ok()?;
    let members = if parts.len() == 1 {
        0
    } else {
        u16::try_from(parts.len()).ok()?
    };
    let table = if members == 0 {
        PACKED_HEADER
    } else {
        PACKED_HEADER + 8 + 8 * parts.len()
    };
    let data = table + 4 * chunks.len();
    let mut body = alloc::vec![0u8; data];
    body[0] = codec;
    body[1] = shift;
    put_u16(&mut body, 2, members);
    put_u32(&mut body, 4, count);
    if members > 0 {
        put_u64(&mut body, PACKED_HEADER, total as u64);
        let mut start = 0u64;
        for (k, p) in parts.iter().enumerate() {
            put_u64(&mut body, PACKED_HEADER + 8 + 8 * k, start);
            start += p.len() as u64;
        }
    }
    for (i, c) in chunks.iter().enumerate() {
        let fits = |z: &Vec<u8>| {
            z.len() < c.len() && (codec == CODEC_LZ4 || check_frame(z, c.len()).is_ok())
        };
        match compress(c).filter(fits) {
            Some(z) => body.extend_from_slice(&z),
            None => body.extend_from_slice(c),
        }
        let end = u32::try_from(body.len() - data).ok()?;
        put_u32(&mut body, table + 4 * i, end);
        if body.len() + DATA_ALIGN as usize > total {
            return None;
        }
    }
    Some(body)
}

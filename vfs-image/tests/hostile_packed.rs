//! Hostile compressed images (formats 1.1 and 1.2): truncated frames, frames that expand past
//! their declared size (bombs), chunk tables that overlap, bad body headers, member tables of
//! shared bodies that point outside them, and every single bit flipped in a compressed body. Each must be an error or, for a flip the format cannot see
//! without checksums, different bytes of the declared length; never a panic, a hang or an
//! allocation beyond the declared size. `verify` catches every flip by the data checksum.

use vfs_image::format::{
    CHUNK_SHIFT_MIN, CODEC_LZ4, CODEC_ZSTD, HEADER_FLAG_SHARED, INODE_FLAG_SHARED, PACKED_HEADER,
};
use vfs_image::host::{ChunkPacker, Compression};
use vfs_image::{
    meta_checksum, pack_body, pack_shared_body, Contents, Error, Image, ImageBuilder, Meta, Packer,
    Unpacker,
};

const INODE_OFF: usize = 32;
const DATA_OFF: usize = 80;
const DATA_LEN: usize = 88;
const META_SUM: usize = 96;
const DATA_SUM: usize = 104;

fn get64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn set64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn set32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Recomputes both checksums, so `verify` gets past them to the structural and decoding checks.
fn reseal(b: &mut [u8]) {
    let (off, len) = (get64(b, DATA_OFF) as usize, get64(b, DATA_LEN) as usize);
    set64(b, DATA_SUM, vfs_image::data_checksum(&b[off..off + len]));
    let sum = meta_checksum(b, get64(b, INODE_OFF), get64(b, DATA_OFF));
    set64(b, META_SUM, sum);
}

/// Text that compresses (about 4x), `len` bytes.
fn text(len: usize, seed: usize) -> Vec<u8> {
    let words = [
        &b"def "[..],
        b"return ",
        b"self.",
        b"value",
        b" = ",
        b"\n    ",
        b"(x, y)",
    ];
    let mut v = Vec::with_capacity(len);
    let mut i = seed;
    while v.len() < len {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.extend_from_slice(words[(i >> 33) % words.len()]);
    }
    v.truncate(len);
    v
}

/// Zstandard at level 3 or LZ4 (by codec byte) with chunks of 4 KiB (the smallest a reader
/// takes), so a small file has several chunks.
/// Groups of siblings sharing a stem are packed into one shared body, in the same chunks.
struct SmallChunks(u8);

impl SmallChunks {
    fn chunk(&self, chunk: &[u8]) -> Option<Vec<u8>> {
        if self.0 == CODEC_LZ4 {
            return Some(lz4_flex::block::compress(chunk));
        }
        let mut z = zstd::bulk::Compressor::new(3).ok()?;
        z.include_checksum(false).ok()?;
        z.include_dictid(false).ok()?;
        z.compress(chunk).ok()
    }
}

impl Packer for SmallChunks {
    fn pack(&self, contents: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        contents
            .iter()
            .map(|c| pack_body(c, self.0, CHUNK_SHIFT_MIN, &mut |chunk| self.chunk(chunk)))
            .collect()
    }

    fn pack_shared(&self, groups: &[Vec<&[u8]>]) -> Option<Vec<Option<Vec<u8>>>> {
        Some(
            groups
                .iter()
                .map(|m| pack_shared_body(m, self.0, CHUNK_SHIFT_MIN, &mut |c| self.chunk(c)))
                .collect(),
        )
    }
}

/// One file `f` of 10,000 bytes in three 4 KiB Zstandard chunks; and `g`, raw.
fn sample() -> Vec<u8> {
    sample_with(CODEC_ZSTD)
}

/// [`sample`] with `codec`.
fn sample_with(codec: u8) -> Vec<u8> {
    let files = vec![(&b"f"[..], text(10_000, 1)), (b"g", b"raw".to_vec())];
    packed_image(files, &SmallChunks(codec))
}

/// An image of `files` (mode 0644, in the root) stored as `packer` says.
fn packed_image(files: Vec<(&[u8], Vec<u8>)>, packer: &dyn Packer) -> Vec<u8> {
    let mut b = ImageBuilder::new();
    for (name, c) in files {
        b.add_file(name, Meta::with_mode(0o644), c).unwrap();
    }
    let mut out = Vec::new();
    b.finish_packed(Some(packer), &mut |x| {
        out.extend_from_slice(x);
        Ok(())
    })
    .unwrap();
    out
}

/// Where `f`'s body starts in the image.
fn body_at(img: &[u8]) -> usize {
    let i = Image::open(img).unwrap();
    let n = i.resolve(b"f").unwrap().unwrap();
    let Contents::Packed(p) = i.contents(&n).unwrap() else {
        panic!("f is compressed")
    };
    p.body().as_ptr() as usize - img.as_ptr() as usize
}

/// Reads `f` whole, and in 1000-byte pieces; returns the first error.
fn read_f(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    read_named(bytes, b"f")
}

/// [`read_f`] for the file `name`.
fn read_named(bytes: &[u8], name: &[u8]) -> Result<Vec<u8>, Error> {
    let img = Image::open(bytes)?;
    let n = img.resolve(name)?.ok_or(Error::NotFound {
        path: name.to_vec(),
    })?;
    let whole = img.read_file(&n)?.into_owned();
    assert_eq!(
        whole.len() as u64,
        n.size(),
        "a decoded file has its declared size"
    );
    let Contents::Packed(p) = img.contents(&n)? else {
        return Ok(whole);
    };
    let mut u = Unpacker::new();
    let mut pieces = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        let k = u.read_at(&p, pieces.len() as u64, &mut buf)?;
        if k == 0 {
            break;
        }
        pieces.extend_from_slice(&buf[..k]);
        assert!(u.cached_bytes() <= p.chunk_size() as usize);
    }
    assert_eq!(pieces, whole, "reading in pieces gives the same bytes");
    Ok(whole)
}

#[test]
fn the_sample_is_valid_and_compressed() {
    let b = sample();
    let img = Image::open(&b).unwrap();
    assert_eq!(img.header().version_minor, 1);
    let s = img.verify().unwrap();
    assert_eq!(s.compressed_contents, 1);
    assert!(s.compressed_stored_bytes * 2 < s.compressed_raw_bytes);
    assert_eq!(read_f(&b).unwrap(), text(10_000, 1));
    let g = img.resolve(b"g").unwrap().unwrap();
    assert!(!g.is_compressed());
    assert_eq!(img.file_data(&g).unwrap(), b"raw");
    let f = img.resolve(b"f").unwrap().unwrap();
    assert!(matches!(img.file_data(&f), Err(Error::Compressed { .. })));
}

#[test]
fn truncated_frames_are_errors() {
    let b0 = sample();
    let at = body_at(&b0);
    let table = at + PACKED_HEADER;
    // Pull each chunk's end back by 1..=12 bytes: that chunk's frame is cut short and the
    // next one starts inside it.
    for chunk in 0..3 {
        for cut in 1..=12u32 {
            let mut b = b0.clone();
            let e = get32(&b, table + 4 * chunk);
            set32(&mut b, table + 4 * chunk, e - cut);
            let r = read_f(&b);
            assert!(
                matches!(r, Err(Error::BadPacked { .. })),
                "chunk {chunk} cut by {cut}: {r:?}"
            );
            reseal(&mut b);
            if let Ok(img) = Image::open(&b) {
                assert!(img.verify().is_err());
            }
        }
    }
}

#[test]
fn overlapping_chunk_tables_are_errors() {
    let b0 = sample();
    let table = body_at(&b0) + PACKED_HEADER;
    let mut b = b0.clone();
    // Chunk 0 ends after chunk 1 does: the two overlap.
    let e1 = get32(&b, table + 4);
    set32(&mut b, table, e1 + 1);
    // Read whole, chunk 0 now runs into chunk 1's bytes; read from chunk 1 on, the table is
    // seen to overlap.
    assert!(matches!(read_f(&b), Err(Error::BadPacked { .. })));
    let img = Image::open(&b).unwrap();
    let n = img.resolve(b"f").unwrap().unwrap();
    let Contents::Packed(p) = img.contents(&n).unwrap() else {
        panic!("f is compressed")
    };
    let r = Unpacker::new().read_at(&p, 5000, &mut [0u8; 100]);
    assert!(
        matches!(r, Err(Error::BadPacked { why, .. }) if why.contains("overlap")),
        "{r:?}"
    );
}

#[test]
fn bad_body_headers_are_errors_when_the_inode_is_read() {
    let b0 = sample();
    let at = body_at(&b0);
    let cases: [(usize, u8, &str); 4] = [
        (0, 9, "unknown codec"),
        (1, 30, "chunk size out of range"),
        (2, 1, "single member"),
        (4, 7, "chunk count"),
    ];
    for (off, value, why) in cases {
        let mut b = b0.clone();
        b[at + off] = value;
        let img = Image::open(&b).unwrap();
        let e = img.resolve(b"f").unwrap_err();
        assert!(
            matches!(e, Error::BadPacked { why: w, .. } if w.contains(why)),
            "{why}: {e:?}"
        );
    }
    // A chunk table claiming more bytes than the data region holds.
    let mut b = b0.clone();
    set32(&mut b, at + PACKED_HEADER + 8, u32::MAX - 16);
    let img = Image::open(&b).unwrap();
    assert!(img.resolve(b"f").is_err());
}

/// A single-segment frame declaring `declared` bytes whose RLE blocks make `blocks` × 4 KiB.
fn rle_frame(declared: u32, blocks: usize) -> Vec<u8> {
    let mut f = vec![0x28, 0xB5, 0x2F, 0xFD, 0xA0];
    f.extend_from_slice(&declared.to_le_bytes());
    for i in 0..blocks {
        let last = (i + 1 == blocks) as u32;
        let header = last | (1 << 1) | (4096 << 3); // RLE block of 4096 bytes
        f.extend_from_slice(&header.to_le_bytes()[..3]);
        f.push(b'A');
    }
    f
}

#[test]
fn bombs_are_refused_without_allocating_past_the_declared_size() {
    let b0 = sample();
    let at = body_at(&b0);
    let table = at + PACKED_HEADER;
    let start = table + 4 * 3;
    let first_len = get32(&b0, table) as usize;
    let frame_room = first_len;
    // 1. A frame that declares its chunk's 4096 bytes but holds blocks for 256 times that.
    //    It needs to fit in chunk 0's room, so build one of that size: RLE blocks are 4 bytes.
    let blocks = ((frame_room - 9) / 4).min(256);
    assert!(
        blocks >= 2,
        "chunk 0 has room for a bomb of {blocks} blocks"
    );
    let bomb = rle_frame(4096, blocks);
    let mut b = b0.clone();
    b[start..start + bomb.len()].copy_from_slice(&bomb);
    set32(&mut b, table, bomb.len() as u32);
    // The chunk table still must ascend: the next chunk now starts where the bomb ends.
    let r = read_f(&b);
    assert!(
        matches!(r, Err(Error::BadPacked { why, .. }) if why.contains("beyond") || why.contains("bytes after")),
        "{r:?}"
    );
    // 2. A frame declaring more than the chunk holds (1 GiB) is refused before decoding.
    let mut b = b0.clone();
    let big = rle_frame(1 << 30, 1);
    b[start..start + big.len()].copy_from_slice(&big);
    set32(&mut b, table, big.len() as u32);
    let r = read_f(&b);
    assert!(
        matches!(r, Err(Error::BadPacked { why, .. }) if why.contains("declares")),
        "{r:?}"
    );
    // 3. A frame that is not single-segment (its window could be anything) is refused.
    let mut b = b0.clone();
    b[start + 4] &= !0x20;
    assert!(matches!(read_f(&b), Err(Error::BadPacked { .. })));
}

#[test]
fn every_single_bit_flip_in_a_body_is_handled() {
    let b0 = sample();
    let want = text(10_000, 1);
    let at = body_at(&b0);
    let img = Image::open(&b0).unwrap();
    let n = img.resolve(b"f").unwrap().unwrap();
    let end = at + n.stored_len() as usize;
    let mut refused = 0;
    for i in at..end {
        for bit in 0..8 {
            let mut b = b0.clone();
            b[i] ^= 1 << bit;
            match read_f(&b) {
                Err(_) => refused += 1,
                Ok(got) => assert_eq!(got.len(), want.len()),
            }
            let img = Image::open(&b).unwrap();
            assert!(
                img.verify().is_err(),
                "flip of bit {bit} in byte {i} not detected"
            );
        }
    }
    // Many flips break a frame's structure; flips in literals stored as they are cannot be
    // seen without a checksum (as in a raw file) and give other bytes of the right length.
    let total = (end - at) * 8;
    assert!(refused * 4 > total, "{refused} of {total} refused");
}

#[test]
fn the_writer_refuses_malformed_bodies_from_a_packer() {
    struct Liar;
    impl Packer for Liar {
        fn pack(&self, contents: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
            contents
                .iter()
                .map(|_| Some(vec![1, 17, 0, 0, 9, 0, 0, 0]))
                .collect()
        }
    }
    let mut b = ImageBuilder::new();
    b.add_file(b"f", Meta::with_mode(0o644), text(5000, 2))
        .unwrap();
    let r = b.finish_packed(Some(&Liar), &mut |_| Ok(()));
    assert!(matches!(r, Err(Error::Limit(_))), "{r:?}");
    // And the real packer, at any chunk size, round-trips.
    let contents = text(700_000, 3);
    let mut b = ImageBuilder::new();
    b.add_file(b"big", Meta::with_mode(0o644), contents.clone())
        .unwrap();
    let mut out = Vec::new();
    b.finish_packed(
        Some(&ChunkPacker::new(Compression::Zstd { level: 1 })),
        &mut |x| {
            out.extend_from_slice(x);
            Ok(())
        },
    )
    .unwrap();
    let img = Image::open(&out).unwrap();
    let n = img.resolve(b"big").unwrap().unwrap();
    assert!(n.is_compressed());
    assert_eq!(img.read_file(&n).unwrap().as_ref(), &contents[..]);
}

#[test]
fn lz4_bodies_truncated_flipped_or_overflowing_are_handled() {
    let b0 = sample_with(CODEC_LZ4);
    assert_eq!(read_f(&b0).unwrap(), text(10_000, 1));
    let at = body_at(&b0);
    assert_eq!(b0[at], CODEC_LZ4);
    let table = at + PACKED_HEADER;
    for chunk in 0..3 {
        for cut in 1..=12u32 {
            let mut b = b0.clone();
            let e = get32(&b, table + 4 * chunk);
            set32(&mut b, table + 4 * chunk, e - cut);
            assert!(
                matches!(read_f(&b), Err(Error::BadPacked { .. })),
                "chunk {chunk} cut {cut}"
            );
        }
    }
    // A last chunk (1,808 bytes declared) whose block decodes to 4 KiB: refused, nothing
    // written past the chunk's buffer. The writer's checks see only the table, so it takes it.
    struct Overflowing;
    impl Packer for Overflowing {
        fn pack(&self, contents: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
            let more = vec![b'A'; 4096];
            contents
                .iter()
                .map(|c| {
                    pack_body(c, CODEC_LZ4, CHUNK_SHIFT_MIN, &mut |chunk| {
                        let src = if chunk.len() < 4096 { &more[..] } else { chunk };
                        Some(lz4_flex::block::compress(src))
                    })
                })
                .collect()
        }
    }
    let mut b = ImageBuilder::new();
    b.add_file(b"f", Meta::with_mode(0o644), text(10_000, 1))
        .unwrap();
    let mut bomb = Vec::new();
    b.finish_packed(Some(&Overflowing), &mut |x| {
        bomb.extend_from_slice(x);
        Ok(())
    })
    .unwrap();
    let r = read_f(&bomb).map(|v| v.len());
    assert!(
        matches!(r, Err(Error::BadPacked { why, .. }) if why.contains("beyond")),
        "{r:?}"
    );
    let img = Image::open(&b0).unwrap();
    let end = at + img.resolve(b"f").unwrap().unwrap().stored_len() as usize;
    for i in at..end {
        for bit in 0..8 {
            let mut b = b0.clone();
            b[i] ^= 1 << bit;
            if let Ok(got) = read_f(&b) {
                assert_eq!(got.len(), 10_000);
            }
            assert!(Image::open(&b).unwrap().verify().is_err());
        }
    }
}

/// `len` bytes of 64 symbols in no order: Zstandard's entropy coding shrinks them by a
/// quarter, and only a copy of them compresses much (LZ4, which has no entropy coding, keeps
/// them raw).
fn noise(len: usize) -> Vec<u8> {
    let mut i = 7u64;
    (0..len)
        .map(|_| {
            i = i
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            b'0' + (i >> 58) as u8
        })
        .collect()
}

/// The three members of [`shared_sample`], in the order the writer puts them (shortest name
/// first): names and contents. The second is a near-copy of the first, as `.opt-1.pyc` is of
/// `.pyc`; each is longer than a 4 KiB chunk and starts inside one.
fn members() -> [(&'static [u8], Vec<u8>); 3] {
    let mut near = noise(9_000);
    near[4_500] = b'!';
    [
        (b"m.pyc", noise(9_000)),
        (b"m.opt-1.pyc", near),
        (b"m.opt-2.pyc", text(6_001, 2)),
    ]
}

/// An image with one shared body holding [`members`], packed by `codec` in 4 KiB chunks, and
/// a raw file `g`.
fn shared_sample(codec: u8) -> Vec<u8> {
    let mut files = members().to_vec();
    files.push((b"g", b"raw".to_vec()));
    packed_image(files, &SmallChunks(codec))
}

/// Where the shared body starts, and where `name`'s inode record is.
fn shared_at(img: &[u8], name: &[u8]) -> (usize, usize) {
    let i = Image::open(img).unwrap();
    let n = i.resolve(name).unwrap().unwrap();
    let Contents::Packed(p) = i.contents(&n).unwrap() else {
        panic!("{name:?} is compressed")
    };
    let rec = get64(img, INODE_OFF) as usize + 64 * n.ino() as usize;
    (p.body().as_ptr() as usize - img.as_ptr() as usize, rec)
}

/// Reads every member whole and in pieces: their contents, or the first error.
fn read_members(bytes: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    members()
        .iter()
        .map(|(name, _)| read_named(bytes, name))
        .collect()
}

#[test]
fn a_shared_body_reads_back_each_member() {
    for codec in [CODEC_ZSTD, CODEC_LZ4] {
        let b = shared_sample(codec);
        let img = Image::open(&b).unwrap();
        assert_eq!(img.header().version_minor, 2);
        assert_ne!(img.header().flags & HEADER_FLAG_SHARED, 0);
        let s = img.verify().unwrap();
        assert_eq!((s.shared_bodies, s.shared_files), (1, 2));
        assert_eq!(s.compressed_contents, 3);
        let want: Vec<Vec<u8>> = members().into_iter().map(|(_, c)| c).collect();
        assert_eq!(read_members(&b).unwrap(), want);
        // Compressed together, with the writer's own packer (the whole group in one chunk): the
        // near-copy costs next to nothing, where on its own it costs as much as the original.
        let packed = |p: ChunkPacker, skip_copy: bool| {
            let files = members()
                .into_iter()
                .filter(|(name, _)| !(skip_copy && *name == b"m.opt-1.pyc"))
                .collect();
            let out = packed_image(files, &p);
            let s = Image::open(&out).unwrap().verify().unwrap();
            (s.shared_bodies, s.stored_bytes)
        };
        let c = if codec == CODEC_LZ4 {
            Compression::Lz4 { level: 9 }
        } else {
            Compression::Zstd { level: 3 }
        };
        let (bodies, with_copy) = packed(ChunkPacker::new(c), false);
        let (_, without) = packed(ChunkPacker::new(c), true);
        assert_eq!(bodies, 1);
        assert!(with_copy < without + 64, "{with_copy} vs {without}");
        let (none, alone) = packed(ChunkPacker::new(c).without_sharing(), false);
        let (_, alone_without) = packed(ChunkPacker::new(c).without_sharing(), true);
        assert_eq!(none, 0);
        assert!(alone > alone_without + 1000, "{alone} vs {alone_without}");
        // Every member's own bytes, at every offset: a read that starts in one member's last
        // chunk never runs into the next member.
        let n = img.resolve(b"m.opt-1.pyc").unwrap().unwrap();
        let Contents::Packed(p) = img.contents(&n).unwrap() else {
            panic!("compressed")
        };
        assert_eq!(p.members(), 3);
        let mut u = Unpacker::new();
        for at in (0..9_100u64).step_by(997) {
            let mut buf = vec![0u8; 1500];
            let k = u.read_at(&p, at, &mut buf).unwrap();
            let end = (at as usize + 1500).min(9_000);
            assert_eq!(&buf[..k], &want[1][(at as usize).min(9_000)..end]);
        }
    }
}

#[test]
fn hostile_member_tables_are_errors_when_the_inode_is_read() {
    let b0 = shared_sample(CODEC_ZSTD);
    let (at, rec) = shared_at(&b0, b"m.opt-2.pyc");
    // (what to break, expected words in the error)
    type Edit = fn(&mut Vec<u8>, usize, usize);
    let cases: [(Edit, &str); 7] = [
        // The body says one member, or none while the inode says it is shared.
        (|b, at, _| b[at + 2] = 1, "single member"),
        (|b, at, _| b[at + 2] = 0, "no members"),
        // The inode's member index past the table.
        (|b, _, rec| b[rec + 2] = 3, "member index"),
        // The member's start past the decoded length, and at a start that runs past it.
        (
            |b, at, _| set64(b, at + PACKED_HEADER + 8 + 16, 1 << 40),
            "outside",
        ),
        (
            |b, at, _| set64(b, at + PACKED_HEADER + 8 + 16, 20_000),
            "outside",
        ),
        // A decoded length the chunk count does not match.
        (
            |b, at, _| set64(b, at + PACKED_HEADER, 1 << 30),
            "chunk count",
        ),
        // A member table too long for the data region.
        (
            |b, at, rec| {
                b[at + 2] = 0xff;
                b[at + 3] = 0xff;
                b[rec + 2] = 0xfe;
                b[rec + 3] = 0xff;
            },
            "past the data region",
        ),
    ];
    // The inode of `g`, a file of its own.
    let g = Image::open(&b0)
        .unwrap()
        .resolve(b"g")
        .unwrap()
        .unwrap()
        .ino();
    let g_rec = get64(&b0, INODE_OFF) as usize + 64 * g as usize;
    let more: [(Edit, &[u8], &str); 3] = [
        // The inode's shared flag cleared: a file of its own pointing at a shared body.
        (
            |b, _, rec| {
                b[rec + 1] &= !INODE_FLAG_SHARED;
                b[rec + 2] = 0;
            },
            b"m.opt-2.pyc",
            "shared body",
        ),
        // A shared flag in an image whose header does not announce shared bodies.
        (
            |b, _, _| {
                let flags = get32(b, 16) & !HEADER_FLAG_SHARED;
                set32(b, 16, flags);
            },
            b"m.opt-2.pyc",
            "shared",
        ),
        // Reserved inode bytes on a file that is not shared (`rec` is `g`'s here).
        (|b, _, rec| b[rec + 2] = 1, b"g", "reserved"),
    ];
    let all =
        cases
            .iter()
            .map(|&(edit, why)| (edit, &b"m.opt-2.pyc"[..], why, rec))
            .chain(more.iter().map(|&(edit, name, why)| {
                (edit, name, why, if name == b"g" { g_rec } else { rec })
            }));
    for (edit, name, why, rec) in all {
        let mut b = b0.clone();
        edit(&mut b, at, rec);
        let e = Image::open(&b).unwrap().resolve(name).unwrap_err();
        let said = match &e {
            Error::BadPacked { why, .. } | Error::BadInode { why, .. } => *why,
            _ => "",
        };
        assert!(said.contains(why), "{why}: {e:?}");
    }
}

#[test]
fn truncations_and_bit_flips_in_a_shared_body_are_handled() {
    for codec in [CODEC_ZSTD, CODEC_LZ4] {
        let b0 = shared_sample(codec);
        let want: Vec<Vec<u8>> = members().into_iter().map(|(_, c)| c).collect();
        let (at, _) = shared_at(&b0, b"m.pyc");
        let img = Image::open(&b0).unwrap();
        let n = img.resolve(b"m.pyc").unwrap().unwrap();
        let end = at + n.stored_len() as usize;
        let table = at + PACKED_HEADER + 8 + 8 * 3;
        let chunks = (want.iter().map(Vec::len).sum::<usize>()).div_ceil(4096);
        for chunk in 0..chunks {
            let e = get32(&b0, table + 4 * chunk);
            let prev = if chunk == 0 {
                0
            } else {
                get32(&b0, table + 4 * chunk - 4)
            };
            if e - prev == 4096 {
                continue; // stored raw: cutting it only moves bytes
            }
            for cut in 1..=12u32 {
                let mut b = b0.clone();
                set32(&mut b, table + 4 * chunk, e - cut);
                assert!(read_members(&b).is_err(), "chunk {chunk} cut by {cut}");
            }
        }
        // One bit of every byte of the header and tables, and of every 5th byte of the chunks
        // (the bit moves along); all eight of every byte take minutes in a debug build.
        let chunks_at = table + 4 * chunks;
        let mut refused = 0;
        for i in (at..end).filter(|i| *i < chunks_at || i % 5 == 0) {
            let bit = i % 8;
            let mut b = b0.clone();
            b[i] ^= 1 << bit;
            match read_members(&b) {
                Err(_) => refused += 1,
                Ok(got) => {
                    let lens: Vec<usize> = got.iter().map(Vec::len).collect();
                    assert_eq!(lens, vec![9_000, 9_000, 6_001]);
                }
            }
            assert!(
                Image::open(&b).unwrap().verify().is_err(),
                "flip of bit {bit} in byte {i} not detected"
            );
        }
        assert!(refused > 0);
    }
}

//! Writes seed corpora for the image fuzz targets: small valid images, raw and compressed
//! (Zstandard and LZ4, in 4 KiB chunks so that files of a few KiB already have several, and
//! with a shared body of two near-copies, format 1.2), so
//! that mutations start from structures the decoders accept and reach deep into them.
//!
//! Usage (in `fuzz/`): `cargo +nightly run --release --bin seed_images` → `corpus/image_read/`,
//! `corpus/image_overlay/` (the overlay target's input: 2-byte split, lower image, upper image).

use vfs_image::format::{CHUNK_SHIFT_MIN, CODEC_LZ4, CODEC_ZSTD};
use vfs_image::{pack_body, pack_shared_body, ImageBuilder, Meta, Packer};

/// Compresses with `codec` in 4 KiB chunks (the smallest a reader accepts).
struct Small(Option<u8>);

impl Small {
    fn chunk(codec: u8, chunk: &[u8]) -> Option<Vec<u8>> {
        if codec == CODEC_LZ4 {
            return Some(lz4_flex::block::compress(chunk));
        }
        let mut z = zstd::bulk::Compressor::new(3).ok()?;
        z.include_checksum(false).ok()?;
        z.include_dictid(false).ok()?;
        z.compress(chunk).ok()
    }
}

impl Packer for Small {
    fn pack(&self, contents: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        let Some(codec) = self.0 else {
            return vec![None; contents.len()];
        };
        contents
            .iter()
            .map(|c| pack_body(c, codec, CHUNK_SHIFT_MIN, &mut |k| Small::chunk(codec, k)))
            .collect()
    }

    /// Siblings sharing a stem (`mod.py`, `mod.opt-1.py`) go into one shared body (format 1.2).
    fn pack_shared(&self, groups: &[Vec<&[u8]>]) -> Option<Vec<Option<Vec<u8>>>> {
        let codec = self.0?;
        Some(
            groups
                .iter()
                .map(|m| {
                    pack_shared_body(m, codec, CHUNK_SHIFT_MIN, &mut |k| Small::chunk(codec, k))
                })
                .collect(),
        )
    }
}

/// A tree whose files compress: source-like text of a few KiB, a repeated line, a tiny and an
/// empty file, a symlink and a hard link; `variant` changes the contents and adds a whiteout.
fn image(variant: usize, codec: Option<u8>) -> Vec<u8> {
    let m = Meta::with_mode(0o644);
    let mut b = ImageBuilder::new();
    let text: String = (0..170)
        .map(|i| format!("def f{i}(x):\n    return x * {}\n", i * variant + 1))
        .collect();
    // A near-copy beside it, with the same stem: the two share one body.
    let mut near = text.clone().into_bytes();
    near[100] = b'#';
    b.add_file(b"pkg/mod.py", m, text.into_bytes()).unwrap();
    b.add_file(b"pkg/mod.opt-1.py", m, near).unwrap();
    b.add_file(b"pkg/sub/lines.txt", m, b"line\n".repeat(300 + variant))
        .unwrap();
    b.add_file(b"tiny", m, b"x".to_vec()).unwrap();
    b.add_file(b"empty", m, Vec::new()).unwrap();
    b.add_symlink(b"link", Meta::with_mode(0o777), b"pkg/mod.py")
        .unwrap();
    b.add_hardlink(b"pkg/again.py", b"pkg/mod.py").unwrap();
    if variant > 0 {
        b.add_whiteout(b"gone").unwrap();
    }
    let mut out = Vec::new();
    b.finish_packed(Some(&Small(codec)), &mut |x| {
        out.extend_from_slice(x);
        Ok(())
    })
    .unwrap();
    out
}

fn main() {
    let read = std::path::Path::new("corpus/image_read");
    let overlay = std::path::Path::new("corpus/image_overlay");
    std::fs::create_dir_all(read).unwrap();
    std::fs::create_dir_all(overlay).unwrap();
    for (name, codec) in [("none", None), ("zstd", Some(CODEC_ZSTD)), ("lz4", Some(CODEC_LZ4))] {
        for v in 0..2 {
            std::fs::write(read.join(format!("seed-{name}-{v}.vfs")), image(v, codec)).unwrap();
        }
        let (lo, up) = (image(0, codec), image(1, codec));
        let mut pair = u16::try_from(lo.len()).unwrap().to_le_bytes().to_vec();
        pair.extend_from_slice(&lo);
        pair.extend_from_slice(&up);
        std::fs::write(overlay.join(format!("seed-{name}.pair")), pair).unwrap();
    }
    println!("seeds written to {} and {}", read.display(), overlay.display());
}

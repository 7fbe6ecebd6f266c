//! Compressing file contents when packing (format 1.1): the `--compress` choice and the
//! packer, which compresses distinct contents with Zstandard or LZ4 HC on all cores.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::format::{CHUNK_SHIFT, CHUNK_SHIFT_MAX, CODEC_LZ4, CODEC_ZSTD};
use crate::{pack_body, pack_shared_body, Packer};

/// The Zstandard level `--compress zstd` means: chosen by measurement on the CPython stdlib
/// (vfs-image README, "Compression"): past 19 the images barely shrink while packing slows
/// down several times; decoding speed does not depend on the level.
pub const DEFAULT_ZSTD_LEVEL: i32 = 19;
/// The LZ4 HC level `--compress lz4` means: 12, the optimal parser, the smallest LZ4 output
/// (decoding is as fast at every level).
pub const DEFAULT_LZ4_LEVEL: i32 = 12;

/// How a packer stores file contents: `none`, `zstd[:LEVEL]` (1..=22) or `lz4[:LEVEL]`
/// (LZ4 HC, 3..=12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Every file raw, read in place (format 1.0).
    #[default]
    None,
    /// Files that shrink are stored as Zstandard frames of 128 KiB chunks: the smaller images.
    Zstd {
        /// Compression level, 1..=22.
        level: i32,
    },
    /// Files that shrink are stored as LZ4 blocks of 128 KiB chunks: about ten times faster to
    /// decode than Zstandard, about a third larger.
    Lz4 {
        /// LZ4 HC level, 3..=12.
        level: i32,
    },
}

impl Compression {
    /// The packer for this choice, or `None` for raw storage.
    pub fn packer(&self) -> Option<ChunkPacker> {
        match *self {
            Compression::None => None,
            c => Some(ChunkPacker::new(c)),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => write!(f, "none"),
            Compression::Zstd { level } => write!(f, "zstd:{level}"),
            Compression::Lz4 { level } => write!(f, "lz4:{level}"),
        }
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (codec, level) = match s.split_once(':') {
            Some((c, l)) => (c, Some(l)),
            None => (s, None),
        };
        let level_in = |l: Option<&str>, default: i32, lo: i32, hi: i32| match l {
            None => Ok(default),
            Some(l) => match l.parse::<i32>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                _ => Err(format!(
                    "{codec} level {l:?} is not a number from {lo} to {hi}"
                )),
            },
        };
        match codec {
            "none" if level.is_none() => Ok(Compression::None),
            "zstd" => Ok(Compression::Zstd {
                level: level_in(level, DEFAULT_ZSTD_LEVEL, 1, 22)?,
            }),
            "lz4" => Ok(Compression::Lz4 {
                level: level_in(level, DEFAULT_LZ4_LEVEL, 3, 12)?,
            }),
            _ => Err(format!(
                "unknown compression {s:?}: expected none, zstd[:LEVEL] or lz4[:LEVEL]"
            )),
        }
    }
}

/// Compresses contents in chunks of 128 KiB, as [`Compression`] says: Zstandard frames that
/// are single-segment without checksum or dictionary (what readers accept), or LZ4 blocks.
/// Distinct contents are spread over all cores; each is compressed on its own, so the result
/// does not depend on the number of threads and packing stays deterministic.
///
/// Unless [`ChunkPacker::without_sharing`], it also takes the groups the writer offers
/// (siblings sharing a name stem) and compresses each group's members together in one shared
/// body, in chunks of up to 1 MiB ([`shared_shift`]), so that near-copies such as
/// `foo.cpython-311.pyc` and its `.opt-1.pyc` and `.opt-2.pyc` cost little more than one.
#[derive(Clone, Copy, Debug)]
pub struct ChunkPacker {
    compression: Compression,
    threads: usize,
    share: bool,
}

/// The chunk shift of a shared body of `total` bytes: the whole group in one chunk, so every
/// member is compressed against all the others, from 128 KiB up to the 1 MiB a reader allows
/// (larger groups are cut into 1 MiB chunks).
pub fn shared_shift(total: usize) -> u8 {
    let bits = usize::BITS - total.saturating_sub(1).leading_zeros();
    (bits as u8).clamp(CHUNK_SHIFT, CHUNK_SHIFT_MAX)
}

/// One thread's compressor.
enum Worker {
    Zstd(zstd::bulk::Compressor<'static>),
    Lz4(i32),
}

impl Worker {
    fn new(c: Compression) -> Option<Worker> {
        match c {
            Compression::Zstd { level } => {
                let mut cx = zstd::bulk::Compressor::new(level).ok()?;
                // The reader refuses checksums and dictionary ids and needs the content size.
                cx.include_checksum(false).ok()?;
                cx.include_dictid(false).ok()?;
                cx.include_contentsize(true).ok()?;
                Some(Worker::Zstd(cx))
            }
            Compression::Lz4 { level } => Some(Worker::Lz4(level)),
            Compression::None => None,
        }
    }

    /// The codec byte and a chunk compressor for this worker.
    fn codec(&mut self) -> (u8, impl FnMut(&[u8]) -> Option<Vec<u8>> + '_) {
        let codec = match self {
            Worker::Zstd(_) => CODEC_ZSTD,
            Worker::Lz4(_) => CODEC_LZ4,
        };
        (codec, move |chunk: &[u8]| match self {
            Worker::Zstd(cx) => cx.compress(chunk).ok(),
            Worker::Lz4(level) => {
                let mut out = Vec::new();
                lzzzz::lz4_hc::compress_to_vec(chunk, &mut out, *level).ok()?;
                Some(out)
            }
        })
    }

    fn pack(&mut self, content: &[u8]) -> Option<Vec<u8>> {
        let (codec, mut compress) = self.codec();
        pack_body(content, codec, CHUNK_SHIFT, &mut compress)
    }

    fn pack_shared(&mut self, members: &[&[u8]]) -> Option<Vec<u8>> {
        let total = members.iter().map(|m| m.len()).sum();
        let (codec, mut compress) = self.codec();
        pack_shared_body(members, codec, shared_shift(total), &mut compress)
    }
}

impl ChunkPacker {
    /// A packer for `compression`, using every core, sharing bodies among groups.
    pub fn new(compression: Compression) -> ChunkPacker {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        ChunkPacker {
            compression,
            threads,
            share: true,
        }
    }

    /// The same packer with every file compressed on its own (format 1.1): each file's chunks
    /// decode alone, at the cost of the groups' savings.
    pub fn without_sharing(self) -> ChunkPacker {
        ChunkPacker {
            share: false,
            ..self
        }
    }

    /// `job` on every item, spread over the threads (each with its own [`Worker`]); results in
    /// the items' order, whatever the threads did.
    fn each<T: Sync>(
        &self,
        items: &[T],
        job: impl Fn(&mut Worker, &T) -> Option<Vec<u8>> + Sync,
    ) -> Vec<Option<Vec<u8>>> {
        let next = AtomicUsize::new(0);
        let mut out: Vec<Option<Vec<u8>>> = vec![None; items.len()];
        let results: Vec<Vec<(usize, Option<Vec<u8>>)>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..self.threads.max(1))
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        let Some(mut w) = Worker::new(self.compression) else {
                            return done; // cannot compress: everything stays raw
                        };
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(item) = items.get(i) else { break };
                            done.push((i, job(&mut w, item)));
                        }
                        done
                    })
                })
                .collect();
            workers.into_iter().filter_map(|w| w.join().ok()).collect()
        });
        for (i, body) in results.into_iter().flatten() {
            out[i] = body;
        }
        out
    }
}

impl Packer for ChunkPacker {
    fn pack(&self, contents: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        self.each(contents, |w, c| w.pack(c))
    }

    fn pack_shared(&self, groups: &[Vec<&[u8]>]) -> Option<Vec<Option<Vec<u8>>>> {
        self.share
            .then(|| self.each(groups, |w, members| w.pack_shared(members)))
    }
}

/// Lays `image` out again with its file contents stored as `compression` says, keeping its
/// whole tree (whiteouts, opaque directories and hard links included). Like `mksquashfs` of a
/// mounted image with other compressor options.
pub fn recompress(image: &[u8], compression: Compression) -> Result<Vec<u8>, crate::Error> {
    let tree = crate::ImageBuilder::from_image(&crate::Image::open(image)?)?;
    let mut out = Vec::new();
    let packer = compression.packer();
    tree.finish_packed(packer.as_ref().map(|p| p as &dyn Packer), &mut |b| {
        out.extend_from_slice(b);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_choices() {
        assert_eq!("none".parse(), Ok(Compression::None));
        assert_eq!(
            "zstd".parse(),
            Ok(Compression::Zstd {
                level: DEFAULT_ZSTD_LEVEL
            })
        );
        assert_eq!("zstd:3".parse(), Ok(Compression::Zstd { level: 3 }));
        assert!("zstd:0".parse::<Compression>().is_err());
        assert!("zstd:x".parse::<Compression>().is_err());
        assert_eq!("lz4".parse(), Ok(Compression::Lz4 { level: 12 }));
        assert!("lz4:13".parse::<Compression>().is_err());
        assert!("none:1".parse::<Compression>().is_err());
        assert!("gzip".parse::<Compression>().is_err());
        assert_eq!(Compression::Zstd { level: 7 }.to_string(), "zstd:7");
    }

    #[test]
    fn recompressing_keeps_the_tree_and_round_trips() {
        let m = crate::Meta::with_mode(0o644).with_times(7);
        let mut b = crate::ImageBuilder::new();
        b.add_file(b"a/big.py", m, b"x = 1\n".repeat(5000)).unwrap();
        b.add_file(b"a/small", m, b"s".to_vec()).unwrap();
        b.add_hardlink(b"b/link", b"a/big.py").unwrap();
        b.add_symlink(b"sym", crate::Meta::with_mode(0o777), b"a/small")
            .unwrap();
        b.add_whiteout(b"gone").unwrap();
        b.set_opaque(b"b", true).unwrap();
        b.set_meta(b"", crate::Meta::with_mode(0o700).with_times(9))
            .unwrap();
        let raw = b.finish().unwrap();
        let packed = recompress(&raw, Compression::Lz4 { level: 9 }).unwrap();
        assert!(packed.len() < raw.len());
        let img = crate::Image::open(&packed).unwrap();
        img.verify().unwrap();
        assert!(img.resolve(b"a/big.py").unwrap().unwrap().is_compressed());
        assert!(
            img.resolve(b"gone").unwrap().is_none(),
            "a whiteout resolves to nothing"
        );
        // Back to raw: the very bytes the builder wrote (whiteout, opaque flag, hard link,
        // root metadata and all).
        assert_eq!(recompress(&packed, Compression::None).unwrap(), raw);
    }

    #[test]
    fn same_contents_same_bodies_whatever_the_threads() {
        let contents: Vec<Vec<u8>> = (0..40u32)
            .map(|i| {
                (0..(i * 7919) % 300_000)
                    .map(|k| ((k % 251) ^ i) as u8)
                    .collect()
            })
            .collect();
        let refs: Vec<&[u8]> = contents.iter().map(|c| c.as_slice()).collect();
        for compression in [
            Compression::Zstd { level: 3 },
            Compression::Lz4 { level: 9 },
        ] {
            let one = ChunkPacker {
                compression,
                threads: 1,
                share: true,
            }
            .pack(&refs);
            let four = ChunkPacker {
                compression,
                threads: 4,
                share: true,
            }
            .pack(&refs);
            assert_eq!(one, four);
            let packed = one.iter().flatten().count();
            assert!(packed > 30, "repetitive contents must compress ({packed})");
        }
    }
}

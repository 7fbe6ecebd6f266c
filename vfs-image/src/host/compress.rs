//! Compressing file contents when packing (format 1.1): the `--compress` choice and the
//! Zstandard packer, which compresses distinct contents on all cores.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::format::CHUNK_SHIFT;
use crate::{pack_body, Packer};

/// The Zstandard level `--compress zstd` means: chosen by measurement on the CPython stdlib
/// (vfs-image README, "Compression"): past 19 the images barely shrink while packing slows
/// down several times; decoding speed does not depend on the level.
pub const DEFAULT_ZSTD_LEVEL: i32 = 19;

/// How a packer stores file contents: `none`, or `zstd[:LEVEL]` (levels 1..=22).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Every file raw, read in place (format 1.0).
    #[default]
    None,
    /// Files that shrink are stored as Zstandard chunks of 128 KiB.
    Zstd {
        /// Compression level, 1..=22.
        level: i32,
    },
}

impl Compression {
    /// The packer for this choice, or `None` for raw storage.
    pub fn packer(&self) -> Option<Zstd> {
        match *self {
            Compression::None => None,
            Compression::Zstd { level } => Some(Zstd::new(level)),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => write!(f, "none"),
            Compression::Zstd { level } => write!(f, "zstd:{level}"),
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
        match (codec, level) {
            ("none", None) => Ok(Compression::None),
            ("zstd", None) => Ok(Compression::Zstd {
                level: DEFAULT_ZSTD_LEVEL,
            }),
            ("zstd", Some(l)) => match l.parse::<i32>() {
                Ok(level) if (1..=22).contains(&level) => Ok(Compression::Zstd { level }),
                _ => Err(format!("zstd level {l:?} is not a number from 1 to 22")),
            },
            _ => Err(format!(
                "unknown compression {s:?}: expected none, zstd or zstd:LEVEL"
            )),
        }
    }
}

/// Compresses contents with Zstandard into single-segment frames without checksum or
/// dictionary (what readers accept), 128 KiB per chunk, distinct contents spread over all
/// cores. Each content is compressed on its own, so the result does not depend on the number
/// of threads: packing stays deterministic.
#[derive(Clone, Copy, Debug)]
pub struct Zstd {
    level: i32,
    threads: usize,
}

impl Zstd {
    /// A packer at `level`, using every core.
    pub fn new(level: i32) -> Zstd {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Zstd { level, threads }
    }

    fn pack_one(
        &self,
        cx: &mut zstd::bulk::Compressor<'static>,
        content: &[u8],
    ) -> Option<Vec<u8>> {
        pack_body(content, CHUNK_SHIFT, &mut |chunk| cx.compress(chunk).ok())
    }

    fn compressor(&self) -> Option<zstd::bulk::Compressor<'static>> {
        let mut cx = zstd::bulk::Compressor::new(self.level).ok()?;
        // The reader refuses checksums and dictionary ids and needs the content size.
        cx.include_checksum(false).ok()?;
        cx.include_dictid(false).ok()?;
        cx.include_contentsize(true).ok()?;
        Some(cx)
    }
}

impl Packer for Zstd {
    fn pack(&self, contents: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        let next = AtomicUsize::new(0);
        let mut out: Vec<Option<Vec<u8>>> = vec![None; contents.len()];
        let results: Vec<Vec<(usize, Option<Vec<u8>>)>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..self.threads.max(1))
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        let Some(mut cx) = self.compressor() else {
                            return done; // cannot compress: everything stays raw
                        };
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(c) = contents.get(i) else { break };
                            done.push((i, self.pack_one(&mut cx, c)));
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
        assert!("lz4".parse::<Compression>().is_err());
        assert_eq!(Compression::Zstd { level: 7 }.to_string(), "zstd:7");
    }

    #[test]
    fn same_contents_same_bodies_whatever_the_threads() {
        let contents: Vec<Vec<u8>> = (0..40u32)
            .map(|i| {
                (0..(i * 7919) % 300_000)
                    .map(|k| (k % 251 ^ i) as u8)
                    .collect()
            })
            .collect();
        let refs: Vec<&[u8]> = contents.iter().map(|c| c.as_slice()).collect();
        let one = Zstd {
            level: 3,
            threads: 1,
        }
        .pack(&refs);
        let four = Zstd {
            level: 3,
            threads: 4,
        }
        .pack(&refs);
        assert_eq!(one, four);
        assert!(
            one.iter().flatten().count() > 30,
            "repetitive contents must compress"
        );
    }
}

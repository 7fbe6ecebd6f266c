//! A cache of whole-path resolutions: (start directory, path, follow) → inode, or "no such
//! file".
//!
//! Linux keeps a dentry cache so that walking a path costs one hash probe per component; ours
//! keys whole paths, so a repeated lookup of a 5-deep path costs one hash of the path bytes and
//! one comparison instead of six directory lookups. Successful resolutions are kept, and so are
//! `ENOENT` answers (Linux's negative dentries: a program searching a path list, like Python's
//! imports, asks for the same missing names again and again); other errors are not.
//!
//! What a resolution returns depends only on the names in directories (and on symlink targets,
//! which never change, and on `..` links, which change only when names move). So the whole
//! cache is dropped on every change of a directory's entries or of its `..` (adding, removing
//! or replacing a name, loading a directory from the image layers, moving or removing a
//! directory): all of them go through `Fs::edit_names`, as the only way to change a directory
//! is a `DirEdit`, which drops this cache when it is made (`dir.rs`). So a hit can never be
//! stale. An inode
//! number in the cache cannot be freed and reused without one of those changes first (an inode
//! is freed only once it has no name left). Permission bits play no part (they are never
//! checked), and nothing else is remembered: the caller still checks the descriptor it starts
//! from and describes the inode afresh.
//!
//! The cache is direct-mapped: [`SLOTS`] slots, each holding the last path (of at most
//! [`MAX_PATH`] bytes) that hashed to it, so a lookup is one hash, one slot and one comparison,
//! and memory stays bounded. Dropping everything is O(1): each slot records the generation it
//! was filled in, and a change starts a new generation.

use crate::errno::{Errno, Result};
use crate::types::Ino;
use core::hash::BuildHasher;

/// Number of slots (a power of two).
pub(crate) const SLOTS: usize = 256;
/// Longer paths are resolved every time.
pub(crate) const MAX_PATH: usize = 256;

#[derive(Default)]
struct Slot {
    /// Generation this slot was filled in; 0 is never current.
    generation: u64,
    hash: u64,
    start: Ino,
    follow: bool,
    path: Vec<u8>,
    /// The inode, or `None` for `ENOENT`.
    ino: Option<Ino>,
}

/// See the module docs.
pub(crate) struct PathCache {
    slots: Vec<Slot>,
    generation: u64,
    seed: u64,
}

impl Default for PathCache {
    fn default() -> Self {
        PathCache {
            // Allocated on first insert.
            slots: Vec::new(),
            generation: 1,
            // Per filesystem, from the same source as the directories' hash maps.
            seed: hashbrown::DefaultHashBuilder::default().hash_one(0x7673u64),
        }
    }
}

const K: u64 = 0xf135_7aea_2e62_a9c5;

/// Mixes one word in: a multiply, then a rotation so that the low bits (the slot index)
/// depend on all bits.
fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(K).rotate_left(26)
}

fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(b);
    u64::from_le_bytes(w)
}

/// `a == b`, a word at a time: `==` on slices is a call to `memcmp`, which costs more than the
/// comparison of a short path itself.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let mut i = 0;
    while i + 8 <= n {
        if word(&a[i..i + 8]) != word(&b[i..i + 8]) {
            return false;
        }
        i += 8;
    }
    // The last 8 bytes, overlapping the words before.
    i == n || word(&a[n - 8..]) == word(&b[n - 8..])
}

impl PathCache {
    /// One 64-bit multiply per 8 bytes of path: paths are short and hashed on every lookup,
    /// and wasm32 has no 64×64→128-bit multiply, which `foldhash` uses for longer inputs (a
    /// library call there). A collision only costs a comparison and a miss.
    #[inline(always)]
    fn hash(&self, start: Ino, follow: bool, path: &[u8]) -> u64 {
        let mut h = mix(self.seed, start ^ (u64::from(follow) << 63));
        let n = path.len();
        let mut chunks = path.chunks_exact(8);
        for c in &mut chunks {
            h = mix(h, word(c));
        }
        let tail = if chunks.remainder().is_empty() {
            0
        } else if n >= 8 {
            // The last 8 bytes, overlapping the chunks before: one load.
            word(&path[n - 8..])
        } else {
            let mut t = 0u64;
            for (i, &b) in path.iter().enumerate() {
                t |= u64::from(b) << (8 * i);
            }
            t
        };
        mix(mix(h, tail), n as u64)
    }

    /// What resolving `path` from `start` gave last time (an inode, or `Err(ENOENT)`), if
    /// nothing changed since.
    #[inline(always)]
    pub fn get(&self, start: Ino, follow: bool, path: &[u8]) -> Option<Result<Ino>> {
        if self.slots.is_empty() {
            return None;
        }
        let hash = self.hash(start, follow, path);
        let s = self.slots.get(hash as usize & (SLOTS - 1))?;
        (s.hash == hash
            && s.generation == self.generation
            && s.start == start
            && s.follow == follow
            && same_bytes(&s.path, path))
        .then_some(s.ino.ok_or(Errno::ENOENT))
    }

    /// Remembers what a resolution gave (replacing whatever held its slot): an inode, or
    /// `None` for `ENOENT`.
    pub fn insert(&mut self, start: Ino, follow: bool, path: &[u8], ino: Option<Ino>) {
        if path.len() > MAX_PATH {
            return;
        }
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, Slot::default);
        }
        let hash = self.hash(start, follow, path);
        let Some(s) = self.slots.get_mut(hash as usize & (SLOTS - 1)) else {
            return;
        };
        s.generation = self.generation;
        s.hash = hash;
        s.start = start;
        s.follow = follow;
        s.path.clear();
        s.path.extend_from_slice(path);
        s.ino = ino;
    }

    /// Forgets everything: a directory's entries changed.
    pub fn clear(&mut self) {
        self.generation += 1;
    }
}

impl std::fmt::Debug for PathCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PathCache")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

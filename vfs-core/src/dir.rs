//! Directory contents with readdir cookies that survive changes.
//!
//! Every name gets a sequence number when it is inserted, from a counter that only grows. The
//! names are kept in a vector sorted by that number, so a cookie is simply "the next sequence
//! number to hand out from" and is found again by binary search whatever was added or removed
//! meanwhile. Removed names leave a tombstone until enough accumulate to compact the vector
//! (compaction keeps the numbers, so cookies stay valid). Hence an iteration never skips or
//! repeats a name that existed for its whole duration; names added during it may or may not be
//! seen, which POSIX allows. Replacing a name (rename over it) keeps its number.
//!
//! Lookups go through a `hashbrown` map from name to inode, so path walking costs one hash per
//! component.
//!
//! Nothing outside this module can change a directory's names or its `..` except through a
//! [`DirEdit`], and the only way to get one is [`Dir::edit`], which takes the filesystem's path
//! cache and drops it. So whatever must follow a change of names — the path cache dropped, a
//! new listing version (each `DirEdit` change takes one) — cannot be forgotten by a caller.

use crate::cache::PathCache;
use crate::types::{FileType, Ino};
use core::sync::atomic::{AtomicU64, Ordering};
use hashbrown::HashMap;

/// Where listing versions come from: one counter for every directory of every filesystem in
/// the process, so that a version, once handed out, never names another listing (not even one
/// of a new directory that reuses a removed one's inode number).
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

fn fresh_version() -> u64 {
    NEXT_VERSION.fetch_add(1, Ordering::Relaxed)
}

/// Cookie of `.`; `..` is 1, and names start at [`FIRST_SEQ`].
pub(crate) const FIRST_SEQ: u64 = 2;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub ino: Ino,
    pub file_type: FileType,
    seq: u64,
}

#[derive(Debug)]
struct Ordered {
    seq: u64,
    name: Box<[u8]>,
    ino: Ino,
    file_type: FileType,
    live: bool,
}

/// The entries of one directory, plus the link to its parent.
#[derive(Debug)]
pub(crate) struct Dir {
    /// Inode of `..`. The root is its own parent.
    parent: Ino,
    /// Changes whenever what a listing shows changes: a name added, removed or pointed
    /// elsewhere, or `..` moved. See [`Dir::version`].
    version: u64,
    names: HashMap<Box<[u8]>, Slot>,
    order: Vec<Ordered>,
    tombstones: usize,
    next_seq: u64,
    /// Number of entries that are directories: the directory's link count is 2 + this.
    subdirs: u64,
    /// Set while the directory's entries still live only in the read-only image layers:
    /// they are turned into inodes on first use (see `layers.rs`).
    lower: Option<Box<vfs_image::OverlayNode>>,
}

/// A directory opened for changing its names (see the module docs): made only by
/// [`Dir::edit`], which has dropped the path cache first.
pub(crate) struct DirEdit<'d> {
    dir: &'d mut Dir,
}

impl Dir {
    pub fn new(parent: Ino) -> Dir {
        Dir {
            parent,
            version: fresh_version(),
            names: HashMap::new(),
            order: Vec::new(),
            tombstones: 0,
            next_seq: FIRST_SEQ,
            subdirs: 0,
            lower: None,
        }
    }

    /// A directory whose entries are those of `node` in the image layers, still unloaded.
    pub fn unloaded(parent: Ino, node: vfs_image::OverlayNode) -> Dir {
        let mut d = Dir::new(parent);
        d.lower = Some(Box::new(node));
        d
    }

    /// The one way to change this directory's names or its `..`: drops `paths` (any cached
    /// resolution may pass through this directory) and hands out the editor.
    pub fn edit<'d>(&'d mut self, paths: &mut PathCache) -> DirEdit<'d> {
        paths.clear();
        DirEdit { dir: self }
    }

    /// Inode of `..`. The root is its own parent.
    pub fn parent(&self) -> Ino {
        self.parent
    }

    /// Number of entries that are directories: the directory's link count is 2 + this.
    pub fn subdirs(&self) -> u64 {
        self.subdirs
    }

    /// The merged image node whose entries this directory still has only in the layers, if it
    /// has not been loaded yet.
    pub fn lower(&self) -> Option<&vfs_image::OverlayNode> {
        self.lower.as_deref()
    }

    /// The listing's version: equal versions mean the same entries (`..` included) with the
    /// same inodes, types and cookies, so a caller may keep a copy of a listing keyed by it.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of names (not counting `.` and `..`).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn get(&self, name: &[u8]) -> Option<Slot> {
        self.names.get(name).copied()
    }

    fn position(&self, seq: u64) -> Option<usize> {
        self.order.binary_search_by_key(&seq, |o| o.seq).ok()
    }

    /// Calls `f(name, ino, type, next_cookie)` for each name at or after `cookie`
    /// (a cookie below [`FIRST_SEQ`] starts at the first name) until it returns false.
    /// Returns false if `f` stopped the iteration.
    pub fn for_each_from(
        &self,
        cookie: u64,
        mut f: impl FnMut(&[u8], Ino, FileType, u64) -> bool,
    ) -> bool {
        let start = self.order.partition_point(|o| o.seq < cookie);
        for o in &self.order[start..] {
            if o.live && !f(&o.name, o.ino, o.file_type, o.seq + 1) {
                return false;
            }
        }
        true
    }

    /// All live names, in iteration order.
    pub fn names(&self) -> impl Iterator<Item = (&[u8], Slot)> {
        self.order.iter().filter(|o| o.live).map(|o| {
            (
                &*o.name,
                Slot {
                    ino: o.ino,
                    file_type: o.file_type,
                    seq: o.seq,
                },
            )
        })
    }
}

impl DirEdit<'_> {
    /// Points `..` at `parent` (the directory was moved, made the root, or removed).
    pub fn set_parent(&mut self, parent: Ino) {
        self.dir.parent = parent;
        self.dir.version = fresh_version();
    }

    /// Adds a name that is not present (the caller checked).
    pub fn insert(&mut self, name: &[u8], ino: Ino, file_type: FileType) {
        let d = &mut *self.dir;
        let seq = d.next_seq;
        d.next_seq += 1;
        d.version = fresh_version();
        d.names.insert(
            name.into(),
            Slot {
                ino,
                file_type,
                seq,
            },
        );
        d.order.push(Ordered {
            seq,
            name: name.into(),
            ino,
            file_type,
            live: true,
        });
        if file_type == FileType::Directory {
            d.subdirs += 1;
        }
    }

    /// Points an existing name at another inode, keeping its place in iteration order.
    /// Returns the inode it pointed at before.
    pub fn replace(&mut self, name: &[u8], ino: Ino, file_type: FileType) -> Option<Slot> {
        let d = &mut *self.dir;
        let slot = d.names.get_mut(name)?;
        let old = *slot;
        d.version = fresh_version();
        slot.ino = ino;
        slot.file_type = file_type;
        if let Some(i) = d.position(old.seq) {
            d.order[i].ino = ino;
            d.order[i].file_type = file_type;
        }
        if old.file_type == FileType::Directory {
            d.subdirs -= 1;
        }
        if file_type == FileType::Directory {
            d.subdirs += 1;
        }
        Some(old)
    }

    /// Removes a name; returns what it pointed at.
    pub fn remove(&mut self, name: &[u8]) -> Option<Slot> {
        let d = &mut *self.dir;
        let slot = d.names.remove(name)?;
        d.version = fresh_version();
        if let Some(i) = d.position(slot.seq) {
            d.order[i].live = false;
            d.tombstones += 1;
        }
        if slot.file_type == FileType::Directory {
            d.subdirs -= 1;
        }
        if d.names.is_empty() {
            d.order.clear();
            d.tombstones = 0;
        } else if d.tombstones > 16 && d.tombstones * 2 > d.order.len() {
            d.order.retain(|o| o.live);
            d.tombstones = 0;
        }
        Some(slot)
    }

    /// The directory's entries become those of `node` in the image layers, to be loaded on
    /// first use (mounting the layers at the root).
    pub fn set_unloaded(&mut self, node: vfs_image::OverlayNode) {
        self.dir.lower = Some(Box::new(node));
        self.dir.version = fresh_version();
    }

    /// The entries have all been inserted from the image layers: the directory is an ordinary
    /// one from now on.
    pub fn set_loaded(&mut self) {
        self.dir.lower = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Edits `d` as the filesystem does, with a path cache of its own.
    fn ed(d: &mut Dir) -> DirEdit<'_> {
        d.edit(&mut PathCache::default())
    }

    fn list(d: &Dir, cookie: u64) -> Vec<(Vec<u8>, u64)> {
        let mut v = Vec::new();
        d.for_each_from(cookie, |n, _, _, c| {
            v.push((n.to_vec(), c));
            true
        });
        v
    }

    #[test]
    fn cookies_survive_removal_and_compaction() {
        let mut d = Dir::new(1);
        for i in 0..100u64 {
            ed(&mut d).insert(format!("f{i}").as_bytes(), 10 + i, FileType::Regular);
        }
        let all = list(&d, 0);
        assert_eq!(all.len(), 100);
        let resume = all[49].1; // continue after f49
        for i in 0..49u64 {
            ed(&mut d).remove(format!("f{i}").as_bytes()).unwrap();
        }
        ed(&mut d).remove(b"f50").unwrap();
        ed(&mut d).insert(b"new", 500, FileType::Directory);
        let rest = list(&d, resume);
        let names: Vec<_> = rest.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names.first().unwrap(), b"f51");
        assert_eq!(names.len(), 49 + 1);
        assert_eq!(names.last().unwrap(), b"new");
        assert_eq!(d.subdirs(), 1);
    }

    #[test]
    fn replace_keeps_place() {
        let mut d = Dir::new(1);
        ed(&mut d).insert(b"a", 2, FileType::Regular);
        ed(&mut d).insert(b"b", 3, FileType::Regular);
        let old = ed(&mut d).replace(b"a", 9, FileType::Directory).unwrap();
        assert_eq!(old.ino, 2);
        let l = list(&d, 0);
        assert_eq!(l[0].0, b"a");
        assert_eq!(d.get(b"a").unwrap().ino, 9);
        assert_eq!(d.subdirs(), 1);
    }
}

//! The descriptor table: POSIX lowest-free numbering over open file descriptions and
//! opaque host descriptors.

use crate::errno::{Errno, Result};
use crate::lock::FlockMode;
use crate::types::{Access, Fd, FdFlags, Ino};

/// An open file description: what one `open` created.
#[derive(Debug)]
pub(crate) struct OpenFile {
    pub ino: Ino,
    pub offset: u64,
    pub access: Access,
    pub flags: FdFlags,
    /// WASI rights (base, inheriting), stored for the shim and never interpreted here.
    pub rights: (u64, u64),
    /// The `flock` this description holds.
    pub flock: Option<FlockMode>,
    /// Owners that took byte-range locks through this descriptor; closing it releases all of
    /// their range locks on the file (POSIX's close rule).
    pub range_owners: Vec<u64>,
}

/// One slot of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// An open file description, by its key in the table's description slab: `dup` makes a
    /// second slot with the same key, so both share one offset and one set of status flags.
    File(usize),
    /// A descriptor that belongs to the host (stdio, host preopens); the shim handles it.
    Host(u32),
}

/// What closing one slot left behind.
#[derive(Debug)]
pub(crate) enum Closed {
    /// A host descriptor; the shim decides whether the host closes it.
    Host,
    /// The last descriptor of an open file description: the description itself, to release.
    Last(OpenFile),
    /// One of several descriptors of a description (a `dup`): the description lives on, and
    /// these are the owners whose byte-range locks on the file go (POSIX drops a process's
    /// locks on a file when *any* descriptor of it is closed).
    Shared { ino: Ino, range_owners: Vec<u64> },
}

/// An open file description and how many slots refer to it.
#[derive(Debug)]
struct Description {
    file: OpenFile,
    slots: u32,
}

#[derive(Debug, Default)]
pub(crate) struct FdTable {
    slots: Vec<Option<Entry>>,
    /// No free slot below this index.
    first_free: usize,
    descriptions: slab::Slab<Description>,
}

impl FdTable {
    /// Finds the lowest free slot at or above `min`, below `max`.
    fn lowest_free(&self, min: usize, max: u32) -> Result<usize> {
        let mut i = self.first_free.max(min);
        while i < self.slots.len() && self.slots[i].is_some() {
            i += 1;
        }
        if i >= max as usize {
            return Err(Errno::EMFILE);
        }
        Ok(i)
    }

    fn put(&mut self, i: usize, entry: Entry) {
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i] = Some(entry);
        if i == self.first_free {
            self.first_free = i + 1;
        }
    }

    /// Puts a new open file description in the lowest free slot below `max`.
    pub fn alloc_file(&mut self, file: OpenFile, max: u32) -> Result<Fd> {
        let i = self.lowest_free(0, max)?;
        let key = self.descriptions.insert(Description { file, slots: 1 });
        self.put(i, Entry::File(key));
        Ok(i as Fd)
    }

    /// Puts a host descriptor in the lowest free slot below `max`.
    pub fn alloc_host(&mut self, host: u32, max: u32) -> Result<Fd> {
        let i = self.lowest_free(0, max)?;
        self.put(i, Entry::Host(host));
        Ok(i as Fd)
    }

    /// A second descriptor for what `fd` refers to, in the lowest free slot at or above `min`
    /// (`fcntl(F_DUPFD)`; `dup` is `min` 0).
    pub fn dup(&mut self, fd: Fd, min: Fd, max: u32) -> Result<Fd> {
        let entry = self.get(fd).ok_or(Errno::EBADF)?;
        if min >= max {
            return Err(Errno::EINVAL);
        }
        let i = self.lowest_free(min as usize, max)?;
        self.share(entry);
        self.put(i, entry);
        Ok(i as Fd)
    }

    /// Counts one more slot for `entry`'s description (nothing for a host descriptor).
    fn share(&mut self, entry: Entry) {
        if let Entry::File(key) = entry {
            if let Some(d) = self.descriptions.get_mut(key) {
                d.slots += 1;
            }
        }
    }

    /// Whether a slot below `max` is free.
    pub fn has_free(&self, max: u32) -> bool {
        self.lowest_free(0, max).is_ok()
    }

    /// Puts `entry` at exactly `fd`, which must be free and below `max`; a file entry counts
    /// as one more slot of its description.
    pub fn place(&mut self, fd: Fd, entry: Entry, max: u32) -> Result<()> {
        if fd >= max {
            return Err(Errno::EBADF);
        }
        if self.get(fd).is_some() {
            return Err(Errno::EEXIST);
        }
        self.share(entry);
        self.put(fd as usize, entry);
        Ok(())
    }

    pub fn get(&self, fd: Fd) -> Option<Entry> {
        *self.slots.get(fd as usize)?
    }

    pub fn file(&self, fd: Fd) -> Result<&OpenFile> {
        match self.get(fd) {
            Some(Entry::File(key)) => Ok(&self.descriptions[key].file),
            _ => Err(Errno::EBADF),
        }
    }

    pub fn file_mut(&mut self, fd: Fd) -> Result<&mut OpenFile> {
        match self.get(fd) {
            Some(Entry::File(key)) => Ok(&mut self.descriptions[key].file),
            _ => Err(Errno::EBADF),
        }
    }

    /// Empties slot `fd`, saying what it held.
    pub fn take(&mut self, fd: Fd) -> Option<Closed> {
        let e = self.slots.get_mut(fd as usize)?.take()?;
        self.first_free = self.first_free.min(fd as usize);
        while self.slots.last().is_some_and(|s| s.is_none()) {
            self.slots.pop();
        }
        Some(match e {
            Entry::Host(_) => Closed::Host,
            Entry::File(key) => {
                let d = &mut self.descriptions[key];
                d.slots -= 1;
                if d.slots == 0 {
                    Closed::Last(self.descriptions.remove(key).file)
                } else {
                    Closed::Shared {
                        ino: d.file.ino,
                        range_owners: std::mem::take(&mut d.file.range_owners),
                    }
                }
            }
        })
    }

    /// Moves the entry of `from` to the free slot `to` (below `max`), keeping its description.
    pub fn move_entry(&mut self, from: Fd, to: Fd, max: u32) -> Result<()> {
        let entry = self.get(from).ok_or(Errno::EBADF)?;
        self.place(to, entry, max)?;
        // `place` counted `to` as a new slot; emptying `from` takes that count back.
        let _ = self.take(from);
        Ok(())
    }

    /// Whether any slot refers to host descriptor `host`.
    pub fn holds_host(&self, host: u32) -> bool {
        self.slots.contains(&Some(Entry::Host(host)))
    }

    /// Every open file description, with the number of slots referring to it.
    pub fn descriptions(&self) -> impl Iterator<Item = (&OpenFile, u32)> {
        self.descriptions.iter().map(|(_, d)| (&d.file, d.slots))
    }

    pub fn open_count(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_and_limit() {
        let mut t = FdTable::default();
        assert_eq!(t.alloc_host(0, 3), Ok(0));
        assert_eq!(t.alloc_host(1, 3), Ok(1));
        assert_eq!(t.alloc_host(2, 3), Ok(2));
        assert_eq!(t.alloc_host(3, 3), Err(Errno::EMFILE));
        t.take(1).unwrap();
        assert_eq!(t.alloc_host(4, 3), Ok(1));
        t.take(0).unwrap();
        t.take(2).unwrap();
        assert_eq!(t.place(2, Entry::Host(5), 3), Ok(()));
        assert_eq!(t.place(2, Entry::Host(5), 3), Err(Errno::EEXIST));
        assert_eq!(t.place(3, Entry::Host(5), 3), Err(Errno::EBADF));
        assert_eq!(t.alloc_host(6, 3), Ok(0));
    }

    fn file(ino: Ino) -> OpenFile {
        OpenFile {
            ino,
            offset: 0,
            access: Access::Read,
            flags: FdFlags::empty(),
            rights: (0, 0),
            flock: None,
            range_owners: Vec::new(),
        }
    }

    #[test]
    fn dup_shares_one_description_until_the_last_close() {
        let mut t = FdTable::default();
        let a = t.alloc_file(file(7), 8).unwrap();
        assert_eq!(t.dup(a, 5, 8), Ok(5));
        assert_eq!(t.dup(a, 0, 8), Ok(1));
        t.file_mut(5).unwrap().offset = 42;
        assert_eq!(t.file(1).unwrap().offset, 42);
        assert_eq!(t.descriptions().count(), 1);
        assert!(matches!(t.take(a), Some(Closed::Shared { ino: 7, .. })));
        assert!(matches!(t.take(5), Some(Closed::Shared { ino: 7, .. })));
        assert!(matches!(t.take(1), Some(Closed::Last(f)) if f.offset == 42));
        assert_eq!(t.descriptions().count(), 0);
        assert_eq!(t.dup(0, 0, 8), Err(Errno::EBADF));
        let b = t.alloc_file(file(8), 2).unwrap();
        assert_eq!(t.dup(b, 2, 2), Err(Errno::EINVAL));
        t.alloc_host(1, 2).unwrap();
        assert_eq!(t.dup(b, 0, 2), Err(Errno::EMFILE));
    }
}

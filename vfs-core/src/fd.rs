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
#[derive(Debug)]
pub(crate) enum Entry {
    File(OpenFile),
    /// A descriptor that belongs to the host (stdio, host preopens); the shim handles it.
    Host(u32),
}

#[derive(Debug, Default)]
pub(crate) struct FdTable {
    slots: Vec<Option<Entry>>,
    /// No free slot below this index.
    first_free: usize,
}

impl FdTable {
    /// Puts `entry` in the lowest free slot below `max`.
    pub fn alloc(&mut self, entry: Entry, max: u32) -> Result<Fd> {
        let mut i = self.first_free;
        while i < self.slots.len() && self.slots[i].is_some() {
            i += 1;
        }
        if i >= max as usize {
            return Err(Errno::EMFILE);
        }
        if i == self.slots.len() {
            self.slots.push(Some(entry));
        } else {
            self.slots[i] = Some(entry);
        }
        self.first_free = i + 1;
        Ok(i as Fd)
    }

    /// Whether `alloc` would find a slot below `max`.
    pub fn has_free(&self, max: u32) -> bool {
        let mut i = self.first_free;
        while i < self.slots.len() && self.slots[i].is_some() {
            i += 1;
        }
        i < max as usize
    }

    /// Puts `entry` at exactly `fd`, which must be free and below `max`.
    pub fn place(&mut self, fd: Fd, entry: Entry, max: u32) -> Result<()> {
        if fd >= max {
            return Err(Errno::EBADF);
        }
        let i = fd as usize;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        if self.slots[i].is_some() {
            return Err(Errno::EEXIST);
        }
        self.slots[i] = Some(entry);
        if i == self.first_free {
            self.first_free = i + 1;
        }
        Ok(())
    }

    pub fn get(&self, fd: Fd) -> Option<&Entry> {
        self.slots.get(fd as usize)?.as_ref()
    }

    pub fn get_mut(&mut self, fd: Fd) -> Option<&mut Entry> {
        self.slots.get_mut(fd as usize)?.as_mut()
    }

    pub fn file(&self, fd: Fd) -> Result<&OpenFile> {
        match self.get(fd) {
            Some(Entry::File(f)) => Ok(f),
            _ => Err(Errno::EBADF),
        }
    }

    pub fn file_mut(&mut self, fd: Fd) -> Result<&mut OpenFile> {
        match self.get_mut(fd) {
            Some(Entry::File(f)) => Ok(f),
            _ => Err(Errno::EBADF),
        }
    }

    pub fn take(&mut self, fd: Fd) -> Option<Entry> {
        let e = self.slots.get_mut(fd as usize)?.take()?;
        self.first_free = self.first_free.min(fd as usize);
        while self.slots.last().is_some_and(|s| s.is_none()) {
            self.slots.pop();
        }
        Some(e)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Fd, &Entry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|e| (i as Fd, e)))
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
        assert_eq!(t.alloc(Entry::Host(0), 3), Ok(0));
        assert_eq!(t.alloc(Entry::Host(1), 3), Ok(1));
        assert_eq!(t.alloc(Entry::Host(2), 3), Ok(2));
        assert_eq!(t.alloc(Entry::Host(3), 3), Err(Errno::EMFILE));
        t.take(1).unwrap();
        assert_eq!(t.alloc(Entry::Host(4), 3), Ok(1));
        t.take(0).unwrap();
        t.take(2).unwrap();
        assert_eq!(t.place(2, Entry::Host(5), 3), Ok(()));
        assert_eq!(t.place(2, Entry::Host(5), 3), Err(Errno::EEXIST));
        assert_eq!(t.place(3, Entry::Host(5), 3), Err(Errno::EBADF));
        assert_eq!(t.alloc(Entry::Host(6), 3), Ok(0));
    }
}

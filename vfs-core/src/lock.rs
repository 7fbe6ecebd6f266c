//! Advisory locks: `flock` whole-file locks and POSIX byte-range locks.
//!
//! WASI preview 1 has no lock call, so nothing in a guest reaches these today; they are API for
//! embedders and future libc hooks, with the conflict rules of the real calls:
//!
//! * **`flock`** locks belong to an *open file description* (here: one descriptor; this crate
//!   has no `dup`, and `renumber` moves the description with its lock). Many shared or one
//!   exclusive holder per file. Taking a lock you already hold converts it; as on Linux the
//!   conversion is not atomic: the old lock is dropped first, so a conversion that conflicts
//!   leaves the descriptor with no lock. Closing the descriptor drops its lock.
//! * **Byte-range locks** (`fcntl(F_SETLK)`) belong to an *owner* (a process id in POSIX).
//!   Locks of one owner never conflict with each other: a new lock replaces, splits or merges
//!   the owner's older ones over the same bytes. Read locks of different owners coexist; a
//!   write lock conflicts with any other owner's lock on an overlapping byte. As POSIX
//!   requires, closing *any* descriptor of the file releases every range lock that an owner
//!   which locked through that descriptor holds on the file.
//!
//! Nothing ever waits: a single-threaded guest that blocked on its own lock would hang forever,
//! so every conflict is `EWOULDBLOCK` (`EAGAIN`), as with `LOCK_NB` / `F_SETLK`.

use crate::errno::{Errno, Result};
use crate::fs::Fs;
use crate::types::{Fd, FlockOp, Ino, RangeLock, RangeLockKind};

/// Which `flock` a descriptor holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlockMode {
    Shared,
    Exclusive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    owner: u64,
    write: bool,
    start: u64,
    /// One past the last byte; `u64::MAX` means "to the end of the file and beyond".
    end: u64,
}

impl Range {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end
    }
}

/// The locks held on one inode.
#[derive(Debug, Default)]
pub(crate) struct Locks {
    flock_shared: u32,
    flock_exclusive: bool,
    ranges: Vec<Range>,
}

impl Locks {
    pub fn is_empty(&self) -> bool {
        self.flock_shared == 0 && !self.flock_exclusive && self.ranges.is_empty()
    }

    /// Takes `want` for a description that currently holds `held`. As on Linux, a
    /// conversion first drops the held lock, so a conversion that conflicts loses it.
    pub fn flock(&mut self, held: Option<FlockMode>, want: FlockMode) -> Result<()> {
        if held == Some(want) {
            return Ok(());
        }
        self.flock_release(held);
        let conflict = match want {
            FlockMode::Shared => self.flock_exclusive,
            FlockMode::Exclusive => self.flock_exclusive || self.flock_shared > 0,
        };
        if conflict {
            return Err(Errno::EWOULDBLOCK);
        }
        match want {
            FlockMode::Shared => self.flock_shared += 1,
            FlockMode::Exclusive => self.flock_exclusive = true,
        }
        Ok(())
    }

    pub fn flock_release(&mut self, held: Option<FlockMode>) {
        match held {
            Some(FlockMode::Shared) => self.flock_shared = self.flock_shared.saturating_sub(1),
            Some(FlockMode::Exclusive) => self.flock_exclusive = false,
            None => {}
        }
    }

    /// The first lock of another owner that conflicts with `(write, start..end)`.
    fn conflict(&self, owner: u64, write: bool, start: u64, end: u64) -> Option<&Range> {
        self.ranges
            .iter()
            .find(|r| r.owner != owner && (write || r.write) && r.overlaps(start, end))
    }

    /// `fcntl(F_GETLK)`: the first conflicting lock, if any.
    pub fn get_range(&self, owner: u64, write: bool, start: u64, end: u64) -> Option<RangeLock> {
        self.conflict(owner, write, start, end).map(|r| RangeLock {
            owner: r.owner,
            kind: if r.write {
                RangeLockKind::Write
            } else {
                RangeLockKind::Read
            },
            start: r.start,
            len: if r.end == u64::MAX {
                0
            } else {
                r.end - r.start
            },
        })
    }

    /// `fcntl(F_SETLK)`: `kind` None unlocks.
    pub fn set_range(
        &mut self,
        owner: u64,
        kind: Option<bool>,
        start: u64,
        end: u64,
    ) -> Result<()> {
        if let Some(write) = kind {
            if self.conflict(owner, write, start, end).is_some() {
                return Err(Errno::EWOULDBLOCK);
            }
        }
        // Cut the owner's existing locks out of [start, end), keeping the parts outside.
        let mut kept = Vec::with_capacity(self.ranges.len() + 2);
        for r in self.ranges.drain(..) {
            if r.owner != owner || !r.overlaps(start, end) {
                kept.push(r);
                continue;
            }
            if r.start < start {
                kept.push(Range { end: start, ..r });
            }
            if r.end > end {
                kept.push(Range { start: end, ..r });
            }
        }
        self.ranges = kept;
        if let Some(write) = kind {
            // Merge with the owner's same-kind locks that touch the new one, as POSIX does.
            let (mut s, mut e) = (start, end);
            self.ranges.retain(|r| {
                let touches = r.owner == owner && r.write == write && r.start <= e && s <= r.end;
                if touches {
                    s = s.min(r.start);
                    e = e.max(r.end);
                }
                !touches
            });
            self.ranges.push(Range {
                owner,
                write,
                start: s,
                end: e,
            });
        }
        Ok(())
    }

    pub fn release_owner(&mut self, owner: u64) {
        self.ranges.retain(|r| r.owner != owner);
    }
}

impl Fs {
    /// Takes, converts or drops this descriptor's whole-file lock. Like
    /// `flock(fd, LOCK_SH | LOCK_EX | LOCK_UN, LOCK_NB)`: a conflict is `EWOULDBLOCK`; nothing
    /// waits. Any open descriptor may take either kind.
    pub fn flock(&mut self, fd: Fd, op: FlockOp) -> Result<()> {
        let f = self.fds.file(fd)?;
        let (ino, held) = (f.ino, f.flock);
        let inode = self.inodes.get_mut(ino).ok_or(Errno::EBADF)?;
        let locks = inode.locks.get_or_insert_with(Default::default);
        let now_held = match op {
            FlockOp::Unlock => {
                locks.flock_release(held);
                None
            }
            FlockOp::Shared | FlockOp::Exclusive => {
                let want = if op == FlockOp::Shared {
                    FlockMode::Shared
                } else {
                    FlockMode::Exclusive
                };
                let r = locks.flock(held, want);
                if let Err(e) = r {
                    if locks.is_empty() {
                        inode.locks = None;
                    }
                    // The held lock was dropped before the conflict was found.
                    self.fds.file_mut(fd)?.flock = None;
                    return Err(e);
                }
                Some(want)
            }
        };
        if locks.is_empty() {
            inode.locks = None;
        }
        self.fds.file_mut(fd)?.flock = now_held;
        Ok(())
    }

    /// Checks `fd` and turns `start, len` (len 0 = to infinity) into a half-open range.
    fn lock_range_args(
        &self,
        fd: Fd,
        kind: RangeLockKind,
        start: u64,
        len: u64,
    ) -> Result<(Ino, u64, u64)> {
        let f = self.fds.file(fd)?;
        let ok = match kind {
            RangeLockKind::Read => f.access.can_read(),
            RangeLockKind::Write => f.access.can_write(),
            RangeLockKind::Unlock => true,
        };
        if !ok {
            return Err(Errno::EBADF);
        }
        if start > crate::file::MAX_FILE_SIZE {
            return Err(Errno::EINVAL);
        }
        let end = if len == 0 {
            u64::MAX
        } else {
            match start.checked_add(len) {
                Some(e) if e - 1 <= crate::file::MAX_FILE_SIZE => e,
                _ => return Err(Errno::EOVERFLOW),
            }
        };
        Ok((f.ino, start, end))
    }

    /// Sets or removes a byte-range lock for `owner` on bytes `start..start + len` (len 0:
    /// to the end of the file and beyond). Like `fcntl(fd, F_SETLK, ..)` with `l_pid =
    /// owner`: a read lock needs a readable descriptor and a write lock a writable one
    /// (`EBADF`); another owner's conflicting lock is `EWOULDBLOCK`. The owner's own locks
    /// never conflict: they are replaced, split and merged. Closing any descriptor through
    /// which `owner` locked this file releases all of `owner`'s locks on it.
    pub fn lock_range(
        &mut self,
        fd: Fd,
        owner: u64,
        kind: RangeLockKind,
        start: u64,
        len: u64,
    ) -> Result<()> {
        let (ino, start, end) = self.lock_range_args(fd, kind, start, len)?;
        let inode = self.inodes.get_mut(ino).ok_or(Errno::EBADF)?;
        let locks = inode.locks.get_or_insert_with(Default::default);
        let want = match kind {
            RangeLockKind::Read => Some(false),
            RangeLockKind::Write => Some(true),
            RangeLockKind::Unlock => None,
        };
        let r = locks.set_range(owner, want, start, end);
        if locks.is_empty() {
            inode.locks = None;
        }
        r?;
        if want.is_some() {
            let f = self.fds.file_mut(fd)?;
            if !f.range_owners.contains(&owner) {
                f.range_owners.push(owner);
            }
        }
        Ok(())
    }

    /// Reports the first lock of another owner that would block `owner` from taking `kind`
    /// on the range, or `None` if it could. Like `fcntl(fd, F_GETLK, ..)`.
    pub fn get_range_lock(
        &self,
        fd: Fd,
        owner: u64,
        kind: RangeLockKind,
        start: u64,
        len: u64,
    ) -> Result<Option<RangeLock>> {
        if kind == RangeLockKind::Unlock {
            return Err(Errno::EINVAL);
        }
        let (ino, start, end) = self.lock_range_args(fd, RangeLockKind::Unlock, start, len)?;
        let inode = self.inodes.get(ino).ok_or(Errno::EBADF)?;
        Ok(inode
            .locks
            .as_ref()
            .and_then(|l| l.get_range(owner, kind == RangeLockKind::Write, start, end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flock_rules() {
        let mut l = Locks::default();
        l.flock(None, FlockMode::Shared).unwrap();
        l.flock(None, FlockMode::Shared).unwrap();
        assert_eq!(l.flock(None, FlockMode::Exclusive), Err(Errno::EWOULDBLOCK));
        // A holder cannot upgrade while another shares, and loses its shared lock (Linux).
        assert_eq!(
            l.flock(Some(FlockMode::Shared), FlockMode::Exclusive),
            Err(Errno::EWOULDBLOCK)
        );
        assert_eq!(l.flock(None, FlockMode::Exclusive), Err(Errno::EWOULDBLOCK));
        l.flock_release(Some(FlockMode::Shared));
        l.flock(None, FlockMode::Exclusive).unwrap();
        assert_eq!(l.flock(None, FlockMode::Shared), Err(Errno::EWOULDBLOCK));
        l.flock_release(Some(FlockMode::Exclusive));
        assert!(l.is_empty());
    }

    #[test]
    fn ranges_split_merge_conflict() {
        let mut l = Locks::default();
        l.set_range(1, Some(true), 0, 100).unwrap();
        // Same owner never conflicts; unlocking the middle splits.
        l.set_range(1, None, 40, 60).unwrap();
        assert!(l.get_range(2, false, 40, 60).is_none());
        let c = l.get_range(2, false, 0, 50).unwrap();
        assert_eq!((c.owner, c.start, c.len), (1, 0, 40));
        assert_eq!(l.set_range(2, Some(false), 90, 95), Err(Errno::EWOULDBLOCK));
        l.set_range(2, Some(false), 40, 60).unwrap();
        // Read locks of different owners coexist.
        l.set_range(3, Some(false), 45, 50).unwrap();
        assert_eq!(l.set_range(3, Some(true), 45, 50), Err(Errno::EWOULDBLOCK));
        // Merging adjacent same-kind locks of one owner.
        l.set_range(1, Some(true), 200, u64::MAX).unwrap();
        l.set_range(1, Some(true), 100, 200).unwrap();
        let c = l.get_range(9, false, 150, 151).unwrap();
        assert_eq!((c.start, c.len), (60, 0));
        l.release_owner(1);
        l.release_owner(2);
        l.release_owner(3);
        assert!(l.is_empty());
    }
}

//! A full consistency check of the filesystem's internal bookkeeping, for tests and fuzzing.

use crate::fs::Fs;
use crate::inode::Kind;
use crate::types::{FileType, Ino};
use hashbrown::HashMap;

impl Fs {
    /// Verifies every invariant the filesystem relies on: link counts equal the names that
    /// refer to each inode, reference counts equal the open descriptors (plus removed child
    /// directories' pins), every name points at a live inode of the type it records, each
    /// directory's `..` holds its name, nothing unreferenced is left allocated, and the byte
    /// quota's tally equals the bytes held. Returns a description of the first violation.
    ///
    /// Costs a walk of everything; meant for tests, fuzzing and debugging.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut names: HashMap<Ino, u64> = HashMap::new();
        let mut refs: HashMap<Ino, u64> = HashMap::new();
        let mut bytes = 0u64;
        for (ino, inode) in self.inodes.iter() {
            bytes += inode.charged_bytes();
            if let Kind::Dir(d) = &inode.kind {
                let mut subdirs = 0;
                for (name, slot) in d.names() {
                    let Some(child) = self.inodes.get(slot.ino) else {
                        return Err(format!(
                            "{ino}: entry {name:?} points at freed {}",
                            slot.ino
                        ));
                    };
                    if child.file_type() != slot.file_type {
                        return Err(format!("{ino}: entry {name:?} has the wrong type"));
                    }
                    if d.get(name).map(|s| s.ino) != Some(slot.ino) {
                        return Err(format!("{ino}: entry {name:?} not in the name map"));
                    }
                    *names.entry(slot.ino).or_default() += 1;
                    if slot.file_type == FileType::Directory {
                        subdirs += 1;
                        if child.dir().map(|c| c.parent()) != Some(ino) {
                            return Err(format!("{}: `..` is not {ino}", slot.ino));
                        }
                    }
                }
                if subdirs != d.subdirs() || d.len() != d.names().count() {
                    return Err(format!("{ino}: directory counts are off"));
                }
                if inode.nlink == 0 && !d.is_empty() {
                    return Err(format!("{ino}: removed directory has entries"));
                }
                if inode.nlink == 0 && inode.refs > 0 && d.parent() != ino {
                    *refs.entry(d.parent()).or_default() += 1;
                }
            }
        }
        for (f, slots) in self.fds.descriptions() {
            if self.inodes.get(f.ino).is_none() {
                return Err(format!(
                    "an open file description points at freed {}",
                    f.ino
                ));
            }
            if slots == 0 {
                return Err(format!(
                    "an open file description of {} has no descriptor",
                    f.ino
                ));
            }
            *refs.entry(f.ino).or_default() += 1;
        }
        for (ino, inode) in self.inodes.iter() {
            let n = names.get(&ino).copied().unwrap_or(0);
            match inode.kind {
                Kind::Dir(_) if ino == self.root => {}
                Kind::Dir(_) => {
                    let alive = inode.nlink > 0;
                    if alive != (n == 1) || n > 1 {
                        return Err(format!(
                            "{ino}: directory with {n} names, nlink {}",
                            inode.nlink
                        ));
                    }
                }
                _ if inode.nlink != n + inode.lower_links => {
                    return Err(format!(
                        "{ino}: nlink {} but {n} names (+{} in unloaded directories)",
                        inode.nlink, inode.lower_links
                    ));
                }
                _ => {}
            }
            // The stdio devices hold one reference of the filesystem's own.
            let own = u64::from(self.stdio_inos.contains(&ino));
            let r = refs.get(&ino).copied().unwrap_or(0) + own;
            if inode.refs != r {
                return Err(format!("{ino}: refs {} but {r} references", inode.refs));
            }
            if inode.origin.is_some() != self.lower_inos.values().any(|&v| v == ino) {
                return Err(format!("{ino}: image origin map out of step"));
            }
            if inode.nlink == 0 && inode.refs == 0 && ino != self.root {
                return Err(format!("{ino}: unreferenced but not freed"));
            }
        }
        if bytes != self.used_bytes {
            return Err(format!("byte tally {} but {bytes} held", self.used_bytes));
        }
        if self.used_inodes() > self.config.max_inodes.max(1) {
            return Err("inode quota exceeded".into());
        }
        if self.used_bytes > self.config.max_bytes {
            return Err("byte quota exceeded".into());
        }
        Ok(())
    }
}

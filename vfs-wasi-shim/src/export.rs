//! Serializing what the guest wrote as a `vfs-image` layer, so it outlives the instance.
//!
//! The export walks the live tree through `vfs-core`'s public calls (`readdir`, `fstatat`,
//! `read`, `readlink`) and compares each node with the embedded lower layers: what is new or
//! differs goes into the layer, what the lower layers have and the tree no longer has becomes a
//! whiteout. Mounting the result above the same lower layers reproduces the tree.
//!
//! A file that `vfs-core` reports still exactly an image inode (`Fs::untouched_image_file`),
//! found at the path where the lower layers have that same inode, is unchanged without reading
//! it: in a tree mounted from the layers that is nearly every file. Any other file is read and
//! compared with the lower layers' file at its path, which also finds a file changed and then
//! changed back, and works when `lower` is not the stack the tree was mounted from.

use std::collections::HashMap;
use vfs_core::{Access, Fd, FdFlags, FileType, Fs, OFlags, Stat};
use vfs_image::{Image, ImageBuilder, Kind, Meta, Overlay, OverlayNode};

/// Why an export failed.
#[derive(Debug)]
pub enum ExportError {
    /// A filesystem call failed during the walk.
    Fs(vfs_core::Errno),
    /// A lower layer is not a valid image, or the writer refused the tree.
    Image(vfs_image::Error),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Fs(e) => write!(f, "walking the filesystem: {e}"),
            ExportError::Image(e) => write!(f, "writing the layer: {e}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<vfs_core::Errno> for ExportError {
    fn from(e: vfs_core::Errno) -> Self {
        ExportError::Fs(e)
    }
}

impl From<vfs_image::Error> for ExportError {
    fn from(e: vfs_image::Error) -> Self {
        ExportError::Image(e)
    }
}

/// Returns a layer holding every difference between the tree of `fs` and the stack `lower`
/// (lowest first): new and changed files, directories and symlinks, hard links between
/// exported files, and whiteouts for names deleted from the lower layers.
pub fn export_upper(fs: &mut Fs, lower: &[&[u8]]) -> Result<Vec<u8>, ExportError> {
    let images = lower
        .iter()
        .map(|l| Image::open(l))
        .collect::<Result<Vec<_>, _>>()?;
    let overlay = Overlay::new(images);
    let mut w = Walk {
        fs,
        overlay: &overlay,
        out: ImageBuilder::new(),
        inodes: HashMap::new(),
        skipped: HashMap::new(),
    };
    let root = w.fs.open_root()?;
    let r = w.dir(root, b"");
    let _ = w.fs.close(root);
    r?;
    Ok(w.out.finish()?)
}

struct Walk<'f, 'o> {
    fs: &'f mut Fs,
    overlay: &'o Overlay<'o>,
    out: ImageBuilder,
    /// Regular files already exported, by inode: a second name becomes a hard link.
    inodes: HashMap<u64, Vec<u8>>,
    /// Files with more than one name left out at a path where the lower layers already have
    /// them as they are (untouched image inodes, or read and found equal). If another name of the same inode turns up that is not
    /// itself skipped (a new hard link), that path is exported after all, with the new name
    /// linked to it: the same result as when the walk meets the new name first, whatever the
    /// order of the walk.
    skipped: HashMap<u64, Vec<u8>>,
}

fn meta(st: &Stat) -> Meta {
    Meta {
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        atime_ns: st.atime_ns as i64,
        mtime_ns: st.mtime_ns as i64,
        ctime_ns: st.ctime_ns as i64,
    }
}

/// Whether the lower node has the same kind and the metadata an export preserves.
fn same_meta(lower: &OverlayNode, st: &Stat) -> bool {
    let n = lower.top().node;
    n.mode() == st.mode
        && n.uid() == st.uid
        && n.gid() == st.gid
        && n.mtime_ns() == st.mtime_ns as i64
}

impl Walk<'_, '_> {
    fn lower(&self, path: &[u8]) -> Option<OverlayNode> {
        if self.overlay.layers().is_empty() {
            return None;
        }
        self.overlay.resolve(path).ok().flatten()
    }

    /// Exports the directory open at `fd`, whose path is `path` (empty for the root).
    fn dir(&mut self, fd: Fd, path: &[u8]) -> Result<(), ExportError> {
        let mut names: Vec<(Vec<u8>, FileType)> = Vec::new();
        self.fs.readdir(fd, 0, |e| {
            if e.name != b"." && e.name != b".." {
                names.push((e.name.to_vec(), e.file_type));
            }
            true
        })?;
        // Names the lower layers show here but the tree no longer has: whiteouts.
        if let Some(low) = self.lower(path).filter(OverlayNode::is_dir) {
            for e in self.overlay.read_dir(&low)? {
                if !names.iter().any(|(n, _)| n.as_slice() == e.name) {
                    self.out.add_whiteout(&join(path, e.name))?;
                }
            }
        }
        for (name, ft) in names {
            if path.is_empty() && name == b"dev" {
                // The devices are the system's, made afresh at every start, and like Docker,
                // which never commits a container's `/dev`, an exported layer leaves it out.
                continue;
            }
            let child = join(path, &name);
            let st = self.fs.stat(fd, &name, false)?;
            let low = self.lower(&child);
            match ft {
                FileType::Directory => {
                    let unchanged = low
                        .as_ref()
                        .is_some_and(|l| l.is_dir() && same_meta(l, &st));
                    // A directory over a lower file simply replaces it (upper wins).
                    if !unchanged {
                        self.out.add_dir(&child, meta(&st))?;
                    }
                    let sub = self.fs.open(
                        fd,
                        &name,
                        false,
                        OFlags::DIRECTORY,
                        Access::Read,
                        FdFlags::empty(),
                        0,
                    )?;
                    let r = self.dir(sub, &child);
                    let _ = self.fs.close(sub);
                    r?;
                }
                FileType::Regular => {
                    if let Some(first) = self.inodes.get(&st.ino) {
                        let first = first.clone();
                        self.out.add_hardlink(&child, &first)?;
                        continue;
                    }
                    if low.as_ref().is_some_and(|l| self.untouched(l, st.ino)) {
                        self.skip(&st, child);
                        continue;
                    }
                    let data = self.read_file(fd, &name, st.size)?;
                    if let Some(first) = self.skipped.remove(&st.ino) {
                        // Same inode, so the same bytes and metadata as at `first`.
                        self.out.add_file(&first, meta(&st), data)?;
                        self.out.add_hardlink(&child, &first)?;
                        self.inodes.insert(st.ino, first);
                        continue;
                    }
                    let unchanged = low.as_ref().is_some_and(|l| {
                        l.kind() == Kind::File
                            && same_meta(l, &st)
                            && self
                                .overlay
                                .read_file(l)
                                .is_ok_and(|d| *d == *data.as_slice())
                    });
                    if unchanged {
                        self.skip(&st, child);
                    } else {
                        self.out.add_file(&child, meta(&st), data)?;
                        if st.nlink > 1 {
                            self.inodes.insert(st.ino, child);
                        }
                    }
                }
                FileType::Symlink => {
                    let mut buf = vec![0u8; vfs_core::PATH_MAX];
                    let n = self.fs.readlink(fd, &name, &mut buf)?;
                    buf.truncate(n);
                    let unchanged = low.as_ref().is_some_and(|l| {
                        l.kind() == Kind::Symlink
                            && self
                                .overlay
                                .symlink_target(l)
                                .is_ok_and(|t| t == buf.as_slice())
                    });
                    if !unchanged {
                        self.out.add_symlink(&child, meta(&st), &buf)?;
                    }
                }
                // Only `/dev` holds devices, and no directory holds a pipe.
                FileType::CharDevice | FileType::Fifo => {}
            }
        }
        Ok(())
    }

    /// Records a file left out because the lower layers already have it at `path`, in case a
    /// later name of the same inode needs it exported after all (see `skipped`).
    fn skip(&mut self, st: &Stat, path: Vec<u8>) {
        if st.nlink > 1 {
            self.skipped.entry(st.ino).or_insert(path);
        }
    }

    /// Whether the tree's inode `ino` is still exactly `low`, the lower layers' node at its path:
    /// the same inode of the same layer (compared by address, so only when `lower` is the stack
    /// the tree was mounted from), untouched since. Then reading and comparing it would find it
    /// unchanged: its bytes, mode, owner and mtime are that node's.
    fn untouched(&self, low: &OverlayNode, ino: u64) -> bool {
        let top = low.top();
        self.fs.untouched_image_file(ino).is_some_and(|o| {
            o.ino == top.node.ino()
                && self
                    .overlay
                    .layer(top.layer)
                    .is_some_and(|l| core::ptr::eq(l.bytes(), o.image))
        })
    }

    fn read_file(&mut self, dir: Fd, name: &[u8], size: u64) -> Result<Vec<u8>, ExportError> {
        // Files may be sparse and far larger than memory: an error, not an allocation abort.
        let size = usize::try_from(size).map_err(|_| vfs_core::Errno::EFBIG)?;
        let mut data = Vec::new();
        data.try_reserve_exact(size)
            .map_err(|_| vfs_core::Errno::ENOSPC)?;
        data.resize(size, 0u8);
        let fd = self.fs.open(
            dir,
            name,
            false,
            OFlags::empty(),
            Access::Read,
            FdFlags::empty(),
            0,
        )?;
        let mut at = 0;
        let r = loop {
            if at == data.len() {
                break Ok(());
            }
            match self.fs.pread(fd, &mut data[at..], at as u64) {
                Ok(0) => {
                    data.truncate(at);
                    break Ok(());
                }
                Ok(n) => at += n,
                Err(e) => break Err(e),
            }
        };
        let _ = self.fs.close(fd);
        r?;
        Ok(data)
    }
}

/// `dir/name` as an image path (no leading slash at the root).
fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfs_core::Config;

    fn write(fs: &mut Fs, root: Fd, path: &[u8], data: &[u8]) {
        let fd = fs
            .open(
                root,
                path,
                true,
                OFlags::CREAT | OFlags::TRUNC,
                Access::Write,
                FdFlags::empty(),
                0o644,
            )
            .unwrap();
        fs.write(fd, data).unwrap();
        fs.close(fd).unwrap();
    }

    #[test]
    fn exports_a_tree_that_reads_back() {
        let mut fs = Fs::new(Config::default());
        let root = fs.open_root().unwrap();
        fs.mkdir(root, b"d", 0o755).unwrap();
        write(&mut fs, root, b"d/a", b"alpha");
        fs.link(root, b"d/a", false, root, b"d/a2").unwrap();
        fs.symlink(b"d/a", root, b"s").unwrap();
        let layer = export_upper(&mut fs, &[]).unwrap();
        let img = Image::open(&layer).unwrap();
        let a = img.resolve(b"d/a").unwrap().unwrap();
        assert_eq!(img.file_data(&a).unwrap(), b"alpha");
        let a2 = img.resolve(b"d/a2").unwrap().unwrap();
        assert_eq!(a.ino(), a2.ino(), "hard link kept");
        let s = img.resolve(b"s").unwrap().unwrap();
        assert_eq!(img.symlink_target(&s).unwrap(), b"d/a");
    }

    #[test]
    fn whiteouts_for_names_deleted_from_a_lower_layer() {
        let mut b = ImageBuilder::new();
        b.add_file(b"keep", Meta::with_mode(0o644), b"k".to_vec())
            .unwrap();
        b.add_file(b"gone", Meta::with_mode(0o644), b"g".to_vec())
            .unwrap();
        let lower = b.finish().unwrap();
        // The tree as the guest left it: neither lower name is there any more, one new file is.
        let mut fs = Fs::new(Config::default());
        let root = fs.open_root().unwrap();
        write(&mut fs, root, b"new", b"n");
        let layer = export_upper(&mut fs, &[&lower]).unwrap();
        let img = Image::open(&layer).unwrap();
        assert!(img.is_layer());
        let kind = |name: &[u8]| {
            img.lookup(&img.root(), name)
                .unwrap()
                .map(|e| e.node.kind())
        };
        assert_eq!(kind(b"gone"), Some(Kind::Whiteout));
        assert_eq!(kind(b"keep"), Some(Kind::Whiteout));
        let n = img.resolve(b"new").unwrap().unwrap();
        assert_eq!(img.file_data(&n).unwrap(), b"n");
    }

    #[test]
    fn a_tree_mounted_from_layers_and_left_alone_exports_no_entries() {
        let mut b = ImageBuilder::new();
        b.add_file(b"d/f", Meta::with_mode(0o644), b"f".to_vec())
            .unwrap();
        b.add_hardlink(b"d/g", b"d/f").unwrap();
        b.add_symlink(b"s", Meta::with_mode(0o777), b"d/f").unwrap();
        let lower: &'static [u8] = Box::leak(b.finish().unwrap().into_boxed_slice());
        let mut fs = crate::layers::build_fs(Config::default(), &[lower]).unwrap();
        let root = fs.open_root().unwrap();
        assert_eq!(fs.stat(root, b"d/g", true).unwrap().nlink, 2);
        let layer = export_upper(&mut fs, &[lower]).unwrap();
        let img = Image::open(&layer).unwrap();
        let names: Vec<Vec<u8>> = img
            .read_dir(&img.root(), 0)
            .unwrap()
            .map(|e| e.unwrap().name.to_vec())
            .collect();
        assert!(names.iter().all(|n| n == b"." || n == b".."), "{names:?}");
        // A change is exported, and only it.
        write(&mut fs, root, b"d/f", b"changed");
        let layer = export_upper(&mut fs, &[lower]).unwrap();
        let img = Image::open(&layer).unwrap();
        let f = img.resolve(b"d/f").unwrap().unwrap();
        assert_eq!(img.file_data(&f).unwrap(), b"changed");
        assert!(img.resolve(b"s").unwrap().is_none());
    }

    /// What the tree holds at `path` once `layer` is mounted over `lower`.
    fn merged_file(lower: &[u8], layer: &[u8], path: &[u8]) -> Vec<u8> {
        let o = Overlay::new(vec![
            Image::open(lower).unwrap(),
            Image::open(layer).unwrap(),
        ]);
        o.file_data(&o.resolve(path).unwrap().unwrap())
            .unwrap()
            .to_vec()
    }

    /// A layer of regular files (mode 0o644, all times 0), leaked as an embedded layer is, and
    /// a tree mounted from it with its root open.
    fn mounted(files: &[(&[u8], &[u8])]) -> (&'static [u8], Fs, Fd) {
        let mut b = ImageBuilder::new();
        for (path, data) in files {
            b.add_file(path, Meta::with_mode(0o644), data.to_vec())
                .unwrap();
        }
        let lower: &'static [u8] = Box::leak(b.finish().unwrap().into_boxed_slice());
        let mut fs = crate::layers::build_fs(Config::default(), &[lower]).unwrap();
        let root = fs.open_root().unwrap();
        (lower, fs, root)
    }

    #[test]
    fn untouched_image_files_are_not_read() {
        // Times 0: a read would stamp the atime (relatime: atime not later than mtime).
        let (lower, mut fs, root) = mounted(&[(b"d/f", b"f")]);
        assert_eq!(fs.stat(root, b"d/f", false).unwrap().atime_ns, 0);
        let layer = export_upper(&mut fs, &[lower]).unwrap();
        assert_eq!(fs.stat(root, b"d/f", false).unwrap().atime_ns, 0, "read");
        let img = Image::open(&layer).unwrap();
        assert!(img.resolve(b"d/f").unwrap().is_none());
        // A copy of the same bytes is not the same layer: then the file is read and compared.
        let copy: &'static [u8] = Box::leak(lower.to_vec().into_boxed_slice());
        let layer = export_upper(&mut fs, &[copy]).unwrap();
        assert_ne!(
            fs.stat(root, b"d/f", false).unwrap().atime_ns,
            0,
            "not read"
        );
        let img = Image::open(&layer).unwrap();
        assert!(img.resolve(b"d/f").unwrap().is_none());
    }

    #[test]
    fn a_new_hard_link_to_an_untouched_image_file_is_a_link_whatever_the_walk_order() {
        // Names are listed in creation order, image names first, and directories depth first:
        // `a/n` is walked before the image's `z/f`, `z/n` after it.
        for new in [&b"a/n"[..], b"z/n"] {
            let (lower, mut fs, root) = mounted(&[(b"a/x", b"X"), (b"z/f", b"F")]);
            fs.link(root, b"z/f", false, root, new).unwrap();
            let layer = export_upper(&mut fs, &[lower]).unwrap();
            let img = Image::open(&layer).unwrap();
            let name = String::from_utf8_lossy(new);
            let f = img
                .resolve(b"z/f")
                .unwrap()
                .unwrap_or_else(|| panic!("{name}: z/f not exported"));
            let n = img.resolve(new).unwrap().expect("new name exported");
            assert_eq!(n.kind(), Kind::File, "{name}");
            assert_eq!(f.ino(), n.ino(), "{name} exported as a copy, not a link");
            assert_eq!(img.file_data(&n).unwrap(), b"F");
            assert_eq!(merged_file(lower, &layer, b"z/f"), b"F");
        }
    }

    #[test]
    fn untouched_image_files_under_other_names_are_exported() {
        // Two files alike but for their bytes; the guest swaps their directories, so each
        // path now leads to the other's untouched image inode.
        let (lower, mut fs, root) = mounted(&[(b"a/f", b"A"), (b"b/f", b"B")]);
        fs.rename(root, b"a", root, b"t").unwrap();
        fs.rename(root, b"b", root, b"a").unwrap();
        fs.rename(root, b"t", root, b"b").unwrap();
        let layer = export_upper(&mut fs, &[lower]).unwrap();
        assert_eq!(merged_file(lower, &layer, b"a/f"), b"B");
        assert_eq!(merged_file(lower, &layer, b"b/f"), b"A");
    }
}

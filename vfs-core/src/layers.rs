//! Read-only image layers under the writable tree, loaded lazily and read in place.
//!
//! [`Fs::with_layers`] mounts a stack of `vfs-image` layers (lowest first; overlay rules —
//! upper wins, whiteouts hide, opaque directories stop the descent — are `vfs_image::Overlay`'s)
//! as the initial contents of the filesystem. Mounting costs O(1): only the root is touched.
//!
//! A directory whose entries still live only in the layers carries its merged image node
//! (`Dir::lower`). The first time anything looks inside it — a path walk, `readdir`, `rmdir`'s
//! emptiness test — its entries become ordinary inodes, and from then on it is an ordinary
//! directory of the writable tree: changing, removing and renaming names needs no special case
//! (the writable tree *is* the merged view; "whiteouts" are simply names that are gone).
//!
//! Loading a directory copies no file data: a file's bytes stay `FileData::Borrowed` from the
//! image until the first write or truncate copies them up, and borrowed bytes cost no byte
//! quota until then. Metadata (mode, owner, times) is copied into the inode when the directory is
//! loaded, so a metadata change never touches the image. Hard links stay one inode: image inodes
//! are mapped by (layer, image inode) to the inode made for the first name seen, and the image's
//! link count is reported from the start.
//!
//! Path walks take `&self` and must not allocate, so they cannot load a directory themselves:
//! a walk that reaches an unloaded directory stops with `WalkError::NeedsLoad(dir)` (a typed
//! answer, so no state is left behind for the caller to pick up), and the public call loads
//! that directory and runs again ([`Fs::with_load`]). Every operation looks up all the names it
//! needs before it changes anything, so a retry never repeats a change. Each retry loads one
//! more directory, so this costs a few walks once per directory, never again.
//!
//! Exporting the writable tree as a layer (new and changed files, whiteouts for names gone from
//! the layers) is done by `vfs-wasi-shim`'s exporter through the public calls;
//! [`Fs::untouched_image_file`] lets it skip the files that are still exactly the image's
//! without reading them.

use crate::data::FileData;
use crate::dir::Dir;
use crate::errno::{Errno, Result};
use crate::fs::Fs;
use crate::inode::{Inode, Kind};
use crate::path::{WalkError, WalkResult};
use crate::types::{FileType, Ino};
use crate::Config;
use vfs_image::{Image, Overlay, OverlayNode};

/// Which image inode a file still is, exactly: the answer of [`Fs::untouched_image_file`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageOrigin {
    /// The bytes of the layer holding the inode (the slice given to [`Fs::with_layers`], cut to
    /// the image's size, as `vfs_image::Image::bytes` gives it). Compare by address
    /// (`core::ptr::eq`) to tell whether another view of the layers shows this same layer.
    pub image: &'static [u8],
    /// The inode's number in that image (`vfs_image::Node::ino`).
    pub ino: u32,
}

/// What one entry of a directory being loaded becomes.
enum Made {
    /// Another name of an inode made earlier (a hard link).
    Link(Ino, FileType),
    /// Another name of the inode made for entry `index` of this same directory.
    SameAs(usize),
    /// A new inode made from an image inode.
    New(Box<Inode>, (usize, u32)),
}

fn time(ns: i64) -> u64 {
    u64::try_from(ns).unwrap_or(0)
}

impl Fs {
    /// A filesystem whose initial contents are the image `layers` (lowest first), read in place
    /// (like `mount -t overlay` with a tmpfs upper directory). The images are checked only
    /// as far as opening them needs; a corrupt part found later makes the calls that reach it
    /// fail with `EIO`. `EINVAL` if an image cannot be opened.
    pub fn with_layers(config: Config, layers: &[&'static [u8]]) -> Result<Fs> {
        let mut fs = Fs::new(config);
        if layers.is_empty() {
            return Ok(fs);
        }
        let images = layers
            .iter()
            .map(|l| Image::open(l).map_err(|_| Errno::EINVAL))
            .collect::<Result<Vec<_>>>()?;
        let overlay = Overlay::new(images);
        let top = overlay.root().map_err(|_| Errno::EINVAL)?;
        let meta = top.top().node.meta();
        let root = fs.root;
        if let Some(i) = fs.inodes.get_mut(root) {
            i.mode = meta.mode & 0o7777;
            i.uid = meta.uid;
            i.gid = meta.gid;
            i.atime = time(meta.atime_ns);
            i.mtime = time(meta.mtime_ns);
            i.ctime = time(meta.ctime_ns);
        }
        fs.edit_names(root, None, |d| d.set_unloaded(top));
        fs.lower = Some(overlay);
        Ok(fs)
    }

    /// Whether any image layer is mounted.
    pub fn has_layers(&self) -> bool {
        self.lower.is_some()
    }

    /// Runs `f`, loading each directory it stops at unloaded (`WalkError::NeedsLoad`) and
    /// running it again, until it runs without meeting one.
    pub(crate) fn with_load<T>(
        &mut self,
        mut f: impl FnMut(&mut Fs) -> WalkResult<T>,
    ) -> Result<T> {
        loop {
            match f(self) {
                Ok(v) => return Ok(v),
                Err(WalkError::Errno(e)) => return Err(e),
                Err(WalkError::NeedsLoad(dir)) => self.load_dir(dir)?,
            }
        }
    }

    /// Whether inode `ino` is a regular file that is still exactly a file of the image layers,
    /// and which one. "Exactly" means everything `stat` and `read` show, except the atime
    /// (reading is not a change): its bytes are still the image's whole file, borrowed in place
    /// (never written, truncated or copied up since mounting), and its mode, owner, mtime,
    /// ctime and link count are equal to the image inode's. Values are compared, not history:
    /// a change undone (`utimensat` back to the old times, say) still counts once it moved the
    /// ctime, and a time the image holds but `stat` cannot show (before 1970) never matches.
    ///
    /// This says nothing about the file's names: a file keeps its inode when it, or a
    /// directory above it, is renamed. A caller that compares paths (an exporter) must check
    /// that the path it found the file by leads to this same image inode.
    ///
    /// `None` for any other inode: a file created or changed since mounting, a directory, a
    /// symlink, an unknown number, or a filesystem without layers. No POSIX counterpart: it is
    /// what an overlay filesystem knows when it decides whether a file was copied up.
    pub fn untouched_image_file(&self, ino: Ino) -> Option<ImageOrigin> {
        let i = self.inodes.get(ino)?;
        let bytes: &'static [u8] = match &i.kind {
            Kind::File(FileData::Borrowed(b)) => b,
            Kind::File(FileData::Packed(p)) => p.body(),
            _ => return None,
        };
        let (layer, image_ino) = i.origin?;
        let image = self.lower.as_ref()?.layer(layer)?;
        let node = image.node(image_ino).ok()?;
        let meta = node.meta();
        let same = core::ptr::eq(bytes, image.contents(&node).ok()?.stored())
            && i.mode == meta.mode
            && i.uid == meta.uid
            && i.gid == meta.gid
            && i64::try_from(i.mtime) == Ok(meta.mtime_ns)
            && i64::try_from(i.ctime) == Ok(meta.ctime_ns)
            && i.nlink == u64::from(node.nlink()).max(1);
        same.then_some(ImageOrigin {
            image: image.bytes(),
            ino: image_ino,
        })
    }

    /// The merged image node of `dir` if its entries have not been loaded yet.
    pub(crate) fn unloaded(&self, dir: Ino) -> Option<&OverlayNode> {
        self.inodes.get(dir)?.dir()?.lower()
    }

    /// (entries, subdirectories) of a directory still in the layers, read from the layers.
    pub(crate) fn unloaded_counts(&self, dir: Ino) -> Option<(u64, u64)> {
        let node = self.unloaded(dir)?;
        let overlay = self.lower.as_ref()?;
        let entries = overlay.read_dir(node).unwrap_or_default();
        let dirs = entries.iter().filter(|e| e.node.is_dir()).count();
        Some((entries.len() as u64, dirs as u64))
    }

    /// A further name of image inode `ino` has been loaded: it was counted in `nlink` already
    /// unless the image under-counted.
    fn count_lower_link(&mut self, ino: Ino) {
        if let Some(i) = self.inodes.get_mut(ino) {
            if i.lower_links > 0 {
                i.lower_links -= 1;
            } else {
                i.nlink += 1;
            }
        }
    }

    /// Turns the entries of directory `dir` into inodes (see the module docs). Nothing to do
    /// for a directory already loaded. `EIO` if the image is corrupt there; the directory then
    /// stays unloaded.
    pub(crate) fn load_dir(&mut self, dir: Ino) -> Result<()> {
        let Some(node) = self.unloaded(dir).cloned() else {
            return Ok(());
        };
        let overlay = self.lower.as_ref().ok_or(Errno::EIO)?;
        let entries = overlay.read_dir(&node).map_err(|_| Errno::EIO)?;
        let mut made: Vec<(&'static [u8], Made)> = Vec::with_capacity(entries.len());
        let mut firsts: hashbrown::HashMap<(usize, u32), usize> = hashbrown::HashMap::new();
        for e in entries {
            let top = e.node.top();
            let key = (top.layer, top.node.ino());
            let meta = top.node.meta();
            if let Some(&ino) = self.lower_inos.get(&key) {
                let ft = self.file_type_of(ino).ok_or(Errno::EIO)?;
                made.push((e.name, Made::Link(ino, ft)));
                continue;
            }
            if let Some(&first) = firsts.get(&key) {
                made.push((e.name, Made::SameAs(first)));
                continue;
            }
            let kind = match top.node.kind() {
                vfs_image::Kind::File => {
                    Kind::File(match overlay.contents(&e.node).map_err(|_| Errno::EIO)? {
                        vfs_image::Contents::Raw(b) => FileData::Borrowed(b),
                        vfs_image::Contents::Packed(p) => FileData::Packed(p),
                    })
                }
                vfs_image::Kind::Symlink => {
                    let t = overlay.symlink_target(&e.node).map_err(|_| Errno::EIO)?;
                    if t.is_empty() || t.contains(&0) || t.len() >= crate::PATH_MAX {
                        return Err(Errno::EIO);
                    }
                    Kind::Symlink(t.into())
                }
                vfs_image::Kind::Dir => Kind::Dir(Dir::unloaded(dir, e.node.clone())),
                vfs_image::Kind::Whiteout => continue,
            };
            if e.name.is_empty() || e.name.contains(&b'/') || e.name.len() > crate::NAME_MAX {
                return Err(Errno::EIO);
            }
            let mut inode = Inode::new(kind, meta.mode, meta.uid, meta.gid, 0);
            inode.atime = time(meta.atime_ns);
            inode.mtime = time(meta.mtime_ns);
            inode.ctime = time(meta.ctime_ns);
            inode.origin = Some(key);
            if inode.file_type() != FileType::Directory {
                let n = u64::from(top.node.nlink()).max(1);
                inode.nlink = n;
                inode.lower_links = n - 1;
                firsts.insert(key, made.len());
            }
            made.push((e.name, Made::New(Box::new(inode), key)));
        }
        // All checks passed: now change the tree. First the inodes, then all the names at once.
        let mut inos: Vec<(Ino, FileType)> = Vec::with_capacity(made.len());
        let mut names: Vec<&'static [u8]> = Vec::with_capacity(made.len());
        for (name, m) in made {
            let (ino, ft) = match m {
                Made::New(inode, key) => {
                    // The image's link count already counts this first name.
                    let ft = inode.file_type();
                    let ino = self.inodes.insert(*inode);
                    self.lower_inos.insert(key, ino);
                    self.lower_inodes += 1;
                    (ino, ft)
                }
                Made::Link(ino, ft) => {
                    self.count_lower_link(ino);
                    (ino, ft)
                }
                Made::SameAs(i) => {
                    let (ino, ft) = inos.get(i).copied().ok_or(Errno::EIO)?;
                    self.count_lower_link(ino);
                    (ino, ft)
                }
            };
            inos.push((ino, ft));
            names.push(name);
        }
        self.edit_names(dir, None, |d| {
            for (name, &(ino, ft)) in names.iter().zip(&inos) {
                d.insert(name, ino, ft);
            }
            d.set_loaded();
        });
        Ok(())
    }
}

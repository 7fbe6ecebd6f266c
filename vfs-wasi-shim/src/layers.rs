//! Building the guest's filesystem over the image layers embedded in the module.
//!
//! Interim: `vfs-core` has no way yet to mount image layers in place, so the layers' merged
//! tree is *copied* into the writable filesystem at start-up. This keeps every feature working
//! (reading embedded files, stacking layers, exporting the difference) but makes start-up cost
//! grow with the image, which the design forbids; it is to be replaced by core's in-place
//! mount (see the shim's README, "Status").

use std::collections::HashMap;
use vfs_core::{Access, Config, Fd, FdFlags, Fs, OFlags, SetTime};
use vfs_image::{Image, Kind, Overlay, OverlayNode};

/// Creates the filesystem with the embedded `layers` (lowest first) merged by overlay rules.
pub fn build_fs(config: Config, layers: &[&'static [u8]]) -> Result<Fs, String> {
    let mut fs = Fs::new(config);
    if layers.is_empty() {
        return Ok(fs);
    }
    let images = layers
        .iter()
        .enumerate()
        .map(|(i, l)| Image::open(l).map_err(|e| format!("embedded layer {i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let overlay = Overlay::new(images);
    let root = fs.open_root().map_err(|e| e.to_string())?;
    let mut copy = Copy {
        fs: &mut fs,
        overlay: &overlay,
        root,
        links: HashMap::new(),
    };
    let r = overlay
        .root()
        .map_err(|e| e.to_string())
        .and_then(|top| copy.dir(&top, b""));
    let _ = fs.close(root);
    r.map(|()| fs)
}

struct Copy<'f, 'o> {
    fs: &'f mut Fs,
    overlay: &'o Overlay<'o>,
    root: Fd,
    /// (layer, inode) of files already copied, for hard links.
    links: HashMap<(usize, u32), Vec<u8>>,
}

impl Copy<'_, '_> {
    fn dir(&mut self, dir: &OverlayNode, path: &[u8]) -> Result<(), String> {
        let entries = self.overlay.read_dir(dir).map_err(|e| e.to_string())?;
        for e in entries {
            let mut child = path.to_vec();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(e.name);
            let top = e.node.top();
            let meta = top.node.meta();
            let err = |what: &str, x: vfs_core::Errno| {
                format!("{what} {}: {x}", String::from_utf8_lossy(&child))
            };
            match e.node.kind() {
                Kind::Dir => {
                    self.fs
                        .mkdir(self.root, &child, meta.mode)
                        .map_err(|x| err("mkdir", x))?;
                    self.dir(&e.node, &child)?;
                }
                Kind::File => {
                    if let Some(first) = self.links.get(&(top.layer, top.node.ino())) {
                        let first = first.clone();
                        self.fs
                            .link(self.root, &first, false, self.root, &child)
                            .map_err(|x| err("link", x))?;
                        continue;
                    }
                    let data = self.overlay.file_data(&e.node).map_err(|x| x.to_string())?;
                    let fd = self
                        .fs
                        .open(
                            self.root,
                            &child,
                            false,
                            OFlags::CREAT | OFlags::EXCL,
                            Access::Write,
                            FdFlags::empty(),
                            meta.mode,
                        )
                        .map_err(|x| err("create", x))?;
                    let w = self.fs.write(fd, data);
                    let _ = self.fs.close(fd);
                    w.map_err(|x| err("write", x))?;
                    if top.node.nlink() > 1 {
                        self.links
                            .insert((top.layer, top.node.ino()), child.clone());
                    }
                }
                Kind::Symlink => {
                    let target = self
                        .overlay
                        .symlink_target(&e.node)
                        .map_err(|x| x.to_string())?;
                    self.fs
                        .symlink(target, self.root, &child)
                        .map_err(|x| err("symlink", x))?;
                }
                Kind::Whiteout => continue,
            }
            let t = |ns: i64| SetTime::At(u64::try_from(ns).unwrap_or(0));
            self.fs
                .utimensat(self.root, &child, false, t(meta.atime_ns), t(meta.mtime_ns))
                .map_err(|x| err("utimensat", x))?;
        }
        Ok(())
    }
}

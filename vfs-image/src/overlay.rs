//! Overlay rules over a stack of image layers, as overlayfs and OCI define them:
//!
//! - **upper wins**: a name found in a higher layer hides the same name below, unless both are
//!   directories, which merge;
//! - **a whiteout hides**: a whiteout in a layer hides the name in every layer below it;
//! - **an opaque directory hides everything below**: a merged directory stops at the first
//!   opaque layer.
//!
//! [`Overlay`] answers `lookup` and `readdir` on the merged view without copying the images;
//! `vfs-core` mounts it, and [`squash`] flattens it into one image.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::node::{Kind, Node};
use crate::reader::{Contents, Image};
use crate::writer::ImageBuilder;

/// A node of one layer: which layer, and the node there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerNode {
    /// Index of the layer in the stack (0 is the lowest).
    pub layer: usize,
    /// The node in that layer's image.
    pub node: Node,
}

/// A node of the merged view. A directory may be made of several layers' directories (highest
/// first; the first one gives the metadata); anything else is exactly one layer's node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlayNode {
    parts: Vec<LayerNode>,
}

impl OverlayNode {
    /// The node that decides the metadata (`stat`) of the merged node: the highest one.
    pub fn top(&self) -> LayerNode {
        // `parts` is never empty (constructed only with at least one part).
        self.parts.first().copied().unwrap_or(LayerNode {
            layer: 0,
            node: Node {
                ino: 0,
                kind: Kind::Dir,
                opaque: false,
                parent: 0,
                nlink: 2,
                size: 0,
                offset: 0,
                stored: 0,
                compressed: false,
                member: None,
                meta: crate::Meta::with_mode(0o755),
            },
        })
    }
    /// The layers' nodes making up this node, highest first.
    pub fn parts(&self) -> &[LayerNode] {
        &self.parts
    }
    /// The kind of the merged node.
    pub fn kind(&self) -> Kind {
        self.top().node.kind()
    }
    /// Is it a directory?
    pub fn is_dir(&self) -> bool {
        self.kind() == Kind::Dir
    }
}

/// One entry of a merged directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlayEntry<'a> {
    /// The name, borrowed from the layer that supplies it.
    pub name: &'a [u8],
    /// What it resolves to in the merged view.
    pub node: OverlayNode,
}

/// A read-only stack of image layers; `layers[0]` is the lowest, the last is the highest.
#[derive(Clone, Debug)]
pub struct Overlay<'a> {
    layers: Vec<Image<'a>>,
}

/// How a name resolves while merging a directory, layer by layer from the top.
enum Merge {
    /// Hidden by a whiteout (or by a non-directory above when a directory is below).
    Hidden,
    /// A non-directory from one layer.
    Leaf(LayerNode),
    /// A directory; `open` says whether lower layers may still add to it.
    Dir(Vec<LayerNode>, bool),
}

impl<'a> Overlay<'a> {
    /// A stack of layers, lowest first. Like `mount -t overlay -o lowerdir=...`.
    pub fn new(layers: Vec<Image<'a>>) -> Overlay<'a> {
        Overlay { layers }
    }

    /// The layers, lowest first.
    pub fn layers(&self) -> &[Image<'a>] {
        &self.layers
    }

    /// The image of layer `i`.
    pub fn layer(&self, i: usize) -> Option<&Image<'a>> {
        self.layers.get(i)
    }

    /// The merged root: every layer's root from the top, down to the first opaque one.
    pub fn root(&self) -> Result<OverlayNode> {
        let mut parts = Vec::new();
        for (layer, img) in self.layers.iter().enumerate().rev() {
            let node = img.root();
            parts.push(LayerNode { layer, node });
            if node.is_opaque() {
                break;
            }
        }
        if parts.is_empty() {
            return Err(Error::BadHeader("overlay of zero layers"));
        }
        Ok(OverlayNode { parts })
    }

    fn image(&self, layer: usize) -> Result<&Image<'a>> {
        match self.layers.get(layer) {
            Some(img) => Ok(img),
            None => Err(Error::BadHeader("layer index out of range")),
        }
    }

    /// Looks `name` up in a merged directory (POSIX `openat(dir, name, O_PATH|O_NOFOLLOW)`):
    /// upper wins, whiteouts hide, opaque directories stop the descent. `None` when absent.
    pub fn lookup(&self, dir: &OverlayNode, name: &[u8]) -> Result<Option<OverlayNode>> {
        if !dir.is_dir() {
            return Err(Error::NotADirectory {
                ino: dir.top().node.ino(),
            });
        }
        let mut parts = Vec::new();
        for part in &dir.parts {
            let Some(e) = self.image(part.layer)?.lookup(&part.node, name)? else {
                continue;
            };
            let found = LayerNode {
                layer: part.layer,
                node: e.node,
            };
            match e.node.kind() {
                Kind::Whiteout => break,
                Kind::Dir => {
                    parts.push(found);
                    if e.node.is_opaque() {
                        break;
                    }
                }
                _ => {
                    // A file below a directory is hidden by it; a file on top hides the rest.
                    if parts.is_empty() {
                        parts.push(found);
                    }
                    break;
                }
            }
        }
        Ok(if parts.is_empty() {
            None
        } else {
            Some(OverlayNode { parts })
        })
    }

    /// All entries of a merged directory in name order, whiteouts and hidden names removed
    /// (POSIX `readdir`). The order is stable, so an index into the result is a valid
    /// `telldir` cookie for as long as the layers live.
    pub fn read_dir(&self, dir: &OverlayNode) -> Result<Vec<OverlayEntry<'a>>> {
        if !dir.is_dir() {
            return Err(Error::NotADirectory {
                ino: dir.top().node.ino(),
            });
        }
        let mut names: BTreeMap<&'a [u8], Merge> = BTreeMap::new();
        for part in &dir.parts {
            for e in self.image(part.layer)?.read_dir(&part.node, 0)? {
                let e = e?;
                let found = LayerNode {
                    layer: part.layer,
                    node: e.node,
                };
                match names.get_mut(e.name) {
                    None => {
                        let m = match e.node.kind() {
                            Kind::Whiteout => Merge::Hidden,
                            Kind::Dir => Merge::Dir(vec![found], !e.node.is_opaque()),
                            _ => Merge::Leaf(found),
                        };
                        names.insert(e.name, m);
                    }
                    Some(Merge::Dir(parts, open)) if *open => match e.node.kind() {
                        Kind::Dir => {
                            parts.push(found);
                            *open = !e.node.is_opaque();
                        }
                        // A whiteout or file below a directory ends its merge.
                        _ => *open = false,
                    },
                    Some(_) => {}
                }
            }
        }
        Ok(names
            .into_iter()
            .filter_map(|(name, m)| match m {
                Merge::Hidden => None,
                Merge::Leaf(n) => Some(OverlayEntry {
                    name,
                    node: OverlayNode { parts: vec![n] },
                }),
                Merge::Dir(parts, _) => Some(OverlayEntry {
                    name,
                    node: OverlayNode { parts },
                }),
            })
            .collect())
    }

    /// The contents of a merged regular file stored raw (zero copy, from the layer that owns
    /// it); [`Error::Compressed`](crate::Error::Compressed) for a compressed one.
    pub fn file_data(&self, node: &OverlayNode) -> Result<&'a [u8]> {
        let top = node.top();
        self.image(top.layer)?.file_data(&top.node)
    }

    /// The contents of a merged regular file as its layer stores them ([`Image::contents`]).
    pub fn contents(&self, node: &OverlayNode) -> Result<Contents<'a>> {
        let top = node.top();
        self.image(top.layer)?.contents(&top.node)
    }

    /// The whole contents of a merged regular file, decoded if compressed ([`Image::read_file`]).
    pub fn read_file(&self, node: &OverlayNode) -> Result<Cow<'a, [u8]>> {
        let top = node.top();
        self.image(top.layer)?.read_file(&top.node)
    }

    /// The target of a merged symlink (POSIX `readlink`).
    pub fn symlink_target(&self, node: &OverlayNode) -> Result<&'a [u8]> {
        let top = node.top();
        self.image(top.layer)?.symlink_target(&top.node)
    }

    /// Resolves a `/`-separated path from the merged root without following symlinks.
    /// `None` when any component is missing or whited out. `..` is not supported here (the
    /// merged view has no parent links); it yields an error.
    pub fn resolve(&self, path: &[u8]) -> Result<Option<OverlayNode>> {
        let mut cur = self.root()?;
        for comp in path.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => continue,
                b".." => {
                    return Err(Error::InvalidPath {
                        path: path.to_vec(),
                        why: "'..' in path",
                    })
                }
                name => match self.lookup(&cur, name)? {
                    Some(n) => cur = n,
                    None => return Ok(None),
                },
            }
        }
        Ok(Some(cur))
    }
}

/// Flattens a stack of layers (lowest first) into one image holding the merged view: no
/// whiteouts, no opaque flags, hard links within a layer kept. Like exporting a container's
/// filesystem. The result is byte-identical to packing the merged tree directly.
pub fn squash(layers: &[Image<'_>]) -> Result<Vec<u8>> {
    squash_tree(layers)?.finish()
}

/// The merged tree of [`squash`], not yet laid out (to finish it compressed, say).
pub fn squash_tree(layers: &[Image<'_>]) -> Result<ImageBuilder> {
    let overlay = Overlay::new(layers.to_vec());
    let mut b = ImageBuilder::new();
    let root = overlay.root()?;
    b.add_dir(b"", root.top().node.meta())?;
    // First path at which each (layer, inode) was written, to recreate hard links.
    let mut first_path: BTreeMap<(usize, u32), Vec<u8>> = BTreeMap::new();
    // Depth-first with an explicit stack; the merged tree is finite because each layer's
    // directories strictly descend in inode number (checked by the reader).
    let mut stack: Vec<(Vec<u8>, OverlayNode)> = vec![(Vec::new(), root)];
    while let Some((path, dir)) = stack.pop() {
        for e in overlay.read_dir(&dir)? {
            let mut p = path.clone();
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(e.name);
            let top = e.node.top();
            let meta = top.node.meta();
            match top.node.kind() {
                Kind::Dir => {
                    b.add_dir(&p, meta)?;
                    stack.push((p, e.node));
                }
                Kind::File | Kind::Symlink => {
                    let key = (top.layer, top.node.ino());
                    if let Some(existing) = first_path.get(&key) {
                        b.add_hardlink(&p, existing)?;
                        continue;
                    }
                    if top.node.kind() == Kind::File {
                        b.add_file(&p, meta, overlay.read_file(&e.node)?.into_owned())?;
                    } else {
                        b.add_symlink(&p, meta, overlay.symlink_target(&e.node)?)?;
                    }
                    if top.node.nlink() > 1 {
                        first_path.insert(key, p);
                    }
                }
                // `read_dir` drops whiteouts.
                Kind::Whiteout => {}
            }
        }
    }
    Ok(b)
}

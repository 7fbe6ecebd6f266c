//! The writer: build a tree in memory with [`ImageBuilder`], then [`ImageBuilder::finish`] lays
//! it out deterministically.
//!
//! Determinism comes from the layout rules, not from the order of calls: children are kept in
//! byte-sorted maps, inode numbers are given breadth-first in that order, and file data is stored
//! in inode order. Nothing depends on hash-map iteration or on the clock.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::format::*;
use crate::node::{Kind, Meta};
use crate::packed::Packed;
use crate::reader::Image;
use crate::verify::meta_checksum;

/// Default metadata of directories the builder creates on its own (missing parents, the root):
/// mode 0755, owner 0:0, times at the epoch.
pub const DEFAULT_DIR_META: Meta = Meta::with_mode(0o755);

/// Decides how file contents are stored (`vfs_image::host::Zstd` compresses with Zstandard).
pub trait Packer {
    /// For each distinct content of an image, in order, its packed body (built with
    /// [`pack_body`](crate::pack_body)) or `None` to store it raw. The same contents must give
    /// the same bodies, or the image is not reproducible.
    fn pack(&self, contents: &[&[u8]]) -> Vec<Option<Vec<u8>>>;

    /// For each group of distinct contents (2 to [`SHARED_MEMBERS_MAX`] files of one directory
    /// whose names share a stem, see [`ImageBuilder::finish_packed`]), in order, one shared
    /// body of them all (built with [`pack_shared_body`](crate::pack_shared_body), members in
    /// the given order), or `None` to pack that group's contents one by one. The default,
    /// `None` for the whole call, shares nothing (format 1.1 at most).
    fn pack_shared(&self, groups: &[Vec<&[u8]>]) -> Option<Vec<Option<Vec<u8>>>> {
        let _ = groups;
        None
    }
}

/// The part of a name before its first dot, a leading dot belonging to the name (`foo` of
/// `foo.cpython-311.opt-1.pyc`, `.bashrc` of `.bashrc`): files of one directory with the same
/// stem are offered to [`Packer::pack_shared`] as a group.
fn stem(name: &[u8]) -> &[u8] {
    let lead = name.iter().take_while(|&&b| b == b'.').count();
    match name[lead..].iter().position(|&b| b == b'.') {
        Some(p) => &name[..lead + p],
        None => name,
    }
}

/// Where a distinct content is stored.
#[derive(Clone, Copy)]
enum Stored {
    /// Its bytes, raw.
    Raw,
    /// Its own packed body (index into the single bodies).
    Body,
    /// Member `k` of shared body `g`.
    Shared { g: usize, k: u16 },
}

#[derive(Clone, Debug)]
enum Body {
    /// Contents, and their XXH3-128 if the caller computed it already.
    File(Vec<u8>, Option<u128>),
    Dir {
        children: BTreeMap<Vec<u8>, usize>,
        opaque: bool,
    },
    Symlink(Vec<u8>),
    Whiteout,
}

#[derive(Clone, Debug)]
struct BNode {
    body: Body,
    meta: Meta,
}

/// Builds an image from an in-memory tree description: paths are `/`-separated byte strings
/// relative to the root (a leading `/` is ignored). Missing parent directories are created with
/// [`DEFAULT_DIR_META`].
///
/// ```
/// use vfs_image::{Image, ImageBuilder, Meta};
/// let mut b = ImageBuilder::new();
/// b.add_file(b"etc/motd", Meta::with_mode(0o644), b"hi\n".to_vec()).unwrap();
/// b.add_symlink(b"motd", Meta::with_mode(0o777), b"etc/motd").unwrap();
/// let bytes = b.finish().unwrap();
/// let img = Image::open(&bytes).unwrap();
/// let f = img.resolve(b"etc/motd").unwrap().unwrap();
/// assert_eq!(img.file_data(&f).unwrap(), b"hi\n");
/// ```
#[derive(Clone, Debug)]
pub struct ImageBuilder {
    nodes: Vec<BNode>,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Splits a path into validated components.
fn components(path: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => continue,
            _ => {
                check_name(c).map_err(|why| Error::InvalidPath {
                    path: path.to_vec(),
                    why,
                })?;
                out.push(c);
            }
        }
    }
    Ok(out)
}

impl ImageBuilder {
    /// An empty tree: just the root directory.
    pub fn new() -> ImageBuilder {
        ImageBuilder {
            nodes: vec![BNode {
                body: Body::Dir {
                    children: BTreeMap::new(),
                    opaque: false,
                },
                meta: DEFAULT_DIR_META,
            }],
        }
    }

    /// Finds the node at `comps`, if any.
    fn find(&self, comps: &[&[u8]]) -> Option<usize> {
        let mut cur = 0;
        for c in comps {
            match &self.nodes[cur].body {
                Body::Dir { children, .. } => cur = *children.get(*c)?,
                _ => return None,
            }
        }
        Some(cur)
    }

    /// Walks to the parent of `path`, creating missing directories; returns (parent, last name).
    fn parent_of<'p>(&mut self, path: &'p [u8]) -> Result<(usize, &'p [u8])> {
        let comps = components(path)?;
        let Some((last, dirs)) = comps.split_last() else {
            return Err(Error::InvalidPath {
                path: path.to_vec(),
                why: "path names the root",
            });
        };
        let mut cur = 0;
        for c in dirs {
            let next = match &self.nodes[cur].body {
                Body::Dir { children, .. } => children.get(*c).copied(),
                _ => {
                    return Err(Error::InvalidPath {
                        path: path.to_vec(),
                        why: "parent is not a directory",
                    })
                }
            };
            cur = match next {
                Some(n) => n,
                None => self.insert(
                    cur,
                    c,
                    BNode {
                        body: Body::Dir {
                            children: BTreeMap::new(),
                            opaque: false,
                        },
                        meta: DEFAULT_DIR_META,
                    },
                ),
            };
        }
        if !matches!(self.nodes[cur].body, Body::Dir { .. }) {
            return Err(Error::InvalidPath {
                path: path.to_vec(),
                why: "parent is not a directory",
            });
        }
        Ok((cur, last))
    }

    fn insert(&mut self, dir: usize, name: &[u8], node: BNode) -> usize {
        let idx = self.nodes.len();
        self.nodes.push(node);
        self.link(dir, name, idx);
        idx
    }

    fn link(&mut self, dir: usize, name: &[u8], idx: usize) {
        if let Body::Dir { children, .. } = &mut self.nodes[dir].body {
            children.insert(name.to_vec(), idx);
        }
    }

    fn add_new(&mut self, path: &[u8], node: BNode) -> Result<()> {
        let (dir, name) = self.parent_of(path)?;
        if self.child(dir, name).is_some() {
            return Err(Error::Exists {
                path: path.to_vec(),
            });
        }
        self.insert(dir, name, node);
        Ok(())
    }

    fn child(&self, dir: usize, name: &[u8]) -> Option<usize> {
        match &self.nodes[dir].body {
            Body::Dir { children, .. } => children.get(name).copied(),
            _ => None,
        }
    }

    /// Adds a directory (POSIX `mkdir`). If it already exists as a directory, its metadata is
    /// replaced (so an explicit entry may follow an implicitly created parent). An empty path
    /// sets the root's metadata.
    pub fn add_dir(&mut self, path: &[u8], meta: Meta) -> Result<&mut Self> {
        let meta = Meta {
            mode: meta.mode & 0o7777,
            ..meta
        };
        if components(path)?.is_empty() {
            self.nodes[0].meta = meta;
            return Ok(self);
        }
        let (dir, name) = self.parent_of(path)?;
        match self.child(dir, name) {
            Some(i) if matches!(self.nodes[i].body, Body::Dir { .. }) => self.nodes[i].meta = meta,
            Some(_) => {
                return Err(Error::Exists {
                    path: path.to_vec(),
                })
            }
            None => {
                let body = Body::Dir {
                    children: BTreeMap::new(),
                    opaque: false,
                };
                self.insert(dir, name, BNode { body, meta });
            }
        }
        Ok(self)
    }

    /// Adds a regular file with its contents (POSIX `open(O_CREAT|O_EXCL)` + `write`).
    pub fn add_file(&mut self, path: &[u8], meta: Meta, data: Vec<u8>) -> Result<&mut Self> {
        self.add_file_inner(path, meta, data, None)
    }

    /// [`ImageBuilder::add_file`] with the contents' XXH3-128 (`xxhash_rust::xxh3::xxh3_128`)
    /// already computed, e.g. by the thread that read the file, so `finish` need not hash it.
    /// Dedup still compares bytes before sharing, so a wrong hash can only cost dedup, never
    /// correctness.
    pub fn add_file_hashed(
        &mut self,
        path: &[u8],
        meta: Meta,
        data: Vec<u8>,
        xxh3_128: u128,
    ) -> Result<&mut Self> {
        self.add_file_inner(path, meta, data, Some(xxh3_128))
    }

    fn add_file_inner(
        &mut self,
        path: &[u8],
        meta: Meta,
        data: Vec<u8>,
        hash: Option<u128>,
    ) -> Result<&mut Self> {
        self.add_leaf(path, meta, Body::File(data, hash))
    }

    /// Adds a new non-directory node, keeping only the permission bits of `meta.mode`.
    fn add_leaf(&mut self, path: &[u8], meta: Meta, body: Body) -> Result<&mut Self> {
        let meta = Meta {
            mode: meta.mode & 0o7777,
            ..meta
        };
        self.add_new(path, BNode { body, meta })?;
        Ok(self)
    }

    /// Adds a symlink whose target is kept verbatim (POSIX `symlink`). The target may be
    /// relative, absolute or dangling; it must be 1 to 4095 bytes without NUL.
    pub fn add_symlink(&mut self, path: &[u8], meta: Meta, target: &[u8]) -> Result<&mut Self> {
        if target.is_empty() || target.len() > SYMLINK_MAX || target.contains(&0) {
            return Err(Error::InvalidPath {
                path: target.to_vec(),
                why: "symlink target must be 1 to 4095 bytes without NUL",
            });
        }
        self.add_leaf(path, meta, Body::Symlink(target.to_vec()))
    }

    /// Adds `path` as another name for the file or symlink at `existing` (POSIX `link`).
    pub fn add_hardlink(&mut self, path: &[u8], existing: &[u8]) -> Result<&mut Self> {
        let comps = components(existing)?;
        let target = self.find(&comps).ok_or_else(|| Error::NotFound {
            path: existing.to_vec(),
        })?;
        if !matches!(self.nodes[target].body, Body::File(..) | Body::Symlink(_)) {
            return Err(Error::InvalidPath {
                path: existing.to_vec(),
                why: "hard link target is not a file or symlink",
            });
        }
        let (dir, name) = self.parent_of(path)?;
        if self.child(dir, name).is_some() {
            return Err(Error::Exists {
                path: path.to_vec(),
            });
        }
        self.link(dir, name, target);
        Ok(self)
    }

    /// Adds a whiteout: in a layer stack, hides `path` in the layers below.
    pub fn add_whiteout(&mut self, path: &[u8]) -> Result<&mut Self> {
        self.add_leaf(path, Meta::with_mode(0), Body::Whiteout)
    }

    /// Marks the directory at `path` opaque (or not): when opaque, the layers below contribute
    /// nothing under it. The directory is created if missing.
    pub fn set_opaque(&mut self, path: &[u8], opaque: bool) -> Result<&mut Self> {
        let comps = components(path)?;
        let idx = match self.find(&comps) {
            Some(i) => i,
            None => {
                self.add_dir(path, DEFAULT_DIR_META)?;
                self.find(&comps).ok_or_else(|| Error::NotFound {
                    path: path.to_vec(),
                })?
            }
        };
        match &mut self.nodes[idx].body {
            Body::Dir { opaque: o, .. } => *o = opaque,
            _ => return Err(Error::NotADirectory { ino: 0 }),
        }
        Ok(self)
    }

    /// Replaces the metadata of an existing node (POSIX `chmod` + `chown` + `utimensat`). For a
    /// hard-linked file this changes every name, as in POSIX.
    pub fn set_meta(&mut self, path: &[u8], meta: Meta) -> Result<&mut Self> {
        let comps = components(path)?;
        let idx = self.find(&comps).ok_or_else(|| Error::NotFound {
            path: path.to_vec(),
        })?;
        self.nodes[idx].meta = Meta {
            mode: meta.mode & 0o7777,
            ..meta
        };
        Ok(self)
    }

    /// Removes the name `path` (POSIX `unlink`, or `rm -r` for a directory). Returns whether
    /// it existed. The root cannot be removed.
    pub fn remove(&mut self, path: &[u8]) -> Result<bool> {
        let comps = components(path)?;
        let Some((last, dirs)) = comps.split_last() else {
            return Err(Error::InvalidPath {
                path: path.to_vec(),
                why: "cannot remove the root",
            });
        };
        let Some(dir) = self.find(dirs) else {
            return Ok(false);
        };
        match &mut self.nodes[dir].body {
            Body::Dir { children, .. } => Ok(children.remove(*last).is_some()),
            _ => Ok(false),
        }
    }

    /// Is there a node at `path`, and of what kind?
    pub fn kind_of(&self, path: &[u8]) -> Option<Kind> {
        let comps = components(path).ok()?;
        self.find(&comps).map(|i| match self.nodes[i].body {
            Body::File(..) => Kind::File,
            Body::Dir { .. } => Kind::Dir,
            Body::Symlink(_) => Kind::Symlink,
            Body::Whiteout => Kind::Whiteout,
        })
    }

    /// The tree of `img` as a builder, exactly: every directory with its metadata and opaque
    /// flag, every file (decoded if compressed), symlink, hard link and whiteout. Finishing it
    /// gives the same tree, so an image can be laid out again, compressed otherwise; an image
    /// this writer made comes back byte for byte. Like `cp -a` of a whole filesystem.
    pub fn from_image(img: &Image) -> Result<ImageBuilder> {
        let mut b = ImageBuilder::new();
        let root = img.root();
        b.set_meta(b"", root.meta())?;
        if root.is_opaque() {
            b.set_opaque(b"", true)?;
        }
        // The first path of each file or symlink inode with more than one name.
        let mut first: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        let mut stack = vec![(Vec::new(), root)];
        while let Some((prefix, dir)) = stack.pop() {
            for e in img.read_dir(&dir, 0)? {
                let e = e?;
                let mut p = prefix.clone();
                if !p.is_empty() {
                    p.push(b'/');
                }
                p.extend_from_slice(e.name);
                let n = e.node;
                match n.kind() {
                    Kind::Dir => {
                        b.add_dir(&p, n.meta())?;
                        if n.is_opaque() {
                            b.set_opaque(&p, true)?;
                        }
                        stack.push((p, n));
                    }
                    Kind::Whiteout => {
                        b.add_whiteout(&p)?;
                    }
                    Kind::File | Kind::Symlink => {
                        if let Some(f) = first.get(&n.ino()) {
                            b.add_hardlink(&p, f)?;
                            continue;
                        }
                        if n.kind() == Kind::File {
                            b.add_file(&p, n.meta(), img.read_file(&n)?.into_owned())?;
                        } else {
                            b.add_symlink(&p, n.meta(), img.symlink_target(&n)?)?;
                        }
                        if n.nlink() > 1 {
                            first.insert(n.ino(), p);
                        }
                    }
                }
            }
        }
        Ok(b)
    }

    /// Lays the tree out and returns the image bytes. Same tree, same bytes.
    pub fn finish(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.finish_with(&mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })?;
        Ok(out)
    }

    /// Lays the tree out and hands the image to `sink` in pieces, in order, without building
    /// it in memory (file contents go straight from the builder to the sink). Returns the image
    /// size. An error from `sink` stops the write and is returned.
    pub fn finish_with(&self, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<u64> {
        self.finish_packed(None, sink)
    }

    /// [`ImageBuilder::finish_with`], storing each distinct content as `packer` decides: raw,
    /// or as a compressed body (format 1.1). With `None`, or when the packer stores everything
    /// raw, the image is a format 1.0 image, byte for byte what `finish_with` writes.
    pub fn finish_packed(
        &self,
        packer: Option<&dyn Packer>,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        // 1. Number the reachable nodes breadth-first in name order. Directories are numbered
        //    when first seen in their parent, so a child directory's number is always greater
        //    than its parent's: the reader's no-cycle rule.
        let unset = u32::MAX;
        let mut ino_of = vec![unset; self.nodes.len()];
        let mut order: Vec<usize> = vec![0];
        let mut parent_of: Vec<u32> = vec![0];
        let mut nlink: Vec<u64> = vec![1];
        // The directory and name each inode was first reached by (the root: none).
        let mut first_name: Vec<(u32, &[u8])> = vec![(0, &[])];
        ino_of[0] = 0;
        let mut i = 0;
        while i < order.len() {
            let idx = order[i];
            if let Body::Dir { children, .. } = &self.nodes[idx].body {
                for (name, &c) in children {
                    if ino_of[c] == unset {
                        if order.len() >= u32::MAX as usize {
                            return Err(Error::Limit("more than 2^32-1 inodes".into()));
                        }
                        ino_of[c] = order.len() as u32;
                        order.push(c);
                        parent_of.push(i as u32);
                        first_name.push((i as u32, name));
                        nlink.push(0);
                    }
                    nlink[ino_of[c] as usize] += 1;
                }
            }
            i += 1;
        }
        let n = order.len();
        let has_layer_bits = order.iter().any(|&idx| {
            matches!(
                self.nodes[idx].body,
                Body::Whiteout | Body::Dir { opaque: true, .. }
            )
        });

        // 2. Directory entries and the string pool, directory by directory in inode order.
        let mut dirents: Vec<u8> = Vec::new();
        let mut strings: Vec<u8> = Vec::new();
        let mut dir_range = vec![(0u64, 0u64); n];
        let mut subdirs = vec![0u64; n];
        let mut link_range = vec![(0u64, 0u64); n];
        for (ino, &idx) in order.iter().enumerate() {
            match &self.nodes[idx].body {
                Body::Dir { children, .. } => {
                    let first = (dirents.len() / DIRENT_SIZE) as u64;
                    for (name, &c) in children {
                        let child = ino_of[c];
                        let kind = self.kind_byte(c);
                        subdirs[ino] += (kind == KIND_DIR) as u64;
                        let off = u32::try_from(strings.len())
                            .map_err(|_| Error::Limit("string pool over 4 GiB".into()))?;
                        strings.extend_from_slice(name);
                        let mut d = [0u8; DIRENT_SIZE];
                        put_u32(&mut d, D_NAME_OFF, off);
                        put_u16(&mut d, D_NAME_LEN, name.len() as u16);
                        d[D_KIND] = kind;
                        put_u32(&mut d, D_INO, child);
                        dirents.extend_from_slice(&d);
                    }
                    dir_range[ino] = (first, children.len() as u64);
                }
                Body::Symlink(target) => {
                    link_range[ino] = (strings.len() as u64, target.len() as u64);
                    strings.extend_from_slice(target);
                }
                _ => {}
            }
        }
        if strings.len() > u32::MAX as usize {
            return Err(Error::Limit("string pool over 4 GiB".into()));
        }

        // 3. Region offsets.
        let inode_off = HEADER_SIZE as u64;
        let dirent_off = inode_off + (n * INODE_SIZE) as u64;
        let strings_off = dirent_off + dirents.len() as u64;
        let strings_len = strings.len() as u64;
        let data_off = align_up(strings_off + strings_len, DATA_ALIGN)
            .ok_or_else(|| Error::Limit("image too large".into()))?;

        // 4. File data in inode order, identical contents stored once. The map is only probed,
        //    never iterated, and first occurrence decides the order: deterministic. Only the
        //    plan is made here; the bytes go straight from the builder to the sink below.
        //    Dedup compares the contents, so identical files share one body however stored.
        let mut seen: BTreeMap<(u64, u128), Vec<usize>> = BTreeMap::new();
        // The builder node of each distinct content, in order of first occurrence.
        let mut distinct: Vec<usize> = Vec::new();
        // The inode each distinct content first occurs at.
        let mut distinct_ino: Vec<usize> = Vec::new();
        let mut content_of = vec![usize::MAX; n];
        for (ino, &idx) in order.iter().enumerate() {
            let Body::File(bytes, hash) = &self.nodes[idx].body else {
                continue;
            };
            if bytes.is_empty() {
                continue;
            }
            let hash = hash.unwrap_or_else(|| xxhash_rust::xxh3::xxh3_128(bytes));
            let key = (bytes.len() as u64, hash);
            let candidates = seen.entry(key).or_default();
            let hit = candidates
                .iter()
                .copied()
                .find(|&c| self.file_bytes(distinct[c]) == &bytes[..]);
            content_of[ino] = match hit {
                Some(c) => c,
                None => {
                    candidates.push(distinct.len());
                    distinct.push(idx);
                    distinct_ino.push(ino);
                    distinct.len() - 1
                }
            };
        }
        // 4b. Shared bodies: distinct contents whose first names lie in one directory and share
        //     a stem form a group, its members ordered shortest name first (`foo.pyc` before
        //     `foo.opt-1.pyc`), then by name; a group is full at SHARED_MEMBERS_MAX members and
        //     later ones are packed alone. Everything here is in inode order: deterministic.
        let name_of = |c: usize| first_name[distinct_ino[c]].1;
        let mut groups: Vec<Vec<usize>> = Vec::new();
        if packer.is_some() {
            let mut by_key: BTreeMap<(u32, &[u8]), usize> = BTreeMap::new();
            for c in 0..distinct.len() {
                let (dir, name) = first_name[distinct_ino[c]];
                match by_key.get(&(dir, stem(name))) {
                    Some(&g) if groups[g].len() < SHARED_MEMBERS_MAX => groups[g].push(c),
                    Some(_) => {}
                    None => {
                        by_key.insert((dir, stem(name)), groups.len());
                        groups.push(vec![c]);
                    }
                }
            }
            groups.retain(|g| g.len() > 1);
            for g in &mut groups {
                g.sort_by_key(|&c| (name_of(c).len(), name_of(c)));
            }
        }
        let mut stored = vec![Stored::Raw; distinct.len()];
        let shared: Vec<Option<Vec<u8>>> = match packer {
            Some(p) if !groups.is_empty() => {
                let members: Vec<Vec<&[u8]>> = groups
                    .iter()
                    .map(|g| g.iter().map(|&c| self.file_bytes(distinct[c])).collect())
                    .collect();
                let bodies = p
                    .pack_shared(&members)
                    .unwrap_or_else(|| vec![None; groups.len()]);
                if bodies.len() != groups.len() {
                    return Err(Error::Limit(
                        "the packer returned a wrong number of shared bodies".into(),
                    ));
                }
                for (g, body) in bodies.iter().enumerate() {
                    let Some(b) = body else { continue };
                    for (k, m) in members[g].iter().enumerate() {
                        Packed::new(0, m.len() as u64, Some(k as u16), b).map_err(|_| {
                            Error::Limit("the packer returned a malformed shared body".into())
                        })?;
                        stored[groups[g][k]] = Stored::Shared { g, k: k as u16 };
                    }
                }
                bodies
            }
            _ => Vec::new(),
        };
        // The contents left to pack one by one.
        let singles: Vec<usize> = (0..distinct.len())
            .filter(|&c| !matches!(stored[c], Stored::Shared { .. }))
            .collect();
        let mut bodies: Vec<Option<Vec<u8>>> = vec![None; distinct.len()];
        if let Some(p) = packer {
            let contents: Vec<&[u8]> = singles
                .iter()
                .map(|&c| self.file_bytes(distinct[c]))
                .collect();
            let packed = p.pack(&contents);
            if packed.len() != contents.len() {
                return Err(Error::Limit(
                    "the packer returned a wrong number of bodies".into(),
                ));
            }
            for ((&c, content), body) in singles.iter().zip(&contents).zip(packed) {
                if let Some(b) = &body {
                    Packed::new(0, content.len() as u64, None, b)
                        .map_err(|_| Error::Limit("the packer returned a malformed body".into()))?;
                    stored[c] = Stored::Body;
                }
                bodies[c] = body;
            }
        }
        let compressed_any = stored.iter().any(|s| !matches!(s, Stored::Raw));
        let shared_any = stored.iter().any(|s| matches!(s, Stored::Shared { .. }));
        // (offset in the data region, stored length) of each distinct content; a shared body
        // is placed where its first member in inode order would be.
        let mut placed: Vec<(u64, u64)> = Vec::with_capacity(distinct.len());
        let mut shared_at: Vec<Option<(u64, u64)>> = vec![None; shared.len()];
        // What is written to the data region, in order: (offset, length, content or body).
        let mut runs: Vec<(u64, u64, Stored, usize)> = Vec::with_capacity(distinct.len());
        let mut data_end = 0u64;
        for (c, &idx) in distinct.iter().enumerate() {
            if let Stored::Shared { g, .. } = stored[c] {
                if let Some(at) = shared_at[g] {
                    placed.push(at);
                    continue;
                }
            }
            // Offsets are relative to the data region, which starts 16-aligned.
            let off = align_up(data_end, DATA_ALIGN)
                .ok_or_else(|| Error::Limit("image too large".into()))?;
            let len = match stored[c] {
                Stored::Raw => self.file_bytes(idx).len(),
                Stored::Body => bodies[c].as_ref().map_or(0, Vec::len),
                Stored::Shared { g, .. } => shared[g].as_ref().map_or(0, Vec::len),
            } as u64;
            if let Stored::Shared { g, .. } = stored[c] {
                shared_at[g] = Some((off, len));
                runs.push((off, len, stored[c], g));
            } else {
                runs.push((off, len, stored[c], c));
            }
            placed.push((off, len));
            data_end = off + len;
        }
        let stored_bytes = |kind: Stored, i: usize| -> &[u8] {
            match kind {
                Stored::Raw => self.file_bytes(distinct[i]),
                Stored::Body => bodies[i].as_deref().unwrap_or(&[]),
                Stored::Shared { .. } => shared[i].as_deref().unwrap_or(&[]),
            }
        };
        let data_len =
            align_up(data_end, DATA_ALIGN).ok_or_else(|| Error::Limit("image too large".into()))?;
        let image_size = data_off + data_len;

        // 5. Header and metadata regions.
        let mut out = vec![0u8; data_off as usize];
        out[..8].copy_from_slice(&MAGIC);
        put_u16(&mut out, H_VERSION_MAJOR, VERSION_MAJOR);
        let minor = if shared_any {
            VERSION_MINOR_SHARED
        } else if compressed_any {
            VERSION_MINOR_COMPRESSED
        } else {
            VERSION_MINOR
        };
        put_u16(&mut out, H_VERSION_MINOR, minor);
        put_u32(&mut out, H_HEADER_SIZE, HEADER_SIZE as u32);
        put_u32(
            &mut out,
            H_FLAGS,
            (if has_layer_bits { HEADER_FLAG_LAYER } else { 0 })
                | (if compressed_any {
                    HEADER_FLAG_COMPRESSED
                } else {
                    0
                })
                | (if shared_any { HEADER_FLAG_SHARED } else { 0 }),
        );
        put_u32(&mut out, H_ROOT, 0);
        put_u64(&mut out, H_IMAGE_SIZE, image_size);
        put_u64(&mut out, H_INODE_OFF, inode_off);
        put_u64(&mut out, H_INODE_COUNT, n as u64);
        put_u64(&mut out, H_DIRENT_OFF, dirent_off);
        put_u64(
            &mut out,
            H_DIRENT_COUNT,
            (dirents.len() / DIRENT_SIZE) as u64,
        );
        put_u64(&mut out, H_STRINGS_OFF, strings_off);
        put_u64(&mut out, H_STRINGS_LEN, strings_len);
        put_u64(&mut out, H_DATA_OFF, data_off);
        put_u64(&mut out, H_DATA_LEN, data_len);
        for (ino, &idx) in order.iter().enumerate() {
            let node = &self.nodes[idx];
            let at = inode_off as usize + ino * INODE_SIZE;
            let r = &mut out[at..at + INODE_SIZE];
            let mut member = 0u16;
            let (kind, flags, links, size, offset) = match &node.body {
                Body::File(b, _) => {
                    let c = content_of[ino];
                    let (off, flags) = match (placed.get(c), stored.get(c)) {
                        (Some(&(off, _)), Some(Stored::Shared { k, .. })) => {
                            member = *k;
                            (off, INODE_FLAG_COMPRESSED | INODE_FLAG_SHARED)
                        }
                        (Some(&(off, _)), Some(Stored::Body)) => (off, INODE_FLAG_COMPRESSED),
                        (Some(&(off, _)), _) => (off, 0),
                        (None, _) => (0, 0), // empty file
                    };
                    (Kind::File, flags, nlink[ino], b.len() as u64, off)
                }
                Body::Dir { opaque, .. } => {
                    let (first, count) = dir_range[ino];
                    let flags = if *opaque { INODE_FLAG_OPAQUE } else { 0 };
                    (Kind::Dir, flags, 2 + subdirs[ino], count, first)
                }
                Body::Symlink(_) => {
                    let (off, len) = link_range[ino];
                    (Kind::Symlink, 0, nlink[ino], len, off)
                }
                Body::Whiteout => (Kind::Whiteout, 0, nlink[ino], 0, 0),
            };
            let links = u32::try_from(links).map_err(|_| Error::Limit("link count".into()))?;
            r[I_KIND] = kind.to_byte();
            r[I_FLAGS] = flags;
            put_u16(r, I_MEMBER, member);
            put_u32(r, I_MODE, node.meta.mode & 0o7777);
            put_u32(r, I_UID, node.meta.uid);
            put_u32(r, I_GID, node.meta.gid);
            put_u32(r, I_NLINK, links);
            let parent = if kind == Kind::Dir { parent_of[ino] } else { 0 };
            put_u32(r, I_PARENT, parent);
            put_u64(r, I_SIZE, size);
            put_u64(r, I_OFFSET, offset);
            put_u64(r, I_ATIME, node.meta.atime_ns as u64);
            put_u64(r, I_MTIME, node.meta.mtime_ns as u64);
            put_u64(r, I_CTIME, node.meta.ctime_ns as u64);
        }
        out[dirent_off as usize..strings_off as usize].copy_from_slice(&dirents);
        out[strings_off as usize..(strings_off + strings_len) as usize].copy_from_slice(&strings);

        // 6. Checksums, then emit: metadata, then each distinct content with its padding.
        let zeros = [0u8; DATA_ALIGN as usize];
        let emit_data = |sink: &mut dyn FnMut(&[u8]) -> Result<()>| -> Result<()> {
            let mut pos = 0u64;
            for &(off, len, kind, i) in &runs {
                sink(&zeros[..(off - pos) as usize])?;
                sink(stored_bytes(kind, i))?;
                pos = off + len;
            }
            sink(&zeros[..(data_len - pos) as usize])
        };
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        emit_data(&mut |b| {
            hasher.update(b);
            Ok(())
        })?;
        put_u64(&mut out, H_DATA_CHECKSUM, hasher.digest());
        let meta = meta_checksum(&out, inode_off, data_off);
        put_u64(&mut out, H_META_CHECKSUM, meta);
        sink(&out)?;
        emit_data(sink)?;
        Ok(image_size)
    }

    fn file_bytes(&self, idx: usize) -> &[u8] {
        match &self.nodes[idx].body {
            Body::File(b, _) => b,
            _ => &[],
        }
    }

    fn kind_byte(&self, idx: usize) -> u8 {
        match self.nodes[idx].body {
            Body::File(..) => KIND_FILE,
            Body::Dir { .. } => KIND_DIR,
            Body::Symlink(_) => KIND_SYMLINK,
            Body::Whiteout => KIND_WHITEOUT,
        }
    }
}

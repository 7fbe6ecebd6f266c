//! `diff`: which paths two images add, remove or change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use vfs_image::{Image, Kind, Meta};

/// Arguments of `vfs-image diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The old image.
    a: PathBuf,
    /// The new image.
    b: PathBuf,
}

/// What is compared per path. Inode numbers are not: they depend on the whole tree.
#[derive(PartialEq, Eq)]
struct Entry {
    kind: Kind,
    opaque: bool,
    meta: Meta,
    /// File contents or symlink target; compared by hash first, then by bytes.
    content_hash: u128,
}

/// Every path of an image (without a leading `/`), with what is compared and the raw content.
type Listing<'a> = BTreeMap<Vec<u8>, (Entry, std::borrow::Cow<'a, [u8]>)>;

fn collect<'a>(img: &Image<'a>) -> Result<Listing<'a>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(Vec::new(), img.root())];
    while let Some((prefix, dir)) = stack.pop() {
        for e in img.read_dir(&dir, 0)? {
            let e = e?;
            let mut path = prefix.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(e.name);
            let n = e.node;
            let content: std::borrow::Cow<[u8]> = match n.kind() {
                Kind::File => img.read_file(&n)?,
                Kind::Symlink => img.symlink_target(&n)?.into(),
                _ => (&[][..]).into(),
            };
            let entry = Entry {
                kind: n.kind(),
                opaque: n.is_opaque(),
                meta: n.meta(),
                content_hash: fingerprint(&content),
            };
            if n.kind() == Kind::Dir {
                stack.push((path.clone(), n));
            }
            out.insert(path, (entry, content));
        }
    }
    Ok(out)
}

/// A content fingerprint; equal fingerprints are confirmed by comparing bytes.
fn fingerprint(b: &[u8]) -> u128 {
    // Length plus the data checksum function the format already uses.
    ((b.len() as u128) << 64) | vfs_image::data_checksum(b) as u128
}

fn what_changed(a: &Entry, ac: &[u8], b: &Entry, bc: &[u8]) -> Vec<&'static str> {
    let mut w = Vec::new();
    if a.kind != b.kind {
        w.push("type");
        return w;
    }
    if a.content_hash != b.content_hash || ac != bc {
        w.push(if a.kind == Kind::Symlink {
            "target"
        } else {
            "content"
        });
    }
    if a.meta.mode != b.meta.mode {
        w.push("mode");
    }
    if (a.meta.uid, a.meta.gid) != (b.meta.uid, b.meta.gid) {
        w.push("owner");
    }
    if a.meta.mtime_ns != b.meta.mtime_ns {
        w.push("mtime");
    }
    if (a.meta.atime_ns, a.meta.ctime_ns) != (b.meta.atime_ns, b.meta.ctime_ns) {
        w.push("atime/ctime");
    }
    if a.opaque != b.opaque {
        w.push("opaque");
    }
    w
}

/// Runs `vfs-image diff`: prints `+ path`, `- path`, `M path (what)`; exit 0 if equal, 1 if not.
pub fn run(a: DiffArgs) -> Result<ExitCode> {
    let (ba, bb) = (crate::read_image(&a.a)?, crate::read_image(&a.b)?);
    let (ia, ib) = (crate::open_image(&a.a, &ba)?, crate::open_image(&a.b, &bb)?);
    let (ma, mb) = (collect(&ia)?, collect(&ib)?);
    let mut differ = false;
    let show = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    // Walk the union in path order.
    let mut paths: Vec<&Vec<u8>> = ma.keys().chain(mb.keys()).collect();
    paths.sort();
    paths.dedup();
    for p in paths {
        match (ma.get(p), mb.get(p)) {
            (Some(_), None) => {
                differ = true;
                outln!("- /{}", show(p));
            }
            (None, Some(_)) => {
                differ = true;
                outln!("+ /{}", show(p));
            }
            (Some((ea, ca)), Some((eb, cb))) => {
                let w = what_changed(ea, ca, eb, cb);
                if !w.is_empty() {
                    differ = true;
                    outln!("M /{} ({})", show(p), w.join(", "));
                }
            }
            (None, None) => {}
        }
    }
    Ok(if differ {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

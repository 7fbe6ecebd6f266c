//! OCI layer import: two layer tars, the second deleting a file (`.wh.NAME`) and making a
//! directory opaque (`.wh..wh..opq`). Stacked, they must show exactly the expected tree, and
//! squashing them must give the same bytes as packing that tree directly.

#![cfg(feature = "host")]

use std::fs;

use assert_cmd::Command;
use tar::{EntryType, Header};
use vfs_image::host::{import_tar, Overrides};
use vfs_image::{squash, Image, ImageBuilder, Kind, Overlay, OverlayNode};

/// One tar entry: path, kind, mode, mtime, contents or link target.
type Spec<'a> = (&'a str, EntryType, u32, u64, &'a [u8]);

fn tar_of(entries: &[Spec<'_>]) -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    for &(path, kind, mode, mtime, body) in entries {
        let mut h = Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_uid(1000);
        h.set_gid(1000);
        match kind {
            EntryType::Symlink | EntryType::Link => {
                h.set_size(0);
                t.append_link(&mut h, path, std::str::from_utf8(body).unwrap())
                    .unwrap();
            }
            _ => {
                h.set_size(body.len() as u64);
                t.append_data(&mut h, path, body).unwrap();
            }
        }
    }
    t.into_inner().unwrap()
}

const D: EntryType = EntryType::Directory;
const F: EntryType = EntryType::Regular;
const L: EntryType = EntryType::Symlink;
const H: EntryType = EntryType::Link;

fn layer1() -> Vec<u8> {
    tar_of(&[
        ("./", D, 0o755, 100, b""),
        ("etc/", D, 0o755, 100, b""),
        ("etc/passwd", F, 0o644, 101, b"root:x:0:0\n"),
        ("etc/group", F, 0o644, 102, b"root:x:0:\n"),
        ("app/", D, 0o755, 103, b""),
        ("app/main.py", F, 0o755, 104, b"print('v1')\n"),
        ("app/lib/", D, 0o755, 105, b""),
        ("app/lib/util.py", F, 0o644, 106, b"X = 1\n"),
        ("bin/", D, 0o755, 107, b""),
        ("bin/busybox", F, 0o755, 108, b"\x7fELF..."),
        ("bin/sh", H, 0o755, 108, b"bin/busybox"),
        ("bin/ls", L, 0o777, 109, b"busybox"),
    ])
}

fn layer2() -> Vec<u8> {
    tar_of(&[
        ("./", D, 0o755, 200, b""),
        ("etc/", D, 0o755, 200, b""),
        ("etc/.wh.group", F, 0o644, 200, b""),
        ("etc/passwd", F, 0o600, 201, b"root:x:0:0\nme:x:1000:1000\n"),
        ("app/", D, 0o750, 202, b""),
        ("app/.wh..wh..opq", F, 0o644, 202, b""),
        ("app/main.py", F, 0o755, 203, b"print('v2')\n"),
    ])
}

/// The tree the two layers stack to.
fn expected() -> Vec<u8> {
    tar_of(&[
        ("./", D, 0o755, 200, b""),
        ("etc/", D, 0o755, 200, b""),
        ("etc/passwd", F, 0o600, 201, b"root:x:0:0\nme:x:1000:1000\n"),
        ("app/", D, 0o750, 202, b""),
        ("app/main.py", F, 0o755, 203, b"print('v2')\n"),
        ("bin/", D, 0o755, 107, b""),
        ("bin/busybox", F, 0o755, 108, b"\x7fELF..."),
        ("bin/sh", H, 0o755, 108, b"bin/busybox"),
        ("bin/ls", L, 0o777, 109, b"busybox"),
    ])
}

fn import(tar: &[u8]) -> Vec<u8> {
    let mut b = ImageBuilder::new();
    import_tar(tar, &mut b, &Overrides::default()).unwrap();
    b.finish().unwrap()
}

/// Flattens a merged view into `path kind mode mtime contents` lines.
fn listing(ov: &Overlay<'_>, dir: &OverlayNode, prefix: &str, out: &mut Vec<String>) {
    for e in ov.read_dir(dir).unwrap() {
        let path = format!("{prefix}/{}", String::from_utf8_lossy(e.name));
        let top = e.node.top().node;
        let body = match top.kind() {
            Kind::File => String::from_utf8_lossy(ov.file_data(&e.node).unwrap()).into_owned(),
            Kind::Symlink => {
                format!(
                    "-> {}",
                    String::from_utf8_lossy(ov.symlink_target(&e.node).unwrap())
                )
            }
            _ => String::new(),
        };
        out.push(format!(
            "{path} {:?} {:o} {} {} {body:?}",
            top.kind(),
            top.mode(),
            top.mtime_ns() / 1_000_000_000,
            top.nlink()
        ));
        if e.node.is_dir() {
            listing(ov, &e.node, &path, out);
        }
    }
}

#[test]
fn two_layers_stack_to_the_expected_tree() {
    let (l1, l2, want) = (import(&layer1()), import(&layer2()), import(&expected()));
    let (i1, i2, iw) = (
        Image::open(&l1).unwrap(),
        Image::open(&l2).unwrap(),
        Image::open(&want).unwrap(),
    );
    // The upper layer carries its whiteout and opaque marker as image nodes.
    assert!(i2.is_layer());
    let s = i2.verify().unwrap();
    assert_eq!((s.whiteouts, s.opaque_dirs), (1, 1));
    assert_eq!(i2.resolve(b"etc").unwrap().unwrap().kind(), Kind::Dir);
    let wh = i2
        .lookup(&i2.resolve(b"etc").unwrap().unwrap(), b"group")
        .unwrap()
        .unwrap();
    assert!(wh.node.is_whiteout());
    assert!(i2.resolve(b"app").unwrap().unwrap().is_opaque());

    let stacked = Overlay::new(vec![i1, i2]);
    let mut got = Vec::new();
    listing(&stacked, &stacked.root().unwrap(), "", &mut got);
    let flat = Overlay::new(vec![iw]);
    let mut exp = Vec::new();
    listing(&flat, &flat.root().unwrap(), "", &mut exp);
    assert_eq!(got, exp);
    assert!(got.iter().any(|l| l.starts_with("/bin/sh File 755 108 2 ")));
    assert!(!got
        .iter()
        .any(|l| l.contains("group") || l.contains("util.py")));

    // squash(layer1, layer2) == pack(expected), byte for byte.
    // (A merged directory takes the metadata of its highest layer, as in overlayfs.)
    assert!(
        squash(&[i1, i2]).unwrap() == want,
        "squash differs from packing the expected tree"
    );
}

#[test]
fn the_same_through_the_cli() {
    let dir = tempfile::TempDir::new().unwrap();
    let p = |n: &str| dir.path().join(n);
    fs::write(p("l1.tar"), layer1()).unwrap();
    fs::write(p("l2.tar"), layer2()).unwrap();
    fs::write(p("want.tar"), expected()).unwrap();
    for (tar, img) in [
        ("l1.tar", "l1.vfs"),
        ("l2.tar", "l2.vfs"),
        ("want.tar", "want.vfs"),
    ] {
        Command::cargo_bin("vfs-image")
            .unwrap()
            .args(["pack", "--from-tar"])
            .arg(p(tar))
            .arg("-o")
            .arg(p(img))
            .assert()
            .success();
    }
    Command::cargo_bin("vfs-image")
        .unwrap()
        .arg("squash")
        .arg(p("l1.vfs"))
        .arg(p("l2.vfs"))
        .arg("-o")
        .arg(p("flat.vfs"))
        .assert()
        .success();
    assert_eq!(
        fs::read(p("flat.vfs")).unwrap(),
        fs::read(p("want.vfs")).unwrap()
    );
    Command::cargo_bin("vfs-image")
        .unwrap()
        .arg("diff")
        .arg(p("flat.vfs"))
        .arg(p("want.vfs"))
        .assert()
        .code(0);
}

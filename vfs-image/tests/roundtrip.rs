//! Property test: random trees on the host filesystem → pack → unpack → the same tree
//! (contents, types, symlink targets, hard-link sharing, mode, mtime in ns); and packing the
//! same tree twice gives the same bytes.

#![cfg(feature = "host")]

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use filetime::FileTime;
use proptest::prelude::*;
use vfs_image::host::{pack_dir, unpack, Compression, PackOptions, UnpackOptions};
use vfs_image::Image;

/// Odd but legal names: non-UTF-8, spaces, newlines, leading dash or dot, glob characters,
/// backslashes, 255 bytes; and names sharing a stem (`m`, `m.py`, `m.opt-1.pyc`), which a
/// compressing packer puts in one shared body when they are siblings.
fn names() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"a"[..],
        b"m",
        b"m.py",
        b"m.opt-1.pyc",
        b"m.\xff",
        b"b",
        b"\xc3\xbc",
        b"\xff\xfe",
        b"sp ace",
        b"-dash",
        b".hidden",
        b"new\nline",
        b"*?[",
        b"back\\slash",
        b"tab\t",
        b"..dots",
    ]
    .iter()
    .map(|n| n.to_vec())
    .collect();
    v.push(vec![b'x'; 255]);
    v
}

const TARGETS: &[&[u8]] = &[
    b"../a",
    b"/etc/passwd",
    b"nowhere/at/all",
    b"a",
    b"\xc3\xbc/\xff\xfe",
    b".",
];

#[derive(Clone, Debug)]
enum Kind {
    Dir,
    File { len: usize, seed: u8, dup: bool },
    Symlink(usize),
    Hardlink(usize),
}

#[derive(Clone, Debug)]
struct Item {
    parent: usize,
    name: usize,
    kind: Kind,
    mode: u32,
    mtime: (i64, u32),
}

fn item() -> impl Strategy<Value = Item> {
    let kind = prop_oneof![
        2 => Just(Kind::Dir),
        4 => (prop_oneof![Just(0usize), 0usize..64, 0usize..5000], any::<u8>(), any::<bool>())
            .prop_map(|(len, seed, dup)| Kind::File { len, seed, dup }),
        1 => (0..TARGETS.len()).prop_map(Kind::Symlink),
        1 => any::<usize>().prop_map(Kind::Hardlink),
    ];
    (
        any::<usize>(),
        0..names().len(),
        kind,
        prop::sample::select(vec![
            0o644u32, 0o600, 0o755, 0o400, 0o4755, 0o2750, 0o1777, 0o000,
        ]),
        (0i64..4_000_000_000, 0u32..1_000_000_000),
    )
        .prop_map(|(parent, name, kind, mode, mtime)| Item {
            parent,
            name,
            kind,
            mode,
            mtime,
        })
}

/// Creates the tree described by `items` under `root`.
fn materialize(root: &Path, items: &[Item]) {
    let names = names();
    let mut dirs: Vec<PathBuf> = vec![root.to_path_buf()];
    let mut files: Vec<PathBuf> = Vec::new();
    let mut last_content: Vec<u8> = b"shared".to_vec();
    let mut dir_times = Vec::new();
    for it in items {
        let parent = dirs[it.parent % dirs.len()].clone();
        let path = parent.join(OsStr::from_bytes(&names[it.name]));
        if fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        let t = FileTime::from_unix_time(it.mtime.0, it.mtime.1);
        match &it.kind {
            Kind::Dir => {
                fs::create_dir(&path).unwrap();
                // Keep directories traversable for the test's own walk; the odd bits stay.
                fs::set_permissions(&path, fs::Permissions::from_mode(it.mode | 0o700)).unwrap();
                dir_times.push((path.clone(), t));
                dirs.push(path);
            }
            Kind::File { len, seed, dup } => {
                let content: Vec<u8> = if *dup {
                    last_content.clone()
                } else {
                    (0..*len)
                        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(*seed))
                        .collect()
                };
                fs::write(&path, &content).unwrap();
                last_content = content;
                fs::set_permissions(&path, fs::Permissions::from_mode(it.mode)).unwrap();
                filetime::set_file_times(&path, t, t).unwrap();
                files.push(path);
            }
            Kind::Symlink(i) => {
                symlink(OsStr::from_bytes(TARGETS[*i]), &path).unwrap();
                filetime::set_symlink_file_times(&path, t, t).unwrap();
            }
            Kind::Hardlink(i) => {
                if files.is_empty() {
                    continue;
                }
                fs::hard_link(&files[i % files.len()], &path).unwrap();
            }
        }
    }
    // Directory times last, deepest first, so creating children does not change them.
    dir_times.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (p, t) in dir_times {
        filetime::set_file_times(&p, t, t).unwrap();
    }
}

/// Everything compared about a tree: per relative path its type, mode, mtime and contents or
/// target, and for multiply-linked files the first path of their inode (hard-link sharing).
fn describe(root: &Path) -> BTreeMap<Vec<u8>, String> {
    let mut out = BTreeMap::new();
    let mut first: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut stack = vec![(root.to_path_buf(), Vec::<u8>::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let mut r = rel.clone();
            r.push(b'/');
            r.extend_from_slice(e.file_name().as_bytes());
            let md = fs::symlink_metadata(e.path()).unwrap();
            let ft = md.file_type();
            let body = if ft.is_dir() {
                stack.push((e.path(), r.clone()));
                String::from("dir")
            } else if ft.is_symlink() {
                format!("link {:?}", fs::read_link(e.path()).unwrap())
            } else {
                format!("file {:?}", fs::read(e.path()).unwrap())
            };
            let link = if ft.is_file() && md.nlink() > 1 {
                let f = first.entry(md.ino()).or_insert_with(|| r.clone());
                format!(
                    "linked-to {:?} nlink {}",
                    String::from_utf8_lossy(f),
                    md.nlink()
                )
            } else {
                String::new()
            };
            // Symlink permission bits are always 0777 on Linux; compare them anyway.
            out.insert(
                r,
                format!(
                    "{body} mode {:o} mtime {}.{:09} {link}",
                    md.mode(),
                    md.mtime(),
                    md.mtime_nsec()
                ),
            );
        }
    }
    out
}

/// Packs the tree of `items` with `compression` twice (same bytes), verifies, unpacks and
/// compares, then repacks the unpacked tree (same bytes again).
fn round_trip(items: &[Item], compression: Compression) -> Result<(), TestCaseError> {
    let tmp = tempfile::TempDir::new().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    materialize(&src, items);
    let opts = PackOptions {
        compression,
        ..PackOptions::default()
    };
    let image = pack_dir(&src, &opts).unwrap();
    let again = pack_dir(&src, &opts).unwrap();
    prop_assert!(
        image == again,
        "packing the same tree twice gave different bytes"
    );
    let img = Image::open(&image).unwrap();
    img.verify().unwrap();
    let dst = tmp.path().join("dst");
    unpack(&img, &dst, &UnpackOptions::default()).unwrap();
    prop_assert_eq!(describe(&src), describe(&dst));
    // The unpacked tree packs to the same image: nothing was lost either way.
    prop_assert!(
        pack_dir(&dst, &opts).unwrap() == image,
        "repacking the unpacked tree differs"
    );
    Ok(())
}

/// Siblings sharing a stem, in the root and in a directory, round-trip through a shared body
/// with both codecs (the random trees above meet such groups only now and then).
#[test]
fn stems_share_a_body_and_round_trip() {
    let name = |n: &[u8]| names().iter().position(|x| x == n).unwrap();
    let file = |parent, n: &[u8], len, seed| Item {
        parent,
        name: name(n),
        kind: Kind::File {
            len,
            seed,
            dup: false,
        },
        mode: 0o644,
        mtime: (1_700_000_000, 5),
    };
    let dir = Item {
        parent: 0,
        name: name(b"a"),
        kind: Kind::Dir,
        mode: 0o755,
        mtime: (1_700_000_000, 0),
    };
    let items = vec![
        dir,
        file(0, b"m", 4000, 1),
        file(0, b"m.py", 4000, 2),
        file(0, b"m.opt-1.pyc", 3000, 1),
        file(1, b"m", 2000, 3),
        file(1, b"m.py", 64, 4),
    ];
    for compression in [
        Compression::Zstd { level: 3 },
        Compression::Lz4 { level: 9 },
    ] {
        round_trip(&items, compression).unwrap();
        let tmp = tempfile::TempDir::new().unwrap();
        materialize(tmp.path(), &items);
        let opts = PackOptions {
            compression,
            ..PackOptions::default()
        };
        let image = pack_dir(tmp.path(), &opts).unwrap();
        let s = Image::open(&image).unwrap().verify().unwrap();
        assert_eq!((s.shared_bodies, s.shared_files), (2, 3), "{compression}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn pack_unpack_round_trip(items in prop::collection::vec(item(), 0..40)) {
        round_trip(&items, Compression::None)?;
    }

    /// The same with compression: files of 64 to 5,000 repetitive bytes are stored compressed.
    #[test]
    fn pack_unpack_round_trip_compressed(items in prop::collection::vec(item(), 0..40)) {
        round_trip(&items, Compression::Zstd { level: 3 })?;
    }

    /// And with LZ4.
    #[test]
    fn pack_unpack_round_trip_lz4(items in prop::collection::vec(item(), 0..40)) {
        round_trip(&items, Compression::Lz4 { level: 9 })?;
    }
}

//! Hostile images: each corruption named in the issue (truncated, overlapping, cyclic, oversized)
//! and a few more must give an error that says what is wrong, never a panic.
//!
//! Offsets below are the ones `docs/image-format.md` specifies; a change of layout breaks these
//! tests on purpose.

use vfs_image::{meta_checksum, Error, Image, ImageBuilder, Kind, Meta};

// Header fields.
const IMAGE_SIZE: usize = 24;
const INODE_OFF: usize = 32;
const INODE_COUNT: usize = 40;
const DIRENT_OFF: usize = 48;
const DIRENT_COUNT: usize = 56;
const STRINGS_LEN: usize = 72;
const DATA_OFF: usize = 80;
const META_SUM: usize = 96;
// Inode record fields (64 bytes each).
const I_NLINK: usize = 16;
const I_PARENT: usize = 20;
const I_SIZE: usize = 24;
const I_OFFSET: usize = 32;
// Directory entry fields (12 bytes each).
const D_NAME_OFF: usize = 0;
const D_KIND: usize = 6;
const D_INO: usize = 8;

/// root(0) { a(1)/ { b(3)/ { f(4) = "hello" } }, z(2) = "zz" } ; entries: root [a, z] at 0..2,
/// a [b] at 2, b [f] at 3.
fn sample() -> Vec<u8> {
    let mut b = ImageBuilder::new();
    b.add_file(b"a/b/f", Meta::with_mode(0o644), b"hello".to_vec())
        .unwrap();
    b.add_file(b"z", Meta::with_mode(0o644), b"zz".to_vec())
        .unwrap();
    b.finish().unwrap()
}

fn get64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn set64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn set32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn inode(b: &[u8], ino: usize) -> usize {
    get64(b, INODE_OFF) as usize + ino * 64
}
fn dirent(b: &[u8], i: usize) -> usize {
    get64(b, DIRENT_OFF) as usize + i * 12
}
/// Recomputes the metadata checksum so that `verify` gets past it to the structural checks.
fn reseal(b: &mut [u8]) {
    let sum = meta_checksum(b, get64(b, INODE_OFF), get64(b, DATA_OFF));
    set64(b, META_SUM, sum);
}

/// Walks everything reachable, returning the first error.
fn walk(img: &Image<'_>) -> Result<(), Error> {
    let mut q = vec![img.root()];
    while let Some(d) = q.pop() {
        for e in img.read_dir(&d, 0)? {
            let e = e?;
            match e.node.kind() {
                Kind::Dir => q.push(e.node),
                Kind::File => {
                    img.file_data(&e.node)?;
                }
                Kind::Symlink => {
                    img.symlink_target(&e.node)?;
                }
                Kind::Whiteout => {}
            }
        }
    }
    Ok(())
}

#[test]
fn the_sample_is_valid() {
    let b = sample();
    let img = Image::open(&b).unwrap();
    img.verify().unwrap();
    assert_eq!(img.resolve(b"a/b/f").unwrap().unwrap().ino(), 4);
    assert_eq!(img.resolve(b"z").unwrap().unwrap().ino(), 2);
}

#[test]
fn truncated() {
    let b = sample();
    assert!(matches!(
        Image::open(&b[..100]),
        Err(Error::Truncated { what: "header", .. })
    ));
    assert!(matches!(
        Image::open(&b[..b.len() - 1]),
        Err(Error::Truncated { what: "image", .. })
    ));
    assert!(matches!(Image::open(&[]), Err(Error::Truncated { .. })));
    // A header that claims a shorter image, cutting into the data region.
    let mut c = b.clone();
    set64(&mut c, IMAGE_SIZE, get64(&b, DATA_OFF) + 8);
    let e = Image::open(&c).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Truncated {
                what: "file data",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("file data"));
    // Every truncation fails cleanly.
    for len in 0..b.len() {
        assert!(Image::open(&b[..len]).is_err(), "length {len} accepted");
    }
}

#[test]
fn bad_magic_and_version() {
    let mut b = sample();
    b[0] = b'X';
    assert_eq!(Image::open(&b).unwrap_err(), Error::BadMagic);
    let mut b = sample();
    b[8] = 2;
    assert!(matches!(
        Image::open(&b),
        Err(Error::UnsupportedVersion { major: 2, .. })
    ));
    let mut b = sample();
    b[16] = 0x80; // unknown header flag
    assert!(matches!(Image::open(&b), Err(Error::BadHeader(_))));
}

#[test]
fn overlapping_regions() {
    let mut b = sample();
    let off = get64(&b, INODE_OFF) + 64;
    set64(&mut b, DIRENT_OFF, off);
    let e = Image::open(&b).unwrap_err();
    assert_eq!(
        e,
        Error::Overlap {
            first: "inode table",
            second: "directory entry table"
        }
    );
    assert!(e.to_string().contains("overlapping"));
    let mut b = sample();
    set64(&mut b, INODE_OFF, 64); // inside the header
    assert_eq!(
        Image::open(&b).unwrap_err(),
        Error::Overlap {
            first: "header",
            second: "inode table"
        }
    );
}

#[test]
fn oversized_counts_fail_before_any_allocation() {
    // Would overflow count * 64.
    let mut b = sample();
    set64(&mut b, INODE_COUNT, u64::MAX / 8);
    assert!(matches!(
        Image::open(&b),
        Err(Error::TooLarge {
            what: "inode count",
            ..
        })
    ));
    // Fits in arithmetic, but the table would run past the image.
    let mut b = sample();
    set64(&mut b, INODE_COUNT, 1 << 31);
    assert!(matches!(
        Image::open(&b),
        Err(Error::Truncated {
            what: "inode table",
            ..
        })
    ));
    let mut b = sample();
    set64(&mut b, DIRENT_COUNT, u64::MAX);
    assert!(matches!(Image::open(&b), Err(Error::TooLarge { .. })));
    let mut b = sample();
    set64(&mut b, STRINGS_LEN, u64::MAX - 5);
    assert!(matches!(Image::open(&b), Err(Error::TooLarge { .. })));
    // An inode whose file size runs far past the data region.
    let mut b = sample();
    let at = inode(&b, 4) + I_SIZE;
    set64(&mut b, at, u64::MAX);
    let img = Image::open(&b).unwrap();
    let e = img.node(4).unwrap_err();
    assert!(
        matches!(
            e,
            Error::OutOfBounds {
                what: "file data",
                ..
            }
        ),
        "{e}"
    );
    assert!(img.resolve(b"a/b/f").is_err());
    assert!(img.verify().is_err());
    // A directory claiming billions of entries.
    let mut b = sample();
    let at = inode(&b, 3) + I_SIZE;
    set64(&mut b, at, 4_000_000_000);
    let img = Image::open(&b).unwrap();
    assert!(matches!(
        img.node(3),
        Err(Error::OutOfBounds {
            what: "directory entries",
            ..
        })
    ));
}

#[test]
fn cyclic_directories() {
    // b's entry "f" made to point at "a", b's ancestor.
    let mut b = sample();
    let d = dirent(&b, 3);
    set32(&mut b, d + D_INO, 1);
    b[d + D_KIND] = 2;
    let img = Image::open(&b).unwrap();
    let dir_b = img.resolve(b"a/b").unwrap().unwrap();
    assert_eq!(
        img.lookup(&dir_b, b"f").unwrap_err(),
        Error::Cycle { dir: 3, child: 1 }
    );
    assert!(walk(&img).is_err());
    reseal(&mut b);
    assert!(matches!(
        Image::open(&b).unwrap().verify(),
        Err(Error::Cycle { .. })
    ));
    // The root listing itself.
    let mut b = sample();
    let d = dirent(&b, 0);
    set32(&mut b, d + D_INO, 0);
    let img = Image::open(&b).unwrap();
    assert_eq!(
        img.lookup(&img.root(), b"a").unwrap_err(),
        Error::Cycle { dir: 0, child: 0 }
    );
    // A directory that claims another parent (linked from two directories).
    let mut b = sample();
    let at = inode(&b, 3) + I_PARENT;
    set32(&mut b, at, 0);
    let img = Image::open(&b).unwrap();
    let a = img.resolve(b"a").unwrap().unwrap();
    assert_eq!(
        img.lookup(&a, b"b").unwrap_err(),
        Error::Cycle { dir: 1, child: 3 }
    );
}

#[test]
fn bad_names_and_entries() {
    let b0 = sample();
    let img = Image::open(&b0).unwrap();
    let strings = img.header().strings_off as usize;
    // "a" -> "/": a name with a slash.
    let mut b = b0.clone();
    b[strings] = b'/';
    let img = Image::open(&b).unwrap();
    assert!(matches!(
        walk(&img),
        Err(Error::BadEntry {
            why: "name contains '/'",
            ..
        })
    ));
    // A name pointing outside the string pool.
    let mut b = b0.clone();
    let d = dirent(&b, 1);
    set32(&mut b, d + D_NAME_OFF, u32::MAX);
    let img = Image::open(&b).unwrap();
    assert!(matches!(
        walk(&img),
        Err(Error::BadEntry {
            why: "name outside the string pool",
            ..
        })
    ));
    // Entry type disagreeing with the inode.
    let mut b = b0.clone();
    let d = dirent(&b, 1);
    b[d + D_KIND] = 3;
    let img = Image::open(&b).unwrap();
    assert!(matches!(walk(&img), Err(Error::BadEntry { .. })));
    // Inode number out of range.
    let mut b = b0.clone();
    let d = dirent(&b, 1);
    set32(&mut b, d + D_INO, 99);
    let img = Image::open(&b).unwrap();
    assert!(matches!(
        walk(&img),
        Err(Error::BadEntry {
            why: "inode number out of range",
            ..
        })
    ));
    // Unknown inode kind.
    let mut b = b0.clone();
    let at = inode(&b, 2);
    b[at] = 9;
    let img = Image::open(&b).unwrap();
    assert!(matches!(
        img.node(2),
        Err(Error::BadInode {
            why: "unknown kind",
            ..
        })
    ));
}

#[test]
fn verify_finds_structural_damage() {
    let b0 = sample();
    // Unsorted entries: swap the names of root's two entries (types still match their inodes).
    let mut b = b0.clone();
    let (d0, d1) = (dirent(&b, 0), dirent(&b, 1));
    let (n0, n1) = (b[d0..d0 + 6].to_vec(), b[d1..d1 + 6].to_vec());
    b[d0..d0 + 6].copy_from_slice(&n1);
    b[d1..d1 + 6].copy_from_slice(&n0);
    reseal(&mut b);
    assert_eq!(
        Image::open(&b).unwrap().verify().unwrap_err(),
        Error::Unsorted { dir: 0 }
    );
    // Wrong link count.
    let mut b = b0.clone();
    let at = inode(&b, 4) + I_NLINK;
    set32(&mut b, at, 5);
    reseal(&mut b);
    assert_eq!(
        Image::open(&b).unwrap().verify().unwrap_err(),
        Error::LinkCount {
            ino: 4,
            stored: 5,
            counted: 1
        }
    );
    // An orphan: the root forgets "z".
    let mut b = b0.clone();
    let at = inode(&b, 0) + I_SIZE;
    set64(&mut b, at, 1);
    let mut b2 = b.clone();
    reseal(&mut b2);
    assert_eq!(
        Image::open(&b2).unwrap().verify().unwrap_err(),
        Error::Orphan { ino: 2 }
    );
    // Without resealing, the metadata checksum catches it first.
    assert!(matches!(
        Image::open(&b).unwrap().verify(),
        Err(Error::Checksum {
            region: "metadata",
            ..
        })
    ));
    // Partly overlapping file data.
    let mut b = b0.clone();
    let f_off = get64(&b, inode(&b, 4) + I_OFFSET);
    let at = inode(&b, 2) + I_OFFSET;
    set64(&mut b, at, f_off); // same start, different length: a partial overlap
    reseal(&mut b);
    assert!(matches!(
        Image::open(&b).unwrap().verify(),
        Err(Error::DataOverlap { .. })
    ));
}

#[test]
fn every_single_bit_flip_is_handled() {
    let b0 = sample();
    for i in 0..b0.len() {
        for bit in 0..8 {
            let mut b = b0.clone();
            b[i] ^= 1 << bit;
            if let Ok(img) = Image::open(&b) {
                let _ = walk(&img);
                let _ = img.stats();
                // Any change anywhere is caught by one of the checksums.
                assert!(
                    img.verify().is_err(),
                    "flip of bit {bit} in byte {i} not detected"
                );
            }
        }
    }
}

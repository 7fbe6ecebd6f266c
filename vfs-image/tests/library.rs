//! Library API: build an image in memory, read it back, stack layers.

use vfs_image::{squash, Error, Image, ImageBuilder, Kind, Meta, Overlay};

fn meta(mode: u32, t: i64) -> Meta {
    Meta::with_mode(mode).with_owner(1000, 100).with_times(t)
}

fn sample() -> Vec<u8> {
    let mut b = ImageBuilder::new();
    b.add_dir(b"", meta(0o755, 1)).unwrap();
    b.add_dir(b"etc", meta(0o750, 2)).unwrap();
    b.add_file(
        b"etc/passwd",
        meta(0o644, 1_700_000_000_123_456_789),
        b"root:x:0:0\n".to_vec(),
    )
    .unwrap();
    b.add_file(b"etc/empty", meta(0o600, 3), Vec::new())
        .unwrap();
    b.add_hardlink(b"etc/passwd.hard", b"etc/passwd").unwrap();
    b.add_file(b"usr/lib/copy", meta(0o644, 4), b"root:x:0:0\n".to_vec())
        .unwrap();
    b.add_symlink(b"usr/abs", meta(0o777, 5), b"/etc/passwd")
        .unwrap();
    b.add_symlink(b"usr/dangling", meta(0o777, 5), b"../nowhere/at/all")
        .unwrap();
    b.add_file(b"odd/\xff\xfe name \n", meta(0o640, 6), b"bytes".to_vec())
        .unwrap();
    b.finish().unwrap()
}

#[test]
fn open_lookup_read() {
    let bytes = sample();
    let img = Image::open(&bytes).unwrap();
    let root = img.root();
    assert_eq!(root.kind(), Kind::Dir);
    assert_eq!(root.mtime_ns(), 1);
    let etc = img.lookup(&root, b"etc").unwrap().unwrap().node;
    assert_eq!(etc.mode(), 0o750);
    assert_eq!(etc.st_mode(), 0o040750);
    assert_eq!(img.parent(&etc).unwrap(), root);
    let passwd = img.lookup(&etc, b"passwd").unwrap().unwrap().node;
    assert_eq!(img.file_data(&passwd).unwrap(), b"root:x:0:0\n");
    assert_eq!(passwd.mtime_ns(), 1_700_000_000_123_456_789);
    assert_eq!((passwd.uid(), passwd.gid()), (1000, 100));
    assert_eq!(passwd.nlink(), 2);
    let hard = img.lookup(&etc, b"passwd.hard").unwrap().unwrap().node;
    assert_eq!(hard.ino(), passwd.ino());
    assert!(img.lookup(&etc, b"nope").unwrap().is_none());
    let empty = img.resolve(b"/etc/empty").unwrap().unwrap();
    assert_eq!(img.file_data(&empty).unwrap(), b"");
    let abs = img.resolve(b"usr/abs").unwrap().unwrap();
    assert_eq!(img.symlink_target(&abs).unwrap(), b"/etc/passwd");
    let odd = img.resolve(b"odd/\xff\xfe name \n").unwrap().unwrap();
    assert_eq!(img.file_data(&odd).unwrap(), b"bytes");
    // Zero copy: the slice points into the image bytes.
    let data = img.file_data(&passwd).unwrap();
    let start = data.as_ptr() as usize - bytes.as_ptr() as usize;
    assert_eq!(start % 16, 0);
    assert!(matches!(img.file_data(&etc), Err(Error::NotAFile { .. })));
    assert!(matches!(
        img.symlink_target(&passwd),
        Err(Error::NotASymlink { .. })
    ));
    assert!(matches!(
        img.lookup(&passwd, b"x"),
        Err(Error::NotADirectory { .. })
    ));
}

#[test]
fn read_dir_is_sorted_and_resumable() {
    let bytes = sample();
    let img = Image::open(&bytes).unwrap();
    let etc = img.resolve(b"etc").unwrap().unwrap();
    let names: Vec<&[u8]> = img
        .read_dir(&etc, 0)
        .unwrap()
        .map(|e| e.unwrap().name)
        .collect();
    assert_eq!(names, vec![&b"empty"[..], b"passwd", b"passwd.hard"]);
    let mut it = img.read_dir(&etc, 1).unwrap();
    assert_eq!(it.next().unwrap().unwrap().name, b"passwd");
    assert_eq!(it.position(), 2);
    assert_eq!(
        img.dir_entry(&etc, 2).unwrap().unwrap().name,
        b"passwd.hard"
    );
    assert!(img.dir_entry(&etc, 3).unwrap().is_none());
    let (pos, _) = img.lookup_pos(&etc, b"passwd.hard").unwrap().unwrap();
    assert_eq!(pos, 2);
}

#[test]
fn verify_and_dedup() {
    let bytes = sample();
    let img = Image::open(&bytes).unwrap();
    let s = img.verify().unwrap();
    assert_eq!(s.files, 4);
    assert_eq!(s.symlinks, 2);
    assert_eq!(s.dirs, 5);
    assert_eq!(s.extra_links, 1);
    // passwd and usr/lib/copy have the same bytes: stored once.
    assert_eq!(s.deduped_files, 1);
    assert_eq!(s.stored_bytes, 11 + 5);
    let mut corrupt = bytes.clone();
    let last = corrupt.len() - 20;
    corrupt[last] ^= 1;
    assert!(matches!(
        Image::open(&corrupt).unwrap().verify(),
        Err(Error::Checksum { region: "data", .. })
    ));
}

#[test]
fn deterministic_regardless_of_call_order() {
    let a = sample();
    let mut b = ImageBuilder::new();
    b.add_file(b"odd/\xff\xfe name \n", meta(0o640, 6), b"bytes".to_vec())
        .unwrap();
    b.add_symlink(b"usr/dangling", meta(0o777, 5), b"../nowhere/at/all")
        .unwrap();
    b.add_file(b"usr/lib/copy", meta(0o644, 4), b"root:x:0:0\n".to_vec())
        .unwrap();
    b.add_symlink(b"usr/abs", meta(0o777, 5), b"/etc/passwd")
        .unwrap();
    b.add_file(b"etc/empty", meta(0o600, 3), Vec::new())
        .unwrap();
    b.add_file(
        b"etc/passwd",
        meta(0o644, 1_700_000_000_123_456_789),
        b"root:x:0:0\n".to_vec(),
    )
    .unwrap();
    b.add_hardlink(b"etc/passwd.hard", b"etc/passwd").unwrap();
    b.add_dir(b"etc", meta(0o750, 2)).unwrap();
    b.add_dir(b"", meta(0o755, 1)).unwrap();
    assert_eq!(a, b.finish().unwrap());
}

#[test]
fn builder_rejects_bad_paths() {
    let mut b = ImageBuilder::new();
    let m = Meta::with_mode(0o644);
    // A `..` component, the empty path and a NUL are not names a file can have.
    for bad in [&b"a/../b"[..], b"", b"a\0b"] {
        let r = b.add_file(bad, m, vec![]);
        assert!(matches!(r, Err(Error::InvalidPath { .. })), "{bad:?}");
    }
    b.add_file(b"f", m, vec![]).unwrap();
    assert!(matches!(
        b.add_file(b"f", m, vec![]),
        Err(Error::Exists { .. })
    ));
    assert!(matches!(
        b.add_file(b"f/g", m, vec![]),
        Err(Error::InvalidPath { .. })
    ));
    assert!(matches!(
        b.add_symlink(b"s", m, b""),
        Err(Error::InvalidPath { .. })
    ));
    assert!(matches!(
        b.add_hardlink(b"h", b"missing"),
        Err(Error::NotFound { .. })
    ));
    b.add_dir(b"d", m).unwrap();
    assert!(matches!(
        b.add_hardlink(b"h", b"d"),
        Err(Error::InvalidPath { .. })
    ));
    assert!(b.remove(b"f").unwrap());
    assert!(!b.remove(b"f").unwrap());
}

fn lower() -> Vec<u8> {
    let mut b = ImageBuilder::new();
    let m = Meta::with_mode(0o644);
    b.add_file(b"keep", m, b"lower keep".to_vec()).unwrap();
    b.add_file(b"gone", m, b"deleted above".to_vec()).unwrap();
    b.add_file(b"replaced", m, b"old".to_vec()).unwrap();
    b.add_file(b"merged/low", m, b"low".to_vec()).unwrap();
    b.add_file(b"opaque/hidden", m, b"hidden".to_vec()).unwrap();
    b.add_file(b"dir_then_file/x", m, b"x".to_vec()).unwrap();
    b.finish().unwrap()
}

fn upper() -> Vec<u8> {
    let mut b = ImageBuilder::new();
    let m = Meta::with_mode(0o644);
    b.add_whiteout(b"gone").unwrap();
    b.add_file(b"replaced", m, b"new".to_vec()).unwrap();
    b.add_file(b"merged/up", m, b"up".to_vec()).unwrap();
    b.set_opaque(b"opaque", true).unwrap();
    b.add_file(b"opaque/visible", m, b"visible".to_vec())
        .unwrap();
    b.add_file(b"dir_then_file", m, b"now a file".to_vec())
        .unwrap();
    b.finish().unwrap()
}

#[test]
fn overlay_rules() {
    let (lo, up) = (lower(), upper());
    let layers = vec![Image::open(&lo).unwrap(), Image::open(&up).unwrap()];
    assert!(layers[1].is_layer());
    assert!(!layers[0].is_layer());
    let ov = Overlay::new(layers);
    let root = ov.root().unwrap();
    let names: Vec<Vec<u8>> = ov
        .read_dir(&root)
        .unwrap()
        .into_iter()
        .map(|e| e.name.to_vec())
        .collect();
    assert_eq!(
        names,
        vec![
            b"dir_then_file".to_vec(),
            b"keep".to_vec(),
            b"merged".to_vec(),
            b"opaque".to_vec(),
            b"replaced".to_vec()
        ]
    );
    assert!(ov.lookup(&root, b"gone").unwrap().is_none());
    let r = ov.resolve(b"replaced").unwrap().unwrap();
    assert_eq!(ov.file_data(&r).unwrap(), b"new");
    let merged = ov.resolve(b"merged").unwrap().unwrap();
    assert_eq!(merged.parts().len(), 2);
    let m: Vec<&[u8]> = ov
        .read_dir(&merged)
        .unwrap()
        .iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(m, vec![&b"low"[..], b"up"]);
    let op = ov.resolve(b"opaque").unwrap().unwrap();
    assert_eq!(op.parts().len(), 1);
    assert!(ov.resolve(b"opaque/hidden").unwrap().is_none());
    assert!(ov.resolve(b"opaque/visible").unwrap().is_some());
    let f = ov.resolve(b"dir_then_file").unwrap().unwrap();
    assert_eq!(f.kind(), Kind::File);
    assert!(ov.resolve(b"dir_then_file/x").is_err());
}

#[test]
fn squash_equals_direct_pack() {
    let (lo, up) = (lower(), upper());
    let layers = [Image::open(&lo).unwrap(), Image::open(&up).unwrap()];
    let squashed = squash(&layers).unwrap();
    let mut b = ImageBuilder::new();
    let m = Meta::with_mode(0o644);
    b.add_file(b"keep", m, b"lower keep".to_vec()).unwrap();
    b.add_file(b"replaced", m, b"new".to_vec()).unwrap();
    b.add_file(b"merged/low", m, b"low".to_vec()).unwrap();
    b.add_file(b"merged/up", m, b"up".to_vec()).unwrap();
    b.add_file(b"opaque/visible", m, b"visible".to_vec())
        .unwrap();
    b.add_file(b"dir_then_file", m, b"now a file".to_vec())
        .unwrap();
    assert_eq!(squashed, b.finish().unwrap());
    Image::open(&squashed).unwrap().verify().unwrap();
}

/// Golden image: a known tree must pack to known bytes, so an accidental change of the format
/// or of the writer's layout is caught. If the format changes on purpose, bump the version in
/// `docs/image-format.md` and update this value.
#[test]
fn golden_image_bytes() {
    let bytes = sample();
    assert_eq!(bytes.len(), GOLDEN_LEN, "image size changed");
    assert_eq!(
        fingerprint(&bytes),
        GOLDEN_XXH3,
        "image bytes changed: format or writer layout is not what docs/image-format.md says"
    );
}

const GOLDEN_LEN: usize = 1088;
const GOLDEN_XXH3: u64 = 0xb49e1531763b41bf;

/// The data checksum function is XXH3-64 over its input: reuse it to fingerprint whole images.
fn fingerprint(b: &[u8]) -> u64 {
    vfs_image::data_checksum(b)
}

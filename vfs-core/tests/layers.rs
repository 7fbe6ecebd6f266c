//! Image layers under the writable tree: lazy loading, copy-up, whiteouts (names gone),
//! merged listings, hard links, quotas.

use vfs_core::Errno::*;
use vfs_core::{Access, Config, Fd, FdFlags, FileType, Fs, OFlags, SetTime};
use vfs_image::{ImageBuilder, Meta};

fn leak(b: &ImageBuilder) -> &'static [u8] {
    Box::leak(b.finish().unwrap().into_boxed_slice())
}

/// Lower layer: /etc/motd, /etc/passwd, /usr/lib/a.py + hard link /usr/bin/a, /usr/empty/,
/// /link -> etc/motd, /old/x. Upper layer: replaces /etc/motd, whiteout /etc/passwd, adds
/// /etc/new, makes /old opaque with /old/y.
fn layers() -> (&'static [u8], &'static [u8]) {
    let m = Meta::with_mode(0o644).with_times(5_000).with_owner(10, 20);
    let mut low = ImageBuilder::new();
    low.add_file(b"etc/motd", m, b"lower motd".to_vec())
        .unwrap();
    low.add_file(b"etc/passwd", m, b"root:x:0:0".to_vec())
        .unwrap();
    low.add_file(b"usr/lib/a.py", m, b"print(1)".to_vec())
        .unwrap();
    low.add_hardlink(b"usr/bin/a", b"usr/lib/a.py").unwrap();
    low.add_dir(b"usr/empty", Meta::with_mode(0o700)).unwrap();
    low.add_symlink(b"link", Meta::with_mode(0o777), b"etc/motd")
        .unwrap();
    low.add_file(b"old/x", m, b"x".to_vec()).unwrap();
    let mut up = ImageBuilder::new();
    up.add_file(b"etc/motd", m, b"upper motd".to_vec()).unwrap();
    up.add_whiteout(b"etc/passwd").unwrap();
    up.add_file(b"etc/new", m, b"new".to_vec()).unwrap();
    up.add_file(b"old/y", m, b"y".to_vec()).unwrap();
    up.set_opaque(b"old", true).unwrap();
    (leak(&low), leak(&up))
}

fn mounted(config: Config) -> (Fs, Fd) {
    let (low, up) = layers();
    let mut fs = Fs::with_layers(config, &[low, up]).unwrap();
    let r = fs.open_root().unwrap();
    (fs, r)
}

fn read(fs: &mut Fs, r: Fd, p: &str) -> Vec<u8> {
    let fd = fs
        .open(
            r,
            p.as_bytes(),
            true,
            OFlags::empty(),
            Access::Read,
            FdFlags::empty(),
            0,
        )
        .unwrap();
    let mut buf = vec![0u8; 256];
    let n = fs.read(fd, &mut buf).unwrap();
    fs.close(fd).unwrap();
    buf.truncate(n);
    buf
}

fn list(fs: &mut Fs, r: Fd, p: &str) -> Vec<String> {
    let fd = fs
        .open(
            r,
            p.as_bytes(),
            true,
            OFlags::DIRECTORY,
            Access::Read,
            FdFlags::empty(),
            0,
        )
        .unwrap();
    let mut v = Vec::new();
    fs.readdir(fd, 2, |e| {
        v.push(String::from_utf8_lossy(e.name).into_owned());
        true
    })
    .unwrap();
    fs.close(fd).unwrap();
    v.sort();
    v
}

#[test]
fn merged_view_upper_wins_whiteouts_hide_opaque_stops() {
    let (mut fs, r) = mounted(Config::default());
    assert!(fs.has_layers());
    assert_eq!(read(&mut fs, r, "etc/motd"), b"upper motd");
    assert_eq!(read(&mut fs, r, "link"), b"upper motd");
    assert_eq!(fs.stat(r, b"etc/passwd", true), Err(ENOENT));
    assert_eq!(list(&mut fs, r, "etc"), ["motd", "new"]);
    assert_eq!(list(&mut fs, r, "old"), ["y"]);
    assert_eq!(list(&mut fs, r, "/"), ["etc", "link", "old", "usr"]);
    let s = fs.stat(r, b"etc/motd", true).unwrap();
    assert_eq!(
        (s.mode, s.uid, s.gid, s.mtime_ns, s.size),
        (0o644, 10, 20, 5_000, 10)
    );
    assert_eq!(fs.stat(r, b"usr/empty", true).unwrap().mode, 0o700);
    fs.check_invariants().unwrap();
}

#[test]
fn reading_copies_nothing_and_costs_no_quota() {
    let (mut fs, r) = mounted(Config {
        max_bytes: 4,
        ..Config::default()
    });
    assert_eq!(read(&mut fs, r, "usr/lib/a.py"), b"print(1)");
    assert_eq!(fs.used_bytes(), 0);
    assert_eq!(fs.used_inodes(), 1); // only the root counts; image inodes are free
                                     // Copy-up on the first write needs quota for the whole file (8 bytes > 4).
    let fd = fs
        .open(
            r,
            b"usr/lib/a.py",
            true,
            OFlags::empty(),
            Access::Write,
            FdFlags::empty(),
            0,
        )
        .unwrap();
    assert_eq!(fs.write(fd, b"P"), Err(ENOSPC));
    // Truncating to a prefix keeps borrowing.
    fs.ftruncate(fd, 5).unwrap();
    assert_eq!(fs.used_bytes(), 0);
    fs.close(fd).unwrap();
    assert_eq!(read(&mut fs, r, "usr/lib/a.py"), b"print");
    fs.check_invariants().unwrap();
}

#[test]
fn copy_up_on_write_and_metadata_change() {
    let (mut fs, r) = mounted(Config::default());
    let fd = fs
        .open(
            r,
            b"etc/motd",
            true,
            OFlags::empty(),
            Access::ReadWrite,
            FdFlags::empty(),
            0,
        )
        .unwrap();
    fs.pwrite(fd, b"U", 0).unwrap();
    fs.close(fd).unwrap();
    assert_eq!(read(&mut fs, r, "etc/motd"), b"Upper motd");
    assert_eq!(fs.used_bytes(), 10);
    fs.utimensat(r, b"etc/new", true, SetTime::At(1), SetTime::At(2))
        .unwrap();
    assert_eq!(fs.stat(r, b"etc/new", true).unwrap().mtime_ns, 2);
    // A fresh mount of the same images is unchanged: images are never written.
    let (mut again, r2) = mounted(Config::default());
    assert_eq!(read(&mut again, r2, "etc/motd"), b"upper motd");
    fs.check_invariants().unwrap();
}

#[test]
fn hard_links_stay_one_inode() {
    let (mut fs, r) = mounted(Config::default());
    // The link count is right before the second name's directory is loaded.
    let a = fs.stat(r, b"usr/lib/a.py", true).unwrap();
    assert_eq!(a.nlink, 2);
    fs.check_invariants().unwrap();
    let b = fs.stat(r, b"usr/bin/a", true).unwrap();
    assert_eq!(a.ino, b.ino);
    let fd = fs
        .open(
            r,
            b"usr/bin/a",
            true,
            OFlags::TRUNC,
            Access::Write,
            FdFlags::empty(),
            0,
        )
        .unwrap();
    fs.write(fd, b"changed").unwrap();
    fs.close(fd).unwrap();
    assert_eq!(read(&mut fs, r, "usr/lib/a.py"), b"changed");
    fs.unlink(r, b"usr/lib/a.py").unwrap();
    assert_eq!(fs.stat(r, b"usr/bin/a", true).unwrap().nlink, 1);
    fs.check_invariants().unwrap();
}

#[test]
fn deleting_renaming_and_creating_over_layers() {
    let (mut fs, r) = mounted(Config::default());
    // rmdir decides emptiness from the layers without loading.
    assert_eq!(fs.rmdir(r, b"usr"), Err(ENOTEMPTY));
    fs.rmdir(r, b"usr/empty").unwrap();
    fs.unlink(r, b"etc/motd").unwrap();
    assert_eq!(fs.stat(r, b"link", true), Err(ENOENT));
    assert_eq!(list(&mut fs, r, "etc"), ["new"]);
    // Renaming a directory that was never loaded carries its contents along.
    fs.rename(r, b"usr", r, b"opt").unwrap();
    assert_eq!(read(&mut fs, r, "opt/lib/a.py"), b"print(1)");
    assert_eq!(fs.stat(r, b"usr", true), Err(ENOENT));
    fs.mkdir(r, b"etc/sub", 0o755).unwrap();
    let fd = fs
        .open(
            r,
            b"old/z",
            true,
            OFlags::CREAT,
            Access::Write,
            FdFlags::empty(),
            0o600,
        )
        .unwrap();
    fs.close(fd).unwrap();
    assert_eq!(list(&mut fs, r, "old"), ["y", "z"]);
    let st = fs.stat(r, b"etc", true).unwrap();
    assert_eq!((st.file_type, st.nlink), (FileType::Directory, 3));
    fs.check_invariants().unwrap();
}

#[test]
fn unloaded_directories_report_layer_counts() {
    let (fs, _) = mounted(Config::default());
    let mut fs = fs;
    let root = fs.open_root().unwrap();
    // Root is not loaded yet; its stat comes from the merged layers.
    let s = fs.fstat(root).unwrap();
    assert_eq!((s.nlink, s.size), (2 + 3, 20 * (4 + 2)));
    assert_eq!(fs.stat(root, b"usr", true).unwrap().nlink, 2 + 3);
}

#[test]
fn bad_images_are_errors() {
    assert_eq!(
        Fs::with_layers(Config::default(), &[b"not an image"]).unwrap_err(),
        EINVAL
    );
    let fs = Fs::with_layers(Config::default(), &[]).unwrap();
    assert!(!fs.has_layers());
}

/// The path cache keeps "no such file" answers; a walk that stops at a directory still in the
/// layers (whose answer is only "load it and retry") must not leave a wrong one behind.
#[test]
fn missing_names_under_unloaded_directories_are_found_after_loading() {
    let (mut fs, r) = mounted(Config::default());
    for _ in 0..2 {
        assert_eq!(fs.stat(r, b"/usr/lib/a.py", true).map(|s| s.size), Ok(8));
        assert_eq!(fs.stat(r, b"/usr/lib/b.py", true).err(), Some(ENOENT));
        assert_eq!(fs.stat(r, b"/etc/passwd", true).err(), Some(ENOENT));
    }
    let (mut fs, r) = mounted(Config::default());
    assert_eq!(fs.stat(r, b"/old/x", true).err(), Some(ENOENT));
    assert_eq!(fs.stat(r, b"/old/y", true).map(|s| s.size), Ok(1));
    assert_eq!(read(&mut fs, r, "/etc/new"), b"new");
    assert_eq!(fs.stat(r, b"etc/new", true).map(|s| s.size), Ok(3));
}

/// `untouched_image_file` answers "still exactly this image inode?" by comparing values: the
/// bytes (still borrowed, whole), mode, owner, mtime, ctime and link count. The atime and the
/// names are not part of it.
#[test]
fn untouched_image_files_are_told_apart_from_changed_ones() {
    let (low, up) = layers();
    // The clock stands at the images' times (5000), so a change leaves the times as they were
    // and only the rest of the comparison can see it.
    let config = Config {
        clock: Box::new(|| 5_000),
        ..Config::default()
    };
    let mut fs = Fs::with_layers(config, &[low, up]).unwrap();
    let r = fs.open_root().unwrap();
    let ino = |fs: &mut Fs, p: &str| fs.stat(r, p.as_bytes(), false).unwrap().ino;
    let untouched = |fs: &mut Fs, p: &str| {
        let i = ino(fs, p);
        fs.untouched_image_file(i)
    };
    let image_ino = |layer: &'static [u8], p: &str| {
        let img = vfs_image::Image::open(layer).unwrap();
        img.resolve(p.as_bytes()).unwrap().unwrap().ino()
    };
    let write_at = |fs: &mut Fs, p: &str, data: &[u8]| {
        let fd = open_for_writing(fs, r, p);
        fs.pwrite(fd, data, 0).unwrap();
        fs.close(fd).unwrap();
    };

    // Which layer and inode: the lower one's hard link by either name, the upper one's motd.
    let a = untouched(&mut fs, "usr/lib/a.py").unwrap();
    assert!(core::ptr::eq(a.image, low));
    assert_eq!(a.ino, image_ino(low, "usr/lib/a.py"));
    assert_eq!(untouched(&mut fs, "usr/bin/a"), Some(a));
    let motd = untouched(&mut fs, "etc/motd").unwrap();
    assert!(core::ptr::eq(motd.image, up));
    assert_eq!(motd.ino, image_ino(up, "etc/motd"));
    // Reading is no change.
    assert_eq!(read(&mut fs, r, "etc/motd"), b"upper motd");
    assert_eq!(untouched(&mut fs, "etc/motd"), Some(motd));
    // Not regular files of the image.
    assert_eq!(untouched(&mut fs, "etc"), None);
    assert_eq!(untouched(&mut fs, "link"), None);
    assert_eq!(fs.untouched_image_file(9999), None);
    write_at(&mut fs, "created", b"x");
    assert_eq!(untouched(&mut fs, "created"), None);

    // Writing the very same bytes copies them up: no longer the image's.
    write_at(&mut fs, "usr/lib/a.py", b"print(1)");
    assert_eq!(read(&mut fs, r, "usr/lib/a.py"), b"print(1)");
    assert_eq!(untouched(&mut fs, "usr/bin/a"), None);
    // Shrinking keeps borrowing, but only a prefix.
    let fd = open_for_writing(&mut fs, r, "etc/new");
    fs.ftruncate(fd, 1).unwrap();
    fs.close(fd).unwrap();
    assert_eq!(untouched(&mut fs, "etc/new"), None);
    // Another name changes the link count.
    fs.link(r, b"etc/motd", false, r, b"etc/motd2").unwrap();
    assert_eq!(untouched(&mut fs, "etc/motd"), None);
    fs.unlink(r, b"etc/motd2").unwrap();
    assert_eq!(
        untouched(&mut fs, "etc/motd"),
        Some(motd),
        "values, not history"
    );
    // Times: a different mtime is a change.
    fs.utimensat(r, b"old/y", false, SetTime::Omit, SetTime::At(6_000))
        .unwrap();
    assert_eq!(untouched(&mut fs, "old/y"), None);
    // Names are not part of it: the caller compares paths.
    fs.rename(r, b"etc/motd", r, b"moved").unwrap();
    assert_eq!(untouched(&mut fs, "moved"), Some(motd));
    // No layers, no image files.
    let mut plain = Fs::new(Config::default());
    let pr = plain.open_root().unwrap();
    let fd = open_for_writing(&mut plain, pr, "f");
    assert_eq!(plain.untouched_image_file(plain.fd_ino(fd).unwrap()), None);
}

/// Opens `p` for writing, creating it (mode 0o644) if it does not exist.
fn open_for_writing(fs: &mut Fs, r: Fd, p: &str) -> Fd {
    let (creat, write) = (OFlags::CREAT, Access::Write);
    fs.open(r, p.as_bytes(), true, creat, write, FdFlags::empty(), 0o644)
        .unwrap()
}

/// Contents that compress but are not one repeated byte: 300 KiB spans three 128 KiB chunks.
fn text(len: usize) -> Vec<u8> {
    let words = [
        &b"import "[..],
        b"def ",
        b"return ",
        b"self",
        b"(x)\n",
        b"    ",
        b"42",
    ];
    let mut v = Vec::with_capacity(len);
    let mut i = 7usize;
    while v.len() < len {
        i = i.wrapping_mul(1103515245).wrapping_add(12345);
        v.extend_from_slice(words[(i >> 16) % words.len()]);
        v.push(b'a' + (i >> 8) as u8 % 26);
    }
    v.truncate(len);
    v
}

/// A compressed lower layer: /big (300 KiB, three chunks), /small.py, /tiny (stays raw).
fn packed_layer() -> &'static [u8] {
    let m = Meta::with_mode(0o644).with_times(5_000);
    let mut b = ImageBuilder::new();
    b.add_file(b"big", m, text(300 * 1024)).unwrap();
    b.add_file(b"small.py", m, text(5000)).unwrap();
    b.add_file(b"tiny", m, b"t".to_vec()).unwrap();
    let mut out = Vec::new();
    let zstd = vfs_image::host::ChunkPacker::new(vfs_image::host::Compression::Zstd { level: 3 });
    b.finish_packed(Some(&zstd), &mut |x| {
        out.extend_from_slice(x);
        Ok(())
    })
    .unwrap();
    let img = vfs_image::Image::open(&out).unwrap();
    for (p, compressed) in [("big", true), ("small.py", true), ("tiny", false)] {
        let n = img.resolve(p.as_bytes()).unwrap().unwrap();
        assert_eq!(n.is_compressed(), compressed, "{p}");
    }
    Box::leak(out.into_boxed_slice())
}

#[test]
fn compressed_layers_read_whole_in_pieces_and_at_offsets() {
    let mut fs = Fs::with_layers(
        Config {
            max_bytes: 0,
            ..Config::default()
        },
        &[packed_layer()],
    )
    .unwrap();
    let r = fs.open_root().unwrap();
    let big = text(300 * 1024);
    assert_eq!(fs.stat(r, b"big", true).unwrap().size, big.len() as u64);
    assert_eq!(read(&mut fs, r, "small.py"), &text(5000)[..256]);
    assert_eq!(read(&mut fs, r, "tiny"), b"t");
    let fd = fs
        .open(
            r,
            b"big",
            true,
            OFlags::empty(),
            Access::Read,
            FdFlags::empty(),
            0,
        )
        .unwrap();
    // Whole, in one read (what CPython does with a .pyc).
    let mut all = vec![0u8; big.len() + 1];
    assert_eq!(fs.pread(fd, &mut all, 0), Ok(big.len()));
    assert_eq!(&all[..big.len()], &big[..]);
    // Sequentially in 8 KiB pieces, which splits chunks (served from the decoded chunk).
    let mut got = Vec::new();
    let mut piece = vec![0u8; 8192];
    loop {
        let n = fs.read(fd, &mut piece).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&piece[..n]);
    }
    assert_eq!(got, big);
    // At offsets that straddle chunk boundaries, and past the end.
    for (off, len) in [
        (131_000u64, 2_000usize),
        (1, 262_144),
        (262_143, 100),
        (307_000, 9_000),
    ] {
        let mut b = vec![0u8; len];
        let n = fs.pread(fd, &mut b, off).unwrap();
        let want = &big[(off as usize).min(big.len())..(off as usize + len).min(big.len())];
        assert_eq!(&b[..n], want, "pread at {off}");
    }
    assert_eq!(fs.pread(fd, &mut piece, 1 << 20), Ok(0));
    fs.close(fd).unwrap();
    // Reading cost no quota (max_bytes is 0) and left the file the image's own.
    assert_eq!(fs.used_bytes(), 0);
    let ino = fs.stat(r, b"big", true).unwrap().ino;
    assert!(fs.untouched_image_file(ino).is_some());
    fs.check_invariants().unwrap();
}

#[test]
fn compressed_files_copy_up_on_write_and_truncate() {
    let mut fs = Fs::with_layers(Config::default(), &[packed_layer()]).unwrap();
    let r = fs.open_root().unwrap();
    let big = text(300 * 1024);
    let fd = open_for_writing(&mut fs, r, "big");
    fs.pwrite(fd, b"XY", 200_000).unwrap();
    fs.close(fd).unwrap();
    let mut want = big.clone();
    want[200_000..200_002].copy_from_slice(b"XY");
    let fd = fs
        .open(
            r,
            b"big",
            true,
            OFlags::empty(),
            Access::Read,
            FdFlags::empty(),
            0,
        )
        .unwrap();
    let mut all = vec![0u8; want.len()];
    assert_eq!(fs.read(fd, &mut all), Ok(want.len()));
    assert_eq!(all, want);
    fs.close(fd).unwrap();
    assert_eq!(
        fs.used_bytes(),
        want.len() as u64,
        "copy-up charges the whole file"
    );
    let ino = fs.stat(r, b"big", true).unwrap().ino;
    assert_eq!(fs.untouched_image_file(ino), None);
    // Shrinking a compressed file decodes the prefix it keeps.
    let fd = open_for_writing(&mut fs, r, "small.py");
    fs.ftruncate(fd, 10).unwrap();
    fs.close(fd).unwrap();
    assert_eq!(read(&mut fs, r, "small.py"), &text(5000)[..10]);
    fs.check_invariants().unwrap();
}

#[test]
fn corrupt_compressed_files_read_as_eio() {
    let good = packed_layer();
    let img = vfs_image::Image::open(good).unwrap();
    let n = img.resolve(b"big").unwrap().unwrap();
    let vfs_image::Contents::Packed(p) = img.contents(&n).unwrap() else {
        panic!("big is compressed");
    };
    // Flip bytes in the middle of the second chunk's frame: mounting works (O(1)), reading
    // the first chunk still works, reading the second is EIO, never a panic. (Frames carry no
    // checksum, so some flips could decode to other bytes, as a flip in a raw file would;
    // `vfs-image verify` checks the data checksum. These bytes land in a Huffman table.)
    let body_at = p.body().as_ptr() as usize - good.as_ptr() as usize;
    let (_, c0) = p.chunk(0).unwrap();
    let mut bad = good.to_vec();
    let at = body_at + 8 + 4 * 3 + c0.len() + 40;
    for b in &mut bad[at..at + 16] {
        *b ^= 0x5a;
    }
    let bad: &'static [u8] = Box::leak(bad.into_boxed_slice());
    let mut fs = Fs::with_layers(Config::default(), &[bad]).unwrap();
    let r = fs.open_root().unwrap();
    let fd = fs
        .open(
            r,
            b"big",
            true,
            OFlags::empty(),
            Access::Read,
            FdFlags::empty(),
            0,
        )
        .unwrap();
    let mut b = vec![0u8; 1000];
    assert_eq!(
        fs.pread(fd, &mut b, 0).map(|n| b[..n] == text(1000)[..]),
        Ok(true)
    );
    let mut whole = vec![0u8; 300 * 1024];
    assert_eq!(fs.pread(fd, &mut whole, 0), Err(EIO));
}

//! Fuzzes the overlay of two images: the input is split in two at a position given by its first
//! two bytes. The merged view is walked completely (lookup of every name, every file read),
//! then squashed; a squash that succeeds must give an image that opens and verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vfs_image::{squash, Image, Overlay};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let split = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
    let (lower, upper) = data[2..].split_at(split);
    let (Ok(lo), Ok(up)) = (Image::open(lower), Image::open(upper)) else {
        return;
    };
    let ov = Overlay::new(vec![lo, up]);
    let Ok(root) = ov.root() else { return };
    let mut stack = vec![root];
    let mut budget = 100_000usize;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = ov.read_dir(&dir) else {
            continue;
        };
        for e in entries {
            budget = budget
                .checked_sub(1)
                .expect("overlay walk did not terminate");
            let again = ov.lookup(&dir, e.name);
            if let Ok(Some(n)) = &again {
                assert_eq!(n.kind(), e.node.kind(), "lookup and readdir disagree");
            }
            if e.node.is_dir() {
                stack.push(e.node);
            } else {
                if let Ok(vfs_image::Contents::Packed(p)) = ov.contents(&e.node) {
                    // Bounded decoding of the first chunk (a whole file may declare GiBs).
                    let mut buf = vec![0u8; 4096];
                    let _ = vfs_image::Unpacker::new().read_at(&p, 0, &mut buf);
                } else {
                    let _ = ov.file_data(&e.node);
                }
                let _ = ov.symlink_target(&e.node);
            }
        }
    }
    // squash decodes whole files: only for inputs whose files are small.
    let small = |i: &Image| (0..i.inode_count().min(64)).all(|n| i.node(n).map_or(true, |n| n.size() < 64 << 10));
    if !(small(&lo) && small(&up)) {
        return;
    }
    if let Ok(bytes) = squash(&[lo, up]) {
        let img = Image::open(&bytes).expect("squash output must open");
        img.verify().expect("squash output must verify");
    }
});

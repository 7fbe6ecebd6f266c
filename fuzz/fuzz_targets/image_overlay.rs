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
                let _ = ov.file_data(&e.node);
                let _ = ov.symlink_target(&e.node);
            }
        }
    }
    if let Ok(bytes) = squash(&[lo, up]) {
        let img = Image::open(&bytes).expect("squash output must open");
        img.verify().expect("squash output must verify");
    }
});

//! Fuzzes the vfs-image reader with arbitrary bytes: open, walk every entry, read every file and
//! symlink, look every name up again, resolve a path, and run the full verifier. Any panic,
//! out-of-bounds access or hang is a bug: hostile images must only ever produce errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vfs_image::{Image, Kind};

fuzz_target!(|data: &[u8]| {
    let Ok(img) = Image::open(data) else { return };
    let _ = img.stats();
    let _ = img.verify();
    let _ = img.resolve(b"a/../b/./c");
    // Breadth-first over everything reachable. The reader's no-cycle rule guarantees this ends;
    // the budget only keeps a single input from taking long if that rule were broken.
    let mut queue = vec![img.root()];
    let mut budget = 100_000usize;
    while let Some(dir) = queue.pop() {
        let Ok(entries) = img.read_dir(&dir, 0) else {
            continue;
        };
        for e in entries {
            budget = budget.checked_sub(1).expect("walk did not terminate");
            let Ok(e) = e else { break };
            match e.node.kind() {
                Kind::Dir => {
                    let _ = img.parent(&e.node);
                    queue.push(e.node);
                }
                Kind::File => {
                    let d = img.file_data(&e.node).expect("node() validated the range");
                    assert_eq!(d.len() as u64, e.node.size());
                }
                Kind::Symlink => {
                    let _ = img
                        .symlink_target(&e.node)
                        .expect("node() validated the range");
                }
                Kind::Whiteout => {}
            }
            // The binary search may miss names in an unsorted (corrupt) table, but must not
            // fail differently from the walk or panic.
            let _ = img.lookup(&dir, e.name);
        }
    }
    for ino in 0..img.inode_count().min(4096) {
        let _ = img.node(ino);
    }
});

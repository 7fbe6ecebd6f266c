//! Fuzzes the vfs-image reader with arbitrary bytes: open, walk every entry, read every file and
//! symlink (compressed files decoded whole and in pieces), look every name up again, resolve a
//! path, and run the full verifier. Any panic, out-of-bounds access or hang is a bug: hostile
//! images must only ever produce errors. Seed the corpus with compressed images
//! (`cargo run --bin seed_images`) so the mutations reach the decoders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vfs_image::{Contents, Image, Kind, Packed, Unpacker};

/// Reads `p` as a guest would, in pieces through one `Unpacker`: never more bytes than the
/// file's declared size, and the same bytes whole as in pieces when both succeed.
fn read_packed(p: &Packed, u: &mut Unpacker) {
    let mut buf = vec![0u8; 5_000];
    let mut at = 0u64;
    let mut pieces = Vec::new();
    // Bounded: at most 2 pieces (10 KB) of a file that may declare far more, then its last
    // byte (another chunk), then the whole file if it is small.
    for _ in 0..2 {
        match u.read_at(p, at, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                assert!(at + n as u64 <= p.len(), "read past the declared size");
                pieces.extend_from_slice(&buf[..n]);
                at += n as u64;
            }
        }
    }
    let _ = u.read_at(p, p.len().saturating_sub(1), &mut buf);
    if p.len() <= 8 << 10 {
        let mut whole = Vec::new();
        if u.read_all(p, &mut whole).is_ok() {
            assert_eq!(whole.len() as u64, p.len());
            assert_eq!(&whole[..pieces.len()], &pieces[..], "whole and pieces differ");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(img) = Image::open(data) else { return };
    let stats = img.stats();
    // `verify` decodes every compressed file: its work grows with the sizes the files declare
    // (a few bytes of LZ4 may declare a MiB), so only images declaring little are verified
    // here, and the walk below reads a bounded prefix of the rest.
    let verified = stats.is_ok_and(|s| s.file_bytes <= 64 << 10);
    if verified {
        let _ = img.verify();
    }
    let _ = img.resolve(b"a/../b/./c");
    // Breadth-first over everything reachable. The reader's no-cycle rule guarantees this ends;
    // the budget only keeps a single input from taking long if that rule were broken.
    let mut queue = vec![img.root()];
    let mut budget = 100_000usize;
    let mut unpacker = Unpacker::new();
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
                Kind::File => match img.contents(&e.node) {
                    Ok(Contents::Raw(d)) => assert_eq!(d.len() as u64, e.node.size()),
                    // `verify` decoded it already (each decode costs the fuzzer much more than
                    // the rest of an execution): once is enough.
                    Ok(Contents::Packed(p)) if !verified => read_packed(&p, &mut unpacker),
                    Ok(Contents::Packed(_)) => {}
                    Err(_) => assert!(e.node.is_compressed(), "node() validated the range"),
                },
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

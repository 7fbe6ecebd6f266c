//! A restore after an instance that took no page fault reuses the last page-table walk; any
//! new private page (a fault) brings a new walk. Alone in its own test binary: the shortcut
//! counts the page faults of the whole process, and other tests running beside it would
//! make every restore walk.

mod common;

use common::*;
use vfs_slots::{Marks, Slots};

#[test]
fn restores_walk_the_page_tables_again_only_after_a_fault() {
    let slots = Slots::with_marks(64 << 20, &[Marks::SoftDirty, Marks::File]);
    if slots.marks().is_none() {
        eprintln!("no PAGEMAP_SCAN on this kernel: every restore gives all pages back");
        return;
    }
    let engine = engine(&slots);
    let b = load(&engine, 7);
    let want = expected(7);
    let page = 4096;
    // Runs one instance: checks it starts from the image (and, grown, from zeros), lets `f`
    // write, and returns whether its restore walked the page tables.
    let round = |grow_by: i32, f: &dyn Fn(&mut wasmtime::Store<()>, &wasmtime::Instance)| {
        let (mut store, instance, memory) = instantiate(&engine, &b);
        assert!(memory.data(&store) == &want[..], "not the image");
        if grow_by > 0 {
            assert_eq!(grow(&mut store, &instance, grow_by), PAGES as i32);
            let grown = &memory.data(&store)[MIN..];
            assert!(grown.iter().all(|&b| b == 0), "grown memory not zero");
        }
        f(&mut store, &instance);
        let before = slots.restores().1;
        drop(store);
        slots.restores().1 > before
    };
    let grown_end = (MIN + (3 << 16)) as i32;
    // Every fourth page of the image and of the first three grown wasm pages (`scribble`
    // writes from 0 to the end it is given): new private pages.
    assert!(round(3, &|s, i| scribble(s, i, 4 * page, grown_end, 1)));
    // The same pages again with other bytes (and in a memory not grown this time): no page
    // turns private, and at least one of these restores skips the walk (the test's own heap
    // may still fault now and then).
    let mut skipped = 0;
    for v in 3..9 {
        let grow_by = if v % 2 == 0 { 3 } else { 0 };
        let end = if grow_by > 0 { grown_end } else { MIN as i32 };
        let walked = round(grow_by, &|s, i| scribble(s, i, 4 * page, end, v));
        skipped += usize::from(!walked);
    }
    assert!(skipped > 0, "every restore walked the page tables");
    // Pages never written before, in memory the first walk covered: they fault, so the
    // restore walks again and finds them.
    assert!(round(3, &|s, i| scribble(s, i, 2 * page, MIN as i32, 9)));
    // Memory grown past what any walk covered: new pages there, walked too.
    let grown5 = (MIN + (5 << 16)) as i32;
    assert!(round(5, &|s, i| scribble(s, i, 4 * page, grown5, 10)));
    // A walk of a memory not grown (a new page written) leaves out the grown pages, which
    // stay private and zeroed; an instance growing again and writing only those takes no
    // fault, yet the restore must walk, as the last walk did not cover them.
    assert!(round(0, &|s, i| scribble(s, i, 3 * page, MIN as i32, 11)));
    assert!(round(5, &|s, i| scribble(s, i, 4 * page, grown5, 12)));
    // And the next instance sees the image, grown memory zero.
    round(5, &|_, _| {});
}

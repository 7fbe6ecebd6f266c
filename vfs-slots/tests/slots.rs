//! Slots against wasmtime: every fresh instance sees exactly the image, however the last one
//! scribbled and grew; written pages stay resident; modules that cannot be split are named.

mod common;

use std::sync::Arc;

use common::*;
use vfs_slots::{split, Image, Marks, Slots, Tripwire};
use wasmtime::{Engine, Instance, Module, Store};

#[test]
fn split_moves_every_segment_into_the_image_and_leaves_none() {
    let wasm = wat::parse_str(module(7)).unwrap();
    let s = split(&wasm).unwrap();
    let want = expected(7);
    assert_eq!(s.image[..], want[..s.image.len()]);
    assert!(want[s.image.len()..].iter().all(|&b| b == 0));
    // No instruction names a segment: none is left.
    assert_eq!(segments(&wasm).len(), MIN / 12288);
    assert_eq!(segments(&s.module).len(), 0);
    // Compiled with wasmtime's own memories, the stripped module starts all zeros.
    let engine = Engine::default();
    let module = Module::new(&engine, &s.module).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    assert!(memory.data(&store).iter().all(|&b| b == 0));
}

#[test]
fn modules_that_cannot_be_split_say_why() {
    let cases = [
        (
            r#"(module (import "m" "mem" (memory 1)))"#,
            "the module imports its memory",
        ),
        (
            r#"(module (global $g i32 (i32.const 8)) (memory 1) (data (global.get $g) "x"))"#,
            "a data segment at a computed offset",
        ),
        (
            r#"(module (memory 1) (data (i32.const 65535) "xy"))"#,
            "past the initial memory",
        ),
        (r#"(module (func))"#, "the module defines no memory"),
        (r#"(module (memory 1 1 shared))"#, "64-bit, shared"),
    ];
    for (wat, why) in cases {
        let err = split(&wat::parse_str(wat).unwrap()).unwrap_err();
        assert!(err.0.contains(why), "{wat}: {err}");
    }
    assert!(split(b"\0asm\x01\0\0\0\x0b\xff")
        .unwrap_err()
        .0
        .contains("not a wasm module"));
}

/// Each way of telling written pages (and none: every page given back), as a slot set.
fn every_marking() -> Vec<(&'static str, Arc<Slots>)> {
    let mut all = vec![("none", Slots::with_marks(64 << 20, &[]))];
    for (name, marks) in [("soft-dirty", Marks::SoftDirty), ("file", Marks::File)] {
        let slots = Slots::with_marks(64 << 20, &[marks]);
        if slots.marks() == Some(marks) {
            all.push((name, slots));
        } else {
            eprintln!("{name}: not on this kernel");
        }
    }
    all
}

/// Every instance sees the image exactly, after the last one wrote 512 separate regions (past
/// any fixed batch of regions), grew its memory and wrote there; one slot serves them all.
#[test]
fn each_fresh_instance_sees_exactly_the_image() {
    for (name, slots) in every_marking() {
        each_fresh_instance_sees_exactly_the_image_with(name, &slots);
    }
}

fn each_fresh_instance_sees_exactly_the_image_with(name: &str, slots: &Arc<Slots>) {
    let engine = engine(slots);
    let b = load(&engine, 1);
    let want = expected(1);
    for round in 0..6 {
        let (mut store, instance, memory) = instantiate(&engine, &b);
        assert_eq!(memory.data_size(&store), MIN, "{name} round {round}");
        assert!(
            memory.data(&store) == &want[..],
            "{name} round {round}: not the image"
        );
        // Every other page, and a different byte each round.
        scribble(&mut store, &instance, 8192, MIN as i32, 0x40 + round);
        assert_eq!(grow(&mut store, &instance, 3), PAGES as i32);
        scribble(&mut store, &instance, 4096, (MIN + (3 << 16)) as i32, 0x77);
        drop(store);
        assert_eq!(b.image.idle_slots(), 1);
    }
}

/// With a resident budget of four pages the scan stops early; the rest is given back to the
/// kernel, and the next instance still sees the image.
#[test]
fn a_small_resident_budget_still_restores_everything() {
    let slots = Slots::new(4 * 4096);
    let engine = engine(&slots);
    let b = load(&engine, 2);
    let want = expected(2);
    for round in 0..3 {
        let (mut store, instance, memory) = instantiate(&engine, &b);
        assert!(memory.data(&store) == &want[..], "round {round}");
        scribble(&mut store, &instance, 4096, MIN as i32, 0x55);
    }
}

/// Two boxes on one engine, their instances interleaved and two of each alive at once: each
/// sees its own image, and each keeps its own slots.
#[test]
fn two_images_on_one_engine_stay_apart() {
    let slots = Slots::new(64 << 20);
    let engine = engine(&slots);
    let (a, b) = (load(&engine, 3), load(&engine, 4));
    let (wa, wb) = (expected(3), expected(4));
    for _ in 0..3 {
        let (mut sa, ia, ma) = instantiate(&engine, &a);
        let (mut sb, ib, mb) = instantiate(&engine, &b);
        let (sa2, _, ma2) = instantiate(&engine, &a);
        assert!(ma.data(&sa) == &wa[..]);
        assert!(mb.data(&sb) == &wb[..]);
        assert!(ma2.data(&sa2) == &wa[..]);
        scribble(&mut sa, &ia, 4096, MIN as i32, 0x11);
        scribble(&mut sb, &ib, 4096, MIN as i32, 0x22);
    }
    assert_eq!((a.image.idle_slots(), b.image.idle_slots()), (2, 1));
}

/// The data segments of `wasm`, and its data count if it has one.
fn segments(wasm: &[u8]) -> Vec<wasmparser::Data<'_>> {
    let mut all = Vec::new();
    for p in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::DataSection(d) = p.unwrap() {
            all.extend(d.into_iter().map(|d| d.unwrap()));
        }
    }
    all
}

fn data_count(wasm: &[u8]) -> Option<u32> {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .find_map(|p| match p.unwrap() {
            wasmparser::Payload::DataCountSection { count, .. } => Some(count),
            _ => None,
        })
}

/// Segments up to the last one an instruction names keep their indices (active ones become
/// empty passive ones, passive ones stay byte for byte, so `memory.init` still copies them);
/// the ones after it go, and the data count says how many are left. The code is read whole,
/// SIMD instructions included.
#[test]
fn segments_past_the_last_one_named_are_removed() {
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (data (i32.const 0) "a0")
             (data "p1")
             (data (i32.const 8) "a2")
             (data "p3")
             (data (i32.const 16) "a4")
             (data "p5")
             (func (export "init") (memory.init 1 (i32.const 100) (i32.const 0) (i32.const 2)))
             (func (export "drop") (data.drop 3))
             (func (result v128) (v128.const i64x2 1 2)))"#,
    )
    .unwrap();
    assert_eq!((segments(&wasm).len(), data_count(&wasm)), (6, Some(6)));
    let s = split(&wasm).unwrap();
    assert_eq!(&s.image[..18], b"a0\0\0\0\0\0\0a2\0\0\0\0\0\0a4");
    let kept = segments(&s.module);
    let kinds: Vec<_> = kept
        .iter()
        .map(|d| (matches!(d.kind, wasmparser::DataKind::Passive), d.data))
        .collect();
    assert_eq!(
        kinds,
        [(true, &b""[..]), (true, b"p1"), (true, b""), (true, b"p3")]
    );
    assert_eq!(data_count(&s.module), Some(4));
    let slots = Slots::new(1 << 20);
    let engine = engine(&slots);
    let module = Module::new(&engine, &s.module).unwrap();
    let image = Image::new(&s.image, s.minimum).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Slots::with_image(&image, || Instance::new(&mut store, &module, &[])).unwrap();
    for f in ["init", "drop"] {
        instance
            .get_typed_func::<(), ()>(&mut store, f)
            .unwrap()
            .call(&mut store, ())
            .unwrap();
    }
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    assert_eq!(&memory.data(&store)[16..18], b"a4");
    assert_eq!(&memory.data(&store)[100..102], b"p1");
}

/// A module instantiated outside `with_image` gets zeroed memory, and wasmtime copies its
/// data segments into it as usual.
#[test]
fn other_modules_get_plain_memory() {
    let slots = Slots::new(64 << 20);
    let engine = engine(&slots);
    let module = Module::new(&engine, wat::parse_str(module(5)).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    assert!(memory.data(&store) == &expected(5)[..]);
}

/// What `/proc/self/pagemap` says of the page at `addr`: (present, file or shared).
fn page_state(addr: usize) -> (bool, bool) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open("/proc/self/pagemap").unwrap();
    let mut entry = [0u8; 8];
    f.read_exact_at(&mut entry, (addr / 4096 * 8) as u64)
        .unwrap();
    let e = u64::from_le_bytes(entry);
    (e >> 63 & 1 == 1, e >> 61 & 1 == 1)
}

/// The point of the crate: a page the last instance wrote is, for the next one, already a
/// private resident page holding the image's bytes, so writing it again takes no fault.
#[test]
fn written_pages_stay_resident_for_the_next_instance() {
    for (name, slots) in every_marking() {
        if slots.marks().is_some() {
            written_pages_stay_resident_with(name, &slots);
        }
    }
}

fn written_pages_stay_resident_with(name: &str, slots: &Arc<Slots>) {
    let engine = engine(slots);
    let b = load(&engine, 6);
    let (mut store, instance, memory) = instantiate(&engine, &b);
    let base = memory.data_ptr(&store) as usize;
    scribble(&mut store, &instance, 8192, MIN as i32, 0x33);
    drop(store);
    let (store, _, memory) = instantiate(&engine, &b);
    assert_eq!(memory.data_ptr(&store) as usize, base, "the same slot");
    for page in (0..MIN).step_by(8192) {
        assert_eq!(
            page_state(base + page),
            (true, false),
            "{name}: page at {page:#x}: not kept resident and private"
        );
    }
    assert!(memory.data(&store) == &expected(6)[..]);
}

/// Compiled code checks no bounds below the reservation wasmtime asked for (4 GiB here), so a
/// slot reserves all of it even for a one-page memory (read from `/proc/self/maps`: no gap
/// another mapping could take), and an access far past the memory traps as out of bounds.
#[test]
fn accesses_past_a_small_memory_trap() {
    let slots = Slots::new(1 << 20);
    let engine = engine(&slots);
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 1 1) (data (i32.const 0) "x")
             (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0))))"#,
    )
    .unwrap();
    let s = split(&wasm).unwrap();
    let module = Module::new(&engine, &s.module).unwrap();
    let image = Image::new(&s.image, s.minimum).unwrap();
    for addr in [65536u32, 1 << 24, 1 << 31, u32::MAX - 8] {
        let mut store = Store::new(&engine, ());
        let instance =
            Slots::with_image(&image, || Instance::new(&mut store, &module, &[])).unwrap();
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        let base = memory.data_ptr(&store) as usize;
        assert_mapped(base, base + (1usize << 32));
        let peek = instance
            .get_typed_func::<i32, i32>(&mut store, "peek")
            .unwrap();
        assert_eq!(peek.call(&mut store, 0).unwrap(), i32::from(b'x'));
        let err = peek.call(&mut store, addr as i32).unwrap_err();
        assert_eq!(
            err.downcast_ref::<wasmtime::Trap>(),
            Some(&wasmtime::Trap::MemoryOutOfBounds),
            "{addr:#x}: {err:#}"
        );
    }
}

/// Panics unless `start..end` is covered by mappings without a gap.
fn assert_mapped(start: usize, end: usize) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut ranges: Vec<(usize, usize)> = maps
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_whitespace().next()?.split_once('-')?;
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            ))
        })
        .filter(|&(a, b)| b > start && a < end)
        .collect();
    ranges.sort();
    let mut at = start;
    for (a, b) in ranges {
        assert!(a <= at, "nothing mapped at {at:#x} (slot at {start:#x})");
        at = at.max(b);
    }
    assert!(at >= end, "nothing mapped at {at:#x} (slot at {start:#x})");
}

/// A tripwire's memory: readable until tripped, then every access traps, also for a wire
/// tripped before its memory was made; disarmed, its slot serves the next instance readable.
#[test]
fn a_tripped_wire_makes_its_memory_trap_and_disarming_gives_it_back() {
    let wat = r#"(module
        (memory (export "memory") 1)
        (memory $wire 1 1)
        (func (export "probe") (result i32) (i32.load8_u $wire (i32.const 0)))
        (func (export "main") (result i32) (i32.load8_u (i32.const 0))))"#;
    let slots = Slots::new(1 << 20);
    let engine = engine(&slots);
    let module = Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
    let wire_image = Image::tripwire(65536).unwrap();
    let images = [None, Some(wire_image.clone())];
    let call = |store: &mut Store<()>, instance: &Instance, f: &str| {
        instance
            .get_typed_func::<(), i32>(&mut *store, f)
            .unwrap()
            .call(&mut *store, ())
    };
    for tripped_early in [false, true] {
        let wire = Tripwire::new();
        if tripped_early {
            assert!(wire.trip().unwrap());
        }
        let mut store = Store::new(&engine, ());
        let instance = Slots::with_images(&images, Some(&wire), || {
            Instance::new(&mut store, &module, &[])
        })
        .unwrap();
        if !tripped_early {
            assert_eq!(call(&mut store, &instance, "probe").unwrap(), 0);
            assert!(wire.trip().unwrap());
            assert!(!wire.trip().unwrap(), "a second trip does nothing");
        }
        let trap = call(&mut store, &instance, "probe").unwrap_err();
        assert_eq!(
            trap.downcast_ref::<wasmtime::Trap>(),
            Some(&wasmtime::Trap::MemoryOutOfBounds)
        );
        // The other memory is untouched.
        assert_eq!(call(&mut store, &instance, "main").unwrap(), 0);
        assert!(wire.disarm().unwrap());
        assert_eq!(call(&mut store, &instance, "probe").unwrap(), 0);
        assert!(
            wire.disarm().unwrap(),
            "disarming again still tells it was tripped"
        );
        drop(store);
        assert_eq!(
            wire_image.idle_slots(),
            1,
            "the slot went back to its image"
        );
    }
    // The slot, tripped twice, serves an instance whose wire is never tripped.
    let wire = Tripwire::new();
    let mut store = Store::new(&engine, ());
    let instance = Slots::with_images(&images, Some(&wire), || {
        Instance::new(&mut store, &module, &[])
    })
    .unwrap();
    assert_eq!(call(&mut store, &instance, "probe").unwrap(), 0);
    assert!(!wire.disarm().unwrap());
}

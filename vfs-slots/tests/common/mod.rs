//! What the test binaries share: a test module with data segments, an engine on slots, and
//! calls into the module.

#![allow(dead_code)]

use std::sync::Arc;

use vfs_slots::{split, Image, Slots};
use wasmtime::{Config, Engine, Instance, Memory, Module, Store};

/// Initial memory of the test module: 64 wasm pages (4 MiB).
pub const PAGES: u64 = 64;
pub const MIN: usize = (PAGES as usize) << 16;

/// A module with data segments every 12 KiB (each `tag`-dependent), and exports that write a
/// byte at every `stride`-th byte and grow memory.
pub fn module(tag: u8) -> String {
    let mut data = String::new();
    for k in 0..(MIN / 12288) {
        let bytes: String = (0..16)
            .map(|i| format!("\\{:02x}", (k as u8).wrapping_mul(31) ^ i ^ tag))
            .collect();
        data.push_str(&format!(
            "(data (i32.const {}) \"{bytes}\")\n",
            k * 12288 + 100
        ));
    }
    format!(
        r#"(module
  (memory (export "memory") {PAGES} 256)
  (func (export "scribble") (param $stride i32) (param $end i32) (param $val i32)
    (local $at i32)
    (loop $l
      (i32.store8 (local.get $at) (local.get $val))
      (local.set $at (i32.add (local.get $at) (local.get $stride)))
      (br_if $l (i32.lt_u (local.get $at) (local.get $end)))))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  {data})"#
    )
}

pub fn engine(slots: &Arc<Slots>) -> Engine {
    let mut config = Config::new();
    // As a server must: wasmtime 48 panics on a copy-on-write image in a creator's memory.
    config
        .memory_init_cow(false)
        .with_host_memory(slots.clone());
    Engine::new(&config).unwrap()
}

/// The memory `split` should produce for `module(tag)`.
pub fn expected(tag: u8) -> Vec<u8> {
    let mut m = vec![0u8; MIN];
    for k in 0..(MIN / 12288) {
        for i in 0..16u8 {
            m[k * 12288 + 100 + i as usize] = (k as u8).wrapping_mul(31) ^ i ^ tag;
        }
    }
    m
}

pub struct Box_ {
    pub module: Module,
    pub image: Arc<Image>,
}

pub fn load(engine: &Engine, tag: u8) -> Box_ {
    let wasm = wat::parse_str(module(tag)).unwrap();
    let s = split(&wasm).unwrap();
    assert_eq!(s.minimum, MIN);
    Box_ {
        module: Module::new(engine, &s.module).unwrap(),
        image: Image::new(&s.image, s.minimum).unwrap(),
    }
}

pub fn instantiate(engine: &Engine, b: &Box_) -> (Store<()>, Instance, Memory) {
    let mut store = Store::new(engine, ());
    let instance =
        Slots::with_image(&b.image, || Instance::new(&mut store, &b.module, &[])).unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    (store, instance, memory)
}

pub fn scribble(store: &mut Store<()>, instance: &Instance, stride: i32, end: i32, val: i32) {
    instance
        .get_typed_func::<(i32, i32, i32), ()>(&mut *store, "scribble")
        .unwrap()
        .call(&mut *store, (stride, end, val))
        .unwrap();
}

pub fn grow(store: &mut Store<()>, instance: &Instance, pages: i32) -> i32 {
    instance
        .get_typed_func::<i32, i32>(&mut *store, "grow")
        .unwrap()
        .call(&mut *store, pages)
        .unwrap()
}

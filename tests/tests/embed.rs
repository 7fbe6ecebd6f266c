//! Acceptance 3: a guest embedded with a 1 MB and with a 100 MB image (`vfs-image embed`)
//! starts as fast with either, and the allocator never hands out memory over an image.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vfs_tests::*;

/// Packs a tree of `files` files of `size` bytes under `data/`, plus `probe/probe.txt`: the
/// probe's directories are the same in every image, so reading it compares image *size* only.
fn make_image(name: &str, files: usize, size: usize) -> (PathBuf, PathBuf) {
    let dir = scratch_dir(name).unwrap();
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("data/sub")).unwrap();
    std::fs::create_dir_all(tree.join("probe")).unwrap();
    std::fs::write(
        tree.join("probe/probe.txt"),
        b"probe: the same file in every image\n",
    )
    .unwrap();
    for i in 0..files {
        let sub = if i % 2 == 0 { "data" } else { "data/sub" };
        std::fs::write(
            tree.join(format!("{sub}/blob-{i:04}.bin")),
            noise(i as u64 + 1, size),
        )
        .unwrap();
    }
    let img = dir.join(format!("{name}.vfs"));
    let (ok, _, err) = vfs_image(&[
        OsStr::new("pack"),
        tree.as_os_str(),
        OsStr::new("-o"),
        img.as_os_str(),
        OsStr::new("--mtime"),
        OsStr::new("1700000000"),
    ])
    .unwrap();
    assert!(ok, "pack failed: {err}");
    (tree, img)
}

fn embed(module: &Path, layers: &[&Path], out: &Path) -> (bool, String) {
    let mut args: Vec<&OsStr> = vec![OsStr::new("embed"), module.as_os_str()];
    args.extend(layers.iter().map(|l| l.as_os_str()));
    args.extend([OsStr::new("-o"), out.as_os_str()]);
    let (ok, _, err) = vfs_image(&args).unwrap();
    (ok, err)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn startup_does_not_grow_with_the_image_and_the_heap_never_overlaps_it() {
    let reader = build_guest("image-reader", &[]).unwrap();
    let (small_tree, small_img) = make_image("embed-1mb", 16, 64 << 10);
    let (big_tree, big_img) = make_image("embed-100mb", 100, 1 << 20);
    let small_wasm = small_img.with_extension("wasm");
    let big_wasm = big_img.with_extension("wasm");
    for (img, out) in [(&small_img, &small_wasm), (&big_img, &big_wasm)] {
        let (ok, err) = embed(&reader, &[img], out);
        assert!(ok, "embed failed: {err}");
        let bytes = std::fs::read(out).unwrap();
        wasmparser::Validator::new()
            .validate_all(&bytes)
            .expect("embedded module validates");
    }
    println!(
        "images: {} and {} bytes; modules: {} and {} bytes",
        std::fs::metadata(&small_img).unwrap().len(),
        std::fs::metadata(&big_img).unwrap().len(),
        std::fs::metadata(&small_wasm).unwrap().len(),
        std::fs::metadata(&big_wasm).unwrap().len()
    );

    let engine = engine();
    let small = load(&engine, &small_wasm).unwrap();
    let big = load(&engine, &big_wasm).unwrap();
    let probe = std::fs::read(small_tree.join("probe/probe.txt")).unwrap();
    let want = format!("len={} hash={:016x}", probe.len(), fnv(FNV0, &probe));
    let opts = RunOptions {
        args: vec!["read".into(), "/probe/probe.txt".into()],
        ..Default::default()
    };
    // Interleave the runs so both see the same machine load; compare medians.
    let (mut ts, mut tb) = (Vec::new(), Vec::new());
    let (mut parts_s, mut parts_b) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for _ in 0..31 {
        for (m, acc, parts) in [
            (&small, &mut ts, &mut parts_s),
            (&big, &mut tb, &mut parts_b),
        ] {
            let out = run(&engine, m, &opts).unwrap();
            assert_eq!(out.stdout.trim(), want, "stderr: {}", out.stderr);
            acc.push(out.instantiate + out.run);
            parts.0.push(out.instantiate);
            parts.1.push(out.run);
        }
    }
    println!(
        "instantiate median: {:?} vs {:?}; run median: {:?} vs {:?}",
        median(parts_s.0),
        median(parts_b.0),
        median(parts_s.1),
        median(parts_b.1)
    );
    let (s, b) = (median(ts), median(tb));
    let ratio = b.as_secs_f64() / s.as_secs_f64();
    println!("instantiate+run median: 1 MB image {s:?}, 100 MB image {b:?}, ratio {ratio:.3}");
    assert!(ratio <= 1.2, "start-up grew with the image: {s:?} vs {b:?}");

    // Allocate three times the image's size after start-up, then check every file.
    let (hash, files, bytes) = tree_hash(&big_tree).unwrap();
    let opts = RunOptions {
        args: vec!["verify".into(), "300".into()],
        ..Default::default()
    };
    let out = run(&engine, &big, &opts).unwrap();
    let want = format!(
        "verify: files={files} bytes={bytes} hash={hash:016x} after={hash:016x} allocated=300"
    );
    assert_eq!(out.stdout.trim(), want, "stderr: {}", out.stderr);
    println!("{}", out.stdout.trim());
}

#[test]
fn embedding_twice_stacks_layers_and_a_module_without_the_shim_is_refused() {
    let reader = build_guest("image-reader", &[]).unwrap();
    let (_, lower) = make_image("embed-twice-lower", 2, 100);
    let dir = scratch_dir("embed-twice").unwrap();
    std::fs::create_dir_all(dir.join("tree/data")).unwrap();
    std::fs::create_dir_all(dir.join("tree/probe")).unwrap();
    std::fs::write(dir.join("tree/probe/probe.txt"), b"from the upper layer").unwrap();
    std::fs::write(dir.join("tree/data/extra.txt"), b"only upper").unwrap();
    let upper = dir.join("upper.vfs");
    let (ok, _, err) = vfs_image(&[
        OsStr::new("pack"),
        dir.join("tree").as_os_str(),
        OsStr::new("-o"),
        upper.as_os_str(),
    ])
    .unwrap();
    assert!(ok, "{err}");
    let once = dir.join("once.wasm");
    let twice = dir.join("twice.wasm");
    assert!(embed(&reader, &[&lower], &once).0);
    assert!(embed(&once, &[&upper], &twice).0);
    let engine = engine();
    let m = load(&engine, &twice).unwrap();
    let read = |path: &str| {
        let opts = RunOptions {
            args: vec!["read".into(), path.into()],
            ..Default::default()
        };
        run(&engine, &m, &opts).unwrap().stdout.trim().to_string()
    };
    let h = |b: &[u8]| format!("len={} hash={:016x}", b.len(), fnv(FNV0, b));
    assert_eq!(
        read("/probe/probe.txt"),
        h(b"from the upper layer"),
        "upper layer wins"
    );
    assert_eq!(read("/data/extra.txt"), h(b"only upper"));
    assert_eq!(
        read("/data/blob-0000.bin"),
        h(&noise(1, 100)),
        "lower layer still visible"
    );

    // A module without the shim.
    let plain = build_guest("fs-bench", &[]).unwrap();
    let (ok, err) = embed(&plain, &[&lower], &dir.join("plain.wasm"));
    assert!(!ok);
    assert!(err.contains("does not contain the wasm-vfs shim"), "{err}");
    println!("refused: {}", err.trim());
}

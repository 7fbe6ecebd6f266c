//! Acceptance 3: a guest embedded with a 1 MB and with a 100 MB image (`vfs-image embed`) reads
//! its files correctly with either, and the allocator never hands out memory over an image.
//! How fast each starts is a measurement, not a test: `vfs-embed-bench` (see the README's
//! numbers).

use std::ffi::OsStr;
use vfs_tests::*;

#[test]
fn both_image_sizes_read_correctly_and_the_heap_never_overlaps_the_image() {
    let pair = EmbedPair::build().unwrap();
    let (small_tree, small_wasm) = &pair.small;
    let (big_tree, big_wasm) = &pair.big;
    for wasm in [small_wasm, big_wasm] {
        let bytes = std::fs::read(wasm).unwrap();
        wasmparser::Validator::new()
            .validate_all(&bytes)
            .expect("embedded module validates");
    }
    // The probe is the same file in both trees, and both guests print its hash.
    assert_eq!(
        std::fs::read(small_tree.join("probe/probe.txt")).unwrap(),
        PROBE
    );
    assert_eq!(
        std::fs::read(big_tree.join("probe/probe.txt")).unwrap(),
        PROBE
    );
    let engine = engine();
    let (opts, want) = EmbedPair::probe();
    for wasm in [small_wasm, big_wasm] {
        let out = run(&engine, &load(&engine, wasm).unwrap(), &opts).unwrap();
        assert_eq!(out.exit, 0, "stderr: {}", out.stderr);
        assert_eq!(out.stdout.trim(), want, "stderr: {}", out.stderr);
    }

    // Allocate three times the image's size after start-up, then check every file.
    let big = load(&engine, big_wasm).unwrap();
    let (hash, files, bytes) = tree_hash(big_tree).unwrap();
    let opts = RunOptions::args(&["verify", "300"]);
    let out = run(&engine, &big, &opts).unwrap();
    let want = format!(
        "verify: files={files} bytes={bytes} hash={hash:016x} after={hash:016x} allocated=300"
    );
    assert_eq!(out.stdout.trim(), want, "stderr: {}", out.stderr);
}

#[test]
fn embedding_twice_stacks_layers_and_a_module_without_the_shim_is_refused() {
    let reader = build_guest("image-reader", &[]).unwrap();
    let (_, lower) = make_image("embed-twice-lower", 2, 100).unwrap();
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
    assert!(embed(&reader, &[&lower], &once).unwrap().0);
    assert!(embed(&once, &[&upper], &twice).unwrap().0);
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
    let (ok, err) = embed(&plain, &[&lower], &dir.join("plain.wasm")).unwrap();
    assert!(!ok);
    assert!(err.contains("does not contain the wasm-vfs shim"), "{err}");
    println!("refused: {}", err.trim());
}

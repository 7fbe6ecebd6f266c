//! Acceptance 5: what a guest writes survives the instance. The guest changes files of an
//! embedded image, the host saves the exported upper layer, `vfs-image ls` shows the changes,
//! and a new instance with that layer embedded on top sees them.

use std::ffi::OsStr;
use std::path::Path;
use vfs_tests::*;

#[test]
fn the_upper_layer_round_trips_through_an_image() {
    let dir = scratch_dir("upper-export").unwrap();
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("app/gone")).unwrap();
    std::fs::write(tree.join("app/kept.txt"), b"kept as is").unwrap();
    std::fs::write(tree.join("app/changed.txt"), b"original").unwrap();
    std::fs::write(tree.join("app/deleted.txt"), b"to be deleted").unwrap();
    std::fs::write(tree.join("app/gone/x"), b"x").unwrap();
    let lower = dir.join("lower.vfs");
    let (ok, _, err) = vfs_image(&[
        OsStr::new("pack"),
        tree.as_os_str(),
        OsStr::new("-o"),
        lower.as_os_str(),
    ])
    .unwrap();
    assert!(ok, "{err}");
    let reader = build_guest("image-reader", &[]).unwrap();
    let boxed = dir.join("box.wasm");
    embed(&reader, &lower, &boxed);

    // First instance: change the tree, then export.
    let engine = engine();
    let m = load(&engine, &boxed).unwrap();
    let opts = RunOptions {
        args: vec!["write".into()],
        call_after: Some("vfs_export_upper".into()),
        ..Default::default()
    };
    let out = run(&engine, &m, &opts).unwrap();
    assert_eq!(out.stdout.trim(), "write: done", "stderr: {}", out.stderr);
    let layer = out.exported.unwrap();
    let layer = layer.unwrap_or_else(|| panic!("export failed: {}", out.stderr));
    let upper = dir.join("upper.vfs");
    std::fs::write(&upper, &layer).unwrap();

    // The saved layer, as `vfs-image ls` shows it.
    let (ok, listing, err) =
        vfs_image(&[OsStr::new("ls"), OsStr::new("-lR"), upper.as_os_str()]).unwrap();
    assert!(ok, "{err}");
    println!("vfs-image ls -lR upper.vfs:\n{listing}");
    for name in ["created.txt", "changed.txt", "deleted.txt", "gone", "link"] {
        assert!(
            listing.contains(name),
            "{name} missing from the layer listing"
        );
    }
    assert!(
        !listing.contains("kept.txt"),
        "an unchanged file was exported"
    );

    // Second instance: the layer embedded on top; the guest sees its own changes.
    let boxed2 = dir.join("box2.wasm");
    embed(&boxed, &upper, &boxed2);
    let m2 = load(&engine, &boxed2).unwrap();
    let out = run(&engine, &m2, &RunOptions::args(&["tree"])).unwrap();
    let h = |b: &[u8]| format!("{} {:016x}", b.len(), fnv(FNV0, b));
    let want = [
        format!("/app/changed.txt {}", h(b"changed by the guest")),
        format!("/app/kept.txt {}", h(b"kept as is")),
        "/app/link -> new-dir/created.txt".to_string(),
        format!("/app/new-dir/created.txt {}", h(b"created by the guest")),
    ];
    let got: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(got, want, "stderr: {}", out.stderr);
    println!("second instance sees:\n{}", out.stdout);
}

/// `vfs-image embed MODULE LAYER -o OUT`, which must succeed.
fn embed(module: &Path, layer: &Path, out: &Path) {
    let (ok, _, err) = vfs_image(&[
        OsStr::new("embed"),
        module.as_os_str(),
        layer.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
    ])
    .unwrap();
    assert!(ok, "{err}");
}

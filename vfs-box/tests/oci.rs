//! `vfs-box oci` checked by an independent reader of OCI images (Debian's `skopeo`), and a host
//! directory preopened at `/` (what runwasi's wasmtime shim gives every container) living beside
//! the box's own `/`.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{hello_box, run_box, scratch_dir, stdout_of_success, text, vfs_box};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `skopeo`, which CI installs (`scripts/tools.sh`). Missing, the test fails and says so: a
/// check that silently passes without its checker checks nothing.
fn skopeo() -> &'static str {
    let found = Command::new("skopeo").arg("--version").output();
    match found {
        Ok(o) if o.status.success() => "skopeo",
        _ => panic!(
            "skopeo is not installed: these tests check `vfs-box oci` with it. Install it with \
             `apt-get install -y skopeo` (scripts/tools.sh does)"
        ),
    }
}

/// `skopeo ARGS...`, which must succeed; its stdout as JSON.
fn skopeo_json(args: &[&str]) -> Value {
    let o = Command::new(skopeo())
        .args(args)
        .output()
        .expect("running skopeo");
    let out = stdout_of_success(args, o);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("skopeo {args:?}: not JSON ({e}):\n{out}"))
}

/// `vfs-box oci WASM -o OUT EXTRA...`.
fn oci(wasm: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(vfs_box())
        .arg("oci")
        .arg(wasm)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .expect("running vfs-box oci")
}

/// `sha256:HEX` of `bytes`.
fn digest(bytes: &[u8]) -> String {
    let h = Sha256::digest(bytes);
    format!(
        "sha256:{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The files of a tar (path → contents; directories as `None`).
fn tar_files(bytes: impl Read) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    for e in tar::Archive::new(bytes).entries().expect("a tar") {
        let mut e = e.expect("a tar entry");
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let contents = match e.header().entry_type() {
            tar::EntryType::Directory => None,
            tar::EntryType::Regular => {
                let mut v = Vec::new();
                e.read_to_end(&mut v).unwrap();
                Some(v)
            }
            other => panic!("unexpected entry {path:?} of type {other:?}"),
        };
        out.insert(path, contents);
    }
    out
}

/// The image's one layer, read the long way (index → manifest → layer blob) from the archive,
/// with every digest checked; returns the layer's files.
fn layer_of(archive: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let files = tar_files(std::fs::File::open(archive).unwrap());
    let blob = |d: &str| -> &Vec<u8> {
        let name = format!("blobs/{}", d.replacen(':', "/", 1));
        let b = files[&name].as_ref().expect("a blob is a file");
        assert_eq!(digest(b), d, "{name} does not have its digest");
        b
    };
    let json = |b: &[u8]| -> Value { serde_json::from_slice(b).unwrap() };
    assert_eq!(
        json(files["oci-layout"].as_ref().unwrap())["imageLayoutVersion"],
        "1.0.0"
    );
    let index = json(files["index.json"].as_ref().unwrap());
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    let manifest = json(blob(manifests[0]["digest"].as_str().unwrap()));
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let gz = blob(layers[0]["digest"].as_str().unwrap());
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut tar)
        .unwrap();
    let config = json(blob(manifest["config"]["digest"].as_str().unwrap()));
    assert_eq!(config["rootfs"]["diff_ids"][0], digest(&tar).as_str());
    tar_files(&tar[..])
}

#[test]
fn skopeo_reads_the_image_and_its_layer_is_the_box() {
    let dir = scratch_dir("oci");
    let wasm = hello_box();
    let out = dir.join("hello.oci.tar");
    let o = oci(wasm, &out, &[]);
    assert!(o.status.success(), "vfs-box oci: {}", text(&o.stderr));
    let archive = format!("oci-archive:{}", out.display());

    let image = skopeo_json(&["inspect", &archive]);
    println!("skopeo inspect:\n{image:#}");
    assert_eq!(image["Os"], "wasip1");
    assert_eq!(image["Architecture"], "wasm");
    assert_eq!(image["Layers"].as_array().unwrap().len(), 1);

    let config = skopeo_json(&["inspect", "--config", &archive]);
    println!("skopeo inspect --config:\n{config:#}");
    assert_eq!(config["os"], "wasip1");
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/app.wasm"])
    );
    // `vfs-box python --app` gives the box `CMD ["/app/main.py"]` after its own ENTRYPOINT.
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/app/main.py"]));

    // The layer holds exactly one file, the box, byte for byte.
    let layer = layer_of(&out);
    let box_bytes = std::fs::read(wasm).unwrap();
    assert_eq!(layer.keys().collect::<Vec<_>>(), ["app.wasm"]);
    assert!(
        layer["app.wasm"].as_ref() == Some(&box_bytes),
        "the layer's app.wasm is not the box"
    );

    // skopeo copy checks every blob against its digest while copying.
    let copy = dir.join("copied");
    let o = Command::new(skopeo())
        .arg("copy")
        .arg(&archive)
        .arg(format!("oci:{}:latest", copy.display()))
        .output()
        .unwrap();
    stdout_of_success(&["skopeo copy"], o);

    // The same box gives the same archive (and so the same digest), under another name too.
    let again = dir.join("again.tar");
    assert!(oci(wasm, &again, &[]).status.success());
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&again).unwrap());
    assert_eq!(
        skopeo_json(&[
            "inspect",
            &format!("oci-archive:{}:latest", again.display())
        ])["Digest"],
        image["Digest"]
    );
}

#[test]
fn a_built_box_carries_its_configuration_into_the_image() {
    let dir = scratch_dir("oci-build");
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM python:3.11-slim\n\
         WORKDIR /srv/app\n\
         ENV GREETING=hello MODE=test\n\
         ENV MODE=oci\n\
         COPY app.py .\n\
         LABEL org.opencontainers.image.title=demo\n\
         EXPOSE 8080\n\
         CMD [\"python\", \"app.py\"]\n",
    )
    .unwrap();
    std::fs::write(
        ctx.join("app.py"),
        "import os\nprint(os.environ['GREETING'], os.environ['MODE'], os.getcwd())\n",
    )
    .unwrap();
    let wasm = dir.join("app.wasm");
    let o = common::build_box(&ctx, &wasm, &[]);
    assert!(o.status.success(), "vfs-box build: {}", text(&o.stderr));
    let out = dir.join("app.oci.tar");
    let o = oci(
        &wasm,
        &out,
        &[
            "--name",
            "demo.wasm",
            "--tag",
            "1.0",
            "--image-name",
            "example.org/demo",
        ],
    );
    assert!(o.status.success(), "vfs-box oci: {}", text(&o.stderr));

    let archive = format!("oci-archive:{}:1.0", out.display());
    let c = skopeo_json(&["inspect", "--config", &archive]);
    println!("skopeo inspect --config:\n{c:#}");
    let k = &c["config"];
    assert_eq!(k["Entrypoint"], serde_json::json!(["/demo.wasm"]));
    assert_eq!(k["Cmd"], serde_json::json!(["python", "app.py"]));
    assert_eq!(k["WorkingDir"], "/srv/app");
    let env: Vec<&str> = k["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"GREETING=hello"), "{env:?}");
    assert!(env.contains(&"MODE=oci"), "{env:?}");
    assert!(!env.contains(&"MODE=test"), "{env:?}");
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    assert_eq!(k["Labels"]["org.opencontainers.image.title"], "demo");
    assert_eq!(k["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));

    // The names `ctr image import` and skopeo go by.
    let files = tar_files(std::fs::File::open(&out).unwrap());
    let index: Value = serde_json::from_slice(files["index.json"].as_ref().unwrap()).unwrap();
    let annotations = &index["manifests"][0]["annotations"];
    assert_eq!(
        annotations["io.containerd.image.name"],
        "example.org/demo:1.0"
    );
    assert_eq!(annotations["org.opencontainers.image.ref.name"], "1.0");
    assert_eq!(
        index["manifests"][0]["platform"],
        serde_json::json!({"architecture": "wasm", "os": "wasip1"})
    );

    // The box, and the working directory (empty) for a runtime to enter.
    let layer = layer_of(&out);
    assert_eq!(
        layer.keys().collect::<Vec<_>>(),
        ["demo.wasm", "srv/", "srv/app/"]
    );
    assert!(layer["demo.wasm"].as_ref() == Some(&std::fs::read(&wasm).unwrap()));

    // What runwasi does with the image: the layer is the root filesystem, preopened at `/`, and
    // the process is Entrypoint + Cmd with the image's Env. The box runs its app from its own
    // layers, in its WORKDIR, whatever the root filesystem holds.
    let rootfs = dir.join("rootfs");
    unpack_into(&layer, &rootfs);
    let mut run = Command::new(vfs_box());
    run.arg("run").arg(format!("--dir={}::/", rootfs.display()));
    for e in &env {
        run.arg(format!("--env={e}"));
    }
    let o = run
        .arg(rootfs.join("demo.wasm"))
        .arg("--")
        .args(["python", "app.py"])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of_success(&["run the image"], o),
        "hello oci /srv/app\n"
    );
}

/// Writes the files of a layer under `root`.
fn unpack_into(layer: &BTreeMap<String, Option<Vec<u8>>>, root: &Path) {
    for (path, contents) in layer {
        let p = root.join(path);
        match contents {
            None => std::fs::create_dir_all(&p).unwrap(),
            Some(b) => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, b).unwrap();
            }
        }
    }
}

#[test]
fn what_is_not_a_box_is_refused_by_name_and_nothing_is_written() {
    let dir = scratch_dir("oci-bad");
    let plain_module = dir.join("plain.wasm");
    // A valid, empty WebAssembly module: no shim, no layers.
    std::fs::write(&plain_module, b"\0asm\x01\0\0\0").unwrap();
    let text_file = dir.join("notes.txt");
    std::fs::write(&text_file, "not a module").unwrap();
    let missing = dir.join("missing.wasm");
    let out = dir.join("out.tar");
    std::fs::write(&out, "an older archive").unwrap();
    for (input, expect) in [
        (&plain_module, "is not a box"),
        (&text_file, "is not a box"),
        (&missing, "reading"),
    ] {
        let o = oci(input, &out, &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{input:?}: {err}");
        assert!(err.contains(&input.display().to_string()), "{err}");
        assert!(err.contains(expect), "{err}");
        // The old output is untouched and no temporary file is left beside it.
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "an older archive");
        let left: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
    let o = oci(hello_box(), &out, &["--name", "../escape.wasm"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--name"), "{}", text(&o.stderr));
}

/// A host tree to preopen at `/`: a file of its own, and a file at a path the box's stdlib has
/// (which must not win over the box's).
fn host_root(dir: &Path) -> PathBuf {
    let root = dir.join("hostroot");
    let lib = root.join("usr/local/lib/python3.11/json");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        lib.join("__init__.py"),
        "raise SystemExit('the host json won')\n",
    )
    .unwrap();
    std::fs::write(root.join("hello.txt"), "from the host\n").unwrap();
    root
}

/// What the host-root checks run in the guest: the box's stdlib and files at `/`, the host's
/// at `/host`, writable there.
const HOST_ROOT_CHECK: &str = "import os, json, email\n\
print(json.__file__)\n\
print(sorted(os.listdir('/')))\n\
print(open('/host/hello.txt').read().strip())\n\
print(os.path.exists('/hello.txt'))\n\
open('/host/written.txt', 'w').write('by the box')\n\
os.makedirs('/host/new/dir')\n\
open('/tmp/mine', 'w').write('in memory')\n\
print(sorted(os.listdir('/host')))\n";

/// Runs [`HOST_ROOT_CHECK`] in `wasm` with `root` preopened at `/` and checks what it saw.
fn check_host_root(wasm: &Path, root: &Path) {
    let dir_opt = format!("--dir={}::/", root.display());
    let o = run_box(wasm, &[&dir_opt], &["-c", HOST_ROOT_CHECK], None);
    let out = stdout_of_success(&["-c", "HOST_ROOT_CHECK"], o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "/usr/local/lib/python3.11/json/__init__.pyc",
        "{out}"
    );
    assert!(
        lines[1].contains("'usr'") && lines[1].contains("'tmp'"),
        "{out}"
    );
    assert!(!lines[1].contains("hello.txt"), "{out}");
    assert_eq!(lines[2], "from the host", "{out}");
    assert_eq!(lines[3], "False", "{out}");
    assert_eq!(
        lines[4], "['hello.txt', 'new', 'usr', 'written.txt']",
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("written.txt")).unwrap(),
        "by the box"
    );
    assert!(root.join("new/dir").is_dir());
    // /tmp stayed in the box's memory.
    assert!(!root.join("tmp").exists());
    std::fs::remove_file(root.join("written.txt")).unwrap();
    std::fs::remove_dir_all(root.join("new")).unwrap();
}

#[test]
fn a_host_directory_at_slash_is_at_host_and_the_box_keeps_slash() {
    let dir = scratch_dir("oci-root");
    let root = host_root(&dir);
    check_host_root(hello_box(), &root);
}

#[test]
fn a_pre_initialized_box_keeps_slash_too() {
    // The run of a pre-initialized box adopts the host's preopens after the snapshot's VFS root;
    // before the host `/` was renamed it then won every path, the stdlib's included.
    let dir = scratch_dir("oci-root-preinit");
    let root = host_root(&dir);
    let pre = dir.join("pre.wasm");
    let o = Command::new(vfs_box())
        .args(["preinit"])
        .arg(hello_box())
        .args(["--code", "import os"])
        .arg("-o")
        .arg(&pre)
        .output()
        .unwrap();
    assert!(o.status.success(), "vfs-box preinit: {}", text(&o.stderr));
    check_host_root(&pre, &root);
}

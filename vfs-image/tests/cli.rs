//! Runs the real `vfs-image` binary: every command once on good input and once on bad input.

#![cfg(feature = "cli")]

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn bin() -> Command {
    let mut c = Command::cargo_bin("vfs-image").unwrap();
    c.env_remove("SOURCE_DATE_EPOCH");
    c
}

/// A small tree with every kind of entry.
fn fixture(root: &Path) {
    fs::create_dir_all(root.join("etc/conf.d")).unwrap();
    fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    fs::write(root.join("etc/conf.d/empty"), "").unwrap();
    fs::write(root.join("etc/copy"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    fs::set_permissions(root.join("etc/passwd"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::hard_link(root.join("etc/passwd"), root.join("etc/passwd.link")).unwrap();
    symlink("/etc/passwd", root.join("abs")).unwrap();
    symlink("etc/nowhere", root.join("dangling")).unwrap();
    fs::create_dir(root.join("__pycache__")).unwrap();
    fs::write(root.join("__pycache__/x.pyc"), "junk").unwrap();
}

struct Env {
    dir: TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = TempDir::new().unwrap();
        fixture(&dir.path().join("src"));
        Env { dir }
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// Packs the fixture into `name` with pinned times.
    fn image(&self, name: &str) -> PathBuf {
        let out = self.p(name);
        bin()
            .args(["pack", "--mtime", "1700000000"])
            .arg(self.p("src"))
            .arg("-o")
            .arg(&out)
            .assert()
            .success();
        out
    }
}

#[test]
fn help_on_every_command() {
    bin()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("squash"));
    for cmd in [
        "pack", "ls", "cat", "stat", "inspect", "unpack", "diff", "verify", "squash", "embed",
    ] {
        bin()
            .args([cmd, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage"));
    }
    bin().arg("frobnicate").assert().failure();
}

#[test]
fn pack_is_deterministic_and_honours_options() {
    let env = Env::new();
    let a = env.image("a.vfs");
    let b = env.image("b.vfs");
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    // SOURCE_DATE_EPOCH pins times like --mtime.
    let c = env.p("c.vfs");
    bin()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("pack")
        .arg(env.p("src"))
        .arg("-o")
        .arg(&c)
        .assert()
        .success();
    assert_eq!(fs::read(&a).unwrap(), fs::read(&c).unwrap());
    // --exclude and --owner.
    let d = env.p("d.vfs");
    bin()
        .args([
            "pack",
            "--exclude",
            "__pycache__",
            "--exclude",
            "etc/conf.d",
            "--owner",
            "7:8",
        ])
        .arg(env.p("src"))
        .arg("-o")
        .arg(&d)
        .assert()
        .success()
        .stderr(predicate::str::contains("2 excluded"));
    bin().args(["ls", "-R"]).arg(&d).assert().success().stdout(
        predicate::str::contains("__pycache__")
            .not()
            .and(predicate::str::contains("conf.d").not()),
    );
    bin()
        .arg("stat")
        .arg(&d)
        .arg("etc/passwd")
        .assert()
        .success()
        .stdout(predicate::str::contains("Uid: 7  Gid: 8"));
}

#[test]
fn pack_bad_input() {
    let env = Env::new();
    bin()
        .arg("pack")
        .arg(env.p("missing"))
        .arg("-o")
        .arg(env.p("x.vfs"))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("vfs-image: error: packing")
                .and(predicate::str::contains("No such file")),
        );
    // No half-written image is left behind.
    assert!(!env.p("x.vfs").exists());
    bin()
        .args(["pack", "--owner", "nope"])
        .arg(env.p("src"))
        .arg("-o")
        .arg(env.p("x.vfs"))
        .assert()
        .failure();
    bin()
        .args(["pack", "--exclude", "a["])
        .arg(env.p("src"))
        .arg("-o")
        .arg(env.p("x.vfs"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("bad exclude pattern"));
    bin()
        .env("SOURCE_DATE_EPOCH", "soon")
        .arg("pack")
        .arg(env.p("src"))
        .arg("-o")
        .arg(env.p("x.vfs"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("SOURCE_DATE_EPOCH"));
}

#[test]
fn pack_from_tar() {
    let env = Env::new();
    let tar_path = env.p("layer.tar");
    let mut t = tar::Builder::new(fs::File::create(&tar_path).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_mtime(1_600_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    t.append_data(&mut h, "usr/new", &b"new"[..]).unwrap();
    let mut w = tar::Header::new_gnu();
    w.set_size(0);
    w.set_mode(0o644);
    w.set_uid(0);
    w.set_gid(0);
    w.set_mtime(0);
    w.set_entry_type(tar::EntryType::Regular);
    t.append_data(&mut w, "usr/.wh.old", &b""[..]).unwrap();
    t.into_inner().unwrap();
    let out = env.p("layer.vfs");
    bin()
        .arg("pack")
        .arg("--from-tar")
        .arg(&tar_path)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("1 whiteouts"));
    bin()
        .args(["ls", "-l"])
        .arg(&out)
        .arg("usr")
        .assert()
        .success()
        .stdout(predicate::str::contains("new").and(predicate::str::contains("old (whiteout)")));
    // Bad input: not a tar.
    fs::write(env.p("junk.tar"), vec![7u8; 1000]).unwrap();
    bin()
        .arg("pack")
        .arg("--from-tar")
        .arg(env.p("junk.tar"))
        .arg("-o")
        .arg(env.p("j.vfs"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("bad tar archive"));
}

#[test]
fn ls() {
    let env = Env::new();
    let img = env.image("i.vfs");
    bin()
        .arg("ls")
        .arg(&img)
        .assert()
        .success()
        .stdout("__pycache__\nabs\ndangling\netc\n");
    bin()
        .args(["ls", "-l"])
        .arg(&img)
        .arg("etc")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("-rw-r-----   2")
                .and(predicate::str::contains("passwd.link"))
                .and(predicate::str::contains("2023-11-14 22:13")),
        );
    bin()
        .args(["ls", "-l"])
        .arg(&img)
        .assert()
        .success()
        .stdout(predicate::str::contains("abs -> /etc/passwd"));
    bin()
        .args(["ls", "-R"])
        .arg(&img)
        .assert()
        .success()
        .stdout(predicate::str::contains("etc/conf.d/empty\n"));
    bin()
        .arg("ls")
        .arg(&img)
        .arg("no/such")
        .assert()
        .failure()
        .stderr(predicate::str::contains("no such file"));
}

#[test]
fn cat() {
    let env = Env::new();
    let img = env.image("i.vfs");
    bin()
        .arg("cat")
        .arg(&img)
        .arg("/etc/passwd")
        .assert()
        .success()
        .stdout("root:x:0:0::/root:/bin/sh\n");
    bin()
        .arg("cat")
        .arg(&img)
        .arg("etc/conf.d/empty")
        .assert()
        .success()
        .stdout("");
    bin()
        .arg("cat")
        .arg(&img)
        .arg("etc")
        .assert()
        .failure()
        .stderr(predicate::str::contains("is a directory"));
    bin()
        .arg("cat")
        .arg(&img)
        .arg("abs")
        .assert()
        .failure()
        .stderr(predicate::str::contains("is a symlink"));
}

#[test]
fn stat() {
    let env = Env::new();
    let img = env.image("i.vfs");
    bin()
        .arg("stat")
        .arg(&img)
        .arg("etc/passwd")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("regular file")
                .and(predicate::str::contains("(0640/-rw-r-----)"))
                .and(predicate::str::contains("Links: 2"))
                .and(predicate::str::contains("1700000000000000000 ns")),
        );
    bin()
        .arg("stat")
        .arg(&img)
        .arg("dangling")
        .assert()
        .success()
        .stdout(predicate::str::contains("Target: etc/nowhere"));
    fs::write(
        env.p("notimage"),
        b"hello, this is not an image at all, it is too short and wrong",
    )
    .unwrap();
    bin()
        .arg("stat")
        .arg(env.p("notimage"))
        .arg("x")
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a valid image"));
}

#[test]
fn inspect() {
    let env = Env::new();
    let img = env.image("i.vfs");
    bin().arg("inspect").arg(&img).assert().success().stdout(
        predicate::str::contains("version:        1.0")
            .and(predicate::str::contains("1 files shared")),
    );
    let out = bin()
        .args(["inspect", "--json"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["counts"]["files"], 4);
    assert_eq!(v["counts"]["hard_links"], 1);
    assert_eq!(v["counts"]["symlinks"], 2);
    assert_eq!(v["sizes"]["deduped_files"], 1);
    let bytes = fs::read(&img).unwrap();
    fs::write(env.p("trunc.vfs"), &bytes[..bytes.len() - 1]).unwrap();
    bin()
        .arg("inspect")
        .arg(env.p("trunc.vfs"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("truncated image"));
}

#[test]
fn unpack() {
    let env = Env::new();
    let img = env.image("i.vfs");
    let dest = env.p("out");
    bin().arg("unpack").arg(&img).arg(&dest).assert().success();
    assert_eq!(
        fs::read(dest.join("etc/passwd")).unwrap(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
    assert_eq!(
        fs::read_link(dest.join("dangling")).unwrap(),
        Path::new("etc/nowhere")
    );
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (
        fs::metadata(dest.join("etc/passwd")).unwrap(),
        fs::metadata(dest.join("etc/passwd.link")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.mode() & 0o7777, 0o640);
    assert_eq!(a.mtime(), 1_700_000_000);
    // Bad input: the destination already has these files.
    bin()
        .arg("unpack")
        .arg(&img)
        .arg(&dest)
        .assert()
        .failure()
        .stderr(predicate::str::contains("exists"));
}

#[test]
fn diff() {
    let env = Env::new();
    let a = env.image("a.vfs");
    bin()
        .arg("diff")
        .arg(&a)
        .arg(&a)
        .assert()
        .code(0)
        .stdout("");
    fs::write(env.p("src/etc/copy"), "changed").unwrap();
    fs::remove_file(env.p("src/abs")).unwrap();
    fs::write(env.p("src/added"), "").unwrap();
    fs::set_permissions(
        env.p("src/etc/conf.d/empty"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let b = env.image("b.vfs");
    bin()
        .arg("diff")
        .arg(&a)
        .arg(&b)
        .assert()
        .code(1)
        .stdout("- /abs\n+ /added\nM /etc/conf.d/empty (mode)\nM /etc/copy (content)\n");
    bin()
        .arg("diff")
        .arg(&a)
        .arg(env.p("missing.vfs"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read image"));
}

#[test]
fn verify() {
    let env = Env::new();
    let img = env.image("i.vfs");
    bin()
        .arg("verify")
        .arg(&img)
        .assert()
        .success()
        .stdout(predicate::str::contains(": ok ("));
    let mut bytes = fs::read(&img).unwrap();
    let n = bytes.len();
    bytes[n - 17] ^= 0x40; // inside the last file's data or its padding
    fs::write(env.p("bad.vfs"), &bytes).unwrap();
    bin()
        .arg("verify")
        .arg(env.p("bad.vfs"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("checksum mismatch"));
}

#[test]
fn squash() {
    let env = Env::new();
    let lower = env.image("lower.vfs");
    let mut b = vfs_image::ImageBuilder::new();
    b.add_whiteout(b"abs").unwrap();
    b.add_file(
        b"etc/extra",
        vfs_image::Meta::with_mode(0o600),
        b"more".to_vec(),
    )
    .unwrap();
    fs::write(env.p("upper.vfs"), b.finish().unwrap()).unwrap();
    let out = env.p("flat.vfs");
    bin()
        .arg("squash")
        .arg(&lower)
        .arg(env.p("upper.vfs"))
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    bin()
        .arg("diff")
        .arg(&lower)
        .arg(&out)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("- /abs").and(predicate::str::contains("+ /etc/extra")));
    bin().arg("verify").arg(&out).assert().success();
    bin()
        .arg("squash")
        .arg(&lower)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure(); // needs an upper
    fs::write(env.p("junk.vfs"), b"VFSIMG\r\n garbage").unwrap();
    bin()
        .arg("squash")
        .arg(&lower)
        .arg(env.p("junk.vfs"))
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicate::str::contains("junk.vfs: not a valid image"));
}

#[test]
fn embed_bad_input() {
    // `embed`'s body belongs to the shim work; whatever its arguments, a module that does not
    // exist must fail with a message.
    let env = Env::new();
    let img = env.image("i.vfs");
    bin()
        .arg("embed")
        .arg(env.p("missing.wasm"))
        .arg(&img)
        .arg("-o")
        .arg(env.p("o.wasm"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("error"));
}

#[test]
fn pack_compressed_then_read_it_back() {
    let tmp = TempDir::new().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("lib")).unwrap();
    let text = "def f(x):\n    return x + 1\n".repeat(10_000); // 270 KB: three chunks
    fs::write(src.join("lib/mod.py"), &text).unwrap();
    fs::write(src.join("tiny"), "t").unwrap();
    for (codec, shown) in [("zstd:3", "zstd"), ("lz4", "lz4")] {
        let img = tmp.path().join(format!("{shown}.vfs"));
        bin()
            .args(["pack", "--compress", codec, "--mtime", "0"])
            .arg(&src)
            .arg("-o")
            .arg(&img)
            .assert()
            .success();
        bin().arg("verify").arg(&img).assert().success();
        bin()
            .args(["inspect", "--files"])
            .arg(&img)
            .assert()
            .success()
            .stdout(predicate::str::contains("compressed:     1 contents"))
            .stdout(predicate::str::contains(format!("{shown} ")))
            .stdout(predicate::str::contains("raw         /tiny"));
        bin()
            .arg("cat")
            .arg(&img)
            .arg("lib/mod.py")
            .assert()
            .success()
            .stdout(text.clone());
        let out = tmp.path().join(format!("out-{shown}"));
        bin().arg("unpack").arg(&img).arg(&out).assert().success();
        assert_eq!(fs::read_to_string(out.join("lib/mod.py")).unwrap(), text);
        assert!(
            fs::metadata(&img).unwrap().len() < 20_000,
            "{codec} did not compress"
        );
    }
    // A level out of range is refused before anything is written.
    let bad = tmp.path().join("bad.vfs");
    bin()
        .args(["pack", "--compress", "zstd:23"])
        .arg(&src)
        .arg("-o")
        .arg(&bad)
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a number from 1 to 22"));
    assert!(!bad.exists());
}

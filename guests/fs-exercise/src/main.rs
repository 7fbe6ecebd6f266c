//! Exercises POSIX file operations through Rust `std::fs` inside a wasm32-wasip1 guest whose
//! filesystem is the in-guest VFS. Every result is asserted; the last line printed is
//! `fs-exercise: OK <n> checks` on success, and any failure panics (a trap for the host).
//!
//! Arguments: `vfs` (no host directory exists at all) or `mixed` (a host directory is mapped
//! at `/host` and must keep working beside the VFS).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::time::{Duration, SystemTime};

use vfs_wasi_shim as _;

/// WASI's errno for a cross-device link, as wasi-libc reports it.
const EXDEV: i32 = 75;

extern "C" {
    /// wasi-libc's `symlink(3)` (std's wasi symlink helper is unstable).
    #[link_name = "symlink"]
    fn c_symlink(target: *const std::ffi::c_char, link: *const std::ffi::c_char) -> i32;
}

/// Creates `link` pointing at `target` through wasi-libc, which resolves `link` like any path.
fn symlink(target: &str, link: &str) -> std::io::Result<()> {
    let t = std::ffi::CString::new(target)?;
    let l = std::ffi::CString::new(link)?;
    // SAFETY: both are NUL-terminated strings that outlive the call.
    if unsafe { c_symlink(t.as_ptr(), l.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

struct Checks(u32);

impl Checks {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) {
        assert_eq!(got, want, "{what}");
        self.0 += 1;
    }
    fn yes(&mut self, what: &str, cond: bool) {
        assert!(cond, "{what}");
        self.0 += 1;
    }
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let mut c = Checks(0);
    vfs_basics(&mut c);
    directories(&mut c);
    links(&mut c);
    metadata(&mut c);
    match mode.as_str() {
        "vfs" => {
            // No host directory: the only preopen is the VFS root.
            c.eq(
                "no /host",
                fs::metadata("/host").err().map(|e| e.kind()),
                Some(ErrorKind::NotFound),
            );
        }
        "mixed" => host_beside_vfs(&mut c),
        other => panic!("unknown mode {other:?}"),
    }
    println!("fs-exercise: OK {} checks", c.0);
}

fn vfs_basics(c: &mut Checks) {
    fs::create_dir("/work").unwrap();
    let mut f = File::create("/work/a.txt").unwrap();
    f.write_all(b"hello, in-guest filesystem").unwrap();
    drop(f);
    c.eq(
        "read back",
        fs::read("/work/a.txt").unwrap(),
        b"hello, in-guest filesystem".to_vec(),
    );
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/work/a.txt")
        .unwrap();
    f.seek(SeekFrom::Start(7)).unwrap();
    f.write_all(b"IN").unwrap();
    c.eq("position after write", f.stream_position().unwrap(), 9);
    f.seek(SeekFrom::End(-10)).unwrap();
    let mut tail = String::new();
    f.read_to_string(&mut tail).unwrap();
    c.eq("seek from end", tail.as_str(), "filesystem");
    f.set_len(5).unwrap();
    c.eq(
        "truncate",
        fs::read("/work/a.txt").unwrap(),
        b"hello".to_vec(),
    );
    f.set_len(8).unwrap();
    c.eq(
        "extend with zeros",
        fs::read("/work/a.txt").unwrap(),
        b"hello\0\0\0".to_vec(),
    );
    // Relative paths resolve against the current directory, `/`.
    c.eq("relative path", fs::read("work/a.txt").unwrap().len(), 8);
    // Append mode.
    let mut a = OpenOptions::new().append(true).open("/work/a.txt").unwrap();
    a.write_all(b"!").unwrap();
    c.eq(
        "append",
        fs::read("/work/a.txt").unwrap().last().copied(),
        Some(b'!'),
    );
    // Errors come back as the right kinds.
    c.eq(
        "missing",
        File::open("/nope").err().map(|e| e.kind()),
        Some(ErrorKind::NotFound),
    );
    c.eq(
        "exists",
        fs::create_dir("/work").err().map(|e| e.kind()),
        Some(ErrorKind::AlreadyExists),
    );
    let excl = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open("/work/a.txt");
    c.eq(
        "create_new on existing",
        excl.err().map(|e| e.kind()),
        Some(ErrorKind::AlreadyExists),
    );
    c.yes("file as dir", File::open("/work/a.txt/x").is_err());
    // Unlink while open: the data stays reachable through the descriptor.
    fs::write("/work/tmp", b"still here").unwrap();
    let mut open = File::open("/work/tmp").unwrap();
    fs::remove_file("/work/tmp").unwrap();
    c.eq(
        "gone by name",
        fs::metadata("/work/tmp").err().map(|e| e.kind()),
        Some(ErrorKind::NotFound),
    );
    let mut s = String::new();
    open.read_to_string(&mut s).unwrap();
    c.eq("readable after unlink", s.as_str(), "still here");
    // A big file, written in pieces and read back whole.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut w = File::create("/work/big").unwrap();
    for chunk in big.chunks(10_000) {
        w.write_all(chunk).unwrap();
    }
    drop(w);
    c.yes("big file intact", fs::read("/work/big").unwrap() == big);
}

fn directories(c: &mut Checks) {
    fs::create_dir_all("/d/one/two/three").unwrap();
    c.yes(
        "nested dir",
        fs::metadata("/d/one/two/three").unwrap().is_dir(),
    );
    // More entries than wasi-libc's 4 KiB readdir buffer holds (each is 24 + ~40 bytes).
    let n = 300;
    for i in 0..n {
        fs::write(
            format!("/d/many-entries-with-a-longish-name-{i:04}"),
            i.to_string(),
        )
        .unwrap();
    }
    let mut names: Vec<String> = fs::read_dir("/d")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    c.eq("readdir count", names.len(), n + 1);
    names.dedup();
    c.eq("readdir no duplicates", names.len(), n + 1);
    c.yes("readdir has dir", names.contains(&"one".to_string()));
    let ft = fs::read_dir("/d/one")
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_type()
        .unwrap();
    c.yes("d_type directory", ft.is_dir());
    // Rename a file and a directory, replacing an existing file.
    fs::rename("/d/many-entries-with-a-longish-name-0000", "/d/renamed").unwrap();
    c.eq(
        "rename",
        fs::read_to_string("/d/renamed").unwrap(),
        "0".to_string(),
    );
    fs::rename("/d/renamed", "/d/many-entries-with-a-longish-name-0001").unwrap();
    c.eq(
        "rename over",
        fs::read_to_string("/d/many-entries-with-a-longish-name-0001").unwrap(),
        "0".to_string(),
    );
    fs::rename("/d/one", "/d/uno").unwrap();
    c.yes(
        "rename dir",
        fs::metadata("/d/uno/two/three").unwrap().is_dir(),
    );
    c.yes("rmdir non-empty fails", fs::remove_dir("/d/uno").is_err());
    fs::remove_dir("/d/uno/two/three").unwrap();
    c.yes("rmdir", fs::metadata("/d/uno/two/three").is_err());
    fs::remove_dir_all("/d").unwrap();
    c.eq(
        "remove_dir_all",
        fs::metadata("/d").err().map(|e| e.kind()),
        Some(ErrorKind::NotFound),
    );
}

fn links(c: &mut Checks) {
    fs::create_dir("/l").unwrap();
    fs::write("/l/target", b"linked").unwrap();
    fs::hard_link("/l/target", "/l/hard").unwrap();
    fs::write("/l/hard", b"changed via hard link").unwrap();
    c.eq(
        "hard link shares data",
        fs::read_to_string("/l/target").unwrap(),
        "changed via hard link".to_string(),
    );
    fs::remove_file("/l/target").unwrap();
    c.eq(
        "hard link survives unlink",
        fs::read_to_string("/l/hard").unwrap(),
        "changed via hard link".to_string(),
    );
    symlink("hard", "/l/rel").unwrap();
    symlink("/l/hard", "/l/abs").unwrap();
    fs::create_dir("/l/sub").unwrap();
    symlink("../hard", "/l/sub/up").unwrap();
    c.eq(
        "relative symlink",
        fs::read_to_string("/l/rel").unwrap(),
        "changed via hard link".to_string(),
    );
    c.eq(
        "absolute symlink",
        fs::read_to_string("/l/abs").unwrap(),
        "changed via hard link".to_string(),
    );
    c.eq(
        "dotdot symlink",
        fs::read_to_string("/l/sub/up").unwrap(),
        "changed via hard link".to_string(),
    );
    c.eq(
        "readlink",
        fs::read_link("/l/abs").unwrap().to_str().unwrap(),
        "/l/hard",
    );
    c.yes(
        "lstat",
        fs::symlink_metadata("/l/rel")
            .unwrap()
            .file_type()
            .is_symlink(),
    );
    c.yes("stat follows", fs::metadata("/l/rel").unwrap().is_file());
    symlink("missing", "/l/dangling").unwrap();
    c.eq(
        "dangling",
        fs::metadata("/l/dangling").err().map(|e| e.kind()),
        Some(ErrorKind::NotFound),
    );
    // A symlinked directory in the middle of a path.
    symlink("/l/sub", "/l/subl").unwrap();
    fs::write("/l/subl/via-link", b"x").unwrap();
    c.yes(
        "dir symlink in path",
        fs::metadata("/l/sub/via-link").unwrap().is_file(),
    );
    fs::remove_file("/l/rel").unwrap();
    c.yes(
        "unlink symlink keeps target",
        fs::metadata("/l/hard").is_ok(),
    );
    fs::remove_dir_all("/l").unwrap();
    c.yes("remove_dir_all with links", fs::metadata("/l").is_err());
}

fn metadata(c: &mut Checks) {
    let before = SystemTime::now() - Duration::from_secs(5);
    fs::write("/m", b"12345").unwrap();
    let m = fs::metadata("/m").unwrap();
    c.eq("len", m.len(), 5);
    c.yes("is_file", m.is_file() && !m.is_dir());
    let mtime = m.modified().unwrap();
    c.yes(
        "mtime is now",
        mtime > before && mtime < SystemTime::now() + Duration::from_secs(5),
    );
    let f = File::options().write(true).open("/m").unwrap();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    f.set_modified(t).unwrap();
    c.eq(
        "set_modified",
        fs::metadata("/m").unwrap().modified().unwrap(),
        t,
    );
    c.eq("fstat", f.metadata().unwrap().len(), 5);
    c.yes("root is dir", fs::metadata("/").unwrap().is_dir());
    let mut perms = m.permissions();
    perms.set_readonly(false);
    c.yes("permissions readable", !perms.readonly());
    fs::remove_file("/m").unwrap();
}

fn host_beside_vfs(c: &mut Checks) {
    c.eq(
        "host file",
        fs::read_to_string("/host/from-host.txt").unwrap(),
        "written by the host".to_string(),
    );
    fs::write("/host/from-guest.txt", b"written by the guest").unwrap();
    fs::create_dir("/host/sub").unwrap();
    fs::write("/host/sub/x", b"x").unwrap();
    let mut names: Vec<String> = fs::read_dir("/host")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    c.eq(
        "host readdir",
        names,
        vec![
            "from-guest.txt".to_string(),
            "from-host.txt".to_string(),
            "sub".to_string(),
        ],
    );
    // The VFS still works next to it, and its files do not leak to the host.
    fs::write("/vfs-only.txt", b"in memory").unwrap();
    c.eq(
        "vfs beside host",
        fs::read_to_string("/vfs-only.txt").unwrap(),
        "in memory".to_string(),
    );
    c.yes(
        "vfs file not on host",
        fs::metadata("/host/vfs-only.txt").is_err(),
    );
    // Copy across the two by reading and writing; a rename across them is EXDEV.
    fs::copy("/host/from-host.txt", "/copied.txt").unwrap();
    c.eq(
        "copy host to vfs",
        fs::read_to_string("/copied.txt").unwrap(),
        "written by the host".to_string(),
    );
    let e = fs::rename("/copied.txt", "/host/copied.txt").unwrap_err();
    c.eq("rename across is EXDEV", e.raw_os_error(), Some(EXDEV));
    // Descriptors of both kinds interleave in one number space.
    let h = File::open("/host/from-host.txt").unwrap();
    let v = File::open("/vfs-only.txt").unwrap();
    c.eq(
        "host fd reads",
        std::io::read_to_string(h).unwrap(),
        "written by the host".to_string(),
    );
    c.eq(
        "vfs fd reads",
        std::io::read_to_string(v).unwrap(),
        "in memory".to_string(),
    );
}

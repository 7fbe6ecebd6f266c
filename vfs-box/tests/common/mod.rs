//! What the end-to-end test files share.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// A scratch folder for one test binary's boxes (tens of MB each): under cargo's per-target
/// temporary folder, one subfolder per process. Folders left by processes that are gone are
/// removed first, so repeated runs (CI's among them) do not pile up boxes.
pub fn scratch_dir(kind: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(kind);
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let alive = e
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = root.join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).expect("creating the test's scratch folder");
    dir
}

/// The `vfs-box` binary cargo built for these tests.
pub fn vfs_box() -> &'static str {
    env!("CARGO_BIN_EXE_vfs-box")
}

/// The repository root. Cargo's run-time value comes first: a test binary built from another
/// checkout that shares the target directory has that checkout's path baked in.
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("..")
}

/// Builds `examples/hello` into the box `out` with `vfs-box python`, plus `extra` arguments.
pub fn build_hello(out: &std::path::Path, extra: &[&str]) {
    let st = std::process::Command::new(vfs_box())
        .args(["python", "-o"])
        .arg(out)
        .arg("--app")
        .arg(repo().join("examples/hello"))
        .args(extra)
        .status()
        .expect("running vfs-box python");
    assert!(st.success(), "vfs-box python {extra:?} failed: {st}");
}

/// `vfs-box build CONTEXT -o OUT EXTRA...`, its output collected.
#[allow(dead_code)] // not every test binary builds from a Dockerfile
pub fn build_box(context: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(vfs_box())
        .arg("build")
        .arg(context)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .expect("running vfs-box build")
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The stdout of a run that must have succeeded; on failure, the status and both streams.
#[allow(dead_code)] // not every test binary checks runs this way
pub fn stdout_of_success(args: &[&str], o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{args:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// `examples/hello` as a box, built once per test binary.
#[allow(dead_code)] // not every test binary runs the plain box
pub fn hello_box() -> &'static Path {
    static BOX: OnceLock<PathBuf> = OnceLock::new();
    BOX.get_or_init(|| {
        let out = scratch_dir("hello-box").join("hello.wasm");
        build_hello(&out, &[]);
        out
    })
}

/// `vfs-box run OPTS WASM -- ARGS` with `stdin` as its input (none if `None`).
#[allow(dead_code)] // not every test binary runs boxes this way
pub fn run_box(wasm: &Path, opts: &[&str], args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(vfs_box())
        .arg("run")
        .args(opts)
        .arg(wasm)
        .arg("--")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running vfs-box run");
    let mut input = child.stdin.take().expect("stdin was piped");
    if let Some(s) = stdin {
        input
            .write_all(s.as_bytes())
            .expect("writing the guest's stdin");
    }
    drop(input);
    child.wait_with_output().expect("waiting for vfs-box run")
}

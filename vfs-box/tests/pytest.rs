//! pytest from PyPI, with its default options and plugins (fd capture through `dup`/`dup2`,
//! faulthandler on a `dup` of stderr, the cache provider, tmp_path), runs a real project's test
//! suite in a box with no host directory: more-itertools 10.5.0, whose 664 tests come with its
//! sdist. On this machine's native CPython 3.11 the same suite gives 663 passed, 1 skipped;
//! in a box 658 pass and the 5 `CallbackIterTests` fail because `callback_iter` runs its
//! callback on a thread, and a WASI preview 1 guest has none.
//!
//! Needs PyPI (the sdist, checked against its sha256, and pytest for the box's `RUN pip`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{run_box, scratch_dir, text};

/// The project whose suite runs, pinned with the sha256 PyPI publishes for its sdist.
const SDIST: &str = "more-itertools==10.5.0";
const SDIST_SHA256: &str = "5482bfef7849c25dc3c6dd53a6173ae4795da2a41a80faea6700d9f5846c5da6";
const SOURCES: &str = "more-itertools-10.5.0";

/// The declaration: pytest from PyPI, the project's package and tests copied in.
const DOCKERFILE: &str = "FROM python:3.11-slim\n\
WORKDIR /src\n\
RUN pip install --no-cache-dir pytest==8.3.4\n\
COPY more_itertools more_itertools\n\
COPY tests tests\n\
COPY pyproject.toml .\n\
CMD [\"python\", \"-m\", \"pytest\", \"tests\"]\n";

/// Downloads and unpacks the sdist into `dir` with the host's pip (hash-checked), returning
/// the unpacked source folder.
fn fetch_sources(dir: &Path) -> std::path::PathBuf {
    let req = dir.join("requirements.txt");
    std::fs::write(&req, format!("{SDIST} --hash=sha256:{SDIST_SHA256}\n")).unwrap();
    let o = Command::new("python3.11")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
        ])
        .arg("--require-hashes")
        .arg("-r")
        .arg(&req)
        .arg("-d")
        .arg(dir)
        .output()
        .expect("running python3.11 -m pip (scripts/tools.sh installs it)");
    assert!(
        o.status.success(),
        "pip download failed:\n{}",
        text(&o.stderr)
    );
    let st = Command::new("tar")
        .arg("xzf")
        .arg(dir.join(format!("{SOURCES}.tar.gz")))
        .arg("-C")
        .arg(dir)
        .status()
        .expect("running tar");
    assert!(st.success(), "unpacking the sdist failed");
    dir.join(SOURCES)
}

#[test]
fn pytest_with_default_options_runs_a_real_suite() {
    let dir = scratch_dir("pytest").join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).unwrap();
    let src = fetch_sources(&dir);
    std::fs::write(src.join("Dockerfile"), DOCKERFILE).unwrap();
    let wasm = dir.join("suite.wasm");
    let o = common::build_box(&src, &wasm, &[]);
    assert!(
        o.status.success(),
        "vfs-box build failed:\n{}",
        text(&o.stderr)
    );
    // The box's CMD, with no arguments; `-rf` is not added, so pytest's defaults are what run.
    let run = run_box(&wasm, &[], &[], None);
    let out = text(&run.stdout);
    let summary = out.lines().last().unwrap_or_default();
    assert!(
        summary.contains("5 failed, 658 passed, 1 skipped"),
        "unexpected summary {summary:?}\nstdout:\n{out}\nstderr:\n{}",
        text(&run.stderr)
    );
    // Every failure is the thread the callback would need.
    let failed: Vec<&str> = out.lines().filter(|l| l.starts_with("FAILED ")).collect();
    assert_eq!(failed.len(), 5, "{out}");
    assert!(
        failed.iter().all(|l| l.contains("::CallbackIterTests::")),
        "{failed:#?}"
    );
    let no_thread = out
        .lines()
        .filter(|l| l.starts_with("E ") && l.ends_with("RuntimeError: can't start new thread"))
        .count();
    assert_eq!(no_thread, 5, "{out}");
    // pytest exits 1 when tests failed, as on Linux.
    assert_eq!(run.status.code(), Some(1));
}

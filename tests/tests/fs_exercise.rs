//! Acceptance 2: a Rust guest using `std::fs` runs on wasmtime with the shim, with no host
//! directory at all, and then with a host directory mapped beside the VFS.

use vfs_tests::{build_guest, engine, load, run, run_guest, scratch_dir, RunOptions, RunOutput};

/// Runs `guests/fs-exercise` with `opts` and checks that it exited 0 having checked everything
/// (the guest asserts each result itself and prints `fs-exercise: OK` at the end).
fn exercise(opts: &RunOptions) -> RunOutput {
    let out = run_guest("fs-exercise", opts).unwrap();
    assert_eq!(out.exit, 0, "stderr: {}", out.stderr);
    assert!(
        out.stdout.contains("fs-exercise: OK"),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    println!("{}", out.stdout.trim());
    out
}

#[test]
fn std_fs_on_the_vfs_with_no_host_directory() {
    exercise(&RunOptions::args(&["vfs"]));
}

#[test]
fn host_directory_beside_the_vfs() {
    let dir = scratch_dir("fs-exercise-mixed").unwrap();
    std::fs::write(dir.join("from-host.txt"), "written by the host").unwrap();
    exercise(&RunOptions {
        dirs: vec![(dir.clone(), "/host".into())],
        ..RunOptions::args(&["mixed"])
    });
    // What the guest wrote under /host is on the host; what it wrote in the VFS is not.
    assert_eq!(
        std::fs::read_to_string(dir.join("from-guest.txt")).unwrap(),
        "written by the guest"
    );
    assert_eq!(std::fs::read_to_string(dir.join("sub/x")).unwrap(), "x");
    assert!(!dir.join("vfs-only.txt").exists());
    assert!(!dir.join("copied.txt").exists());
}

#[test]
fn tracing_names_each_intercepted_call() {
    let opts = RunOptions {
        env: vec![("VFS_TRACE".into(), "1".into())],
        ..RunOptions::args(&["vfs"])
    };
    let out = run_guest("fs-exercise", &opts).unwrap();
    assert_eq!(out.exit, 0, "stderr: {}", out.stderr);
    // Whole lines, in the order the guest makes the calls (`guests/fs-exercise`: set up the VFS
    // root, create `/work` and `/work/a.txt`, later open the missing `/nope`, then create
    // `/work/a.txt` exclusively, and finally print through the host's stdout).
    assert_lines_in_order(
        &out.stderr,
        &[
            "vfs: ready: 0 embedded layer(s), VFS root `/` is fd 3",
            "vfs: fd_prestat_get(fd=3) [vfs] -> SUCCESS",
            "vfs: path_create_directory(fd=3, \"work\") [vfs] -> SUCCESS",
            "vfs: path_open(fd=3, \"work/a.txt\") [vfs] -> SUCCESS",
            "vfs: path_open(fd=3, \"nope\") [vfs] -> NOENT",
            "vfs: path_open(fd=3, \"work/a.txt\") [vfs] -> EXIST",
            "vfs: fd_write(fd=1) [host] -> SUCCESS",
        ],
    );
}

/// Checks that each of `want` is a whole line of `text`, each after the one before; on failure
/// names the first missing line and shows the end of `text` (on a character boundary).
fn assert_lines_in_order(text: &str, want: &[&str]) {
    let mut lines = text.lines();
    for line in want {
        if !lines.any(|l| l == *line) {
            let tail: String = {
                let chars: Vec<char> = text.chars().collect();
                chars[chars.len().saturating_sub(2000)..].iter().collect()
            };
            panic!("no line {line:?} (after the lines before it) in:\n...{tail}");
        }
    }
}

/// The bench guest succeeded and reported each of its operations, in order.
fn assert_bench_lines(out: &RunOutput) {
    assert_eq!(out.exit, 0, "{}", out.stderr);
    let names: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("bench ")?.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "stat_5_deep",
            "stat_missing",
            "raw_path_filestat_get",
            "open_read_4k_close",
            "readdir_100",
            "readdir_100_libc",
            "readdir_100_wasi_calls",
            "create_write_4k_unlink"
        ],
        "{}",
        out.stdout
    );
}

#[test]
fn the_bench_guest_runs_the_same_on_the_vfs_and_on_the_host() {
    let engine = engine();
    // The third argument is where `/bench` is relative to the preopen at fd 3: the VFS root
    // `/`, or the host directory mapped at `/bench` itself.
    let args = |rel: &str| vec!["/bench".to_string(), "20".to_string(), rel.to_string()];
    let vfs = load(&engine, &build_guest("fs-bench", &["vfs"]).unwrap()).unwrap();
    let out = run(
        &engine,
        &vfs,
        &RunOptions {
            args: args("bench"),
            ..Default::default()
        },
    )
    .unwrap();
    assert_bench_lines(&out);
    let dir = scratch_dir("bench-host").unwrap();
    let host = load(&engine, &build_guest("fs-bench", &[]).unwrap()).unwrap();
    let opts = RunOptions {
        args: args("."),
        dirs: vec![(dir, "/bench".into())],
        ..Default::default()
    };
    let out = run(&engine, &host, &opts).unwrap();
    assert_bench_lines(&out);
}

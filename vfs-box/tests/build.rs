//! `vfs-box build`: declarations become boxes that run with no host directory and no arguments,
//! under `vfs-box run` and the plain `wasmtime run` CLI; the layer cache; bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{repo, scratch_dir, stdout_of_success, text, vfs_box};

/// The `wasmtime` CLI: `VFS_BOX_WASMTIME`, else the one `scripts/test.sh` installs into the
/// cache, else `wasmtime` on `PATH`.
fn wasmtime_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("VFS_BOX_WASMTIME") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    let cached = home.join("wasm-vfs/tools/bin/wasmtime");
    if cached.is_file() {
        return cached;
    }
    PathBuf::from("wasmtime")
}

/// `vfs-box build CONTEXT -o OUT EXTRA...`.
fn build(context: &Path, out: &Path, extra: &[&str]) -> Output {
    common::build_box(context, out, extra)
}

/// Builds and asserts success; returns stderr (the progress lines).
fn build_ok(context: &Path, out: &Path, extra: &[&str]) -> String {
    let o = build(context, out, extra);
    assert!(
        o.status.success(),
        "vfs-box build {} failed: {}\n{}",
        context.display(),
        o.status,
        text(&o.stderr)
    );
    text(&o.stderr)
}

/// `vfs-box run OPTS WASM -- ARGS`, or with `cli` the `wasmtime` CLI (`wasmtime run WASM ARGS`,
/// no options).
fn run(cli: bool, opts: &[&str], wasm: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(if cli {
        wasmtime_cli()
    } else {
        PathBuf::from(vfs_box())
    });
    c.arg("run").args(opts).arg(wasm);
    if !cli && !args.is_empty() {
        c.arg("--");
    }
    c.args(args)
        .output()
        .expect("running a box (scripts/test.sh installs the wasmtime CLI into the cache)")
}

/// The output of `vfs-box run WASM -- python -c CODE`, which must succeed (run-time
/// arguments replace a box's `CMD`).
fn python_c(wasm: &Path, code: &str) -> String {
    stdout_of_success(
        &["python -c", code],
        run(false, &[], wasm, &["python", "-c", code]),
    )
}

/// `vfs-box inspect WASM`'s output.
fn inspect(wasm: &Path) -> String {
    let o = Command::new(vfs_box())
        .arg("inspect")
        .arg(wasm)
        .output()
        .expect("running vfs-box inspect");
    stdout_of_success(&["inspect"], o)
}

/// Creates the folder `dir` holding `files` (name, contents).
fn write_files(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, body) in files {
        std::fs::write(dir.join(name), body).unwrap();
    }
}

/// Copies a folder (the example, to edit it).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// What `examples/markdown-app` prints, line by line, wherever it runs.
fn assert_app_output(out: &str) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"Hello from a box"), "{out}");
    assert!(lines.contains(&"<h1>Report</h1>"), "{out}");
    assert!(
        out.contains("<em>markdown</em> 3.7 with <strong>pygments</strong> 2.18.0"),
        "{out}"
    );
    assert!(
        lines.contains(&"cwd=/app"),
        "WORKDIR is the current folder: {out}"
    );
    assert!(
        lines.contains(&"mode=production home=/root"),
        "ENV values and HOME: {out}"
    );
    assert!(
        lines.contains(&"executable=/usr/local/bin/python3.11 args=[]"),
        "{out}"
    );
}

#[test]
fn the_example_runs_bare_under_vfs_box_and_wasmtime() {
    let dir = scratch_dir("build");
    let out = dir.join("app.wasm");
    build_ok(&repo().join("examples/markdown-app"), &out, &[]);
    let o = run(false, &[], &out, &[]);
    assert_app_output(&stdout_of_success(&["vfs-box run"], o));
    // The plain CLI: no arguments, no --dir, no --env.
    let o = run(true, &[], &out, &[]);
    assert_app_output(&stdout_of_success(&["wasmtime run"], o));
    // A variable the host sets wins over ENV's default; others keep theirs.
    let o = run(false, &["--env", "APP_MODE=debug"], &out, &[]);
    let s = stdout_of_success(&["vfs-box run --env"], o);
    assert!(s.contains("mode=debug home=/root"), "{s}");
    assert!(s.starts_with("Hello from a box"), "{s}");
    // Run-time arguments replace CMD (no ENTRYPOINT): the interpreter with `-c`.
    assert_eq!(
        python_c(
            &out,
            "import markdown, os; print(os.getcwd(), markdown.__version__)"
        ),
        "/app 3.7\n"
    );
    // `.dockerignore` kept the declaration and compiled files out of `COPY . .`.
    assert_eq!(
        python_c(
            &out,
            "import os; print(sorted(f for f in os.listdir() if not f.startswith('__')))"
        ),
        "['app.py', 'greeting.py', 'requirements.txt']\n"
    );
    // The configuration is visible to `inspect`.
    let s = inspect(&out);
    assert!(s.contains("cmd: [\"python\", \"app.py\"]"), "{s}");
    assert!(s.contains("workdir: /app"), "{s}");
    assert!(s.contains("env: APP_GREETING=Hello from a box"), "{s}");
}

/// The step lines of a build's progress: `(text, how)` where `how` is `cached` or a time.
fn steps(progress: &str) -> Vec<(String, String)> {
    progress
        .lines()
        .filter(|l| l.starts_with('['))
        .filter_map(|l| {
            let (_, rest) = l.split_once("] ")?;
            let (step, how) = rest.rsplit_once("  ")?;
            Some((step.to_string(), how.to_string()))
        })
        .collect()
}

#[test]
fn rebuilds_reuse_the_cache_until_a_copied_file_changes() {
    let dir = scratch_dir("build-cache");
    let ctx = dir.join("ctx");
    copy_dir(&repo().join("examples/markdown-app"), &ctx);
    let first = dir.join("first.wasm");
    let second = dir.join("second.wasm");
    build_ok(&ctx, &first, &[]);
    let progress = build_ok(&ctx, &second, &[]);
    let done = steps(&progress);
    assert_eq!(done.len(), 6, "{progress}");
    assert!(done.iter().all(|(_, how)| how == "cached"), "{progress}");
    assert!(
        std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(),
        "a rebuild with nothing changed is byte-identical"
    );

    // Edit the app: the steps before `COPY . .` stay cached, it and those after re-run. The
    // edit is new to this run (the cache outlives test runs).
    let stamp = format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    );
    std::fs::write(
        ctx.join("greeting.py"),
        format!("def greeting():\n    return 'edited greeting'  # {stamp}\n"),
    )
    .unwrap();
    let third = dir.join("third.wasm");
    let progress = build_ok(&ctx, &third, &[]);
    let done = steps(&progress);
    let how = |name: &str| {
        done.iter()
            .find(|(s, _)| s.starts_with(name))
            .map(|(_, h)| h.clone())
            .unwrap_or_else(|| panic!("no step {name} in {progress}"))
    };
    assert_eq!(how("WORKDIR"), "cached", "{progress}");
    assert_eq!(how("COPY requirements.txt"), "cached", "{progress}");
    assert_eq!(how("RUN pip install"), "cached", "{progress}");
    assert_ne!(how("COPY . ."), "cached", "{progress}");
    let o = run(false, &[], &third, &[]);
    assert!(stdout_of_success(&["run"], o).starts_with("edited greeting\n"));

    // --no-cache runs every step again.
    let progress = build_ok(&ctx, &dir.join("fourth.wasm"), &["--no-cache"]);
    let done = steps(&progress);
    assert!(
        done.iter()
            .filter(|(s, _)| s.starts_with("RUN") || s.starts_with("COPY"))
            .all(|(_, h)| h != "cached"),
        "{progress}"
    );
}

/// A build that must fail: its message must contain every part of `expect`, and no output.
/// `files` are written into the context first; a body starting with `->` makes a symlink.
fn assert_refused(name: &str, dockerfile: &str, files: &[(&str, &str)], expect: &[&str]) {
    let dir = scratch_dir("build-bad").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    for (f, body) in files {
        match body.strip_prefix("->") {
            Some(target) => std::os::unix::fs::symlink(target, dir.join(f)).unwrap(),
            None => std::fs::write(dir.join(f), body).unwrap(),
        }
    }
    let out = dir.join("out.wasm");
    let o = build(&dir, &out, &[]);
    // A failing RUN's own output is shown (on vfs-box's stdout, where the guest's goes).
    let err = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(!o.status.success(), "{name}: the build succeeded\n{err}");
    for e in expect {
        assert!(err.contains(e), "{name}: {e:?} not in the message:\n{err}");
    }
    assert!(!out.exists(), "{name}: a box was written");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".wasm"))
        .collect();
    assert!(leftovers.is_empty(), "{name}: left {leftovers:?}");
}

#[test]
fn bad_input_names_file_line_and_cause_and_writes_nothing() {
    assert_refused(
        "unknown-directive",
        "FROM python:3.11\nWORKDIR /app\nFETCH https://example.com\n",
        &[],
        &["Dockerfile:3:", "unknown instruction 'FETCH'"],
    );
    assert_refused(
        "missing-copy-source",
        "FROM python:3.11\nCOPY app.py /app/\n",
        &[],
        &[
            "Dockerfile:2:",
            "app.py: no such file or directory in the build context",
        ],
    );
    assert_refused(
        "failing-run",
        "FROM python:3.11\nRUN python -c \"import sys; print('about to fail'); sys.exit(3)\"\n",
        &[],
        &["about to fail", "Dockerfile:2:", "exited with status 3"],
    );
    assert_refused(
        "compiled-requirement",
        "FROM python:3.11\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n",
        &[("requirements.txt", "numpy==2.1.0\n")],
        &[
            "Dockerfile:3:",
            "numpy 2.1.0: no pure-Python wheel",
            "wasm32-wasi build",
        ],
    );
    assert_refused(
        "other-python",
        "FROM python:3.12-slim\n",
        &[],
        &["Dockerfile:1:", "provides CPython 3.11.8 only"],
    );
    assert_refused(
        "not-python",
        "FROM ubuntu:24.04\n",
        &[],
        &["Dockerfile:1:", "FROM ubuntu:24.04"],
    );
    assert_refused(
        "symlink-out-of-the-context",
        "FROM python:3.11\nCOPY etc /copied/\n",
        &[("etc", "->/etc")],
        &[
            "Dockerfile:2:",
            "etc: a symlink to /etc, outside the build context",
        ],
    );
    assert_refused(
        "needs-a-shell",
        "FROM python:3.11\nRUN ls /app | wc -l\n",
        &[],
        &["Dockerfile:2:", "`|` needs a shell"],
    );
}

#[test]
fn a_console_script_runs_as_cmd_and_as_entrypoint() {
    let dir = scratch_dir("build-scripts");
    let ctx = dir.join("ctx");
    write_files(
        &ctx,
        &[
            ("README.md", "# Title\n\nSome *text*.\n"),
            (
                "Dockerfile",
                "FROM python:3.11\nRUN pip install markdown==3.7\nWORKDIR /docs\nCOPY README.md .\nCMD [\"markdown_py\", \"README.md\"]\n",
            ),
        ],
    );
    let out = dir.join("cmd.wasm");
    build_ok(&ctx, &out, &[]);
    let o = run(true, &[], &out, &[]);
    assert_eq!(
        stdout_of_success(&["wasmtime run cmd.wasm"], o),
        "<h1>Title</h1>\n<p>Some <em>text</em>.</p>"
    );
    // A command that cannot run says why and exits 125 (WASI allows no 126 or 127: wasmtime
    // would trap), under the wasmtime CLI as under vfs-box run.
    for (args, why) in [
        (&["no-such-program"][..], "not found"),
        (&["/docs/README.md"][..], "cannot execute"),
    ] {
        for cli in [true, false] {
            let o = run(cli, &[], &out, args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(125), "{args:?} (cli: {cli}): {err}");
            assert!(err.contains(why), "{args:?}: {err}");
        }
    }

    std::fs::write(
        ctx.join("Boxfile"),
        "FROM python:3.11\nRUN pip install markdown==3.7\nWORKDIR /docs\nCOPY README.md .\nENTRYPOINT [\"markdown_py\"]\nCMD [\"README.md\"]\n",
    )
    .unwrap();
    let out = dir.join("entry.wasm");
    build_ok(&ctx, &out, &[]);
    std::fs::remove_file(ctx.join("Boxfile")).unwrap();
    // The Boxfile wins over the Dockerfile; run-time arguments replace CMD after ENTRYPOINT.
    let o = run(true, &[], &out, &["--version"]);
    let s = stdout_of_success(&["wasmtime run entry.wasm --version"], o);
    assert!(s.contains("3.7"), "{s}");
    let o = run(false, &[], &out, &[]);
    assert!(stdout_of_success(&["run entry.wasm"], o).starts_with("<h1>Title</h1>"));
    // The script carries the box's interpreter in its `#!` line.
    let o = run(false, &[], &out, &["-x"]);
    assert!(!o.status.success(), "markdown_py rejects -x");
    let o = Command::new(vfs_box())
        .args(["run"])
        .arg(dir.join("cmd.wasm"))
        .args([
            "--",
            "python",
            "-c",
            "print(open('/usr/local/bin/markdown_py').readline().strip())",
        ])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of_success(&["head markdown_py"], o),
        "#!/usr/local/bin/python3.11\n"
    );
}

#[test]
fn an_installed_vfs_box_builds_from_anywhere_with_the_sources_it_carries() {
    // No CARGO_MANIFEST_DIR (what an installed binary sees) and a folder outside the
    // repository: the guest is built from the sources vfs-box carries, unpacked into the cache.
    let dir = std::env::temp_dir().join(format!("vfs-box-anywhere-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(!dir.starts_with(repo().canonicalize().unwrap()));
    std::fs::write(
        dir.join("hello.py"),
        "import os\nprint('built anywhere in', os.getcwd())\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM python:3.11\nWORKDIR /srv\nCOPY hello.py .\nCMD [\"python\", \"hello.py\"]\n",
    )
    .unwrap();
    let o = Command::new(vfs_box())
        .env_remove("CARGO_MANIFEST_DIR")
        .current_dir(&dir)
        .args(["build", "-o", "hello.wasm"])
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("/guest-src/"),
        "the carried sources were used:\n{err}"
    );
    let o = Command::new(wasmtime_cli())
        .current_dir(&dir)
        .args(["run", "hello.wasm"])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of_success(&["wasmtime run"], o),
        "built anywhere in /srv\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stages_earlier_boxes_archives_and_sdists() {
    let dir = scratch_dir("build-stages");
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(ctx.join("data")).unwrap();
    std::fs::write(ctx.join("data/mod.py"), "x = 1\n").unwrap();
    let st = Command::new("tar")
        .current_dir(&ctx)
        .args(["czf", "data.tgz", "data"])
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(
        ctx.join("Dockerfile"),
        "ARG PY=3.11\n\
         FROM python:${PY}-slim AS builder\n\
         ARG GREETING=hi\n\
         WORKDIR /build\n\
         ADD data.tgz /build/\n\
         RUN python -c \"import os; open('made.txt', 'w').write(os.environ['GREETING'])\"\n\
         # docopt 0.6.2 is an sdist only: built into a pure wheel on the host.\n\
         RUN pip install docopt==0.6.2\n\
         FROM python:3.11\n\
         LABEL org.opencontainers.image.title=stages\n\
         COPY --from=builder /build/made.txt /build/data /out/\n\
         COPY --from=builder /usr/local/lib/python3.11/site-packages /usr/local/lib/python3.11/site-packages\n\
         WORKDIR /out\n\
         ENTRYPOINT python -c \"import os, sys, docopt; print(open('made.txt').read(), sorted(os.listdir()), sys.argv[1:], docopt.__version__)\"\n\
         CMD [\"ignored\"]\n",
    )
    .unwrap();
    let first = dir.join("first.wasm");
    build_ok(&ctx, &first, &["--build-arg", "GREETING=hello"]);
    // A shell-form ENTRYPOINT takes neither CMD nor the run's arguments.
    let o = run(false, &[], &first, &["x"]);
    assert_eq!(
        stdout_of_success(&["run first.wasm"], o),
        "hello ['__pycache__', 'made.txt', 'mod.py'] [] 0.6.2\n"
    );
    let shown = inspect(&first);
    assert!(shown.contains("label: org.opencontainers.image.title=stages"));
    // Each layer with what it holds; the stdlib's is compressed (the default, LZ4).
    let stdlib = shown
        .lines()
        .find(|l| l.starts_with("layer 0: "))
        .unwrap_or_default();
    assert!(stdlib.contains(" compressed "), "{shown}");

    // A box built before is a base: its layers and configuration (WORKDIR, ENV...).
    let next = dir.join("next");
    write_files(
        &next,
        &[(
            "Dockerfile",
            "FROM ../first.wasm\nENV EXTRA=1\nENTRYPOINT [\"python\", \"-c\", \"import os; print(os.getcwd(), os.environ['EXTRA'], open('made.txt').read())\"]\n",
        )],
    );
    let second = dir.join("second.wasm");
    build_ok(&next, &second, &[]);
    let o = run(false, &[], &second, &[]);
    assert_eq!(stdout_of_success(&["run second.wasm"], o), "/out 1 hello\n");
}

#[test]
fn preinit_code_imports_from_the_workdir_as_python_c_would() {
    // `--preinit "import app"` under `WORKDIR /app` finds /app/app.py, as `python -c` there
    // would, with no PYTHONPATH; the snapshot keeps no extra `sys.path` entry for later runs.
    let dir = scratch_dir("build-preinit-workdir");
    let ctx = dir.join("ctx");
    write_files(
        &ctx,
        &[
            ("app.py", "GREETING = 'hi from app'\n"),
            (
                "Dockerfile",
                "FROM python:3.11\nWORKDIR /app\nCOPY app.py .\nCMD [\"python\", \"-c\", \"import sys; print(sys.modules['app'].GREETING, sys.path.count(''))\"]\n",
            ),
        ],
    );
    let out = dir.join("pre.wasm");
    build_ok(&ctx, &out, &["--preinit", "import app"]);
    let o = run(false, &[], &out, &[]);
    assert_eq!(stdout_of_success(&["run pre.wasm"], o), "hi from app 1\n");

    // `inspect` reads the same layers from the snapshot's segments as from the box before it
    // (the snapshot cuts the layer table across segments; a wrong read showed a 1 GiB layer).
    let plain = dir.join("plain.wasm");
    build_ok(&ctx, &plain, &[]);
    let without_name = |s: String| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(without_name(inspect(&out)), without_name(inspect(&plain)));
}

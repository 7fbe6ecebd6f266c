//! End-to-end: build one Python box from `examples/hello` with the real `vfs-box` binary, then run
//! it with no host directory and check what a user of `python3` expects.
//!
//! The box is built once per test binary (a few minutes the first time: it links CPython and
//! compiles the stdlib's bytecode; later runs reuse the cache in ~/.cache/wasm-vfs).

use std::process::Output;

mod common;

use common::{hello_box, run_box, stdout_of_success, text};

/// The box built from `examples/hello`, run with `args` and `stdin`.
fn run(args: &[&str], stdin: Option<&str>) -> Output {
    run_box(hello_box(), &[], args, stdin)
}

fn ok(args: &[&str]) -> String {
    stdout_of_success(args, run(args, None))
}

#[test]
fn stdlib_imports_with_no_host_directory() {
    let out = ok(&[
        "-c",
        "import json, email.parser, decimal, pathlib, zipfile, tarfile, sys\n\
         print(sys.prefix, json.dumps([str(decimal.Decimal('1.1') + 1)]))",
    ]);
    assert!(out.contains("/usr/local"), "{out}");
    assert!(out.contains("2.1"), "{out}");
}

#[test]
fn files_under_tmp_and_app_are_writable() {
    let script = r#"
import os
for base in ("/tmp", "/app"):
    d = os.path.join(base, "work")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "a.txt"), "w") as f:
        f.write("hello " + base)
    os.rename(os.path.join(d, "a.txt"), os.path.join(d, "b.txt"))
    assert sorted(os.listdir(d)) == ["b.txt"], os.listdir(d)
    with open(os.path.join(d, "b.txt")) as f:
        print(f.read())
"#;
    let out = ok(&["-c", script]);
    assert_eq!(out, "hello /tmp\nhello /app\n");
}

#[test]
fn behaves_like_python3() {
    // sys.argv, exit status, stdin and stderr.
    let o = run(
        &["-c", "import sys; print(sys.argv[1:]); print(sys.stdin.read().upper()); print('e', file=sys.stderr); sys.exit(7)", "x", "y z"],
        Some("piped in"),
    );
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(text(&o.stdout), "['x', 'y z']\nPIPED IN\n");
    assert_eq!(text(&o.stderr), "e\n");
    // -m and an uncaught exception's status.
    let o = run(
        &["-m", "json.tool", "--compact"],
        Some("{ \"a\" : [1, 2] }"),
    );
    assert_eq!(text(&o.stdout), "{\"a\":[1,2]}\n");
    let o = run(&["-c", "raise SystemExit('bye')"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("bye"));
}

#[test]
fn runs_the_entry_script_with_no_arguments() {
    let out = ok(&[]);
    assert!(out.contains("Hello, box, from CPython"), "{out}");
    assert!(out.contains("files in /tmp/demo: ['state.json']"), "{out}");
    let out = ok(&["/app/main.py", "tester"]);
    assert!(out.contains("Hello, tester"), "{out}");
}

#[test]
fn stdlib_imports_hit_the_bytecode_caches() {
    // `-v` reports each module's code source; a stale or missing cache would show
    // "# wrote"/"# could not write" or a compile from a .py file.
    let o = run(
        &["-v", "-c", "import json, email.parser, decimal, pathlib"],
        None,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("# code object from '/usr/local/lib/python3.11/json/__init__.pyc'"),
        "{err}"
    );
    assert!(!err.contains("# wrote"), "{err}");
    assert!(!err.contains("could not"), "{err}");
    // The app's own module comes from its precompiled __pycache__ (timestamp-checked).
    let o = run(
        &[
            "-v",
            "-c",
            "import sys; sys.path.insert(0, '/app'); import greet",
        ],
        None,
    );
    let err = text(&o.stderr);
    assert!(err.contains("matches /app/greet.py"), "{err}");
}

#[test]
fn emulated_libc_symbols_behave() {
    let out = ok(&[
        "-c",
        "import os, signal, time\n\
         got = []\n\
         signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))\n\
         signal.raise_signal(signal.SIGUSR1)\n\
         print(got == [signal.SIGUSR1], os.getpid())\n\
         t0 = time.process_time(); sum(range(200000)); print(time.process_time() >= t0, os.times().user >= 0)\n\
         print(signal.strsignal(signal.SIGTERM))\n\
         signal.signal(signal.SIGUSR2, signal.SIG_IGN); signal.raise_signal(signal.SIGUSR2); print('ignored')\n\
         try:\n    signal.signal(signal.SIGKILL, signal.SIG_IGN)\nexcept OSError as e:\n    print('SIGKILL', e.errno)",
    ]);
    assert_eq!(out, "True 1\nTrue True\nTerminated\nignored\nSIGKILL 28\n");
    // The default action of SIGTERM ends the instance (a trap: WASI exit codes stop at 125),
    // which `vfs-box run` reports as 134, like an abort.
    let o = run(
        &["-c", "import signal; signal.raise_signal(signal.SIGTERM)"],
        None,
    );
    assert_eq!(o.status.code(), Some(134));
    assert!(text(&o.stderr).contains("Program received fatal signal: Terminated"));
}

//! Pre-initialized Python boxes (`vfs-box python --preinit`), end to end with the real binary:
//! each hazard of running from a snapshot has a test here, and `--save-upper` is checked on a
//! normal box.
//!
//! The boxes are built once per test binary; CPython, the stdlib stage and compiled modules come
//! from the cache in ~/.cache/wasm-vfs, so a warm build takes seconds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

mod common;

use common::{build_hello, hello_box, repo, run_box, stdout_of_success, text, vfs_box};

fn vfs_image() -> PathBuf {
    // Cargo builds the workspace's binaries into the same folder.
    Path::new(vfs_box()).with_file_name("vfs-image")
}

fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::scratch_dir("preinit"))
}

/// What the snapshot runs: imports, output on both streams (which no run may show), a file
/// in the VFS, an environment change (which no run may see), and a random draw.
const PREINIT: &str = "import json, random, os, sys\n\
print('PREINIT-STDOUT')\n\
print('PREINIT-STDERR', file=sys.stderr)\n\
with open('/tmp/made-at-preinit.txt', 'w') as f:\n    f.write('written before the snapshot')\n\
os.environ['SNAPSHOT_ONLY'] = '1'\n\
os.chdir('/tmp')\n\
keeper = type(sys)('keeper'); keeper.argv = sys.argv; keeper.orig_argv = sys.orig_argv\n\
sys.modules['keeper'] = keeper\n\
random.random()\n";

/// `examples/hello` as a box, pre-initialized with [`PREINIT`].
fn preinit_box() -> &'static Path {
    static BOX: OnceLock<PathBuf> = OnceLock::new();
    BOX.get_or_init(|| {
        let out = work_dir().join("hello-pre.wasm");
        build_hello(&out, &["--preinit", PREINIT]);
        out
    })
}

/// Runs the pre-initialized box and returns its stdout, failing on a non-zero status.
fn ok(opts: &[&str], args: &[&str]) -> String {
    stdout_of_success(args, run_box(preinit_box(), opts, args, None))
}

#[test]
fn argv_and_environ_are_the_runs() {
    let out = ok(
        &["--env", "GREETING=from the run"],
        &[
            "-c",
            "import sys, os\n\
             print(sys.argv)\n\
             print(os.environ.get('GREETING'), os.getenv('GREETING'))\n\
             print('SNAPSHOT_ONLY' in os.environ, 'GREETING' in os.environ.copy())",
            "one",
            "two",
        ],
    );
    assert_eq!(
        out,
        "['-c', 'one', 'two']\nfrom the run from the run\nFalse True\n"
    );
    // With no environment at all, nothing of the snapshot's remains either: only the HOME a box
    // defaults to when the host sets none (as `docker run` gives root's).
    let out = ok(
        &[],
        &[
            "-c",
            "import os; print(dict(os.environ), os.getenv('SNAPSHOT_ONLY'))",
        ],
    );
    assert_eq!(out, "{'HOME': '/root'} None\n");
}

#[test]
fn objects_made_freed_and_resized_by_a_run_keep_their_contents() {
    // A pre-initialized run takes its small blocks from a region of its own (the guest's
    // `nursery`), in front of `malloc`: churn through blocks of every size around its
    // classes and its 1 KiB limit, resize them (bytearray, list and dict growth), and keep
    // more alive than the region holds, checking every object's contents as it goes. The same
    // code in a box that is not pre-initialized (plain `malloc`) must print the same.
    let code = "\
import random
r = random.Random(7)
live, checks = {}, 0
def check(k, v, kind, n):
    if kind == 0: assert v == bytes([k & 255]) * n, (k, n)
    elif kind == 1: assert v == bytearray([k & 255]) * (50 * (n // 50 + 1)), (k, n)
    elif kind == 2: assert v == [k] * (n // 8) + list(range(n // 16)), (k, n)
    else: assert v == {j: str(k) * (j % 5) for j in range(n // 40)}, (k, n)
for step in range(40000):
    k = r.randrange(3000)
    if k in live and r.random() < 0.5:
        check(k, *live.pop(k)); checks += 1
        continue
    n = r.choice((0, 1, 7, 15, 16, 17, 100, 500, 1000, 1008, 1024, 1025, 3000))
    kind = r.randrange(4)
    if kind == 0: v = bytes([k & 255]) * n
    elif kind == 1:
        v = bytearray()
        for _ in range(n // 50 + 1): v += bytes([k & 255]) * 50
    elif kind == 2:
        v = [k] * (n // 8)
        for j in range(n // 16): v.append(j)
    else: v = {j: str(k) * (j % 5) for j in range(n // 40)}
    live[k] = (v, kind, n)
for k, item in live.items():
    check(k, *item); checks += 1
print(len(live), checks, sum(len(v) for v, _, _ in live.values()))
";
    let args = ["-c", code];
    let plain = stdout_of_success(&args, run_box(hello_box(), &[], &args, None));
    assert_eq!(ok(&[], &args), plain);
    assert_eq!(ok(&["--env", "A=1"], &args), plain);
}

#[test]
fn a_run_changes_its_environment_as_python_does() {
    // A run given its own environment starts from a C `environ` the guest built itself
    // (nursery memory, not `malloc`'s): `setenv`, `putenv` and `unsetenv` must work on it —
    // replacing, adding and removing variables, growing the array — and never free its strings.
    let code = "import os\n\
                os.environ['GREETING'] = 'changed'\n\
                os.environ['NEW'] = 'x'\n\
                for i in range(50): os.environ[f'V{i}'] = str(i) * i\n\
                del os.environ['GREETING']\n\
                os.putenv('P', '1'); os.unsetenv('P')\n\
                for i in range(0, 50, 2): del os.environ[f'V{i}']\n\
                print(os.environ.get('NEW'), 'GREETING' in os.environ, os.environ['HOME'], \
                sorted(k for k in os.environ if k.startswith('V'))[:3], os.environ['V49'] == '49' * 49)";
    let out = ok(&["--env", "GREETING=hi", "--env", "A=1"], &["-c", code]);
    assert_eq!(out, "x False /root ['V1', 'V11', 'V13'] True\n");
}

#[test]
fn code_imported_before_the_snapshot_sees_the_runs_argv() {
    // As in one process, `sys.argv` is one list from start-up on: PREINIT's module `keeper`
    // kept it (and `sys.orig_argv`), and sees each run's, whichever way the run starts.
    let show = "import keeper, sys\n\
                print(keeper.argv is sys.argv, keeper.argv, keeper.orig_argv is sys.orig_argv)";
    let out = ok(&[], &["-c", show, "one"]);
    assert_eq!(out, "True ['-c', 'one'] True\n");
    let o = run_box(preinit_box(), &[], &["-", "two"], Some(show));
    assert_eq!(
        stdout_of_success(&["-", "two"], o),
        "True ['-', 'two'] True\n"
    );
}

#[test]
fn the_working_directory_is_the_boxs_whatever_preinit_code_did() {
    // PREINIT changed directory to /tmp; a run starts where the box says, with the run's
    // environment or with none (the snapshot's own, which a run then keeps as it is).
    let code = ["-c", "import os; print(os.getcwd())"];
    let plain = stdout_of_success(&code, run_box(hello_box(), &[], &code, None));
    assert_ne!(plain, "/tmp\n");
    assert_eq!(ok(&[], &code), plain);
    assert_eq!(ok(&["--env", "A=1"], &code), plain);
}

#[test]
fn two_runs_draw_different_random_numbers() {
    let code = "import random, os; print(random.random(), os.urandom(8).hex())";
    // `-c` (run from Rust) and a program on stdin (run by `_vfs_box.resume`) alike.
    let runs = |args: &[&str], stdin: Option<&str>| {
        stdout_of_success(args, run_box(preinit_box(), &[], args, stdin))
    };
    for (args, stdin) in [(&["-c", code][..], None), (&["-"][..], Some(code))] {
        let a = runs(args, stdin);
        let b = runs(args, stdin);
        let (ra, ua) = a.trim().split_once(' ').unwrap();
        let (rb, ub) = b.trim().split_once(' ').unwrap();
        assert_ne!(
            ra, rb,
            "random.random() repeated the snapshot's state ({args:?})"
        );
        assert_ne!(ua, ub);
    }
}

#[test]
fn a_host_directory_given_only_at_run_time_works() {
    let host = work_dir().join("host-data");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in.txt"), "from the host").unwrap();
    let map = format!("{}::/data", host.display());
    let out = ok(
        &["--dir", &map],
        &[
            "-c",
            "import os\n\
             print(open('/data/in.txt').read())\n\
             open('/data/out.txt', 'w').write('from the guest')\n\
             print(sorted(os.listdir('/data')), os.path.isdir('/usr/local/lib/python3.11'))",
        ],
    );
    assert_eq!(
        out, "from the host\n['in.txt', 'out.txt'] True\n",
        "host dir and VFS side by side"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).unwrap(),
        "from the guest"
    );
}

#[test]
fn a_file_written_during_preinit_is_there_at_run_time() {
    let out = ok(
        &[],
        &["-c", "print(open('/tmp/made-at-preinit.txt').read())"],
    );
    assert_eq!(out, "written before the snapshot\n");
    // And each run starts from the snapshot again: a run's writes do not reach the next run.
    ok(
        &[],
        &[
            "-c",
            "open('/tmp/made-at-preinit.txt', 'w').write('changed')",
        ],
    );
    let out = ok(
        &[],
        &["-c", "print(open('/tmp/made-at-preinit.txt').read())"],
    );
    assert_eq!(out, "written before the snapshot\n");
}

#[test]
fn nothing_printed_during_preinit_reaches_a_run() {
    let o = run_box(preinit_box(), &[], &["-c", "pass"], None);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "", "stdout of `-c pass`");
    assert_eq!(text(&o.stderr), "", "stderr of `-c pass`");
    let out = ok(&[], &["-c", "print('only this')"]);
    assert_eq!(out, "only this\n");
}

#[test]
fn imports_made_before_the_snapshot_are_loaded_but_not_in_main() {
    let out = ok(
        &[],
        &[
            "-c",
            "print(sorted(globals()))\n\
             import sys\n\
             print('json' in sys.modules, 'json' in globals())\n\
             import json; print(json.dumps({'a': [1, 2.5, None]}))",
        ],
    );
    // `__main__` starts as in a fresh `python -c`: the box's own steps left nothing there.
    assert_eq!(
        out,
        "['__annotations__', '__builtins__', '__doc__', '__loader__', '__name__', \
         '__package__', '__spec__']\nTrue False\n{\"a\": [1, 2.5, null]}\n"
    );
}

#[test]
fn exit_status_and_tracebacks_match_python() {
    let o = run_box(preinit_box(), &[], &["-c", "import sys; sys.exit(3)"], None);
    assert_eq!(o.status.code(), Some(3));
    let o = run_box(preinit_box(), &[], &["-c", "1/0"], None);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("Traceback (most recent call last):\n  File \"<string>\", line 1"),
        "{err}"
    );
    assert!(err.contains("ZeroDivisionError"), "{err}");
    assert!(
        !err.contains("<vfs-box>"),
        "the box's own frames leak: {err}"
    );
    // Options CPython reads at start-up cannot change any more: refused, with the reason.
    let o = run_box(preinit_box(), &[], &["-X", "dev", "-c", "pass"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("fixed when the box is pre-initialized"));
}

#[test]
fn scripts_modules_and_the_entry_point_run() {
    // No arguments: the app's entry script, as a normal box does.
    let out = ok(&[], &[]);
    assert!(out.contains("Hello, box"), "{out}");
    let out = ok(&[], &["-m", "json.tool", "--help"]);
    assert!(out.starts_with("usage:"), "{out}");
    let out = ok(&[], &["/app/main.py"]);
    assert!(out.contains("Hello, box"), "{out}");
}

#[test]
fn save_upper_keeps_what_a_run_wrote() {
    let layer = work_dir().join("upper.vfs");
    let o = run_box(
        hello_box(),
        &["--save-upper", layer.to_str().unwrap()],
        &[
            "-c",
            "import os\n\
             os.makedirs('/srv/state')\n\
             open('/srv/state/counter.txt', 'w').write('41')\n\
             os.remove('/app/main.py')",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let ls = Command::new(vfs_image())
        .args(["ls", "-lR"])
        .arg(&layer)
        .output()
        .unwrap();
    assert!(ls.status.success(), "{}", text(&ls.stderr));
    let listing = text(&ls.stdout);
    assert!(listing.contains("counter.txt"), "{listing}");
    assert!(
        listing.contains("main.py"),
        "the deletion is missing: {listing}"
    );

    // The layer added to the box: a new instance sees the change and the deletion.
    let next = work_dir().join("hello-next.wasm");
    let st = Command::new(vfs_image())
        .arg("embed")
        .arg(hello_box())
        .arg(&layer)
        .arg("-o")
        .arg(&next)
        .status()
        .unwrap();
    assert!(st.success());
    let o = run_box(
        &next,
        &[],
        &[
            "-c",
            "import os; print(open('/srv/state/counter.txt').read(), os.path.exists('/app/main.py'))",
        ], None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "41 False\n");
}

#[test]
fn preinit_refuses_what_it_cannot_snapshot_and_says_why() {
    let out = work_dir().join("never.wasm");
    let preinit = |input: &Path, code: &str| {
        Command::new(vfs_box())
            .arg("preinit")
            .arg(input)
            .args(["--code", code, "-o"])
            .arg(&out)
            .output()
            .unwrap()
    };
    let o = preinit(preinit_box(), "");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("already pre-initialized"),
        "{}",
        text(&o.stderr)
    );
    let o = preinit(hello_box(), "import no_such_module_here");
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("pre-initialization failed"), "{err}");
    assert!(
        err.contains("ModuleNotFoundError: No module named 'no_such_module_here'"),
        "{err}"
    );
    let o = preinit(&repo().join("README.md"), "");
    assert!(
        text(&o.stderr).contains("not a WebAssembly module"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        !out.exists(),
        "a failed pre-initialization wrote its output"
    );
}

#[test]
fn a_box_replaced_at_the_same_path_is_not_mistaken_for_the_old_one() {
    // `vfs-box run` remembers each file's digest with its identity (inode, size, mtime); a new
    // file at the same path must be hashed again and run as itself.
    let path = work_dir().join("replaced.wasm");
    let probe = ["-c", "import sys; print('_vfs_box' in sys.modules)"];
    let mut outputs = Vec::new();
    for source in [hello_box(), preinit_box(), hello_box()] {
        std::fs::copy(source, &path).unwrap();
        let o = run_box(&path, &[], &probe, None);
        assert!(o.status.success(), "{}", text(&o.stderr));
        outputs.push(text(&o.stdout));
    }
    assert_eq!(outputs, ["False\n", "True\n", "False\n"]);
}

#[test]
fn atexit_callbacks_run_and_buffered_output_is_flushed() {
    let out = ok(
        &[],
        &[
            "-c",
            "import atexit, sys\n\
             atexit.register(print, 'registered at exit')\n\
             sys.stdout.write('no newline')",
        ],
    );
    assert_eq!(out, "no newlineregistered at exit\n");
    // The same through the Python-level path (a script instead of `-c`).
    let script = work_dir().join("atexit.py");
    std::fs::write(
        &script,
        "import atexit, sys\natexit.register(print, 'at exit')\nsys.stdout.write('script')\n",
    )
    .unwrap();
    let map = format!("{}::/work", work_dir().display());
    let out = ok(&["--dir", &map], &["/work/atexit.py"]);
    assert_eq!(out, "scriptat exit\n");
}

#[test]
fn both_forms_of_dash_c_run_and_a_missing_code_is_refused() {
    // `-cCODE` is the same option as `-c CODE` (CPython's getopt), run by the same code.
    let out = ok(&[], &["-cimport sys; print(sys.argv)", "one"]);
    assert_eq!(out, "['-c', 'one']\n");
    let o = run_box(preinit_box(), &[], &["-c"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("Argument expected for the -c option"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn limits_reach_a_resumed_snapshot() {
    // The snapshot's filesystem was built under the snapshot host's (default) limits; the run's
    // flags apply to it when it resumes. It already holds the file PREINIT wrote, which stays
    // readable under a byte limit below its size (the limit becomes what is held).
    let script = "\
import errno
try:
    with open('/tmp/new.txt', 'w') as f:
        f.write('x')
    print('wrote')
except OSError as e:
    print(errno.errorcode[e.errno])
print(open('/tmp/made-at-preinit.txt').read())
try:
    b'x' * 200_000_000
except MemoryError:
    print('MemoryError')
";
    let o = run_box(
        preinit_box(),
        &["--max-fs-bytes", "10", "--max-memory", "64MiB"],
        &["-c", script],
        None,
    );
    assert_eq!(
        text(&o.stdout),
        "ENOSPC\nwritten before the snapshot\nMemoryError\n",
        "{}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stderr)
            .contains("VFS_MAX_FS_BYTES=10 is below the 27 the filesystem already holds"),
        "{}",
        text(&o.stderr)
    );
    assert!(o.status.success());
    // With no limit set the run writes as before.
    assert_eq!(
        ok(
            &[],
            &["-c", "open('/tmp/new.txt', 'w').write('x'); print('ok')"]
        ),
        "ok\n"
    );
}

#[test]
fn the_c_modules_work_in_a_pre_initialized_box() {
    // Registered before CPython starts on the pre-initialization path too, and usable after
    // the snapshot (SQLite's and zlib's state come back with the memory).
    let out = ok(
        &[],
        &[
            "-c",
            "import zlib, bz2, lzma, sqlite3\n\
             d = b'snapshot ' * 1000\n\
             assert zlib.decompress(zlib.compress(d)) == d and bz2.decompress(bz2.compress(d)) == d\n\
             assert lzma.decompress(lzma.compress(d)) == d\n\
             con = sqlite3.connect('/tmp/pre.db')\n\
             con.execute('create table t (x)'); con.execute('insert into t values (42)'); con.commit()\n\
             print(sqlite3.connect('/tmp/pre.db').execute('select x from t').fetchone()[0])",
        ],
    );
    assert_eq!(out, "42\n");
}

/// A box whose `CMD` is `python -c CODE`, pre-initialized: `CODE` is compiled before the
/// snapshot, and a run of it (the box's own command, or the same code given at run time) must
/// behave as `python -c CODE` does, as a run of any other code does.
fn dash_c_box(name: &str, code: &str) -> PathBuf {
    let dir = work_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let cmd = format!("[\"python\", \"-c\", {code:?}]");
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM python:3.11-slim\nCMD {cmd}\n"),
    )
    .unwrap();
    let out = dir.join("box.wasm");
    let o = common::build_box(&dir, &out, &["--preinit", "import json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    out
}

#[test]
fn the_boxs_own_dash_c_command_runs_compiled_as_python_runs_it() {
    const CODE: &str = "import sys\n\
seen = globals().get('seen', 0)\n\
print(sys.argv, __name__, repr(sys.path[0]), sys.path.count(''), len(sys.orig_argv), seen)\n\
print(globals() is locals(), sys._getframe().f_code.co_name, __builtins__ is sys.modules['builtins'])\n\
seen += 1\n\
raise SystemExit(int(sys.argv[1]) if len(sys.argv) > 1 else 4)";
    let wasm = dash_c_box("dash-c", CODE);
    // The box's command, twice: a fresh `__main__` each time.
    for _ in 0..2 {
        let o = run_box(&wasm, &[], &[], None);
        assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
        assert_eq!(
            text(&o.stdout),
            "['-c'] __main__ '' 1 3 0\nTrue <module> True\n"
        );
    }
    // The same code with arguments, and other code: as `python -c`.
    let o = run_box(&wasm, &[], &["python", "-c", CODE, "5", "x"], None);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "['-c', '5', 'x'] __main__ '' 1 5 0\nTrue <module> True\n"
    );
    let o = run_box(&wasm, &[], &["python", "-c", "print(6 * 7)"], None);
    assert_eq!((o.status.code(), text(&o.stdout)), (Some(0), "42\n".into()));
    // The snapshot holds `sys.argv`, `sys.orig_argv` and `sys.path` ready for the box's
    // command; a run of another kind sees only its own, as it would in a fresh `python`.
    let show =
        "import sys; print(sys.argv, sys.orig_argv[1:], repr(sys.path[0]), sys.path.count(''))";
    let o = run_box(&wasm, &[], &["python", "-", "a"], Some(show));
    assert_eq!(stdout_of_success(&["-"], o), "['-', 'a'] ['-', 'a'] '' 1\n");
    let script = work_dir().join("dash-c").join("show.py");
    std::fs::write(&script, show).unwrap();
    let map = format!("{}::/work", script.parent().unwrap().display());
    let o = run_box(
        &wasm,
        &["--dir", &map],
        &["python", "/work/show.py", "b"],
        None,
    );
    assert_eq!(
        stdout_of_success(&["/work/show.py"], o),
        "['/work/show.py', 'b'] ['/work/show.py', 'b'] '/work' 0\n"
    );
    // Streams a run replaced are flushed at exit, as the snapshot's own are.
    let o = run_box(
        &wasm,
        &[],
        &[
            "python",
            "-c",
            "import io, sys\n\
             sys.stdout.write('kept ')\n\
             sys.stdout.flush()\n\
             sys.stdout = io.TextIOWrapper(io.FileIO(1, 'w', closefd=False))\n\
             sys.stdout.write('replaced, no newline')",
        ],
        None,
    );
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(0), "kept replaced, no newline".into())
    );

    // A command that raises: the traceback names `<string>`, as CPython's does.
    let wasm = dash_c_box("dash-c-raises", "x = 1\n1/0");
    let o = run_box(&wasm, &[], &[], None);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("Traceback (most recent call last):\n  File \"<string>\", line 2"),
        "{err}"
    );
    // One that does not compile is reported when it runs, as by `python -c`.
    let wasm = dash_c_box("dash-c-syntax", "def (:");
    let o = run_box(&wasm, &[], &[], None);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("File \"<string>\", line 1") && err.contains("SyntaxError"),
        "{err}"
    );
}

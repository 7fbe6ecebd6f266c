//! Limits a host sets when it runs a box (`--max-fs-bytes`, `--max-inodes`, `--max-fds`,
//! `--max-memory`), end to end with the real `vfs-box` and a Python box: the guest gets the
//! error a process would (`ENOSPC`, `EMFILE`, `MemoryError`), never a trap, and after hitting the
//! limit the run goes on with what it wrote before intact.
//!
//! Python for WASI uses wasi-libc's errno numbers (`errno.ENOSPC` is 51 there, not Linux's 28;
//! `errno.EMFILE` is 33, not 24), so the scripts compare with the `errno` module's names.

mod common;

use common::{hello_box, run_box, stdout_of_success, text};

/// Runs `script` as `-c` in the plain box with the host options `opts`; its stdout, failing on
/// a non-zero status.
fn ok(opts: &[&str], script: &str) -> String {
    stdout_of_success(&[script], run_box(hello_box(), opts, &["-c", script], None))
}

/// Runs `-c print(1)` with `opts`, which `vfs-box` must refuse before the guest starts (exit 2,
/// nothing printed); its stderr.
fn refused(opts: &[&str]) -> String {
    let o = run_box(hello_box(), opts, &["-c", "print(1)"], None);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(o.stdout.is_empty(), "{err}");
    err
}

#[test]
fn fs_bytes_limit_gives_enospc_and_frees_space_on_delete() {
    let script = "\
import errno, os
os.makedirs('/tmp/q')
open('/tmp/q/keep', 'wb').write(b'k' * 300_000)
try:
    with open('/tmp/q/big', 'wb') as f:
        f.write(b'b' * 2_000_000)
    print('no error')
except OSError as e:
    print('write:', errno.errorcode[e.errno])
os.remove('/tmp/q/big')
open('/tmp/q/again', 'wb').write(b'a' * 600_000)
print('again:', os.path.getsize('/tmp/q/again'))
print('keep intact:', open('/tmp/q/keep', 'rb').read() == b'k' * 300_000)
";
    assert_eq!(
        ok(&["--max-fs-bytes", "1000000"], script),
        "write: ENOSPC\nagain: 600000\nkeep intact: True\n"
    );
    // Without the flag the same 2 MB fit (the default is 1 GiB).
    assert!(ok(&[], script).starts_with("no error\n"));
}

#[test]
fn fs_bytes_limit_accepts_a_unit() {
    let script = "\
import errno
try:
    with open('/tmp/f', 'wb') as f:
        f.write(b'x' * 70_000)
    print('wrote')
except OSError as e:
    print(errno.errorcode[e.errno])
";
    assert_eq!(ok(&["--max-fs-bytes", "64KiB"], script), "ENOSPC\n");
    assert_eq!(ok(&["--max-fs-bytes", "1MiB"], script), "wrote\n");
}

#[test]
fn inode_limit_gives_enospc_and_frees_an_inode_on_delete() {
    let script = "\
import errno, os
n = 0
try:
    while True:
        open('/tmp/i%d' % n, 'w').write('%d' % n)
        n += 1
except OSError as e:
    print('create:', errno.errorcode[e.errno], n < 50)
os.remove('/tmp/i0')
open('/tmp/j', 'w').write('j')
print('after delete:', open('/tmp/j').read())
print('intact:', all(open('/tmp/i%d' % i).read() == '%d' % i for i in range(1, n)))
";
    assert_eq!(
        ok(&["--max-inodes", "50"], script),
        "create: ENOSPC True\nafter delete: j\nintact: True\n"
    );
}

#[test]
fn fd_limit_gives_emfile_and_the_run_goes_on() {
    let script = "\
import errno
files = []
try:
    while True:
        files.append(open('/tmp/f%d' % len(files), 'w'))
except OSError as e:
    print('open:', errno.errorcode[e.errno], len(files) < 64)
for f in files:
    f.close()
print('after close:', open('/tmp/f0').read() == '')
";
    assert_eq!(
        ok(&["--max-fds", "64"], script),
        "open: EMFILE True\nafter close: True\n"
    );
}

#[test]
fn memory_limit_gives_memory_error_and_the_run_goes_on() {
    let script = "\
try:
    b'x' * 200_000_000
    print('allocated')
except MemoryError:
    print('MemoryError')
print('after:', len(b'y' * 1_000_000))
";
    assert_eq!(
        ok(&["--max-memory", "64MiB"], script),
        "MemoryError\nafter: 1000000\n"
    );
    assert_eq!(ok(&[], script), "allocated\nafter: 1000000\n");
}

#[test]
fn memory_limit_below_the_initial_memory_is_refused_before_the_start() {
    let err = refused(&["--max-memory", "1MiB"]);
    assert!(err.contains("exceeds memory limits"), "{err}");
}

#[test]
fn an_env_entry_lowers_a_limit_but_cannot_raise_it() {
    let script = "\
import errno
files = []
try:
    while len(files) < 200:
        files.append(open('/tmp/f%d' % len(files), 'w'))
    print('opened 200')
except OSError as e:
    print(errno.errorcode[e.errno], len(files) < 32)
";
    // The flag's 32 holds against a larger value in the environment ...
    let raise = ["--max-fds", "32", "--env", "VFS_MAX_FDS=100000"];
    assert_eq!(ok(&raise, script), "EMFILE True\n");
    // ... and an entry with no flag is a limit of its own, as under any WASI host.
    assert_eq!(ok(&["--env", "VFS_MAX_FDS=32"], script), "EMFILE True\n");
    assert_eq!(ok(&[], script), "opened 200\n");
}

#[test]
fn bad_sizes_are_refused_with_the_flag_named() {
    let err = refused(&["--max-memory", "lots"]);
    assert!(err.contains("--max-memory"), "{err}");
    assert!(err.contains("not a size"), "{err}");
}

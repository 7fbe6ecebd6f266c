//! The POSIX surface around the filesystem, in a Python box with no host directory: devices
//! under `/dev`, `dup`/`dup2`/`pipe` (fd 1 redirected to a file and back, a pipe written and
//! read in one instance), `pwd`/`grp`, `statvfs`, `umask`, the user ids, `sys.executable` and
//! `HOME` — each as Linux (or a `python:3.11` container) answers.

mod common;

use common::{hello_box, run_box, stdout_of_success};

fn ok(code: &str) -> String {
    let args = ["-c", code];
    stdout_of_success(&args, run_box(hello_box(), &[], &args, None))
}

#[test]
fn devices_behave_as_linux_s() {
    let out = ok("import os, stat, errno\n\
         print(sorted(os.listdir('/dev')))\n\
         print(all(stat.S_ISCHR(os.stat('/dev/' + d).st_mode) for d in ('null', 'zero', 'full', 'random', 'urandom')))\n\
         print(repr(open('/dev/null').read()), open('/dev/null', 'w').write('gone'))\n\
         print(open('/dev/zero', 'rb').read(3), len(open('/dev/urandom', 'rb').read(64)))\n\
         a, b = open('/dev/urandom', 'rb').read(16), open('/dev/random', 'rb').read(16)\n\
         print(a != b, a != bytes(16))\n\
         fd = os.open('/dev/full', os.O_WRONLY)\n\
         try:\n    os.write(fd, b'x')\nexcept OSError as e:\n    print('full:', errno.errorcode[e.errno])\n\
         print(open('/dev/full', 'rb').read(2))\n\
         import logging\n\
         h = logging.FileHandler(os.devnull); h.emit(logging.makeLogRecord({'msg': 'x'})); h.close()\n\
         print('devnull handler ok')");
    assert_eq!(
        out,
        "['fd', 'full', 'null', 'random', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']\n\
         True\n'' 4\nb'\\x00\\x00\\x00' 64\nTrue True\nfull: ENOSPC\nb'\\x00\\x00'\n\
         devnull handler ok\n"
    );
}

#[test]
fn stdout_redirected_to_a_file_and_back_as_pytest_captures() {
    // What pytest's fd capture does: save fd 1, point it at a temporary file, restore it.
    // `/dev/stdout` is then that file, reopened as Linux does (so mode 'w' would truncate it).
    let out = ok("import os, sys, tempfile\n\
         print('before', flush=True)\n\
         saved = os.dup(1)\n\
         tmp = tempfile.TemporaryFile()\n\
         os.dup2(tmp.fileno(), 1)\n\
         os.write(1, b'raw write\\n')\n\
         print('print, flushed', flush=True)\n\
         with open('/dev/stdout', 'a') as o:\n    o.write('through /dev/stdout\\n')\n\
         os.dup2(saved, 1)\n\
         os.close(saved)\n\
         tmp.seek(0)\n\
         print('captured:', tmp.read())\n\
         print('after')");
    assert_eq!(
        out,
        "before\ncaptured: b'raw write\\nprint, flushed\\nthrough /dev/stdout\\n'\nafter\n"
    );
}

#[test]
fn dup_shares_an_offset_and_closing_one_keeps_the_other() {
    let out = ok("import os\n\
         fd = os.open('/tmp/f', os.O_RDWR | os.O_CREAT)\n\
         d = os.dup(fd)\n\
         os.write(fd, b'abc')\n\
         print(os.lseek(d, 0, os.SEEK_CUR))\n\
         os.close(fd)\n\
         os.write(d, b'def')\n\
         print(os.dup2(d, 7), os.pread(7, 6, 0))\n\
         try:\n    os.dup(99)\nexcept OSError as e:\n    print(type(e).__name__, e.errno == __import__('errno').EBADF)\n\
         e = os.dup(2); os.close(e)\n\
         import sys; print('stderr still open', file=sys.stderr); print('done')");
    assert_eq!(out, "3\n7 b'abcdef'\nOSError True\ndone\n");
}

#[test]
fn a_pipe_is_written_and_read_in_one_instance() {
    let out = ok("import os, errno\n\
         r, w = os.pipe()\n\
         print(os.write(w, b'x' * 70000))\n\
         print(len(os.read(r, 100000)))\n\
         try:\n    os.read(r, 1)\nexcept BlockingIOError as e:\n    print('empty:', errno.errorcode[e.errno])\n\
         with os.fdopen(w, 'w') as wf:\n    wf.write('line one\\nline two\\n')\n\
         with os.fdopen(r) as rf:\n    print(rf.read().splitlines())\n\
         r, w = os.pipe(); os.close(r)\n\
         try:\n    os.write(w, b'x')\nexcept BrokenPipeError:\n    print('no reader: EPIPE')");
    assert_eq!(
        out,
        "65536\n65536\nempty: EAGAIN\n['line one', 'line two']\nno reader: EPIPE\n"
    );
}

#[test]
fn one_root_user_and_a_home() {
    let out = ok("import os, pwd, grp, getpass, sys\n\
         print(os.getuid(), os.geteuid(), os.getgid(), os.getegid(), getpass.getuser())\n\
         p = pwd.getpwuid(0)\n\
         print(p.pw_name, p.pw_dir, p == pwd.getpwnam('root'), len(pwd.getpwall()))\n\
         print(grp.getgrgid(0).gr_name, grp.getgrnam('root').gr_gid)\n\
         try:\n    pwd.getpwuid(1000)\nexcept KeyError:\n    print('no uid 1000')\n\
         print(os.environ['HOME'], os.path.expanduser('~/x'))\n\
         print(sys.executable, os.path.exists(sys.executable))\n\
         print(oct(os.umask(0o077)), oct(os.umask(0o022)))\n\
         open('/tmp/owned', 'w').close(); os.chown('/tmp/owned', 0, -1); os.lchown('/tmp/owned', -1, 0)\n\
         for call in (lambda: os.chown('/tmp/owned', 1000, 1000), lambda: os.chown('/tmp/none', 0, 0)):\n    \
             try:\n        call()\n    \
             except OSError as e:\n        print(type(e).__name__, __import__('errno').errorcode[e.errno])");
    assert_eq!(
        out,
        "0 0 0 0 root\nroot /root True 1\nroot 0\nno uid 1000\n/root /root/x\n\
         /usr/local/bin/python3.11 True\n0o22 0o77\nOSError EINVAL\nFileNotFoundError ENOENT\n"
    );
}

#[test]
fn statvfs_reports_the_quota_and_what_is_used() {
    let code = "import os, shutil\n\
         s = os.statvfs('/tmp')\n\
         print(s.f_frsize, s.f_bavail * s.f_frsize, s.f_blocks * s.f_frsize > 8388608, s.f_files, s.f_namemax, s.f_fsid > 0)\n\
         before = shutil.disk_usage('/tmp')\n\
         open('/tmp/big', 'wb').write(b'x' * 1_000_000)\n\
         after = shutil.disk_usage('/')\n\
         print(abs(after.used - before.used - 1_000_000) <= 4096, before.total == after.total)\n\
         print(os.fstatvfs(os.open('/tmp', os.O_RDONLY)).f_blocks == s.f_blocks)\n\
         try:\n    os.statvfs('/missing')\nexcept FileNotFoundError:\n    print('missing: ENOENT')";
    let args = ["-c", code];
    let out = stdout_of_success(
        &args,
        run_box(hello_box(), &["--max-fs-bytes", "8388608"], &args, None),
    );
    // Used space moves by the file's size, counted in whole 4 KiB blocks as tmpfs counts pages;
    // the image layers count as used, so the size is the quota plus them.
    assert_eq!(
        out,
        "4096 8388608 True 1048576 255 True\nTrue True\nTrue\nmissing: ENOENT\n"
    );
}

#[test]
fn terminal_size_is_an_error_when_stdout_is_no_terminal() {
    // The test's stdout is a pipe, so Linux says ENOTTY too; shutil falls back as usual.
    let out = ok("import os, shutil, errno\n\
         try:\n    os.get_terminal_size()\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n\
         print(tuple(shutil.get_terminal_size((33, 11))))");
    assert_eq!(out, "ENOTTY\n(33, 11)\n");
}

#[test]
fn fcntl_dups_and_locks_without_waiting() {
    let out = ok("import fcntl, os, errno\n\
         fd = os.open('/tmp/lock', os.O_RDWR | os.O_CREAT)\n\
         print(fcntl.fcntl(fd, fcntl.F_DUPFD, 10))\n\
         fcntl.flock(fd, fcntl.LOCK_EX)\n\
         other = os.open('/tmp/lock', os.O_RDWR)\n\
         for op in (fcntl.LOCK_EX | fcntl.LOCK_NB, fcntl.LOCK_SH):\n    \
             try:\n        fcntl.flock(other, op)\n    \
             except BlockingIOError as e:\n        print('conflict:', errno.errorcode[e.errno])\n\
         fcntl.flock(fd, fcntl.LOCK_UN)\n\
         fcntl.flock(other, fcntl.LOCK_SH); print('shared after unlock')\n\
         with open('/tmp/lock', 'r+') as f:\n    fcntl.lockf(f, fcntl.LOCK_EX, 10, 0); fcntl.lockf(f, fcntl.LOCK_UN)\n\
         print('lockf ok', fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)\n\
         for call in (lambda: fcntl.ioctl(1, 0x5413, bytes(8)), lambda: fcntl.fcntl(99, fcntl.F_GETFD)):\n    \
             try:\n        call()\n    \
             except OSError as e:\n        print(errno.errorcode[e.errno])");
    // A conflicting blocking request fails at once rather than wait for itself forever.
    assert_eq!(
        out,
        "10\nconflict: EAGAIN\nconflict: EAGAIN\nshared after unlock\nlockf ok 0\nENOTTY\nEBADF\n"
    );
}

#[test]
fn tarfile_extracts_as_root_whoever_owned_the_members() {
    // As root, tarfile chowns what it extracts; an owner the box does not have is EINVAL, which
    // tarfile's default error level reports and passes over, as in a rootless container.
    let out = ok("import io, os, tarfile\n\
         buf = io.BytesIO()\n\
         with tarfile.open(fileobj=buf, mode='w:gz') as t:\n    \
             info = tarfile.TarInfo('pkg/data.txt'); info.size = 5; info.uid = 1000; info.uname = 'someone'\n    \
             t.addfile(info, io.BytesIO(b'hello'))\n\
         buf.seek(0)\n\
         with tarfile.open(fileobj=buf) as t:\n    t.extractall('/tmp/out', filter='data')\n\
         print(open('/tmp/out/pkg/data.txt').read(), os.stat('/tmp/out/pkg/data.txt').st_uid)");
    assert_eq!(out, "hello 0\n");
}

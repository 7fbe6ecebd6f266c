# The run-time half of a pre-initialized Python box (module `_vfs_box`).
#
# `vfs-box python --preinit` snapshots the box after Py_Initialize and the requested imports, so
# a run starts with the interpreter already up. What CPython's own `main` would do after
# initialization happens here instead: take this run's arguments and environment, re-seed what
# must not repeat between runs, then run `-c CODE`, `-m MODULE`, a script, or the program on stdin.
# Options that CPython reads at initialization (-X, -u, -I, -S, ...) cannot change any more, so
# they are refused with a message rather than silently ignored.

# `vfs_box_resume` (preinit.rs) runs every `-c` command line itself, through CPython's C API as
# CPython's own `main` does (the one implementation of `-c`: it is the common case, and the
# cheaper path); this module serves every other command line. The guest refreshes `os.environ`
# itself (`set_environ` in preinit.rs) before either runs.
#
# Everything a run needs is imported here, before the snapshot: an import at run time goes
# through the whole import system (and creates the module), which costs more than the run itself.
import atexit
import os
import runpy
import sys

USAGE = "this pre-initialized box takes: -c CODE | -m MODULE | SCRIPT | - , then arguments"


def _exit_status(exc):
    """The status CPython exits with for `SystemExit(code)`."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def _run_source(source, filename, main):
    code = compile(source, filename, "exec")
    exec(code, main.__dict__)


def _run_script(path, main):
    if os.path.isdir(path) or (os.path.isfile(path) and _is_zip(path)):
        runpy.run_path(path, run_name="__main__")
        return
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as e:
        print(
            f"{sys.executable or 'python'}: can't open file {path!r}: "
            f"[Errno {e.errno}] {e.strerror}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    main.__file__ = path
    main.__cached__ = None
    _run_source(source, path, main)


def _is_zip(path):
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _dispatch(args, main):
    """Runs what `args` (argv without argv[0]) asks for, like CPython's `pymain_run_python`;
    never `-c`, which the guest's entry point runs."""
    opt = args[0] if args else None
    if opt is not None and opt.startswith("-m"):
        # `-mMODULE` or `-m MODULE`, as CPython's getopt accepts both.
        if len(opt) > 2:
            module, rest = opt[2:], args[1:]
        elif len(args) > 1:
            module, rest = args[1], args[2:]
        else:
            print("Argument expected for the -m option", file=sys.stderr)
            return 2
        sys.argv[:] = ["-m", *rest]
        sys.path.insert(0, os.getcwd())
        runpy._run_module_as_main(module, alter_argv=True)
    elif opt is None or opt == "-":
        sys.argv[:] = ["-", *args[1:]] if args else [""]
        sys.path.insert(0, "")
        _run_source(sys.stdin.read(), "<stdin>", main)
    elif opt.startswith("-"):
        print(
            f"vfs-box: option {opt} is fixed when the box is pre-initialized; {USAGE}",
            file=sys.stderr,
        )
        return 2
    else:
        sys.argv[:] = args
        sys.path.insert(0, os.path.dirname(os.path.realpath(opt)))
        _run_script(opt, main)
    return 0


def resume(argv):
    """Runs this instance's command; `argv` is the run's, as bytes, `os.environ` already its
    environment, and `random` seeded afresh (`reseed_random` in preinit.rs). Returns the exit
    status."""
    args = [os.fsdecode(a) for a in argv]
    sys.orig_argv[:] = args
    main = sys.modules["__main__"]
    try:
        status = _dispatch(args[1:], main)
    except SystemExit as e:
        status = _exit_status(e)
    except BaseException as e:
        # Hide this module's own frames: the traceback starts where the user's code does.
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        status = 1
    # What CPython's finalization would still do before the process ends.
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            status = status or 120
    return status

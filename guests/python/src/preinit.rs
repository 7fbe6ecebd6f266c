//! Pre-initialization: the two exports `vfs-box python --preinit` uses with Wizer.
//!
//! - [`vfs_box_preinit`] runs once, at build time, inside Wizer: it starts CPython exactly as
//!   `python` with no arguments would, runs the requested imports, and returns; Wizer then saves
//!   linear memory and globals as the new module's initial state.
//! - [`vfs_box_resume`] becomes the snapshot's `_start` (Wizer renames it): each run begins here,
//!   with the interpreter already initialized, refreshes what belongs to the run (arguments,
//!   environment, host directories, random seeds, the process clock) and runs the command.
//!
//! One language per concern: the Python this guest runs lives in `.py` files (`resume.py`, the
//! module `_vfs_box`), handed to CPython through its C API as source (`Py_CompileStringExFlags`,
//! `PyEval_EvalCode`); what is plumbing (making the module, `gc`, flushing streams, running
//! `-c CODE`) is C API calls from here, with no Python built in Rust strings.
//!
//! Neither goes through wasi-libc's `_start` (crt1), so the C start-up it performs is done here
//! where it is needed: `__wasi_init_tp` and `__wasm_call_ctors` once, before any C code runs in
//! the pre-initialization. A run must not call them again: the constructors already ran and
//! their effects are part of the snapshot.

use std::ffi::{c_char, c_int, CStr, CString};
use std::os::wasi::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::capi::*;
use crate::emulation;

/// Set at the end of a successful pre-initialization; part of the snapshot.
static PREINITIALIZED: AtomicBool = AtomicBool::new(false);

/// `_vfs_box.resume`, looked up once before the snapshot (a strong reference, never released):
/// a run calls it directly instead of going through the import system.
static RESUME: AtomicUsize = AtomicUsize::new(0);

/// `random.seed` (0 if the snapshot has no `random`: one imported by a run seeds itself) and
/// `atexit._run_exitfuncs`, looked up once before the snapshot (strong references, never
/// released): a run calls them without looking anything up.
static RANDOM_SEED: AtomicUsize = AtomicUsize::new(0);
static RUN_EXITFUNCS: AtomicUsize = AtomicUsize::new(0);

/// What a run reaches in `sys` and `__main__`, found once right after CPython starts (strong
/// references, never released; see [`keep_run_objects`]).
struct RunObjects {
    /// `sys.__dict__`, where `PySys_GetObject` and `PySys_SetObject` look.
    sys_dict: usize,
    /// `__main__.__dict__`, where `-c` code runs.
    main_dict: usize,
    /// The interned names `argv`, `orig_argv`, `path`, `stdout`, `stderr`, `flush`.
    argv: usize,
    orig_argv: usize,
    path: usize,
    stdout: usize,
    stderr: usize,
    flush: usize,
}

/// See [`RunObjects`]: looking each up by a C string made a new string object and searched the
/// interned strings every time, a dozen pages of the snapshot read or written for nothing.
static RUN_OBJECTS: std::sync::OnceLock<RunObjects> = std::sync::OnceLock::new();

/// The two Python copies of the environment, `posix.environ` and the store behind
/// `os.environ` (`os.environ._data`; in CPython the same dict), found once before the
/// snapshot (strong references, never released; the second is 0 when it is the first).
static ENVIRON_STORES: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// The box's own `-c CODE` (its `CMD` with no run arguments, the command every request of a
/// server runs), made ready before the snapshot ([`prepare_box_command`]).
static COMPILED_CMD: Mutex<Option<PreparedCommand>> = Mutex::new(None);

/// What the snapshot holds ready for the box's own `-c` command.
struct PreparedCommand {
    /// The whole command line `sys.argv` and `sys.orig_argv` were filled from, each argument
    /// followed by a NUL (which no argument holds), in one allocation: a run compares its own
    /// with it, and a run with the same one leaves both lists as they are (refilling them frees
    /// and makes strings, writing to a dozen pages of the snapshot). Each separate allocation
    /// read is a page of the snapshot's heap, a page fault in a fresh instance.
    line: Vec<u8>,
    /// Where the code's source lies in `line`.
    source: std::ops::Range<usize>,
    /// A function of the code compiled, in `__main__`'s namespace (a strong reference, never
    /// released): a run whose code is the same executes it without parsing or compiling
    /// anything, and without making a function of it as `PyEval_EvalCode` would (and freeing
    /// it again: writes to the pages of everything it holds, the namespace, the builtins, the
    /// names, the code).
    function: usize,
}

/// `argv` as [`PreparedCommand::line`] holds it.
fn command_line_bytes(argv: &[Vec<u8>]) -> Vec<u8> {
    let mut line = Vec::with_capacity(argv.iter().map(|a| a.len() + 1).sum());
    for arg in argv {
        line.extend_from_slice(arg);
        line.push(0);
    }
    line
}

/// Whether the snapshot's `sys.path` starts with the `''` that `python -c` puts first (see
/// [`prepare_box_command`]): a `-c` run then inserts nothing, and any other command takes it
/// off before putting its own first entry there.
static PATH_HAS_COMMAND_ENTRY: AtomicBool = AtomicBool::new(false);

/// The environment the snapshot's `os.environ` holds (the pre-initialization's own, restored
/// after the user's code): a run with the same environment has nothing to rewrite.
static SNAPSHOT_ENV: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// The host's environment block (`environ_get`'s bytes) the snapshot's C environment was made
/// from: a run given the same block starts with the right environment and working directory
/// already, and rewrites neither (rebuilding them writes to the snapshot's pages: `os.environ`'s
/// dicts above all).
static SNAPSHOT_HOST_ENV: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// The module `_vfs_box`: the run-time half, compiled during pre-initialization. NUL-terminated
/// for the C API; checked when this crate compiles, so `resume.py` can never hold a NUL.
const RESUME_PY: &CStr =
    match CStr::from_bytes_with_nul(concat!(include_str!("resume.py"), "\0").as_bytes()) {
        Ok(source) => source,
        Err(_) => panic!("resume.py contains a NUL byte"),
    };

/// The file name of `_vfs_box`'s code and its `__file__`: `resume` hides frames with this name
/// from tracebacks, so no run's traceback shows the box's own code.
const RESUME_FILENAME: &CStr = c"<vfs-box>";

extern "C" {
    fn __wasi_init_tp();
    fn __wasm_call_ctors();
    /// wasi-libc: forget the environment read so far, and read the host's again.
    /// wasi-libc's `environ` (musl's `__environ`): the NULL-terminated array of `NAME=VALUE`
    /// strings `getenv` reads, or `(char **)-1` before it was first read from the host.
    static mut __wasilibc_environ: *mut *mut c_char;
    /// wasi-libc's names for the WASI calls `environ_sizes_get` and `environ_get`.
    fn __wasi_environ_sizes_get(count: *mut usize, size: *mut usize) -> u16;
    fn __wasi_environ_get(environ: *mut *mut u8, environ_buf: *mut u8) -> u16;

    fn fflush(stream: *mut libc::FILE) -> c_int;
}

/// Sets `dict[key]` to the string `value`; false (with the Python error set) if that failed.
fn set_str_item(dict: *mut PyObject, key: &CStr, value: &CStr) -> bool {
    // SAFETY: the interpreter is initialized and `dict` is a live dict; the new string is
    // released once (the dict keeps its own reference).
    unsafe {
        let v = PyUnicode_FromString(value.as_ptr());
        if v.is_null() {
            return false;
        }
        let ok = PyDict_SetItemString(dict, key.as_ptr(), v) == 0;
        Py_DecRef(v);
        ok
    }
}

/// Makes the module `_vfs_box` the way the import system makes one (a new module registered in
/// `sys.modules`, with `__file__` set) and runs `resume.py` in its namespace. Returns the module
/// (a borrowed reference: `sys.modules` holds it), or NULL with the Python error set.
fn define_vfs_box() -> *mut PyObject {
    // SAFETY: the interpreter is initialized; `PyImport_AddModule` and `PyModule_GetDict` return
    // borrowed references (or NULL), which are not released.
    unsafe {
        let module = PyImport_AddModule(c"_vfs_box".as_ptr());
        if module.is_null() {
            return module;
        }
        let dict = PyModule_GetDict(module);
        if dict.is_null()
            || !set_str_item(dict, c"__file__", RESUME_FILENAME)
            || !exec_source(RESUME_PY, RESUME_FILENAME, dict)
        {
            return std::ptr::null_mut();
        }
        module
    }
}

/// Runs the user's pre-initialization `code` in a namespace of its own (named
/// `__vfs_box_preinit__`), so nothing it binds appears among the globals of `-c` code at run
/// time (a fresh `python -c` has none); its imports stay in `sys.modules`, which is the point.
/// False if it raised, with the exception pending.
fn run_preinit_code(code: &[u8]) -> bool {
    let Ok(code) = CString::new(code) else {
        // WASI arguments arrive NUL-terminated, so this cannot happen; say so if it does.
        eprintln!("vfs-box: the pre-initialization code contains a NUL byte");
        return false;
    };
    // As `python -c CODE` would run it in the box's working directory: `''` first on
    // `sys.path` while the code runs, so `import app` finds `/app/app.py` under `WORKDIR /app`.
    // It is taken off again afterwards: the snapshot's `sys.path` stays the interpreter's own,
    // and each run puts its own first entry there (`''` for `-c`, the script's folder).
    // SAFETY: the interpreter is initialized; `sys.path` is borrowed, every new reference is
    // released once.
    unsafe {
        let path = PySys_GetObject(c"path".as_ptr());
        let empty = PyUnicode_FromString(c"".as_ptr());
        if path.is_null() || empty.is_null() || PyList_Insert(path, 0, empty) != 0 {
            return false;
        }
        Py_DecRef(empty);
        let globals = PyDict_New();
        let ok = !globals.is_null()
            && set_str_item(globals, c"__name__", c"__vfs_box_preinit__")
            && exec_source(&code, c"<preinit>", globals);
        if !globals.is_null() {
            Py_DecRef(globals);
        }
        // The code may have changed `sys.path` itself: remove the entry only if it is still
        // the first one.
        let path = PySys_GetObject(c"path".as_ptr());
        if !path.is_null() && PyList_GetItem(path, 0) == empty {
            PyList_SetSlice(path, 0, 1, std::ptr::null_mut());
        }
        ok
    }
}

/// The name CPython gives the code of `python -c` (`PyRun_SimpleStringFlags`'s file name).
const COMMAND_FILENAME: &CStr = c"<string>";

/// The compiler flags of `python -c`, as CPython's own `main` passes them.
fn command_flags() -> PyCompilerFlags {
    PyCompilerFlags {
        cf_flags: PYCF_IGNORE_COOKIE,
        cf_feature_version: 11,
    }
}

/// Compiles the box's own `-c CODE`, if its command with no run arguments is one, and keeps
/// a function of it and the command line for the runs ([`COMPILED_CMD`]). Code that does not
/// compile is left to the run, which reports the error as `python -c` would.
fn compile_box_command(config: &vfs_image::boxconfig::BoxConfig) {
    let Ok(argv) = crate::launch::command_for(config, &[]) else {
        return;
    };
    let Command::Code(code, _) = Command::parse(&argv) else {
        return;
    };
    let Ok(source) = CString::new(code) else {
        return;
    };
    let mut flags = command_flags();
    // SAFETY: the interpreter is initialized; the function (a new reference) is kept for
    // good, the code released once, and a failed compilation's error is cleared.
    unsafe {
        let compiled = Py_CompileStringExFlags(
            source.as_ptr(),
            COMMAND_FILENAME.as_ptr(),
            PY_FILE_INPUT,
            &mut flags,
            -1,
        );
        if compiled.is_null() {
            PyErr_Clear();
            return;
        }
        let function = match RUN_OBJECTS.get() {
            Some(k) => PyFunction_New(compiled, k.main_dict as *mut PyObject),
            None => std::ptr::null_mut(),
        };
        // The function holds the code.
        Py_DecRef(compiled);
        if function.is_null() {
            PyErr_Clear();
            return;
        }
        let line = command_line_bytes(&argv);
        // The code is one of the arguments, or the end of `-cCODE`: the last match of its bytes
        // followed by the NUL that ends an argument.
        let mut needle = code.to_vec();
        needle.push(0);
        let Some(start) = line
            .windows(needle.len())
            .rposition(|w| w == needle.as_slice())
        else {
            return;
        };
        *COMPILED_CMD.lock().unwrap_or_else(|e| e.into_inner()) = Some(PreparedCommand {
            line,
            source: start..start + code.len(),
            function: function as usize,
        });
    }
}

/// The last step before the snapshot for the box's own `-c` command, if it was compiled
/// ([`compile_box_command`]): `sys.argv`, `sys.orig_argv` and the first entry of `sys.path`
/// set as `python -c` sets them for that command line ([`PATH_HAS_COMMAND_ENTRY`]), so that a
/// run of it (every request a server answers, and any run given the same arguments) only
/// executes the code. Otherwise both lists are left empty and `sys.path` as the interpreter
/// made it, for each run to fill. False with the Python error pending if that failed.
fn prepare_box_command() -> bool {
    let Some(k) = RUN_OBJECTS.get() else {
        return false;
    };
    let prepared = COMPILED_CMD.lock().unwrap_or_else(|e| e.into_inner());
    let Some(command) = prepared.as_ref() else {
        return set_sys_list(k, k.argv, std::ptr::null_mut())
            && set_sys_list(k, k.orig_argv, std::ptr::null_mut());
    };
    let argv: Vec<Vec<u8>> = command
        .line
        .split(|&b| b == 0)
        .take(command.line.iter().filter(|&&b| b == 0).count())
        .map(<[u8]>::to_vec)
        .collect();
    if !set_command_lists(k, &argv) || !insert_command_path_entry(k) {
        return false;
    }
    PATH_HAS_COMMAND_ENTRY.store(true, Ordering::SeqCst);
    true
}

/// `sys.argv` as `python -c` makes it for the command line `argv` (`['-c', ARG...]`), and
/// `sys.orig_argv` as that whole line; false with the Python error pending if that failed.
fn set_command_lists(k: &RunObjects, argv: &[Vec<u8>]) -> bool {
    let args = match Command::parse(argv) {
        Command::Code(_, args) => args,
        _ => &[],
    };
    let mut sys_argv = vec![b"-c".to_vec()];
    sys_argv.extend(args.iter().cloned());
    for (name, items) in [(k.argv, &sys_argv[..]), (k.orig_argv, argv)] {
        let list = py_list(items, PyUnicode_DecodeFSDefaultAndSize);
        let ok = !list.is_null() && set_sys_list(k, name, list);
        if !list.is_null() {
            // SAFETY: `list` is a new reference, released once.
            unsafe { Py_DecRef(list) };
        }
        if !ok {
            return false;
        }
    }
    true
}

/// Puts `''` first on `sys.path`, as `python -c` does; false with the Python error pending if
/// that failed.
fn insert_command_path_entry(k: &RunObjects) -> bool {
    // SAFETY: the interpreter is initialized and the kept objects are live; `path` is
    // borrowed, `empty` a new reference released once.
    unsafe {
        let path = PyDict_GetItem(k.sys_dict as *mut PyObject, k.path as *mut PyObject);
        let empty = PyUnicode_FromString(c"".as_ptr());
        let ok = !path.is_null() && !empty.is_null() && PyList_Insert(path, 0, empty) == 0;
        if !empty.is_null() {
            Py_DecRef(empty);
        }
        ok
    }
}

/// Takes off the `''` the snapshot put first on `sys.path` for the box's `-c` command, before
/// a run of another kind puts its own entry there; false with the Python error pending if that
/// failed.
fn remove_command_path_entry(k: &RunObjects) -> bool {
    if !PATH_HAS_COMMAND_ENTRY.load(Ordering::SeqCst) {
        return true;
    }
    // SAFETY: the interpreter is initialized and the kept objects are live; `path` is borrowed.
    unsafe {
        let path = PyDict_GetItem(k.sys_dict as *mut PyObject, k.path as *mut PyObject);
        !path.is_null() && PyList_SetSlice(path, 0, 1, std::ptr::null_mut()) == 0
    }
}

/// Moves everything alive out of the collector's reach (`gc.collect()`, then `gc.freeze()`,
/// made for copy-on-write sharing after fork): a collection during a run would otherwise visit,
/// and so write to, every object of the snapshot, copying most of its pages into the instance.
/// False if it failed, with the exception pending.
fn settle() -> bool {
    // SAFETY: the interpreter is initialized; every new reference is released once.
    unsafe {
        PyGC_Collect();
        let gc = PyImport_ImportModule(c"gc".as_ptr());
        if gc.is_null() {
            return false;
        }
        let result = PyObject_CallMethod(gc, c"freeze".as_ptr(), std::ptr::null());
        Py_DecRef(gc);
        if result.is_null() {
            return false;
        }
        Py_DecRef(result);
    }
    true
}

/// Flushes `sys.stdout` and `sys.stderr` (whatever they are now); errors are printed.
fn flush_python_streams() {
    let Some(k) = RUN_OBJECTS.get() else {
        return;
    };
    for (stream, kept) in sys_streams(k) {
        let flush = kept[1].load(Ordering::SeqCst) as *mut PyObject;
        // SAFETY: the kept name and flush are live, `stream` a live borrowed reference; the
        // argument array holds one live object.
        let result = unsafe {
            if stream as usize == kept[0].load(Ordering::SeqCst) && !flush.is_null() {
                PyObject_CallNoArgs(flush)
            } else {
                PyObject_VectorcallMethod(
                    k.flush as *mut PyObject,
                    &stream,
                    1,
                    std::ptr::null_mut(),
                )
            }
        };
        release_or_print(result);
    }
}

/// `sys.stdout` and `sys.stderr` as they are now (those that are set, borrowed references),
/// each with its [`STREAM_FLUSHES`] entry.
fn sys_streams(
    k: &RunObjects,
) -> impl Iterator<Item = (*mut PyObject, &'static [AtomicUsize; 2])> + '_ {
    [k.stdout, k.stderr]
        .into_iter()
        .zip(&STREAM_FLUSHES)
        .filter_map(|(name, kept)| {
            // SAFETY: the kept dict and names are live; a borrowed reference or NULL.
            let stream =
                unsafe { PyDict_GetItem(k.sys_dict as *mut PyObject, name as *mut PyObject) };
            (!stream.is_null()).then_some((stream, kept))
        })
}

/// `sys.stdout` and `sys.stderr` as the snapshot has them, each with its bound `flush` (strong
/// references, never released; [`keep_stream_flushes`]): a run that still has the same stream
/// calls its `flush` without looking the method up on the stream's type, which reads and
/// writes pages of the snapshot (the type's method cache entry, the method's reference count).
static STREAM_FLUSHES: [[AtomicUsize; 2]; 2] = [
    [AtomicUsize::new(0), AtomicUsize::new(0)],
    [AtomicUsize::new(0), AtomicUsize::new(0)],
];

/// Fills [`STREAM_FLUSHES`]; a stream without a `flush` attribute is left to the lookup at
/// run time (which reports it then, as CPython's finalization would).
fn keep_stream_flushes() {
    let Some(k) = RUN_OBJECTS.get() else {
        return;
    };
    for (stream, kept) in sys_streams(k) {
        // SAFETY: the kept name is live; the stream is borrowed and kept with a reference of
        // its own, as is its bound `flush` (a new reference); a failed lookup's error is
        // cleared.
        unsafe {
            let flush = PyObject_GetAttr(stream, k.flush as *mut PyObject);
            if flush.is_null() {
                PyErr_Clear();
                continue;
            }
            Py_IncRef(stream);
            kept[0].store(stream as usize, Ordering::SeqCst);
            kept[1].store(flush as usize, Ordering::SeqCst);
        }
    }
}

/// Makes the list `sys.NAME` (`name` is one of `k`'s interned names) hold the items of the
/// list `items`, or none if it is NULL — in place, so that code which kept the list before the
/// snapshot sees the run's, as it would in one process; a `sys.NAME` that is not a list is
/// replaced by a new one. False with the Python error set if that failed.
fn set_sys_list(k: &RunObjects, name: usize, items: *mut PyObject) -> bool {
    let (dict, name) = (k.sys_dict as *mut PyObject, name as *mut PyObject);
    // SAFETY: the interpreter is initialized and the kept objects are live; `items` is NULL or
    // a live list; the current value is borrowed, the new list released once.
    unsafe {
        let current = PyDict_GetItem(dict, name);
        if !current.is_null() && PyList_SetSlice(current, 0, isize::MAX, items) == 0 {
            return true;
        }
        PyErr_Clear();
        let list = PyList_New(0);
        if list.is_null() {
            return false;
        }
        let ok = PyList_SetSlice(list, 0, 0, items) == 0 && PyDict_SetItem(dict, name, list) == 0;
        Py_DecRef(list);
        ok
    }
}

/// Finds what [`RunObjects`] holds; false with the error printed if anything is missing.
fn keep_run_objects() -> bool {
    // SAFETY: the interpreter is initialized; the modules are borrowed from `sys.modules`
    // (which keeps `sys` and `__main__` for the life of the process), their dicts and the
    // interned names are kept with a reference of their own.
    unsafe {
        let dict_of = |name: &CStr| -> usize {
            let module = PyImport_AddModule(name.as_ptr());
            if module.is_null() {
                return 0;
            }
            let dict = PyModule_GetDict(module);
            if dict.is_null() {
                0
            } else {
                Py_NewRef(dict) as usize
            }
        };
        let name = |s: &CStr| PyUnicode_InternFromString(s.as_ptr()) as usize;
        let k = RunObjects {
            sys_dict: dict_of(c"sys"),
            main_dict: dict_of(c"__main__"),
            argv: name(c"argv"),
            orig_argv: name(c"orig_argv"),
            path: name(c"path"),
            stdout: name(c"stdout"),
            stderr: name(c"stderr"),
            flush: name(c"flush"),
        };
        let all = [
            k.sys_dict,
            k.main_dict,
            k.argv,
            k.orig_argv,
            k.path,
            k.stdout,
            k.stderr,
            k.flush,
        ];
        if all.contains(&0) {
            PyErr_Print();
            return false;
        }
        RUN_OBJECTS.set(k).is_ok()
    }
}

/// Flushes Python's and C's standard streams, so nothing written during pre-initialization
/// stays in a buffer of the snapshot (it would come out in every run).
fn flush_all() {
    flush_python_streams();
    // SAFETY: `fflush(NULL)` flushes every C stream.
    unsafe { fflush(std::ptr::null_mut()) };
}

/// Ends a failed pre-initialization: the pending Python error (if any) is printed, every stream
/// flushed, and the process exits with status 1, which fails the build.
fn fail_preinit() -> ! {
    // SAFETY: the interpreter is initialized; with no error set, `PyErr_Print` does nothing.
    unsafe { PyErr_Print() };
    flush_all();
    std::process::exit(1);
}

/// Wizer's initialization function: CPython up, the code given as the snapshot's `argv[1]` run,
/// state saved. (Not an environment variable: the snapshot's environment is then empty, like a
/// typical run's, and a run whose environment is the same has nothing to rewrite.)
/// Exits with status 1 (which fails the build) if initialization or the code fails.
#[export_name = "vfs_box_preinit"]
pub extern "C" fn vfs_box_preinit() {
    // SAFETY: wasi-libc's start-up, done once here because crt1's `_start` never runs.
    unsafe {
        __wasi_init_tp();
        __wasm_call_ctors();
    }
    emulation::clock::start();
    crate::set_home();
    crate::register_modules();
    // The box's environment defaults and working directory, as every run will have them, so a
    // run whose host environment is the snapshot's has nothing to rewrite.
    let box_config = match crate::launch::prepare() {
        Ok(config) => config,
        Err(crate::launch::Refused(message, _)) => {
            eprintln!("vfs-box: {message}");
            std::process::exit(1);
        }
    };
    // Where a run starts (`WORKDIR`, or where the host started this process): the user's
    // code may change directory, and the snapshot must not keep that.
    let start_dir = std::env::current_dir();
    let mut config = ConfigStorage([0; 4096]);
    // `sys.executable` is computed from it at initialization.
    let argv0 = CString::new(crate::launch::PYTHON).expect("no NUL");
    let argv = [argv0.as_ptr() as *mut c_char, std::ptr::null_mut()];
    // SAFETY: `config` is large enough and aligned for PyConfig; argv holds one valid string.
    unsafe {
        PyConfig_InitPythonConfig(&mut config);
        let status = PyConfig_SetBytesArgv(&mut config, 1, argv.as_ptr());
        if PyStatus_Exception(status) != 0 {
            Py_ExitStatusException(status);
        }
        let status = Py_InitializeFromConfig(&config);
        PyConfig_Clear(&mut config);
        if PyStatus_Exception(status) != 0 {
            Py_ExitStatusException(status);
        }
    }
    if !keep_run_objects() {
        fail_preinit();
    }
    let code = std::env::args_os()
        .nth(1)
        .map(|c| c.as_bytes().to_vec())
        .unwrap_or_default();
    // Three steps; nothing they bind is left in `__main__`:
    // 1. the run-time half (module `_vfs_box`), compiled now so no run pays for it;
    // 2. the user's code;
    // 3. the box's own `-c` command compiled (see `COMPILED_CMD`);
    // 4. everything alive is frozen out of the collector's reach.
    let module = define_vfs_box();
    if module.is_null() || !run_preinit_code(&code) {
        fail_preinit();
    }
    compile_box_command(&box_config);
    if !settle() {
        fail_preinit();
    }
    // SAFETY: `module` is `_vfs_box`, alive in `sys.modules`; NULL is checked below.
    let resume = unsafe { PyObject_GetAttrString(module, c"resume".as_ptr()) };
    // Whatever the user's code did to the environment (`os.environ`, `os.putenv`) or the
    // working directory is undone (a run sees its own); the snapshot then holds exactly what a
    // run given this host environment would make, which a run compares with its own.
    let Some(host_env) = host_environ() else {
        eprintln!("vfs-box: the host refused to give the environment (environ_get)");
        std::process::exit(1);
    };
    if let Err(crate::launch::Refused(message, _)) = reset_environ(&host_env) {
        eprintln!("vfs-box: {message}");
        std::process::exit(1);
    }
    if let Err(e) = start_dir.and_then(std::env::set_current_dir) {
        eprintln!("vfs-box: cannot return to the starting directory: {e}");
        std::process::exit(1);
    }
    let env = environment();
    if !prepare_box_command() {
        fail_preinit();
    }
    if resume.is_null() || !find_environ_stores() || !keep_run_callables() || !set_environ(&env) {
        fail_preinit();
    }
    flush_all();
    crate::launch::keep_config();
    // Decoded chunks of compressed files and the decoder's tables are not worth snapshotting.
    #[cfg(feature = "vfs")]
    vfs_wasi_shim::drop_caches();
    *SNAPSHOT_ENV.lock().unwrap_or_else(|e| e.into_inner()) = env;
    *SNAPSHOT_HOST_ENV.lock().unwrap_or_else(|e| e.into_inner()) = Some(host_env);
    RESUME.store(resume as usize, Ordering::SeqCst);
    keep_stream_flushes();
    crate::nursery::install();
    PREINITIALIZED.store(true, Ordering::SeqCst);
}

/// Finds `posix.environ` and `os.environ._data` for [`set_environ`]; false with the error
/// printed if either is missing.
fn find_environ_stores() -> bool {
    // SAFETY: the interpreter is initialized; the two stores' references are kept for good,
    // every other new reference is released once.
    unsafe {
        let lookup = |module: &CStr, path: &[&CStr]| -> *mut PyObject {
            let mut o = PyImport_ImportModule(module.as_ptr());
            for name in path {
                if o.is_null() {
                    break;
                }
                let next = PyObject_GetAttrString(o, name.as_ptr());
                Py_DecRef(o);
                o = next;
            }
            o
        };
        let posix = lookup(c"posix", &[c"environ"]);
        let os = lookup(c"os", &[c"environ", c"_data"]);
        if posix.is_null() || os.is_null() {
            PyErr_Print();
            return false;
        }
        ENVIRON_STORES[0].store(posix as usize, Ordering::SeqCst);
        let second = if os == posix { 0 } else { os as usize };
        ENVIRON_STORES[1].store(second, Ordering::SeqCst);
        true
    }
}

/// Makes `os.environ` (and `posix.environ`) this run's environment, `env` as `NAME=VALUE`
/// byte strings: the first occurrence of a name wins and an entry without `=` is skipped, as
/// in CPython's `posix` module; a store already equal is left untouched (every page a run
/// writes is copied into its instance). Through the C API: the same loop in Python cost a
/// quarter of a served `-c pass` run. False with the error printed if memory ran out.
fn set_environ(env: &[Vec<u8>]) -> bool {
    // SAFETY: the interpreter is initialized and the stores are live objects (found before
    // the snapshot); every new reference is released once, borrowed ones are not.
    unsafe {
        let data = PyDict_New();
        let mut ok = !data.is_null();
        for item in env {
            let Some(eq) = item.iter().position(|&b| b == b'=') else {
                continue;
            };
            if !ok {
                break;
            }
            let (name, value) = (&item[..eq], &item[eq + 1..]);
            let k = PyBytes_FromStringAndSize(name.as_ptr().cast(), name.len() as isize);
            let v = PyBytes_FromStringAndSize(value.as_ptr().cast(), value.len() as isize);
            ok = !k.is_null() && !v.is_null() && !PyDict_SetDefault(data, k, v).is_null();
            for o in [k, v].into_iter().filter(|o| !o.is_null()) {
                Py_DecRef(o);
            }
        }
        for store in &ENVIRON_STORES {
            let store = store.load(Ordering::SeqCst) as *mut PyObject;
            if !ok || store.is_null() {
                continue;
            }
            ok = match PyObject_RichCompareBool(store, data, PY_EQ) {
                1 => true,
                // A dict (what CPython makes) through its own functions; anything a box's code
                // put there instead, through its methods.
                0 if PyDict_Size(store) >= 0 => {
                    PyDict_Clear(store);
                    PyDict_Update(store, data) == 0
                }
                0 => {
                    PyErr_Clear();
                    release_or_print(PyObject_CallMethod(
                        store,
                        c"clear".as_ptr(),
                        std::ptr::null(),
                    )) && release_or_print(PyObject_CallMethod(
                        store,
                        c"update".as_ptr(),
                        c"O".as_ptr(),
                        data,
                    ))
                }
                _ => false,
            };
        }
        if !data.is_null() {
            Py_DecRef(data);
        }
        if !ok && !PyErr_Occurred().is_null() {
            PyErr_Print();
        }
        ok
    }
}

/// This process's environment as `NAME=VALUE` byte strings.
fn environment() -> Vec<Vec<u8>> {
    std::env::vars_os()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect()
}

/// The host's environment block as `environ_get` writes it (`NAME=VALUE` entries, each ending
/// in a NUL, in the host's order), or None if the host refused.
fn host_environ() -> Option<Vec<u8>> {
    let (mut count, mut size) = (0usize, 0usize);
    // SAFETY: the two out-pointers are valid; the buffers have the sizes the host gave, and
    // `environ_get` writes `count` pointers and `size` bytes.
    unsafe {
        if __wasi_environ_sizes_get(&mut count, &mut size) != 0 {
            return None;
        }
        let mut pointers = vec![std::ptr::null_mut::<u8>(); count];
        let mut block = vec![0u8; size];
        if __wasi_environ_get(pointers.as_mut_ptr(), block.as_mut_ptr()) != 0 {
            return None;
        }
        Some(block)
    }
}

/// wasi-libc's environment made from the host's block `host` (as [`host_environ`] returns it)
/// and the box's defaults, then the box's working directory entered: what every run given
/// `host` starts from.
///
/// The strings and the array are made here, in one piece, and handed to wasi-libc as its
/// `environ`, instead of letting it free the snapshot's (`clearenv`), read the host's again and
/// `setenv` each default: those frees and `malloc`s touched 22 pages of the snapshot's heap
/// per served request. musl's `setenv`, `putenv` and `unsetenv` work on any `environ` array:
/// they only free strings they allocated themselves, and copy the array before growing it.
fn reset_environ(
    host: &[u8],
) -> Result<std::borrow::Cow<'static, vfs_image::boxconfig::BoxConfig>, crate::launch::Refused> {
    let config = crate::launch::config()?;
    let entries = move || host.split(|&b| b == 0).filter(|e| !e.is_empty());
    let has = move |name: &str| {
        entries().any(|e| {
            e.strip_prefix(name.as_bytes())
                .is_some_and(|rest| rest.first() == Some(&b'='))
        })
    };
    let mut block: Vec<u8> = host.to_vec();
    for (k, v) in crate::launch::added_environment(&config, has) {
        block.extend_from_slice(k.as_bytes());
        block.push(b'=');
        block.extend_from_slice(v.as_bytes());
        block.push(0);
    }
    // Both live as long as the process: they are its environment from now on.
    let block: &'static mut [u8] = Box::leak(block.into_boxed_slice());
    let mut starts = Vec::new();
    let mut start = 0;
    for (i, &b) in block.iter().enumerate() {
        if b == 0 {
            if i > start {
                starts.push(start);
            }
            start = i + 1;
        }
    }
    let base = block.as_mut_ptr();
    let mut pointers: Vec<*mut c_char> = starts
        .into_iter()
        .map(|s| base.wrapping_add(s).cast())
        .collect();
    pointers.push(std::ptr::null_mut());
    let pointers: &'static mut [*mut c_char] = Box::leak(pointers.into_boxed_slice());
    // SAFETY: a NULL-terminated array of NUL-terminated strings that are never freed; the
    // guest is single-threaded, so nothing reads `environ` while it changes.
    unsafe { __wasilibc_environ = pointers.as_mut_ptr() };
    crate::launch::enter_workdir(&config)?;
    Ok(config)
}

/// A CPython constructor from a `(char *, Py_ssize_t)` pair: `PyBytes_FromStringAndSize`, or
/// `PyUnicode_DecodeFSDefaultAndSize` (how CPython decodes `argv`: UTF-8, surrogateescape).
type FromBytes = unsafe extern "C" fn(*const c_char, isize) -> *mut PyObject;

/// `items` as a new Python list of objects made by `make`; NULL (with the Python error set) if
/// memory ran out.
fn py_list(items: &[Vec<u8>], make: FromBytes) -> *mut PyObject {
    // SAFETY: the interpreter is initialized; `PyList_SetItem` steals each new reference, and
    // a list whose filling failed is released whole.
    unsafe {
        let list = PyList_New(items.len() as isize);
        if list.is_null() {
            return list;
        }
        for (i, item) in items.iter().enumerate() {
            let o = make(item.as_ptr().cast(), item.len() as isize);
            if o.is_null() || PyList_SetItem(list, i as isize, o) != 0 {
                Py_DecRef(list);
                return std::ptr::null_mut();
            }
        }
        list
    }
}

/// Calls `func` with a list of `bytes` and returns its result (a new reference), or NULL with
/// the Python error set.
fn call_with_list(func: *mut PyObject, items: &[Vec<u8>]) -> *mut PyObject {
    let list = py_list(items, PyBytes_FromStringAndSize);
    if list.is_null() {
        return list;
    }
    // SAFETY: the interpreter is initialized and `func` is a live callable; the argument list
    // ends at the NULL; the list's reference is released once.
    unsafe {
        let result = PyObject_CallFunctionObjArgs(func, list, std::ptr::null_mut::<PyObject>());
        Py_DecRef(list);
        result
    }
}

/// Drops `result` (a new reference), or prints the pending exception if it is NULL; true if
/// the call it came from succeeded.
fn release_or_print(result: *mut PyObject) -> bool {
    // SAFETY: `result` is NULL or a new reference owned here.
    unsafe {
        if result.is_null() {
            PyErr_Print();
            return false;
        }
        Py_DecRef(result);
    }
    true
}

/// Every command line but a `-c` one: `_vfs_box.resume(argv, env)` in Python. Returns the exit
/// status. `os.environ` is made this run's first, unless `environ_ready` says it already is.
fn resume_in_python(argv: &[Vec<u8>], environ_ready: bool) -> i64 {
    if !environ_ready && !set_environ(&environment()) {
        return 1;
    }
    // `resume` puts this command's own first entry on `sys.path`.
    if !RUN_OBJECTS.get().is_some_and(remove_command_path_entry) {
        // SAFETY: prints the pending Python error (the interpreter is initialized).
        unsafe { PyErr_Print() };
        return 1;
    }
    reseed_random();
    let func = RESUME.load(Ordering::SeqCst) as *mut PyObject;
    let result = call_with_list(func, argv);
    if result.is_null() {
        // SAFETY: prints the pending Python error (the interpreter is initialized).
        unsafe { PyErr_Print() };
        return 1;
    }
    // SAFETY: `result` is a new reference, released once.
    unsafe {
        let status = PyLong_AsLong(result);
        Py_DecRef(result);
        i64::from(status)
    }
}

/// Keeps `random.seed` if the snapshot has `random`, and `atexit._run_exitfuncs` (`atexit` is
/// built in; importing it registers nothing); false with the error printed if that fails.
fn keep_run_callables() -> bool {
    // SAFETY: the interpreter is initialized; the kept references are never released, the
    // others once.
    unsafe {
        let key = PyUnicode_FromString(c"random".as_ptr());
        if key.is_null() {
            PyErr_Print();
            return false;
        }
        let random = PyImport_GetModule(key);
        Py_DecRef(key);
        if !random.is_null() {
            let seed = PyObject_GetAttrString(random, c"seed".as_ptr());
            Py_DecRef(random);
            if seed.is_null() {
                PyErr_Print();
                return false;
            }
            RANDOM_SEED.store(seed as usize, Ordering::SeqCst);
        }
        let atexit = PyImport_ImportModule(c"atexit".as_ptr());
        let run = if atexit.is_null() {
            atexit
        } else {
            let run = PyObject_GetAttrString(atexit, c"_run_exitfuncs".as_ptr());
            Py_DecRef(atexit);
            run
        };
        if run.is_null() {
            PyErr_Print();
            return false;
        }
        RUN_EXITFUNCS.store(run as usize, Ordering::SeqCst);
        true
    }
}

/// Calls what [`keep_run_callables`] kept in `kept` with no arguments, if anything; errors are
/// printed.
fn call_kept(kept: &AtomicUsize) {
    let func = kept.load(Ordering::SeqCst) as *mut PyObject;
    if !func.is_null() {
        // SAFETY: a live callable; the argument list is empty (ends at the NULL).
        release_or_print(unsafe {
            PyObject_CallFunctionObjArgs(func, std::ptr::null_mut::<PyObject>())
        });
    }
}

/// Bytes of the operating system's randomness a run's `random` is seeded from.
///
/// `random.seed()` with no argument reads 2,496 bytes, the Mersenne Twister's whole state;
/// `random.seed(n)` with a 256-bit `n` fills the same state from it (`init_by_array`), as
/// unpredictable to anyone without the host's randomness. In a server's Flask run, reading
/// the 2,496 bytes through `random_get` cost 8 µs (wasmtime-wasi makes them one at a time).
const SEED_BYTES: usize = 32;

/// Seeds the snapshot's `random` afresh (if it has one): seeds drawn at snapshot time would
/// repeat in every run. `random.seed(n)`, `n` from [`SEED_BYTES`] bytes of `os.urandom`.
fn reseed_random() {
    let seed = RANDOM_SEED.load(Ordering::SeqCst) as *mut PyObject;
    if seed.is_null() {
        return;
    }
    let mut bytes = [0u8; SEED_BYTES];
    // SAFETY: the interpreter is initialized; `bytes` has room for the size given; `n` is
    // NULL or a new reference, released once; `seed` is a live callable.
    unsafe {
        if _PyOS_URandomNonblock(bytes.as_mut_ptr().cast(), SEED_BYTES as isize) < 0 {
            PyErr_Print();
            return;
        }
        let n = _PyLong_FromByteArray(bytes.as_ptr(), SEED_BYTES, 1, 0);
        if n.is_null() {
            PyErr_Print();
            return;
        }
        release_or_print(PyObject_CallFunctionObjArgs(
            seed,
            n,
            std::ptr::null_mut::<PyObject>(),
        ));
        Py_DecRef(n);
    }
}

/// What a run's command line asks for, as far as the Rust side is concerned.
enum Command<'a> {
    /// `-c CODE ARG...` or `-cCODE ARG...` (CPython's getopt accepts both): the code and the
    /// arguments after it.
    Code(&'a [u8], &'a [Vec<u8>]),
    /// `-c` with nothing after it.
    MissingCode,
    /// Anything else, for `_vfs_box.resume`.
    Other,
}

impl<'a> Command<'a> {
    /// Reads `argv` (with `argv[0]`).
    fn parse(argv: &'a [Vec<u8>]) -> Self {
        match argv.get(1) {
            Some(opt) if opt == b"-c" => match argv.get(2) {
                Some(code) => Command::Code(code, &argv[3..]),
                None => Command::MissingCode,
            },
            Some(opt) if opt.starts_with(b"-c") => Command::Code(&opt[2..], &argv[2..]),
            _ => Command::Other,
        }
    }
}

/// `python -c CODE ARG...` the way CPython's own `main` runs it (`PyRun_SimpleStringFlags` in
/// `__main__`, with `sys.argv = ['-c', ARG...]` and `''` first on `sys.path`), through the C
/// API: the only implementation of `-c` in the box, because a Python-level one costs more than
/// many commands (every object a run touches is a page copied into its instance). `SystemExit`
/// ends the process inside, as in CPython. `argv` is the whole command line (`sys.orig_argv`;
/// `sys.argv` is made from it); a run of the box's own command finds both lists and `sys.path`
/// ready in the snapshot ([`prepare_box_command`]). Returns the exit status.
fn run_command(code: &[u8], argv: &[Vec<u8>]) -> i64 {
    let Ok(code) = CString::new(code) else {
        return 1;
    };
    let Some(k) = RUN_OBJECTS.get() else {
        return 1;
    };
    let (function, prepared) = match &*COMPILED_CMD.lock().unwrap_or_else(|e| e.into_inner()) {
        Some(c) => (
            if c.line.get(c.source.clone()) == Some(code.as_bytes()) {
                c.function
            } else {
                0
            },
            c.line == command_line_bytes(argv),
        ),
        None => (0, false),
    };
    // The snapshot's lists are the box command's own (`prepare_box_command`), and its
    // `sys.path` starts with `''` already when that command was made ready.
    let ready = (prepared || set_command_lists(k, argv))
        && (PATH_HAS_COMMAND_ENTRY.load(Ordering::SeqCst) || insert_command_path_entry(k));
    // SAFETY: the interpreter is initialized and the kept objects are live; new references are
    // released once.
    unsafe {
        if !ready {
            PyErr_Print();
            return 1;
        }
        if function == 0 {
            let mut flags = command_flags();
            return i64::from(PyRun_SimpleStringFlags(code.as_ptr(), &mut flags) != 0);
        }
        // What `PyRun_SimpleStringFlags` does after compiling: run the code in `__main__`'s
        // namespace (as `PyEval_EvalCode` does, with the function kept instead of one made
        // for the call), print an uncaught exception (`SystemExit` ends the process there).
        let globals = k.main_dict as *mut PyObject;
        let result = _PyEval_Vector(
            PyThreadState_Get(),
            function as *mut PyObject,
            globals,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
        );
        i64::from(!release_or_print(result))
    }
}

/// What CPython's finalization would still do before the process ends: `atexit` callbacks and
/// a flush of `sys.stdout` and `sys.stderr`.
fn finish() {
    call_kept(&RUN_EXITFUNCS);
    flush_python_streams();
}

/// The snapshot's `_start`: one run of a pre-initialized box.
#[export_name = "vfs_box_resume"]
pub extern "C" fn vfs_box_resume() {
    if !PREINITIALIZED.load(Ordering::SeqCst) {
        eprintln!("vfs-box: this entry point only works in a pre-initialized box");
        std::process::exit(70);
    }
    crate::nursery::start_run();
    emulation::clock::start();
    // The snapshot's environment and working directory stand if the host's environment is the
    // snapshot's; otherwise both are made again from this run's.
    let host_env = host_environ();
    let same_host_env = host_env.is_some()
        && *SNAPSHOT_HOST_ENV.lock().unwrap_or_else(|e| e.into_inner()) == host_env;
    #[cfg(feature = "vfs")]
    vfs_wasi_shim::resume();
    // The box's configuration applied to this run's arguments (Rust's `args_os` asks the host
    // each time, so they are the run's).
    let config = if same_host_env {
        crate::launch::config()
    } else {
        reset_environ(host_env.as_deref().unwrap_or_default())
    };
    let argv = match config.and_then(|c| crate::launch::command_line(&c)) {
        Ok(argv) => argv,
        Err(crate::launch::Refused(message, status)) => {
            eprintln!("vfs-box: {message}");
            std::process::exit(status);
        }
    };
    let status = match Command::parse(&argv) {
        Command::Code(code, _) => {
            // The common case, done in C: see `run_command`.
            // `os.environ` is the snapshot's, right as it is if the environment is the same.
            let environ_ready = same_host_env || {
                let env = environment();
                *SNAPSHOT_ENV.lock().unwrap_or_else(|e| e.into_inner()) == env || set_environ(&env)
            };
            if !environ_ready {
                1
            } else {
                reseed_random();
                let status = run_command(code, &argv);
                finish();
                status
            }
        }
        Command::MissingCode => {
            // CPython's words and status for it.
            eprintln!("Argument expected for the -c option");
            2
        }
        Command::Other => resume_in_python(&argv, same_host_env),
    };
    // SAFETY: flushes C's streams before the process ends (Python's were flushed by `resume`).
    unsafe { fflush(std::ptr::null_mut()) };
    // Success returns from `_start`, which WASI reads as status 0: `proc_exit` would unwind
    // through the runtime as an error (with a backtrace), which costs more than the whole run.
    if status != 0 {
        std::process::exit(status.clamp(0, 255) as i32);
    }
}

//! Pre-initialization: the two exports `vfs-box python --preinit` uses with Wizer.
//!
//! - [`vfs_box_preinit`] runs once, at build time, inside Wizer: it starts CPython exactly as
//!   `python` with no arguments would, runs the requested imports, and returns; Wizer then saves
//!   linear memory and globals as the new module's initial state.
//! - [`vfs_box_resume`] becomes the snapshot's `_start` (Wizer renames it): each run begins here,
//!   with the interpreter already initialized, refreshes what belongs to the run (arguments,
//!   environment, host directories, random seeds, the process clock) and runs the command.
//!
//! Neither goes through wasi-libc's `_start` (crt1), so the C start-up it performs is done here
//! where it is needed: `__wasi_init_tp` and `__wasm_call_ctors` once, before any C code runs in
//! the pre-initialization. A run must not call them again: the constructors already ran and
//! their effects are part of the snapshot.

use std::ffi::{c_char, c_int, CString};
use std::os::wasi::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::emulation;

/// Set at the end of a successful pre-initialization; part of the snapshot.
static PREINITIALIZED: AtomicBool = AtomicBool::new(false);

/// `_vfs_box.resume` and `_vfs_box.set_environ`, looked up once before the snapshot (strong
/// references, never released): a run calls them directly instead of going through the import
/// system.
static RESUME: AtomicUsize = AtomicUsize::new(0);
static SET_ENVIRON: AtomicUsize = AtomicUsize::new(0);

/// The environment the snapshot's `os.environ` holds (the pre-initialization's own, restored
/// after the user's code): a run with the same environment has nothing to rewrite.
static SNAPSHOT_ENV: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// CPython's compiler flags (`PyCompilerFlags`).
#[repr(C)]
struct PyCompilerFlags {
    cf_flags: c_int,
    cf_feature_version: c_int,
}

/// `PyCF_IGNORE_COOKIE`: the source is already UTF-8 (what CPython's `-c` passes).
const PYCF_IGNORE_COOKIE: c_int = 0x0800;

/// The module `_vfs_box`: the run-time half, compiled during pre-initialization.
const RESUME_PY: &str = include_str!("resume.py");

/// Room for CPython 3.11's `PyConfig` (about 400 bytes on wasm32), used only through CPython's
/// own functions, so its layout never needs to be spelled out here.
#[repr(C, align(8))]
struct ConfigStorage([u8; 4096]);

/// CPython's `PyStatus`, returned by value from the configuration functions.
#[derive(Clone, Copy)]
#[repr(C)]
struct PyStatus {
    kind: c_int,
    func: *const c_char,
    err_msg: *const c_char,
    exitcode: c_int,
}

#[repr(C)]
struct PyObject {
    _private: [u8; 0],
}

extern "C" {
    fn __wasi_init_tp();
    fn __wasm_call_ctors();
    /// wasi-libc: forget the environment read so far, and read the host's again.
    fn __wasilibc_deinitialize_environ();
    fn __wasilibc_initialize_environ();

    fn PyConfig_InitPythonConfig(config: *mut ConfigStorage);
    fn PyConfig_SetBytesArgv(
        config: *mut ConfigStorage,
        argc: isize,
        argv: *const *mut c_char,
    ) -> PyStatus;
    fn PyConfig_Clear(config: *mut ConfigStorage);
    fn Py_InitializeFromConfig(config: *const ConfigStorage) -> PyStatus;
    fn PyStatus_Exception(status: PyStatus) -> c_int;
    fn Py_ExitStatusException(status: PyStatus) -> !;
    fn PyRun_SimpleString(command: *const c_char) -> c_int;
    fn PyRun_SimpleStringFlags(command: *const c_char, flags: *mut PyCompilerFlags) -> c_int;
    fn PyImport_GetModule(name: *mut PyObject) -> *mut PyObject;
    fn PyUnicode_FromString(s: *const c_char) -> *mut PyObject;
    fn PyUnicode_DecodeFSDefaultAndSize(s: *const c_char, size: isize) -> *mut PyObject;
    fn PySys_GetObject(name: *const c_char) -> *mut PyObject;
    fn PySys_SetObject(name: *const c_char, v: *mut PyObject) -> c_int;
    fn PyList_Insert(list: *mut PyObject, index: isize, item: *mut PyObject) -> c_int;
    fn PyObject_CallMethod(
        o: *mut PyObject,
        name: *const c_char,
        format: *const c_char,
        ...
    ) -> *mut PyObject;
    fn PyImport_ImportModule(name: *const c_char) -> *mut PyObject;
    fn PyObject_GetAttrString(o: *mut PyObject, name: *const c_char) -> *mut PyObject;
    fn PyObject_CallFunctionObjArgs(callable: *mut PyObject, ...) -> *mut PyObject;
    fn PyBytes_FromStringAndSize(v: *const c_char, len: isize) -> *mut PyObject;
    fn PyList_New(len: isize) -> *mut PyObject;
    fn PyList_SetItem(list: *mut PyObject, index: isize, item: *mut PyObject) -> c_int;
    fn PyLong_AsLong(o: *mut PyObject) -> std::ffi::c_long;
    fn PyErr_Print();
    fn Py_DecRef(o: *mut PyObject);
    fn fflush(stream: *mut libc::FILE) -> c_int;
}

/// Runs `code` in `__main__`'s interpreter; false if it raised (the traceback is on stderr).
fn run(code: &str) -> bool {
    let Ok(c) = CString::new(code) else {
        return false;
    };
    // SAFETY: the interpreter is initialized and `c` is a NUL-terminated string.
    unsafe { PyRun_SimpleString(c.as_ptr()) == 0 }
}

/// Flushes Python's and C's standard streams, so nothing written during pre-initialization
/// stays in a buffer of the snapshot (it would come out in every run).
fn flush_all() {
    // In a namespace of its own, like every step: nothing may be left in `__main__`.
    run("exec('import sys\\nfor s in (sys.stdout, sys.stderr):\\n    s.flush()\\n', {})\n");
    // SAFETY: `fflush(NULL)` flushes every C stream.
    unsafe { fflush(std::ptr::null_mut()) };
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
    let mut config = ConfigStorage([0; 4096]);
    let argv0 = CString::new("python").expect("no NUL");
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
    let code = std::env::args_os()
        .nth(1)
        .map(|c| c.as_bytes().to_vec())
        .unwrap_or_default();
    // Three steps, each in a namespace of its own so that nothing they bind appears among the
    // globals of `-c` code at run time (a fresh `python -c` has none):
    // 1. the run-time half (module `_vfs_box`), compiled now so no run pays for it;
    // 2. the user's code; its imports stay in `sys.modules`, which is the point;
    // 3. everything alive is moved out of the collector's reach (`gc.freeze`, made for
    //    copy-on-write sharing after fork): a collection during a run would otherwise visit, and
    //    so write to, every object of the snapshot, copying most of its pages into the instance.
    let define = "import sys, types\n\
                  m = types.ModuleType('_vfs_box')\n\
                  m.__file__ = '<vfs-box>'\n\
                  exec(compile(SOURCE, '<vfs-box>', 'exec'), m.__dict__)\n\
                  sys.modules['_vfs_box'] = m\n";
    let settle = "import gc\ngc.collect()\ngc.freeze()\n";
    let steps: [(&[u8], &str); 3] = [
        (define.as_bytes(), "<vfs-box>"),
        (&code, "<preinit>"),
        (settle.as_bytes(), "<vfs-box>"),
    ];
    // Sources travel as hex, which needs no quoting.
    let resume_hex = hex(RESUME_PY.as_bytes());
    for (source, name) in steps {
        let source_hex = hex(source);
        let step = format!(
            "exec(compile(bytes.fromhex('{source_hex}'), '{name}', 'exec'), \
             {{'__name__': '__vfs_box_preinit__', 'SOURCE': bytes.fromhex('{resume_hex}')}})\n"
        );
        if !run(&step) {
            flush_all();
            std::process::exit(1);
        }
    }
    // SAFETY: the interpreter is up and `_vfs_box` was just defined; NULL is checked.
    let (resume, set_environ) = unsafe {
        let module = PyImport_ImportModule(c"_vfs_box".as_ptr());
        if module.is_null() {
            PyErr_Print();
            (std::ptr::null_mut(), std::ptr::null_mut())
        } else {
            let r = PyObject_GetAttrString(module, c"resume".as_ptr());
            let e = PyObject_GetAttrString(module, c"set_environ".as_ptr());
            Py_DecRef(module);
            (r, e)
        }
    };
    // Whatever the user's code did to `os.environ` is undone (a run sees its own environment);
    // the snapshot then holds exactly this process's, which a run compares with its own.
    let env = environment();
    if resume.is_null()
        || set_environ.is_null()
        || !release_or_print(call_with_lists(set_environ, &[&env]))
    {
        flush_all();
        std::process::exit(1);
    }
    flush_all();
    *SNAPSHOT_ENV.lock().unwrap_or_else(|e| e.into_inner()) = env;
    RESUME.store(resume as usize, Ordering::SeqCst);
    SET_ENVIRON.store(set_environ as usize, Ordering::SeqCst);
    PREINITIALIZED.store(true, Ordering::SeqCst);
}

/// This process's environment as `NAME=VALUE` byte strings.
fn environment() -> Vec<Vec<u8>> {
    std::env::vars_os()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect()
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

/// Calls `func` with one or two lists of `bytes` and returns its result (a new reference), or
/// NULL with the Python error set.
fn call_with_lists(func: *mut PyObject, lists: &[&[Vec<u8>]]) -> *mut PyObject {
    assert!(matches!(lists.len(), 1 | 2), "one or two argument lists");
    let args: Vec<*mut PyObject> = lists
        .iter()
        .map(|items| py_list(items, PyBytes_FromStringAndSize))
        .collect();
    // SAFETY: the interpreter is initialized and `func` is a live callable; the argument list
    // ends at the first NULL (a missing second list), and every new reference is released once.
    unsafe {
        let result = if args.iter().any(|a| a.is_null()) {
            std::ptr::null_mut()
        } else {
            let second = args.get(1).copied().unwrap_or(std::ptr::null_mut());
            PyObject_CallFunctionObjArgs(func, args[0], second, std::ptr::null_mut::<PyObject>())
        };
        for a in args.into_iter().filter(|a| !a.is_null()) {
            Py_DecRef(a);
        }
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

/// Calls the method `name` of `obj` with no arguments; errors are printed.
fn call_method(obj: *mut PyObject, name: &std::ffi::CStr) {
    // SAFETY: `obj` is a live object; the format NULL means no arguments.
    release_or_print(unsafe { PyObject_CallMethod(obj, name.as_ptr(), std::ptr::null()) });
}

/// Every command line but `-c`: `_vfs_box.resume(argv, env)` in Python. Returns the exit status.
fn resume_in_python(argv: &[Vec<u8>]) -> i64 {
    let func = RESUME.load(Ordering::SeqCst) as *mut PyObject;
    let result = call_with_lists(func, &[argv, &environment()]);
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

/// Calls `module.name()` if `module` was imported (never imports it); errors are printed.
fn call_if_imported(module: &std::ffi::CStr, name: &std::ffi::CStr) {
    // SAFETY: the interpreter is initialized; every new reference is released once.
    unsafe {
        let key = PyUnicode_FromString(module.as_ptr());
        if key.is_null() {
            PyErr_Print();
            return;
        }
        let m = PyImport_GetModule(key);
        Py_DecRef(key);
        if !m.is_null() {
            call_method(m, name);
            Py_DecRef(m);
        }
    }
}

/// `python -c CODE ARG...` the way CPython's own `main` runs it (`PyRun_SimpleStringFlags` in
/// `__main__`, with `sys.argv = ['-c', ARG...]` and `''` first on `sys.path`), through the C
/// API: the Python-level dispatcher would cost more than many commands (every object a run
/// touches is a page copied into its instance). `SystemExit` ends the process inside, as in
/// CPython. Returns the exit status.
fn run_command(code: &[u8], argv: &[Vec<u8>]) -> i64 {
    let Ok(code) = CString::new(code) else {
        return 1;
    };
    let mut sys_argv = vec![b"-c".to_vec()];
    sys_argv.extend(argv[3..].iter().cloned());
    // SAFETY: the interpreter is initialized; borrowed references (`PySys_GetObject`) are not
    // released, new ones are released once.
    unsafe {
        for (name, items) in [(c"argv", &sys_argv[..]), (c"orig_argv", argv)] {
            let list = py_list(items, PyUnicode_DecodeFSDefaultAndSize);
            if list.is_null() || PySys_SetObject(name.as_ptr(), list) != 0 {
                PyErr_Print();
                return 1;
            }
            Py_DecRef(list);
        }
        let path = PySys_GetObject(c"path".as_ptr());
        let empty = PyUnicode_FromString(c"".as_ptr());
        if path.is_null() || empty.is_null() || PyList_Insert(path, 0, empty) != 0 {
            PyErr_Print();
            return 1;
        }
        Py_DecRef(empty);
        let mut flags = PyCompilerFlags {
            cf_flags: PYCF_IGNORE_COOKIE,
            cf_feature_version: 11,
        };
        i64::from(PyRun_SimpleStringFlags(code.as_ptr(), &mut flags) != 0)
    }
}

/// What CPython's finalization would still do before the process ends: `atexit` callbacks and
/// a flush of `sys.stdout` and `sys.stderr`.
fn finish() {
    call_if_imported(c"atexit", c"_run_exitfuncs");
    for name in [c"stdout", c"stderr"] {
        // SAFETY: `PySys_GetObject` returns a borrowed reference or NULL.
        let stream = unsafe { PySys_GetObject(name.as_ptr()) };
        if !stream.is_null() {
            call_method(stream, c"flush");
        }
    }
}

/// `bytes` as lowercase hexadecimal digits.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The snapshot's `_start`: one run of a pre-initialized box.
#[export_name = "vfs_box_resume"]
pub extern "C" fn vfs_box_resume() {
    if !PREINITIALIZED.load(Ordering::SeqCst) {
        eprintln!("vfs-box: this entry point only works in a pre-initialized box");
        std::process::exit(70);
    }
    emulation::clock::start();
    // SAFETY: drops wasi-libc's copy of the snapshot's environment and reads this run's.
    unsafe {
        __wasilibc_deinitialize_environ();
        __wasilibc_initialize_environ();
    }
    #[cfg(feature = "vfs")]
    vfs_wasi_shim::resume();
    // Rust's `args_os` asks the host each time, so these are the run's.
    let argv: Vec<Vec<u8>> = std::env::args_os().map(|a| a.as_bytes().to_vec()).collect();
    let status = match argv.get(1..3) {
        Some([c, code]) if c == b"-c" => {
            // The common case, done in C: see `run_command`.
            let env = environment();
            let same = *SNAPSHOT_ENV.lock().unwrap_or_else(|e| e.into_inner()) == env;
            let set_environ = SET_ENVIRON.load(Ordering::SeqCst) as *mut PyObject;
            if !same && !release_or_print(call_with_lists(set_environ, &[&env])) {
                1
            } else {
                // Seeds drawn at snapshot time would repeat in every run.
                call_if_imported(c"random", c"seed");
                let status = run_command(code, &argv);
                finish();
                status
            }
        }
        _ => resume_in_python(&argv),
    };
    // SAFETY: flushes C's streams before the process ends (Python's were flushed by `resume`).
    unsafe { fflush(std::ptr::null_mut()) };
    // Success returns from `_start`, which WASI reads as status 0: `proc_exit` would unwind
    // through the runtime as an error (with a backtrace), which costs more than the whole run.
    if status != 0 {
        std::process::exit(status.clamp(0, 255) as i32);
    }
}

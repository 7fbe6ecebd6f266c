//! Dynamic loading: WASI preview 1 modules cannot load code at run time, so every call fails with a
//! message, as `dlopen` does on a system without the library. CPython only tries it for extension
//! modules that are not built in; it then reports `ImportError` with this message.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set when a `dl*` call failed and `dlerror` has not reported it yet.
static PENDING: AtomicBool = AtomicBool::new(false);

const MESSAGE: &[u8] =
    b"dynamic loading is not supported: WASI modules cannot load code at run time\0";

/// Always fails (returns NULL); similar to `dlopen` in POSIX.
#[no_mangle]
pub extern "C" fn dlopen(_file: *const c_char, _mode: c_int) -> *mut c_void {
    PENDING.store(true, Ordering::Relaxed);
    std::ptr::null_mut()
}

/// Always fails (returns NULL): no handle can exist; similar to `dlsym` in POSIX.
#[no_mangle]
pub extern "C" fn dlsym(_handle: *mut c_void, _name: *const c_char) -> *mut c_void {
    PENDING.store(true, Ordering::Relaxed);
    std::ptr::null_mut()
}

/// Fails (returns non-zero): no handle was ever given out; similar to `dlclose` in POSIX.
#[no_mangle]
pub extern "C" fn dlclose(_handle: *mut c_void) -> c_int {
    PENDING.store(true, Ordering::Relaxed);
    1
}

/// The message for the last failure, once, then NULL; similar to `dlerror` in POSIX.
#[no_mangle]
pub extern "C" fn dlerror() -> *const c_char {
    if PENDING.swap(false, Ordering::Relaxed) {
        MESSAGE.as_ptr().cast()
    } else {
        std::ptr::null()
    }
}

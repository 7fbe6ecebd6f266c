//! The symbols wasi-sdk's emulation libraries give CPython, written against what WASI really offers.
//!
//! Each function documents where it differs from POSIX and why: WASI preview 1 has no processes, no
//! signal delivery, no CPU-time clock in most runtimes and no dynamic loading.

pub mod clock;
pub mod dl;
pub mod process;
pub mod signal;

use std::ffi::c_int;

/// Sets the calling thread's `errno`, as a failing libc call must.
fn set_errno(code: c_int) {
    // SAFETY: wasi-libc's `__errno_location` returns the address of this thread's errno.
    unsafe { *libc::__errno_location() = code };
}

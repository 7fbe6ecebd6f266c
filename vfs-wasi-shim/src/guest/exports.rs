//! The `__imported_wasi_snapshot_preview1_*` symbols wasi-libc calls for every WASI function.
//!
//! Defining them here replaces wasi-libc's imports for the filesystem calls, so every file
//! operation of the guest (Rust `std::fs`, C stdio, CPython) lands in this module first. Each
//! one routes by descriptor: a descriptor the host owns (stdio, a host preopen and what was
//! opened under it) is forwarded to the real host import with its host number; anything else
//! is served by [`Shim`] from the VFS. Calls that mix a VFS and a host directory (`rename`,
//! `link`) fail with `EXDEV`, as across two mounts in POSIX.
//!
//! `unsafe` here is only the calls to the host's imports (and `no_mangle`, which the lint
//! counts too); all pointer access of the shim itself goes through [`crate::memory`].

#![allow(unsafe_code)]

use super::state::{self, State};
use super::trace;
use crate::abi::{AbiResult, PollOutcome, Shim, WasiError};
use crate::memory::{GuestMemory, Memory};
use wasi::wasi_snapshot_preview1 as raw;

const XDEV: i32 = wasi::ERRNO_XDEV.raw() as i32;

/// The raw errno of an ABI result.
fn code(r: AbiResult) -> i32 {
    match r {
        Ok(()) => 0,
        Err(WasiError(e)) => i32::from(e.raw()),
    }
}

/// Who owns a guest descriptor.
#[derive(Clone, Copy)]
enum Owner {
    /// The host, under this number.
    Host(i32),
    /// The VFS.
    Vfs,
}

#[inline(always)]
fn owner(st: &State, fd: i32) -> Owner {
    match st.shim.fs().host_fd(fd as u32) {
        Some(h) => Owner::Host(h as i32),
        None => Owner::Vfs,
    }
}

/// Runs `f` on the state with the owner of `fd`, and traces the result. A re-entrant call
/// (only the shim's own output while it holds the state can make one) runs `reentrant` instead.
#[inline(always)]
fn serve(
    name: &'static str,
    fd: i32,
    path: Option<(i32, i32)>,
    f: impl FnOnce(&mut State, Owner) -> i32,
    reentrant: impl FnOnce() -> i32,
) -> i32 {
    let r = state::with(|st| {
        let o = owner(st, fd);
        let r = f(st, o);
        if st.trace {
            trace::call(name, fd, path, matches!(o, Owner::Host(_)), r);
        }
        r
    });
    r.unwrap_or_else(reentrant)
}

/// Routes a call whose first argument is a descriptor: host descriptors to `host` (with the
/// host's number), VFS descriptors to `vfs`.
#[inline(always)]
fn route(
    name: &'static str,
    fd: i32,
    path: Option<(i32, i32)>,
    host: impl Fn(i32) -> i32,
    vfs: impl FnOnce(&mut Shim, &mut GuestMemory) -> AbiResult,
) -> i32 {
    serve(
        name,
        fd,
        path,
        |st, o| match o {
            Owner::Host(h) => host(h),
            Owner::Vfs => code(vfs(&mut st.shim, &mut GuestMemory)),
        },
        || host(fd),
    )
}

/// Defines one interposed WASI function: `wasi_call!(name(fd, args...) => |shim, mem| vfs_call)`
/// for a call routed by its descriptor, with `path(ptr, len)` before `=>` for a `path_*` call
/// (routed by the descriptor and, for a host preopen, the path).
macro_rules! wasi_call {
    ($(#[$doc:meta])* $name:ident ($fd:ident $(, $a:ident : $t:ty)*) $(path($p:ident, $l:ident))? => |$s:ident, $m:ident| $vfs:expr) => {
        $(#[$doc])*
        #[export_name = concat!("__imported_wasi_snapshot_preview1_", stringify!($name))]
        pub extern "C" fn $name($fd: i32 $(, $a: $t)*) -> i32 {
            route(
                stringify!($name),
                $fd,
                path_arg!($($p, $l)?),
                // SAFETY: the host import checks every pointer against guest memory itself.
                |h| unsafe { raw::$name(h $(, $a)*) },
                |$s, $m| $vfs,
            )
        }
    };
}

/// The path argument of `route`: `None` for an `fd_*` call.
macro_rules! path_arg {
    () => {
        None
    };
    ($p:ident, $l:ident) => {
        Some(($p, $l))
    };
}

wasi_call!(fd_advise(fd, offset: i64, len: i64, advice: i32) => |s, _m| s.fd_advise(fd as u32, offset as u64, len as u64, advice as u8));
wasi_call!(fd_allocate(fd, offset: i64, len: i64) => |s, _m| s.fd_allocate(fd as u32, offset as u64, len as u64));
wasi_call!(fd_datasync(fd) => |s, _m| s.fd_datasync(fd as u32));
wasi_call!(fd_sync(fd) => |s, _m| s.fd_sync(fd as u32));
wasi_call!(fd_fdstat_get(fd, out: i32) => |s, m| s.fd_fdstat_get(m, fd as u32, out as u32));
wasi_call!(fd_fdstat_set_flags(fd, flags: i32) => |s, _m| s.fd_fdstat_set_flags(fd as u32, flags as u16));
wasi_call!(fd_fdstat_set_rights(fd, base: i64, inh: i64) => |s, _m| s.fd_fdstat_set_rights(fd as u32, base as u64, inh as u64));
wasi_call!(fd_filestat_get(fd, out: i32) => |s, m| s.fd_filestat_get(m, fd as u32, out as u32));
wasi_call!(fd_filestat_set_size(fd, size: i64) => |s, _m| s.fd_filestat_set_size(fd as u32, size as u64));
wasi_call!(fd_filestat_set_times(fd, atim: i64, mtim: i64, fst: i32) => |s, _m| s.fd_filestat_set_times(fd as u32, atim as u64, mtim as u64, fst as u16));
wasi_call!(fd_pread(fd, iovs: i32, n: i32, offset: i64, out: i32) => |s, m| s.fd_pread(m, fd as u32, iovs as u32, n as u32, offset as u64, out as u32));
wasi_call!(fd_pwrite(fd, iovs: i32, n: i32, offset: i64, out: i32) => |s, m| s.fd_pwrite(m, fd as u32, iovs as u32, n as u32, offset as u64, out as u32));
wasi_call!(fd_read(fd, iovs: i32, n: i32, out: i32) => |s, m| s.fd_read(m, fd as u32, iovs as u32, n as u32, out as u32));
wasi_call!(fd_write(fd, iovs: i32, n: i32, out: i32) => |s, m| s.fd_write(m, fd as u32, iovs as u32, n as u32, out as u32));
wasi_call!(fd_readdir(fd, buf: i32, len: i32, cookie: i64, out: i32) => |s, m| s.fd_readdir(m, fd as u32, buf as u32, len as u32, cookie as u64, out as u32));
wasi_call!(fd_seek(fd, offset: i64, whence: i32, out: i32) => |s, m| s.fd_seek(m, fd as u32, offset, whence as u8, out as u32));
wasi_call!(fd_tell(fd, out: i32) => |s, m| s.fd_tell(m, fd as u32, out as u32));

/// `fd_prestat_get`: a host preopen is described with the name the guest sees for it
/// ([`crate::preopen::guest_name`]: a host `/` is `/host`, so it cannot tie with the VFS root).
#[export_name = "__imported_wasi_snapshot_preview1_fd_prestat_get"]
pub extern "C" fn fd_prestat_get(fd: i32, out: i32) -> i32 {
    route(
        "fd_prestat_get",
        fd,
        None,
        |h| match super::host::preopen_name(h as u32) {
            Some(name) => {
                let len = crate::preopen::guest_name(&name).len() as u32;
                let prestat = crate::abi::layout::encode_prestat_dir(len);
                code(
                    GuestMemory
                        .write(out as u32, &prestat)
                        .map_err(WasiError::from),
                )
            }
            // Not a directory the host named: its own answer (EBADF, or another kind).
            // SAFETY: the host checks the guest's pointer.
            None => unsafe { raw::fd_prestat_get(h, out) },
        },
        |s, m| s.fd_prestat_get(m, fd as u32, out as u32),
    )
}

/// `fd_prestat_dir_name`: for a host preopen, the name the guest sees for it (as
/// `fd_prestat_get` reported its length).
#[export_name = "__imported_wasi_snapshot_preview1_fd_prestat_dir_name"]
pub extern "C" fn fd_prestat_dir_name(fd: i32, path: i32, len: i32) -> i32 {
    route(
        "fd_prestat_dir_name",
        fd,
        None,
        |h| match super::host::preopen_name(h as u32) {
            Some(name) => {
                let name = crate::preopen::guest_name(&name);
                if (len as u32 as usize) < name.len() {
                    return code(Err(WasiError(wasi::ERRNO_NAMETOOLONG)));
                }
                code(
                    GuestMemory
                        .write(path as u32, name)
                        .map_err(WasiError::from),
                )
            }
            // SAFETY: the host checks the guest's pointer.
            None => unsafe { raw::fd_prestat_dir_name(h, path, len) },
        },
        |s, m| s.fd_prestat_dir_name(m, fd as u32, path as u32, len as u32),
    )
}

wasi_call!(path_create_directory(fd, p: i32, l: i32) path(p, l) => |s, m| s.path_create_directory(m, fd as u32, p as u32, l as u32));
wasi_call!(path_filestat_get(fd, flags: i32, p: i32, l: i32, out: i32) path(p, l) => |s, m| s.path_filestat_get(m, fd as u32, flags as u32, p as u32, l as u32, out as u32));
wasi_call!(path_filestat_set_times(fd, flags: i32, p: i32, l: i32, atim: i64, mtim: i64, fst: i32) path(p, l)
    => |s, m| s.path_filestat_set_times(m, fd as u32, flags as u32, p as u32, l as u32, atim as u64, mtim as u64, fst as u16));
wasi_call!(path_readlink(fd, p: i32, l: i32, buf: i32, buf_len: i32, out: i32) path(p, l)
    => |s, m| s.path_readlink(m, fd as u32, p as u32, l as u32, buf as u32, buf_len as u32, out as u32));
wasi_call!(path_remove_directory(fd, p: i32, l: i32) path(p, l) => |s, m| s.path_remove_directory(m, fd as u32, p as u32, l as u32));
wasi_call!(path_unlink_file(fd, p: i32, l: i32) path(p, l) => |s, m| s.path_unlink_file(m, fd as u32, p as u32, l as u32));

/// `fd_close`: the descriptor leaves the table; a host descriptor is closed on the host once
/// no other guest descriptor (a `dup` of it) refers to it.
#[export_name = "__imported_wasi_snapshot_preview1_fd_close"]
pub extern "C" fn fd_close(fd: i32) -> i32 {
    // SAFETY (both closures): closing a descriptor passes no pointer.
    serve(
        "fd_close",
        fd,
        None,
        |st, o| match o {
            Owner::Host(h) => {
                let _ = st.shim.fs_mut().close(fd as u32);
                if st.shim.fs().holds_host_fd(h as u32) {
                    // Another descriptor (a `dup`) still refers to it: as with a POSIX open
                    // file description, the host's stays open until the last one goes.
                    0
                } else {
                    unsafe { raw::fd_close(h) }
                }
            }
            Owner::Vfs => code(st.shim.fd_close(fd as u32)),
        },
        || unsafe { raw::fd_close(fd) },
    )
}

/// `fd_renumber`: the table moves the entry whoever owns it; a host descriptor that `to`
/// held and that no other descriptor refers to is closed on the host.
#[export_name = "__imported_wasi_snapshot_preview1_fd_renumber"]
pub extern "C" fn fd_renumber(from: i32, to: i32) -> i32 {
    serve(
        "fd_renumber",
        from,
        None,
        |st, _| {
            let displaced = st.shim.fs().host_fd(to as u32);
            let r = code(st.shim.fd_renumber(from as u32, to as u32));
            if let Some(h) = displaced {
                if r == 0 && !st.shim.fs().holds_host_fd(h) {
                    // SAFETY: closing a descriptor passes no pointer.
                    unsafe { raw::fd_close(h as i32) };
                }
            }
            r
        },
        // SAFETY: renumbering passes no pointer.
        || unsafe { raw::fd_renumber(from, to) },
    )
}

/// `path_open`: under a host directory the host opens the file and the table adopts the new
/// host descriptor at the lowest free guest number.
#[export_name = "__imported_wasi_snapshot_preview1_path_open"]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn path_open(
    fd: i32,
    dirflags: i32,
    p: i32,
    l: i32,
    oflags: i32,
    base: i64,
    inh: i64,
    fdflags: i32,
    out: i32,
) -> i32 {
    // SAFETY: the host checks the guest's pointers; `hfd` is a local it writes 4 bytes to.
    let open_on_host = |h: i32, hfd: &mut u32| unsafe {
        raw::path_open(
            h,
            dirflags,
            p,
            l,
            oflags,
            base,
            inh,
            fdflags,
            hfd as *mut u32 as i32,
        )
    };
    serve(
        "path_open",
        fd,
        Some((p, l)),
        |st, o| match o {
            Owner::Host(h) => {
                let mut hfd = 0u32;
                let r = open_on_host(h, &mut hfd);
                if r != 0 {
                    return r;
                }
                let adopted = st.shim.fs_mut().adopt_host_fd(None, hfd);
                let written = adopted.map_err(WasiError::from).and_then(|g| {
                    GuestMemory
                        .write_u32(out as u32, g)
                        .map_err(WasiError::from)
                        .map(|()| g)
                });
                match written {
                    Ok(_) => 0,
                    Err(e) => {
                        if let Ok(g) = adopted {
                            let _ = st.shim.fs_mut().close(g);
                        }
                        // SAFETY: closing a descriptor passes no pointer.
                        unsafe { raw::fd_close(hfd as i32) };
                        code(Err(e))
                    }
                }
            }
            Owner::Vfs => code(st.shim.path_open(
                &mut GuestMemory,
                fd as u32,
                dirflags as u32,
                p as u32,
                l as u32,
                oflags as u16,
                base as u64,
                inh as u64,
                fdflags as u16,
                out as u32,
            )),
        },
        // SAFETY: as above, with the guest's own result pointer.
        || unsafe { raw::path_open(fd, dirflags, p, l, oflags, base, inh, fdflags, out) },
    )
}

/// Routes a call naming two directories: both host, both VFS, or `EXDEV`.
fn two_dirs(
    name: &'static str,
    fd1: i32,
    fd2: i32,
    path: (i32, i32),
    host: impl Fn(i32, i32) -> i32,
    vfs: impl FnOnce(&mut Shim) -> AbiResult,
) -> i32 {
    serve(
        name,
        fd1,
        Some(path),
        |st, o1| match (o1, owner(st, fd2)) {
            (Owner::Host(a), Owner::Host(b)) => host(a, b),
            (Owner::Vfs, Owner::Vfs) => code(vfs(&mut st.shim)),
            _ => XDEV,
        },
        || host(fd1, fd2),
    )
}

/// `path_link`: both directories must be on the same side.
#[export_name = "__imported_wasi_snapshot_preview1_path_link"]
pub extern "C" fn path_link(
    fd1: i32,
    flags: i32,
    p1: i32,
    l1: i32,
    fd2: i32,
    p2: i32,
    l2: i32,
) -> i32 {
    two_dirs(
        "path_link",
        fd1,
        fd2,
        (p1, l1),
        // SAFETY: the host checks the guest's pointers.
        |a, b| unsafe { raw::path_link(a, flags, p1, l1, b, p2, l2) },
        |s| {
            s.path_link(
                &GuestMemory,
                fd1 as u32,
                flags as u32,
                p1 as u32,
                l1 as u32,
                fd2 as u32,
                p2 as u32,
                l2 as u32,
            )
        },
    )
}

/// `path_rename`: both directories must be on the same side.
#[export_name = "__imported_wasi_snapshot_preview1_path_rename"]
pub extern "C" fn path_rename(fd1: i32, p1: i32, l1: i32, fd2: i32, p2: i32, l2: i32) -> i32 {
    two_dirs(
        "path_rename",
        fd1,
        fd2,
        (p1, l1),
        // SAFETY: the host checks the guest's pointers.
        |a, b| unsafe { raw::path_rename(a, p1, l1, b, p2, l2) },
        |s| {
            s.path_rename(
                &GuestMemory,
                fd1 as u32,
                p1 as u32,
                l1 as u32,
                fd2 as u32,
                p2 as u32,
                l2 as u32,
            )
        },
    )
}

/// `path_symlink`: routed by the directory the link is created in.
#[export_name = "__imported_wasi_snapshot_preview1_path_symlink"]
pub extern "C" fn path_symlink(p1: i32, l1: i32, fd: i32, p2: i32, l2: i32) -> i32 {
    route(
        "path_symlink",
        fd,
        Some((p2, l2)),
        // SAFETY: the host checks the guest's pointers.
        |h| unsafe { raw::path_symlink(p1, l1, h, p2, l2) },
        |s, m| s.path_symlink(m, p1 as u32, l1 as u32, fd as u32, p2 as u32, l2 as u32),
    )
}

/// `poll_oneoff`: answered by the VFS when it names a VFS descriptor; otherwise forwarded,
/// with descriptors translated to host numbers in a copy of the subscriptions.
#[export_name = "__imported_wasi_snapshot_preview1_poll_oneoff"]
pub extern "C" fn poll_oneoff(subs: i32, events: i32, nsubs: i32, nevents: i32) -> i32 {
    // SAFETY: the host checks the guest's pointers.
    let forward = |subs: i32| unsafe { raw::poll_oneoff(subs, events, nsubs, nevents) };
    serve(
        "poll_oneoff",
        -1,
        None,
        |st, _| {
            match st.shim.poll_oneoff(
                &mut GuestMemory,
                subs as u32,
                events as u32,
                nsubs as u32,
                nevents as u32,
            ) {
                Ok(PollOutcome::Done) => 0,
                Err(e) => code(Err(e)),
                Ok(PollOutcome::Forward) => {
                    let size =
                        (nsubs as u32 as usize) * crate::abi::layout::SUBSCRIPTION_SIZE as usize;
                    let Ok(orig) = GuestMemory.slice(subs as u32, size as u32) else {
                        return code(Err(WasiError(wasi::ERRNO_FAULT)));
                    };
                    let mut copy = orig.to_vec();
                    for sub in copy.chunks_exact_mut(crate::abi::layout::SUBSCRIPTION_SIZE as usize)
                    {
                        if sub[8] == wasi::EVENTTYPE_CLOCK.raw() {
                            continue;
                        }
                        let at = crate::abi::layout::Subscription::FD_OFFSET;
                        let fd =
                            u32::from_le_bytes([sub[at], sub[at + 1], sub[at + 2], sub[at + 3]]);
                        // A number the table does not know must not reach an unrelated host fd.
                        let h = st.shim.fs().host_fd(fd).unwrap_or(u32::MAX);
                        sub[at..at + 4].copy_from_slice(&h.to_le_bytes());
                    }
                    // `copy` lives in linear memory, so its address is a guest pointer.
                    forward(copy.as_ptr() as i32)
                }
            }
        },
        || forward(subs),
    )
}

/// Serializes the upper layer (everything the guest changed relative to the embedded layers)
/// as a `vfs-image` layer in guest memory and returns `(address << 32) | length`, or 0 if the
/// export failed (the reason goes to stderr). The bytes stay valid until the next call.
///
/// A Rust binary must be linked with `--export=vfs_export_upper` for a host to see this.
#[export_name = "vfs_export_upper"]
pub extern "C" fn vfs_export_upper() -> u64 {
    state::with(
        |st| match crate::export::export_upper(st.shim.fs_mut(), &st.layers) {
            Ok(bytes) => {
                st.exported = bytes;
                // Addresses and lengths in a wasm32 memory fit in 32 bits.
                ((st.exported.as_ptr() as usize as u64) << 32) | st.exported.len() as u64
            }
            Err(e) => {
                super::host::stderr(&format!("vfs: export of the upper layer failed: {e}\n"));
                0
            }
        },
    )
    .unwrap_or(0)
}

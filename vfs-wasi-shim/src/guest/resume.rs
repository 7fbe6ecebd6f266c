//! Starting a run of a pre-initialized (snapshotted) instance.
//!
//! A snapshot tool such as Wizer runs the guest's initialization once, with whatever the host
//! offered *then*, and saves linear memory. The VFS itself (its files, open descriptors, the
//! upper layer) lives in that memory and is exactly what the run should see. What the snapshot
//! cannot know is the host of the *run*: its preopened directories may differ from those at
//! snapshot time (usually there were none). [`resume`] adopts them.

#![allow(unsafe_code)]

use super::{host, state};

extern "C" {
    /// wasi-libc: adds `fd` as a preopened directory named `prefix` to the table that path
    /// lookups (`open`, `stat`, Rust `std::fs`) resolve against.
    fn __wasilibc_register_preopened_fd(fd: i32, prefix: *const core::ffi::c_char) -> i32;
}

/// Call first thing when a pre-initialized instance starts its run (before any file access of
/// the run): every directory the host preopened for this run gets a guest descriptor (the lowest
/// free ones; the snapshot's own descriptors, the VFS root `/` among them, keep their numbers)
/// and is registered with wasi-libc under the name a fresh instance gives it (the host's, except
/// that a host `/` is [`crate::preopen::HOST_ROOT`]), so paths below it reach the host as in a
/// fresh instance. Returns how many host directories were adopted.
///
/// Calling it in an instance that was not pre-initialized is harmless only if the host has no
/// preopens; normal instances never need it (the shim adopts the host's preopens when it starts).
pub fn resume() -> usize {
    let (adopted, trace) = state::with(|st| {
        // Tracing and limits are asked for by the run's environment, not the snapshot's.
        let environ = host::environ();
        st.trace = host::env_flag(&environ, "VFS_TRACE");
        state::apply_host_limits(st.shim.fs_mut(), &environ);
        // Layers embedded after the snapshot are not part of the filesystem it saved: say so
        // rather than let files be silently missing.
        let embedded = crate::memory::embedded_layers().len();
        if embedded != st.layers.len() {
            host::stderr(&format!(
                "vfs: this module has {embedded} embedded layer(s) but its snapshot mounted {}: \
                 layers added after pre-initialization are not visible; embed them first, then \
                 pre-initialize\n",
                st.layers.len()
            ));
        }
        let fs = st.shim.fs_mut();
        let adopted = host::preopen_dirs()
            .into_iter()
            .filter_map(|(h, name)| {
                // The name the guest sees (a host `/` is `/host`), as in a fresh instance.
                let name = crate::preopen::guest_name(&name).to_vec();
                Some((fs.adopt_host_fd(None, h).ok()?, name))
            })
            .collect::<Vec<(u32, Vec<u8>)>>();
        (adopted, st.trace)
    })
    .unwrap_or_default();
    for (fd, mut name) in adopted.iter().cloned() {
        name.retain(|&b| b != 0);
        name.push(0);
        // SAFETY: `name` is NUL-terminated and outlives the call (wasi-libc copies it).
        unsafe { __wasilibc_register_preopened_fd(fd as i32, name.as_ptr().cast()) };
        if trace {
            host::stderr(&format!(
                "vfs: resume: host preopen {:?} is guest fd {fd}\n",
                String::from_utf8_lossy(&name[..name.len() - 1])
            ));
        }
    }
    adopted.len()
}

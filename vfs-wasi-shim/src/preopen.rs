//! The names under which the guest sees the host's preopened directories.
//!
//! The VFS root is the guest's `/`. A host may preopen a directory of its own at `/` as well:
//! runwasi's wasmtime shim preopens the container's root filesystem there, and
//! `vfs-box run --dir HOST::/` does the same. The two would tie: wasi-libc resolves an absolute
//! path against the preopen whose name is the longest prefix of it, and of two equally long
//! names the one registered last wins. In a fresh instance that is the VFS root (the shim makes
//! it the preopen after the host's), so the host's `/` is unreachable; in a pre-initialized box
//! the run adopts the host's preopens after the snapshot's root, so the host's `/` wins and the
//! box's own standard library vanishes from under CPython. Neither is usable.
//!
//! So the shim renames a host preopen named `/` to [`HOST_ROOT`] in what it reports to the
//! guest (`fd_prestat_dir_name`, and the names [`crate::resume`] registers). The box's layers
//! keep `/` and stay authoritative for every path; the host's tree is one prefix away, like a
//! filesystem mounted at `/host`. Other host preopens keep their names.

/// Where a host directory preopened at `/` appears in the guest.
pub const HOST_ROOT: &str = "/host";

/// Whether a preopen's name means the root: `/` (or `//`...). A name is bytes, as WASI gives it.
pub fn is_root(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b == b'/')
}

/// The name the guest sees for a host preopen the host calls `host_name`: [`HOST_ROOT`] for
/// the root, the host's own name for anything else.
pub fn guest_name(host_name: &[u8]) -> &[u8] {
    if is_root(host_name) {
        HOST_ROOT.as_bytes()
    } else {
        host_name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_root_is_renamed() {
        assert_eq!(guest_name(b"/"), b"/host");
        assert_eq!(guest_name(b"//"), b"/host");
        assert_eq!(guest_name(b"/data"), b"/data");
        assert_eq!(guest_name(b"."), b".");
        assert_eq!(guest_name(b"/host"), b"/host");
        assert_eq!(guest_name(b""), b"");
        assert!(!is_root(b"/."));
    }
}

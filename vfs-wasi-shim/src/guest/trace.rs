//! `VFS_TRACE=1`: one line per intercepted call on the host's stderr.
//!
//! The line names the call, the descriptor, the path when there is one, who served it (`vfs`
//! or `host`) and the result as a WASI errno name, e.g.
//! `vfs: path_open(fd=4, "data/x.txt") [vfs] -> NOENT`.

use super::host;
use crate::memory::{GuestMemory, Memory};

/// Prints one traced call.
pub fn call(name: &str, fd: i32, path: Option<(i32, i32)>, on_host: bool, result: i32) {
    let side = if on_host { "host" } else { "vfs" };
    let result = u16::try_from(result)
        .ok()
        .and_then(|r| (r <= 76).then(|| errno_name(r)))
        .unwrap_or("?");
    let line = match path.and_then(|(p, l)| GuestMemory.slice(p as u32, l as u32).ok()) {
        Some(p) => format!(
            "vfs: {name}(fd={fd}, {:?}) [{side}] -> {result}\n",
            String::from_utf8_lossy(p)
        ),
        None => format!("vfs: {name}(fd={fd}) [{side}] -> {result}\n"),
    };
    host::stderr(&line);
}

fn errno_name(raw: u16) -> &'static str {
    crate::abi::WASI_ERRNOS
        .get(usize::from(raw))
        .map_or("?", |e| e.name())
}

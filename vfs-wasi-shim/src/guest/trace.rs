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
    // `wasi::Errno` can only be built from its constants; they are consecutive from 0 to 76.
    const ALL: [wasi::Errno; 77] = [
        wasi::ERRNO_SUCCESS,
        wasi::ERRNO_2BIG,
        wasi::ERRNO_ACCES,
        wasi::ERRNO_ADDRINUSE,
        wasi::ERRNO_ADDRNOTAVAIL,
        wasi::ERRNO_AFNOSUPPORT,
        wasi::ERRNO_AGAIN,
        wasi::ERRNO_ALREADY,
        wasi::ERRNO_BADF,
        wasi::ERRNO_BADMSG,
        wasi::ERRNO_BUSY,
        wasi::ERRNO_CANCELED,
        wasi::ERRNO_CHILD,
        wasi::ERRNO_CONNABORTED,
        wasi::ERRNO_CONNREFUSED,
        wasi::ERRNO_CONNRESET,
        wasi::ERRNO_DEADLK,
        wasi::ERRNO_DESTADDRREQ,
        wasi::ERRNO_DOM,
        wasi::ERRNO_DQUOT,
        wasi::ERRNO_EXIST,
        wasi::ERRNO_FAULT,
        wasi::ERRNO_FBIG,
        wasi::ERRNO_HOSTUNREACH,
        wasi::ERRNO_IDRM,
        wasi::ERRNO_ILSEQ,
        wasi::ERRNO_INPROGRESS,
        wasi::ERRNO_INTR,
        wasi::ERRNO_INVAL,
        wasi::ERRNO_IO,
        wasi::ERRNO_ISCONN,
        wasi::ERRNO_ISDIR,
        wasi::ERRNO_LOOP,
        wasi::ERRNO_MFILE,
        wasi::ERRNO_MLINK,
        wasi::ERRNO_MSGSIZE,
        wasi::ERRNO_MULTIHOP,
        wasi::ERRNO_NAMETOOLONG,
        wasi::ERRNO_NETDOWN,
        wasi::ERRNO_NETRESET,
        wasi::ERRNO_NETUNREACH,
        wasi::ERRNO_NFILE,
        wasi::ERRNO_NOBUFS,
        wasi::ERRNO_NODEV,
        wasi::ERRNO_NOENT,
        wasi::ERRNO_NOEXEC,
        wasi::ERRNO_NOLCK,
        wasi::ERRNO_NOLINK,
        wasi::ERRNO_NOMEM,
        wasi::ERRNO_NOMSG,
        wasi::ERRNO_NOPROTOOPT,
        wasi::ERRNO_NOSPC,
        wasi::ERRNO_NOSYS,
        wasi::ERRNO_NOTCONN,
        wasi::ERRNO_NOTDIR,
        wasi::ERRNO_NOTEMPTY,
        wasi::ERRNO_NOTRECOVERABLE,
        wasi::ERRNO_NOTSOCK,
        wasi::ERRNO_NOTSUP,
        wasi::ERRNO_NOTTY,
        wasi::ERRNO_NXIO,
        wasi::ERRNO_OVERFLOW,
        wasi::ERRNO_OWNERDEAD,
        wasi::ERRNO_PERM,
        wasi::ERRNO_PIPE,
        wasi::ERRNO_PROTO,
        wasi::ERRNO_PROTONOSUPPORT,
        wasi::ERRNO_PROTOTYPE,
        wasi::ERRNO_RANGE,
        wasi::ERRNO_ROFS,
        wasi::ERRNO_SPIPE,
        wasi::ERRNO_SRCH,
        wasi::ERRNO_STALE,
        wasi::ERRNO_TIMEDOUT,
        wasi::ERRNO_TXTBSY,
        wasi::ERRNO_XDEV,
        wasi::ERRNO_NOTCAPABLE,
    ];
    ALL.get(usize::from(raw)).map_or("?", |e| e.name())
}

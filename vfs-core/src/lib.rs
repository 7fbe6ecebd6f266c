//! vfs-core: the in-memory POSIX filesystem.
#![forbid(unsafe_code)]

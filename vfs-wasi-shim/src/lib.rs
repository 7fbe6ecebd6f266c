//! vfs-wasi-shim: WASI preview 1 ABI over vfs-core.

//! What exists only inside a wasm32 guest: the interposed WASI symbols, the global state, the
//! calls to the real host, tracing, and the start of a pre-initialized run.

pub mod exports;
pub(crate) mod host;
pub mod posix;
pub mod resume;
pub(crate) mod state;
mod trace;

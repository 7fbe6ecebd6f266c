//! What exists only inside a wasm32 guest: the interposed WASI symbols, the global state, the
//! calls to the real host, and tracing.

pub mod exports;
pub(crate) mod host;
mod state;
mod trace;

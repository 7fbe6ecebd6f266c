//! `vfs-box run`: a box on wasmtime with WASI preview 1 (arguments, environment, stdio and host
//! directories passed through beside the box's own filesystem), compiled once and cached, with
//! the upper layer optionally saved. Instantiating and running are `vfs-runner`'s.

use std::path::Path;

use anyhow::{bail, Context, Result};
use vfs_runner::{instantiate, linker, start, Invocation, Stdio};

/// The shim's export that serializes the upper layer (see `vfs-wasi-shim`), present in every
/// Python box.
pub const EXPORT_UPPER: &str = "vfs_export_upper";

/// `vfs-box run`: compile (cached), instantiate once, run with the host's stdio; with
/// `save_upper`, write what the guest changed in its filesystem there as an image layer (also
/// when the guest exits with an error status, so nothing it wrote is lost).
pub fn run(wasm: &Path, inv: &Invocation, save_upper: Option<&Path>) -> Result<i32> {
    let (code, layer) = run_box(wasm, inv, &Stdio::Inherit, save_upper.is_some())?;
    if let (Some(out), Some(layer)) = (save_upper, layer) {
        std::fs::write(out, &layer).with_context(|| format!("writing {}", out.display()))?;
        eprintln!(
            "vfs-box: saved the upper layer to {} ({} bytes)",
            out.display(),
            layer.len()
        );
    }
    Ok(code)
}

/// Runs `wasm` once with `stdio`; with `export`, also returns what the guest changed in its
/// filesystem as an image layer (`vfs-box run --save-upper`, and each `RUN` of `vfs-box build`).
pub fn run_box(
    wasm: &Path,
    inv: &Invocation,
    stdio: &Stdio,
    export: bool,
) -> Result<(i32, Option<Vec<u8>>)> {
    if !wasm.is_file() {
        bail!("{}: no such file", wasm.display());
    }
    let engine = vfs_runner::engine()?;
    let module = crate::cache::load(&engine, wasm)?;
    if export && module.get_export(EXPORT_UPPER).is_none() {
        bail!(
            "--save-upper: {} does not export `{EXPORT_UPPER}` (it was not built with \
             vfs-wasi-shim and `--export={EXPORT_UPPER}`)",
            wasm.display()
        );
    }
    let linker = linker(&engine)?;
    let (mut store, instance) = instantiate(&linker, &module, inv.host(stdio)?)?;
    let code = start(&mut store, &instance)?;
    if !export {
        return Ok((code, None));
    }
    let layer = vfs_runner::call_buffer_export(&mut store, &instance, EXPORT_UPPER)
        .context("exporting the upper layer")?
        .context("the guest could not export its upper layer (its reason is on stderr above)")?;
    Ok((code, Some(layer)))
}

//! The compiled-module cache: a box is compiled once per content and wasmtime build, then loaded by
//! mapping the cached file (`Module::deserialize_file`), so its memory image is copy-on-write
//! instead of copied into each instance.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use vfs_runner::wt;
use wasmtime::{Engine, Module};

/// `$XDG_CACHE_HOME/wasm-vfs` or `~/.cache/wasm-vfs`: everything vfs-box downloads or derives.
pub fn cache_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("wasm-vfs"));
    }
    let home = std::env::var_os("HOME")
        .context("neither XDG_CACHE_HOME nor HOME is set: no place for the cache")?;
    Ok(PathBuf::from(home).join(".cache").join("wasm-vfs"))
}

/// Loads `wasm` compiled for `engine`, compiling and caching it on first use.
///
/// Hashing a box costs more than starting a pre-initialized one (~10 ms for 17 MB), so the
/// digest of each file is remembered with its identity (device, inode, size, modification time
/// to the nanosecond), as build tools do; a file changed in any of those is hashed again.
pub fn load(engine: &Engine, wasm: &Path) -> Result<Module> {
    let md = std::fs::metadata(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let identity = {
        use std::os::unix::fs::MetadataExt;
        format!(
            "{} {} {} {}.{}",
            md.dev(),
            md.ino(),
            md.len(),
            md.mtime(),
            md.mtime_nsec()
        )
    };
    let digests = cache_root()?.join("digests");
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::path::absolute(wasm)
        .unwrap_or_else(|_| wasm.to_path_buf())
        .hash(&mut h);
    let record = digests.join(format!("{:016x}", h.finish()));
    if let Ok(text) = std::fs::read_to_string(&record) {
        if let Some((id, digest)) = text.trim_end().rsplit_once(' ') {
            if id == identity {
                if let Some(module) = load_cached(engine, &key_for(engine, digest))? {
                    return Ok(module);
                }
            }
        }
    }
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let digest = format!("{:x}", Sha256::digest(&bytes));
    // Best effort: without the record the next run only hashes again.
    let _ = std::fs::create_dir_all(&digests)
        .and_then(|()| std::fs::write(&record, format!("{identity} {digest}\n")));
    load_digested(engine, &bytes, &digest, &wasm.display().to_string())
}

/// Loads the module `bytes` (named `label` in messages) compiled for `engine`, compiling and
/// caching it on first use.
pub fn load_bytes(engine: &Engine, bytes: &[u8], label: &str) -> Result<Module> {
    let digest = format!("{:x}", Sha256::digest(bytes));
    load_digested(engine, bytes, &digest, label)
}

/// Loads the module that `derive` makes from `bytes`, compiled for `engine`, keyed by `bytes`
/// and `how` (what identifies the derivation: the text of the code that does it), so that a
/// module found in the cache is loaded without deriving it again (`vfs-box serve`'s probes:
/// validating and rewriting the Flask box's code took 0.1 s and left 7.7 MB more of the
/// server's heap resident for good).
pub fn load_derived(
    engine: &Engine,
    bytes: &[u8],
    how: &str,
    derive: impl FnOnce() -> Result<Vec<u8>>,
    label: &str,
) -> Result<Module> {
    let digest = format!(
        "{:x}",
        Sha256::new()
            .chain_update(Sha256::digest(how.as_bytes()))
            .chain_update(bytes)
            .finalize()
    );
    if let Some(module) = load_cached(engine, &key_for(engine, &digest))? {
        return Ok(module);
    }
    let derived = derive()?;
    load_digested(engine, &derived, &digest, label)
}

/// The cache key: the SHA-256 of the module bytes plus the engine's compatibility hash, so a
/// changed box or a different wasmtime build never reuses a stale artifact.
fn key_for(engine: &Engine, digest: &str) -> String {
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    format!("{digest}-{:016x}", compat.finish())
}

/// The cached compiled module for `key`, if there is a usable one.
fn load_cached(engine: &Engine, key: &str) -> Result<Option<Module>> {
    let file = cache_root()?.join("modules").join(format!("{key}.cwasm"));
    if !file.is_file() {
        return Ok(None);
    }
    // SAFETY: the file was written by `precompile_module` of an engine with the same
    // compatibility hash (part of its name) and is only ever replaced atomically.
    match unsafe { Module::deserialize_file(engine, &file) } {
        Ok(module) => {
            // Its modification time records the last use, for pruning (best effort).
            let _ = std::fs::File::options()
                .append(true)
                .open(&file)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            Ok(Some(module))
        }
        Err(e) => {
            eprintln!(
                "vfs-box: ignoring unusable cached module {}: {e:#}",
                file.display()
            );
            Ok(None)
        }
    }
}

/// [`load_bytes`] with the digest already computed.
fn load_digested(engine: &Engine, bytes: &[u8], digest: &str, label: &str) -> Result<Module> {
    let key = key_for(engine, digest);
    if let Some(module) = load_cached(engine, &key)? {
        return Ok(module);
    }
    let dir = cache_root()?.join("modules");
    let file = dir.join(format!("{key}.cwasm"));
    let compiled =
        wt(engine.precompile_module(bytes)).with_context(|| format!("compiling {label}"))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!("{key}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &compiled).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &file).with_context(|| format!("renaming into {}", file.display()))?;
    prune(&dir, &file);
    // SAFETY: written just now by `precompile_module` of this engine.
    wt(unsafe { Module::deserialize_file(engine, &file) })
        .with_context(|| format!("loading {}", file.display()))
}

/// Most bytes of compiled modules kept in the cache. Every pre-initialized box is a new module
/// (its snapshot differs from build to build), so without a limit the cache grows by ~130 MB
/// per build.
const CACHE_MAX_BYTES: u64 = 2 << 30;

/// Deletes the least recently used compiled modules until the cache holds at most
/// [`CACHE_MAX_BYTES`], never `keep` (just written). Failures are ignored: pruning is
/// housekeeping, and a file another process still has mapped stays valid after deletion.
fn prune(dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let path = e.path();
            let md = e.metadata().ok()?;
            if path.extension()? != "cwasm" || path == keep {
                return None;
            }
            Some((md.modified().ok()?, md.len(), path))
        })
        .collect();
    let keep_len = std::fs::metadata(keep).map(|m| m.len()).unwrap_or(0);
    let mut total: u64 = keep_len + files.iter().map(|f| f.1).sum::<u64>();
    files.sort();
    for (_, len, path) in files {
        if total <= CACHE_MAX_BYTES {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
}

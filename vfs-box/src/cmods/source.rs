//! CPython's glue for the C modules (`Modules/zlibmodule.c`, `_bz2module.c`, `_lzmamodule.c`,
//! `_sqlite/`), from Debian bookworm's python3.11 source package.
//!
//! `apt-get source --download-only` fetches it (apt checks each file against the `.dsc`, whose
//! checksums come from the signed `Sources` index); vfs-box then checks the upstream tarball's
//! SHA-256 itself, on every build, and unpacks only the glue, once, into the cache. Debian's
//! python3.11 is 3.11.2, the sdist's libpython 3.11.8: the glue uses the stable 3.11 C API and
//! compiles and links against 3.11.8's headers (see vfs-box/README.md for what differs).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// The source package, pinned to one version (its files are content-addressed by the SHA-256).
const PACKAGE: &str = "python3.11=3.11.2-6+deb12u8";
const TARBALL: &str = "python3.11_3.11.2.orig.tar.gz";
const SHA256: &str = "2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849";
const TOP: &str = "Python-3.11.2/Modules/";

/// What is taken from `Modules/`: the glue and the argument-clinic code it includes.
const WANTED: &[&str] = &[
    "zlibmodule.c",
    "_bz2module.c",
    "_lzmamodule.c",
    "clinic/zlibmodule.c.h",
    "clinic/_bz2module.c.h",
    "clinic/_lzmamodule.c.h",
    "_sqlite/",
];

/// The unpacked `Modules` folder, fetched and unpacked on first use.
pub fn modules_dir() -> Result<PathBuf> {
    let dir = crate::cache::cache_root()?.join("cpython-src");
    let tarball = dir.join(TARBALL);
    if !tarball.is_file() {
        download(&dir)?;
    }
    let got = sha256_file(&tarball)?;
    if got != SHA256 {
        bail!(
            "{}: sha256 is {got}, expected {SHA256}; delete the file to download it again",
            tarball.display()
        );
    }
    let root = dir.join(&SHA256[..16]);
    let modules = root.join("Modules");
    let marker = root.join("unpacked");
    if !marker.is_file() {
        unpack(&tarball, &root)?;
        std::fs::write(&marker, SHA256).with_context(|| format!("writing {}", marker.display()))?;
    }
    Ok(modules)
}

fn download(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!(
        "vfs-box: downloading CPython's sources ({PACKAGE}) with apt-get source into {}",
        dir.display()
    );
    let status = Command::new("apt-get")
        .args(["source", "--download-only", PACKAGE])
        .current_dir(dir)
        .status();
    let why = match status {
        Ok(s) if s.success() && dir.join(TARBALL).is_file() => return Ok(()),
        Ok(s) => format!(
            "`apt-get source` failed ({s}); is there a deb-src entry (scripts/tools.sh adds one)?"
        ),
        Err(e) => format!("running apt-get: {e}"),
    };
    bail!(
        "cannot download CPython's sources for the C modules: {why} Or place {TARBALL} \
         (sha256 {SHA256}) in {}",
        dir.display()
    )
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Unpacks the wanted part of `Modules/` into `root` (a fresh folder each time, so a half
/// unpacked earlier attempt leaves nothing behind).
fn unpack(tarball: &Path, root: &Path) -> Result<()> {
    eprintln!(
        "vfs-box: unpacking CPython's module sources from {}",
        tarball.display()
    );
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let file =
        std::fs::File::open(tarball).with_context(|| format!("opening {}", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found = 0;
    for entry in archive.entries().context("reading CPython's sources")? {
        let mut entry = entry.context("reading CPython's sources")?;
        let path = entry
            .path()
            .context("a path in CPython's sources")?
            .into_owned();
        let Some(rel) = path.to_str().and_then(|p| p.strip_prefix(TOP)) else {
            continue;
        };
        if WANTED
            .iter()
            .any(|w| rel == *w || (w.ends_with('/') && rel.starts_with(w)))
        {
            let dest = root.join("Modules").join(rel);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            if entry.header().entry_type().is_file() {
                entry
                    .unpack(&dest)
                    .with_context(|| format!("unpacking {}", path.display()))?;
                found += 1;
            }
        }
    }
    if found < WANTED.len() {
        bail!(
            "{}: only {found} of the module sources were found",
            tarball.display()
        );
    }
    Ok(())
}

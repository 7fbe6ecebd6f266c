//! CPython's glue for the C modules (`Modules/zlibmodule.c`, `_bz2module.c`, `_lzmamodule.c`,
//! `_sqlite/`), from Debian bookworm's python3.11 source package.
//!
//! `apt-get source --download-only` fetches it (apt checks each file against the `.dsc`, whose
//! checksums come from the signed `Sources` index); vfs-box then checks the upstream tarball's
//! SHA-256 itself, on every build, and unpacks only the glue, once, into the cache. Debian's
//! python3.11 is 3.11.2, the sdist's libpython 3.11.8: the glue uses the stable 3.11 C API and
//! compiles and links against 3.11.8's headers. Two bugs of the 3.11.2 glue that CPython fixed
//! by 3.11.8, and that 3.11.8's own tests (the ones in the box) check, are fixed here as
//! [`FIXES`] (written for this project, each an exact edit that must apply once).

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

/// One edit of the unpacked glue: in `file`, `from` (which must occur exactly once) becomes `to`.
struct Fix {
    file: &'static str,
    from: &'static str,
    to: &'static str,
}

/// Bump with any change to [`FIXES`], so the cache unpacks and edits the sources again.
const FIXES_VERSION: u32 = 1;

/// 3.11.2 → 3.11.8 behaviour the box needs (the tests of the stdlib it carries are 3.11.8's):
/// - `_lzma._decode_filter_properties` of a BCJ filter with empty properties: liblzma leaves
///   no options (NULL) and 3.11.2 reads `start_offset` through the NULL pointer (a crash
///   natively; in wasm a read of address 0, which returned a bogus `start_offset: 0`).
///   CPython's fix (gh-104282, in 3.11.8) checks for NULL; so does this one.
/// - `sqlite3.Connection.blobopen(table, column, row)` took the row id as a C `int`, so any
///   row id over 2³¹ raised OverflowError (gh-100370); SQLite's row ids are 64-bit.
const FIXES: &[Fix] = &[
    Fix {
        file: "_lzmamodule.c",
        from: "            lzma_options_bcj *options = f->options;\n            ADD_FIELD(options, start_offset);",
        to: "            lzma_options_bcj *options = f->options;\n            if (options != NULL) {\n                ADD_FIELD(options, start_offset);\n            }",
    },
    Fix {
        file: "_sqlite/clinic/connection.c.h",
        from: "              int row, int readonly, const char *name);",
        to: "              sqlite_int64 row, int readonly, const char *name);",
    },
    Fix {
        file: "_sqlite/clinic/connection.c.h",
        from: "    int row;\n",
        to: "    sqlite_int64 row;\n",
    },
    Fix {
        file: "_sqlite/clinic/connection.c.h",
        from: "    row = _PyLong_AsInt(args[2]);",
        // util.c's converter: OverflowError only outside SQLite's 64-bit range, -1 with an
        // exception set on error, as `_PyLong_AsInt`.
        to: "    row = _pysqlite_long_as_int64(args[2]);",
    },
    Fix {
        file: "_sqlite/connection.c",
        from: "              int row, int readonly, const char *name)\n/*[clinic end generated code",
        to: "              sqlite_int64 row, int readonly, const char *name)\n/*[clinic end generated code",
    },
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
    let root = dir.join(format!("{}-fixes{FIXES_VERSION}", &SHA256[..16]));
    let modules = root.join("Modules");
    let marker = root.join("unpacked");
    if !marker.is_file() {
        unpack(&tarball, &root)?;
        apply_fixes(&modules)?;
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

fn apply_fixes(modules: &Path) -> Result<()> {
    for fix in FIXES {
        let path = modules.join(fix.file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let found = text.matches(fix.from).count();
        if found != 1 {
            bail!(
                "{}: the text a fix replaces occurs {found} times, not once: {:?}",
                path.display(),
                fix.from
            );
        }
        std::fs::write(&path, text.replacen(fix.from, fix.to, 1))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
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

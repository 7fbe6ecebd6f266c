//! `pack` (directory or layer tar → image) and `squash` (layers → one image).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vfs_image::host::{
    import_tar, pack_dir_with, write_image, Compression, Overrides, PackOptions, PackProgress,
};
use vfs_image::{squash_tree, ImageBuilder};

/// Arguments of `vfs-image pack`.
#[derive(Args, Debug)]
pub struct PackArgs {
    /// The directory to pack.
    #[arg(required_unless_present = "from_tar", conflicts_with = "from_tar")]
    dir: Option<PathBuf>,
    /// Import an OCI/Docker layer tar instead of a directory (`.wh.` whiteouts and
    /// `.wh..wh..opq` opaque markers become the image's own).
    #[arg(long, value_name = "LAYER.tar")]
    from_tar: Option<PathBuf>,
    /// Output image file.
    #[arg(short, long, value_name = "OUT.vfs")]
    output: PathBuf,
    /// Pin atime, mtime and ctime of every entry to this many seconds since the epoch
    /// (default: $SOURCE_DATE_EPOCH if set, else the real times).
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    mtime: Option<i64>,
    /// Leave out paths matching this glob (repeatable). Without `/` it matches a name at any
    /// depth (`__pycache__`, `*.pyc`); with `/` the path relative to DIR (`test/*`, `**/tests`).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Store this owner for every entry instead of the real one.
    #[arg(long, value_name = "UID:GID", value_parser = parse_owner)]
    owner: Option<(u32, u32)>,
    /// Record each entry's real atime and ctime (default: both equal the mtime, so packing
    /// the same tree twice gives the same bytes).
    #[arg(long)]
    keep_atime_ctime: bool,
    /// Store file contents compressed, in 128 KiB chunks: `zstd` (level 19: smallest),
    /// `zstd:LEVEL` (1-22), `lz4` (LZ4 HC level 12: fastest to read), `lz4:LEVEL` (3-12), or
    /// `none` to keep every file raw and readable in place (format 1.0).
    #[arg(long, value_name = "CODEC[:LEVEL]|none", default_value = "none")]
    compress: Compression,
}

fn parse_owner(s: &str) -> Result<(u32, u32), String> {
    let (u, g) = s.split_once(':').ok_or("expected UID:GID, e.g. 0:0")?;
    let u = u.parse().map_err(|_| format!("bad uid {u:?}"))?;
    let g = g.parse().map_err(|_| format!("bad gid {g:?}"))?;
    Ok((u, g))
}

/// `--mtime`, else `SOURCE_DATE_EPOCH` (reproducible-builds.org), else none.
fn pinned_mtime(flag: Option<i64>) -> Result<Option<i64>> {
    if flag.is_some() {
        return Ok(flag);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => {
            let s = v
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not an integer"))?;
            Ok(Some(s))
        }
        _ => Ok(None),
    }
}

pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Creates the output file behind a large buffer (big file contents bypass it).
fn create(path: &std::path::Path) -> Result<std::io::BufWriter<std::fs::File>> {
    let f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(std::io::BufWriter::with_capacity(1 << 20, f))
}

/// Runs `vfs-image pack`; on failure, removes the partly written output.
pub fn run_pack(a: PackArgs) -> Result<ExitCode> {
    let output = a.output.clone();
    let existed = output.exists();
    let r = pack(a);
    if r.is_err() && !existed {
        let _ = std::fs::remove_file(&output);
    }
    r
}

fn pack(a: PackArgs) -> Result<ExitCode> {
    let overrides = Overrides {
        mtime: pinned_mtime(a.mtime)?,
        owner: a.owner,
    };
    if let Some(tar) = &a.from_tar {
        if !a.exclude.is_empty() {
            bail!("--exclude applies to directories, not to --from-tar");
        }
        let file = std::fs::File::open(tar)
            .with_context(|| format!("cannot open layer tar {}", tar.display()))?;
        let mut b = ImageBuilder::new();
        let report = import_tar(std::io::BufReader::new(file), &mut b, &overrides)
            .with_context(|| format!("importing {}", tar.display()))?;
        for s in &report.skipped {
            eprintln!("vfs-image: warning: {s}: devices and FIFOs are not stored, skipped");
        }
        let size = write_image(&b, a.compress, &mut create(&a.output)?)
            .with_context(|| format!("cannot write {}", a.output.display()))?;
        eprintln!(
            "imported {} tar entries ({} whiteouts, {} opaque dirs) into {} ({})",
            report.entries,
            report.whiteouts,
            report.opaque_dirs,
            a.output.display(),
            human(size)
        );
    } else {
        let dir = a.dir.as_ref().context("missing DIR")?;
        let opts = PackOptions {
            overrides,
            excludes: a.exclude.clone(),
            keep_atime_ctime: a.keep_atime_ctime,
            compression: a.compress,
        };
        // The bar appears only if packing takes more than a moment, and only on a terminal
        // (indicatif hides itself otherwise).
        let bar = ProgressBar::hidden();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos} entries, {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let start = Instant::now();
        let mut shown = false;
        let mut on_progress = |p: PackProgress| {
            if !shown && start.elapsed() > Duration::from_millis(300) {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                shown = true;
            }
            if shown && p.entries.is_multiple_of(64) {
                bar.set_position(p.entries);
                bar.set_message(human(p.bytes));
            }
        };
        let mut out = create(&a.output)?;
        let (report, size) = pack_dir_with(dir, &opts, &mut on_progress, &mut out)
            .with_context(|| format!("packing {} into {}", dir.display(), a.output.display()))?;
        bar.finish_and_clear();
        for s in &report.skipped {
            eprintln!(
                "vfs-image: warning: {}: sockets, FIFOs and devices are not stored, skipped",
                s.display()
            );
        }
        eprintln!(
            "packed {} files, {} dirs, {} symlinks, {} hard links ({} of contents, {} excluded) into {} ({}) in {:.2?}",
            report.files,
            report.dirs,
            report.symlinks,
            report.hardlinks,
            human(report.bytes),
            report.excluded,
            a.output.display(),
            human(size),
            start.elapsed()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `vfs-image squash`.
#[derive(Args, Debug)]
pub struct SquashArgs {
    /// The lowest layer.
    lower: PathBuf,
    /// Layers on top of it, lowest first.
    #[arg(required = true)]
    upper: Vec<PathBuf>,
    /// Output image file.
    #[arg(short, long, value_name = "OUT.vfs")]
    output: PathBuf,
    /// Store file contents compressed (`zstd[:LEVEL]`, `lz4[:LEVEL]`) or raw (`none`), as in
    /// `pack`.
    #[arg(long, value_name = "CODEC[:LEVEL]|none", default_value = "none")]
    compress: Compression,
}

/// Runs `vfs-image squash`.
pub fn run_squash(a: SquashArgs) -> Result<ExitCode> {
    let paths: Vec<PathBuf> = std::iter::once(a.lower).chain(a.upper).collect();
    let files = paths
        .iter()
        .map(|p| crate::read_image(p))
        .collect::<Result<Vec<_>>>()?;
    let images = paths
        .iter()
        .zip(&files)
        .map(|(p, b)| crate::open_image(p, b))
        .collect::<Result<Vec<_>>>()?;
    let tree = squash_tree(&images).context("squashing layers")?;
    let mut bytes = Vec::new();
    write_image(&tree, a.compress, &mut bytes).context("laying out the squashed image")?;
    std::fs::write(&a.output, &bytes)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    eprintln!(
        "squashed {} layers into {} ({})",
        images.len(),
        a.output.display(),
        human(bytes.len() as u64)
    );
    Ok(ExitCode::SUCCESS)
}

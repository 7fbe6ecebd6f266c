//! Packing a host directory: a sorted walk that records every file, directory, symlink and hard
//! link with its mode, owner and nanosecond times, then one deterministic `finish`.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::{ns_from, Compression, HostError, Overrides};
use crate::{ImageBuilder, Meta};

/// Options of [`pack_dir`].
#[derive(Clone, Debug, Default)]
pub struct PackOptions {
    /// Pinned times and owner.
    pub overrides: Overrides,
    /// Glob patterns of paths to leave out (relative to the packed directory, `/`-separated).
    /// A pattern without `/` matches a name at any depth (`__pycache__`, `*.pyc`); a pattern
    /// with `/` matches the whole relative path (`test/*`, `**/tests`). `*` does not cross `/`,
    /// `**` does. An excluded directory is left out with everything below it.
    pub excludes: Vec<String>,
    /// Record each node's own atime and ctime. Off by default: reading a file for packing may
    /// change its atime and ctime cannot be restored, so by default both are set to the mtime,
    /// which keeps repeated packs of the same tree byte-identical.
    pub keep_atime_ctime: bool,
    /// How file contents are stored: raw (the default) or compressed (format 1.1).
    pub compression: Compression,
}

/// What a pack found: counts, and entries it could not store.
#[derive(Clone, Debug, Default)]
pub struct PackReport {
    /// Regular files (inodes).
    pub files: u64,
    /// Directories, root included.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Extra names of hard-linked files.
    pub hardlinks: u64,
    /// Bytes of file contents read.
    pub bytes: u64,
    /// Paths excluded by a pattern.
    pub excluded: u64,
    /// Sockets, FIFOs and devices, which the format does not hold.
    pub skipped: Vec<PathBuf>,
}

/// Progress of a pack, passed to the callback of [`pack_dir_with`] after each file.
#[derive(Clone, Copy, Debug, Default)]
pub struct PackProgress {
    /// Entries done.
    pub entries: u64,
    /// Bytes of file contents read.
    pub bytes: u64,
}

struct Excludes {
    full: GlobSet,
    base: GlobSet,
}

impl Excludes {
    fn new(patterns: &[String]) -> Result<Excludes, HostError> {
        let (mut full, mut base) = (GlobSetBuilder::new(), GlobSetBuilder::new());
        for p in patterns {
            let trimmed = p.trim_start_matches("./").trim_start_matches('/');
            let glob = GlobBuilder::new(trimmed)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| HostError::Glob(format!("{p}: {e}")))?;
            if trimmed.contains('/') {
                full.add(glob);
            } else {
                base.add(glob);
            }
        }
        let build = |b: GlobSetBuilder| b.build().map_err(|e| HostError::Glob(e.to_string()));
        Ok(Excludes {
            full: build(full)?,
            base: build(base)?,
        })
    }

    fn matches(&self, rel: &[u8], name: &[u8]) -> bool {
        // globset matches on paths; non-UTF-8 bytes are matched lossily, which only matters
        // for patterns that spell out such bytes.
        let rel = String::from_utf8_lossy(rel);
        let name = String::from_utf8_lossy(name);
        self.full.is_match(rel.as_ref()) || self.base.is_match(name.as_ref())
    }
}

fn meta_of(md: &fs::Metadata, opts: &PackOptions) -> Meta {
    let mtime = ns_from(md.mtime(), md.mtime_nsec());
    let (atime, ctime) = if opts.keep_atime_ctime {
        (
            ns_from(md.atime(), md.atime_nsec()),
            ns_from(md.ctime(), md.ctime_nsec()),
        )
    } else {
        (mtime, mtime)
    };
    let m = Meta {
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        atime_ns: atime,
        mtime_ns: mtime,
        ctime_ns: ctime,
    };
    opts.overrides.apply(m)
}

/// Packs the directory `root` into an image (like `mksquashfs DIR OUT`). See [`PackOptions`].
pub fn pack_dir(root: &Path, opts: &PackOptions) -> Result<Vec<u8>, HostError> {
    let (builder, _) = build_dir(root, opts, &mut |_| {})?;
    let mut out = Vec::new();
    write_image(&builder, opts.compression, &mut out)?;
    Ok(out)
}

/// Packs `root` and streams the image into `out` (no second copy of the image in memory),
/// reporting progress while files are read. Returns what was found and the image size.
pub fn pack_dir_with(
    root: &Path,
    opts: &PackOptions,
    progress: &mut dyn FnMut(PackProgress),
    out: &mut dyn Write,
) -> Result<(PackReport, u64), HostError> {
    let (builder, report) = build_dir(root, opts, progress)?;
    let size = write_image(&builder, opts.compression, out)?;
    Ok((report, size))
}

/// Finishes `builder` into `out`, storing contents as `compression` says, keeping the I/O
/// error if the writer fails.
pub fn write_image(
    builder: &ImageBuilder,
    compression: Compression,
    out: &mut dyn Write,
) -> Result<u64, HostError> {
    let mut io_error = None;
    let packer = compression.packer();
    let packer = packer.as_ref().map(|p| p as &dyn crate::Packer);
    let r = builder.finish_packed(packer, &mut |b| {
        out.write_all(b).map_err(|e| {
            io_error = Some(e);
            crate::Error::Output
        })
    });
    let r = r.and_then(|size| {
        out.flush().map_err(|e| {
            io_error = Some(e);
            crate::Error::Output
        })?;
        Ok(size)
    });
    match (r, io_error) {
        (Ok(size), _) => Ok(size),
        (Err(_), Some(source)) => Err(HostError::Io {
            path: PathBuf::from("<output>"),
            source,
        }),
        (Err(e), None) => Err(e.into()),
    }
}

/// What the walk found at one path, in walk order; file contents are read afterwards.
enum Item {
    Dir(Vec<u8>, Meta),
    File(Vec<u8>, Meta, PathBuf),
    Symlink(Vec<u8>, Meta, Vec<u8>),
    Hardlink(Vec<u8>, Vec<u8>),
}

/// Reads the files `paths` with a few threads (the cost is in the kernel's copies and page
/// faults, which do run in parallel), calling `done` on the calling thread as each finishes.
fn read_files(
    paths: &[&Path],
    done: &mut dyn FnMut(usize, u64),
) -> Result<Vec<(Vec<u8>, u128)>, HostError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<(Vec<u8>, u128)>> = vec![None; paths.len()];
    std::thread::scope(|s| -> Result<(), HostError> {
        let (tx, rx) = mpsc::channel::<(usize, std::io::Result<(Vec<u8>, u128)>)>();
        for _ in 0..threads {
            let (tx, next) = (tx.clone(), &next);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = paths.get(i) else { break };
                // Hash here, in parallel, so `finish` does not have to (dedup key).
                let r = fs::read(p).map(|d| {
                    let h = xxhash_rust::xxh3::xxh3_128(&d);
                    (d, h)
                });
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            let data = r.map_err(|source| HostError::Io {
                path: paths[i].to_path_buf(),
                source,
            });
            let data = match data {
                Ok(d) => d,
                Err(e) => {
                    // Make the workers stop early, then report.
                    next.store(usize::MAX / 2, Ordering::Relaxed);
                    return Err(e);
                }
            };
            done(i, data.0.len() as u64);
            slots[i] = Some(data);
        }
        Ok(())
    })?;
    Ok(slots.into_iter().map(Option::unwrap_or_default).collect())
}

/// Walks `root` into an [`ImageBuilder`] without finishing it (callers may add more).
pub fn build_dir(
    root: &Path,
    opts: &PackOptions,
    progress: &mut dyn FnMut(PackProgress),
) -> Result<(ImageBuilder, PackReport), HostError> {
    let excludes = Excludes::new(&opts.excludes)?;
    let md = fs::metadata(root).map_err(HostError::io(root))?;
    if !md.is_dir() {
        return Err(HostError::Io {
            path: root.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let mut report = PackReport {
        dirs: 1,
        ..PackReport::default()
    };
    let root_meta = meta_of(&md, opts);
    let mut items = Vec::new();
    // First relative path of each multiply-linked inode, keyed by (device, inode).
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    // Depth-first; children visited in byte order so hard links resolve to the same first name
    // on every run.
    let mut stack: Vec<(PathBuf, Vec<u8>)> = vec![(root.to_path_buf(), Vec::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut entries: Vec<fs::DirEntry> = fs::read_dir(&dir)
            .map_err(HostError::io(&dir))?
            .collect::<Result<_, _>>()
            .map_err(HostError::io(&dir))?;
        entries.sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
        let mut subdirs = Vec::new();
        for e in entries {
            let name = e.file_name();
            let name = name.as_bytes();
            let mut p = rel.clone();
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(name);
            if excludes.matches(&p, name) {
                report.excluded += 1;
                continue;
            }
            let path = e.path();
            let md = fs::symlink_metadata(&path).map_err(HostError::io(&path))?;
            let meta = meta_of(&md, opts);
            let ft = md.file_type();
            if ft.is_dir() {
                items.push(Item::Dir(p.clone(), meta));
                report.dirs += 1;
                subdirs.push((path, p));
                continue;
            }
            if !(ft.is_file() || ft.is_symlink()) {
                report.skipped.push(path);
                continue;
            }
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    items.push(Item::Hardlink(p, first.clone()));
                    report.hardlinks += 1;
                    continue;
                }
                links.insert((md.dev(), md.ino()), p.clone());
            }
            if ft.is_symlink() {
                let target = fs::read_link(&path).map_err(HostError::io(&path))?;
                items.push(Item::Symlink(p, meta, target.into_os_string().into_vec()));
                report.symlinks += 1;
            } else {
                items.push(Item::File(p, meta, path));
                report.files += 1;
            }
        }
        // Reverse so the stack pops them in sorted order.
        stack.extend(subdirs.into_iter().rev());
    }

    let paths: Vec<&Path> = items
        .iter()
        .filter_map(|i| match i {
            Item::File(_, _, path) => Some(path.as_path()),
            _ => None,
        })
        .collect();
    let mut prog = PackProgress::default();
    let mut contents = read_files(&paths, &mut |_, len| {
        prog.entries += 1;
        prog.bytes += len;
        progress(prog);
    })?
    .into_iter();
    report.bytes = prog.bytes;

    let mut b = ImageBuilder::new();
    b.add_dir(b"", root_meta)?;
    for item in items {
        match item {
            Item::Dir(p, meta) => b.add_dir(&p, meta)?,
            Item::File(p, meta, _) => {
                let (data, hash) = contents.next().unwrap_or_default();
                b.add_file_hashed(&p, meta, data, hash)?
            }
            Item::Symlink(p, meta, target) => b.add_symlink(&p, meta, &target)?,
            Item::Hardlink(p, first) => b.add_hardlink(&p, &first)?,
        };
    }
    Ok((b, report))
}

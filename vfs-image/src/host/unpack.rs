//! Unpacking an image into a host directory: files, directories, symlinks and hard links, with
//! modes and times restored (and owners, when asked and permitted).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use filetime::FileTime;

use super::HostError;
use crate::{Image, Kind, Node};

/// Options of [`unpack`].
#[derive(Clone, Copy, Debug, Default)]
pub struct UnpackOptions {
    /// Restore uid/gid too (POSIX `lchown`; usually needs root).
    pub same_owner: bool,
}

/// What an unpack wrote.
#[derive(Clone, Debug, Default)]
pub struct UnpackReport {
    /// Regular files written.
    pub files: u64,
    /// Directories created (the destination itself not counted).
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Hard links created.
    pub hardlinks: u64,
    /// Whiteouts, which have no host representation and are left out.
    pub whiteouts: u64,
}

fn filetime(ns: i64) -> FileTime {
    FileTime::from_unix_time(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
}

fn set_times(path: &Path, node: &Node, symlink: bool) -> Result<(), HostError> {
    let (a, m) = (filetime(node.atime_ns()), filetime(node.mtime_ns()));
    if symlink {
        filetime::set_symlink_file_times(path, a, m)
    } else {
        filetime::set_file_times(path, a, m)
    }
    .map_err(HostError::io(path))
}

fn chown(path: &Path, node: &Node, opts: &UnpackOptions) -> Result<(), HostError> {
    if opts.same_owner {
        std::os::unix::fs::lchown(path, Some(node.uid()), Some(node.gid()))
            .map_err(HostError::io(path))?;
    }
    Ok(())
}

/// Writes the tree of `image` under `dest` (created if missing; existing entries are not
/// overwritten: a clash is an error). Like `tar -x` of the image's contents.
pub fn unpack(
    image: &Image<'_>,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport, HostError> {
    fs::create_dir_all(dest).map_err(HostError::io(dest))?;
    let mut report = UnpackReport::default();
    let mut first_name: HashMap<u32, PathBuf> = HashMap::new();
    // Directories are created writable first and get their real mode and times at the end,
    // deepest first, so writing their contents neither fails on a read-only mode nor bumps
    // their restored mtime.
    let mut dirs: Vec<(PathBuf, Node)> = vec![(dest.to_path_buf(), image.root())];
    let mut next = 0;
    while let Some((dir_path, dir)) = dirs.get(next).cloned() {
        next += 1;
        for e in image.read_dir(&dir, 0)? {
            let e = e?;
            // Names are validated by the reader: no '/', not '.' or '..', so `join` stays
            // inside `dir_path`; and we only ever descend into directories we created.
            let path = dir_path.join(OsStr::from_bytes(e.name));
            let node = e.node;
            match node.kind() {
                Kind::Dir => {
                    fs::create_dir(&path).map_err(HostError::io(&path))?;
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o700))
                        .map_err(HostError::io(&path))?;
                    report.dirs += 1;
                    dirs.push((path, node));
                }
                Kind::Whiteout => report.whiteouts += 1,
                Kind::File | Kind::Symlink => {
                    if let Some(first) = first_name.get(&node.ino()) {
                        fs::hard_link(first, &path).map_err(HostError::io(&path))?;
                        report.hardlinks += 1;
                        continue;
                    }
                    if node.kind() == Kind::File {
                        let mut f = fs::File::create_new(&path).map_err(HostError::io(&path))?;
                        f.write_all(&image.read_file(&node)?)
                            .map_err(HostError::io(&path))?;
                        drop(f);
                        chown(&path, &node, opts)?;
                        fs::set_permissions(&path, fs::Permissions::from_mode(node.mode()))
                            .map_err(HostError::io(&path))?;
                        set_times(&path, &node, false)?;
                        report.files += 1;
                    } else {
                        let target = OsStr::from_bytes(image.symlink_target(&node)?);
                        std::os::unix::fs::symlink(target, &path).map_err(HostError::io(&path))?;
                        chown(&path, &node, opts)?;
                        set_times(&path, &node, true)?;
                        report.symlinks += 1;
                    }
                    if node.nlink() > 1 {
                        first_name.insert(node.ino(), path);
                    }
                }
            }
        }
    }
    for (path, node) in dirs.iter().rev() {
        chown(path, node, opts)?;
        fs::set_permissions(path, fs::Permissions::from_mode(node.mode()))
            .map_err(HostError::io(path))?;
        set_times(path, node, false)?;
    }
    Ok(report)
}

//! Looking inside one image: `ls`, `cat`, `stat`, `unpack`.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use vfs_image::host::{unpack, UnpackOptions};
use vfs_image::{Image, Kind, Node};

use crate::time::{format_ns, format_short};

/// Arguments of `vfs-image ls`.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Long listing: type and mode, links, owner, size, mtime, name, symlink target.
    #[arg(short = 'l')]
    long: bool,
    /// List subdirectories recursively (paths relative to PATH).
    #[arg(short = 'R')]
    recursive: bool,
    /// The image.
    image: PathBuf,
    /// Directory (or file) inside the image.
    #[arg(default_value = "/")]
    path: PathBuf,
}

/// Arguments of `vfs-image cat`.
#[derive(Args, Debug)]
pub struct CatArgs {
    /// The image.
    image: PathBuf,
    /// Regular file inside the image.
    path: PathBuf,
}

/// Arguments of `vfs-image stat`.
#[derive(Args, Debug)]
pub struct StatArgs {
    /// The image.
    image: PathBuf,
    /// Path inside the image (not followed if a symlink).
    path: PathBuf,
}

/// Arguments of `vfs-image unpack`.
#[derive(Args, Debug)]
pub struct UnpackArgs {
    /// The image.
    image: PathBuf,
    /// Destination directory (created if missing; existing entries are not overwritten).
    dir: PathBuf,
    /// Restore owners too (needs privileges).
    #[arg(long)]
    same_owner: bool,
}

fn resolve(img: &Image<'_>, path: &Path) -> Result<Node> {
    let p = path.as_os_str().as_bytes();
    img.resolve(p)?
        .with_context(|| format!("{}: no such file or directory in the image", path.display()))
}

/// `drwxr-xr-x`-style type and permission string (a whiteout shows as `c`, like overlayfs).
fn mode_string(n: &Node) -> String {
    let t = match n.kind() {
        Kind::File => '-',
        Kind::Dir => 'd',
        Kind::Symlink => 'l',
        Kind::Whiteout => 'c',
    };
    let m = n.mode();
    let mut s = String::with_capacity(10);
    s.push(t);
    for (shift, special, on, off) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (m >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, m & special != 0) {
            (true, true) => on,
            (false, true) => off,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn print_entry(
    out: &mut impl Write,
    img: &Image<'_>,
    name: &[u8],
    n: &Node,
    long: bool,
) -> Result<()> {
    let mut line = String::new();
    if long {
        line.push_str(&format!(
            "{} {:>3} {:>5} {:>5} {:>9} {} ",
            mode_string(n),
            n.nlink(),
            n.uid(),
            n.gid(),
            n.size(),
            format_short(n.mtime_ns())
        ));
    }
    line.push_str(&show(name));
    if long {
        match n.kind() {
            Kind::Symlink => line.push_str(&format!(" -> {}", show(img.symlink_target(n)?))),
            Kind::Whiteout => line.push_str(" (whiteout)"),
            Kind::Dir if n.is_opaque() => line.push_str(" (opaque)"),
            _ => {}
        }
    }
    writeln!(out, "{line}")?;
    Ok(())
}

/// Runs `vfs-image ls`.
pub fn run_ls(a: LsArgs) -> Result<ExitCode> {
    let bytes = crate::read_image(&a.image)?;
    let img = crate::open_image(&a.image, &bytes)?;
    let node = resolve(&img, &a.path)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if node.kind() != Kind::Dir {
        print_entry(&mut out, &img, a.path.as_os_str().as_bytes(), &node, a.long)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    // Depth-first in name order, with an explicit stack (the reader guarantees termination).
    let mut stack: Vec<(Vec<u8>, Node)> = vec![(Vec::new(), node)];
    while let Some((prefix, dir)) = stack.pop() {
        let mut subdirs = Vec::new();
        for e in img.read_dir(&dir, 0)? {
            let e = e?;
            let mut name = prefix.clone();
            name.extend_from_slice(e.name);
            print_entry(&mut out, &img, &name, &e.node, a.long)?;
            if a.recursive && e.node.kind() == Kind::Dir {
                let mut p = name;
                p.push(b'/');
                subdirs.push((p, e.node));
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `vfs-image cat`.
pub fn run_cat(a: CatArgs) -> Result<ExitCode> {
    let bytes = crate::read_image(&a.image)?;
    let img = crate::open_image(&a.image, &bytes)?;
    let node = resolve(&img, &a.path)?;
    match node.kind() {
        Kind::File => {}
        Kind::Dir => bail!("{}: is a directory", a.path.display()),
        Kind::Symlink => bail!(
            "{}: is a symlink to {:?} (cat does not follow symlinks)",
            a.path.display(),
            show(img.symlink_target(&node)?)
        ),
        Kind::Whiteout => bail!("{}: is a whiteout", a.path.display()),
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&img.read_file(&node)?)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `vfs-image stat`.
pub fn run_stat(a: StatArgs) -> Result<ExitCode> {
    let bytes = crate::read_image(&a.image)?;
    let img = crate::open_image(&a.image, &bytes)?;
    let n = resolve(&img, &a.path)?;
    let kind = match n.kind() {
        Kind::File => "regular file",
        Kind::Dir => "directory",
        Kind::Symlink => "symbolic link",
        Kind::Whiteout => "whiteout",
    };
    outln!("  Path: {}", a.path.display());
    if n.kind() == Kind::Symlink {
        outln!("Target: {}", show(img.symlink_target(&n)?));
    }
    outln!(
        "  Type: {kind}{}",
        if n.is_opaque() { " (opaque)" } else { "" }
    );
    outln!("  Size: {}", n.size());
    outln!(" Inode: {}", n.ino());
    outln!(" Links: {}", n.nlink());
    outln!(
        "Access: ({:04o}/{})  Uid: {}  Gid: {}",
        n.mode(),
        mode_string(&n),
        n.uid(),
        n.gid()
    );
    outln!(
        "Access: {} UTC ({} ns)",
        format_ns(n.atime_ns()),
        n.atime_ns()
    );
    outln!(
        "Modify: {} UTC ({} ns)",
        format_ns(n.mtime_ns()),
        n.mtime_ns()
    );
    outln!(
        "Change: {} UTC ({} ns)",
        format_ns(n.ctime_ns()),
        n.ctime_ns()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `vfs-image unpack`.
pub fn run_unpack(a: UnpackArgs) -> Result<ExitCode> {
    let bytes = crate::read_image(&a.image)?;
    let img = crate::open_image(&a.image, &bytes)?;
    let r = unpack(
        &img,
        &a.dir,
        &UnpackOptions {
            same_owner: a.same_owner,
        },
    )
    .with_context(|| format!("unpacking into {}", a.dir.display()))?;
    eprintln!(
        "unpacked {} files, {} dirs, {} symlinks, {} hard links into {}{}",
        r.files,
        r.dirs,
        r.symlinks,
        r.hardlinks,
        a.dir.display(),
        if r.whiteouts > 0 {
            format!(" ({} whiteouts not representable, skipped)", r.whiteouts)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

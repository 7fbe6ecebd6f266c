//! A tour of `vfs-core`: builds a small tree, shows unlink-while-open, stable readdir cookies
//! and a lock conflict, then prints the tree. Run: `cargo run -p vfs-core --example demo`.

use vfs_core::{Access, Config, Errno, FdFlags, FileType, FlockOp, Fs, OFlags};

fn main() -> Result<(), Errno> {
    let mut fs = Fs::new(Config::default());
    let root = fs.open_root()?;
    fs.mkdir(root, b"/etc", 0o755)?;
    fs.mkdir(root, b"/home", 0o755)?;
    let fd = fs.open(
        root,
        b"/etc/motd",
        true,
        OFlags::CREAT,
        Access::ReadWrite,
        FdFlags::empty(),
        0o644,
    )?;
    fs.write(fd, b"hello from an in-memory filesystem\n")?;
    fs.symlink(b"../etc/motd", root, b"/home/motd")?;
    fs.link(root, b"/etc/motd", false, root, b"/home/motd.hard")?;

    let st = fs.stat(root, b"/home/motd", true)?;
    println!(
        "stat /home/motd (follows the symlink): {} bytes, nlink {}",
        st.size, st.nlink
    );

    fs.unlink(root, b"/etc/motd")?;
    fs.unlink(root, b"/home/motd.hard")?;
    let mut buf = [0u8; 64];
    let n = fs.pread(fd, &mut buf, 0)?;
    println!(
        "after unlinking both names, the open fd still reads {:?} (nlink {})",
        String::from_utf8_lossy(&buf[..n]).trim_end(),
        fs.fstat(fd)?.nlink
    );
    fs.close(fd)?;

    let other = fs.open(
        root,
        b"/",
        true,
        OFlags::DIRECTORY,
        Access::Read,
        FdFlags::empty(),
        0,
    )?;
    fs.flock(root, FlockOp::Exclusive)?;
    println!(
        "second flock on / gives {:?}",
        fs.flock(other, FlockOp::Shared).unwrap_err()
    );

    println!("tree:");
    print_tree(&mut fs, root, b"", 1)?;
    println!(
        "{} inodes, {} bytes in use, {} fds open",
        fs.used_inodes(),
        fs.used_bytes(),
        fs.open_fds()
    );
    Ok(())
}

fn print_tree(fs: &mut Fs, root: u32, dir: &[u8], depth: usize) -> Result<(), Errno> {
    let path = if dir.is_empty() {
        b"/".to_vec()
    } else {
        dir.to_vec()
    };
    let d = fs.open(
        root,
        &path,
        true,
        OFlags::DIRECTORY,
        Access::Read,
        FdFlags::empty(),
        0,
    )?;
    let mut entries = Vec::new();
    fs.readdir(d, 2, |e| {
        entries.push((e.name.to_vec(), e.file_type));
        true
    })?;
    fs.close(d)?;
    for (name, ft) in entries {
        let mut p = dir.to_vec();
        p.push(b'/');
        p.extend_from_slice(&name);
        let shown = String::from_utf8_lossy(&name);
        match ft {
            FileType::Directory => {
                println!("{}{shown}/", "  ".repeat(depth));
                print_tree(fs, root, &p, depth + 1)?;
            }
            FileType::Symlink => {
                let t = fs.readlink_vec(root, &p)?;
                println!(
                    "{}{shown} -> {}",
                    "  ".repeat(depth),
                    String::from_utf8_lossy(&t)
                );
            }
            FileType::Regular | FileType::CharDevice | FileType::Fifo => {
                println!("{}{shown}", "  ".repeat(depth))
            }
        }
    }
    Ok(())
}

//! Helpers shared by the integration tests (`mod common;` in each): a filesystem with its
//! root descriptor, and `open(O_CREAT)`, so each test file does not spell them out again.

use vfs_core::{Access, Config, Fd, FdFlags, Fs, OFlags};

/// A filesystem with `config` and a descriptor for its root.
pub fn fs_with(config: Config) -> (Fs, Fd) {
    let mut fs = Fs::new(config);
    let root = fs.open_root().unwrap();
    (fs, root)
}

/// Opens `name` under `dir` read-write, creating it (mode 0o644) if it does not exist.
pub fn create(fs: &mut Fs, dir: Fd, name: impl AsRef<[u8]>) -> Fd {
    fs.open(
        dir,
        name.as_ref(),
        true,
        OFlags::CREAT,
        Access::ReadWrite,
        FdFlags::empty(),
        0o644,
    )
    .unwrap()
}

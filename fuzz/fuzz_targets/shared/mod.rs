//! What `core_ops` and `abi_calls` share: the path generator, the fixed image stack and the
//! small quotas.

use arbitrary::Arbitrary;
use vfs_core::Config;

/// One path component, from a tiny alphabet (plus arbitrary bytes now and then) so that
/// collisions, renames over existing names, symlink loops and deep paths are common.
#[derive(Arbitrary, Debug)]
pub enum Seg {
    A,
    B,
    C,
    Dot,
    DotDot,
    Long,
    Raw(Vec<u8>),
}

/// A path: components joined by `/`, maybe absolute, maybe with a trailing slash.
#[derive(Arbitrary, Debug)]
pub struct P {
    abs: bool,
    segs: Vec<Seg>,
    trailing: bool,
}

impl P {
    pub fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        if self.abs {
            v.push(b'/');
        }
        for (i, s) in self.segs.iter().take(8).enumerate() {
            if i > 0 {
                v.push(b'/');
            }
            match s {
                Seg::A => v.push(b'a'),
                Seg::B => v.push(b'b'),
                Seg::C => v.extend_from_slice(b"cc"),
                Seg::Dot => v.push(b'.'),
                Seg::DotDot => v.extend_from_slice(b".."),
                Seg::Long => v.extend(std::iter::repeat_n(b'x', 256)),
                Seg::Raw(r) => v.extend(r.iter().take(300)),
            }
        }
        if self.trailing {
            v.push(b'/');
        }
        v
    }
}

/// A fixed two-layer image stack (built once) that inputs may mount under the tree, so the
/// lazy loading, copy-up and hard-link paths run too.
pub fn layers() -> &'static [&'static [u8]] {
    static LAYERS: std::sync::OnceLock<Vec<&'static [u8]>> = std::sync::OnceLock::new();
    LAYERS.get_or_init(|| {
        use vfs_image::{ImageBuilder, Meta};
        let m = Meta::with_mode(0o644);
        let mut low = ImageBuilder::new();
        low.add_file(b"a/a", m, b"lower".to_vec()).unwrap();
        low.add_hardlink(b"b/a", b"a/a").unwrap();
        low.add_symlink(b"cc", Meta::with_mode(0o777), b"a/a")
            .unwrap();
        low.add_dir(b"b/b", Meta::with_mode(0o755)).unwrap();
        low.add_file(b"b/cc", m, vec![7; 300]).unwrap();
        let mut up = ImageBuilder::new();
        up.add_whiteout(b"b/cc").unwrap();
        up.add_file(b"a/b", m, b"upper".to_vec()).unwrap();
        up.set_opaque(b"b/b", true).unwrap();
        let low: &'static [u8] = Box::leak(low.finish().unwrap().into_boxed_slice());
        let up: &'static [u8] = Box::leak(up.finish().unwrap().into_boxed_slice());
        vec![low, up]
    })
}

/// Small quotas so that ENOSPC/EMFILE paths run too, and a constant clock.
pub fn small_config() -> Config {
    Config {
        max_bytes: 1 << 20,
        max_inodes: 64,
        max_fds: 16,
        clock: Box::new(|| 7),
        ..Config::default()
    }
}

/// The tree of `config`, over the fixed layers if `mount_layers`.
pub fn fs(mount_layers: bool) -> vfs_core::Fs {
    if mount_layers {
        vfs_core::Fs::with_layers(small_config(), layers()).expect("the fixed layers mount")
    } else {
        vfs_core::Fs::new(small_config())
    }
}

//! Building the guest's filesystem over the image layers embedded in the module.

use vfs_core::{Config, Fs};

/// Creates the filesystem: the embedded `layers` (lowest first) mounted in place by
/// `vfs-core` (O(1): nothing is parsed or copied until a directory is first looked into),
/// under an empty writable upper layer.
pub fn build_fs(config: Config, layers: &[&'static [u8]]) -> Result<Fs, String> {
    Fs::with_layers(config, layers).map_err(|e| format!("mounting {} layer(s): {e}", layers.len()))
}

/// The environment variables through which the host sets the filesystem's limits, each a
/// decimal number: `vfs-runner` sets them from `--max-fs-bytes`, `--max-inodes` and
/// `--max-fds`, and any other WASI host can set them the same way (`wasmtime run --env`,
/// `node:wasi`'s `env`).
pub const LIMIT_VARS: [&str; 3] = ["VFS_MAX_FS_BYTES", "VFS_MAX_INODES", "VFS_MAX_FDS"];

/// The values of `name` in a WASI environment block (`NAME=VALUE` entries separated by NULs,
/// as `environ_get` writes them), in order; a name may occur more than once.
pub fn env_values<'a>(environ: &'a [u8], name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    environ
        .split(|&b| b == 0)
        .filter_map(move |var| var.strip_prefix(name.as_bytes())?.strip_prefix(b"="))
}

/// The limits a host set for the filesystem ([`LIMIT_VARS`]); `None` keeps the filesystem's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostLimits {
    /// `VFS_MAX_FS_BYTES`: `Config::max_bytes`.
    pub max_bytes: Option<u64>,
    /// `VFS_MAX_INODES`: `Config::max_inodes`.
    pub max_inodes: Option<u64>,
    /// `VFS_MAX_FDS`: `Config::max_fds`.
    pub max_fds: Option<u32>,
}

impl HostLimits {
    /// Reads the limits from a WASI environment block, with a note for each value ignored.
    ///
    /// A variable given more than once counts at its smallest value, so an entry added to the
    /// environment a host chose (a user's `--env`) can lower a limit the host set but never
    /// raise it. A value that is not a decimal number is ignored, which can only leave a lower
    /// limit set by another entry or the filesystem's default in force.
    pub fn from_environ(environ: &[u8]) -> (HostLimits, Vec<String>) {
        let mut notes = Vec::new();
        let mut smallest = |name: &str| -> Option<u64> {
            env_values(environ, name)
                .filter_map(|v| {
                    let n = core::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok());
                    if n.is_none() {
                        notes.push(format!(
                            "ignoring {name}={:?}: not a decimal number",
                            String::from_utf8_lossy(v)
                        ));
                    }
                    n
                })
                .min()
        };
        let [bytes, inodes, fds] = LIMIT_VARS;
        let limits = HostLimits {
            max_bytes: smallest(bytes),
            max_inodes: smallest(inodes),
            max_fds: smallest(fds).map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        };
        (limits, notes)
    }

    /// Sets these limits on `fs`, leaving those that are `None` as they are, with a note for
    /// each one raised. A byte or inode limit below what `fs` already holds (a pre-initialized
    /// box's snapshot wrote files before the run's host chose its limits) becomes exactly what
    /// it holds: nothing more can be written, as the host meant, and what is there stays.
    pub fn apply(&self, fs: &mut Fs) -> Vec<String> {
        let mut notes = Vec::new();
        let mut at_least = |name: &str, asked: u64, used: u64| {
            if asked < used {
                notes.push(format!(
                    "{name}={asked} is below the {used} the filesystem already holds: using {used}"
                ));
            }
            asked.max(used)
        };
        let [bytes, inodes, _] = LIMIT_VARS;
        let config = fs.config();
        let max_bytes = self.max_bytes.unwrap_or(config.max_bytes);
        let max_inodes = self.max_inodes.unwrap_or(config.max_inodes);
        let max_fds = self.max_fds.unwrap_or(config.max_fds);
        let max_bytes = at_least(bytes, max_bytes, fs.used_bytes());
        let max_inodes = at_least(inodes, max_inodes, fs.used_inodes());
        if fs.set_limits(max_bytes, max_inodes, max_fds).is_err() {
            notes.push("the filesystem refused the limits".to_owned());
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_from_the_environment() {
        let env = b"A=1\0VFS_MAX_FS_BYTES=5000\0VFS_MAX_FDS=64\0VFS_MAX_FS_BYTESX=1\0\
                    VFS_MAX_FS_BYTES=9000\0VFS_MAX_INODES=lots\0VFS_MAX_INODES=7\0";
        let (limits, notes) = HostLimits::from_environ(env);
        // The smallest of two values wins: a second entry cannot raise the first.
        assert_eq!(
            limits,
            HostLimits {
                max_bytes: Some(5000),
                max_inodes: Some(7),
                max_fds: Some(64),
            }
        );
        assert_eq!(
            notes,
            ["ignoring VFS_MAX_INODES=\"lots\": not a decimal number"]
        );
        assert_eq!(HostLimits::from_environ(b"").0, HostLimits::default());
    }

    #[test]
    fn limits_applied_never_below_what_is_held() {
        let mut fs = build_fs(Config::default(), &[]).unwrap();
        let root = fs.open_root().unwrap();
        fs.symlink(b"12345", root, b"l").unwrap();
        let limits = HostLimits {
            max_bytes: Some(2),
            max_inodes: None,
            max_fds: Some(40),
        };
        assert_eq!(
            limits.apply(&mut fs),
            ["VFS_MAX_FS_BYTES=2 is below the 5 the filesystem already holds: using 5"]
        );
        assert_eq!(fs.config().max_bytes, 5);
        assert_eq!(fs.config().max_inodes, Config::default().max_inodes);
        assert_eq!(fs.config().max_fds, 40);
        assert_eq!(fs.symlink(b"x", root, b"m"), Err(vfs_core::Errno::ENOSPC));
    }
}

//! Building the guest's filesystem over the image layers embedded in the module.

use vfs_core::{Config, Fs};

/// Creates the filesystem: the embedded `layers` (lowest first) mounted in place by
/// `vfs-core` (O(1): nothing is parsed or copied until a directory is first looked into),
/// under an empty writable upper layer.
pub fn build_fs(config: Config, layers: &[&'static [u8]]) -> Result<Fs, String> {
    Fs::with_layers(config, layers).map_err(|e| format!("mounting {} layer(s): {e}", layers.len()))
}

//! Building the guest's filesystem over the image layers embedded in the module.

use vfs_core::{Config, Fs};

/// Creates the filesystem: the embedded `layers` (lowest first) read in place, under an empty
/// writable upper layer.
pub fn build_fs(config: Config, layers: &[&'static [u8]]) -> Result<Fs, String> {
    if layers.is_empty() {
        return Ok(Fs::new(config));
    }
    Err(format!(
        "{} embedded layer(s), but this vfs-core cannot mount image layers yet",
        layers.len()
    ))
}

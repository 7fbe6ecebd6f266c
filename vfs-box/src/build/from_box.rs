//! Reading a box built before: its layers (for `FROM ./other.wasm` and `vfs-box inspect`) and its
//! run configuration, the top-most [`CONFIG_PATH`] in its layers.

use std::path::Path;

use anyhow::{Context, Result};
use vfs_image::boxconfig::{BoxConfig, CONFIG_PATH};
use vfs_image::{Image, Overlay};

/// The layers of the box at `path`, bottom first.
pub fn layers(path: &Path) -> Result<Vec<Vec<u8>>> {
    let module = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    vfs_image::embed::layers(&module).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The merged view of `layers` (bottom first).
pub fn overlay(layers: &[impl AsRef<[u8]>]) -> Result<Overlay<'_>> {
    let images = layers
        .iter()
        .enumerate()
        .map(|(i, l)| Image::open(l.as_ref()).with_context(|| format!("layer {i}")))
        .collect::<Result<Vec<_>>>()?;
    Ok(Overlay::new(images))
}

/// The regular file at `path` in `layers`' merged view, if there is one.
pub fn read_file(layers: &[impl AsRef<[u8]>], path: &str) -> Result<Option<Vec<u8>>> {
    let o = overlay(layers)?;
    match o.resolve(path.as_bytes())? {
        Some(node) if node.kind() == vfs_image::Kind::File => {
            Ok(Some(o.read_file(&node)?.into_owned()))
        }
        _ => Ok(None),
    }
}

/// The configuration of a box made of `layers`; a box with none (built by `vfs-box python`
/// without `--app`) has the default one.
pub fn config_of(layers: &[impl AsRef<[u8]>]) -> Result<BoxConfig> {
    let Some(bytes) = read_file(layers, CONFIG_PATH)? else {
        return Ok(BoxConfig::default());
    };
    let text = String::from_utf8(bytes).with_context(|| format!("{CONFIG_PATH} is not UTF-8"))?;
    Ok(BoxConfig::parse(&text)?)
}

/// The configuration of the box at `path`.
pub fn config(path: &Path) -> Result<BoxConfig> {
    config_of(&layers(path)?).with_context(|| path.display().to_string())
}

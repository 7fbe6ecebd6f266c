//! `vfs-box inspect`: what `docker inspect` shows of an image, for a box: its run configuration
//! (read from the box's layers, as the guest reads it) and each layer's size.

use std::path::PathBuf;

use anyhow::Result;

use crate::build::from_box;

/// Arguments of `vfs-box inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The box.
    pub wasm: PathBuf,
}

/// Prints the configuration and the layers of a box.
pub fn inspect(a: &InspectArgs) -> Result<()> {
    let layers = from_box::layers(&a.wasm)?;
    let c = from_box::config_of(&layers)?;
    let argv = |v: &Option<Vec<String>>| match v {
        Some(v) => format!("{v:?}"),
        None => "(none)".into(),
    };
    println!("box: {}", a.wasm.display());
    println!(
        "entrypoint: {}{}",
        argv(&c.entrypoint),
        if c.entrypoint_shell {
            " (shell form)"
        } else {
            ""
        }
    );
    println!("cmd: {}", argv(&c.cmd));
    println!("workdir: {}", c.workdir.as_deref().unwrap_or("/"));
    for (k, v) in &c.env {
        println!("env: {k}={v}");
    }
    for (k, v) in &c.labels {
        println!("label: {k}={v}");
    }
    for (k, v) in &c.other {
        println!("{k}: {v}");
    }
    for (i, l) in layers.iter().enumerate() {
        println!("layer {i}: {} bytes{}", l.len(), layer_summary(l));
    }
    Ok(())
}

/// What a layer holds and how it is stored: file count, the contents' decoded size and, for a
/// compressed layer, the ratio (empty if the layer cannot be read: the size alone is shown).
fn layer_summary(bytes: &[u8]) -> String {
    let Ok(s) = vfs_image::Image::open(bytes).and_then(|i| i.stats()) else {
        return String::new();
    };
    // Distinct contents as decoded, what dedup kept (as `vfs-image inspect` counts them).
    let distinct = s.stored_bytes - s.compressed_stored_bytes + s.compressed_raw_bytes;
    if s.compressed_contents == 0 {
        return format!(" ({} files, {distinct} bytes of contents, raw)", s.files);
    }
    format!(
        " ({} files, {distinct} bytes of contents; {} compressed {:.2}x)",
        s.files,
        s.compressed_contents,
        s.compressed_raw_bytes as f64 / s.compressed_stored_bytes.max(1) as f64
    )
}

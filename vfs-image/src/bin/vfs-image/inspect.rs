//! `inspect` (what is in an image, in numbers) and `verify` (is it intact).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use crate::pack::human as human_size;
use vfs_image::format::CODEC_LZ4;

/// Arguments of `vfs-image inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The image.
    image: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also list every regular file: path, size, bytes stored, and how it is stored
    /// (raw, or compressed with its ratio).
    #[arg(long)]
    files: bool,
}

/// Arguments of `vfs-image verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The image.
    image: PathBuf,
}

/// Runs `vfs-image inspect`.
pub fn run_inspect(a: InspectArgs) -> Result<ExitCode> {
    let bytes = crate::read_image(&a.image)?;
    let img = crate::open_image(&a.image, &bytes)?;
    let h = *img.header();
    let s = img
        .stats()
        .with_context(|| format!("{}: corrupt image", a.image.display()))?;
    // Distinct contents as decoded: what dedup kept, before compression shrank some of it.
    let distinct = s.stored_bytes - s.compressed_stored_bytes + s.compressed_raw_bytes;
    let saved = s.file_bytes.saturating_sub(distinct);
    let ratio = |raw: u64, stored: u64| {
        if stored == 0 {
            1.0
        } else {
            raw as f64 / stored as f64
        }
    };
    let files = if a.files {
        list_files(&img)?
    } else {
        Vec::new()
    };
    if a.json {
        let v = json!({
            "path": a.image.display().to_string(),
            "version": format!("{}.{}", h.version_major, h.version_minor),
            "layer": img.is_layer(),
            "image_size": h.image_size,
            "header": {
                "header_size": h.header_size, "flags": h.flags, "root": h.root,
                "inode_off": h.inode_off, "inode_count": h.inode_count,
                "dirent_off": h.dirent_off, "dirent_count": h.dirent_count,
                "strings_off": h.strings_off, "strings_len": h.strings_len,
                "data_off": h.data_off, "data_len": h.data_len,
                "meta_checksum": format!("{:016x}", h.meta_checksum),
                "data_checksum": format!("{:016x}", h.data_checksum),
            },
            "counts": {
                "files": s.files, "dirs": s.dirs, "symlinks": s.symlinks,
                "hard_links": s.extra_links, "whiteouts": s.whiteouts, "opaque_dirs": s.opaque_dirs,
            },
            "sizes": {
                "file_bytes": s.file_bytes, "stored_bytes": s.stored_bytes,
                "dedup_saved_bytes": saved, "deduped_files": s.deduped_files,
                "metadata_bytes": h.data_off,
                "compressed_contents": s.compressed_contents,
                "compressed_raw_bytes": s.compressed_raw_bytes,
                "compressed_stored_bytes": s.compressed_stored_bytes,
                "compression_ratio": ratio(s.compressed_raw_bytes, s.compressed_stored_bytes),
                "shared_bodies": s.shared_bodies, "shared_files": s.shared_files,
            },
            "files": files.iter().map(|f| json!({
                "path": f.path, "size": f.size, "stored": f.stored, "codec": f.codec,
                "body_members": f.members.max(1),
            })).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "image:          {} ({} bytes, {})",
        a.image.display(),
        h.image_size,
        human_size(h.image_size)
    );
    outln!(
        "version:        {}.{}{}",
        h.version_major,
        h.version_minor,
        if img.is_layer() {
            " (layer: has whiteouts/opaque dirs)"
        } else {
            ""
        }
    );
    outln!(
        "inode table:    {} inodes at {} ({} bytes)",
        h.inode_count,
        h.inode_off,
        h.inode_count * 64
    );
    outln!(
        "entry table:    {} entries at {} ({} bytes)",
        h.dirent_count,
        h.dirent_off,
        h.dirent_count * 12
    );
    outln!(
        "string pool:    {} bytes at {}",
        h.strings_len,
        h.strings_off
    );
    outln!("file data:      {} bytes at {}", h.data_len, h.data_off);
    outln!(
        "checksums:      meta {:016x}, data {:016x} (XXH3-64)",
        h.meta_checksum,
        h.data_checksum
    );
    outln!(
        "counts:         {} files, {} dirs, {} symlinks, {} hard links, {} whiteouts, {} opaque dirs",
        s.files, s.dirs, s.symlinks, s.extra_links, s.whiteouts, s.opaque_dirs
    );
    outln!(
        "contents:       {} in files, {} stored; dedup saved {} ({} files shared)",
        human_size(s.file_bytes),
        human_size(s.stored_bytes),
        human_size(saved),
        s.deduped_files
    );
    if s.shared_bodies > 0 {
        outln!(
            "shared bodies:  {} bodies hold {} files compressed together",
            s.shared_bodies,
            s.shared_bodies + s.shared_files
        );
    }
    if s.compressed_contents > 0 {
        outln!(
            "compressed:     {} contents, {} -> {} ({:.2}x)",
            s.compressed_contents,
            human_size(s.compressed_raw_bytes),
            human_size(s.compressed_stored_bytes),
            ratio(s.compressed_raw_bytes, s.compressed_stored_bytes)
        );
    }
    for f in &files {
        let how = match f.codec {
            Some(codec) => format!("{codec} {:.2}x", ratio(f.decoded, f.stored)),
            None => "raw".to_string(),
        };
        // A shared body is listed with each member: its stored size and ratio are the body's.
        let shared = match f.members {
            0 | 1 => String::new(),
            m => format!("  (one of {m} files sharing {} stored bytes)", f.stored),
        };
        outln!(
            "{:>10} {:>10} {:<11} {}{shared}",
            f.size,
            f.stored,
            how,
            f.path
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One regular file as `inspect --files` lists it.
struct FileRow {
    path: String,
    size: u64,
    stored: u64,
    /// `zstd` or `lz4` for a compressed file.
    codec: Option<&'static str>,
    /// Decoded length of its body (`size`, unless shared).
    decoded: u64,
    /// Files sharing its body (0 or 1: none).
    members: u16,
}

/// Every regular file of `img` (each inode once, under its first name), in path order.
fn list_files(img: &vfs_image::Image) -> Result<Vec<FileRow>> {
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![(String::new(), img.root())];
    while let Some((prefix, dir)) = stack.pop() {
        for e in img.read_dir(&dir, 0)? {
            let e = e?;
            let path = format!("{prefix}/{}", String::from_utf8_lossy(e.name));
            match e.node.kind() {
                vfs_image::Kind::Dir => stack.push((path, e.node)),
                vfs_image::Kind::File if seen.insert(e.node.ino()) => {
                    let (codec, decoded, members) = match img.contents(&e.node)? {
                        vfs_image::Contents::Packed(p) => (
                            Some(if p.codec() == CODEC_LZ4 {
                                "lz4"
                            } else {
                                "zstd"
                            }),
                            p.decoded_len(),
                            p.members(),
                        ),
                        vfs_image::Contents::Raw(_) => (None, e.node.size(), 0),
                    };
                    rows.push(FileRow {
                        path,
                        size: e.node.size(),
                        stored: e.node.stored_len(),
                        codec,
                        decoded,
                        members,
                    })
                }
                _ => {}
            }
        }
    }
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(rows)
}

/// Runs `vfs-image verify`.
pub fn run_verify(a: VerifyArgs) -> Result<ExitCode> {
    let bytes = crate::read_image(&a.image)?;
    let img = crate::open_image(&a.image, &bytes)?;
    let s = img
        .verify()
        .with_context(|| format!("{}: verification failed", a.image.display()))?;
    outln!(
        "{}: ok ({} files, {} dirs, {} symlinks, {} whiteouts; checksums and structure verified)",
        a.image.display(),
        s.files,
        s.dirs,
        s.symlinks,
        s.whiteouts
    );
    Ok(ExitCode::SUCCESS)
}

//! Importing an OCI/Docker image layer tar: regular files, directories, symlinks and hard links
//! become image nodes; `.wh.NAME` becomes a whiteout of `NAME` and `.wh..wh..opq` marks its
//! directory opaque, as the OCI image spec defines them.

use std::io::Read;

use tar::{Archive, EntryType};

use super::{ns_from, HostError, Overrides};
use crate::{ImageBuilder, Kind, Meta};

/// What an import found.
#[derive(Clone, Debug, Default)]
pub struct TarReport {
    /// Tar entries read.
    pub entries: u64,
    /// Whiteouts recorded.
    pub whiteouts: u64,
    /// Directories marked opaque.
    pub opaque_dirs: u64,
    /// Entries of kinds the format does not hold (devices, FIFOs), left out.
    pub skipped: Vec<String>,
}

/// Strips `./` and `/` prefixes and trailing slashes: tar paths come in all these spellings.
fn normalize(path: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    for comp in path.split(|&b| b == b'/') {
        if comp.is_empty() || comp == b"." {
            continue;
        }
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(comp);
    }
    out
}

fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// Parses a PAX time (`"1700000000.123456789"`, possibly negative) into ns.
fn pax_time(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i64 = sec.parse().ok()?;
    let mut ns: i64 = 0;
    for (i, c) in frac.bytes().take(9).enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        ns += (c - b'0') as i64 * 10i64.pow(8 - i as u32);
    }
    let t = ns_from(sec, ns);
    Some(if neg { -t } else { t })
}

fn tar_err(e: std::io::Error) -> HostError {
    HostError::Tar(e.to_string())
}

/// Reads a layer tar into `b` (which may already hold lower content when importing into a
/// builder, but is usually empty). Later entries replace earlier ones of the same path, as
/// when extracting.
pub fn import_tar<R: Read>(
    reader: R,
    b: &mut ImageBuilder,
    overrides: &Overrides,
) -> Result<TarReport, HostError> {
    let mut archive = Archive::new(reader);
    let mut report = TarReport::default();
    for entry in archive.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        report.entries += 1;
        let path = normalize(&entry.path_bytes());
        let header = entry.header();
        let kind = header.entry_type();
        let mtime_s = header.mtime().map_err(tar_err)? as i64;
        let mut meta = Meta {
            mode: header.mode().map_err(tar_err)? & 0o7777,
            uid: header.uid().map_err(tar_err)? as u32,
            gid: header.gid().map_err(tar_err)? as u32,
            atime_ns: 0,
            mtime_ns: ns_from(mtime_s, 0),
            ctime_ns: 0,
        };
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        if let Some(pax) = entry.pax_extensions().map_err(tar_err)? {
            for ext in pax.flatten() {
                let t = pax_time(ext.value_bytes());
                match (ext.key_bytes(), t) {
                    (b"mtime", Some(t)) => meta.mtime_ns = t,
                    (b"atime", Some(t)) => meta.atime_ns = t,
                    (b"ctime", Some(t)) => meta.ctime_ns = t,
                    _ => {}
                }
            }
        }
        if meta.atime_ns == 0 {
            meta.atime_ns = meta.mtime_ns;
        }
        if meta.ctime_ns == 0 {
            meta.ctime_ns = meta.mtime_ns;
        }
        let meta = overrides.apply(meta);
        let (parent, name) = split_last(&path);
        if name == b".wh..wh..opq" {
            b.set_opaque(parent, true)?;
            report.opaque_dirs += 1;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(b".wh.") {
            let mut target = parent.to_vec();
            if !target.is_empty() {
                target.push(b'/');
            }
            target.extend_from_slice(hidden);
            b.remove(&target)?;
            b.add_whiteout(&target)?;
            report.whiteouts += 1;
            continue;
        }
        if path.is_empty() {
            // The layer's root ("./"): its metadata is the root's.
            if kind == EntryType::Directory {
                b.add_dir(b"", meta)?;
            }
            continue;
        }
        // Later entries win; a directory entry over a directory only updates metadata.
        let existing = b.kind_of(&path);
        if existing.is_some() && !(existing == Some(Kind::Dir) && kind == EntryType::Directory) {
            b.remove(&path)?;
        }
        match kind {
            EntryType::Directory => {
                b.add_dir(&path, meta)?;
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(tar_err)?;
                b.add_file(&path, meta, data)?;
            }
            EntryType::Symlink => {
                let target = link.ok_or(HostError::Tar("symlink without a target".into()))?;
                b.add_symlink(&path, meta, &target)?;
            }
            EntryType::Link => {
                let target = link.ok_or(HostError::Tar("hard link without a target".into()))?;
                b.add_hardlink(&path, &normalize(&target))?;
            }
            _ => report
                .skipped
                .push(String::from_utf8_lossy(&path).into_owned()),
        }
    }
    Ok(report)
}

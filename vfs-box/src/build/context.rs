//! The build context: `.dockerignore`, and what a `COPY` or `ADD` selects from it (globs, files,
//! folders copied by their contents, local tar archives unpacked by `ADD`), staged into a folder
//! laid out as the box will see it.

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use globset::{GlobBuilder, GlobMatcher};
use sha2::{Digest, Sha256};

/// `.dockerignore`: patterns in order, the last that matches a path (or one of its parents)
/// deciding; `!` re-includes.
#[derive(Default)]
pub struct Ignore {
    rules: Vec<(bool, GlobMatcher)>,
}

impl Ignore {
    /// Reads `DIR/.dockerignore` (none: nothing is ignored).
    pub fn load(dir: &Path) -> Result<Ignore> {
        let file = dir.join(".dockerignore");
        let Ok(text) = std::fs::read_to_string(&file) else {
            return Ok(Ignore::default());
        };
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pattern = clean(pattern);
            let glob = GlobBuilder::new(&pattern)
                .literal_separator(true)
                .build()
                .with_context(|| {
                    format!("{}:{}: bad pattern {pattern:?}", file.display(), i + 1)
                })?;
            rules.push((negate, glob.compile_matcher()));
        }
        Ok(Ignore { rules })
    }

    /// Whether the context path `rel` (`/`-separated, relative) is left out.
    pub fn excluded(&self, rel: &str) -> bool {
        let mut excluded = false;
        for (negate, glob) in &self.rules {
            // A pattern that matches a folder leaves out everything below it.
            let mut prefix = String::new();
            let mut hit = false;
            for part in rel.split('/') {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                if glob.is_match(&prefix) {
                    hit = true;
                    break;
                }
            }
            if hit {
                excluded = !negate;
            }
        }
        excluded
    }
}

/// A pattern or path with `./` and leading `/` removed, as Docker cleans them.
fn clean(p: &str) -> String {
    let mut parts = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => parts.push("..".into()),
            _ => {}
        }
    }
    parts.join("/")
}

/// Where sources are read from: the build context (with its ignore rules) or an earlier stage's
/// files (unpacked, nothing ignored).
pub struct Source<'a> {
    pub root: &'a Path,
    pub ignore: &'a Ignore,
    /// How messages name it (`the build context`, `stage "builder"`).
    pub name: String,
}

/// One node a `COPY` writes: its host path and where it goes in the box.
#[derive(Debug)]
struct Entry {
    host: PathBuf,
    dest: String,
}

/// What a `COPY` selected: staged at [`Selection::stage`], with a digest of everything that
/// decides the layer's contents (paths, kinds, modes, file contents; not mtimes, as Docker).
pub struct Selection {
    entries: Vec<Entry>,
    pub digest: String,
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Every path in `root` (relative, sorted) at the depth of `pattern`, that it matches.
fn glob_matches(src: &Source, pattern: &str) -> Result<Vec<String>> {
    let glob = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .with_context(|| format!("bad pattern {pattern:?}"))?
        .compile_matcher();
    let depth = pattern.split('/').count();
    let mut out = Vec::new();
    let mut level = vec![String::new()];
    for _ in 0..depth {
        let mut next = Vec::new();
        for rel in level {
            let dir = src.root.join(&rel);
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for n in names {
                next.push(if rel.is_empty() {
                    n
                } else {
                    format!("{rel}/{n}")
                });
            }
        }
        level = next;
    }
    for rel in level {
        if glob.is_match(&rel) && !src.ignore.excluded(&rel) {
            out.push(rel);
        }
    }
    Ok(out)
}

/// Walks `rel` (a folder in the source) adding every node below it not ignored, sorted.
fn walk(src: &Source, rel: &str, dest: &str, out: &mut Vec<Entry>) -> Result<()> {
    let dir = src.root.join(rel);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for n in names {
        let child = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        if src.ignore.excluded(&child) {
            continue;
        }
        let d = format!("{}/{n}", dest.trim_end_matches('/'));
        let host = src.root.join(&child);
        let is_dir = std::fs::symlink_metadata(&host)?.is_dir();
        out.push(Entry {
            host,
            dest: d.clone(),
        });
        if is_dir {
            walk(src, &child, &d, out)?;
        }
    }
    Ok(())
}

/// Selects what `COPY SOURCES... DEST` names (DEST already absolute; `dest_is_dir` when it ends
/// with `/`), by Docker's rules: a folder's contents are copied, not the folder; several
/// sources need a folder destination.
pub fn select(
    src: &Source,
    sources: &[String],
    dest: &str,
    dest_is_dir: bool,
) -> Result<Selection> {
    let mut matched = Vec::new();
    for s in sources {
        let rel = clean(s);
        if rel == ".." || rel.starts_with("../") {
            bail!("{s}: outside {}", src.name);
        }
        if has_glob(&rel) {
            let found = glob_matches(src, &rel)?;
            if found.is_empty() {
                bail!("{s}: no file in {} matches", src.name);
            }
            matched.extend(found);
        } else {
            let host = src.root.join(&rel);
            if std::fs::symlink_metadata(&host).is_err()
                || (!rel.is_empty() && src.ignore.excluded(&rel))
            {
                let why = if host.exists() {
                    " (.dockerignore leaves it out)"
                } else {
                    ""
                };
                bail!("{s}: no such file or directory in {}{why}", src.name);
            }
            matched.push(rel);
        }
    }
    if matched.len() > 1 && !dest_is_dir {
        bail!(
            "{} sources: the destination must be a folder ending with `/`",
            matched.len()
        );
    }
    let root = src
        .root
        .canonicalize()
        .with_context(|| format!("reading {}", src.root.display()))?;
    let mut entries = Vec::new();
    for rel in matched {
        let host = src.root.join(&rel);
        // A named source that is a symlink is followed, as Docker does, but never out of the
        // context: a declaration is not allowed to read the rest of the host.
        let real = host
            .canonicalize()
            .with_context(|| format!("{rel}: a broken symlink"))?;
        if !real.starts_with(&root) {
            bail!(
                "{rel}: a symlink to {}, outside {}",
                real.display(),
                src.name
            );
        }
        if std::fs::metadata(&host)?.is_dir() {
            walk(src, &rel, dest, &mut entries)?;
        } else {
            let name = Path::new(&rel)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let d = if dest_is_dir {
                format!("{}/{name}", dest.trim_end_matches('/'))
            } else {
                dest.to_string()
            };
            entries.push(Entry { host, dest: d });
        }
    }
    let mut h = Sha256::new();
    for e in &entries {
        let md = std::fs::symlink_metadata(&e.host)?;
        use std::os::unix::fs::PermissionsExt;
        h.update(e.dest.as_bytes());
        h.update([0]);
        h.update(md.permissions().mode().to_le_bytes());
        if md.is_file() {
            let bytes =
                std::fs::read(&e.host).with_context(|| format!("reading {}", e.host.display()))?;
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
        } else if md.file_type().is_symlink() {
            h.update(std::fs::read_link(&e.host)?.as_os_str().as_encoded_bytes());
        }
    }
    Ok(Selection {
        entries,
        digest: format!("{:x}", h.finalize()),
    })
}

/// The local tar archives `ADD` unpacks (by name, as their content would say): `.tar`,
/// `.tar.gz`, `.tgz`.
fn tar_kind(path: &Path) -> Option<bool> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(true)
    } else if name.ends_with(".tar") {
        Some(false)
    } else {
        None
    }
}

/// Writes the selection under `stage` (the box's `/`), keeping mtimes; `chmod` replaces every
/// mode; with `add`, tar archives are unpacked into the destination folder instead.
pub fn stage(
    sel: &Selection,
    stage: &Path,
    chmod: Option<u32>,
    add: bool,
    dest: &str,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let under = |d: &str| stage.join(d.trim_start_matches('/'));
    for e in &sel.entries {
        let to = under(&e.dest);
        if let Some(parent) = to.parent() {
            make_dirs(stage, parent)?;
        }
        let md = std::fs::symlink_metadata(&e.host)?;
        if md.file_type().is_symlink() {
            let _ = std::fs::remove_file(&to);
            std::os::unix::fs::symlink(std::fs::read_link(&e.host)?, &to)?;
            continue;
        }
        if md.is_dir() {
            std::fs::create_dir_all(&to)?;
        } else if let (true, Some(gz)) = (add, tar_kind(&e.host)) {
            let into = under(dest);
            make_dirs(stage, &into)?;
            let file = std::fs::File::open(&e.host)?;
            let reader: Box<dyn std::io::Read> = if gz {
                Box::new(flate2::read::GzDecoder::new(file))
            } else {
                Box::new(file)
            };
            let mut archive = tar::Archive::new(reader);
            archive.set_preserve_mtime(true);
            // `unpack` refuses entries that would land outside `into` (`..`, absolute links).
            archive
                .unpack(&into)
                .with_context(|| format!("unpacking {}", e.host.display()))?;
            continue;
        } else {
            std::fs::copy(&e.host, &to)
                .with_context(|| format!("copying {} to {}", e.host.display(), to.display()))?;
        }
        let mode = chmod.unwrap_or(md.permissions().mode() & 0o7777);
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))?;
        let f = std::fs::File::options().read(true).open(&to);
        if let Ok(f) = f {
            let _ = f.set_modified(md.modified()?);
        }
    }
    Ok(())
}

/// Creates `dir` and its missing parents under `stage`, each 0755 with mtime 0, so a layer's
/// bytes depend only on what was copied (Docker stamps them with the build's time).
pub fn make_dirs(stage: &Path, dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if dir.exists() || !dir.starts_with(stage) {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_dirs(stage, parent)?;
    }
    std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let f = std::fs::File::open(dir)?;
    f.set_modified(std::time::UNIX_EPOCH)?;
    Ok(())
}

/// Sets the mtime of every folder under `root` to 0 once all files are in (copying or
/// compiling into a folder updates its mtime), so a layer's bytes do not depend on when it was
/// built. Docker keeps a copied folder's mtime; a difference the README lists.
pub fn settle_dir_times(root: &Path) -> Result<()> {
    for e in std::fs::read_dir(root)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            settle_dir_times(&e.path())?;
        }
    }
    std::fs::File::open(root)?.set_modified(std::time::UNIX_EPOCH)?;
    Ok(())
}

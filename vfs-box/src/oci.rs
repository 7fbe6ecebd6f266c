//! `vfs-box oci`: a box as an OCI image, for containerd's runwasi shims (and so Kubernetes).
//!
//! The output is an OCI image layout ([image-layout.md] of the OCI image spec: `oci-layout`,
//! `index.json`, `blobs/sha256/…`) archived as one tar, which `skopeo copy oci-archive:…`,
//! `ctr image import` and registries' tools take. The image is what runwasi's own demo images
//! are: platform `os: wasip1`, `architecture: wasm`, one ordinary gzip-compressed layer holding
//! the module as a file, and a config whose `Entrypoint` names that file. runwasi then loads the
//! module from the container's root filesystem and runs it with the process arguments as WASI
//! arguments (`argv[0]` is the entrypoint path), the process environment, and the root
//! filesystem preopened at `/` (which the box's shim shows at `/host`:
//! `vfs-wasi-shim/src/preopen.rs` explains why).
//!
//! How a box's own configuration maps (the box applies its `ENTRYPOINT`, `CMD`, `ENV` and
//! `WORKDIR` itself, from `/.vfs-box/config`, whatever the runtime says; the OCI config carries
//! them so that runtimes, `skopeo inspect` and Kubernetes see and override them the same way):
//!
//! | box | OCI config | why |
//! |---|---|---|
//! | the module | `Entrypoint: ["/NAME"]` | the runtime runs the file; the box's own `ENTRYPOINT` stays inside it, since the box prepends it to its arguments itself |
//! | `CMD` | `Cmd` (left out under a shell-form `ENTRYPOINT`) | arguments to the box replace `CMD` there as `docker run IMAGE ARGS` does, so `Cmd: CMD` runs exactly what no arguments would, and a pod's `args:` replace it |
//! | `ENV` | `Env` (`K=V`, the last value of a name) | the runtime's environment wins over the box's defaults either way |
//! | `WORKDIR` | `WorkingDir` (and the folder, empty, in the layer) | a runtime enters the working directory in the root filesystem before starting the module |
//! | `LABEL` | `Labels` | metadata |
//! | `EXPOSE`, `STOPSIGNAL` | `ExposedPorts`, `StopSignal` | meaningful to the runtime |
//! | `USER`, `VOLUME`, `HEALTHCHECK` | left out | a box has one user (uid 0); its files are in memory; nothing probes a box |
//!
//! The archive is deterministic: every tar entry has mtime 0, uid/gid 0 and fixed modes, entries
//! are sorted, the gzip header has no name and no time, JSON keys are sorted and no `created`
//! time is written, so one box always gives the same manifest digest (with the same `vfs-box`:
//! another version of the gzip library may compress differently).
//!
//! [image-layout.md]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use vfs_image::boxconfig::BoxConfig;

use crate::build::from_box;

// The media types of the objects an image is made of (OCI image spec 1.1).
/// `index.json`: the list of the layout's images.
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// An image: its config and layers.
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The image config: platform, run configuration, layer digests.
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// An ordinary layer, a gzip-compressed tar (what runwasi loads the module from as a file).
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The platform runwasi's shims recognize as WebAssembly (their images use these values, and
/// containerd's platform matcher knows `wasm`).
pub const OS: &str = "wasip1";
/// See [`OS`].
pub const ARCHITECTURE: &str = "wasm";

/// Arguments of `vfs-box oci`.
#[derive(clap::Args, Debug)]
pub struct OciArgs {
    /// The box (a module `vfs-box build` or `vfs-box python` wrote).
    pub wasm: PathBuf,
    /// The archive to write (written to a temporary file beside it, then renamed).
    #[arg(short, long, value_name = "OUT.tar")]
    pub output: PathBuf,
    /// The box's file name in the image's root filesystem (the entrypoint is `/NAME`).
    #[arg(long, value_name = "NAME", default_value = "app.wasm")]
    pub name: String,
    /// The image's tag in the layout (`org.opencontainers.image.ref.name` in index.json):
    /// `skopeo inspect oci-archive:OUT.tar:TAG` selects it.
    #[arg(long, value_name = "TAG", default_value = "latest")]
    pub tag: String,
    /// The image's name, e.g. `ghcr.io/me/app`: written as `NAME:TAG` in index.json
    /// (`io.containerd.image.name`), under which `ctr image import` stores the image.
    #[arg(long, value_name = "NAME")]
    pub image_name: Option<String>,
}

/// What index.json says of the image: its tag, and its full name if one was given.
#[derive(Debug)]
struct Names {
    /// `org.opencontainers.image.ref.name`.
    tag: String,
    /// `io.containerd.image.name` (`NAME:TAG`).
    full: Option<String>,
}

impl Names {
    /// Checks `tag` and `name` against the grammar of the OCI distribution spec (a tag is
    /// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`; a name is lower case, digits and `._-/`, with an
    /// optional `host:port/` first).
    fn new(tag: &str, name: Option<&str>) -> Result<Names> {
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !tag_ok {
            bail!("--tag {tag:?}: a tag is up to 128 letters, digits, `_`, `.`, `-` (not first)");
        }
        let full = match name {
            None => None,
            Some(n) => {
                let (host, path) = match n.split_once('/') {
                    Some((h, p)) if h.contains([':', '.']) || h == "localhost" => (Some(h), p),
                    _ => (None, n),
                };
                let host_ok = host.is_none_or(|h| {
                    h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
                });
                let path_ok = !path.is_empty()
                    && path.split('/').all(|part| {
                        !part.is_empty()
                            && part.chars().all(|c| {
                                c.is_ascii_lowercase()
                                    || c.is_ascii_digit()
                                    || matches!(c, '.' | '_' | '-')
                            })
                    });
                if !host_ok || !path_ok {
                    bail!(
                        "--image-name {n:?}: give a repository such as ghcr.io/me/app (lower case; \
                         the tag goes in --tag)"
                    );
                }
                Some(format!("{n}:{tag}"))
            }
        };
        Ok(Names {
            tag: tag.to_owned(),
            full,
        })
    }
}

/// Writes the archive `a.output` for the box `a.wasm`.
pub fn command(a: &OciArgs) -> Result<()> {
    check_name(&a.name)?;
    let names = Names::new(&a.tag, a.image_name.as_deref())?;
    let module = std::fs::read(&a.wasm).with_context(|| format!("reading {}", a.wasm.display()))?;
    let config = box_config(&a.wasm, &module)?;
    let image = Image::new(&module, &config, &a.name, &names)?;
    write_atomically(&a.output, |f| image.write_layout(f))?;
    eprintln!(
        "vfs-box: wrote {} (manifest {}, layer {} bytes, entrypoint /{})",
        a.output.display(),
        image.manifest_digest(),
        image.layer.len(),
        a.name
    );
    Ok(())
}

/// The box's configuration, or an error naming the file when it is not a box at all.
fn box_config(path: &Path, module: &[u8]) -> Result<BoxConfig> {
    let layers = vfs_image::embed::layers(module).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a box (a WebAssembly module with wasm-vfs layers embedded): {e}",
            path.display()
        )
    })?;
    if layers.is_empty() {
        bail!(
            "{} is not a box: it has the wasm-vfs shim but no embedded layers",
            path.display()
        );
    }
    from_box::config_of(&layers)
        .with_context(|| format!("reading the configuration of {}", path.display()))
}

/// A file name for the root of the layer: one component, no `/`, not `.` or `..`.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        bail!("--name {name:?}: give a plain file name (the box goes at /NAME in the image)");
    }
    Ok(())
}

/// `sha256:HEX` of `bytes`, as OCI descriptors write digests.
fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// An OCI descriptor (`mediaType`, `digest`, `size`) of `bytes`.
fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({ "mediaType": media_type, "digest": digest(bytes), "size": bytes.len() })
}

/// A tar header for an entry of the given kind, owned by root, mtime 0.
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    h
}

/// A file of a tar: its contents and mode.
type TarFile<'a> = (&'a [u8], u32);

/// A deterministic tar of `entries` (path → a file, or `None` for a directory), in path order.
fn tar_of(entries: &BTreeMap<String, Option<TarFile<'_>>>) -> Result<Vec<u8>> {
    let mut t = tar::Builder::new(Vec::new());
    for (path, entry) in entries {
        match entry {
            None => {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                t.append_data(&mut h, format!("{path}/"), std::io::empty())?;
            }
            Some((bytes, mode)) => {
                let mut h = header(tar::EntryType::Regular, *mode, bytes.len() as u64);
                t.append_data(&mut h, path, *bytes)?;
            }
        }
    }
    Ok(t.into_inner()?)
}

/// The image, built in memory (a box is tens of MB): the layer, the config, the manifest.
struct Image {
    /// The gzip-compressed layer tar.
    layer: Vec<u8>,
    /// The config JSON.
    config: Vec<u8>,
    /// The manifest JSON.
    manifest: Vec<u8>,
    /// The index JSON (names the manifest).
    index: Vec<u8>,
}

impl Image {
    /// The image of `module` (whose configuration is `c`) as `/name`, named in the index by
    /// `names`.
    fn new(module: &[u8], c: &BoxConfig, name: &str, names: &Names) -> Result<Image> {
        let mut files: BTreeMap<String, Option<TarFile<'_>>> = BTreeMap::new();
        // Executable, as a program in a container image is.
        files.insert(name.to_owned(), Some((module, 0o755)));
        // The working directory exists in the root filesystem, for runtimes that enter it.
        if let Some(dir) = &c.workdir {
            let mut at = String::new();
            for part in dir.split('/').filter(|p| !p.is_empty() && *p != ".") {
                if part == ".." {
                    bail!("the box's WORKDIR {dir:?} has `..` in it");
                }
                if !at.is_empty() {
                    at.push('/');
                }
                at.push_str(part);
                if at == name {
                    bail!("the box's WORKDIR {dir:?} is where the box goes (/{name}): pick another --name");
                }
                files.insert(at.clone(), None);
            }
        }
        let layer_tar = tar_of(&files)?;
        let mut gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::default());
        gz.write_all(&layer_tar)?;
        let layer = gz.finish()?;

        let config = serde_json::to_vec(&image_config(c, name, &digest(&layer_tar)))?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": descriptor(CONFIG_TYPE, &config),
            "layers": [descriptor(LAYER_TYPE, &layer)],
        }))?;
        let mut m = descriptor(MANIFEST_TYPE, &manifest);
        m["platform"] = json!({ "architecture": ARCHITECTURE, "os": OS });
        m["annotations"] = json!({ "org.opencontainers.image.ref.name": names.tag });
        if let Some(full) = &names.full {
            m["annotations"]["io.containerd.image.name"] = json!(full);
        }
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": [m],
        }))?;
        Ok(Image {
            layer,
            config,
            manifest,
            index,
        })
    }

    /// The digest that names the image (its manifest's).
    fn manifest_digest(&self) -> String {
        digest(&self.manifest)
    }

    /// Writes the layout as a tar to `out`.
    fn write_layout(&self, out: &mut std::fs::File) -> Result<()> {
        let blob = |b: &[u8]| format!("blobs/{}", digest(b).replacen(':', "/", 1));
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        let mut entries: BTreeMap<String, Option<TarFile<'_>>> = BTreeMap::new();
        entries.insert("blobs".into(), None);
        entries.insert("blobs/sha256".into(), None);
        for b in [&self.layer, &self.config, &self.manifest] {
            entries.insert(blob(b), Some((b, 0o644)));
        }
        entries.insert("index.json".into(), Some((&self.index, 0o644)));
        entries.insert("oci-layout".into(), Some((layout, 0o644)));
        out.write_all(&tar_of(&entries)?)?;
        Ok(())
    }
}

/// The image config: platform, the run configuration the box's maps to, the layer's diff ID.
fn image_config(c: &BoxConfig, name: &str, diff_id: &str) -> Value {
    let mut config = serde_json::Map::new();
    config.insert("Entrypoint".into(), json!([format!("/{name}")]));
    if let (Some(cmd), false) = (&c.cmd, c.entrypoint.is_some() && c.entrypoint_shell) {
        config.insert("Cmd".into(), json!(cmd));
    }
    // One entry per name with its last value, at the place the name first appeared.
    let mut env: Vec<(&str, &str)> = Vec::new();
    for (k, v) in &c.env {
        match env.iter_mut().find(|(n, _)| n == k) {
            Some(e) => e.1 = v,
            None => env.push((k, v)),
        }
    }
    if !env.is_empty() {
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        config.insert("Env".into(), json!(env));
    }
    if let Some(dir) = &c.workdir {
        config.insert("WorkingDir".into(), json!(dir));
    }
    if !c.labels.is_empty() {
        let labels: BTreeMap<&str, &str> = c
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        config.insert("Labels".into(), json!(labels));
    }
    for (k, v) in &c.other {
        match k.as_str() {
            "expose" => {
                let ports: BTreeMap<String, Value> = v
                    .split_whitespace()
                    .map(|p| {
                        let p = if p.contains('/') {
                            p.to_owned()
                        } else {
                            format!("{p}/tcp")
                        };
                        (p, json!({}))
                    })
                    .collect();
                config.insert("ExposedPorts".into(), json!(ports));
            }
            "stopsignal" => {
                config.insert("StopSignal".into(), json!(v));
            }
            _ => {}
        }
    }
    json!({
        "architecture": ARCHITECTURE,
        "os": OS,
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created_by": format!("vfs-box oci (the box as /{name})") }],
    })
}

/// Runs `write` on a temporary file beside `out` and renames it to `out` only if it succeeded,
/// so a failed or interrupted run never leaves a half-written archive under the output's name.
fn write_atomically(
    out: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<()>,
) -> Result<()> {
    let tmp = out.with_file_name(format!(
        ".{}.{}.tmp",
        out.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        write(&mut f)?;
        f.sync_all()?;
        std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_box_configuration_maps_to_the_image_config() {
        let c = BoxConfig {
            entrypoint: Some(strings(&["python3"])),
            cmd: Some(strings(&["/app/main.py"])),
            env: vec![
                ("PATH".into(), "/usr/local/bin".into()),
                ("A".into(), "1".into()),
                ("PATH".into(), "/bin".into()),
            ],
            workdir: Some("/app".into()),
            labels: vec![("b".into(), "2".into()), ("a".into(), "1".into())],
            other: vec![
                ("expose".into(), "8080 53/udp".into()),
                ("user".into(), "nobody".into()),
            ],
            ..BoxConfig::default()
        };
        let v = image_config(&c, "app.wasm", "sha256:00");
        assert_eq!(v["os"], "wasip1");
        assert_eq!(v["architecture"], "wasm");
        let k = &v["config"];
        assert_eq!(k["Entrypoint"], json!(["/app.wasm"]));
        assert_eq!(k["Cmd"], json!(["/app/main.py"]));
        assert_eq!(k["Env"], json!(["PATH=/bin", "A=1"]));
        assert_eq!(k["WorkingDir"], "/app");
        assert_eq!(k["Labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(k["ExposedPorts"], json!({"8080/tcp": {}, "53/udp": {}}));
        assert!(k.get("User").is_none());
        assert_eq!(v["rootfs"]["diff_ids"], json!(["sha256:00"]));
    }

    #[test]
    fn a_shell_form_entrypoint_takes_no_cmd() {
        let c = BoxConfig {
            entrypoint: Some(strings(&["python3", "-c", "print(1)"])),
            entrypoint_shell: true,
            cmd: Some(strings(&["ignored"])),
            ..BoxConfig::default()
        };
        let v = image_config(&c, "x.wasm", "sha256:00");
        assert!(v["config"].get("Cmd").is_none());
        assert!(v["config"].get("Env").is_none());
    }

    #[test]
    fn the_same_box_gives_the_same_bytes_and_the_layer_holds_it() {
        let module = b"\0asm not really a box, but Image does not care".to_vec();
        let c = BoxConfig {
            workdir: Some("/srv/app/".into()),
            ..BoxConfig::default()
        };
        let names = Names::new("latest", None).unwrap();
        let a = Image::new(&module, &c, "box.wasm", &names).unwrap();
        let b = Image::new(&module, &c, "box.wasm", &names).unwrap();
        assert_eq!(a.manifest, b.manifest);
        assert_eq!(a.layer, b.layer);
        let mut names = Vec::new();
        let gz = flate2::read::GzDecoder::new(&a.layer[..]);
        for e in tar::Archive::new(gz).entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            assert_eq!(e.header().mtime().unwrap(), 0);
            if path == "box.wasm" {
                let mut got = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut got).unwrap();
                assert_eq!(got, module);
            }
            names.push(path);
        }
        assert_eq!(names, ["box.wasm", "srv/", "srv/app/"]);
    }

    #[test]
    fn bad_names_and_workdirs_are_refused() {
        for n in ["", ".", "..", "a/b"] {
            assert!(check_name(n).is_err(), "{n:?}");
        }
        let c = BoxConfig {
            workdir: Some("/app.wasm".into()),
            ..BoxConfig::default()
        };
        let names = Names::new("latest", None).unwrap();
        let e = Image::new(b"", &c, "app.wasm", &names).err().unwrap();
        assert!(e.to_string().contains("--name"), "{e}");
        for t in ["", "-x", "a b", "a:b", &"x".repeat(129)] {
            assert!(Names::new(t, None).is_err(), "{t:?}");
        }
        for n in ["", "App", "a//b", "ghcr.io/", "a:b"] {
            assert!(Names::new("1", Some(n)).is_err(), "{n:?}");
        }
        let n = Names::new("1.0", Some("localhost:5000/me/app")).unwrap();
        assert_eq!(n.full.as_deref(), Some("localhost:5000/me/app:1.0"));
    }
}

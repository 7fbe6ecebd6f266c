//! `RUN pip install ...`: the box has no network, so the requirements are resolved and fetched
//! on the host by the ordinary client (`pip` of a host CPython 3.11) and installed into a new
//! layer at `/usr/local` (packages in `lib/python3.11/site-packages`, console scripts in `bin`
//! with their `#!` naming the box's interpreter). Only pure-Python distributions can run in a
//! box; anything else is refused by name before a layer is written.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::build::declaration::absolute;

use vfs_image::boxconfig::{INTERPRETER, INTERPRETER_NAMES};

/// What a `pip install` command line asks for, with the files it names inside the box.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Install {
    /// Options passed on to the host's pip as they are (index, `--pre`, `--no-deps`...).
    pub options: Vec<String>,
    /// Requirement specifiers (`flask==3.0`, `rich>=13`).
    pub requirements: Vec<String>,
    /// `-r FILE` and `-c FILE`: the option and the file's absolute path in the box.
    pub files: Vec<(String, String)>,
    /// Requirements left out, with why (pip itself: the box's pip is the host's).
    pub skipped: Vec<String>,
}

/// Whether `argv` is a pip command (`pip`, `pip3`, `pip3.11`, `python -m pip`...), and its
/// arguments after the program.
pub fn pip_args(argv: &[String]) -> Option<&[String]> {
    let name = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    let first = name(argv.first()?);
    if matches!(first.as_str(), "pip" | "pip3" | "pip3.11") {
        return Some(&argv[1..]);
    }
    if INTERPRETER_NAMES.contains(&first.as_str())
        && argv.get(1).map(String::as_str) == Some("-m")
        && argv.get(2).map(String::as_str) == Some("pip")
    {
        return Some(&argv[3..]);
    }
    None
}

/// Options that take a value and are passed on.
const PASS_WITH_VALUE: [&str; 8] = [
    "--index-url",
    "-i",
    "--extra-index-url",
    "--trusted-host",
    "--find-links",
    "-f",
    "--only-binary",
    "--no-binary",
];
/// Flags passed on.
const PASS: [&str; 3] = ["--pre", "--no-deps", "--prefer-binary"];
/// Flags and options that mean nothing for a layer built from scratch, accepted and ignored.
const IGNORED: [&str; 12] = [
    "--no-cache-dir",
    "-U",
    "--upgrade",
    "-q",
    "--quiet",
    "-v",
    "--verbose",
    "--no-compile",
    "--compile",
    "--disable-pip-version-check",
    "--no-warn-script-location",
    "--force-reinstall",
];
const IGNORED_WITH_VALUE: [&str; 3] =
    ["--root-user-action", "--progress-bar", "--upgrade-strategy"];

/// Reads `pip ARGS` (after the program), with relative files resolved against `workdir`.
pub fn parse(args: &[String], workdir: &str) -> Result<Install, String> {
    let Some((sub, rest)) = args.split_first() else {
        return Err("pip with no command: only `pip install` can run while building a box".into());
    };
    if sub != "install" {
        return Err(format!(
            "pip {sub}: only `pip install` can run while building a box (pip runs on the host)"
        ));
    }
    let mut out = Install::default();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |inline: Option<String>| -> Result<String, String> {
            inline
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("pip install {flag}: needs a value"))
        };
        match flag {
            "-r" | "--requirement" | "-c" | "--constraint" => {
                let file = value(inline)?;
                let short = if flag.contains('c') { "-c" } else { "-r" };
                out.files.push((short.into(), absolute(&file, workdir)));
            }
            f if f.len() > 2
                && (f.starts_with("-r") || f.starts_with("-c"))
                && !f.starts_with("--") =>
            {
                out.files.push((f[..2].into(), absolute(&f[2..], workdir)));
            }
            f if PASS_WITH_VALUE.contains(&f) => {
                let v = value(inline)?;
                out.options.extend([f.to_string(), v]);
            }
            f if PASS.contains(&f) => out.options.push(f.into()),
            f if IGNORED.contains(&f) => {}
            f if IGNORED_WITH_VALUE.contains(&f) => {
                value(inline)?;
            }
            "-e" | "--editable" | "--target" | "-t" | "--prefix" | "--root" | "--user" => {
                return Err(format!(
                    "pip install {flag}: not supported in a box (packages go to /usr/local, \
                     the `python` images' site-packages)"
                ))
            }
            f if f.starts_with('-') => {
                return Err(format!(
                    "pip install {f}: option not supported while building a box"
                ))
            }
            spec => {
                if spec.starts_with('.') || spec.starts_with('/') {
                    return Err(format!(
                        "pip install {spec}: installing a local project is not supported yet; \
                         build a wheel and list its requirements instead"
                    ));
                }
                let name = spec
                    .split(|c: char| {
                        !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                    })
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if name == "pip" {
                    out.skipped.push(format!(
                        "{spec}: pip runs on the host while building; the box needs no copy"
                    ));
                } else {
                    out.requirements.push(spec.to_string());
                }
            }
        }
    }
    Ok(out)
}

/// The host CPython 3.11 whose pip resolves requirements: `VFS_BOX_HOST_PYTHON`, else
/// `python3.11` on `PATH`.
fn host_python() -> Result<PathBuf> {
    let candidate = std::env::var_os("VFS_BOX_HOST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3.11"));
    let out = Command::new(&candidate)
        .args([
            "-c",
            "import sys, pip; print('%d.%d' % sys.version_info[:2])",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "3.11" => {
            Ok(candidate)
        }
        _ => bail!(
            "pip install needs a host CPython 3.11 with pip to fetch requirements (tried {}; set \
             VFS_BOX_HOST_PYTHON to another one)",
            candidate.display()
        ),
    }
}

/// Runs pip on the host; its output goes to stderr as the step's progress.
fn pip(python: &Path, args: &[String]) -> Result<bool> {
    pip_with_env(python, args, &[])
}

/// [`pip`] with `env` added to its environment.
fn pip_with_env(python: &Path, args: &[String], env: &[(&str, &str)]) -> Result<bool> {
    let status = Command::new(python)
        .args(["-m", "pip", "--disable-pip-version-check", "--no-input"])
        .args(args)
        .args(if args.first().is_some_and(|a| a == "install") {
            &["--root-user-action=ignore"][..]
        } else {
            &[]
        })
        .env("PIP_NO_PYTHON_VERSION_WARNING", "1")
        .envs(env.iter().copied())
        .env_remove("PIP_TARGET")
        .env_remove("PIP_PREFIX")
        .stdout(std::process::Stdio::from(std::io::stderr()))
        .status()
        .with_context(|| format!("running {} -m pip", python.display()))?;
    Ok(status.success())
}

/// [`pip`] with the host's C and C++ compilers hidden (`CC`, `CXX` set to `false`): code
/// compiled for the host could not run in a box, and packages whose C extension is optional
/// (MarkupSafe's speedups, PyYAML's libyaml binding...) build their pure-Python wheel when the
/// compiler fails. A package whose extension is required fails to build, and is refused below
/// as it would be anyway.
fn pip_without_compiler(python: &Path, args: &[String]) -> Result<bool> {
    pip_with_env(python, args, &[("CC", "false"), ("CXX", "false")])
}

/// Builds `name==version` from its sdist with the compiler hidden ([`pip_without_compiler`]);
/// the wheel's path if it came out pure Python, `None` if it did not build or is still
/// compiled.
fn pure_from_sdist(
    python: &Path,
    options: &[String],
    name: &str,
    version: &str,
    work: &Path,
) -> Result<Option<PathBuf>> {
    let out = work.join(format!("sdist-{name}"));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    eprintln!(
        "vfs-box:   {name} {version}: only compiled wheels; building its sdist without a compiler"
    );
    let mut args = vec![
        "wheel".to_string(),
        "--no-deps".into(),
        "--no-binary".into(),
        name.into(),
        "--wheel-dir".into(),
        out.display().to_string(),
    ];
    args.extend(options.iter().cloned());
    args.push(format!("{name}=={version}"));
    if !pip_without_compiler(python, &args)? {
        return Ok(None);
    }
    for e in std::fs::read_dir(&out)? {
        let path = e?.path();
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if wheel_tags(&file).is_some_and(|(_, _, pure)| pure) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// The name and version of a wheel file (`name-version-...whl`), and whether it is pure
/// Python (its ABI and platform tags are `none` and `any`).
fn wheel_tags(file: &str) -> Option<(String, String, bool)> {
    let stem = file.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 {
        return None;
    }
    let n = parts.len();
    let pure = parts[n - 2] == "none" && parts[n - 1] == "any";
    Some((parts[0].to_string(), parts[1].to_string(), pure))
}

/// Resolves and installs `install` (its files already copied to `files_dir` at their box
/// paths) into `stage` (the box's `/`), for CPython 3.11 and pure-Python distributions only.
pub fn install(install: &Install, files_dir: &Path, stage: &Path, work: &Path) -> Result<()> {
    let python = host_python()?;
    let wheels = work.join("wheels");
    std::fs::create_dir_all(&wheels)?;
    let mut reqs: Vec<String> = install.options.clone();
    for (opt, box_path) in &install.files {
        reqs.push(opt.clone());
        reqs.push(
            files_dir
                .join(box_path.trim_start_matches('/'))
                .display()
                .to_string(),
        );
    }
    reqs.extend(install.requirements.iter().cloned());
    // First choice: wheels tagged for any platform, resolved for CPython 3.11. This is where a
    // package with both a compiled and a pure wheel gets the pure one.
    let mut download = vec![
        "download".to_string(),
        "--dest".into(),
        wheels.display().to_string(),
        "--only-binary=:all:".into(),
        "--platform".into(),
        "any".into(),
        "--python-version".into(),
        "3.11".into(),
        "--implementation".into(),
        "py".into(),
        "--abi".into(),
        "none".into(),
    ];
    download.extend(reqs.iter().cloned());
    eprintln!("vfs-box:   resolving pure-Python wheels for CPython 3.11");
    if !pip(&python, &download)? {
        // Some requirement has no wheel for any platform: let pip build sdists into wheels
        // (with the host's 3.11), then keep only what turned out pure.
        eprintln!(
            "vfs-box:   some requirement has no pure wheel on the index; building from sources"
        );
        std::fs::remove_dir_all(&wheels)?;
        std::fs::create_dir_all(&wheels)?;
        let mut build = vec![
            "wheel".to_string(),
            "--wheel-dir".into(),
            wheels.display().to_string(),
        ];
        build.extend(reqs.iter().cloned());
        if !pip_without_compiler(&python, &build)? {
            bail!("pip could not resolve or build the requirements (its output is above)");
        }
    }
    let list = |dir: &Path| -> Result<Vec<String>> {
        let mut files: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        Ok(files)
    };
    let mut files = list(&wheels)?;
    let mut refused = Vec::new();
    for f in files.clone() {
        match wheel_tags(&f) {
            Some((_, _, true)) => {}
            Some((name, version, false)) => {
                // pip took a compiled wheel from the index; the sdist may still build a pure
                // one (an optional C extension, when the compiler is hidden).
                match pure_from_sdist(&python, &install.options, &name, &version, work)? {
                    Some(pure) => {
                        std::fs::remove_file(wheels.join(&f))?;
                        std::fs::rename(&pure, wheels.join(pure.file_name().unwrap_or_default()))?;
                    }
                    None => refused.push(format!(
                        "{name} {version}: no pure-Python wheel (pip found {f}, and its sdist \
                         builds none without a compiler); compiled extensions need a \
                         wasm32-wasi build"
                    )),
                }
            }
            None => refused.push(format!("{f}: not a wheel pip could build")),
        }
    }
    if refused.is_empty() {
        files = list(&wheels)?;
    }
    if !refused.is_empty() {
        bail!("{}", refused.join("\n"));
    }
    if files.is_empty() {
        return Ok(());
    }
    let mut args = vec![
        "install".to_string(),
        "--no-index".into(),
        "--no-deps".into(),
        "--no-compile".into(),
        "--no-warn-script-location".into(),
        "--ignore-installed".into(),
        "--root".into(),
        stage.display().to_string(),
        "--prefix".into(),
        "/usr/local".into(),
    ];
    args.extend(files.iter().map(|f| wheels.join(f).display().to_string()));
    if !pip(&python, &args)? {
        bail!("pip could not install the wheels (its output is above)");
    }
    retarget_scripts(&stage.join("usr/local/bin"))
}

/// Console scripts name the interpreter that installed them (the host's) in their `#!` line:
/// point it at the box's.
fn retarget_scripts(bin: &Path) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(bin) else {
        return Ok(());
    };
    for e in rd {
        let path = e?.path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let Some(rest) = bytes.strip_prefix(b"#!") else {
            continue;
        };
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = String::from_utf8_lossy(&rest[..end]);
        if line.split_whitespace().next().is_some_and(|i| {
            i.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with("python"))
        }) {
            let mut out = format!("#!{INTERPRETER}").into_bytes();
            out.extend_from_slice(&rest[end..]);
            std::fs::write(&path, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_usual_pip_lines() {
        assert_eq!(
            pip_args(&s(&["pip", "install", "x"])),
            Some(&s(&["install", "x"])[..])
        );
        assert_eq!(
            pip_args(&s(&["python", "-m", "pip", "install"])),
            Some(&s(&["install"])[..])
        );
        assert_eq!(pip_args(&s(&["python", "app.py"])), None);
        let i = parse(
            &s(&[
                "install",
                "--no-cache-dir",
                "-r",
                "requirements.txt",
                "rich>=13",
                "--upgrade",
                "pip",
            ]),
            "/app",
        )
        .unwrap();
        assert_eq!(
            i.files,
            vec![("-r".to_string(), "/app/requirements.txt".to_string())]
        );
        assert_eq!(i.requirements, s(&["rich>=13"]));
        assert_eq!(i.skipped.len(), 1);
        let i = parse(
            &s(&[
                "install",
                "--index-url=https://x/simple",
                "-rreq.txt",
                "--root-user-action",
                "ignore",
            ]),
            "/",
        )
        .unwrap();
        assert_eq!(i.options, s(&["--index-url", "https://x/simple"]));
        assert_eq!(i.files, vec![("-r".to_string(), "/req.txt".to_string())]);
        for bad in [
            &["freeze"][..],
            &["install", "-e", "."],
            &["install", "."],
            &["install", "--weird"],
            &["install", "-r"],
        ] {
            assert!(parse(&s(bad), "/").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn wheel_tags_tell_pure_from_compiled() {
        assert_eq!(
            wheel_tags("rich-13.7.1-py3-none-any.whl"),
            Some(("rich".into(), "13.7.1".into(), true))
        );
        assert_eq!(
            wheel_tags("numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
                .map(|t| t.2),
            Some(false)
        );
        assert_eq!(
            wheel_tags("x-1-2-py3-none-any.whl").map(|t| t.2),
            Some(true),
            "a build tag"
        );
        assert_eq!(wheel_tags("x.tar.gz"), None);
    }
}

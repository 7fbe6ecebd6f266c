//! What a run executes: the box's configuration ([`vfs_image::boxconfig`], written by
//! `vfs-box build` and `vfs-box python --app`) applied to the WASI command line, as a container
//! runtime applies an image config to `docker run`'s arguments.
//!
//! A box has one program, CPython, and no shell, so the command Docker's rules give is resolved
//! the way `execve` plus a `#!` line would resolve it, as far as that ends in Python:
//! - `python`, `python3`, `python3.11` (bare, or in `/usr/local/bin`, `/usr/bin`, `/bin`) are
//!   the interpreter;
//! - any other name is looked up in `PATH` (a path with a `/` is taken as it is), and a file
//!   whose `#!` line names Python (`#!/usr/local/bin/python3.11`, `#!/usr/bin/env python3`,
//!   what pip writes for console scripts) runs as `python3.11 FILE ARGS...`;
//! - anything else fails as `sh` would, with a message saying why, but with exit status
//!   [`CANNOT_RUN`] (125) where `sh` uses 127 (not found) or 126 (not a program it can run):
//!   WASI allows exit statuses below 126 only.

use std::borrow::Cow;
use std::os::wasi::ffi::OsStrExt;

use vfs_image::boxconfig::{
    BoxConfig, CONFIG_PATH, INTERPRETER, INTERPRETER_DIRS, INTERPRETER_NAMES,
};

/// The interpreter's path inside the box: `sys.executable`.
pub const PYTHON: &str = INTERPRETER;

/// `HOME` when neither the host nor the box sets it: root's home, as `docker run` gives the
/// `python` images (their user is root).
const HOME: &str = "/root";

/// Exit status of a run whose command cannot run. `sh` and Docker exit 127 for a command not
/// found and 126 for one that cannot be executed, but WASI allows `proc_exit` statuses below
/// 126 only (wasmtime turns 126 and above into a trap, which hides the message's meaning
/// behind a crash), so a box exits with the largest status it may; the message says which.
pub const CANNOT_RUN: i32 = 125;

/// Why a run cannot start: the message (without the `vfs-box: ` prefix) and the exit status.
pub struct Refused(pub String, pub i32);

/// The configuration a pre-initialized box's snapshot keeps (see [`keep_config`]).
static KEPT: std::sync::OnceLock<BoxConfig> = std::sync::OnceLock::new();

/// Reads the configuration now and keeps it for every run of the snapshot about to be taken:
/// they take it from memory instead of opening, reading and parsing the file (a tenth of a
/// served `-c pass` run). No run can see another file there: each starts from the snapshot's
/// filesystem, and reads the configuration before anything of its own runs.
pub fn keep_config() {
    if let Ok(config) = config() {
        let _ = KEPT.set(config.into_owned());
    }
}

/// The box's configuration, or the plain Python box's when the image carries none: the
/// interpreter as entry point, so the run's arguments go to Python. A kept one is lent, not
/// copied: a run reads a few of its strings, and copying all of them touched pages for nothing.
pub fn config() -> Result<Cow<'static, BoxConfig>, Refused> {
    if let Some(kept) = KEPT.get() {
        return Ok(Cow::Borrowed(kept));
    }
    match std::fs::read(CONFIG_PATH) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| Refused(format!("{CONFIG_PATH}: not UTF-8"), 2))?;
            BoxConfig::parse(&text)
                .map(Cow::Owned)
                .map_err(|e| Refused(e.to_string(), 2))
        }
        Err(_) => Ok(Cow::Owned(BoxConfig {
            entrypoint: Some(vec!["python3".into()]),
            ..BoxConfig::default()
        })),
    }
}

/// Sets the environment and the current directory the box declares: every `ENV` value the
/// host did not set, `HOME` if still unset, then `WORKDIR`. Runs before CPython reads either
/// (at start-up, and again when a snapshot resumes, since each run has its own environment).
pub fn prepare() -> Result<Cow<'static, BoxConfig>, Refused> {
    let config = config()?;
    for (k, v) in added_environment(&config, |k| std::env::var_os(k).is_some()) {
        std::env::set_var(k, v);
    }
    enter_workdir(&config)?;
    Ok(config)
}

/// What the box adds to an environment that already has the names `has` says: every `ENV`
/// default it lacks (a name declared twice with its last value, as Docker has it), then
/// `HOME` if still unset, in that order.
pub fn added_environment<'a>(
    config: &'a BoxConfig,
    has: impl Fn(&str) -> bool + 'a,
) -> Vec<(&'a str, &'a str)> {
    let home_set = has("HOME");
    let mut added: Vec<(&str, &str)> = Vec::new();
    for (k, v) in config.environment_defaults(has) {
        match added.iter_mut().find(|(name, _)| name == k) {
            Some(entry) => entry.1 = v,
            None => added.push((k, v)),
        }
    }
    if !home_set && !added.iter().any(|(name, _)| *name == "HOME") {
        added.push(("HOME", HOME));
    }
    added
}

/// Changes to the box's `WORKDIR`, if it has one.
pub fn enter_workdir(config: &BoxConfig) -> Result<(), Refused> {
    if let Some(dir) = &config.workdir {
        std::env::set_current_dir(dir).map_err(|e| Refused(format!("WORKDIR {dir}: {e}"), 1))?;
    }
    Ok(())
}

/// The command line CPython runs (`argv[0]` is [`PYTHON`]): the configuration's command for
/// this run's arguments, resolved to the interpreter.
pub fn command_line(config: &BoxConfig) -> Result<Vec<Vec<u8>>, Refused> {
    let run_args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| String::from_utf8_lossy(a.as_bytes()).into_owned())
        .collect();
    command_for(config, &run_args)
}

/// The command line CPython runs for the run arguments `run_args` (`docker run IMAGE ARGS`'s
/// `ARGS`): [`command_line`] for arguments other than this process's own.
pub fn command_for(config: &BoxConfig, run_args: &[String]) -> Result<Vec<Vec<u8>>, Refused> {
    let command = config.command(run_args);
    let Some((program, rest)) = command.split_first() else {
        return Err(Refused(
            "no command specified: the box has no CMD or ENTRYPOINT and the run gave no arguments"
                .into(),
            2,
        ));
    };
    let mut argv = vec![PYTHON.as_bytes().to_vec()];
    if !is_python(program) {
        let file = find(program)?;
        argv.extend(script_interpreter_args(&file)?);
        argv.push(file.into_bytes());
    }
    argv.extend(rest.iter().map(|a| a.as_bytes().to_vec()));
    Ok(argv)
}

/// Whether `program` names the interpreter.
fn is_python(program: &str) -> bool {
    let (dir, name) = match program.rsplit_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, program),
    };
    INTERPRETER_NAMES.contains(&name) && dir.is_none_or(|d| INTERPRETER_DIRS.contains(&d))
}

/// The file `program` names: itself if it has a `/`, else the first match in `PATH`.
fn find(program: &str) -> Result<String, Refused> {
    if program.contains('/') {
        return if std::path::Path::new(program).is_file() {
            Ok(program.into())
        } else {
            Err(Refused(format!("{program}: not found"), CANNOT_RUN))
        };
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{}/{program}", d.trim_end_matches('/')))
        .find(|f| std::path::Path::new(f).is_file())
        .ok_or_else(|| Refused(format!("{program}: not found in PATH={path}"), CANNOT_RUN))
}

/// The interpreter options a Python script's `#!` line adds before the script (Linux passes
/// what follows the interpreter as one argument), or why the file cannot run in a box.
fn script_interpreter_args(file: &str) -> Result<Vec<Vec<u8>>, Refused> {
    let not_python = || {
        Refused(
            format!(
                "{file}: cannot execute: a box runs Python programs only, and this file has \
                 no `#!` line naming Python"
            ),
            CANNOT_RUN,
        )
    };
    let head = std::fs::read(file).map_err(|e| Refused(format!("{file}: {e}"), CANNOT_RUN))?;
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(line) = first.strip_prefix(b"#!") else {
        return Err(not_python());
    };
    let line = String::from_utf8_lossy(line);
    let line = line.trim();
    let (interp, arg) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim())),
        None => (line, None),
    };
    if interp.rsplit('/').next() == Some("env") {
        // `#!/usr/bin/env python3`: the argument names the program.
        let program = arg.and_then(|a| a.split_whitespace().next()).unwrap_or("");
        return if is_python(program) {
            Ok(Vec::new())
        } else {
            Err(not_python())
        };
    }
    if !is_python(interp)
        && !interp
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("python"))
    {
        return Err(not_python());
    }
    Ok(arg
        .filter(|a| !a.is_empty())
        .map(|a| vec![a.as_bytes().to_vec()])
        .unwrap_or_default())
}

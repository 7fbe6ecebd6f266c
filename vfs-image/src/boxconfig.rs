//! A box's run configuration: what an OCI image config holds (`Entrypoint`, `Cmd`, `Env`,
//! `WorkingDir`, `Labels`...), written by `vfs-box` into the top image layer at [`CONFIG_PATH`]
//! and read by the Python guest when it starts.
//!
//! It lives in the image rather than in a custom section because the guest can read a file
//! at no cost (its filesystem is in place) and a snapshot then carries it too.
//!
//! The format is text, one `KEY VALUE` record per line, so `vfs-image cat BOX CONFIG_PATH` is
//! readable. A value is escaped so it holds any string on one line (`\\` and `\n`). Records a
//! reader does not know are kept as they are (newer writers stay readable). Order matters for
//! the lists (`entrypoint`, `cmd`, `env`, `label`).

use alloc::string::String;
use alloc::vec::Vec;

/// Where a box keeps its configuration.
pub const CONFIG_PATH: &str = "/.vfs-box/config";

/// The interpreter's path inside a Python box, as in the `python` images: `sys.executable`,
/// the `#!` of installed console scripts, and a placeholder file in the stdlib layer.
pub const INTERPRETER: &str = "/usr/local/bin/python3.11";

/// The names that mean the interpreter (bare, or in [`INTERPRETER_DIRS`]), as the `python`
/// images install them.
pub const INTERPRETER_NAMES: [&str; 3] = ["python", "python3", "python3.11"];

/// The folders in which [`INTERPRETER_NAMES`] mean the interpreter.
pub const INTERPRETER_DIRS: [&str; 3] = ["/usr/local/bin", "/usr/bin", "/bin"];

/// A command: the exec form of `CMD` or `ENTRYPOINT` (the shell form is split into words when
/// the box is built, since a box has no shell).
pub type Argv = Vec<String>;

/// The run configuration of a box (the subset of an OCI image config that means something in a
/// box, plus what `vfs-box inspect` shows).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BoxConfig {
    /// `ENTRYPOINT`: run with `cmd` or the run's arguments appended.
    pub entrypoint: Option<Argv>,
    /// `ENTRYPOINT` was given in shell form: Docker then ignores `CMD` and run-time arguments.
    pub entrypoint_shell: bool,
    /// `CMD`: the default arguments, replaced by the run's arguments when there are any.
    pub cmd: Option<Argv>,
    /// `ENV`: defaults for the environment; a variable the host sets wins.
    pub env: Vec<(String, String)>,
    /// `WORKDIR`: the current directory when the box starts.
    pub workdir: Option<String>,
    /// `LABEL`: metadata, kept for `vfs-box inspect`.
    pub labels: Vec<(String, String)>,
    /// Records this version does not interpret (`expose`, `user`, future keys): kept in order.
    pub other: Vec<(String, String)>,
}

/// An error in a configuration file: the line (1-based) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The line the error is on.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{CONFIG_PATH}:{}: {}", self.line, self.message)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}

fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn unescape(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            other => return Err(alloc::format!("bad escape \\{}", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

impl BoxConfig {
    /// The environment a command sees: the host's `environ`, then every `ENV` default the host
    /// did not set, in order.
    pub fn environment_defaults<'a>(
        &'a self,
        host_has: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = &'a (String, String)> + 'a {
        self.env.iter().filter(move |(k, _)| !host_has(k))
    }

    /// The value `ENV` gives `name`, if any (the last one wins, as in Docker).
    pub fn env_value(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The command a run executes, by Docker's rules: `ENTRYPOINT` followed by the run's
    /// arguments if there are any, else by `CMD`; a shell-form `ENTRYPOINT` takes neither.
    /// Without `ENTRYPOINT` the run's arguments replace `CMD`. Empty when there is nothing to
    /// run (Docker's "no command specified").
    pub fn command(&self, run_args: &[String]) -> Argv {
        let mut argv: Argv = self.entrypoint.clone().unwrap_or_default();
        if self.entrypoint.is_some() && self.entrypoint_shell {
            return argv;
        }
        if run_args.is_empty() {
            argv.extend(self.cmd.iter().flatten().cloned());
        } else {
            argv.extend(run_args.iter().cloned());
        }
        argv
    }

    /// The file's bytes; [`BoxConfig::parse`] reads them back to an equal value.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let record = |out: &mut String, key: &str, value: &str| {
            out.push_str(key);
            out.push(' ');
            escape(out, value);
            out.push('\n');
        };
        if let Some(dir) = &self.workdir {
            record(&mut out, "workdir", dir);
        }
        for (k, v) in &self.env {
            record(&mut out, "env", &alloc::format!("{k}={v}"));
        }
        for (key, argv) in [("entrypoint", &self.entrypoint), ("cmd", &self.cmd)] {
            if let Some(argv) = argv {
                // The list marker, so an empty `CMD []` is kept apart from no `CMD` at all.
                let form = if key == "entrypoint" && self.entrypoint_shell {
                    "shell"
                } else {
                    "exec"
                };
                record(&mut out, &alloc::format!("{key}-form"), form);
                for arg in argv {
                    record(&mut out, key, arg);
                }
            }
        }
        for (k, v) in &self.labels {
            record(&mut out, "label", &alloc::format!("{k}={v}"));
        }
        for (k, v) in &self.other {
            record(&mut out, k, v);
        }
        out
    }

    /// Reads a configuration file.
    pub fn parse(text: &str) -> Result<BoxConfig, ConfigError> {
        let mut c = BoxConfig::default();
        for (i, line) in text.lines().enumerate() {
            let err = |message: String| ConfigError {
                line: i + 1,
                message,
            };
            if line.is_empty() {
                continue;
            }
            let (key, raw) = line.split_once(' ').unwrap_or((line, ""));
            let value = unescape(raw).map_err(err)?;
            let pair = |what: &str| -> Result<(String, String), ConfigError> {
                value
                    .split_once('=')
                    .map(|(k, v)| (k.into(), v.into()))
                    .ok_or_else(|| err(alloc::format!("{what} without `=`: {value:?}")))
            };
            match key {
                "workdir" => c.workdir = Some(value),
                "env" => c.env.push(pair("env")?),
                "label" => c.labels.push(pair("label")?),
                "entrypoint-form" => {
                    c.entrypoint = Some(Vec::new());
                    c.entrypoint_shell = value == "shell";
                }
                "cmd-form" => c.cmd = Some(Vec::new()),
                "entrypoint" | "cmd" => {
                    let list = if key == "cmd" {
                        &mut c.cmd
                    } else {
                        &mut c.entrypoint
                    };
                    list.as_mut()
                        .ok_or_else(|| err(alloc::format!("`{key}` before `{key}-form`")))?
                        .push(value);
                }
                _ => c.other.push((key.into(), value)),
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn strings(v: &[&str]) -> Argv {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn text_round_trips_with_awkward_values() {
        let c = BoxConfig {
            entrypoint: Some(strings(&["python3", "-c", "print(1)\nprint('\\\\')"])),
            entrypoint_shell: false,
            cmd: Some(vec![]),
            env: vec![
                ("A".into(), "x=y z".into()),
                ("EMPTY".into(), String::new()),
            ],
            workdir: Some("/my app".into()),
            labels: vec![("org.opencontainers.image.title".into(), "demo".into())],
            other: vec![("expose".into(), "8080/tcp".into())],
        };
        let text = c.to_text();
        assert_eq!(text.lines().count(), 10, "{text}");
        assert_eq!(BoxConfig::parse(&text), Ok(c));
    }

    #[test]
    fn docker_rules_for_combining_entrypoint_cmd_and_arguments() {
        let mut c = BoxConfig {
            cmd: Some(strings(&["app.py"])),
            ..BoxConfig::default()
        };
        assert_eq!(c.command(&[]), strings(&["app.py"]));
        assert_eq!(c.command(&strings(&["x", "y"])), strings(&["x", "y"]));
        c.entrypoint = Some(strings(&["python3"]));
        assert_eq!(c.command(&[]), strings(&["python3", "app.py"]));
        assert_eq!(c.command(&strings(&["-V"])), strings(&["python3", "-V"]));
        c.entrypoint_shell = true;
        assert_eq!(c.command(&strings(&["-V"])), strings(&["python3"]));
        assert!(BoxConfig::default().command(&[]).is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let e = BoxConfig::parse("workdir /\ncmd x\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("`cmd` before `cmd-form`"), "{e}");
        assert_eq!(BoxConfig::parse("env NOEQUALS\n").unwrap_err().line, 1);
        assert_eq!(
            BoxConfig::parse("cmd-form exec\ncmd a\\q\n")
                .unwrap_err()
                .line,
            2
        );
    }
}

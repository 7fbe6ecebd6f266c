//! The declaration (a `Boxfile` or `Dockerfile`) read into a plan: its stages and their steps,
//! with `ARG` and `ENV` substituted where Docker substitutes, every directive checked before
//! anything is built. The Dockerfile language itself (lines, continuations, comments, parser
//! directives, exec and shell form, here-documents) is parsed by the `parse-dockerfile` crate.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use parse_dockerfile::{Command, Instruction, JsonOrStringArray, Source};
use vfs_image::boxconfig::Argv;

use super::words::{pairs, shell_commands, substitute};

/// The CPython this build provides, as the `python` images name it.
pub const PYTHON_VERSION: &str = "3.11.8";

/// The environment the `python:3.11` images declare (their `ENV` lines that mean something in a
/// box); `HOME` comes from the runtime (the guest's default), as in Docker.
pub const PYTHON_IMAGE_ENV: [(&str, &str); 3] = [
    (
        "PATH",
        "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("LANG", "C.UTF-8"),
    ("PYTHON_VERSION", PYTHON_VERSION),
];

/// An error in the declaration: `FILE:LINE: what`.
#[derive(Debug)]
pub struct DeclError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for DeclError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

impl std::error::Error for DeclError {}

/// What a stage starts from (`FROM`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// `FROM python:3.11...`: CPython 3.11 and its stdlib, with the image's environment.
    Python,
    /// `FROM ./other.wasm`: a box built before, its layers and configuration.
    Box(PathBuf),
    /// `FROM name`: an earlier stage of this declaration.
    Stage(usize),
}

/// `COPY` or `ADD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    /// Sources: paths (with globs) in the context, or in the stage `from`.
    pub sources: Vec<String>,
    /// Where they go in the box (relative to the working directory if not absolute).
    pub dest: String,
    /// `--from=STAGE`: an earlier stage (by name or index).
    pub from: Option<usize>,
    /// `--chmod=OCTAL`.
    pub chmod: Option<u32>,
    /// `ADD`: a local tar archive is unpacked.
    pub add: bool,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Copy(Copy),
    /// `RUN`: the commands of an `&&` chain (one for the exec form), with the `ARG` values in
    /// scope, which Docker puts in the command's environment.
    Run {
        commands: Vec<Argv>,
        args: Vec<(String, String)>,
    },
    /// `WORKDIR`, already absolute.
    Workdir(String),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Cmd(Argv),
    /// `ENTRYPOINT`; `true` for the shell form.
    Entrypoint(Argv, bool),
    /// A directive kept as metadata only (`EXPOSE`, `VOLUME`, `STOPSIGNAL`...): its config key
    /// and value, for `vfs-box inspect`.
    Note(&'static str, String),
}

/// One directive of a stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Its first line in the file.
    pub line: usize,
    /// Its text on one line, as progress shows it.
    pub text: String,
    pub action: Action,
}

/// One `FROM` and what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    pub name: Option<String>,
    pub base: Base,
    pub line: usize,
    pub text: String,
    pub steps: Vec<Step>,
}

/// A declaration read and checked.
#[derive(Debug)]
pub struct Declaration {
    pub file: PathBuf,
    pub stages: Vec<Stage>,
    /// Notes for directives accepted with a difference from Docker (`USER`, `HEALTHCHECK`...).
    pub warnings: Vec<String>,
}

/// The 1-based line of byte offset `pos`.
fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// `image` is a `python` image of CPython 3.11, another version of it, or something else.
fn python_base(image: &str) -> Result<(), String> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let (name, tag) = match no_digest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (no_digest, "latest"),
    };
    let name = name
        .trim_start_matches("docker.io/")
        .trim_start_matches("library/");
    if name != "python" {
        return Err(format!(
            "FROM {image}: a box starts from `python:3.11` (CPython {PYTHON_VERSION} for \
             wasm32-wasi), a box built before (`FROM ./other.wasm`) or an earlier stage"
        ));
    }
    let version = tag.split('-').next().unwrap_or(tag);
    let is_311 = version == "3.11"
        || version
            .strip_prefix("3.11.")
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !is_311 {
        return Err(format!(
            "FROM {image}: this build provides CPython {PYTHON_VERSION} only; \
             use `python:3.11` (or a 3.11 tag such as `python:3.11-slim`)"
        ));
    }
    Ok(())
}

/// The last value `name` has in `list` (a later `ARG`, `ENV` or `--build-arg` wins).
fn last_value(list: &[(String, String)], name: &str) -> Option<String> {
    list.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The variables visible to substitution in a stage: `ENV` first, then `ARG`.
struct Scope<'a> {
    env: Vec<(String, String)>,
    args: Vec<(String, String)>,
    build_args: &'a [(String, String)],
}

impl Scope<'_> {
    fn get(&self, name: &str) -> Option<String> {
        last_value(&self.env, name).or_else(|| last_value(&self.args, name))
    }

    /// `ARG NAME[=DEFAULT]`: the build argument if given, else the default (or the global
    /// value, for a bare `ARG NAME` inside a stage).
    fn declare(&mut self, name: String, default: Option<String>, global: &[(String, String)]) {
        let value = last_value(self.build_args, &name)
            .or(default)
            .or_else(|| last_value(global, &name));
        if let Some(v) = value {
            self.args.push((name, v));
        }
    }
}

/// The octal mode of `--chmod`.
fn chmod(value: &str) -> Result<u32, String> {
    u32::from_str_radix(value, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("--chmod={value}: expected an octal mode such as 755"))
}

/// Reads `file` (its text `text`) with the build arguments given.
pub fn parse(
    file: &Path,
    text: &str,
    build_args: &[(String, String)],
    context: &Path,
) -> Result<Declaration> {
    let err = |line: usize, message: String| DeclError {
        file: file.to_path_buf(),
        line,
        message,
    };
    let doc = parse_dockerfile::parse(text).map_err(|e| {
        // The crate's message repeats the position; the line leads ours.
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        err(e.line(), msg)
    })?;
    let escape = doc
        .parser_directives
        .escape
        .as_ref()
        .map_or('\\', |d| d.value.value);
    let mut warnings = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut global: Vec<(String, String)> = Vec::new();
    let mut scope: Option<Scope> = None;
    let stage_index = |stages: &[Stage], name: &str| -> Option<usize> {
        stages
            .iter()
            .position(|s| s.name.as_deref() == Some(name))
            .or_else(|| name.parse::<usize>().ok().filter(|i| *i < stages.len()))
    };
    for ins in &doc.instructions {
        let start = keyword_start(ins);
        let line = line_of(text, start);
        let raw = instruction_text(text, start, escape);
        // Continuations joined, as progress and messages show it.
        let one_line = raw
            .replace(&format!("{escape}\n"), " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let fail = |m: String| err(line, m);
        if let Instruction::From(f) = ins {
            let lookup = |n: &str| last_value(&global, n);
            let image = substitute(&f.image.value, escape, &lookup).map_err(fail)?;
            if let Some(flag) = f.options.iter().find(|o| o.name.value != "platform") {
                return Err(fail(format!("FROM --{}: not supported", flag.name.value)).into());
            }
            let name = f.as_.as_ref().map(|(_, n)| n.value.to_string());
            let (base, env) = if image.ends_with(".wasm")
                || image.starts_with("./")
                || image.starts_with('/')
            {
                let path = context.join(&image);
                if !path.is_file() {
                    return Err(
                        fail(format!("FROM {image}: no such box ({})", path.display())).into(),
                    );
                }
                let env = super::from_box::config(&path)
                    .map_err(|e| fail(format!("FROM {image}: {e:#}")))?
                    .env;
                (Base::Box(path), env)
            } else if let Some(i) = stage_index(&stages, &image) {
                (Base::Stage(i), stage_env(&stages, i))
            } else {
                python_base(&image).map_err(fail)?;
                (
                    Base::Python,
                    PYTHON_IMAGE_ENV
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                )
            };
            if let Some(n) = &name {
                if stages.iter().any(|s| s.name.as_ref() == Some(n)) {
                    return Err(fail(format!("stage name {n:?} is used twice")).into());
                }
            }
            stages.push(Stage {
                name,
                base,
                line,
                text: one_line,
                steps: Vec::new(),
            });
            scope = Some(Scope {
                env,
                args: Vec::new(),
                build_args,
            });
            continue;
        }
        let Some(sc) = scope.as_mut() else {
            if let Instruction::Arg(a) = ins {
                let lookup = |n: &str| last_value(&global, n);
                for (k, v) in pairs(&a.arguments.value, escape, &lookup).map_err(fail)? {
                    let value = last_value(build_args, &k).or(v);
                    if let Some(v) = value {
                        global.push((k, v));
                    }
                }
                continue;
            }
            return Err(fail("the first directive must be FROM (or ARG before it)".into()).into());
        };
        let lookup = |n: &str| sc.get(n);
        let sub = |s: &str| substitute(s, escape, &lookup).map_err(fail);
        let action = match ins {
            Instruction::Arg(a) => {
                let declared = pairs(&a.arguments.value, escape, &lookup).map_err(fail)?;
                for (k, v) in declared {
                    sc.declare(k, v, &global);
                }
                continue;
            }
            Instruction::Env(e) => {
                let mut set = Vec::new();
                for (k, v) in pairs(&e.arguments.value, escape, &lookup).map_err(fail)? {
                    let v = v.ok_or_else(|| fail(format!("ENV {k}: no value")))?;
                    set.push((k, v));
                }
                sc.env.extend(set.iter().cloned());
                Action::Env(set)
            }
            Instruction::Label(l) => {
                let mut set = Vec::new();
                for (k, v) in pairs(&l.arguments.value, escape, &lookup).map_err(fail)? {
                    let v = v.ok_or_else(|| fail(format!("LABEL {k}: no value")))?;
                    set.push((k, v));
                }
                Action::Label(set)
            }
            Instruction::Maintainer(m) => {
                Action::Label(vec![("maintainer".into(), m.name.value.to_string())])
            }
            Instruction::Workdir(w) => {
                let dir = sub(&w.arguments.value)?;
                let current = stages.last().and_then(|s| {
                    s.steps.iter().rev().find_map(|st| match &st.action {
                        Action::Workdir(d) => Some(d.clone()),
                        _ => None,
                    })
                });
                Action::Workdir(absolute(&dir, current.as_deref().unwrap_or("/")))
            }
            Instruction::Copy(_) | Instruction::Add(_) => {
                let (options, src, dest, add) = match ins {
                    Instruction::Copy(c) => (&c.options, &c.src, &c.dest, false),
                    Instruction::Add(a) => (&a.options, &a.src, &a.dest, true),
                    _ => unreachable!("matched above"),
                };
                let directive = if add { "ADD" } else { "COPY" };
                let mut copy = Copy {
                    sources: Vec::new(),
                    dest: sub(&dest.value)?,
                    from: None,
                    chmod: None,
                    add,
                };
                for o in options {
                    let value = o
                        .value
                        .as_ref()
                        .map(|v| v.value.to_string())
                        .unwrap_or_default();
                    match &*o.name.value {
                        "from" if !add => {
                            let v = sub(&value)?;
                            copy.from = Some(stage_index(&stages[..stages.len() - 1], &v).ok_or_else(|| {
                                fail(format!("COPY --from={v}: no earlier stage of that name (images other than stages cannot be fetched)"))
                            })?);
                        }
                        "chmod" => copy.chmod = Some(chmod(&sub(&value)?).map_err(fail)?),
                        "chown" => warnings.push(format!(
                            "{}:{line}: {directive} --chown ignored: every file in a box belongs to root (0:0)",
                            file.display()
                        )),
                        "link" => {}
                        other => {
                            return Err(fail(format!("{directive} --{other}: not supported")).into())
                        }
                    }
                }
                for s in src {
                    match s {
                        Source::Path(p) => {
                            let p = sub(&p.value)?;
                            if p.contains("://") || p.starts_with("git@") {
                                return Err(fail(format!(
                                    "{directive} {p}: remote sources are not supported; put the file in the build context"
                                ))
                                .into());
                            }
                            copy.sources.push(p);
                        }
                        _ => {
                            return Err(fail(format!(
                                "{directive} with a here-document: not supported"
                            ))
                            .into())
                        }
                    }
                }
                Action::Copy(copy)
            }
            Instruction::Run(r) => {
                if let Some(o) = r.options.first() {
                    return Err(fail(format!(
                        "RUN --{}: not supported (a box's RUN has no mounts, network or security modes)",
                        o.name.value
                    ))
                    .into());
                }
                if !r.here_docs.is_empty() {
                    return Err(fail(
                        "RUN with a here-document needs a shell, and a box has none".into(),
                    )
                    .into());
                }
                // A shell-form RUN sees the ARG values in its environment (as Docker passes
                // them) and the ENV values; substitution is what `sh` would do with them.
                let commands = command(&r.arguments, &lookup).map_err(fail)?;
                if commands.is_empty() {
                    return Err(fail("RUN with no command".into()).into());
                }
                Action::Run {
                    commands,
                    args: sc.args.clone(),
                }
            }
            Instruction::Cmd(c) => {
                Action::Cmd(one_command(&c.arguments, &lookup, "CMD").map_err(fail)?)
            }
            Instruction::Entrypoint(e) => Action::Entrypoint(
                one_command(&e.arguments, &lookup, "ENTRYPOINT").map_err(fail)?,
                matches!(e.arguments, Command::Shell(_)),
            ),
            Instruction::Expose(e) => {
                let ports: Vec<String> = e
                    .arguments
                    .iter()
                    .map(|p| sub(&p.value))
                    .collect::<Result<_, _>>()?;
                Action::Note("expose", ports.join(" "))
            }
            Instruction::Volume(v) => {
                let paths: Vec<String> = match &v.arguments {
                    JsonOrStringArray::Json(a) => a
                        .value
                        .iter()
                        .map(|p| sub(&p.value))
                        .collect::<Result<_, _>>()?,
                    JsonOrStringArray::String(a) => {
                        a.iter().map(|p| sub(&p.value)).collect::<Result<_, _>>()?
                    }
                };
                warnings.push(format!(
                    "{}:{line}: VOLUME {} recorded only: a box's files are in memory for the run; map host folders with `--dir`",
                    file.display(),
                    paths.join(" ")
                ));
                Action::Note("volume", paths.join(" "))
            }
            Instruction::Stopsignal(s) => Action::Note("stopsignal", sub(&s.arguments.value)?),
            Instruction::User(u) => {
                let user = sub(&u.arguments.value)?;
                if !matches!(user.as_str(), "root" | "0" | "0:0" | "root:root") {
                    warnings.push(format!(
                        "{}:{line}: USER {user} recorded only: a box has one user, and the guest sees uid 0",
                        file.display()
                    ));
                }
                Action::Note("user", user)
            }
            Instruction::Healthcheck(_) => {
                warnings.push(format!(
                    "{}:{line}: HEALTHCHECK recorded only: no runtime probes a box",
                    file.display()
                ));
                Action::Note(
                    "healthcheck",
                    one_line
                        .trim_start_matches("HEALTHCHECK")
                        .trim()
                        .to_string(),
                )
            }
            Instruction::Shell(s) => {
                let argv: Vec<String> = s.arguments.iter().map(|a| a.value.to_string()).collect();
                return Err(fail(format!(
                    "SHELL {argv:?}: a box has no shell to choose; shell-form commands are split into words by vfs-box itself"
                ))
                .into());
            }
            Instruction::Onbuild(_) => {
                return Err(fail(
                    "ONBUILD: not supported (a box built from this one would not run the triggers)"
                        .into(),
                )
                .into())
            }
            _ => return Err(fail("this directive is not supported".into()).into()),
        };
        stages
            .last_mut()
            .expect("a scope means a stage")
            .steps
            .push(Step {
                line,
                text: one_line,
                action,
            });
    }
    if stages.is_empty() {
        bail!(err(1, "no FROM: the declaration has no stage".into()));
    }
    for (k, _) in build_args {
        let used = global.iter().any(|(g, _)| g == k)
            || doc.instructions.iter().any(|i| match i {
                Instruction::Arg(a) => {
                    a.arguments.value.split(['=', ' ']).next() == Some(k.as_str())
                }
                _ => false,
            });
        if !used {
            warnings.push(format!(
                "--build-arg {k}: not declared by any ARG (ignored)"
            ));
        }
    }
    Ok(Declaration {
        file: file.to_path_buf(),
        stages,
        warnings,
    })
}

/// The environment stage `i` ends with (its base's, then its `ENV` steps), for a stage built
/// on it.
fn stage_env(stages: &[Stage], i: usize) -> Vec<(String, String)> {
    let mut env = match &stages[i].base {
        Base::Stage(j) => stage_env(stages, *j),
        Base::Python => PYTHON_IMAGE_ENV
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        Base::Box(path) => super::from_box::config(path)
            .map(|c| c.env)
            .unwrap_or_default(),
    };
    for s in &stages[i].steps {
        if let Action::Env(set) = &s.action {
            env.extend(set.iter().cloned());
        }
    }
    env
}

/// `path` made absolute against `cwd`, with `.` and `..` resolved (`WORKDIR`, `COPY` dest).
pub fn absolute(path: &str, cwd: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", cwd.trim_end_matches('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The commands of a `RUN`: the exec form as it is, the shell form split.
fn command(c: &Command<'_>, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Argv>, String> {
    match c {
        Command::Exec(argv) => Ok(vec![argv
            .value
            .iter()
            .map(|a| a.value.to_string())
            .collect()]),
        Command::Shell(s) => shell_commands(s.value, lookup),
        _ => Err("a command form this build does not know".into()),
    }
}

/// The command of a `CMD` or `ENTRYPOINT`, which must be one (no `&&`: a box runs one program).
fn one_command(
    c: &Command<'_>,
    lookup: &dyn Fn(&str) -> Option<String>,
    directive: &str,
) -> Result<Argv, String> {
    let mut commands = command(c, lookup)?;
    match commands.len() {
        0 => Ok(Vec::new()),
        1 => Ok(commands.remove(0)),
        _ => Err(format!(
            "{directive} with `&&`: a box runs one program; put the steps in a Python script"
        )),
    }
}

/// Where an instruction's keyword starts.
fn keyword_start(ins: &Instruction<'_>) -> usize {
    match ins {
        Instruction::Add(i) => i.add.span.start,
        Instruction::Arg(i) => i.arg.span.start,
        Instruction::Cmd(i) => i.cmd.span.start,
        Instruction::Copy(i) => i.copy.span.start,
        Instruction::Entrypoint(i) => i.entrypoint.span.start,
        Instruction::Env(i) => i.env.span.start,
        Instruction::Expose(i) => i.expose.span.start,
        Instruction::From(i) => i.from.span.start,
        Instruction::Healthcheck(i) => i.healthcheck.span.start,
        Instruction::Label(i) => i.label.span.start,
        Instruction::Maintainer(i) => i.maintainer.span.start,
        Instruction::Onbuild(i) => i.onbuild.span.start,
        Instruction::Run(i) => i.run.span.start,
        Instruction::Shell(i) => i.shell.span.start,
        Instruction::Stopsignal(i) => i.stopsignal.span.start,
        Instruction::User(i) => i.user.span.start,
        Instruction::Volume(i) => i.volume.span.start,
        Instruction::Workdir(i) => i.workdir.span.start,
        // A directive added to the parser later: its line is unknown here.
        _ => 0,
    }
}

/// The directive's source text: from its keyword to the end of its last continued line.
fn instruction_text(text: &str, start: usize, escape: char) -> &str {
    let mut end = start;
    let bytes = text.as_bytes();
    loop {
        let line_end = text[end..].find('\n').map_or(text.len(), |n| end + n);
        let continued = text[end..line_end].trim_end().ends_with(escape);
        end = line_end;
        if !continued || end >= bytes.len() {
            break;
        }
        end += 1;
    }
    &text[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str, args: &[(&str, &str)]) -> Result<Declaration> {
        let args: Vec<(String, String)> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(Path::new("Dockerfile"), text, &args, Path::new("."))
    }

    fn actions(d: &Declaration) -> Vec<Action> {
        d.stages
            .iter()
            .flat_map(|s| s.steps.iter().map(|s| s.action.clone()))
            .collect()
    }

    #[test]
    fn python_tags() {
        for ok in [
            "python:3.11",
            "python:3.11-slim",
            "python:3.11.8-alpine3.19",
            "docker.io/library/python:3.11-bookworm",
            "python:3.11@sha256:abc",
        ] {
            assert!(python_base(ok).is_ok(), "{ok}");
        }
        for bad in [
            "python",
            "python:3.12",
            "python:3.1",
            "python:3.11x",
            "ubuntu:24.04",
            "mypython:3.11",
        ] {
            assert!(python_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn args_env_and_workdir_substitute_in_order() {
        let d = plan(
            "ARG TAG=3.11\nFROM python:${TAG}-slim AS base\nARG DIR=/srv\nENV APP=$DIR/app\nWORKDIR $APP\nWORKDIR sub\nRUN python -c 'print(1)' && python $APP/x.py\nENTRYPOINT python -m app\nCMD [\"$APP\"]\n",
            &[("DIR", "/opt")],
        )
        .unwrap();
        assert_eq!(d.stages[0].name.as_deref(), Some("base"));
        assert_eq!(
            actions(&d),
            vec![
                Action::Env(vec![("APP".into(), "/opt/app".into())]),
                Action::Workdir("/opt/app".into()),
                Action::Workdir("/opt/app/sub".into()),
                Action::Run {
                    commands: vec![
                        vec!["python".into(), "-c".into(), "print(1)".into()],
                        vec!["python".into(), "/opt/app/x.py".into()],
                    ],
                    args: vec![("DIR".into(), "/opt".into())],
                },
                Action::Entrypoint(vec!["python".into(), "-m".into(), "app".into()], true),
                // The exec form is not substituted, as in Docker.
                Action::Cmd(vec!["$APP".into()]),
            ]
        );
        let d = plan("FROM python:3.11\nARG X\n", &[("NOPE", "1")]).unwrap();
        assert!(
            d.warnings.iter().any(|w| w.contains("--build-arg NOPE")),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn escape_directive_and_continuations() {
        let d = plan("# escape=`\nFROM python:3.11\nENV A=1 `\n    B=2\n", &[]).unwrap();
        let step = &d.stages[0].steps[0];
        assert_eq!(step.line, 3);
        assert_eq!(step.text, "ENV A=1 B=2");
    }

    #[test]
    fn refusals_name_the_line() {
        for (text, line, says) in [
            (
                "FROM python:3.11\nSHELL [\"/bin/bash\", \"-c\"]\n",
                2,
                "no shell",
            ),
            ("FROM python:3.11\n\nONBUILD RUN x\n", 3, "ONBUILD"),
            (
                "FROM python:3.11\nRUN --mount=type=cache,target=/x python -V\n",
                2,
                "--mount",
            ),
            (
                "FROM python:3.11\nCOPY --from=nowhere a b\n",
                2,
                "no earlier stage",
            ),
            (
                "FROM python:3.11\nADD https://example.com/x /x\n",
                2,
                "remote sources",
            ),
            ("FROM python:3.11\nCOPY --chmod=999 a b\n", 2, "octal"),
            ("WORKDIR /x\n", 1, "expected FROM"),
            (
                "FROM python:3.11\nCMD python a.py && python b.py\n",
                2,
                "one program",
            ),
        ] {
            let e = plan(text, &[]).unwrap_err();
            let d = e
                .downcast_ref::<DeclError>()
                .unwrap_or_else(|| panic!("{e:#}"));
            assert_eq!(d.line, line, "{text}: {d}");
            assert!(d.message.contains(says), "{text}: {d}");
        }
    }
}

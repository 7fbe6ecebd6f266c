//! Words of a declaration: Docker's variable substitution (`$NAME`, `${NAME}`,
//! `${NAME:-word}`, `${NAME:+word}`, `${NAME-word}`, `${NAME+word}`) with its quoting rules, and
//! the split of a shell-form command into words where a box can do without a shell.
//!
//! Docker substitutes in `ADD`, `COPY`, `ENV`, `EXPOSE`, `FROM`, `LABEL`, `STOPSIGNAL`, `USER`,
//! `VOLUME` and `WORKDIR`; `RUN`, `CMD` and `ENTRYPOINT` in shell form are left to `/bin/sh`,
//! which a box does not have, so [`shell_commands`] does the part of `sh` that simple command
//! lines use (quotes, escapes, `$VAR`, `&&`) and refuses the rest by name.

/// Looks a variable up: `None` when it is not set (unlike set-but-empty).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One step of lexing: what the lexer found besides characters of a word.
enum Stop {
    /// Whitespace outside quotes: the word ends.
    Space,
    /// An unquoted shell operator (`&&`, `|`, `;`...), for [`shell_commands`].
    Operator(&'static str),
}

/// A lexer over one string; `shell` says whether shell operators are recognized.
struct Lexer<'s> {
    chars: std::iter::Peekable<std::str::Chars<'s>>,
    escape: char,
    lookup: Lookup<'s>,
    shell: bool,
    /// Unquoted whitespace ends a word (off for [`substitute`], which keeps it as it is).
    split: bool,
}

impl<'s> Lexer<'s> {
    fn new(text: &'s str, escape: char, lookup: Lookup<'s>, shell: bool) -> Self {
        Lexer {
            chars: text.chars().peekable(),
            escape,
            lookup,
            shell,
            split: true,
        }
    }

    /// A variable name (letters, digits, `_`), possibly empty.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&c) = self.chars.peek() {
            if !(c.is_ascii_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.chars.next();
        }
        name
    }

    /// Reads a variable reference after its `$`, appending the value to `out`.
    fn variable(&mut self, out: &mut String) -> Result<(), String> {
        match self.chars.peek().copied() {
            Some('{') => {
                self.chars.next();
                let name = self.name();
                if name.is_empty() {
                    return Err("`${` without a variable name".into());
                }
                let value = (self.lookup)(&name);
                let modifier = match self.chars.next() {
                    Some('}') => {
                        out.push_str(value.as_deref().unwrap_or(""));
                        return Ok(());
                    }
                    Some(':') => match self.chars.next() {
                        Some(m @ ('-' | '+')) => (m, true),
                        other => {
                            return Err(format!(
                            "unsupported modifier `:{}` in ${{{name}...}} (Docker has :- and :+)",
                            other.map(String::from).unwrap_or_default()
                        ))
                        }
                    },
                    Some(m @ ('-' | '+')) => (m, false),
                    Some(c) => return Err(format!("unexpected `{c}` in ${{{name}...}}")),
                    None => return Err(format!("unterminated ${{{name}")),
                };
                let word = self.braced_word()?;
                let set = match (&value, modifier.1) {
                    (Some(v), true) => !v.is_empty(),
                    (Some(_), false) => true,
                    (None, _) => false,
                };
                match modifier.0 {
                    '-' if set => out.push_str(value.as_deref().unwrap_or("")),
                    '-' => out.push_str(&word),
                    _ if set => out.push_str(&word),
                    _ => {}
                }
                Ok(())
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let name = self.name();
                out.push_str(&(self.lookup)(&name).unwrap_or_default());
                Ok(())
            }
            Some('(') if self.shell => Err("command substitution `$(...)` needs a shell".into()),
            _ => {
                out.push('$');
                Ok(())
            }
        }
    }

    /// The word of a `${NAME:-word}` modifier, up to its closing brace, itself substituted.
    fn braced_word(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.chars.next() {
                None => return Err("unterminated `${...}`".into()),
                Some('}') => return Ok(out),
                Some('$') => self.variable(&mut out)?,
                Some(c) if c == self.escape => {
                    if let Some(n) = self.chars.next() {
                        out.push(n);
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// Reads one word into `out`; returns what ended it (`None` at the end of the input) and
    /// whether any of it was read (so `""` is an empty word, not none).
    fn word(&mut self, out: &mut String) -> Result<(Option<Stop>, bool), String> {
        let mut any = false;
        while let Some(c) = self.chars.next() {
            match c {
                c if c.is_whitespace() && self.split => {
                    if any {
                        return Ok((Some(Stop::Space), true));
                    }
                }
                '\'' => {
                    any = true;
                    loop {
                        match self.chars.next() {
                            Some('\'') => break,
                            Some(c) => out.push(c),
                            None => return Err("unterminated single quote".into()),
                        }
                    }
                }
                '"' => {
                    any = true;
                    loop {
                        match self.chars.next() {
                            Some('"') => break,
                            Some('$') => self.variable(out)?,
                            Some(e) if e == self.escape => match self.chars.next() {
                                Some(n @ ('"' | '$' | '`')) => out.push(n),
                                Some(n) if n == self.escape => out.push(n),
                                // An escaped newline continues the line.
                                Some('\n') => {}
                                Some(n) => {
                                    out.push(e);
                                    out.push(n);
                                }
                                None => return Err("unterminated double quote".into()),
                            },
                            Some('`') if self.shell => {
                                return Err(
                                    "command substitution with backquotes needs a shell".into()
                                )
                            }
                            Some(c) => out.push(c),
                            None => return Err("unterminated double quote".into()),
                        }
                    }
                }
                e if e == self.escape => match self.chars.next() {
                    Some('\n') => {}
                    Some(n) => {
                        any = true;
                        out.push(n);
                    }
                    None => {}
                },
                '$' => {
                    any = true;
                    self.variable(out)?;
                }
                '#' if self.shell && !any => {
                    // A comment runs to the end of the line.
                    for c in self.chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                '&' | '|' | ';' | '<' | '>' | '`' | '(' | ')' if self.shell => {
                    let op = match (c, self.chars.peek()) {
                        ('&', Some('&')) => "&&",
                        ('|', Some('|')) => "||",
                        ('&', _) => "&",
                        ('|', _) => "|",
                        (';', _) => ";",
                        ('<', _) => "<",
                        ('>', _) => ">",
                        ('`', _) => "`",
                        ('(', _) => "(",
                        _ => ")",
                    };
                    if op.len() == 2 {
                        self.chars.next();
                    }
                    return Ok((Some(Stop::Operator(op)), any));
                }
                c => {
                    any = true;
                    out.push(c);
                }
            }
        }
        Ok((None, any))
    }
}

/// `text` as one word: quotes removed, variables substituted, whitespace kept (what Docker does
/// to each argument of `COPY`, `WORKDIR`, `FROM`...).
pub fn substitute(text: &str, escape: char, lookup: Lookup<'_>) -> Result<String, String> {
    let mut lexer = Lexer::new(text, escape, lookup, false);
    lexer.split = false;
    let mut out = String::new();
    lexer.word(&mut out)?;
    Ok(out)
}

/// `text` split into words at unquoted whitespace, each substituted (`ENV A=1 B="x y"`).
pub fn words(text: &str, escape: char, lookup: Lookup<'_>) -> Result<Vec<String>, String> {
    let mut lexer = Lexer::new(text, escape, lookup, false);
    let mut out = Vec::new();
    loop {
        let mut w = String::new();
        let (stop, any) = lexer.word(&mut w)?;
        if any {
            out.push(w);
        }
        if stop.is_none() {
            return Ok(out);
        }
    }
}

/// `KEY=VALUE` pairs (`ENV`, `LABEL`, `ARG` in their `=` form), or the legacy `ENV KEY VALUE`
/// with the value the rest of the line.
pub fn pairs(
    text: &str,
    escape: char,
    lookup: Lookup<'_>,
) -> Result<Vec<(String, Option<String>)>, String> {
    let ws = words(text, escape, lookup)?;
    let Some(first) = ws.first() else {
        return Err("expected KEY=VALUE".into());
    };
    if !first.contains('=') {
        // `ENV KEY VALUE...` (and `ARG NAME`): one pair, the value is the rest of the line.
        let name = first.clone();
        let rest = text
            .trim_start()
            .split_once(char::is_whitespace)
            .map_or("", |(_, rest)| rest.trim());
        if rest.is_empty() {
            return Ok(vec![(name, None)]);
        }
        return Ok(vec![(name, Some(substitute(rest, escape, lookup)?))]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), Some(v.to_string()))),
            _ => Err(format!("expected KEY=VALUE, found {w:?}")),
        })
        .collect()
}

/// A shell-form command line split into the commands of an `&&` chain, each a list of words,
/// with the variables of `lookup` substituted as `sh` would. Anything else a shell would
/// interpret (pipes, redirections, `;`, `||`, `&`, subshells, command substitution) is an error
/// naming it: the box has no shell to run it.
pub fn shell_commands(text: &str, lookup: Lookup<'_>) -> Result<Vec<Vec<String>>, String> {
    let mut lexer = Lexer::new(text, '\\', lookup, true);
    let mut commands = vec![Vec::new()];
    loop {
        let mut w = String::new();
        let (stop, any) = lexer.word(&mut w)?;
        let current = commands.last_mut().expect("never empty");
        if any {
            current.push(w);
        }
        match stop {
            None => break,
            Some(Stop::Space) => {}
            Some(Stop::Operator("&&")) => {
                if current.is_empty() {
                    return Err("`&&` with no command before it".into());
                }
                commands.push(Vec::new());
            }
            Some(Stop::Operator(op)) => {
                return Err(format!(
                    "`{op}` needs a shell, and a box has none (only `&&` between commands is \
                     understood); use the exec form or a Python script"
                ))
            }
        }
    }
    if commands.last().is_some_and(|c| c.is_empty()) {
        if commands.len() > 1 {
            return Err("`&&` with no command after it".into());
        }
        commands.pop();
    }
    Ok(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "APP" => Some("/srv/app".into()),
            "EMPTY" => Some(String::new()),
            "SPACED" => Some("a b".into()),
            _ => None,
        }
    }

    #[test]
    fn substitution_follows_docker() {
        let s = |t: &str| substitute(t, '\\', &env).unwrap();
        assert_eq!(s("$APP/x"), "/srv/app/x");
        assert_eq!(s("${APP}x"), "/srv/appx");
        assert_eq!(s("${NOPE:-def}"), "def");
        assert_eq!(s("${EMPTY:-def}"), "def");
        assert_eq!(s("${EMPTY-def}"), "");
        assert_eq!(s("${APP:+yes}"), "yes");
        assert_eq!(s("${NOPE:+yes}"), "");
        assert_eq!(s("${NOPE:-$APP/d}"), "/srv/app/d");
        assert_eq!(s(r"\$APP"), "$APP");
        assert_eq!(s("'$APP'"), "$APP");
        assert_eq!(s("\"$APP\""), "/srv/app");
        assert_eq!(s("cost $"), "cost $");
        assert_eq!(s("`$APP`"), "`/srv/app`");
        assert!(substitute("${APP", '\\', &env).is_err());
        assert!(substitute("${APP:?x}", '\\', &env).is_err());
        // The escape directive changes the escape character.
        assert_eq!(substitute("`$APP", '`', &env).unwrap(), "$APP");
    }

    #[test]
    fn pairs_in_both_forms() {
        let p = |t: &str| pairs(t, '\\', &env).unwrap();
        assert_eq!(
            p(r#"A=1 B="two words" C=$APP D=\ x"#),
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), Some("two words".into())),
                ("C".into(), Some("/srv/app".into())),
                ("D".into(), Some(" x".into())),
            ]
        );
        assert_eq!(
            p("NAME the rest  of it"),
            vec![("NAME".into(), Some("the rest  of it".into()))]
        );
        assert_eq!(p("NAME"), vec![("NAME".into(), None)]);
        assert_eq!(p("X="), vec![("X".into(), Some(String::new()))]);
        assert!(pairs("A=1 B", '\\', &env).is_err());
        assert!(pairs("=1", '\\', &env).is_err());
    }

    #[test]
    fn shell_form_commands() {
        let c = |t: &str| shell_commands(t, &env);
        assert_eq!(
            c("pip install --no-cache-dir -r requirements.txt").unwrap(),
            vec![vec![
                "pip",
                "install",
                "--no-cache-dir",
                "-r",
                "requirements.txt"
            ]]
        );
        assert_eq!(
            c("python -c 'print(1)' && \\\n  python  \"$APP/x.py\" ''").unwrap(),
            vec![
                vec!["python", "-c", "print(1)"],
                vec!["python", "/srv/app/x.py", ""]
            ]
        );
        // The variable's value is one word here (sh would split it; documented).
        assert_eq!(c("echo $SPACED").unwrap(), vec![vec!["echo", "a b"]]);
        assert_eq!(
            c("python -c 'a && b | c'").unwrap(),
            vec![vec!["python", "-c", "a && b | c"]]
        );
        assert_eq!(c("  ").unwrap(), Vec::<Vec<String>>::new());
        for (bad, named) in [
            ("ls | wc", "`|`"),
            ("a; b", "`;`"),
            ("a > f", "`>`"),
            ("a || b", "`||`"),
            ("a &", "`&`"),
            ("echo $(date)", "$(...)"),
            ("echo `date`", "`"),
            ("a &&", "after"),
            ("&& a", "before"),
        ] {
            let e = c(bad).unwrap_err();
            assert!(e.contains(named), "{bad}: {e}");
        }
    }
}

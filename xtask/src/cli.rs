//! One argument parser for every command. A command declares its arguments once, as a
//! [`Command`]; its usage line, its `--help` and its usage errors are all made from that one
//! declaration, so they cannot drift apart.
//!
//! Splitting the command line into flags and values is lexopt's (one small file, no
//! dependencies, no proc-macro; `--flag=value`, `--` and non-UTF-8 arguments handled). Measured
//! on 2 cores, it adds about 0.3 s to a clean build of the xtask; clap with derive adds 6 s.
//! The declaration and the help text are ours: lexopt leaves them to its user.
//!
//! ```text
//! const CLI: cli::Command = cli::Command {
//!     name: "matrix",
//!     about: "the isolation each stage really has",
//!     args: &[cli::flag("json", "print JSON instead of the table")],
//!     rest: None,
//!     notes: "",
//! };
//! let args = CLI.parse(argv)?;   // `--help` and usage errors are handled by `util::finish`
//! let json = args.flag("json");
//! ```

use std::ffi::{OsStr, OsString};

use anyhow::Result;

use crate::util::{self, Usage};

/// Help text is wrapped to this width: the talk is projected on an 80-column terminal.
pub const WIDTH: usize = 80;

/// One command's arguments, in the order its usage line shows them.
pub struct Command {
    /// As typed after `cargo xtask`.
    pub name: &'static str,
    /// What it does, in one line.
    pub about: &'static str,
    /// Flags and positional arguments.
    pub args: &'static [Arg],
    /// Arguments passed on as they are (a stage's command, a test filter).
    pub rest: Option<Rest>,
    /// Paragraphs shown at the end of `--help` (may be empty).
    pub notes: &'static str,
}

/// A flag (`--name`, maybe with a value) or a positional argument.
pub enum Arg {
    Flag {
        long: &'static str,
        value: Option<&'static str>,
        help: &'static str,
    },
    Positional {
        name: &'static str,
        required: bool,
        help: &'static str,
    },
}

/// A flag without a value: `--long`.
pub const fn flag(long: &'static str, help: &'static str) -> Arg {
    Arg::Flag {
        long,
        value: None,
        help,
    }
}

/// A flag with a value: `--long VALUE` (or `--long=VALUE`).
pub const fn option(long: &'static str, value: &'static str, help: &'static str) -> Arg {
    Arg::Flag {
        long,
        value: Some(value),
        help,
    }
}

/// A positional argument that must be given.
pub const fn required(name: &'static str, help: &'static str) -> Arg {
    Arg::Positional {
        name,
        required: true,
        help,
    }
}

/// A positional argument that may be left out.
pub const fn optional(name: &'static str, help: &'static str) -> Arg {
    Arg::Positional {
        name,
        required: false,
        help,
    }
}

/// Arguments after the declared ones, passed on untouched (flags included).
pub struct Rest {
    /// How the usage line names them, e.g. `CMD [ARGS...]`.
    pub name: &'static str,
    pub help: &'static str,
    /// Whether the first extra positional argument starts them (`run pid ls -l`), or only `--`
    /// does (`test -- FILTER`).
    pub at_first_value: bool,
}

/// `--help` was asked for: [`util::finish`] prints this text on stdout and exits 0.
#[derive(Debug)]
pub struct Help(pub String);

impl std::fmt::Display for Help {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Help {}

impl Command {
    fn flags(&self) -> impl Iterator<Item = Flag> {
        self.args.iter().filter_map(|a| match *a {
            Arg::Flag { long, value, help } => Some(Flag { long, value, help }),
            Arg::Positional { .. } => None,
        })
    }

    fn positionals(&self) -> impl Iterator<Item = (&'static str, bool, &'static str)> {
        self.args.iter().filter_map(|a| match *a {
            Arg::Positional {
                name,
                required,
                help,
            } => Some((name, required, help)),
            Arg::Flag { .. } => None,
        })
    }

    /// A usage error of this command: one line, exit 2, with the hint to `--help`.
    pub fn error(&self, msg: impl Into<String>) -> anyhow::Error {
        Usage {
            msg: msg.into(),
            command: Some(self.name),
        }
        .into()
    }

    /// `cargo xtask NAME [--flag] [--opt VALUE] POS [REST]`, in declaration order.
    pub fn synopsis(&self) -> String {
        let mut parts = vec![format!("cargo xtask {}", self.name)];
        for arg in self.args {
            parts.push(match *arg {
                Arg::Flag {
                    long, value: None, ..
                } => format!("[--{long}]"),
                Arg::Flag {
                    long,
                    value: Some(v),
                    ..
                } => format!("[--{long} {v}]"),
                Arg::Positional {
                    name,
                    required: true,
                    ..
                } => name.to_string(),
                Arg::Positional { name, .. } => format!("[{name}]"),
            });
        }
        if let Some(rest) = &self.rest {
            parts.push(if rest.at_first_value {
                format!("[--] [{}]", rest.name)
            } else {
                format!("[-- {}]", rest.name)
            });
        }
        parts.join(" ")
    }

    /// The whole `--help` text, wrapped to [`WIDTH`].
    pub fn help(&self) -> String {
        let mut rows: Vec<(String, &str)> = Vec::new();
        for (name, _, help) in self.positionals() {
            rows.push((name.to_string(), help));
        }
        if let Some(rest) = &self.rest {
            rows.push((rest.name.to_string(), rest.help));
        }
        let arguments = rows.len();
        for flag in self.flags() {
            let shown = match flag.value {
                Some(v) => format!("--{} {v}", flag.long),
                None => format!("--{}", flag.long),
            };
            rows.push((shown, flag.help));
        }
        rows.push(("-h, --help".to_string(), "show this help"));
        let left = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 4;

        let mut out = wrap(
            &format!("cargo xtask {}: {}", self.name, self.about),
            WIDTH,
            4,
        );
        out.push('\n');
        out.push_str(&wrap(&format!("usage: {}", self.synopsis()), WIDTH, 4));
        for (i, (label, help)) in rows.iter().enumerate() {
            if i == 0 && arguments > 0 {
                out.push_str("\narguments:\n");
            }
            if i == arguments {
                out.push_str("\noptions:\n");
            }
            let line = format!("  {label:<w$}{help}", w = left - 2);
            out.push_str(&wrap(&line, WIDTH, left));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for paragraph in self.notes.split("\n\n") {
                out.push_str(&wrap(&paragraph.replace('\n', " "), WIDTH, 0));
            }
        }
        out.trim_end().to_string()
    }

    /// Parses a command's arguments (those after its name). `-h`/`--help` anywhere before the
    /// passed-on arguments gives a [`Help`] error; anything undeclared, a [`Usage`] error.
    pub fn parse(&'static self, args: Vec<OsString>) -> Result<Args> {
        let mut out = Args {
            command: self,
            given: Vec::new(),
            positionals: Vec::new(),
            rest: Vec::new(),
        };
        let wanted = self.positionals().count();
        let mut parser = lexopt::Parser::from_args(args);
        loop {
            // `--` is taken here rather than by lexopt, which would only say "a value" for what
            // follows: `test -- FILTER` needs to know it came after `--`.
            if let Ok(mut raw) = parser.raw_args() {
                if raw.peek() == Some(OsStr::new("--")) {
                    if wanted == 0 && self.rest.is_none() {
                        return Err(self.error(format!(
                            "unexpected `--`: `cargo xtask {}` takes flags only",
                            self.name
                        )));
                    }
                    raw.next();
                    for value in raw {
                        out.positional_or_rest(value, true)?;
                    }
                    break;
                }
            }
            let arg = match parser.next() {
                Ok(Some(arg)) => arg,
                Ok(None) => break,
                Err(err) => return Err(self.error(err.to_string())),
            };
            match arg {
                lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => {
                    return Err(Help(self.help()).into())
                }
                lexopt::Arg::Long(_) | lexopt::Arg::Short(_) => {
                    let (flag, typed) = match arg {
                        lexopt::Arg::Long(name) => {
                            (self.flags().find(|f| f.long == name), format!("--{name}"))
                        }
                        // Only `-h` has a one-letter form.
                        lexopt::Arg::Short(c) => (None, format!("-{c}")),
                        lexopt::Arg::Value(_) => unreachable!("matched above"),
                    };
                    let Some(flag) = flag else {
                        return Err(self.error(format!("unknown flag `{typed}`")));
                    };
                    let given = match flag.value {
                        Some(what) => Some(parser.value().map_err(|_| {
                            self.error(format!("`{typed}` needs a value ({what})"))
                        })?),
                        None => {
                            if parser.optional_value().is_some() {
                                return Err(self.error(format!("`{typed}` takes no value")));
                            }
                            None
                        }
                    };
                    out.given.push((flag.long, given));
                }
                lexopt::Arg::Value(value) => {
                    let starts_rest = out.positionals.len() == wanted
                        && self.rest.as_ref().is_some_and(|r| r.at_first_value);
                    out.positional_or_rest(value, false)?;
                    if starts_rest {
                        // The rest is passed on as it is: its flags are the command's own.
                        if let Ok(raw) = parser.raw_args() {
                            out.rest.extend(raw);
                        }
                        break;
                    }
                }
            }
        }
        // Required positionals come first, so the first one not given is the one to name.
        if let Some((name, true, _)) = self.positionals().nth(out.positionals.len()) {
            return Err(self.error(format!("missing {name}")));
        }
        Ok(out)
    }
}

/// A declared flag, as the parser reads it.
#[derive(Clone, Copy)]
struct Flag {
    long: &'static str,
    value: Option<&'static str>,
    help: &'static str,
}

/// What a command was given, checked against its declaration.
pub struct Args {
    command: &'static Command,
    given: Vec<(&'static str, Option<OsString>)>,
    positionals: Vec<OsString>,
    /// The passed-on arguments ([`Command::rest`]), untouched.
    pub rest: Vec<OsString>,
}

impl Args {
    fn positional_or_rest(&mut self, value: OsString, after_dashes: bool) -> Result<()> {
        if self.positionals.len() < self.command.positionals().count() {
            self.positionals.push(value);
        } else if self.command.rest.is_some()
            && (after_dashes || self.command.rest.as_ref().is_some_and(|r| r.at_first_value))
        {
            self.rest.push(value);
        } else {
            return Err(self.error(format!("unexpected argument {:?}", value.to_string_lossy())));
        }
        Ok(())
    }

    fn declared(&self, long: &str) {
        debug_assert!(
            self.command.flags().any(|f| f.long == long),
            "`--{long}` is not declared for `{}`",
            self.command.name
        );
    }

    /// Whether `--long` was given.
    pub fn flag(&self, long: &str) -> bool {
        self.declared(long);
        self.given.iter().any(|(l, _)| *l == long)
    }

    /// The value of `--long VALUE` (the last one when it was given twice).
    pub fn value(&self, long: &str) -> Option<&OsStr> {
        self.declared(long);
        self.given
            .iter()
            .rev()
            .find(|(l, _)| *l == long)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The value of `--long VALUE` as text; a usage error when it is not UTF-8.
    pub fn text(&self, long: &str) -> Result<Option<&str>> {
        match self.value(long) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(Some)
                .ok_or_else(|| self.error(format!("the value of `--{long}` is not valid UTF-8"))),
        }
    }

    /// A positional argument, by its declared name.
    pub fn positional(&self, name: &str) -> Option<&OsStr> {
        let index = self.command.positionals().position(|(n, _, _)| n == name);
        debug_assert!(index.is_some(), "{name} is not declared");
        self.positionals.get(index?).map(OsString::as_os_str)
    }

    /// Finds a stage by name, alias or number; a usage error of this command when there is none.
    pub fn stage(&self, key: &OsStr) -> Result<&'static catalog::Stage> {
        let key = key.to_str().ok_or_else(|| {
            self.error(format!(
                "stage {:?} is not valid UTF-8",
                key.to_string_lossy()
            ))
        })?;
        util::stage(key).map_err(|err| match err.downcast::<Usage>() {
            Ok(usage) => self.error(usage.msg),
            Err(err) => err,
        })
    }

    /// A usage error of this command.
    pub fn error(&self, msg: impl Into<String>) -> anyhow::Error {
        self.command.error(msg)
    }
}

/// Wraps `text` to `width` columns at spaces; continuation lines are indented by `indent`.
/// Each line ends with a newline. A word longer than a line is left whole.
pub fn wrap(text: &str, width: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    // Splitting at single spaces keeps runs of spaces (a help row's padding) as empty words.
    for (i, word) in text.split(' ').enumerate() {
        let used = line.chars().count();
        if i > 0 && !word.is_empty() && used > indent && used + 1 + word.chars().count() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(indent);
        } else if i > 0 {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: Command = Command {
        name: "demo",
        about: "a command to test the parser",
        args: &[
            required("STAGE", "the stage"),
            flag("release", "a release build"),
            option("dest", "DIR", "where"),
        ],
        rest: Some(Rest {
            name: "CMD [ARGS...]",
            help: "the command",
            at_first_value: true,
        }),
        notes: "",
    };

    const ONLY_AFTER_DASHES: Command = Command {
        name: "filter",
        about: "rest only after --",
        args: &[flag("no-vm", "no VM")],
        rest: Some(Rest {
            name: "FILTER...",
            help: "test names",
            at_first_value: false,
        }),
        notes: "",
    };

    fn argv(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn usage_message(err: anyhow::Error) -> String {
        err.downcast::<Usage>().expect("a usage error").msg
    }

    #[test]
    fn flags_values_positionals_and_the_rest() {
        let a = DEMO
            .parse(argv(&["pid", "--release", "--dest=/d", "ls", "--release"]))
            .unwrap();
        assert_eq!(a.positional("STAGE"), Some(OsStr::new("pid")));
        assert!(a.flag("release"));
        assert_eq!(a.value("dest"), Some(OsStr::new("/d")));
        assert_eq!(a.rest, argv(&["ls", "--release"]));
        let a = DEMO.parse(argv(&["pid", "--", "--help"])).unwrap();
        assert_eq!(a.rest, argv(&["--help"]));
        assert!(!a.flag("release"));
        let a = DEMO.parse(argv(&["pid", "--dest", "/x"])).unwrap();
        assert_eq!(a.text("dest").unwrap(), Some("/x"));
        assert!(a.rest.is_empty());
    }

    #[test]
    fn help_before_the_rest_only() {
        for args in [&["--help"][..], &["pid", "--help"], &["pid", "-h", "ls"]] {
            let err = DEMO.parse(argv(args)).err().unwrap();
            let help = err.downcast::<Help>().expect("help").0;
            assert!(help.contains("usage: cargo xtask demo STAGE [--release]"));
        }
        assert!(DEMO.parse(argv(&["pid", "ls", "--help"])).is_ok());
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |args: &[&str]| usage_message(DEMO.parse(argv(args)).err().unwrap());
        assert_eq!(err(&[]), "missing STAGE");
        assert_eq!(err(&["pid", "--bogus"]), "unknown flag `--bogus`");
        assert_eq!(err(&["pid", "-x"]), "unknown flag `-x`");
        assert_eq!(err(&["pid", "--dest"]), "`--dest` needs a value (DIR)");
        assert_eq!(err(&["pid", "--release=1"]), "`--release` takes no value");
        let err = ONLY_AFTER_DASHES.parse(argv(&["foo"])).err().unwrap();
        assert_eq!(usage_message(err), "unexpected argument \"foo\"");
        let a = ONLY_AFTER_DASHES
            .parse(argv(&["--no-vm", "--", "a", "--b"]))
            .unwrap();
        assert_eq!(a.rest, argv(&["a", "--b"]));
    }

    #[test]
    fn help_fits_80_columns() {
        let help = DEMO.help();
        assert!(help.lines().all(|l| l.chars().count() <= WIDTH), "{help}");
        assert!(help.contains("  --dest DIR"), "{help}");
    }

    #[test]
    fn wrapping() {
        let text = format!("{} tail", "word ".repeat(20).trim_end());
        let wrapped = wrap(&text, 30, 4);
        assert!(wrapped.lines().all(|l| l.len() <= 30), "{wrapped}");
        assert!(wrapped
            .lines()
            .skip(1)
            .all(|l| l.starts_with("    w") || l.starts_with("    t")));
        assert_eq!(wrap("short", 80, 2), "short\n");
    }
}

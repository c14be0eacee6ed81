//! The command line every stage has: `<stage> run [-q] [options] <cmd>`, `<stage> child <cmd>`
//! (the parent's re-exec only), `--help`; the teaching lines and their `--quiet`.

use std::env;
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::*;

/// Set by [`Spawn::start`] in the environment of the child it re-executes. `child` typed by
/// hand is refused: as root, the child's steps would change the host itself.
pub(crate) const CHILD_ENV: &str = "DESDE_CERO_CHILD";
/// Set (to anything but `0` or empty) to silence the teaching lines.
pub const QUIET_ENV: &str = "DESDE_CERO_QUIET";

pub(crate) static NAME: OnceLock<&'static str> = OnceLock::new();
pub(crate) static QUIET: AtomicBool = AtomicBool::new(false);

/// A stage's `run` or `child`: gets the command and returns its exit code.
pub type Step = fn(&[OsString]) -> Result<u8>;

/// Prints a teaching line on stderr, unless the stage runs quiet (`-q`, `DESDE_CERO_QUIET=1`).
/// stderr, so the command's own output can still be piped.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::quiet() {
            eprintln!($($arg)*);
        }
    };
}

/// Whether the teaching lines are silenced.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Silences the teaching lines: `-q`, first after `run`, or among a stage's
/// own options (`full run --rootless -q sh`, which its `run` parses).
pub fn set_quiet() {
    QUIET.store(true, Ordering::Relaxed);
    // The re-executed child reads it from its environment.
    env::set_var(QUIET_ENV, "1");
}

/// The stage's name, as errors are reported under it.
pub fn name() -> &'static str {
    NAME.get().copied().unwrap_or("desde-cero")
}

/// A stage: its name and its one line, both from its Cargo.toml.
#[derive(Clone, Copy)]
pub struct Stage {
    pub name: &'static str,
    pub what: &'static str,
}

/// The calling stage's [`Stage`], read from its own Cargo.toml at build time.
#[macro_export]
macro_rules! stage {
    () => {
        $crate::Stage {
            name: env!("CARGO_PKG_NAME"),
            what: env!("CARGO_PKG_DESCRIPTION"),
        }
    };
}

/// A stage's `main`: `<stage> run [-q|--quiet] <cmd> [args...]` calls `run`; `child <cmd>`,
/// which only the parent's re-exec may call, calls `child`; `--help` prints `what` the stage
/// adds, in one line (its Cargo.toml's description), and the usage.
pub fn main(stage: Stage, run: Step, child: Option<Step>) -> ExitCode {
    let Stage { name, what } = stage;
    let _ = NAME.set(name);
    let quiet_env = env::var_os(QUIET_ENV).is_some_and(|v| !v.is_empty() && v != "0");
    QUIET.store(quiet_env, Ordering::Relaxed);
    // args_os, not args: an argument that is not UTF-8 is passed through, never a panic.
    let mut args: Vec<OsString> = env::args_os().skip(1).collect();
    let verb = if args.is_empty() {
        OsString::new()
    } else {
        args.remove(0)
    };
    let result = match (verb.to_str().unwrap_or(""), child) {
        ("-h" | "--help" | "help", _) => {
            println!("{}", help(name, what));
            Ok(0)
        }
        ("run", _) => {
            if child.is_some() {
                // The mark that lets the re-executed program in as `child`: the
                // environment survives clone(2) and execve(2).
                env::set_var(CHILD_ENV, "1");
            }
            if matches!(
                args.first().and_then(|a| a.to_str()),
                Some("-q" | "--quiet")
            ) {
                args.remove(0);
                set_quiet();
            }
            match args.first().and_then(|a| a.to_str()) {
                None => Err(usage()),
                Some("-h" | "--help") => {
                    println!("{}", help(name, what));
                    Ok(0)
                }
                Some(_) => run(&args),
            }
        }
        ("child", Some(child)) if !args.is_empty() => match env::var(CHILD_ENV) {
            Ok(_) => {
                env::remove_var(CHILD_ENV);
                env::remove_var(QUIET_ENV);
                child(&args)
            }
            Err(_) => Err(usage()),
        },
        _ => Err(usage()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("{name}: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

pub(crate) fn usage() -> Failure {
    Failure {
        code: EXIT_RUNTIME,
        message: format!("usage: {} run [-q] <cmd> [args...]  (--help)", name()),
    }
}

pub(crate) fn help(name: &str, what: &str) -> String {
    format!(
        "{name}: {what}\n\n\
         usage: {name} run [-q|--quiet] <cmd> [args...]\n\
         \x20 -q, --quiet  only the command's output and real errors (or {QUIET_ENV}=1)\n\n\
         exit status: the command's own; 128+N when it died of signal N; 125 when {name}\n\
         failed or was called wrongly; 126 when the command cannot be executed; 127 when it\n\
         is not found"
    )
}

/// `--rootless` before the command, taken off it: from `pivot` on, a stage
/// makes the user namespace only when asked, as docker run by root does.
pub fn rootless(command: &[OsString]) -> (bool, &[OsString]) {
    match command.split_first() {
        Some((first, rest)) if first == "--rootless" => (true, rest),
        _ => (false, command),
    }
}

/// `--help`'s line for [`rootless`].
pub const ROOTLESS_HELP: &str = "options, before the command:
  --rootless   a user namespace, as the `user` stage makes: root inside is an
               ordinary user outside (default: root inside is host root)";

/// A command line for a teaching line, shortened to fit a projected 80-column
/// terminal: `sh -c 'echo $$; …`.
pub fn show(command: &[OsString]) -> String {
    const MAX: usize = 40;
    let words: Vec<String> = command
        .iter()
        .map(|arg| {
            let arg = arg.to_string_lossy();
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                arg.into_owned()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect();
    let line = words.join(" ");
    if line.chars().count() <= MAX {
        return line;
    }
    let cut: String = line.chars().take(MAX - 1).collect();
    format!("{cut}…")
}

/// [`main`], for a stage whose `run` takes options before the command (`<stage> run [-q]
/// [options] <cmd>`, `full`): `--help`, also after `run`, prints the usage with `options`, the
/// stage's own list of them and their defaults. `run` gets the options and the command.
pub fn main_with_options(stage: Stage, options: &str, run: Step, child: Option<Step>) -> ExitCode {
    let Stage { name, what } = stage;
    let args: Vec<OsString> = env::args_os().skip(1).take(3).collect();
    let words: Vec<&str> = args.iter().map(|a| a.to_str().unwrap_or("")).collect();
    let asks_help = matches!(
        words[..],
        ["-h" | "--help" | "help", ..]
            | ["run", "-h" | "--help", ..]
            | ["run", "-q" | "--quiet", "-h" | "--help", ..]
    );
    if !asks_help {
        return main(stage, run, child);
    }
    let _ = NAME.set(name);
    let text = help(name, what).replace("<cmd> [args...]", "[options] <cmd> [args...]");
    // The options go between the usage and the exit status.
    match text.split_once("\n\nexit status") {
        Some((usage, rest)) => println!("{usage}\n\n{options}\n\nexit status{rest}"),
        None => println!("{text}\n\n{options}"),
    }
    ExitCode::SUCCESS
}

//! `cargo xtask`: the project's tooling. This file only dispatches; each subcommand is a module
//! that declares its arguments once (a `cli::Command`), from which its usage and `--help` come.

mod bench;
mod check;
mod clean;
mod cli;
mod diff;
mod doctor;
mod exercise;
mod lex;
mod list;
mod matrix;
mod plan;
mod present;
mod rootfs;
mod run;
mod slides;
mod test;
mod util;
mod vm;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

/// A subcommand: its declaration and its entry point.
type Entry = (&'static cli::Command, fn(Vec<OsString>) -> Result<u8>);

/// Every command, in the order `cargo xtask help` lists them.
const COMMANDS: &[Entry] = &[
    (&run::CLI, run::main),
    (&list::CLI, list::main),
    (&rootfs::CLI, rootfs::main),
    (&test::CLI, test::main),
    (&diff::CLI, diff::main),
    (&exercise::CLI, exercise::main),
    (&matrix::CLI, matrix::main),
    (&doctor::CLI, doctor::main),
    (&clean::CLI, clean::main),
    (&present::CLI, present::main),
    (&slides::CLI, slides::main),
    (&bench::CLI, bench::main),
    (&check::CLI, check::main),
    (&HELP, help),
];

const HELP: cli::Command = cli::Command {
    name: "help",
    about: "the commands, or one command's options",
    args: &[cli::optional("COMMAND", "the command to explain")],
    rest: None,
    notes: "",
};

/// The list of commands: each one's usage line and what it does.
fn overview() -> String {
    let mut out = String::from(
        "cargo xtask: desde-cero's tooling (containers from scratch, one step per stage)\n\n\
         usage: cargo xtask <command> [options]\n\ncommands:\n",
    );
    for (cmd, _) in COMMANDS {
        let synopsis = cmd.synopsis();
        let synopsis = synopsis.trim_start_matches("cargo xtask ");
        out.push_str(&cli::wrap(&format!("  {synopsis}"), cli::WIDTH, 6));
        out.push_str(&cli::wrap(&format!("      {}", cmd.about), cli::WIDTH, 6));
    }
    out.push_str(
        "\n`cargo xtask <command> --help` explains one command.\n\
         exit codes: 0 ok, 1 failure, 2 usage error; `run`: the stage's own exit code",
    );
    out
}

/// `cargo xtask help [COMMAND]`.
fn help(args: Vec<OsString>) -> Result<u8> {
    let args = HELP.parse(args)?;
    let text = match args.positional("COMMAND") {
        None => overview(),
        Some(name) => find(name).ok_or_else(|| unknown(name))?.0.help(),
    };
    println!("{text}");
    Ok(0)
}

fn find(name: &std::ffi::OsStr) -> Option<&'static Entry> {
    COMMANDS
        .iter()
        .find(|(cmd, _)| Some(cmd.name) == name.to_str())
}

fn unknown(name: &std::ffi::OsStr) -> anyhow::Error {
    let names: Vec<&str> = COMMANDS.iter().map(|(cmd, _)| cmd.name).collect();
    util::usage(format!(
        "unknown command {:?}; the commands: {}",
        name.to_string_lossy(),
        names.join(", ")
    ))
}

fn dispatch(mut args: Vec<OsString>) -> ExitCode {
    if args.is_empty() {
        // Not eprintln!: the exit code must stay 2 even when stderr is closed.
        let _ = writeln!(std::io::stderr(), "{}", overview());
        return ExitCode::from(util::EXIT_USAGE);
    }
    let name = args.remove(0);
    let result = match name.to_str() {
        Some("-h" | "--help") => help(args),
        _ => match find(&name) {
            Some((_, main)) => main(args),
            None => Err(unknown(&name)),
        },
    };
    util::finish(result)
}

fn main() -> ExitCode {
    util::quiet_on_closed_pipe();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // AssertUnwindSafe: after a panic nothing of this call's state is used again.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(args))) {
        Ok(code) => code,
        // The reader went away (`cargo xtask list | head -1`): nothing is wrong, stop quietly.
        Err(_) if util::pipe_closed() => ExitCode::SUCCESS,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_help_that_fits_80_columns() {
        for (cmd, _) in COMMANDS {
            let help = cmd.help();
            assert!(
                help.lines().all(|l| l.chars().count() <= cli::WIDTH),
                "{help}"
            );
        }
        let all = overview();
        assert!(
            all.lines().all(|l| l.chars().count() <= cli::WIDTH),
            "{all}"
        );
        assert!(
            all.contains("--dest DIR") && all.contains("--prebuilt"),
            "{all}"
        );
    }
}

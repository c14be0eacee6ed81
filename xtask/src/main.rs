//! `cargo xtask`: the project's tooling. This file only dispatches; each subcommand is a module.

mod bench;
mod check;
mod clean;
mod diff;
mod doctor;
mod list;
mod matrix;
mod present;
mod rootfs;
mod run;
mod test;
mod util;
mod vm;

use std::ffi::OsString;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  run <stage> [--release] [--] [cmd [args...]]  build a stage and run it (default cmd: sh)
  list                                          the stages in talk order
  rootfs [--from SOURCE] [--force]              make the container's root filesystem
  test [--vm-only|--no-vm] [-- FILTER]          prepare everything and run every test
  diff [FROM] TO [--stat]                       what a stage adds to the one before it
  matrix [--json]                               the isolation each stage really has
  doctor                                        what this host can and cannot do, with fixes
  clean                                         remove what a killed demo left behind
  present [STAGE] [--only] [--yes]              step through the talk
  bench [--runs N] [--stages a,b] [--json FILE] [--install-peers] [--build-time] [--profile STAGE]
                                                time every stage against unshare, bwrap, crun, runc
  check [--fix] [--no-clippy] [--root DIR]      the repository's rules

exit codes: 0 ok, 1 failure, 2 usage error; `run` exits with the stage's own status";

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(util::EXIT_USAGE);
    }
    let command = args.remove(0);
    let result = match command.to_str().unwrap_or("") {
        "run" => run::main(args),
        "list" => list::main(args),
        "rootfs" => rootfs::main(args),
        "test" => test::main(args),
        "diff" => diff::main(args),
        "matrix" => matrix::main(args),
        "doctor" => doctor::main(args),
        "clean" => clean::main(args),
        "present" => present::main(args),
        "bench" => bench::main(args),
        "check" => check::main(args),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(0)
        }
        _ => Err(util::usage(format!(
            "unknown command {:?}\n{USAGE}",
            command.to_string_lossy()
        ))),
    };
    util::finish(result)
}

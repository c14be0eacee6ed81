//! `cargo xtask test [--vm-only|--no-vm] [-- FILTER...]`: the README's one test command.
//!
//! 1. Prepares the root filesystem and builds every workspace binary.
//! 2. Runs `cargo test --workspace -- --test-threads=1` on this host, with `DESDE_CERO_ROOTFS` and
//!    `DESDE_CERO_BIN_DIR` set.
//! 3. Runs the cgroup v2 part of the same integration tests again inside a small VM with a pure
//!    cgroup2 hierarchy (see `vm/` and vm/README.md).
//!
//! Then prints one summary line per part. A VM that cannot run here is reported as
//! `VM tests SKIPPED: <reason>`; under `CI=true` that fails the run.

use std::ffi::OsString;
use std::time::Instant;

use anyhow::Result;

use crate::util;
use crate::vm::{self, Outcome};
use crate::{cli, rootfs};

pub const CLI: cli::Command = cli::Command {
    name: "test",
    about: "prepare everything (root filesystem, probe, VM) and run every test",
    args: &[
        cli::flag("vm-only", "only the tests in the cgroup v2 VM"),
        cli::flag("no-vm", "only the tests on this host"),
        cli::flag("vm", "the VM too (the default)"),
    ],
    rest: Some(cli::Rest {
        name: "FILTER...",
        help: "passed to `cargo test` after its `--`: test names to run",
        at_first_value: false,
    }),
    notes: "The tests need root: run it as root, or as a user with sudo.",
};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let args = CLI.parse(args)?;
    let host = !args.flag("vm-only");
    // `--vm` is the default already; accepted so it reads naturally.
    let in_vm = !args.flag("no-vm");
    let mut filter: Vec<String> = Vec::new();
    for arg in &args.rest {
        let text = arg
            .to_str()
            .ok_or_else(|| args.error(format!("filter {arg:?} is not valid UTF-8")))?;
        filter.push(text.to_string());
    }
    if !host && !in_vm {
        return Err(args.error("--vm-only and --no-vm together leave nothing to run"));
    }
    let ci = in_ci();

    if util::is_root() {
        // The root filesystem is made of static busybox; install it if it is missing.
        if let Err(e) = vm::ensure_busybox() {
            eprintln!("warning: {e:#}");
        }
    }
    let dir = rootfs::ensure()?;

    let host_result = if host {
        banner("host tests (cargo test --workspace -- --test-threads=1)");
        let started = Instant::now();
        // The xtask and the tests are built for the host; the stages and the probe, as `cargo
        // xtask run` builds them, static for musl (the VM's binaries are these very files).
        util::run_checked(util::cargo().args(["build", "--workspace", "--bins"]))?;
        let target = util::musl_target();
        util::add_rust_target(&target);
        util::run_checked(util::cargo().args(["build", "--bins", "--target", &target]))?;
        let mut cargo_test = util::cargo();
        if !util::is_root() {
            // The tests need root, but target/ must stay the user's: cargo builds as the user and
            // starts each test executable through sudo (cargo's per-target "runner").
            let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
            let var = format!(
                "CARGO_TARGET_{}_RUNNER",
                triple.to_uppercase().replace('-', "_")
            );
            println!("not root: the test executables run through `sudo -E` ({var})");
            cargo_test.env(var, "sudo -E");
        }
        let status = cargo_test
            // --no-fail-fast: every test file runs, so one failure does not hide the others.
            .args([
                "test",
                "--workspace",
                "--no-fail-fast",
                "--",
                "--test-threads=1",
            ])
            .args(&filter)
            .env(rootfs::ENV_VAR, &dir)
            .env("DESDE_CERO_BIN_DIR", util::stage_dir(false))
            // Not current_exe(): `cargo test` may have replaced this very file by then.
            .env(
                "DESDE_CERO_XTASK",
                util::target_dir().join("debug").join("xtask"),
            )
            .status()?;
        let secs = started.elapsed().as_secs_f64();
        Some(if status.success() {
            Ok(format!("passed ({secs:.0} s)"))
        } else {
            Err(format!("FAILED ({status}, {secs:.0} s)"))
        })
    } else {
        None
    };

    let vm_result = if in_vm {
        banner("cgroup v2 VM (the same integration tests, inside a VM with only cgroup2)");
        Some(vm::run(&filter))
    } else {
        None
    };

    banner("summary");
    let mut failed = false;
    match &host_result {
        None => println!("host tests:   not run (--vm-only)"),
        Some(Ok(msg)) => println!("host tests:   {msg}"),
        Some(Err(msg)) => {
            failed = true;
            println!("host tests:   {msg}");
        }
    }
    match &vm_result {
        None => println!("cgroup v2 VM: not run (--no-vm)"),
        Some(Outcome::Passed(msg)) => println!("cgroup v2 VM: passed: {msg}"),
        Some(Outcome::Failed(msg)) => {
            failed = true;
            println!("cgroup v2 VM: FAILED: {msg}");
        }
        Some(Outcome::Skipped(reason)) => {
            let line = format!("VM tests SKIPPED: {reason}");
            let stars = "*".repeat(line.len().min(100));
            println!("{stars}\n{line}\n{stars}");
            if ci {
                failed = true;
                println!("cgroup v2 VM: under CI=true a skipped VM is a failure");
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn banner(title: &str) {
    println!("\n===== {title} =====");
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

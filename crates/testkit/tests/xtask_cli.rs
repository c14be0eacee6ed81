//! The xtask's command line, as a presenter meets it: every command answers `--help` (on
//! stdout, exit 0, in 80 columns), every usage error is one line `error: ...` naming the command's
//! `--help` (exit 2), output into a pipe that is closed early ends quietly (no panic, not 101),
//! the original talk's folder names are stages, and a missing sudo is named as the cause.

use std::ffi::OsStr;
use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use testkit::{Run, Scratch};

fn xtask<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    testkit::run_bin(&testkit::xtask_bin(), args)
}

/// The commands, as `cargo xtask help` lists them (the list is the xtask's, not this file's).
fn commands() -> Vec<String> {
    let run = xtask(["help"]);
    run.expect_code(0);
    let names: Vec<String> = run
        .stdout
        .lines()
        .skip_while(|l| *l != "commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    for expected in ["run", "rootfs", "matrix", "present", "diff", "help"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from `cargo xtask help`:\n{}",
            run.stdout
        );
    }
    names
}

/// Asserts the one-line usage error: `error: ...`, the hint to `--help`, exit 2.
#[track_caller]
fn assert_usage_error(run: &Run, hint: &str, what: &str) {
    run.expect_code(2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: not one line:\n{}", run.stderr);
    assert!(lines[0].starts_with("error: "), "{what}: {}", run.stderr);
    assert!(
        lines[0].contains(hint),
        "{what}: no {hint:?}: {}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{what}: {}", run.stdout);
}

#[test]
fn every_command_answers_help_in_80_columns() {
    for name in commands() {
        for args in [vec![name.as_str(), "--help"], vec!["help", name.as_str()]] {
            let run = xtask(&args);
            run.expect_code(0);
            assert!(
                run.stdout.contains(&format!("usage: cargo xtask {name}")),
                "{args:?}: {}",
                run.stdout
            );
            let wide: Vec<&str> = run
                .stdout
                .lines()
                .filter(|l| l.chars().count() > 80)
                .collect();
            assert!(wide.is_empty(), "{args:?}: lines over 80 columns: {wide:?}");
        }
    }
    for args in [&["help"][..], &["--help"], &["-h"]] {
        let run = xtask(args);
        run.expect_code(0);
        assert!(run.stdout.lines().all(|l| l.chars().count() <= 80));
    }
    // The flags that were missing from the usage once.
    assert!(xtask(["rootfs", "--help"]).stdout.contains("--dest DIR"));
    assert!(xtask(["matrix", "--help"]).stdout.contains("--prebuilt"));
    // `run <stage> --help` is run's help; after the command or `--`, it is the stage's.
    let run = xtask(["run", "pid", "--help"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("usage: cargo xtask run STAGE"),
        "{}",
        run.stdout
    );
}

#[test]
fn every_usage_error_is_one_line_with_the_hint_to_help() {
    for name in commands() {
        let hint = format!("`cargo xtask {name} --help`");
        let run = xtask([name.as_str(), "--bogus"]);
        assert_usage_error(&run, &hint, &format!("{name} --bogus"));
        assert!(
            run.stderr.contains("unknown flag `--bogus`"),
            "{}",
            run.stderr
        );
    }
    let cases: &[(&[&str], &str, &str)] = &[
        (&["run"], "missing STAGE", "run"),
        (
            &["run", "pidnamespce"],
            "did you mean `pidnamespace`?",
            "run",
        ),
        (&["run", "nope"], "base1, base2, uts", "run"),
        (&["rootfs", "--from"], "`--from` needs a value", "rootfs"),
        (
            &["rootfs", "--from", "debian"],
            "unknown source \"debian\"",
            "rootfs",
        ),
        (
            &["rootfs", "--from", "tar"],
            "`--from tar` needs a FILE",
            "rootfs",
        ),
        (
            &["rootfs", "--dest"],
            "`--dest` needs a value (DIR)",
            "rootfs",
        ),
        (&["rootfs", "x.tar"], "without `--from tar`", "rootfs"),
        (
            &["matrix", "--json=yes"],
            "`--json` takes no value",
            "matrix",
        ),
        (
            &["matrix", "extra"],
            "unexpected argument \"extra\"",
            "matrix",
        ),
        (&["list", "--"], "takes flags only", "list"),
        (
            &["bench", "--runs", "0"],
            "--runs wants a whole number",
            "bench",
        ),
        (
            &["bench", "--profile", "nope"],
            "unknown stage \"nope\"",
            "bench",
        ),
        (
            &["test", "--vm-only", "--no-vm"],
            "leave nothing to run",
            "test",
        ),
        (&["help", "nope"], "unknown command \"nope\"", "help"),
    ];
    for (args, says, command) in cases {
        let run = xtask(*args);
        let hint = if *command == "help" {
            "`cargo xtask help`".to_string()
        } else {
            format!("`cargo xtask {command} --help`")
        };
        assert_usage_error(&run, &hint, &format!("{args:?}"));
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    let run = xtask(["nope"]);
    assert_usage_error(&run, "`cargo xtask help`", "nope");
    assert!(run.stderr.contains("unknown command \"nope\""));
    // No command at all: the list of commands, on stderr, exit 2.
    let run = xtask(Vec::<&str>::new());
    run.expect_code(2);
    assert!(run.stderr.contains("commands:"), "{}", run.stderr);
}

/// A pipe whose reading end is already closed: every write to the other end fails with EPIPE.
fn closed_pipe() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into the array it is given.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just made by pipe and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write
}

/// Runs the xtask with stdout (or stderr) into a closed pipe; returns its exit code and stderr.
fn into_closed_pipe(args: &[&str], close_stderr: bool) -> (Option<i32>, String) {
    let mut cmd = Command::new(testkit::xtask_bin());
    cmd.args(args).stdin(Stdio::null());
    if close_stderr {
        cmd.stdout(Stdio::null()).stderr(Stdio::from(closed_pipe()));
        let status = cmd.status().expect("run xtask");
        return (status.code(), String::new());
    }
    cmd.stdout(Stdio::from(closed_pipe()))
        .stderr(Stdio::piped());
    let out = cmd.output().expect("run xtask");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let mut cases: Vec<Vec<String>> = vec![vec!["help".into()], vec!["list".into()]];
    for name in commands() {
        cases.push(vec![name.clone(), "--help".into()]);
    }
    for args in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stderr) = into_closed_pipe(&args, false);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
    // A closed stderr: the usage error cannot be told, but the exit code still is.
    let (code, _) = into_closed_pipe(&["run", "pid", "--bogus"], true);
    assert_eq!(code, Some(2));
    let (code, _) = into_closed_pipe(&[], true);
    assert_eq!(code, Some(2));
}

#[test]
fn a_closed_pipe_after_a_long_report_ends_quietly() {
    // doctor and matrix print after their work: the pipe is closed by then.
    if !testkit::require_root() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = testkit::LeakCheck::start();
    for args in [&["doctor"][..], &["matrix", "--prebuilt"]] {
        let (code, stderr) = into_closed_pipe(args, false);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(code, Some(101), "{args:?}: {stderr}");
        assert!(code.is_some(), "{args:?}: killed by a signal");
    }
    leaks.assert_clean();
}

/// The folder names of the Spanish talk (and its older versions) and the stage each one is.
const ORIGINAL_FOLDERS: &[(&str, &str)] = &[
    ("base1", "base1"),
    ("base2", "base2"),
    ("parentchild", "base2"),
    ("utsnamespace", "uts"),
    ("pidnamespace", "pid"),
    ("chroot", "chroot"),
    ("procfs", "procfs"),
    ("mntnamespace", "procfs"),
    ("procmnt", "procfs"),
    ("cgroups", "cgroups"),
    ("containers", "full"),
];

#[test]
fn the_original_talks_folder_names_are_stages() {
    for (folder, stage) in ORIGINAL_FOLDERS {
        assert_eq!(
            catalog::find(folder).map(|s| s.name),
            Some(*stage),
            "{folder}"
        );
    }
    // Through the xtask: `list` shows them, and `run` takes them.
    let list = xtask(["list"]);
    for (folder, _) in ORIGINAL_FOLDERS {
        assert!(
            list.stdout.contains(folder),
            "{folder} not in:\n{}",
            list.stdout
        );
    }
    let run = xtask(["run", "parentchild", "--", "sh", "-c", "echo hola"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "hola\n");
    testkit::container_test(|| {
        for folder in ["mntnamespace", "procmnt"] {
            let run = xtask(["run", folder, "--", "sh", "-c", "echo hola"]);
            run.expect_code(0);
            assert_eq!(run.stdout, "hola\n", "{folder}: {}", run.stderr);
        }
    });
}

/// Runs the xtask as the user `nobody` from a copy in `scratch` (so it can be read wherever the
/// repository is), with a PATH that has no sudo.
fn as_nobody(scratch: &Scratch, args: &[&str]) -> Run {
    let copy = scratch.path.join("xtask");
    if !copy.exists() {
        fs::copy(testkit::xtask_bin(), &copy).unwrap();
        fs::set_permissions(&scratch.path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let empty = scratch.path.join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    let mut cmd = Command::new(&copy);
    cmd.args(args)
        .env_clear()
        .env("PATH", &empty)
        .env("HOME", &scratch.path)
        .current_dir(&scratch.path)
        .uid(65534)
        .gid(65534);
    testkit::run_cmd(&mut cmd)
}

#[test]
fn without_root_and_sudo_run_names_the_cause() {
    if !testkit::require_root() {
        return;
    }
    // The xtask looks for sudo on PATH and in the system's folders: only a host without it can
    // show what a user without it sees.
    let installed = [
        "/usr/local/sbin",
        "/usr/sbin",
        "/sbin",
        "/usr/local/bin",
        "/usr/bin",
        "/bin",
    ]
    .iter()
    .find(|dir| std::path::Path::new(dir).join("sudo").exists());
    if !testkit::require(
        installed.is_none(),
        "sudo is installed here: this test shows what a host without it says",
    ) {
        return;
    }
    let scratch = Scratch::new("xtask-nosudo");
    for stage in ["pid", "chroot", "full"] {
        let run = as_nobody(&scratch, &["run", stage, "--", "true"]);
        run.expect_code(1);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        assert!(
            lines[0].starts_with(&format!(
                "error: stage {stage} needs root, and sudo is not installed"
            )),
            "{}",
            run.stderr
        );
        assert!(
            lines[0].contains("run it as root")
                && lines[0].contains("without root: base1, base2, user"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("No such file"), "{}", run.stderr);
    }
}

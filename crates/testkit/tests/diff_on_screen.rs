//! `cargo xtask diff` and `present` as read on a projected 80-column screen: every line fits
//! (long source lines broken with a marker), the code comes first (hunks that change only
//! comments folded into one line), and a reader that goes away early (`| head -1`) ends them
//! quietly, without a panic.

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// The built xtask, coloured output off, 80 columns.
fn xtask(args: &[&str]) -> Command {
    let mut cmd = Command::new(testkit::xtask_bin());
    cmd.args(args).env("NO_COLOR", "1").env("COLUMNS", "80");
    cmd
}

#[test]
fn diff_for_reading_fits_80_columns_and_opens_with_code() {
    let mut folded_somewhere = false;
    for stage in catalog::STAGES {
        let run = testkit::run_cmd(&mut xtask(&["diff", stage.name, "--code"]));
        run.expect_code(0);
        let out = &run.stdout;
        let wide: Vec<&str> = out.lines().filter(|l| l.len() > 80).collect();
        assert!(
            wide.is_empty(),
            "{}: over 80 columns:\n{}",
            stage.name,
            wide.join("\n")
        );
        folded_somewhere |= out.contains("comment lines folded");
        // Before the first changed line of code, a few changed comment lines at most.
        let changed = out
            .lines()
            .filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++"))
            .filter(|l| !l.starts_with("---") && !l.contains("↪"));
        let comments_first = changed
            .take_while(|l| l[1..].trim_start().starts_with("//") || l[1..].trim().is_empty())
            .count();
        assert!(
            comments_first <= 4,
            "{}: {comments_first} comment lines before any code:\n{out}",
            stage.name
        );
        // --all: every line, whole, none folded.
        let all = testkit::run_cmd(&mut xtask(&["diff", stage.name, "--all"]));
        all.expect_code(0);
        assert!(!all.stdout.contains("folded"), "{}", stage.name);
        assert!(!all.stdout.contains("↪"), "{}", stage.name);
    }
    assert!(folded_somewhere, "no diff folds anything: is folding on?");
}

#[test]
fn a_long_line_is_broken_with_a_marker_not_cut() {
    // At 40 columns the stages' 80-column sources must break; nothing may be lost.
    let stage = catalog::STAGES.last().unwrap().name;
    let mut narrow = xtask(&["diff", stage, "--code"]);
    narrow.env("COLUMNS", "40");
    let run = testkit::run_cmd(&mut narrow);
    run.expect_code(0);
    assert!(run.stdout.lines().all(|l| l.len() <= 40), "{}", run.stdout);
    assert!(run.stdout.contains("↪ "), "{}", run.stdout);
}

/// Runs `cmd` with its stdout a pipe whose reader has already gone.
fn with_reader_gone(cmd: &mut Command) -> testkit::Run {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into the array we pass.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just made by pipe2 and are owned here alone.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader);
    let out = cmd
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("start xtask");
    testkit::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_closed_pipe_ends_diff_and_present_quietly() {
    let mut cases = vec![
        xtask(&["diff", "pid", "chroot"]),
        xtask(&["diff", "--stat"]),
    ];
    if testkit::is_root() {
        // base1's demos run as anyone; present builds and runs them before its first page.
        cases.push(xtask(&["present", "base1", "--only", "--yes"]));
        cases.push(xtask(&[
            "present", "base1", "--only", "--yes", "--lang", "es",
        ]));
    }
    for mut cmd in cases {
        let run = with_reader_gone(&mut cmd);
        assert!(!run.stderr.contains("panicked"), "{cmd:?}: {}", run.stderr);
        assert!(
            !run.stderr.contains("Broken pipe"),
            "{cmd:?}: {}",
            run.stderr
        );
        assert_eq!(run.code, 0, "{cmd:?}: {}", run.stderr);
    }
}

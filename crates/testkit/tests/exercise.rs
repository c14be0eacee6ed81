//! `cargo xtask exercise`: a student writes each stage's new step again, and `--check` says what
//! still differs from the real stage.
//!
//! For every stage with an exercise (the catalog's `exercise` cuts, from `uts` on): the exercise
//! as prepared, its step taken out, fails its check with the expected message (the hint of a
//! `todo!()` it panics at, or each property the stage adds named missing); with the real step
//! pasted back it passes (its matrix row, attacks and demos as the real stage's), and the list
//! says so. A version that does not build shows the compiler's message; one that panics leaving
//! its cgroup behind, and one that hangs with a process started, are stopped, reported, and
//! leave nothing on the host (`testkit::LeakCheck`, and no process of theirs left anywhere).
//!
//! The exercises are made in a folder of the test's own (`DESDE_CERO_EXERCISES`), built once
//! (their dependencies shared in its target folder), checked with `--prebuilt` so that the
//! workspace's own target folder is not built into by root.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use catalog::{Cut, Stage};
use testkit::{container_test, Run, Scratch};

/// The xtask with the test's exercises folder and the stages' binaries.
fn xtask(exercises: &Path, args: &[&str]) -> Run {
    xtask_with(exercises, args, &[])
}

/// [`xtask`] with more environment.
fn xtask_with(exercises: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(testkit::xtask_bin());
    cmd.arg("exercise")
        .args(args)
        .env("DESDE_CERO_EXERCISES", exercises)
        .env("DESDE_CERO_BIN_DIR", testkit::bin_dir())
        .env("NO_COLOR", "1")
        // English, whatever the locale (`--lang` says otherwise).
        .env("LC_ALL", "C")
        .envs(env.iter().copied());
    testkit::run_cmd_within(&mut cmd, Duration::from_secs(300))
}

/// Words of a text, whatever its wrapping: how a hint is looked for in the check's report.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the list says of a stage's exercise.
fn progress(list: &str, stage: &str) -> String {
    let line = list
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(stage))
        .unwrap_or_else(|| panic!("no {stage} in the list:\n{list}"));
    words(line.trim_start().splitn(3, ' ').nth(2).unwrap_or(""))
}

fn source(exercises: &Path, stage: &Stage, file: &str) -> PathBuf {
    exercises.join(stage.name).join("src").join(file)
}

/// Pastes the real step back: every file of the stage as the slide has it, but with the
/// exercise's own `#[path]` lines (which lead from the exercise's folder to the same files).
fn paste_solution(exercises: &Path, stage: &Stage) {
    let src = testkit::project_root()
        .join("slides")
        .join(stage.name)
        .join("src");
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("the slide's src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = path.strip_prefix(&src).unwrap();
            let target = exercises.join(stage.name).join("src").join(name);
            let mine = fs::read_to_string(&target).expect("the exercise's file");
            let is_path = |l: &&str| l.trim_start().starts_with("#[path = \"");
            let mut paths = mine.lines().filter(is_path);
            let real = fs::read_to_string(&path).unwrap();
            let pasted: Vec<&str> = real
                .lines()
                .map(|l| match is_path(&l) {
                    true => paths.next().expect("the same #[path] lines"),
                    false => l,
                })
                .collect();
            fs::write(&target, pasted.join("\n") + "\n").unwrap();
        }
    }
}

/// Puts `lines` first in the body of `fn <name>` of an exercise's file.
fn prepend_to_body(path: &Path, signature: &str, lines: &str) {
    let text = fs::read_to_string(path).unwrap();
    let at = text
        .find(signature)
        .unwrap_or_else(|| panic!("no `{signature}` in {}", path.display()));
    let open = at + text[at..].find('{').unwrap() + 1;
    let changed = format!("{}\n{lines}{}", &text[..open], &text[open..]);
    fs::write(path, changed).unwrap();
}

/// What the untouched exercise's check must say: the hint of a `todo!()` it stops at, or, when
/// the step is only clone flags, each property the stage adds, named missing.
fn expected_failure(stage: &Stage, report: &str) -> Result<(), String> {
    let bodies: Vec<&Cut> = stage
        .exercise
        .iter()
        .filter(|c| matches!(c, Cut::Body { .. }))
        .collect();
    let report_words = words(report);
    if !bodies.is_empty() {
        let shown = bodies
            .iter()
            .any(|c| report_words.contains(&words(&format!("not yet implemented: {}", c.hint()))));
        return match shown && report.contains("your version does not run") {
            true => Ok(()),
            false => Err("no `not yet implemented: <hint>` of its todo!()s".to_string()),
        };
    }
    for p in stage.adds {
        if !report.contains(&format!("✗ {}: ", p.label())) {
            return Err(format!("`{}` is not named missing", p.label()));
        }
    }
    Ok(())
}

#[test]
fn every_exercise_fails_as_prepared_and_passes_with_the_real_step() {
    container_test(|| {
        let scratch = Scratch::new("exercises");
        let dir = &scratch.path;
        let mut failures = Vec::new();
        let started = Instant::now();
        for stage in catalog::STAGES.iter().filter(|s| !s.exercise.is_empty()) {
            let made = xtask(dir, &[stage.name]);
            if made.code != 0 {
                failures.push(format!("{}: not prepared:\n{}", stage.name, made.stderr));
                continue;
            }
            let untouched = xtask(dir, &[stage.name, "--check", "--prebuilt"]);
            eprintln!("--- {} as prepared:\n{}", stage.name, untouched.stdout);
            if untouched.code != 1 {
                failures.push(format!(
                    "{}: as prepared, the check exited {}, not 1:\n{}{}",
                    stage.name, untouched.code, untouched.stdout, untouched.stderr
                ));
            } else if let Err(why) = expected_failure(stage, &untouched.stdout) {
                failures.push(format!(
                    "{}: as prepared: {why}:\n{}",
                    stage.name, untouched.stdout
                ));
            }
            paste_solution(dir, stage);
            let built = xtask(dir, &[stage.name]);
            let solved = xtask(dir, &[stage.name, "--check", "--prebuilt"]);
            if built.code != 0 || solved.code != 0 || !solved.stdout.contains("passing: ") {
                failures.push(format!(
                    "{}: with the real step, the check exited {}:\n{}{}{}",
                    stage.name, solved.code, built.stderr, solved.stdout, solved.stderr
                ));
            }
        }
        eprintln!("every exercise, twice: {:.1?}", started.elapsed());
        let list = xtask(dir, &[]);
        for stage in catalog::STAGES.iter().filter(|s| !s.exercise.is_empty()) {
            if progress(&list.stdout, stage.name) != "passing" {
                failures.push(format!(
                    "the list does not say {} is passing:\n{}",
                    stage.name, list.stdout
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    });
}

/// `--reset` starts over, `--solution` shows the real step against the student's file, and the
/// list tells a started exercise from one not started.
#[test]
fn reset_solution_and_progress() {
    container_test(|| {
        let scratch = Scratch::new("exercises");
        let dir = &scratch.path;
        let list = xtask(dir, &[]);
        list.expect_code(0);
        assert_eq!(progress(&list.stdout, "uts"), "not started");
        xtask(dir, &["uts"]).expect_code(0);
        let main = source(dir, catalog::find("uts").unwrap(), "hostname.rs");
        fs::write(&main, "// the student's own\n").unwrap();
        xtask(dir, &["uts", "--reset"]).expect_code(0);
        let text = fs::read_to_string(&main).unwrap();
        assert!(
            text.contains("todo!(") && !text.contains("the student's own"),
            "{text}"
        );
        let solution = xtask(dir, &["uts", "--solution"]);
        solution.expect_code(0);
        assert!(
            solution
                .stdout
                .contains("+    let flags = CloneFlags::CLONE_NEWUTS;")
                && solution.stdout.contains("-    todo!("),
            "{}",
            solution.stdout
        );
        let list = xtask(dir, &[]);
        assert_eq!(progress(&list.stdout, "uts"), "started: not checked yet");
        // Usage errors: a stage without an exercise, two modes at once.
        assert_eq!(xtask(dir, &["base2"]).code, 2);
        assert_eq!(xtask(dir, &["uts", "--check", "--reset"]).code, 2);
    });
}

/// `--lang es`: the instructions in Spanish, and each todo!() with its Spanish hint.
#[test]
fn spanish_instructions_and_hints() {
    container_test(|| {
        let scratch = Scratch::new("exercises");
        let dir = &scratch.path;
        let cgroups = catalog::find("cgroups").unwrap();
        let made = xtask(dir, &["cgroups", "--lang", "es"]);
        made.expect_code(0);
        let out = words(&made.stdout);
        assert!(out.contains("escríbelo tú"), "{}", made.stdout);
        let text = words(&fs::read_to_string(source(dir, cgroups, "cgroups.rs")).unwrap());
        for cut in cgroups.exercise {
            assert!(out.contains(&words(cut.hint_es())), "{}", made.stdout);
            assert!(!out.contains(&words(cut.hint())), "{}", made.stdout);
            // The todo!()'s string, continued over lines: its words joined by `\ `.
            let first = cut.hint_es().split_whitespace().take(4).collect::<Vec<_>>();
            assert!(text.contains(&first.join(" ")), "{text}");
        }
    });
}

/// A version that does not compile: the compiler's own message, exit 1, and the list says so.
#[test]
fn a_compile_error_is_the_compilers_message() {
    container_test(|| {
        let scratch = Scratch::new("exercises");
        let dir = &scratch.path;
        let uts = catalog::find("uts").unwrap();
        xtask(dir, &["uts"]).expect_code(0);
        let main = source(dir, uts, "hostname.rs");
        prepend_to_body(
            &main,
            "fn set_hostname(",
            "    let n: u32 = \"not a number\";\n",
        );
        let check = xtask(dir, &["uts", "--check"]);
        check.expect_code(1);
        assert!(
            check.stderr.contains("error[E0308]: mismatched types"),
            "{}",
            check.stderr
        );
        assert!(
            check.stdout.contains("your version does not build"),
            "{}",
            check.stdout
        );
        let list = xtask(dir, &[]);
        assert_eq!(progress(&list.stdout, "uts"), "started: does not build");
    });
}

/// A version that panics in the parent as the container ends, before its cgroup is removed:
/// the panic is shown, the group is removed and named, and nothing is left.
#[test]
fn a_version_that_panics_is_reported_and_cleaned_up() {
    container_test(|| {
        let scratch = Scratch::new("exercises");
        let dir = &scratch.path;
        let cgroups = catalog::find("cgroups").unwrap();
        xtask(dir, &["cgroups"]).expect_code(0);
        paste_solution(dir, cgroups);
        let file = source(dir, cgroups, "cgroups.rs");
        prepend_to_body(
            &file,
            "fn drop(&mut self)",
            "        panic!(\"a student's panic\");\n",
        );
        xtask(dir, &["cgroups"]).expect_code(0);
        let check = xtask(dir, &["cgroups", "--check", "--prebuilt"]);
        check.expect_code(1);
        let out = words(&check.stdout);
        assert!(
            out.contains("your version does not run"),
            "{}",
            check.stdout
        );
        assert!(out.contains("src/cgroups.rs"), "{}", check.stdout);
        assert!(out.contains("a student's panic"), "{}", check.stdout);
        assert!(
            out.contains("was still on the host after it ended (removed now)"),
            "{}",
            check.stdout
        );
    });
}

/// A version whose child hangs, after starting a process of its own: killed at the time limit
/// with everything it started, reported, and nothing left.
#[test]
fn a_version_that_hangs_is_killed_with_all_it_started() {
    container_test(|| {
        let scratch = Scratch::new("exercises");
        let dir = &scratch.path;
        let uts = catalog::find("uts").unwrap();
        xtask(dir, &["uts"]).expect_code(0);
        paste_solution(dir, uts);
        let main = source(dir, uts, "hostname.rs");
        prepend_to_body(
            &main,
            "fn set_hostname(",
            "    let _ = std::process::Command::new(\"sleep\").arg(\"987654\").spawn();\n    \
             loop {\n        std::thread::sleep(std::time::Duration::from_secs(1));\n    }\n",
        );
        xtask(dir, &["uts"]).expect_code(0);
        let started = Instant::now();
        // 5 s instead of 20: the check's time limit for one run.
        let limit = [("DESDE_CERO_EXERCISE_LIMIT", "5")];
        let check = xtask_with(dir, &["uts", "--check", "--prebuilt"], &limit);
        check.expect_code(1);
        assert!(
            words(&check.stdout).contains("your version hangs: `uts run true` still ran after 5 s"),
            "{}",
            check.stdout
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            sleepers("987654"),
            Vec::<String>::new(),
            "a process of the hung run lives on"
        );
    });
}

/// The pids of every process whose command line is `sleep <arg>`.
fn sleepers(arg: &str) -> Vec<String> {
    let want = format!("sleep\0{arg}\0");
    fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    fs::read(e.path().join("cmdline")).is_ok_and(|c| c.ends_with(want.as_bytes()))
                })
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

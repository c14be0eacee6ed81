//! The teaching tools, run as a student and a presenter would: `cargo xtask diff` shows the
//! syscall lines a step adds, `cargo xtask present --yes` walks the whole talk (notes, diffs,
//! live demos) without an error, in English and in Spanish, and `cargo xtask check` passes on
//! this repository but fails, naming each problem, on a deliberately broken copy of it made in a
//! temporary folder (the Spanish notes and README included).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::{LeakCheck, Run};

/// The locale variables that choose `present`'s and `list`'s language.
const LOCALE: [&str; 3] = ["LC_ALL", "LC_MESSAGES", "LANG"];

/// The built xtask with `args`, in the C locale (so English unless `--lang` says otherwise).
fn xtask_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(testkit::xtask_bin());
    cmd.args(args).env_remove("NO_COLOR");
    for var in LOCALE {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs the built xtask with `args`.
fn xtask(args: &[&str]) -> Run {
    testkit::run_cmd(&mut xtask_cmd(args))
}

#[test]
fn diff_shows_the_syscall_lines_a_step_adds() {
    let run = xtask(&["diff", "chroot"]);
    run.expect_code(0);
    let out = &run.stdout;
    assert!(
        out.starts_with("--- slides/pid/src/main.rs\n+++ slides/chroot/src/main.rs\n@@ "),
        "one argument diffs against the stage before, main.rs first:\n{out}"
    );
    // The step's system calls are added lines (the `use` line too).
    let added = |out: &str, what: &str| out.lines().any(|l| l.starts_with('+') && l.contains(what));
    for call in [
        "chroot(&rootfs)",
        "chdir(\"/\")",
        "use nix::unistd::{chdir, chroot",
    ] {
        assert!(added(out, call), "no added line with {call:?} in:\n{out}");
    }
    assert!(!out.contains('\x1b'), "colours in a pipe:\n{out}");
    assert!(!out.contains("folded"), "a pipe gets every line:\n{out}");

    // Two stages: FROM and TO, in either order; the uts step is its clone flag and sethostname.
    let run = xtask(&["diff", "base2", "utsnamespace"]);
    run.expect_code(0);
    assert!(
        added(&run.stdout, "CloneFlags::CLONE_NEWUTS"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .lines()
        .any(|l| l.starts_with("+    sethostname(")));
    let back = xtask(&["diff", "uts", "base2"]);
    assert!(back
        .stdout
        .lines()
        .any(|l| l.starts_with('-') && l.contains("CloneFlags::CLONE_NEWUTS")));

    // The first stage is diffed against nothing.
    let run = xtask(&["diff", "1"]);
    run.expect_code(0);
    assert!(run
        .stdout
        .starts_with("--- /dev/null\n+++ slides/base1/src/main.rs\n"));

    // Every file of src/, paired by name: a stage's new step file is shown whole, added.
    for stage in catalog::STAGES {
        let src = testkit::project_root()
            .join("slides")
            .join(stage.name)
            .join("src");
        let Some(prev) = catalog::previous(stage) else {
            continue;
        };
        let before = testkit::project_root()
            .join("slides")
            .join(prev.name)
            .join("src");
        for entry in fs::read_dir(&src).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".rs") && !before.join(&name).exists() {
                let run = xtask(&["diff", stage.name]);
                let header = format!("--- /dev/null\n+++ slides/{}/src/{name}\n", stage.name);
                assert!(
                    run.stdout.contains(&header),
                    "{}: no {header:?}",
                    stage.name
                );
            }
        }
    }
}

#[test]
fn diff_stat_has_one_line_per_step() {
    let run = xtask(&["diff", "--stat"]);
    run.expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), catalog::STAGES.len() - 1, "{}", run.stdout);
    for (line, stage) in lines.iter().zip(catalog::STAGES.iter().skip(1)) {
        let prev = catalog::previous(stage).unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            words[..4],
            [
                stage.number().to_string().as_str(),
                prev.name,
                "->",
                stage.name
            ],
            "{line}"
        );
        assert!(
            line.contains(" code +") && line.contains(" comments +"),
            "{line}"
        );
        assert!(line.len() <= 80, "{line}");
    }
    let pid = xtask(&["diff", "pid", "--stat"]);
    pid.expect_code(0);
    assert_eq!(pid.stdout.lines().count(), 1);
    // pid adds code to uts (its clone flag, the init), counted apart from comments.
    assert!(
        pid.stdout.contains("uts      -> pid      code +") && !pid.stdout.contains("code +0 "),
        "{}",
        pid.stdout
    );
}

#[test]
fn diff_rejects_bad_input_with_a_usage_error() {
    for args in [
        &["diff"][..],
        &["diff", "chrot"],
        &["diff", "--color"],
        &["diff", "1", "2", "3"],
        &["diff", "1", "--code", "--all"],
        &["present", "nope", "--yes"],
        &["present", "--bogus"],
        &["present", "1", "2"],
        &["present", "--lang", "fr", "--yes"],
        &["present", "--lang"],
        &["list", "--lang", "xx"],
    ] {
        let run = xtask(args);
        run.expect_code(2);
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "{args:?}: one line: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    assert!(xtask(&["diff", "chrot"])
        .stderr
        .contains("did you mean `chroot`?"));
    assert!(
        xtask(&["present", "--lang", "fr"])
            .stderr
            .contains("unknown language \"fr\"; the languages: en, es"),
        "the unknown language and the known ones are named"
    );
    // --help on both: the usage and every flag, on stdout, status 0.
    for (command, flags) in [
        ("diff", &["--stat", "--code", "--all"][..]),
        ("present", &["--only", "--yes", "--lang"][..]),
    ] {
        let run = xtask(&[command, "--help"]);
        run.expect_code(0);
        assert!(
            run.stdout.contains(&format!("cargo xtask {command}")),
            "{}",
            run.stdout
        );
        for flag in flags {
            assert!(run.stdout.contains(flag), "{command} --help: no {flag}");
        }
        assert!(
            run.stdout.lines().all(|l| l.chars().count() <= 80),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn present_yes_walks_the_whole_talk() {
    // `awk 'length > 80'` prints nothing (mawk's length counts bytes: so do we).
    let english = Walk {
        extra: &[],
        width: str::len,
        notes_file: "README.md",
        title: |stage| {
            format!(
                "Stage {} of {} — {}",
                stage.number(),
                catalog::STAGES.len(),
                stage.name
            )
        },
        at_stage: |stage, title, rest| {
            let diff_header = format!("+++ slides/{}/src/", stage.name);
            assert!(rest.contains(&diff_header), "{title}: no diff");
        },
    };
    let Some(out) = english.run() else {
        return;
    };
    // The demos ran: the uts stage's `hostname` printed the container's name.
    assert!(out.lines().any(|l| l == "container"), "{out}");
}

/// `present --yes` run off a terminal, as root, and walked: no line over 80 columns as
/// `width` counts them, every stage in talk order under its `title`, `at_stage`'s checks on
/// what follows the title, and every demo of the stage's `notes_file` shown.
struct Walk {
    extra: &'static [&'static str],
    width: fn(&str) -> usize,
    notes_file: &'static str,
    title: fn(&catalog::Stage) -> String,
    at_stage: fn(&catalog::Stage, &str, &str),
}

impl Walk {
    /// What present printed; None when not root (the loud skip of `require_root`).
    fn run(&self) -> Option<String> {
        if !testkit::require_root() {
            return None;
        }
        let _serial = testkit::serial();
        let leaks = LeakCheck::start();
        // Off a terminal, the talk is fitted to 80 columns.
        let mut args = vec!["present", "--yes"];
        args.extend_from_slice(self.extra);
        let mut cmd = xtask_cmd(&args);
        cmd.env_remove("COLUMNS");
        let run = testkit::run_cmd(&mut cmd);
        leaks.assert_clean();
        run.expect_code(0);
        let out = &run.stdout;
        let wide: Vec<&str> = out.lines().filter(|l| (self.width)(l) > 80).collect();
        assert!(
            wide.is_empty(),
            "lines over 80 columns:\n{}",
            wide.join("\n")
        );
        // A long command is shown as a shell would read it, broken with ` \`.
        let joined = out.replace(" \\\n    ", " ");
        let mut from = 0;
        for stage in catalog::STAGES {
            let title = (self.title)(stage);
            // Stages come in talk order, each with its notes, its diff and its demos.
            let at = joined[from..]
                .find(&title)
                .unwrap_or_else(|| panic!("no {title:?} after byte {from} of:\n{out}"));
            from += at;
            (self.at_stage)(stage, &title, &joined[from..]);
            let notes = fs::read_to_string(
                testkit::project_root()
                    .join("slides")
                    .join(stage.name)
                    .join(self.notes_file),
            )
            .unwrap();
            for demo in notes::demos(&notes).unwrap() {
                assert!(
                    joined[from..].contains(&format!("$ {}", demo.command)),
                    "{title}: demo `{}` not shown",
                    demo.command
                );
            }
        }
        Some(run.stdout)
    }
}

#[test]
fn present_one_stage_and_bad_input() {
    if !testkit::require_root() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let run = xtask(&["present", "pidnamespace", "--only", "--yes"]);
    leaks.assert_clean();
    run.expect_code(0);
    assert!(run.stdout.contains("Stage 4 of"));
    assert!(!run.stdout.contains("Etapa"), "English in the C locale");
    assert!(!run.stdout.contains("Stage 5 of"), "--only shows one stage");
    // The pid demo `echo $$ $PPID` ran inside the stage: the shell is PID 2 under the init.
    assert!(run.stdout.lines().any(|l| l == "2 1"), "{}", run.stdout);

    // Without a terminal and without --yes, present says what to do instead of hanging.
    let run = xtask(&["present", "pid"]);
    run.expect_code(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    xtask(&["present", "nope", "--yes"]).expect_code(2);
}

#[test]
fn check_passes_on_this_repository() {
    // Clippy included: this is the full rule set, as `cargo xtask check` runs it.
    let run = xtask(&["check"]);
    assert_eq!(
        run.code, 0,
        "cargo xtask check found problems:\n{}{}",
        run.stdout, run.stderr
    );
}

/// A temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("desde-cero-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
fn check_fails_on_a_broken_copy_naming_each_problem() {
    let tmp = TempDir::new("check");
    let root = testkit::project_root();
    let copy = &tmp.0;
    fs::copy(root.join("Cargo.toml"), copy.join("Cargo.toml")).unwrap();
    fs::copy(root.join("README.md"), copy.join("README.md")).unwrap();
    fs::copy(root.join("README.es.md"), copy.join("README.es.md")).unwrap();
    copy_tree(&root.join("slides"), &copy.join("slides"));
    copy_tree(&root.join("crates/catalog"), &copy.join("crates/catalog"));
    let check = |extra: &[&str]| {
        let mut args = vec!["check", "--no-clippy", "--root", copy.to_str().unwrap()];
        args.extend_from_slice(extra);
        xtask(&args)
    };
    // What the copy says as it is (nothing, when the repository passes its own check, which the
    // test above requires): the problems below must come on top of these.
    let pristine = check(&[]);
    assert!(pristine.code <= 1, "{}{}", pristine.stdout, pristine.stderr);
    let new_problems = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| !pristine.stdout.lines().any(|p| p == *l))
            .map(String::from)
            .collect()
    };

    // Break it five ways (seven problems: the copied stage also has the wrong title, and both
    // READMEs' tables show its story and diff).
    let slides = copy.join("slides");
    fs::remove_file(slides.join("uts/README.md")).unwrap();
    // The last stage becomes the one before it: its step adds nothing (and its title is wrong).
    let last = catalog::STAGES.last().unwrap();
    let before = catalog::previous(last).unwrap();
    fs::remove_dir_all(slides.join(last.name).join("src")).unwrap();
    copy_tree(
        &slides.join(before.name).join("src"),
        &slides.join(last.name).join("src"),
    );
    let readme = fs::read_to_string(copy.join("README.md")).unwrap();
    let stale = readme.replace("| `pidnamespace` |", "| `pidns` |");
    assert_ne!(
        stale, readme,
        "README.md's table has no pid row to make stale"
    );
    fs::write(copy.join("README.md"), stale).unwrap();
    fs::write(
        slides.join("base1/src/extra.rs"),
        "pub fn  badly_formatted( ) {}\n",
    )
    .unwrap();
    fs::create_dir_all(slides.join("bogus/src")).unwrap();

    let run = check(&[]);
    run.expect_code(1);
    for problem in [
        "slides/uts/README.md: missing: stage uts has no notes".to_string(),
        format!(
            "slides/{}: the diff from {} is empty: the stage adds nothing",
            last.name, before.name
        ),
        format!(
            "slides/{}/src/main.rs: the first line should start with `//! # Stage {} — {}:`",
            last.name,
            last.number(),
            last.name
        ),
        "README.md: the stage table differs from the catalog: run `cargo xtask check --fix`"
            .to_string(),
        // The last stage's story and diff changed: the Spanish table's numbers too.
        "README.es.md: the stage table differs from the catalog: run `cargo xtask check --fix`"
            .to_string(),
        "slides/base1/src/extra.rs: not formatted: run `cargo fmt -p base1`".to_string(),
        "slides/bogus: not a stage in the catalog (crates/catalog/src/lib.rs)".to_string(),
    ] {
        assert!(
            run.stdout.lines().any(|l| l == problem.as_str()),
            "check did not report {problem:?}; it said:\n{}",
            run.stdout
        );
    }
    let found = new_problems(&run.stdout);
    assert_eq!(
        found.len(),
        7,
        "one line per problem:\n{}",
        found.join("\n")
    );

    // --fix rewrites the stale table, and only the table.
    check(&["--fix"]).expect_code(1);
    let fixed = fs::read_to_string(copy.join("README.md")).unwrap();
    let outside = |text: &str| {
        let (head, rest) = text.split_once("<!-- stages:begin -->").unwrap();
        let (_, tail) = rest.split_once("<!-- stages:end -->").unwrap();
        format!("{head}{tail}")
    };
    assert_eq!(
        outside(&fixed),
        outside(&readme),
        "--fix changed more than the table"
    );
    // The table is the broken copy's own (its counts follow the copy's sources), the stale
    // row corrected.
    assert!(fixed.contains("| 4 | `pid` | `pidnamespace` |"), "{fixed}");
    let after = new_problems(&check(&[]).stdout);
    assert_eq!(after.len(), 5, "{}", after.join("\n"));
    assert!(
        !after.iter().any(|l| l.starts_with("README.md")),
        "{after:?}"
    );
}

#[test]
fn present_yes_walks_the_whole_talk_in_spanish() {
    let spanish = Walk {
        extra: &["--lang", "es"],
        width: |l| l.chars().count(),
        notes_file: "README.es.md",
        title: |stage| {
            format!(
                "Etapa {} de {} — {}",
                stage.number(),
                catalog::STAGES.len(),
                stage.name
            )
        },
        // The Spanish summary and notes, and the demos, which are the English ones.
        at_stage: |stage, title, rest| {
            assert!(
                rest.contains(stage.summary_es.split(':').next().unwrap()),
                "{title}: no Spanish summary"
            );
        },
    };
    let Some(out) = spanish.run() else {
        return;
    };
    // Every word present prints itself is Spanish: the diff headings and fold markers too.
    for english in [
        "Stage 1 of",
        "What uts adds to",
        "comment lines folded",
        "(exit ",
    ] {
        assert!(!out.contains(english), "{english:?} in the Spanish talk");
    }
    for spanish in [
        "Lo que uts agrega a base2: código +",
        "comentarios plegados",
    ] {
        assert!(out.contains(spanish), "no {spanish:?} in:\n{out}");
    }
    // The demos ran and printed what they print in English.
    assert!(out.lines().any(|l| l == "container"), "{out}");
}

#[test]
fn present_and_list_follow_a_spanish_locale() {
    if !testkit::require_root() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let locale = |vars: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["present", "base1", "--only", "--yes"];
        args.extend_from_slice(extra);
        let mut cmd = xtask_cmd(&args);
        cmd.envs(vars.iter().copied());
        testkit::run_cmd(&mut cmd)
    };
    let es = locale(&[("LANG", "es_MX.UTF-8")], &[]);
    es.expect_code(0);
    assert!(es.stdout.contains("Etapa 1 de"), "{}", es.stdout);
    // LC_ALL comes first; --lang above them all.
    let en = locale(&[("LC_ALL", "C.UTF-8"), ("LANG", "es_MX.UTF-8")], &[]);
    assert!(en.stdout.contains("Stage 1 of"), "{}", en.stdout);
    let en = locale(&[("LANG", "es_AR.UTF-8")], &["--lang", "en"]);
    assert!(en.stdout.contains("Stage 1 of"), "{}", en.stdout);
    leaks.assert_clean();
    let mut list = xtask_cmd(&["list"]);
    list.env("LC_MESSAGES", "es_CL.UTF-8");
    let list = testkit::run_cmd(&mut list);
    list.expect_code(0);
    assert!(list.stdout.contains(catalog::STAGES[0].summary_es));
}

#[test]
fn check_holds_the_two_languages_together() {
    let tmp = TempDir::new("check-es");
    let root = testkit::project_root();
    let copy = &tmp.0;
    for file in ["Cargo.toml", "README.md", "README.es.md"] {
        fs::copy(root.join(file), copy.join(file)).unwrap();
    }
    copy_tree(&root.join("slides"), &copy.join("slides"));
    copy_tree(&root.join("crates/catalog"), &copy.join("crates/catalog"));
    let check = |extra: &[&str]| {
        let mut args = vec!["check", "--no-clippy", "--root", copy.to_str().unwrap()];
        args.extend_from_slice(extra);
        xtask(&args)
    };
    let pristine = check(&[]);
    let new_problems = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| !pristine.stdout.lines().any(|p| p == *l))
            .map(String::from)
            .collect()
    };
    let slides = copy.join("slides");
    let edit = |path: &Path, from: &str, to: &str| {
        let text = fs::read_to_string(path).unwrap();
        assert!(text.contains(from), "{}: no {from:?}", path.display());
        fs::write(path, text.replacen(from, to, 1)).unwrap();
    };
    // Notes in one language only; a demo changed in Spanish alone; a section left out; the
    // Spanish title; the README's table, link, a command and the glossary.
    fs::remove_file(slides.join("base1/README.es.md")).unwrap();
    edit(
        &slides.join("uts/README.es.md"),
        "$ uname -n\ncontainer",
        "$ uname -n\ncontenedor",
    );
    edit(
        &slides.join("pid/README.es.md"),
        "## Pruébalo",
        "**Pruébalo**",
    );
    edit(&slides.join("chroot/README.es.md"), "# Etapa 5", "# Paso 5");
    let readme = fs::read_to_string(copy.join("README.es.md")).unwrap();
    edit(
        &copy.join("README.es.md"),
        "| `pidnamespace` |",
        "| `pidns` |",
    );
    edit(
        &copy.join("README.es.md"),
        "](README.md)",
        "](README.en.md)",
    );
    let text = fs::read_to_string(copy.join("README.es.md")).unwrap();
    let doktor = text.replace("`cargo xtask doctor`", "`cargo xtask doktor`");
    fs::write(copy.join("README.es.md"), doktor).unwrap();
    let run = check(&[]);
    run.expect_code(1);
    let found = new_problems(&run.stdout);
    for problem in [
        "slides/base1/README.es.md: missing: the notes of base1 are in English only",
        "slides/uts/README.es.md: line ",
        "slides/pid/README.es.md: line ",
        "slides/chroot/README.es.md: the first line should start with `# Etapa 5 — chroot:`",
        "README.es.md: the stage table differs from the catalog: run `cargo xtask check --fix`",
        "README.es.md: no link to README.md in its first 5 lines",
        "README.es.md: no `cargo xtask doctor`, which README.md shows",
        "README.es.md: `cargo xtask doktor` is not in README.md",
    ] {
        assert!(
            found.iter().any(|l| l.starts_with(problem)),
            "check did not report {problem:?}; it said:\n{}",
            found.join("\n")
        );
    }
    assert!(
        found
            .iter()
            .any(|l| l.starts_with("slides/uts/README.es.md") && l.contains("block differs")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|l| l.starts_with("slides/pid/README.es.md") && l.contains("sections differ")),
        "{found:?}"
    );
    assert_eq!(
        found.len(),
        8,
        "one line per problem:\n{}",
        found.join("\n")
    );

    // --fix rewrites the Spanish table from the catalog's Spanish summaries, and only it.
    check(&["--fix"]).expect_code(1);
    let fixed = fs::read_to_string(copy.join("README.es.md")).unwrap();
    assert_eq!(
        fixed,
        readme
            .replacen("](README.md)", "](README.en.md)", 1)
            .replace("`cargo xtask doctor`", "`cargo xtask doktor`")
    );
    assert!(fixed.contains(catalog::STAGES[3].summary_es));
    // The glossary is required.
    fs::write(
        copy.join("README.es.md"),
        readme.replace("## Glosario", "## Palabras"),
    )
    .unwrap();
    assert!(check(&[])
        .stdout
        .lines()
        .any(|l| l == "README.es.md: no `## Glosario` section at its end"));
}

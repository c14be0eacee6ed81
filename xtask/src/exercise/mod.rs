//! `cargo xtask exercise [STAGE] [--check|--reset|--solution]`: write a stage's new step
//! yourself, and have it checked against the real stage.
//!
//! An exercise is a copy of a stage's crate with its new step taken out: the function bodies
//! and clone-flag lines the catalog names (`catalog::Cut`), each replaced by `todo!("<what to
//! look up>")` or, for a flag, a placeholder under the hint as a comment (cut.rs). It lives in
//! `exercises/<stage>/`, which git ignores, as a crate of its own named like the stage (so it
//! runs, and `ps` shows it, as the stage would), in a workspace of its own, built into
//! `exercises/target`: the repository's workspace and `git status` are untouched. The files the
//! stage includes from earlier stages (`#[path]`) are included from where they are.
//!
//! `--check` (check.rs) builds your version, then runs it as the matrix and the notes run the
//! stage, in namespaces and on a root filesystem of the check's own (sandbox.rs), and says what
//! holds and what is still missing. The last check's outcome is kept in the exercise's folder,
//! for the list that `cargo xtask exercise` prints.

mod check;
mod cut;
mod sandbox;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use catalog::{Cut, Stage};

use crate::present::lang::{self, Lang};
use crate::{cli, diff, util};

pub const CLI: cli::Command = cli::Command {
    name: "exercise",
    about: "write a stage's new step yourself, checked against the real stage",
    args: &[
        cli::optional(
            "STAGE",
            "the stage, from uts on (none: every exercise, with your progress)",
        ),
        cli::flag(
            "check",
            "build your version and check it: the stage's isolation, its attacks, its demos",
        ),
        cli::flag("reset", "start the exercise over (your version is deleted)"),
        cli::flag(
            "solution",
            "show the diff from your version to the real stage",
        ),
        cli::flag(
            "prebuilt",
            "with --check: your version as it is built, nothing is built (the sudo re-run)",
        ),
        lang::FLAG,
    ],
    rest: None,
    notes: "An exercise is a copy of the stage with its new step taken out, in exercises/<stage>/ \
            (ignored by git; DESDE_CERO_EXERCISES names another folder), built into \
            exercises/target.\n\n\
            --check needs root (through sudo when you are not root). Your version runs in \
            namespaces of the check's own, on a copy-on-write root filesystem, at most 20 s a \
            run ($DESDE_CERO_EXERCISE_LIMIT seconds); what it leaves on the host is removed, \
            and said. Exit 0 when it matches the real stage, 1 when it does not (or does not \
            build), 2 on a usage error.",
};

/// Where the exercises are: `$DESDE_CERO_EXERCISES` (relative to the workspace), else
/// `exercises/`.
pub fn dir() -> PathBuf {
    match std::env::var_os(ENV_VAR) {
        Some(dir) if !dir.is_empty() => util::project_root().join(dir),
        _ => util::project_root().join("exercises"),
    }
}

/// Names another folder for the exercises (the tests use one of their own).
const ENV_VAR: &str = "DESDE_CERO_EXERCISES";

/// One stage's exercise: its crate's folder.
fn crate_dir(stage: &Stage) -> PathBuf {
    dir().join(stage.name)
}

/// The target folder every exercise is built into (their dependencies are built once).
fn target_dir() -> PathBuf {
    dir().join("target")
}

/// Your version's binary.
fn binary(stage: &Stage) -> PathBuf {
    target_dir().join("debug").join(stage.name)
}

/// The file the last check's outcome is kept in.
const RECORD: &str = ".last-check";

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let args = CLI.parse(args)?;
    let (check, reset, solution) = (
        args.flag("check"),
        args.flag("reset"),
        args.flag("solution"),
    );
    if [check, reset, solution].iter().filter(|f| **f).count() > 1 {
        return Err(args.error("give one of --check, --reset and --solution"));
    }
    if args.flag("prebuilt") && !check {
        return Err(args.error("--prebuilt goes with --check"));
    }
    let Some(key) = args.positional("STAGE") else {
        if check || reset || solution {
            return Err(args.error("which exercise? give its STAGE"));
        }
        return list();
    };
    let stage = args.stage(key)?;
    let lang = Lang::from_args(&args)?;
    if stage.exercise.is_empty() {
        let first = catalog::STAGES.iter().find(|s| !s.exercise.is_empty());
        return Err(args.error(format!(
            "stage {} has no exercise: they start at {}",
            stage.name,
            first.map_or("?", |s| s.name)
        )));
    }
    if check {
        return check::run(stage, args.flag("prebuilt"));
    }
    if solution {
        return show_solution(stage);
    }
    let dir = crate_dir(stage);
    if reset && dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        println!("exercise {}: your version is deleted", stage.name);
    }
    if !dir.join("Cargo.toml").is_file() {
        prepare(stage, lang)?;
        println!("exercise {}: ready in {}", stage.name, shown(&dir));
    }
    build(stage)?;
    print!("{}", instructions(stage, lang));
    Ok(0)
}

/// A path as the student sees it: relative to the workspace when it is inside.
fn shown(path: &Path) -> String {
    let root = util::project_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A cut's hint in `lang`.
fn hint(lang: Lang, cut: &Cut) -> &'static str {
    match lang {
        Lang::En => cut.hint(),
        Lang::Es => cut.hint_es(),
    }
}

/// What to write, where, and how to try it, in `lang`.
fn instructions(stage: &Stage, lang: Lang) -> String {
    let dir = crate_dir(stage);
    let es = lang == Lang::Es;
    let (n, name, summary, at) = (stage.number(), stage.name, lang.summary(stage), shown(&dir));
    let mut out = match es {
        false => format!("\nexercise {n} {name}: {summary}\nwrite it yourself, in {at}:\n"),
        true => format!("\nejercicio {n} {name}: {summary}\nescríbelo tú, en {at}:\n"),
    };
    for cut in stage.exercise {
        let what = match (cut, es) {
            (Cut::Body { .. }, false) => "the body",
            (Cut::Line { .. }, false) => "a line",
            (Cut::Body { .. }, true) => "el cuerpo",
            (Cut::Line { .. }, true) => "una línea",
        };
        let of = if es { "de" } else { "of" };
        let line = format!(
            "  - src/{}, {what} {of} fn {}: {}",
            cut.file(),
            cut.function(),
            hint(lang, cut)
        );
        out.push_str(&cli::wrap(&line, cli::WIDTH, 4));
    }
    let run = format!(
        "sudo DESDE_CERO_ROOTFS=rootfs/build {} run sh",
        shown(&binary(stage))
    );
    let lines = match es {
        false => [
            format!(
                "The story is in slides/{name}/README.md; the man pages the hints name say the \
                 rest."
            ),
            format!("Build and check it: `cargo xtask exercise {name} --check`."),
            format!("Try it by hand, on the host itself (no sandbox there): `{run}`."),
            format!(
                "Stuck? `cargo xtask exercise {name} --solution` shows the real step; \
                 `--reset` starts over."
            ),
        ],
        true => [
            format!(
                "La historia está en slides/{name}/README.es.md; las páginas de man que nombran \
                 las pistas dicen el resto."
            ),
            format!("Compílalo y compruébalo: `cargo xtask exercise {name} --check`."),
            format!("Pruébalo a mano, en el host mismo (ahí no hay sandbox): `{run}`."),
            format!(
                "¿Necesitas ayuda? `cargo xtask exercise {name} --solution` muestra el paso real; \
                 `--reset` empieza de nuevo."
            ),
        ],
    };
    out.push('\n');
    for line in lines {
        out.push_str(&cli::wrap(&line, cli::WIDTH, 0));
    }
    out
}

/// `cargo xtask exercise`: every exercise in talk order, with the student's progress.
fn list() -> Result<u8> {
    println!("exercises, in talk order (in {}):", shown(&dir()));
    for stage in catalog::STAGES.iter().filter(|s| !s.exercise.is_empty()) {
        let progress = progress(stage);
        println!("  {:>2} {:<13} {progress}", stage.number(), stage.name);
    }
    println!(
        "\n`cargo xtask exercise <stage>` starts one; `--check` checks it; `--solution`, \
         `--reset`."
    );
    Ok(0)
}

/// Not started, started (with the last check's word), or passing.
fn progress(stage: &Stage) -> String {
    let dir = crate_dir(stage);
    if !dir.join("Cargo.toml").is_file() {
        return "not started".to_string();
    }
    let record = dir.join(RECORD);
    let Ok(text) = fs::read_to_string(&record) else {
        return "started: not checked yet".to_string();
    };
    let checked = fs::metadata(&record).and_then(|m| m.modified()).ok();
    let edited = checked.is_some_and(|at| newest_source(&dir.join("src")) > Some(at));
    let mut lines = text.lines();
    let status = lines.next().unwrap_or("");
    let detail = lines.next().unwrap_or("");
    match (status, edited) {
        ("passing", false) => "passing".to_string(),
        ("passing", true) => "started: passed, edited since".to_string(),
        (_, true) => format!("started: edited since the last check ({detail})"),
        (_, false) => format!("started: {detail}"),
    }
}

/// When a file under `dir` was last changed.
fn newest_source(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let time = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            newest_source(&entry.path())
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(time);
    }
    newest
}

/// Keeps the last check's outcome: `passing` or `failing`, and one line saying why.
fn record(stage: &Stage, passing: bool, detail: &str) {
    let dir = crate_dir(stage);
    let text = format!(
        "{}\n{}\n",
        if passing { "passing" } else { "failing" },
        detail.lines().next().unwrap_or("")
    );
    // Through a new file, renamed: the one there may be root's, from a check through sudo.
    let tmp = dir.join(format!("{RECORD}.{}", std::process::id()));
    if fs::write(&tmp, text).is_ok() {
        let _ = fs::rename(&tmp, dir.join(RECORD));
    }
    // Root's record in the student's folder: give it to the folder's owner.
    if util::is_root() {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = fs::metadata(&dir) {
            let owner = (Some(meta.uid().into()), Some(meta.gid().into()));
            let _ = nix::unistd::chown(&dir.join(RECORD), owner.0, owner.1);
        }
    }
}

/// One file of a stage's crate: its path under `src/`, and its text.
struct SourceFile {
    name: PathBuf,
    text: String,
}

/// The stage's own source files as the exercise has them before any cut: every `#[path]`
/// that leads out of the stage's `src/` rewritten to lead, from `exercises/<stage>/src/`, to
/// the same file.
fn solution_files(stage: &Stage) -> Result<Vec<SourceFile>> {
    let src = util::project_root()
        .join("slides")
        .join(stage.name)
        .join("src");
    let src = src
        .canonicalize()
        .with_context(|| format!("cannot find {}", src.display()))?;
    let dest = crate_dir(stage).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        let entries =
            fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path);
                continue;
            }
            let name = path.strip_prefix(&src).unwrap_or(&path).to_path_buf();
            let text = fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let from = path.parent().unwrap_or(&src);
            let to = dest.join(&name);
            let text = rewrite_paths(&text, from, to.parent().unwrap_or(&dest), &src);
            files.push(SourceFile { name, text });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// `text` (a file of folder `from`) with each `#[path = "..."]` that leads out of `stage_src`
/// leading to the same file from folder `to`.
fn rewrite_paths(text: &str, from: &Path, to: &Path, stage_src: &Path) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let target = line
            .trim_start()
            .strip_prefix("#[path = \"")
            .and_then(|rest| rest.split_once('"'))
            .map(|(path, _)| path);
        let rewritten = target.and_then(|path| {
            let real = from.join(path).canonicalize().ok()?;
            if real.starts_with(stage_src) {
                return None;
            }
            let relative = relative(to, &real);
            Some(line.replacen(path, &relative.display().to_string(), 1))
        });
        out.push_str(rewritten.as_deref().unwrap_or(line));
    }
    out
}

/// The path from folder `from` to `to`, both absolute.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to[common..] {
        out.push(part);
    }
    out
}

/// Writes the exercise: the stage's files with the step cut out, its manifest, the lock file.
fn prepare(stage: &Stage, lang: Lang) -> Result<()> {
    let dir = crate_dir(stage);
    // The folder for the relative #[path]s to be computed from.
    fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let mut files = solution_files(stage)?;
    for cut in stage.exercise {
        let file = files
            .iter_mut()
            .find(|f| f.name == Path::new(cut.file()))
            .with_context(|| format!("slides/{}/src/{}: no such file", stage.name, cut.file()))?;
        file.text = cut::apply(&file.text, cut, hint(lang, cut)).with_context(|| {
            format!(
                "slides/{}/src/{}: the exercise's cut does not fit",
                stage.name,
                cut.file()
            )
        })?;
    }
    for file in &files {
        let path = dir.join("src").join(&file.name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, &file.text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    fs::write(dir.join("Cargo.toml"), manifest(stage)?)?;
    // The workspace's versions of every dependency: built once for all exercises, offline.
    let _ = fs::copy(
        util::project_root().join("Cargo.lock"),
        dir.join("Cargo.lock"),
    );
    Ok(())
}

/// The exercise's Cargo.toml: the stage's package, in a workspace of its own, with the
/// dependencies it takes from the repository's workspace written out.
fn manifest(stage: &Stage) -> Result<String> {
    let root = util::project_root();
    let stage_toml = fs::read_to_string(root.join("slides").join(stage.name).join("Cargo.toml"))?;
    let workspace = fs::read_to_string(root.join("Cargo.toml"))?;
    let shared = section(&workspace, "[workspace.dependencies]");
    let edition = section(&workspace, "[workspace.package]")
        .into_iter()
        .find_map(|l| l.strip_prefix("edition = ").map(str::to_string))
        .unwrap_or_else(|| "\"2021\"".to_string());
    let mut deps = String::new();
    for line in section(&stage_toml, "[dependencies]") {
        let Some(name) = line.strip_suffix(".workspace = true") else {
            deps.push_str(line);
            deps.push('\n');
            continue;
        };
        let spec = shared
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{name} = ")))
            .with_context(|| format!("no {name} in the workspace's dependencies"))?;
        // A path is the workspace's; from the exercise, it is written whole.
        let spec = match spec.split_once("path = \"") {
            Some((head, rest)) => format!("{head}path = \"{}/{rest}", root.display()),
            None => spec.to_string(),
        };
        deps.push_str(&format!("{name} = {spec}\n"));
    }
    Ok(format!(
        "# The exercise of stage {number} ({name}): `cargo xtask exercise {name} --check`.\n\
         [package]\n\
         name = \"{name}\"\n\
         version = \"0.1.0\"\n\
         description = \"Exercise: stage {number} of desde-cero with its step taken out\"\n\
         edition = {edition}\n\
         publish = false\n\n\
         [dependencies]\n\
         {deps}\n\
         # A workspace of its own: the repository's is left as it is.\n\
         [workspace]\n",
        number = stage.number(),
        name = stage.name,
    ))
}

/// The lines of a TOML section, up to the next one, blank lines and comments left out.
fn section<'a>(toml: &'a str, header: &str) -> Vec<&'a str> {
    toml.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Builds your version, cargo's lines and the compiler's messages shown as they come.
fn build(stage: &Stage) -> Result<PathBuf> {
    let dir = crate_dir(stage);
    let bin = binary(stage);
    let mut cmd = util::cargo();
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir());
    util::cargo_build(&mut cmd, &format!("exercise `{}`", stage.name), &bin)?;
    if !bin.is_file() {
        bail!("cargo built no {}", bin.display());
    }
    Ok(bin)
}

/// `--solution`: the diff from your version to the real stage, file by file.
fn show_solution(stage: &Stage) -> Result<u8> {
    let dir = crate_dir(stage);
    if !dir.join("Cargo.toml").is_file() {
        bail!(
            "no exercise {} yet: `cargo xtask exercise {}` starts it",
            stage.name,
            stage.name
        );
    }
    let terminal = diff::stdout_is_terminal();
    let look = diff::Look {
        color: diff::color_wanted(),
        width: if terminal { diff::width_wanted() } else { None },
        fold: false,
    };
    let mut out = String::new();
    for file in solution_files(stage)? {
        let yours = dir.join("src").join(&file.name);
        let text = fs::read_to_string(&yours).unwrap_or_default();
        let real = Path::new("slides")
            .join(stage.name)
            .join("src")
            .join(&file.name);
        out.push_str(&diff::render_with(
            &shown(&yours),
            &text,
            &real.display().to_string(),
            &file.text,
            &look,
        ));
    }
    if out.is_empty() {
        out = format!(
            "exercise {}: your version is the real stage's, line for line\n",
            stage.name
        );
    }
    diff::print(&out)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let rel = relative(
            Path::new("/w/exercises/net/src"),
            Path::new("/w/slides/cgroups/src/cgroups.rs"),
        );
        assert_eq!(rel, Path::new("../../../slides/cgroups/src/cgroups.rs"));
    }

    /// Every exercise's files and manifest can be written from today's slides.
    #[test]
    fn every_exercise_is_made_from_its_slide() {
        for stage in catalog::STAGES.iter().filter(|s| !s.exercise.is_empty()) {
            let files = solution_files(stage).unwrap();
            assert!(files.iter().any(|f| f.name == Path::new("main.rs")));
            for cut in stage.exercise {
                let file = files
                    .iter()
                    .find(|f| f.name == Path::new(cut.file()))
                    .unwrap_or_else(|| panic!("{}: no {}", stage.name, cut.file()));
                cut::apply(&file.text, cut, cut.hint()).unwrap();
            }
            let toml = manifest(stage).unwrap();
            assert!(
                toml.contains(&format!("name = \"{}\"", stage.name)),
                "{toml}"
            );
            assert!(!toml.contains("workspace = true"), "{toml}");
            assert!(toml.contains("skeleton = { path = \"/"), "{toml}");
        }
    }
}

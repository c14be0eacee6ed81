//! `cargo xtask check [--root DIR] [--no-clippy] [--fix]`: the repository's rules, checked
//! against the catalog (`crates/catalog`), the one table of the talk's stages.
//!
//! - Every stage has its crate: `slides/<name>/Cargo.toml` naming the package `<name>`, with the
//!   catalog's summary as its description (what its `--help` says it adds), and
//!   `src/main.rs` whose first line is `//! # Stage <number> — <name>: …`. No folder under
//!   `slides/` is left out of the catalog.
//! - Every stage has its notes, `slides/<name>/README.md`: a `# Stage <number> — <name>: …`
//!   title, links to man7.org man pages, at least one demo block (see crates/notes) and a
//!   `## Try this` exercise.
//! - README.md's stage table, between `<!-- stages:begin -->` and `<!-- stages:end -->`, is the
//!   catalog's (`--fix` writes it).
//! - The talk in Spanish is the English one's twin: every stage's `README.es.md` and the top
//!   README.es.md exist, with the same sections and the same code blocks (demos and commands,
//!   byte for byte) as their English files; the READMEs link to each other and show the same
//!   `cargo xtask` commands, and README.es.md's stage table is the catalog's in Spanish
//!   (`--fix` writes it). See `languages`.
//! - Each stage's diff from the one before (every file of its `src/`, a file included from an
//!   earlier stage by `#[path]` counted as unchanged) is not empty and changes at most
//!   `catalog::DEFAULT_DIFF_BUDGET` lines of code, comments and blank lines apart, unless the
//!   catalog declares a larger budget for the stage with its reason: a stage adds one idea.
//! - Every route names stages and demos that exist, the READMEs' route tables are the
//!   catalog's, and every stage's notes carry a speaker's script in both languages. See
//!   `routes`.
//! - Every slide passes `rustfmt --check` and `cargo clippy -- -D warnings` (`--no-clippy`
//!   leaves clippy out, for a quick run).
//!
//! One line per problem on stdout, then exit 1; exit 0 when there is none.

mod languages;
mod renumber;
mod routes;
mod steps;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use catalog::Stage;

use crate::util;
use crate::{cli, diff};
use languages::languages;

pub const CLI: cli::Command = cli::Command {
    name: "check",
    about: "the repository's rules (catalog, notes, README table, slide diffs, rustfmt, clippy)",
    args: &[
        cli::option("root", "DIR", "the workspace to check (default: this one)"),
        cli::flag("no-clippy", "skip clippy on the slides (the slow part)"),
        cli::flag(
            "fix",
            "rewrite the README tables (stages, routes) and the stages' numbers from the \
             catalog",
        ),
    ],
    rest: None,
    notes: "Prints one line per problem; exit 0 when there is none.",
};

/// The markers around README.md's stage table.
const TABLE_BEGIN: &str = "<!-- stages:begin -->";
const TABLE_END: &str = "<!-- stages:end -->";

struct Options {
    root: PathBuf,
    clippy: bool,
    fix: bool,
}

fn parse(args: Vec<OsString>) -> Result<Options> {
    let mut opts = Options {
        root: util::project_root(),
        clippy: true,
        fix: false,
    };
    let args = CLI.parse(args)?;
    opts.clippy = !args.flag("no-clippy");
    opts.fix = args.flag("fix");
    if let Some(dir) = args.value("root") {
        opts.root = PathBuf::from(dir);
    }
    Ok(opts)
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let opts = parse(args)?;
    if !opts.root.join("slides").is_dir() {
        return Err(CLI.error(format!(
            "{} has no slides/ folder: is it the workspace?",
            opts.root.display()
        )));
    }
    if opts.fix {
        for file in renumber::renumber(&opts.root)? {
            eprintln!("check: {file}: its stage's number rewritten from the catalog");
        }
    }
    let mut problems = Vec::new();
    problems.extend(crates(&opts.root));
    problems.extend(notes_files(&opts.root));
    problems.extend(readme(&opts.root, opts.fix)?);
    problems.extend(languages(&opts.root, opts.fix)?);
    problems.extend(routes::routes(&opts.root, opts.fix)?);
    problems.extend(diffs(&opts.root));
    problems.extend(steps::removed(&opts.root));
    problems.extend(readable(&opts.root));
    problems.extend(rustfmt(&opts.root)?);
    problems.extend(widths(&opts.root));
    if opts.clippy {
        problems.extend(clippy(&opts.root)?);
    }
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        eprintln!(
            "check: ok ({} stages{})",
            catalog::STAGES.len(),
            if opts.clippy { "" } else { ", clippy left out" }
        );
        Ok(0)
    } else {
        eprintln!("check: {} problem(s)", problems.len());
        Ok(1)
    }
}

/// Each stage's crate, and no crate the catalog does not know.
fn crates(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for stage in catalog::STAGES {
        let dir = Path::new("slides").join(stage.name);
        let manifest = dir.join("Cargo.toml");
        match fs::read_to_string(root.join(&manifest)) {
            Err(_) => problems.push(format!(
                "{}: missing: stage {} has no crate",
                manifest.display(),
                stage.name
            )),
            Ok(text) => {
                // The description is what the stage's --help says it adds.
                for (key, want) in [("name", stage.name), ("description", stage.summary)] {
                    let value = package_field(&text, key).unwrap_or_default();
                    if value != want {
                        problems.push(format!(
                            "{}: package {key} is {value:?}, the catalog says {want:?}",
                            manifest.display()
                        ));
                    }
                }
            }
        }
        let main = dir.join("src/main.rs");
        match fs::read_to_string(root.join(&main)) {
            Err(_) => problems.push(format!("{}: missing", main.display())),
            Ok(text) => {
                let want = format!("//! # Stage {} — {}:", stage.number(), stage.name);
                if !text.lines().next().unwrap_or("").starts_with(&want) {
                    problems.push(format!(
                        "{}: the first line should start with `{want}`",
                        main.display()
                    ));
                }
            }
        }
    }
    if let Ok(entries) = fs::read_dir(root.join("slides")) {
        let mut extra: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| !catalog::STAGES.iter().any(|s| s.name == name))
            .collect();
        extra.sort();
        for name in extra {
            problems.push(format!(
                "slides/{name}: not a stage in the catalog (crates/catalog/src/lib.rs)"
            ));
        }
    }
    problems
}

/// A field of the `[package]` section of a Cargo.toml (`name`, `description`), one line.
fn package_field(manifest: &str, key: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix(key) {
                let Some(value) = value.trim_start().strip_prefix('=') else {
                    continue;
                };
                let value = value.trim();
                return Some(value.trim_matches('"').to_string());
            }
        }
    }
    None
}

/// Each stage's notes and their required parts.
fn notes_files(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for stage in catalog::STAGES {
        let path = Path::new("slides").join(stage.name).join("README.md");
        let Ok(text) = fs::read_to_string(root.join(&path)) else {
            problems.push(format!(
                "{}: missing: stage {} has no notes",
                path.display(),
                stage.name
            ));
            continue;
        };
        let mut problem = |what: String| problems.push(format!("{}: {what}", path.display()));
        let title = format!("# Stage {} — {}:", stage.number(), stage.name);
        if !text.lines().next().unwrap_or("").starts_with(&title) {
            problem(format!("the first line should start with `{title}`"));
        }
        if !text.contains("](https://man7.org/linux/man-pages/") {
            problem("no link to a man page on man7.org".to_string());
        }
        if !text.lines().any(|l| l.trim() == "## Try this") {
            problem("no `## Try this` exercise".to_string());
        }
        match notes::demos(&text) {
            Ok(demos) if demos.is_empty() => {
                problem("no demo block (```demo with `$ <command>` lines)".to_string())
            }
            Ok(_) => {}
            Err(err) => problem(format!("bad demo block: {err}")),
        }
    }
    problems
}

/// The stage table README.md carries, made from the catalog.
pub fn table(root: &Path) -> String {
    let mut out = String::from(
        "| # | stage | aliases | story | to read (Go) | diff: code / comments | what it adds |\n\
         |---|-------|---------|------:|-------------:|----------------------:|--------------|\n",
    );
    for s in catalog::STAGES {
        let aliases: Vec<String> = s.aliases.iter().map(|a| format!("`{a}`")).collect();
        let story = diff::source(root, s)
            .ok()
            .and_then(|text| story_lines(&text))
            .map(|n| n.to_string())
            .unwrap_or_else(|| "?".to_string());
        let read = to_read(root, s).map_or("?".to_string(), |n| match s.go_lines {
            Some(go) => format!("{n} ({go})"),
            None => n.to_string(),
        });
        let counts = diff::stage_counts(root, catalog::previous(s), s).ok();
        let changed = counts.map_or("?".to_string(), |c| {
            format!(
                "{} / {}",
                c.code_added + c.code_removed,
                c.comments_added + c.comments_removed
            )
        });
        out.push_str(&format!(
            "| {} | `{}` | {} | {story} | {read} | {changed} | {} |\n",
            s.number(),
            s.name,
            aliases.join(", "),
            s.summary.replace('|', "\\|")
        ));
    }
    out
}

/// Every stage the Go talk has reads, idea and story, in at most twice its lines.
fn readable(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for stage in catalog::STAGES {
        let (Some(go), Some(read)) = (stage.go_lines, to_read(root, stage)) else {
            continue;
        };
        if read > 2 * go {
            problems.push(format!(
                "slides/{}: {read} lines to read for its idea, over twice the Go talk's {go}",
                stage.name
            ));
        }
    }
    problems
}

/// The lines a student reads to get a stage's idea: its story, and each file of its own
/// that its exercise cuts from (the step's own file: hostname.rs, init.rs, cgroups.rs...).
pub fn to_read(root: &Path, stage: &Stage) -> Option<usize> {
    let story = story_lines(&diff::source(root, stage).ok()?)?;
    let mut files: Vec<&str> = stage.exercise.iter().map(|cut| cut.file()).collect();
    files.retain(|file| *file != "main.rs");
    files.sort();
    files.dedup();
    let src = root.join("slides").join(stage.name).join("src");
    let lines = files
        .iter()
        .map(|file| fs::read_to_string(src.join(file)).map(|text| text.lines().count()))
        .sum::<std::io::Result<usize>>()
        .ok()?;
    Some(story + lines)
}

/// The lines of a stage's story: its `main.rs` from the top to the end of `child` (or of `run`,
/// for a stage without a child), the part that must fit the first projected screens.
pub fn story_lines(main_rs: &str) -> Option<usize> {
    let lines: Vec<&str> = main_rs.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("fn child("))
        .or_else(|| lines.iter().position(|l| l.starts_with("fn run(")))?;
    let end = (start..lines.len()).find(|&i| lines[i] == "}")?;
    Some(end + 1)
}

/// README.md's table against the catalog.
fn readme(root: &Path, fix: bool) -> Result<Vec<String>> {
    let Ok(text) = fs::read_to_string(root.join("README.md")) else {
        return Ok(vec!["README.md: missing".to_string()]);
    };
    ensure_table(root, "README.md", &text, &table(root), fix)
}

/// A README's stage table, between [`TABLE_BEGIN`] and [`TABLE_END`], against `want`; with
/// `fix`, rewrites it.
fn ensure_table(root: &Path, name: &str, text: &str, want: &str, fix: bool) -> Result<Vec<String>> {
    let problem = match util::between(text, (TABLE_BEGIN, TABLE_END), want) {
        Ok(None) => return Ok(Vec::new()),
        Ok(Some(fixed)) if fix => {
            let path = root.join(name);
            fs::write(&path, fixed).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("check: {name}: stage table rewritten from the catalog");
            return Ok(Vec::new());
        }
        Ok(Some(_)) => {
            "the stage table differs from the catalog: run `cargo xtask check --fix`".to_string()
        }
        Err(util::Markers::Missing) => format!(
            "no stage table: put the lines `{TABLE_BEGIN}` and `{TABLE_END}` where it goes, then \
             run `cargo xtask check --fix`"
        ),
        Err(util::Markers::Reversed) => format!("`{TABLE_END}` comes before `{TABLE_BEGIN}`"),
    };
    Ok(vec![format!("{name}: {problem}")])
}

/// Each step's diff: not empty, within its budget of lines of code.
fn diffs(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for stage in catalog::STAGES.iter().skip(1) {
        let Some(prev) = catalog::previous(stage) else {
            continue;
        };
        // A missing source is reported by `crates`.
        let Ok(counts) = diff::stage_counts(root, Some(prev), stage) else {
            continue;
        };
        let code = counts.code_added + counts.code_removed;
        let limit = stage.diff_budget();
        if counts.changed() == 0 {
            problems.push(format!(
                "slides/{}: the diff from {} is empty: the stage adds nothing",
                stage.name, prev.name
            ));
        } else if code > limit {
            problems.push(format!(
                "slides/{}: the diff from {} changes {code} lines of code, over its budget of \
                 {limit} (a larger one needs `budget` and its reason in crates/catalog)",
                stage.name, prev.name
            ));
        }
    }
    problems
}

/// Every `.rs` file under a folder.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn rustfmt(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for stage in catalog::STAGES {
        let mut files = Vec::new();
        rust_files(
            &root.join("slides").join(stage.name).join("src"),
            &mut files,
        );
        for file in files {
            let out = Command::new("rustfmt")
                .args(["--check", "--edition", "2021"])
                .arg(&file)
                .output()
                .context("cannot run rustfmt (rustup component add rustfmt)")?;
            if !out.status.success() {
                let shown = file.strip_prefix(root).unwrap_or(&file);
                problems.push(format!(
                    "{}: not formatted: run `cargo fmt -p {}`",
                    shown.display(),
                    stage.name
                ));
            }
        }
    }
    Ok(problems)
}

/// The widest a slide's line may be: a projected terminal. rustfmt keeps code within it
/// (slides/rustfmt.toml) but leaves comments as they are written.
const SLIDE_COLUMNS: usize = 80;

/// Every line of every slide's sources within [`SLIDE_COLUMNS`].
fn widths(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root.join("slides"), &mut files);
    let mut problems = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap_or_default();
        let shown = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
        for (at, line) in text.lines().enumerate() {
            let columns = line.chars().count();
            if columns > SLIDE_COLUMNS {
                problems.push(format!(
                    "{}:{}: {columns} columns, wider than a projected screen ({SLIDE_COLUMNS})",
                    shown.display(),
                    at + 1
                ));
            }
        }
    }
    problems
}

fn clippy(root: &Path) -> Result<Vec<String>> {
    let present: Vec<&Stage> = catalog::STAGES
        .iter()
        .filter(|s| root.join("slides").join(s.name).join("Cargo.toml").exists())
        .collect();
    if present.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = util::cargo();
    cmd.current_dir(root)
        .args(["clippy", "--quiet", "--message-format=short"])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"));
    for stage in &present {
        cmd.args(["--package", stage.name]);
    }
    cmd.args(["--", "-D", "warnings"]);
    let out = cmd
        .output()
        .context("cannot run cargo clippy (rustup component add clippy)")?;
    if out.status.success() {
        return Ok(Vec::new());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut problems: Vec<String> = stderr
        .lines()
        .filter(|l| l.starts_with("slides/") && (l.contains(": error") || l.contains(": warning")))
        .map(|l| format!("{l} (clippy)"))
        .collect();
    problems.dedup();
    if problems.is_empty() {
        let first = stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or("see `cargo clippy -- -D warnings`");
        problems.push(format!("slides: clippy fails: {first}"));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_fields() {
        assert_eq!(
            package_field("[package]\nname = \"uts\"\nversion = \"0.1.0\"\n", "name").as_deref(),
            Some("uts")
        );
        assert_eq!(
            package_field(
                "[dependencies]\nname = \"x\"\n[package]\nversion = \"1\"\n",
                "name"
            ),
            None
        );
    }

    #[test]
    fn table_has_one_row_per_stage() {
        let table = table(&util::project_root());
        assert_eq!(table.lines().count(), catalog::STAGES.len() + 2);
        assert!(table.contains("| 4 | `pid` | `pidnamespace` |"));
        assert!(!table.contains('?'), "{table}");
    }

    #[test]
    fn every_budget_is_larger_than_the_default_and_gives_a_reason() {
        for stage in catalog::STAGES {
            if let Some(budget) = &stage.budget {
                assert!(
                    budget.code_lines > catalog::DEFAULT_DIFF_BUDGET,
                    "{}",
                    stage.name
                );
                assert!(budget.why.len() > 20, "{}", stage.name);
            }
        }
    }

    #[test]
    fn the_story_ends_with_child() {
        let text = "//! x\nfn run() {\n}\n\nfn child() {\n    a();\n}\nfn step() {}\n";
        assert_eq!(story_lines(text), Some(7));
    }
}

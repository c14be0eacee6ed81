//! `cargo xtask check [--root DIR] [--no-clippy] [--fix]`: the repository's rules, checked
//! against the catalog (`crates/catalog`), the one table of the talk's stages.
//!
//! - Every stage has its crate: `slides/<name>/Cargo.toml` naming the package `<name>`, and
//!   `src/main.rs` whose first line is `//! # Stage <number> — <name>: …`. No folder under
//!   `slides/` is left out of the catalog.
//! - Every stage has its notes, `slides/<name>/README.md`: a `# Stage <number> — <name>: …`
//!   title, links to man7.org man pages, at least one demo block (see `catalog::notes`) and a
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
//! - Every slide passes `rustfmt --check` and `cargo clippy -- -D warnings` (`--no-clippy`
//!   leaves clippy out, for a quick run).
//!
//! One line per problem on stdout, then exit 1; exit 0 when there is none.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use catalog::{notes, Stage};

use crate::util;
use crate::{cli, diff};

pub const CLI: cli::Command = cli::Command {
    name: "check",
    about: "the repository's rules (catalog, notes, README table, slide diffs, rustfmt, clippy)",
    args: &[
        cli::option("root", "DIR", "the workspace to check (default: this one)"),
        cli::flag("no-clippy", "skip clippy on the slides (the slow part)"),
        cli::flag("fix", "rewrite README.md's stage table from the catalog"),
    ],
    rest: None,
    notes: "Prints one line per problem; exit 0 when there is none.",
};

/// The markers around README.md's stage table.
pub const TABLE_BEGIN: &str = "<!-- stages:begin -->";
pub const TABLE_END: &str = "<!-- stages:end -->";

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
    let mut problems = Vec::new();
    problems.extend(crates(&opts.root));
    problems.extend(notes_files(&opts.root));
    problems.extend(readme(&opts.root, opts.fix)?);
    problems.extend(languages(&opts.root, opts.fix)?);
    problems.extend(diffs(&opts.root));
    problems.extend(rustfmt(&opts.root)?);
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
            Ok(text) => match package_name(&text) {
                Some(name) if name == stage.name => {}
                other => problems.push(format!(
                    "{}: package name is {:?}, the catalog says {:?}",
                    manifest.display(),
                    other.unwrap_or_default(),
                    stage.name
                )),
            },
        }
        let main = dir.join("src/main.rs");
        match fs::read_to_string(root.join(&main)) {
            Err(_) => problems.push(format!("{}: missing", main.display())),
            Ok(text) => {
                let want = format!("//! # Stage {} — {}:", stage.number, stage.name);
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

/// The `name` of the `[package]` section of a Cargo.toml.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("name") {
                let value = value.trim_start().strip_prefix('=')?.trim();
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
        let title = format!("# Stage {} — {}:", stage.number, stage.name);
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
        "| # | stage | aliases | story | diff: code / comments | what it adds |\n\
         |---|-------|---------|------:|----------------------:|--------------|\n",
    );
    for s in catalog::STAGES {
        let aliases: Vec<String> = s.aliases.iter().map(|a| format!("`{a}`")).collect();
        let story = diff::source(root, s)
            .ok()
            .and_then(|text| story_lines(&text))
            .map_or("?".to_string(), |n| n.to_string());
        let counts = diff::stage_counts(root, catalog::previous(s), s).ok();
        let changed = counts.map_or("?".to_string(), |c| {
            format!(
                "{} / {}",
                c.code_added + c.code_removed,
                c.comments_added + c.comments_removed
            )
        });
        out.push_str(&format!(
            "| {} | `{}` | {} | {story} | {changed} | {} |\n",
            s.number,
            s.name,
            aliases.join(", "),
            s.summary.replace('|', "\\|")
        ));
    }
    out
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

/// README.md's table against the catalog; with `fix`, rewrites it.
fn readme(root: &Path, fix: bool) -> Result<Vec<String>> {
    let path = root.join("README.md");
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(vec!["README.md: missing".to_string()]);
    };
    let (Some(begin), Some(end)) = (text.find(TABLE_BEGIN), text.find(TABLE_END)) else {
        return Ok(vec![format!(
            "README.md: no stage table: put the lines `{TABLE_BEGIN}` and `{TABLE_END}` where it \
             goes, then run `cargo xtask check --fix`"
        )]);
    };
    let inside = begin + TABLE_BEGIN.len();
    if end < inside {
        return Ok(vec![format!(
            "README.md: `{TABLE_END}` comes before `{TABLE_BEGIN}`"
        )]);
    }
    let want = table(root);
    if text[inside..end].trim() == want.trim() {
        return Ok(Vec::new());
    }
    if fix {
        let fixed = format!("{}\n{want}{}", &text[..inside], &text[end..]);
        fs::write(&path, fixed).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("check: README.md: stage table rewritten from the catalog");
        return Ok(Vec::new());
    }
    Ok(vec![
        "README.md: the stage table differs from the catalog: run `cargo xtask check --fix`"
            .to_string(),
    ])
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

// --- The two languages ---------------------------------------------------------------------

/// The README in Spanish; its stage table has the same markers as README.md's.
const README_ES: &str = "README.es.md";

/// The last section of README.es.md, the one README.md has not got.
const GLOSSARY: &str = "\n## Glosario\n";

/// The Spanish beside the English, each pair held to the same shape: every stage's notes
/// (`README.es.md` beside `README.md`) and the README. A pair has the same sections (the same
/// headings, by level, in the same order) and the same code, byte for byte, in the same sections:
/// a demo is written once, in the English notes, and copied; a command is not translated. The
/// Spanish notes' title is `# Etapa <number> — <name>: …`. The two READMEs link to each other in
/// their first lines, show the same `cargo xtask` commands, and carry the same stage table, the
/// Spanish one with the catalog's Spanish summaries (`--fix` writes it), and README.es.md ends
/// with one more section, `## Glosario`. A missing README.md of a stage is the notes rule's to
/// report.
fn languages(root: &Path, fix: bool) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for stage in catalog::STAGES {
        let dir = Path::new("slides").join(stage.name);
        let (en_path, es_path) = (dir.join("README.md"), dir.join(README_ES));
        let Ok(en) = fs::read_to_string(root.join(&en_path)) else {
            continue;
        };
        let Ok(es) = fs::read_to_string(root.join(&es_path)) else {
            problems.push(format!(
                "{}: missing: the notes of {} are in English only",
                es_path.display(),
                stage.name
            ));
            continue;
        };
        let title = format!("# Etapa {} — {}:", stage.number, stage.name);
        if !es.lines().next().unwrap_or("").starts_with(&title) {
            problems.push(format!(
                "{}: the first line should start with `{title}`",
                es_path.display()
            ));
        }
        problems.extend(same_shape(&en_path, &en, &es_path, &es));
    }

    let (en_path, es_path) = (Path::new("README.md"), Path::new(README_ES));
    let Ok(es) = fs::read_to_string(root.join(es_path)) else {
        problems.push(format!("{README_ES}: missing: the README in Spanish"));
        return Ok(problems);
    };
    let Ok(en) = fs::read_to_string(root.join(en_path)) else {
        return Ok(problems); // reported by `readme`
    };
    for (path, text, other) in [(en_path, &en, README_ES), (es_path, &es, "README.md")] {
        let top: String = text.lines().take(5).collect::<Vec<_>>().join("\n");
        if !top.contains(&format!("]({other})")) {
            problems.push(format!(
                "{}: no link to {other} in its first 5 lines",
                path.display()
            ));
        }
    }
    // The Spanish README ends with a glossary of the talk's words, a section of its own.
    let Some((body, _)) = es.rsplit_once(GLOSSARY) else {
        problems.push(format!(
            "{README_ES}: no `{}` section at its end",
            GLOSSARY.trim()
        ));
        return Ok(problems);
    };
    problems.extend(same_shape(en_path, &en, es_path, body));
    let (en_commands, es_commands) = (commands(&en), commands(&es));
    for missing in en_commands.iter().filter(|c| !es_commands.contains(c)) {
        problems.push(format!(
            "{README_ES}: no `{missing}`, which README.md shows"
        ));
    }
    for extra in es_commands.iter().filter(|c| !en_commands.contains(c)) {
        problems.push(format!("{README_ES}: `{extra}` is not in README.md"));
    }
    problems.extend(readme_es_table(root, &es, fix)?);
    Ok(problems)
}

/// README.es.md's stage table: README.md's, with the headings and the summaries in Spanish.
pub fn table_es(root: &Path) -> String {
    fn heading(cell: &str) -> &str {
        match cell {
            "stage" => "etapa",
            "aliases" => "alias",
            "story" => "historia",
            "diff: code / comments" => "diff: código / comentarios",
            "what it adds" => "qué agrega",
            other => other,
        }
    }
    let mut out = String::new();
    for (i, line) in table(root).lines().enumerate() {
        if i == 0 {
            let cells: Vec<&str> = line
                .split(" | ")
                .map(|c| c.trim_matches('|').trim())
                .collect();
            let cells: Vec<&str> = cells.into_iter().map(heading).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
            continue;
        }
        let stage = catalog::STAGES
            .iter()
            .find(|s| line.starts_with(&format!("| {} | `{}` |", s.number, s.name)));
        let row = stage.and_then(|s| {
            let en = format!(" {} |", s.summary.replace('|', "\\|"));
            let es = format!(" {} |", s.summary_es.replace('|', "\\|"));
            line.strip_suffix(&en).map(|start| format!("{start}{es}"))
        });
        out.push_str(row.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// README.es.md's table against [`table_es`]; with `fix`, rewrites it.
fn readme_es_table(root: &Path, text: &str, fix: bool) -> Result<Vec<String>> {
    let (Some(begin), Some(end)) = (text.find(TABLE_BEGIN), text.find(TABLE_END)) else {
        return Ok(vec![format!(
            "{README_ES}: no stage table: put the lines `{TABLE_BEGIN}` and `{TABLE_END}` where \
             it goes, then run `cargo xtask check --fix`"
        )]);
    };
    let inside = begin + TABLE_BEGIN.len();
    if end < inside {
        return Ok(vec![format!(
            "{README_ES}: `{TABLE_END}` comes before `{TABLE_BEGIN}`"
        )]);
    }
    let want = table_es(root);
    if text[inside..end].trim() == want.trim() {
        return Ok(Vec::new());
    }
    if fix {
        let path = root.join(README_ES);
        let fixed = format!("{}\n{want}{}", &text[..inside], &text[end..]);
        fs::write(&path, fixed).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("check: {README_ES}: stage table rewritten from the catalog");
        return Ok(Vec::new());
    }
    Ok(vec![format!(
        "{README_ES}: the stage table differs from the catalog: run `cargo xtask check --fix`"
    )])
}

/// What a Markdown file is made of, for comparing two languages: its headings (line, level) and
/// its fenced blocks (line, the section they are in, the whole block).
#[derive(Default)]
struct Shape {
    headings: Vec<(usize, usize)>,
    blocks: Vec<(usize, usize, String)>,
}

fn shape(markdown: &str) -> Shape {
    let mut shape = Shape::default();
    let mut fence: Option<(String, usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
        if let Some((marker, start, mut block)) = fence.take() {
            block.push_str(line);
            block.push('\n');
            if trimmed.starts_with(marker.as_str()) && trimmed.trim_matches('`').trim().is_empty() {
                shape.blocks.push((start, shape.headings.len(), block));
            } else {
                fence = Some((marker, start, block));
            }
        } else if ticks >= 3 {
            fence = Some((trimmed[..ticks].to_string(), i + 1, format!("{line}\n")));
        } else if let Some(rest) = line.strip_prefix('#') {
            let level = 1 + rest.len() - rest.trim_start_matches('#').len();
            if rest[level - 1..].starts_with(' ') {
                shape.headings.push((i + 1, level));
            }
        }
    }
    shape
}

/// The sections and the code of two languages' files, compared: one line per difference.
fn same_shape(en_path: &Path, en: &str, es_path: &Path, es: &str) -> Vec<String> {
    let (a, b) = (shape(en), shape(es));
    let (en_name, es_name) = (en_path.display(), es_path.display());
    let mut problems = Vec::new();
    let levels = |s: &Shape| s.headings.iter().map(|h| h.1).collect::<Vec<_>>();
    if levels(&a) != levels(&b) {
        let at = a
            .headings
            .iter()
            .zip(&b.headings)
            .position(|(x, y)| x.1 != y.1)
            .unwrap_or(a.headings.len().min(b.headings.len()));
        let line = b.headings.get(at).map_or(es.lines().count(), |h| h.0);
        problems.push(format!(
            "{es_name}: line {line}: the sections differ from {en_name}'s from its heading {} on \
             ({} headings, {en_name} has {})",
            at + 1,
            b.headings.len(),
            a.headings.len()
        ));
    }
    if a.blocks.len() != b.blocks.len() {
        problems.push(format!(
            "{es_name}: {} code blocks, {en_name} has {}: a demo or command is in both, the same",
            b.blocks.len(),
            a.blocks.len()
        ));
    }
    for ((en_line, en_section, en_block), (es_line, es_section, es_block)) in
        a.blocks.iter().zip(&b.blocks)
    {
        if en_block != es_block {
            problems.push(format!(
                "{es_name}: line {es_line}: the block differs from {en_name}'s at line {en_line} \
                 (code is not translated: copy it)"
            ));
        } else if en_section != es_section {
            problems.push(format!(
                "{es_name}: line {es_line}: the block is in section {es_section}, in {en_name} \
                 in section {en_section}"
            ));
        }
    }
    problems
}

/// The `cargo xtask` commands a README shows in `code spans` (outside its fenced blocks, which
/// [`same_shape`] compares), each once, in order.
fn commands(markdown: &str) -> Vec<String> {
    let mut prose = Vec::new();
    let mut fence: Option<&str> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
        match fence {
            Some(marker) if trimmed.starts_with(marker) && trimmed.trim_matches('`').is_empty() => {
                fence = None
            }
            Some(_) => {}
            None if ticks >= 3 => fence = Some(&trimmed[..ticks]),
            None => prose.push(line),
        }
    }
    let prose = prose.join(" ");
    let mut out: Vec<String> = Vec::new();
    for (i, span) in prose.split('`').enumerate() {
        let span = span.split_whitespace().collect::<Vec<_>>().join(" ");
        if i % 2 == 1 && span.starts_with("cargo xtask") && !out.contains(&span) {
            out.push(span);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names() {
        assert_eq!(
            package_name("[package]\nname = \"uts\"\nversion = \"0.1.0\"\n").as_deref(),
            Some("uts")
        );
        assert_eq!(
            package_name("[dependencies]\nname = \"x\"\n[package]\nversion = \"1\"\n"),
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

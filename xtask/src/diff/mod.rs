//! `cargo xtask diff [FROM] TO [--stat] [--code|--all]`: what a stage adds to the one before it.
//!
//! A unified diff of every source file of `slides/<FROM>/src/` against `slides/<TO>/src/`,
//! paired by file name, `main.rs` (the story) first; a file only one stage has is shown whole,
//! added or removed. A file a stage includes from an earlier one with
//! `#[path = "../../<stage>/src/<file>.rs"] mod x;` counts as that stage's file of that name,
//! so including a step unchanged adds nothing to the diff. With one stage, FROM is the stage
//! before it (and the first stage is diffed against nothing).
//!
//! For reading, the code comes first: on a terminal (or with `--code`) a hunk whose every
//! change is a comment is folded into one line, `… N comment lines folded`, and long lines
//! are wrapped to the terminal's width (or `COLUMNS`) with a `↪` marking where they go on.
//! Off a terminal (or with `--all`) the output is a plain unified diff, every line whole.
//! Colours only on a terminal and never with `NO_COLOR`. Changed code is bold, changed comments
//! are not, so the code stands out; all colours are plain green, red and cyan on the terminal's
//! own background, readable on a black or a white screen.
//!
//! `--stat` prints one line per consecutive pair of stages (or for the pair given): code and
//! comment lines added and removed, over all the files. Blank lines count as neither.
//!
//! This file is the command; `files.rs` finds a stage's sources, `counts.rs` counts changed lines,
//! `render.rs` shows a diff, `wrap.rs` fits lines to a width.

mod counts;
mod files;
mod render;
mod wrap;

use std::ffi::OsString;
use std::io::IsTerminal;

use anyhow::{Context, Result};
use catalog::Stage;

use crate::cli;

pub use counts::{is_comment, stage_counts, Counts};
pub use files::{source, source_path};
pub use render::{folded, pieces, stages, stages_with, FileDiff, Line, Look};
pub use similar::ChangeTag;
pub use wrap::{break_line, columns};
// The rest of what `diff` offered `check` and `present` before the split, called or not today.
#[allow(unused_imports)]
pub use {
    files::{files, SourceFile},
    render::render_with,
    wrap::CONTINUED,
};

pub const CLI: cli::Command = cli::Command {
    name: "diff",
    about: "what a stage adds to the one before it",
    args: &[
        cli::optional(
            "FROM",
            "the stage to compare with (default: the one before TO)",
        ),
        cli::optional("TO", "the stage"),
        cli::flag(
            "stat",
            "one line per stage: lines of code and comments changed",
        ),
        cli::flag(
            "code",
            "code first: fold comment-only hunks, wrap long lines (the default on a terminal)",
        ),
        cli::flag(
            "all",
            "every line, none wrapped: a plain unified diff (the default off a terminal)",
        ),
    ],
    rest: None,
    notes: "A stage is a name, an alias or a number (`cargo xtask list`). Every file of \
            slides/<stage>/src/ is compared with the file of the same name of the other stage; \
            main.rs comes first.\n\n\
            Examples: `cargo xtask diff chroot` (what chroot adds to pid), \
            `cargo xtask diff base2 uts --all`, `cargo xtask diff --stat`.",
};

/// Whether stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// The width to fit: `COLUMNS` when it is a number, else the terminal's on stdout, else None.
pub fn width_wanted() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return Some(cols);
    }
    crate::util::terminal_size()
        .map(|(_, cols)| cols)
        .filter(|&cols| cols > 0)
}

/// Colours on: stdout is a terminal and `NO_COLOR` is unset or empty (https://no-color.org).
pub fn color_wanted() -> bool {
    wants_color(
        stdout_is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

fn wants_color(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && !matches!(no_color, Some(v) if !v.is_empty())
}

/// One `--stat` line.
pub fn stat_line(from: Option<&Stage>, to: &Stage, counts: Counts) -> String {
    format!(
        "{:>2} {:<8} -> {:<8} code +{:<4} -{:<4} comments +{:<4} -{}",
        to.number(),
        from.map_or("(none)", |s| s.name),
        to.name,
        counts.code_added,
        counts.code_removed,
        counts.comments_added,
        counts.comments_removed
    )
}

/// Writes to stdout. When the reader has gone (`| head -1`), the talk to it is over: the
/// program ends quietly, status 0, instead of failing on EPIPE.
pub fn print(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other.context("cannot write to stdout"),
    }
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let args = CLI.parse(args)?;
    let stat = args.flag("stat");
    if args.flag("code") && args.flag("all") {
        return Err(args.error("`--code` and `--all` are opposites: give one"));
    }
    let mut names = Vec::new();
    for key in ["FROM", "TO"] {
        if let Some(name) = args.positional(key) {
            names.push(args.stage(name)?);
        }
    }
    let pairs: Vec<(Option<&Stage>, &Stage)> = match names.as_slice() {
        [] if stat => catalog::STAGES
            .iter()
            .skip(1)
            .map(|s| (catalog::previous(s), s))
            .collect(),
        [] => return Err(args.error("missing stage")),
        [to] => vec![(catalog::previous(to), *to)],
        [from, to] => vec![(Some(*from), *to)],
        _ => unreachable!("two positional arguments at most"),
    };
    let root = crate::util::project_root();
    if !stat {
        let (from, to) = pairs[0];
        let reading = args.flag("code") || (!args.flag("all") && stdout_is_terminal());
        let look = Look {
            color: color_wanted(),
            width: reading.then(|| width_wanted().unwrap_or(80).max(20)),
            fold: reading,
        };
        print(&stages_with(&root, from, to, &look)?)?;
        return Ok(0);
    }
    // A stage that is not written yet is said once, not once per pair it is in.
    let mut missing: Vec<&str> = Vec::new();
    for (from, to) in pairs {
        let written = |s: &Stage| root.join(source_path(s)).is_file();
        let absent = from
            .filter(|f| !written(f))
            .or((!written(to)).then_some(to));
        if let Some(stage) = absent {
            if !missing.contains(&stage.name) {
                missing.push(stage.name);
                eprintln!(
                    "error: cannot read {} (is stage {} written yet?)",
                    source_path(stage).display(),
                    stage.name
                );
            }
            continue;
        }
        let counts = stage_counts(&root, from, to)?;
        print(&format!("{}\n", stat_line(from, to, counts)))?;
    }
    Ok(if missing.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_pair_by_name_and_a_step_included_by_path_counts_as_its_name() {
        let root = std::env::temp_dir().join(format!("xtask-diff-{}", std::process::id()));
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let (first, second) = (&catalog::STAGES[0], &catalog::STAGES[1]);
        let (a, b) = (first.name, second.name);
        write(
            &format!("slides/{a}/src/main.rs"),
            "mod step;\nfn main() {}\n",
        );
        write(&format!("slides/{a}/src/step.rs"), "pub fn step() {}\n");
        write(&format!("slides/{a}/src/gone.rs"), "pub fn gone() {}\n");
        write(
            &format!("slides/{b}/src/main.rs"),
            &format!("#[path = \"../../{a}/src/step.rs\"]\nmod step;\nmod new;\nfn main() {{}}\n"),
        );
        write(&format!("slides/{b}/src/new.rs"), "pub fn new() {}\n");
        let names: Vec<String> = files(&root, second)
            .unwrap()
            .into_iter()
            .map(|f| format!("{} {}", f.name, f.path.display()))
            .collect();
        // The story first, then the file it names (step.rs, in its #[path]), then the rest.
        assert_eq!(
            names,
            [
                format!("main.rs slides/{b}/src/main.rs"),
                format!("step.rs slides/{a}/src/step.rs"),
                "new.rs slides/{b}/src/new.rs".replace("{b}", b),
            ]
        );
        let text = stages_with(&root, Some(first), second, &Look::default()).unwrap();
        let headers: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("--- ") || l.starts_with("+++ "))
            .collect();
        assert_eq!(
            headers,
            [
                format!("--- slides/{a}/src/main.rs"),
                format!("+++ slides/{b}/src/main.rs"),
                "--- /dev/null".to_string(),
                format!("+++ slides/{b}/src/new.rs"),
                format!("--- slides/{a}/src/gone.rs"),
                "+++ /dev/null".to_string(),
            ]
        );
        let counts = stage_counts(&root, Some(first), second).unwrap();
        // main.rs: +2 (the #[path] and `mod new`); new.rs +1; gone.rs -1; the step unchanged.
        assert_eq!((counts.code_added, counts.code_removed), (3, 1), "{text}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(wants_color(true, None));
        assert!(wants_color(true, Some(OsStr::new(""))));
        assert!(!wants_color(true, Some(OsStr::new("1"))));
        assert!(!wants_color(false, None));
    }
}

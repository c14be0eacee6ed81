//! `cargo xtask diff [FROM] TO [--stat]`: what a stage adds to the one before it.
//!
//! A unified diff of `slides/<FROM>/src/main.rs` against `slides/<TO>/src/main.rs`; with one
//! stage, FROM is the stage before it (and the first stage is diffed against nothing). Colours
//! only on a terminal and never with `NO_COLOR`. Changed code is bold, changed comments are not,
//! so the code stands out; all colours are plain green, red and cyan on the terminal's own
//! background, readable on a black or a white screen.
//!
//! `--stat` prints one line per consecutive pair of stages (or for the pair given): code and
//! comment lines added and removed. Blank lines count as neither.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use catalog::Stage;
use similar::{ChangeTag, TextDiff};

use crate::util::{self, usage};

const USAGE: &str = "usage: cargo xtask diff [FROM] TO [--stat]   (or: diff --stat)";

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// Lines added and removed between two sources, code and comments apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub code_added: usize,
    pub code_removed: usize,
    pub comments_added: usize,
    pub comments_removed: usize,
}

impl Counts {
    /// Every changed line, code and comments, added and removed.
    pub fn changed(&self) -> usize {
        self.code_added + self.code_removed + self.comments_added + self.comments_removed
    }
}

/// A stage's source file, relative to the workspace.
pub fn source_path(stage: &Stage) -> PathBuf {
    Path::new("slides").join(stage.name).join("src/main.rs")
}

/// Reads a stage's source under `root`.
pub fn source(root: &Path, stage: &Stage) -> Result<String> {
    let path = root.join(source_path(stage));
    std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is stage {} written yet?)",
            source_path(stage).display(),
            stage.name
        )
    })
}

/// Whether a line is a comment (`//`, `///`, `//!`); the diff sets those apart from code.
pub fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("//")
}

/// Counts the changed lines between two sources.
pub fn counts(old: &str, new: &str) -> Counts {
    let mut counts = Counts::default();
    for change in TextDiff::from_lines(old, new).iter_all_changes() {
        let line = change.value();
        if line.trim().is_empty() {
            continue;
        }
        let slot = match (change.tag(), is_comment(line)) {
            (ChangeTag::Equal, _) => continue,
            (ChangeTag::Insert, false) => &mut counts.code_added,
            (ChangeTag::Delete, false) => &mut counts.code_removed,
            (ChangeTag::Insert, true) => &mut counts.comments_added,
            (ChangeTag::Delete, true) => &mut counts.comments_removed,
        };
        *slot += 1;
    }
    counts
}

/// ANSI styles: bold and the basic foreground colours only, never a background, so the text is
/// readable on dark and light screens alike.
mod style {
    pub const RESET: &str = "\x1b[0m";
    pub const BOLD: &str = "\x1b[1m";
    pub const CYAN: &str = "\x1b[36m";
    pub const ADDED_CODE: &str = "\x1b[1;32m";
    pub const REMOVED_CODE: &str = "\x1b[1;31m";
    pub const ADDED_COMMENT: &str = "\x1b[32m";
    pub const REMOVED_COMMENT: &str = "\x1b[31m";
}

/// A unified diff of `old` (named `old_name`) against `new`, coloured if `color`.
pub fn render(old_name: &str, old: &str, new_name: &str, new: &str, color: bool) -> String {
    let paint = |out: &mut String, style: &str, text: &str| {
        if color && !style.is_empty() {
            let _ = writeln!(out, "{style}{text}{}", style::RESET);
        } else {
            let _ = writeln!(out, "{text}");
        }
    };
    let mut out = String::new();
    let diff = TextDiff::from_lines(old, new);
    if diff.ratio() == 1.0 {
        return out;
    }
    paint(&mut out, style::BOLD, &format!("--- {old_name}"));
    paint(&mut out, style::BOLD, &format!("+++ {new_name}"));
    for hunk in diff.unified_diff().context_radius(CONTEXT).iter_hunks() {
        paint(&mut out, style::CYAN, &hunk.header().to_string());
        for change in hunk.iter_changes() {
            let line = change.value().trim_end_matches(['\n', '\r']);
            let comment = is_comment(line);
            let (sign, style) = match change.tag() {
                ChangeTag::Equal => (' ', ""),
                ChangeTag::Insert if comment => ('+', style::ADDED_COMMENT),
                ChangeTag::Insert => ('+', style::ADDED_CODE),
                ChangeTag::Delete if comment => ('-', style::REMOVED_COMMENT),
                ChangeTag::Delete => ('-', style::REMOVED_CODE),
            };
            paint(&mut out, style, &format!("{sign}{line}"));
            if change.missing_newline() {
                paint(&mut out, "", "\\ No newline at end of file");
            }
        }
    }
    out
}

/// The diff between two stages' sources under `root`; `from` None means "from nothing".
pub fn stages(root: &Path, from: Option<&Stage>, to: &Stage, color: bool) -> Result<String> {
    let (old_name, old) = match from {
        Some(from) => (source_path(from).display().to_string(), source(root, from)?),
        None => ("/dev/null".to_string(), String::new()),
    };
    let new = source(root, to)?;
    Ok(render(
        &old_name,
        &old,
        &source_path(to).display().to_string(),
        &new,
        color,
    ))
}

/// Whether stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    // SAFETY: isatty only inspects a file descriptor number.
    unsafe { libc::isatty(libc::STDOUT_FILENO) == 1 }
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
        to.number,
        from.map_or("(none)", |s| s.name),
        to.name,
        counts.code_added,
        counts.code_removed,
        counts.comments_added,
        counts.comments_removed
    )
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let mut stat = false;
    let mut names = Vec::new();
    for arg in &args {
        match util::utf8(arg)? {
            "--stat" => stat = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(0);
            }
            flag if flag.starts_with('-') => {
                return Err(usage(format!("unknown flag {flag:?}\n{USAGE}")))
            }
            name => names.push(util::stage(name)?),
        }
    }
    let pairs: Vec<(Option<&Stage>, &Stage)> = match names.as_slice() {
        [] if stat => catalog::STAGES
            .iter()
            .skip(1)
            .map(|s| (catalog::previous(s), s))
            .collect(),
        [] => return Err(usage(format!("missing stage\n{USAGE}"))),
        [to] => vec![(catalog::previous(to), *to)],
        [from, to] => vec![(Some(*from), *to)],
        _ => return Err(usage(format!("too many stages\n{USAGE}"))),
    };
    let root = util::project_root();
    if !stat {
        let (from, to) = pairs[0];
        print!("{}", stages(&root, from, to, color_wanted())?);
        return Ok(0);
    }
    // A stage that is not written yet is said once, not once per pair it is in.
    let mut missing: Vec<&str> = Vec::new();
    for (from, to) in pairs {
        let old = match from {
            Some(from) => source(&root, from).map_err(|e| (from.name, e)),
            None => Ok(String::new()),
        };
        match (old, source(&root, to).map_err(|e| (to.name, e))) {
            (Ok(old), Ok(new)) => println!("{}", stat_line(from, to, counts(&old, &new))),
            (Err((name, err)), _) | (_, Err((name, err))) => {
                if !missing.contains(&name) {
                    missing.push(name);
                    eprintln!("xtask: {err:#}");
                }
            }
        }
    }
    Ok(if missing.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "fn main() {\n    // say hi\n    hi();\n}\n";
    const NEW: &str = "fn main() {\n    // say hi, then bye\n    hi();\n    bye();\n}\n";

    #[test]
    fn counts_code_and_comments_apart() {
        let c = counts(OLD, NEW);
        assert_eq!(
            c,
            Counts {
                code_added: 1,
                code_removed: 0,
                comments_added: 1,
                comments_removed: 1
            }
        );
        assert_eq!(c.changed(), 3);
        assert_eq!(counts(OLD, OLD).changed(), 0);
    }

    #[test]
    fn plain_diff_has_no_escapes_and_coloured_one_sets_comments_apart() {
        let plain = render("a", OLD, "b", NEW, false);
        assert!(!plain.contains('\x1b'));
        assert!(plain.contains("--- a\n+++ b\n@@ "));
        assert!(plain.contains("\n+    bye();\n"));
        assert!(plain.contains("\n-    // say hi\n"));
        let coloured = render("a", OLD, "b", NEW, true);
        assert!(coloured.contains(&format!("{}+    bye();", style::ADDED_CODE)));
        assert!(coloured.contains(&format!("{}-    // say hi", style::REMOVED_COMMENT)));
        assert!(render("a", OLD, "b", OLD, true).is_empty());
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

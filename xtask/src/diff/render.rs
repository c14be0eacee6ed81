//! A diff shown for reading: unified hunks, comment-only hunks (and long runs of changed
//! comments) folded into one line, long lines wrapped, changed code bold and changed comments
//! plain, in the basic colours only.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use catalog::Stage;
use similar::{ChangeTag, TextDiff};

use super::counts::is_comment;
use super::files::{pairs, SourceFile};
use super::wrap::break_line;

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// Inside a hunk that also changes code, a run of changed comment lines is folded when it has
/// this many, unless it sits right above a changed line of code (the comment that explains it).
const FOLD_AT_LEAST: usize = 3;

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

/// How a diff is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Look {
    /// Colours (ANSI escapes).
    pub color: bool,
    /// Lines wider than this are wrapped, the rest marked with [`CONTINUED`]; None: never.
    pub width: Option<usize>,
    /// A hunk whose every change is a comment shows as one line.
    pub fold: bool,
}

/// A diff kept as data, one file's: the terminal shows it as text ([`show`]), the deck as HTML.
#[derive(Clone, Debug, PartialEq)]
pub struct FileDiff {
    /// The names in the headers: `/dev/null` for the side that has no such file.
    pub old: String,
    pub new: String,
    pub hunks: Vec<Hunk>,
}

/// A hunk: its `@@` header and its lines, or, folded whole, only how many comment lines it
/// changes.
#[derive(Clone, Debug, PartialEq)]
pub struct Hunk {
    pub header: String,
    pub folded: Option<usize>,
    pub lines: Vec<Line>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// A line kept (`Equal`), added (`Insert`) or removed (`Delete`), without its line break.
    Text(ChangeTag, String),
    /// A run of changed comment lines shown as one: how many.
    Folded(usize),
    /// The line before ends the file without a line break.
    NoNewline,
}

/// `… 3 comment lines folded`: what a fold shows.
pub fn folded(n: usize) -> String {
    format!("… {n} comment line{} folded", if n == 1 { "" } else { "s" })
}

/// A line of a diff as it is shown, its sign first, broken to `width` (None: whole); the lines
/// it goes on in start under its text.
pub fn pieces(kind: ChangeTag, text: &str, width: Option<usize>) -> Vec<String> {
    let line = format!("{kind}{text}");
    match width {
        Some(width) => break_line(&line, width, &line[..line.len() - text.trim_start().len()]),
        None => vec![line],
    }
}

/// The diff of `old` (named `old_name`) against `new`; None when they are the same. With
/// `fold`, a hunk whose every change is a comment, and a long run of changed comments, fold.
pub fn diff(old_name: &str, old: &str, new_name: &str, new: &str, fold: bool) -> Option<FileDiff> {
    let diff = TextDiff::from_lines(old, new);
    if diff.ratio() == 1.0 {
        return None;
    }
    let changed = |c: &similar::Change<&str>| c.tag() != ChangeTag::Equal;
    let comment_or_blank =
        |c: &similar::Change<&str>| c.value().trim().is_empty() || is_comment(c.value());
    let mut hunks = Vec::new();
    for hunk in diff.unified_diff().context_radius(CONTEXT).iter_hunks() {
        let header = hunk.header().to_string();
        let changes: Vec<_> = hunk.iter_changes().collect();
        if fold && changes.iter().all(|c| !changed(c) || comment_or_blank(c)) {
            let n = changes
                .iter()
                .filter(|c| changed(c) && !c.value().trim().is_empty())
                .count();
            let lines = Vec::new();
            hunks.push(Hunk {
                header,
                folded: Some(n),
                lines,
            });
            continue;
        }
        let mut lines = Vec::new();
        let mut at = 0;
        while at < changes.len() {
            // A run of changed comment (and blank) lines, long enough to be worth a fold, and
            // not the comment right above a changed line of code (the why of that line).
            let run = changes[at..]
                .iter()
                .take_while(|c| changed(c) && comment_or_blank(c))
                .count();
            let comments = changes[at..at + run]
                .iter()
                .filter(|c| !c.value().trim().is_empty())
                .count();
            let attached = run > 0
                && !changes[at + run - 1].value().trim().is_empty()
                && changes
                    .get(at + run)
                    .is_some_and(|c| changed(c) && !comment_or_blank(c));
            if fold && comments >= FOLD_AT_LEAST && !attached {
                lines.push(Line::Folded(comments));
                at += run;
                continue;
            }
            let until = at + run.max(1);
            for change in &changes[at..until] {
                let text = change.value().trim_end_matches(['\n', '\r']);
                lines.push(Line::Text(change.tag(), text.to_string()));
                if change.missing_newline() {
                    lines.push(Line::NoNewline);
                }
            }
            at = until;
        }
        hunks.push(Hunk {
            header,
            folded: None,
            lines,
        });
    }
    let (old, new) = (old_name.to_string(), new_name.to_string());
    Some(FileDiff { old, new, hunks })
}

/// Diffs shown as text, as `look` says (its `fold` was the diffs' to follow).
pub fn show(files: &[FileDiff], look: &Look) -> String {
    let mut out = String::new();
    let mut paint = |style: &str, lines: Vec<String>| {
        for line in lines {
            if look.color && !style.is_empty() {
                let _ = writeln!(out, "{style}{line}{}", style::RESET);
            } else {
                let _ = writeln!(out, "{line}");
            }
        }
    };
    // `lead`: what a wrapped line's next lines start with, before the marker.
    let fit = |text: &str, lead: &str| match look.width {
        Some(width) => break_line(text, width, lead),
        None => vec![text.to_string()],
    };
    for file in files {
        paint(style::BOLD, fit(&format!("--- {}", file.old), "    "));
        paint(style::BOLD, fit(&format!("+++ {}", file.new), "    "));
        for hunk in &file.hunks {
            let header = match hunk.folded {
                Some(n) => format!("{} {}", hunk.header, folded(n)),
                None => hunk.header.clone(),
            };
            paint(style::CYAN, fit(&header, "   "));
            for line in &hunk.lines {
                match line {
                    Line::Text(kind, text) => {
                        let style = match (kind, is_comment(text)) {
                            (ChangeTag::Equal, _) => "",
                            (ChangeTag::Insert, true) => style::ADDED_COMMENT,
                            (ChangeTag::Insert, false) => style::ADDED_CODE,
                            (ChangeTag::Delete, true) => style::REMOVED_COMMENT,
                            (ChangeTag::Delete, false) => style::REMOVED_CODE,
                        };
                        paint(style, pieces(*kind, text, look.width));
                    }
                    Line::Folded(n) => paint(style::CYAN, fit(&format!(" {}", folded(*n)), " ")),
                    Line::NoNewline => paint("", fit("\\ No newline at end of file", "")),
                }
            }
        }
    }
    out
}

/// A diff of `old` (named `old_name`) against `new`, shown as `look` says.
pub fn render_with(old_name: &str, old: &str, new_name: &str, new: &str, look: &Look) -> String {
    let file = diff(old_name, old, new_name, new, look.fold);
    show(file.as_slice(), look)
}

/// The diff between two stages' sources, every file paired by name, `fold`ed or not.
pub fn stages(root: &Path, from: Option<&Stage>, to: &Stage, fold: bool) -> Result<Vec<FileDiff>> {
    let mut out = Vec::new();
    for (old, new) in pairs(root, from, to)? {
        let name = |f: &Option<SourceFile>| {
            f.as_ref()
                .map_or("/dev/null".to_string(), |f| f.path.display().to_string())
        };
        let text = |f: &Option<SourceFile>| f.as_ref().map_or(String::new(), |f| f.text.clone());
        out.extend(diff(
            &name(&old),
            &text(&old),
            &name(&new),
            &text(&new),
            fold,
        ));
    }
    Ok(out)
}

/// The diff between two stages' sources, shown as `look` says.
pub fn stages_with(root: &Path, from: Option<&Stage>, to: &Stage, look: &Look) -> Result<String> {
    Ok(show(&stages(root, from, to, look.fold)?, look))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "fn main() {\n    // say hi\n    hi();\n}\n";
    const NEW: &str = "fn main() {\n    // say hi, then bye\n    hi();\n    bye();\n}\n";

    fn render(old_name: &str, old: &str, new_name: &str, new: &str, color: bool) -> String {
        let look = Look {
            color,
            ..Look::default()
        };
        render_with(old_name, old, new_name, new, &look)
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
    fn comment_only_hunks_fold_and_code_hunks_do_not() {
        let mut old = String::from("//! one\n//! two\n");
        old.push_str(&"fn x() {}\n".repeat(10));
        old.push_str("fn main() {\n    hi();\n}\n");
        let new = old
            .replace("//! two\n", "//! two, better\n//! three\n")
            .replace("    hi();\n", "    hi();\n    bye();\n");
        let look = Look {
            fold: true,
            ..Look::default()
        };
        let text = render_with("a", &old, "b", &new, &look);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2], "@@ -1,5 +1,6 @@ … 3 comment lines folded",
            "{text}"
        );
        assert!(!text.contains("//! three"), "{text}");
        assert!(text.contains("\n+    bye();\n"), "{text}");
        let whole = render_with("a", &old, "b", &new, &Look::default());
        assert!(whole.contains("\n+//! three\n"), "{whole}");
    }
}

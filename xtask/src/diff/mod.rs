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

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use catalog::Stage;
use similar::{ChangeTag, TextDiff};

use crate::cli;

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

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// Inside a hunk that also changes code, a run of changed comment lines is folded when it has
/// this many, unless it sits right above a changed line of code (the comment that explains it).
const FOLD_AT_LEAST: usize = 3;

/// Where a wrapped line goes on.
pub const CONTINUED: &str = "↪ ";

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

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.code_added += other.code_added;
        self.code_removed += other.code_removed;
        self.comments_added += other.comments_added;
        self.comments_removed += other.comments_removed;
    }
}

/// A stage's main source file (the story), relative to the workspace.
pub fn source_path(stage: &Stage) -> PathBuf {
    Path::new("slides").join(stage.name).join("src/main.rs")
}

/// One source file of a stage.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceFile {
    /// What pairs it with the other stage's file: its path under `src/` (`main.rs`,
    /// `cgroups.rs`), or for a file included from another stage by `#[path]`, its file name.
    pub name: String,
    /// Where it is, relative to the workspace (shown in the diff's headers).
    pub path: PathBuf,
    pub text: String,
}

/// Every source file of a stage under `root`: `src/**/*.rs`, and the files they include from
/// elsewhere by `#[path = "..."]`; `main.rs` first, then by name.
pub fn files(root: &Path, stage: &Stage) -> Result<Vec<SourceFile>> {
    let src = Path::new("slides").join(stage.name).join("src");
    let main = src.join("main.rs");
    if !root.join(&main).is_file() {
        anyhow::bail!(
            "cannot read {} (is stage {} written yet?)",
            main.display(),
            stage.name
        );
    }
    let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(root.join(&dir))
            .with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let path = dir.join(entry.file_name());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path.strip_prefix(&src).unwrap_or(&path);
                found.insert(name.to_string_lossy().into_owned(), path);
            }
        }
    }
    let mut out: Vec<SourceFile> = Vec::new();
    let mut queue: Vec<(String, PathBuf)> = found.into_iter().collect();
    let mut at = 0;
    while at < queue.len() {
        let (name, path) = queue[at].clone();
        at += 1;
        let text = std::fs::read_to_string(root.join(&path))
            .with_context(|| format!("cannot read {}", path.display()))?;
        for included in path_attributes(&text) {
            // A `#[path]` outside an inline module is relative to the folder of its file.
            let base = path.parent().unwrap_or(Path::new(""));
            let target = normalize(&base.join(included));
            let key = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !queue.iter().any(|(n, p)| *n == key || *p == target) && root.join(&target).is_file()
            {
                queue.push((key, target));
            }
        }
        out.push(SourceFile { name, path, text });
    }
    out.sort_by(|a, b| (a.name != "main.rs", &a.name).cmp(&(b.name != "main.rs", &b.name)));
    Ok(out)
}

/// `a/b/../c` → `a/c`, without asking the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The paths of the `#[path = "..."]` attributes in a source.
fn path_attributes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("#[path")?;
            let rest = rest.trim_start().strip_prefix('=')?.trim_start();
            let rest = rest.strip_prefix('"')?;
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect()
}

/// A stage's main source (`main.rs`, the story) under `root`. Every file of the stage:
/// [`files`]; the lines changed over all of them: [`stage_counts`].
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

/// The files of two stages, paired by name: (old, new), either missing.
type Pair = (Option<SourceFile>, Option<SourceFile>);

fn pairs(root: &Path, from: Option<&Stage>, to: &Stage) -> Result<Vec<Pair>> {
    let old = match from {
        Some(from) => files(root, from)?,
        None => Vec::new(),
    };
    let new = files(root, to)?;
    let mut out: Vec<Pair> = Vec::new();
    // New files in their order (main.rs first), then files only the old stage had.
    for file in &new {
        let before = old.iter().find(|o| o.name == file.name).cloned();
        out.push((before, Some(file.clone())));
    }
    for file in old {
        if !new.iter().any(|n| n.name == file.name) {
            out.push((Some(file), None));
        }
    }
    Ok(out)
}

/// The lines changed from stage `from` (None: nothing) to `to`, over all their files.
pub fn stage_counts(root: &Path, from: Option<&Stage>, to: &Stage) -> Result<Counts> {
    let mut total = Counts::default();
    for (old, new) in pairs(root, from, to)? {
        total += counts(
            old.as_ref().map_or("", |f| &f.text),
            new.as_ref().map_or("", |f| &f.text),
        );
    }
    Ok(total)
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

/// A diff of `old` (named `old_name`) against `new`, shown as `look` says.
pub fn render_with(old_name: &str, old: &str, new_name: &str, new: &str, look: &Look) -> String {
    let mut out = String::new();
    // `lead`: what a wrapped line's next lines start with, before the marker.
    let mut paint = |style: &str, text: &str, lead: &str| {
        let lines = match look.width {
            Some(width) => break_line(text, width, lead),
            None => vec![text.to_string()],
        };
        for line in lines {
            if look.color && !style.is_empty() {
                let _ = writeln!(out, "{style}{line}{}", style::RESET);
            } else {
                let _ = writeln!(out, "{line}");
            }
        }
    };
    let diff = TextDiff::from_lines(old, new);
    if diff.ratio() == 1.0 {
        return String::new();
    }
    paint(style::BOLD, &format!("--- {old_name}"), "    ");
    paint(style::BOLD, &format!("+++ {new_name}"), "    ");
    let changed = |c: &similar::Change<&str>| c.tag() != ChangeTag::Equal;
    let comment_or_blank =
        |c: &similar::Change<&str>| c.value().trim().is_empty() || is_comment(c.value());
    let folded = |n: usize| format!("… {n} comment line{} folded", if n == 1 { "" } else { "s" });
    for hunk in diff.unified_diff().context_radius(CONTEXT).iter_hunks() {
        let header = hunk.header().to_string();
        let changes: Vec<_> = hunk.iter_changes().collect();
        if look.fold && changes.iter().all(|c| !changed(c) || comment_or_blank(c)) {
            let n = changes
                .iter()
                .filter(|c| changed(c) && !c.value().trim().is_empty())
                .count();
            paint(style::CYAN, &format!("{header} {}", folded(n)), "   ");
            continue;
        }
        paint(style::CYAN, &header, "   ");
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
            if look.fold && comments >= FOLD_AT_LEAST && !attached {
                paint(style::CYAN, &format!(" {}", folded(comments)), " ");
                at += run;
                continue;
            }
            let until = at + run.max(1);
            for change in &changes[at..until] {
                let line = change.value().trim_end_matches(['\n', '\r']);
                let comment = is_comment(line);
                let (sign, style) = match change.tag() {
                    ChangeTag::Equal => (' ', ""),
                    ChangeTag::Insert if comment => ('+', style::ADDED_COMMENT),
                    ChangeTag::Insert => ('+', style::ADDED_CODE),
                    ChangeTag::Delete if comment => ('-', style::REMOVED_COMMENT),
                    ChangeTag::Delete => ('-', style::REMOVED_CODE),
                };
                let indent = &line[..line.len() - line.trim_start().len()];
                paint(style, &format!("{sign}{line}"), &format!("{sign}{indent}"));
                if change.missing_newline() {
                    paint("", "\\ No newline at end of file", "");
                }
            }
            at = until;
        }
    }
    out
}

/// The diff between two stages' sources, every file paired by name, shown as `look` says.
pub fn stages_with(root: &Path, from: Option<&Stage>, to: &Stage, look: &Look) -> Result<String> {
    let mut out = String::new();
    for (old, new) in pairs(root, from, to)? {
        let name = |f: &Option<SourceFile>| {
            f.as_ref()
                .map_or("/dev/null".to_string(), |f| f.path.display().to_string())
        };
        out.push_str(&render_with(
            &name(&old),
            old.as_ref().map_or("", |f| &f.text),
            &name(&new),
            new.as_ref().map_or("", |f| &f.text),
            look,
        ));
    }
    Ok(out)
}

/// Columns a line takes, colour escapes left out. Counted in bytes, a little more than the
/// characters when there are accents or dashes: a line that fits so fits on any terminal, and
/// tools that count bytes (mawk's `length`) agree.
pub fn columns(text: &str) -> usize {
    let mut len = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, '\t') => len += 8 - len % 8,
            (false, c) => len += c.len_utf8(),
        }
    }
    len
}

/// Breaks a line (without escapes) into lines of at most `width` [`columns`]: at the last
/// space that leaves a useful piece, else anywhere. Each line after the first starts with
/// `lead` and [`CONTINUED`].
pub fn break_line(text: &str, width: usize, lead: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest = text.to_string();
    let lead = format!("{lead}{CONTINUED}");
    // A lead too long for the width would leave no room: keep the marker only.
    let lead = if columns(&lead) + 10 > width {
        CONTINUED.to_string()
    } else {
        lead
    };
    let mut first = true;
    loop {
        let prefix = if first { "" } else { lead.as_str() };
        let room = width.saturating_sub(columns(prefix)).max(1);
        if columns(&rest) <= room {
            lines.push(format!("{prefix}{rest}"));
            return lines;
        }
        // The longest head of `rest` that fits, on a character boundary.
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            if columns(&rest[..i + c.len_utf8()]) > room {
                break;
            }
            end = i + c.len_utf8();
        }
        let end = end.max(rest.chars().next().map_or(1, char::len_utf8));
        // Break after a space in the right part of the head, so words stay whole.
        let start = rest.len() - rest.trim_start().len();
        let cut = match rest[..end].rfind(' ') {
            Some(space) if space > start && space >= end / 2 => space + 1,
            _ => end,
        };
        lines.push(format!("{prefix}{}", rest[..cut].trim_end()));
        rest = rest[cut..].trim_start().to_string();
        first = false;
    }
}

/// Whether stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    // SAFETY: isatty only inspects a file descriptor number.
    unsafe { libc::isatty(libc::STDOUT_FILENO) == 1 }
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
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass, and nothing else.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
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

    #[test]
    fn long_lines_break_at_a_space_with_a_marker() {
        let line = format!("+    let x = {};", "word ".repeat(30));
        let lines = break_line(&line, 40, "+    ");
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| columns(l) <= 40), "{lines:?}");
        assert!(
            lines[1..].iter().all(|l| l.starts_with("+    ↪ ")),
            "{lines:?}"
        );
        let mut joined = lines[0].clone();
        for l in &lines[1..] {
            joined.push(' ');
            joined.push_str(l.strip_prefix("+    ↪ ").unwrap());
        }
        let words = |t: &str| t.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(words(&joined), words(&line), "nothing lost");
        // No space to break at: cut anywhere, nothing lost.
        let long = "x".repeat(100);
        let lines = break_line(&long, 30, "");
        assert!(lines.iter().all(|l| columns(l) <= 30), "{lines:?}");
        assert_eq!(
            lines.concat().replace(CONTINUED, "").chars().count(),
            100,
            "{lines:?}"
        );
        assert_eq!(break_line("short", 30, ""), vec!["short"]);
    }

    #[test]
    fn columns_count_bytes_and_skip_colours() {
        assert_eq!(columns("\x1b[1;32m+abc\x1b[0m"), 4);
        assert_eq!(columns("a — b"), 7);
    }

    #[test]
    fn path_attributes_and_folders() {
        let text = "#[path = \"../../cgroups/src/cgroups.rs\"]\nmod cgroups;\n";
        assert_eq!(path_attributes(text), vec!["../../cgroups/src/cgroups.rs"]);
        assert_eq!(
            normalize(Path::new("slides/ipc/src/../../cgroups/src/cgroups.rs")),
            Path::new("slides/cgroups/src/cgroups.rs")
        );
    }

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
        assert_eq!(
            names,
            [
                format!("main.rs slides/{b}/src/main.rs"),
                "new.rs slides/{b}/src/new.rs".replace("{b}", b),
                format!("step.rs slides/{a}/src/step.rs"),
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

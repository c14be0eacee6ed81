//! Lines added and removed between two sources, code and comments counted apart (blank lines
//! are neither): for `--stat`, the README's table and the repository's rules.

use std::path::Path;

use anyhow::Result;
use catalog::Stage;
use similar::{ChangeTag, TextDiff};

use super::files::pairs;

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
}

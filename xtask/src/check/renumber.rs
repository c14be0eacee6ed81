//! `cargo xtask check --fix` renumbers: a stage's number is where it stands in the catalog, and
//! its `main.rs` and notes say it in their first line (`//! # Stage 4 — pid: …`, `# Stage 4 —
//! pid: …`, `# Etapa 4 — pid: …`). A stage added or moved is one catalog entry: the later
//! stages' first lines follow here, not by hand.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

/// Rewrites each wrong number in a stage's first lines; returns the files it changed.
pub fn renumber(root: &Path) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    for stage in catalog::STAGES {
        let dir = Path::new("slides").join(stage.name);
        for (file, word) in [
            ("src/main.rs", "//! # Stage"),
            ("README.md", "# Stage"),
            ("README.es.md", "# Etapa"),
        ] {
            let path = dir.join(file);
            let Ok(text) = fs::read_to_string(root.join(&path)) else {
                continue; // a missing file is check's to report
            };
            let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
            let Some(fixed) = fixed(first, word, stage.number(), stage.name) else {
                continue;
            };
            fs::write(root.join(&path), format!("{fixed}\n{rest}"))
                .with_context(|| format!("write {}", path.display()))?;
            changed.push(path.display().to_string());
        }
    }
    Ok(changed)
}

/// `first` with the stage's number put right, when it is `<word> <n> — <name>:` with another n.
fn fixed(first: &str, word: &str, number: u8, name: &str) -> Option<String> {
    let after = first.strip_prefix(word)?.strip_prefix(' ')?;
    let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (n, tail) = after.split_at(digits);
    let wanted = number.to_string();
    let rest = tail.strip_prefix(" — ")?;
    (n != wanted && rest.starts_with(&format!("{name}:"))).then(|| format!("{word} {wanted}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_wrong_number_of_the_right_stage_changes() {
        let line = "//! # Stage 9 — pid: the init";
        assert_eq!(
            fixed(line, "//! # Stage", 4, "pid").as_deref(),
            Some("//! # Stage 4 — pid: the init")
        );
        assert_eq!(
            fixed("//! # Stage 4 — pid: x", "//! # Stage", 4, "pid"),
            None
        );
        assert_eq!(fixed("# Etapa 12 — uts: x", "# Etapa", 3, "pid"), None);
        assert_eq!(fixed("no title", "# Stage", 3, "uts"), None);
    }
}

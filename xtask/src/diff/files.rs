//! A stage's sources: every `.rs` file under `slides/<stage>/src/`, plus the files it includes
//! from earlier stages with `#[path = "..."]` (each counted under its file name), and the two
//! stages' files paired by name for a diff.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use catalog::Stage;

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
/// elsewhere by `#[path = "..."]`; `main.rs` first, then the files in the order `main.rs` first
/// names them, then the others by name.
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
    // The story first; then the steps in the order the story names them (`veth.rs` in a
    // comment, or a `#[path]`), so a step's own file comes before what supports it; the
    // rest by name.
    let story = out
        .iter()
        .find(|f| f.name == "main.rs")
        .map(|f| f.text.clone());
    let story = story.unwrap_or_default();
    out.sort_by_key(|f| {
        let named = first_mention(&story, &f.name).unwrap_or(usize::MAX);
        (f.name != "main.rs", named, f.name.clone())
    });
    Ok(out)
}

/// Where `text` first names the file `name` as a word of its own (`veth.rs`, not `xveth.rs`).
fn first_mention(text: &str, name: &str) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name)
        .find(|(at, _)| !text[..*at].chars().next_back().is_some_and(is_word))
        .map(|(at, _)| at)
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

/// The files of two stages, paired by name: (old, new), either missing.
pub type Pair = (Option<SourceFile>, Option<SourceFile>);

/// The files of stage `from` (None: none) and `to`, paired by name: `to`'s in their order
/// (`main.rs` first), then those only `from` has.
pub fn pairs(root: &Path, from: Option<&Stage>, to: &Stage) -> Result<Vec<Pair>> {
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

#[cfg(test)]
mod order_tests {
    use super::first_mention;

    #[test]
    fn a_file_is_named_as_a_word_of_its_own() {
        let story = "// a cable (xveth.rs is not it)\n// the cable (veth.rs)\n";
        assert_eq!(
            first_mention(story, "veth.rs"),
            story.find("(veth.rs)").map(|at| at + 1)
        );
        assert_eq!(first_mention(story, "lo.rs"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_attributes_and_folders() {
        let text = "#[path = \"../../cgroups/src/cgroups.rs\"]\nmod cgroups;\n";
        assert_eq!(path_attributes(text), vec!["../../cgroups/src/cgroups.rs"]);
        assert_eq!(
            normalize(Path::new("slides/ipc/src/../../cgroups/src/cgroups.rs")),
            Path::new("slides/cgroups/src/cgroups.rs")
        );
    }
}

//! No stage takes away what one before it taught: each step a stage's `main.rs` calls
//! (`module::function(...)`, `Type::function(...)`), each namespace flag it sets
//! (`CloneFlags::CLONE_NEW...`) and each file it includes stays in the next stage, unless the
//! catalog names that stage as replacing it (`Stage::replaces`, with the step that does it
//! better). A student reading the stages in order never unlearns.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Paths that are not steps: the skeleton's plumbing, std's and nix's types.
const NOT_STEPS: [&str; 10] = [
    "skeleton", "process", "env", "std", "fs", "io", "Path", "PathBuf", "OsString", "String",
];

/// Every taught step that a stage leaves out of the next, one line each.
pub fn removed(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut stages = catalog::STAGES.iter();
    let Some(mut prev) = stages.next() else {
        return problems;
    };
    let mut taught = steps(root, prev.name);
    for stage in stages {
        let now = steps(root, stage.name);
        for step in taught.difference(&now) {
            if !stage.replaces.iter().any(|r| r.step == step) {
                problems.push(format!(
                    "slides/{}: `{step}`, taught by {} or before, is gone (a stage adds; one \
                     that does a step better names it in the catalog's `replaces`)",
                    stage.name, prev.name
                ));
            }
        }
        for replaced in stage.replaces {
            if !taught.contains(replaced.step) {
                problems.push(format!(
                    "crates/catalog: {} replaces `{}`, which {} does not have",
                    stage.name, replaced.step, prev.name
                ));
            }
        }
        (prev, taught) = (stage, now);
    }
    problems
}

/// The steps a stage's `main.rs` takes: its calls by path, its namespace flags, its files.
fn steps(root: &Path, stage: &str) -> BTreeSet<String> {
    let main = root.join("slides").join(stage).join("src/main.rs");
    let text = fs::read_to_string(main).unwrap_or_default();
    let mut found = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("//") || line.starts_with("use ") {
            continue;
        }
        if let Some(module) = line.strip_prefix("mod ").and_then(|m| m.strip_suffix(';')) {
            found.insert(format!("mod {module}"));
        }
        found.extend(paths(line));
    }
    found
}

/// `a::b(` calls and `CloneFlags::CLONE_X` flags in one line of code.
fn paths(line: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    for (at, _) in line.match_indices("::") {
        let head = &line[..at];
        let first = &head[head.trim_end_matches(ident).len()..];
        let tail = &line[at + 2..];
        let second = &tail[..tail.len() - tail.trim_start_matches(ident).len()];
        let rest = &tail[second.len()..];
        if first.is_empty() || second.is_empty() || NOT_STEPS.contains(&first) {
            continue;
        }
        let flag = first == "CloneFlags" && second.starts_with("CLONE_NEW");
        let call = first != "CloneFlags" && rest.starts_with('(');
        // A step module's function handed on as a value: `then(addressing::free_subnet)`.
        let lower = |s: &str| s.starts_with(|c: char| c.is_ascii_lowercase());
        let handed = lower(first) && lower(second) && !rest.starts_with("::");
        if flag || call || handed {
            out.push(format!("{first}::{second}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_flags_are_steps() {
        let line = "let c = cgroups::Cgroup::create(&Limits::DEFAULT)?; f(CloneFlags::CLONE_NEWNS)";
        assert_eq!(paths(line), ["Cgroup::create", "CloneFlags::CLONE_NEWNS"]);
        assert_eq!(
            paths("skeleton::Spawn::new(flags, c); x.y()"),
            ["Spawn::new"]
        );
        assert_eq!(
            paths("as_root(r, \"x\", addressing::free_subnet)?"),
            ["addressing::free_subnet"]
        );
        assert!(paths("let x = nix::sched::CloneFlags::empty;").is_empty());
    }
}

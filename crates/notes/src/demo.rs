//! The demo blocks of the slide notes (`slides/<stage>/README.md`): the commands a stage's notes
//! promise to run and the output they promise. `cargo xtask present` runs them live, `cargo xtask
//! check` requires them, and the test suite runs every one inside its stage and compares.
//!
//! A demo block is a fenced code block whose info string is `demo`:
//!
//! ````text
//! ```demo
//! $ hostname
//! container
//! $ echo $$
//! {n}
//! $ false
//! [exit 1]
//! ```
//! ````
//!
//! - `$ <command>` is one shell command line, run inside the stage as `<stage> run sh -c
//!   '<command>'`.
//! - The lines after it, up to the next `$ ` line, are what the command prints on stdout.
//!   Trailing spaces and trailing empty lines do not count.
//! - `{n}` matches an integer, `{*}` any text within a line (also none), and a line that is only
//!   `{...}` matches any number of lines (also none). Every other character, braces included,
//!   matches itself.
//! - A last line `[exit N]` says the command exits with status N; without it, 0.
//! - A block opened with ```` ```demo <stage> ```` runs its commands in that other stage (a
//!   name or alias of the catalog): how a hardening stage's notes show an attack that works in
//!   the stage before it, next to the same attack failing in their own stage.

/// One demo command with the output it promises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Demo {
    /// The shell command line (without the `$ `).
    pub command: String,
    /// The expected stdout lines, placeholders included.
    pub expected: Vec<String>,
    /// The expected exit status.
    pub exit: i32,
    /// The 1-based line of the `$ ` line in the notes, for error messages.
    pub line: usize,
    /// The stage it runs in when not the notes' own (```` ```demo <stage> ````).
    pub stage: Option<String>,
}

/// A fence's info string: `None` for a block that is not a demo, `Some(None)` for a demo run in
/// the notes' own stage, `Some(Some(stage))` for one run in another stage.
pub(crate) fn demo_fence(info: &str) -> Option<Option<&str>> {
    let rest = info.trim().strip_prefix("demo")?;
    match rest.trim() {
        "" => Some(None),
        stage if rest.starts_with(char::is_whitespace) => Some(Some(stage)),
        _ => None,
    }
}

/// Every demo of a notes file, in order, or a one-line complaint about a malformed block.
pub fn demos(markdown: &str) -> Result<Vec<Demo>, String> {
    let mut demos: Vec<Demo> = Vec::new();
    for block in crate::blocks(markdown) {
        let crate::Block::Code(code) = block else {
            continue;
        };
        let stage = code.demo();
        if let Some(name) = stage.flatten().filter(|n| catalog::find(n).is_none()) {
            return Err(format!("line {}: no stage is called `{name}`", code.line));
        }
        // This block's demos, and whether the last has had its `[exit N]`.
        let first = demos.len();
        let mut exit_seen = false;
        for (at, line) in code.lines.iter().enumerate().filter(|_| stage.is_some()) {
            let (line_no, line) = (code.line + 1 + at, line.trim_end());
            if let Some(command) = line.strip_prefix("$ ") {
                demos.push(Demo {
                    command: command.trim().to_string(),
                    expected: Vec::new(),
                    exit: 0,
                    line: line_no,
                    stage: stage.flatten().map(str::to_string),
                });
                exit_seen = false;
            } else if let Some(demo) = demos[first..].last_mut() {
                if exit_seen && !line.is_empty() {
                    return Err(format!(
                        "line {line_no}: output after `[exit N]`, which must be a command's last line"
                    ));
                }
                if let Some(code) = exit_line(line) {
                    demo.exit = code;
                    exit_seen = true;
                } else {
                    demo.expected.push(line.to_string());
                }
            } else if !line.is_empty() {
                return Err(format!(
                    "line {line_no}: a demo block must start with a `$ <command>` line"
                ));
            }
        }
        if code.close.is_none() {
            return Err("a fenced block is not closed".to_string());
        }
    }
    for demo in &mut demos {
        while demo.expected.last().is_some_and(|l| l.is_empty()) {
            demo.expected.pop();
        }
        if demo.command.is_empty() {
            return Err(format!("line {}: `$` without a command", demo.line));
        }
    }
    Ok(demos)
}

/// `[exit N]` → N.
fn exit_line(line: &str) -> Option<i32> {
    line.trim()
        .strip_prefix("[exit ")?
        .strip_suffix(']')?
        .trim()
        .parse()
        .ok()
}

/// Compares a command's stdout with the expected lines; `Err` says where they part.
pub fn check_output(expected: &[String], stdout: &str) -> Result<(), String> {
    let mut actual: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    while actual.last().is_some_and(|l| l.is_empty()) {
        actual.pop();
    }
    let expected: Vec<&str> = expected.iter().map(|l| l.trim_end()).collect();
    if match_lines(&expected, &actual) {
        return Ok(());
    }
    // Point at the first line that differs, for a readable failure.
    let at = expected
        .iter()
        .zip(&actual)
        .position(|(e, a)| *e == "{...}" || !match_line(e, a))
        .unwrap_or(expected.len().min(actual.len()));
    Err(format!(
        "output differs from line {}:\n--- expected\n{}\n--- got\n{}",
        at + 1,
        expected.join("\n"),
        actual.join("\n")
    ))
}

fn match_lines(expected: &[&str], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((&"{...}", rest)) => (0..=actual.len()).any(|skip| match_lines(rest, &actual[skip..])),
        Some((first, rest)) => match actual.split_first() {
            Some((line, more)) => match_line(first, line) && match_lines(rest, more),
            None => false,
        },
    }
}

/// Matches one line against a pattern with `{n}` and `{*}` placeholders.
pub fn match_line(pattern: &str, line: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("{*}") {
        return (0..=line.len())
            .filter(|&i| line.is_char_boundary(i))
            .any(|i| match_line(rest, &line[i..]));
    }
    if let Some(rest) = pattern.strip_prefix("{n}") {
        let unsigned = line.strip_prefix('-').unwrap_or(line);
        let digits = unsigned.len()
            - unsigned
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        if digits == 0 {
            return false;
        }
        let start = line.len() - unsigned.len();
        // Backtrack over how many digits the integer takes, so `{n}0` still matches `10`.
        return (1..=digits)
            .rev()
            .any(|d| match_line(rest, &line[start + d..]));
    }
    match (pattern.chars().next(), line.chars().next()) {
        (None, None) => true,
        (Some(p), Some(l)) if p == l => match_line(&pattern[p.len_utf8()..], &line[l.len_utf8()..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTES: &str = "# Title\n\n```sh\n$ not a demo\n```\n\n```demo\n$ hostname\ncontainer\n\n$ echo $$\n{n}\n$ false\n[exit 1]\n```\n";

    #[test]
    fn extracts_demos() {
        let demos = demos(NOTES).unwrap();
        assert_eq!(demos.len(), 3);
        assert_eq!(demos[0].command, "hostname");
        assert_eq!(demos[0].expected, vec!["container"]);
        assert_eq!(demos[0].line, 8);
        assert_eq!(demos[1].expected, vec!["{n}"]);
        assert_eq!((demos[2].exit, demos[2].expected.len()), (1, 0));
        assert!(demos.iter().all(|d| d.stage.is_none()));
    }

    #[test]
    fn a_block_may_run_in_another_stage() {
        let two = demos("```demo user\n$ id -u\n0\n```\n```demo\n$ true\n```\n").unwrap();
        assert_eq!(two[0].stage.as_deref(), Some("user"));
        assert_eq!(two[1].stage, None);
        assert_eq!(demo_fence("demo"), Some(None));
        assert_eq!(demo_fence(" demo  net "), Some(Some("net")));
        assert_eq!(demo_fence("demos"), None);
        assert_eq!(demo_fence("sh"), None);
        assert!(demos("```demo nope\n$ true\n```\n").is_err());
    }

    #[test]
    fn malformed_blocks_are_errors() {
        assert!(demos("```demo\nno command\n```\n").is_err());
        assert!(demos("```demo\n$ true\n").is_err());
        assert!(demos("```demo\n$ true\n[exit 1]\nmore\n```\n").is_err());
    }

    #[test]
    fn placeholders() {
        assert!(match_line("pid {n}", "pid 42"));
        assert!(match_line("{n}0", "10"));
        assert!(!match_line("pid {n}", "pid x"));
        assert!(match_line("a {*} z", "a b c z"));
        assert!(match_line("{*}", ""));
        assert!(match_line("{exe} x", "{exe} x"));
        let lines = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        assert!(check_output(&lines(&["a", "{...}", "z"]), "a\nb\nc\nz\n").is_ok());
        assert!(check_output(&lines(&["a", "{...}"]), "a\n").is_ok());
        assert!(check_output(&lines(&["a"]), "a\nb\n").is_err());
        assert!(check_output(&lines(&["a"]), "a  \n\n").is_ok());
    }
}

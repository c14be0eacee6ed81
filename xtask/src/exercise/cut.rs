//! Taking a step out of a stage's source, as the catalog's [`Cut`]s say: a function's body,
//! replaced by `todo!("<hint>")`, or one statement of a function with the comment just above it,
//! replaced by a placeholder under the hint as a comment (a clone flag is one line of `run`).
//!
//! A function is found by its name with a light scan of Rust's syntax: comments, strings and
//! character literals are skipped while braces are matched, so `format!("{x}")` or a `}` in a
//! comment cannot end a body early. A cut that does not fit its slide any more (the function
//! renamed, the line changed, a name found twice) is an error naming it, never a silent miss;
//! the unit tests below try every cut of the catalog on the real slides.

use anyhow::{bail, Result};
use catalog::Cut;

use crate::lex::{tokens, Token};

/// The slides' width: an exercise is a slide with a hole in it.
const WIDTH: usize = 80;

/// `source` with `cut` taken out, `hint` (the cut's, in the student's language) in its place.
pub fn apply(source: &str, cut: &Cut, hint: &str) -> Result<String> {
    let (start, open, close) = function(source, cut.function())?;
    let indent = indentation(source, start);
    match cut {
        Cut::Body { .. } => {
            let inner = format!("{indent}    ");
            let body = format!("\n{}\n{indent}", todo(&inner, hint));
            Ok(format!("{}{body}{}", &source[..=open], &source[close..]))
        }
        Cut::Line {
            line, placeholder, ..
        } => {
            let body = &source[open + 1..close];
            let lines: Vec<&str> = body.split_inclusive('\n').collect();
            let found: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].trim() == *line)
                .collect();
            let at = match found[..] {
                [at] => at,
                [] => bail!("no line `{line}` in fn {}", cut.function()),
                _ => bail!("the line `{line}` is in fn {} twice", cut.function()),
            };
            // The comment right above the line explains it: it goes too.
            let mut first = at;
            while first > 0 && lines[first - 1].trim_start().starts_with("//") {
                first -= 1;
            }
            let lead = &lines[at][..lines[at].len() - lines[at].trim_start().len()];
            let mut replaced = comment(lead, &format!("Your step: {hint}"));
            replaced.push_str(&format!("{lead}{placeholder}\n"));
            let before: String = lines[..first].concat();
            let after: String = lines[at + 1..].concat();
            let out = format!(
                "{}{before}{replaced}{after}{}",
                &source[..=open],
                &source[close..]
            );
            Ok(blank_in_comments(&out, flag_name(line)))
        }
    }
}

/// The flag a line sets (`CLONE_NEWPID` in `flags |= CloneFlags::CLONE_NEWPID;`), if any.
fn flag_name(line: &str) -> Option<&str> {
    let (_, tail) = line.rsplit_once("::")?;
    let name = tail.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_');
    name.starts_with("CLONE_").then_some(name)
}

/// The comments of `source` with the flag `name` blanked (`CLONE_NEW…`): the stage's header says
/// what it adds, by name, and would give the answer away.
fn blank_in_comments(source: &str, name: Option<&str>) -> String {
    let Some(name) = name else {
        return source.to_string();
    };
    source
        .split_inclusive('\n')
        .map(|line| match line.trim_start().starts_with("//") {
            true => line.replace(name, "CLONE_NEW…"),
            false => line.to_string(),
        })
        .collect()
}

/// `todo!("<hint>")` at `indent`: on one line when it fits, else the string continued with
/// `\` over lines of at most [`WIDTH`] columns (rustfmt leaves such a string as it is).
fn todo(indent: &str, hint: &str) -> String {
    // The hint is a format string of todo!: braces doubled, quotes and backslashes escaped.
    let escaped = hint
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('{', "{{")
        .replace('}', "}}");
    let one = format!("{indent}todo!(\"{escaped}\")");
    if one.chars().count() <= WIDTH {
        return one;
    }
    let inner = format!("{indent}    ");
    // A line that goes on ends with ` \` (the space is the string's, the line break and the
    // next line's indentation are not); the next lines start one column in, under the text.
    let mut lines: Vec<String> = Vec::new();
    let mut line = format!("{inner}\"");
    let mut empty = true;
    let words: Vec<&str> = escaped.split(' ').collect();
    for (i, word) in words.iter().enumerate() {
        let tail = if i + 1 == words.len() { 1 } else { 2 };
        if !empty && line.chars().count() + 1 + word.chars().count() + tail > WIDTH {
            lines.push(format!("{line} \\"));
            line = format!("{inner} ");
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(format!("{line}\""));
    format!("{indent}todo!(\n{}\n{indent})", lines.join("\n"))
}

/// `text` as `//` comment lines at `lead`, wrapped to [`WIDTH`] columns.
fn comment(lead: &str, text: &str) -> String {
    let mut out = String::new();
    let mut line = format!("{lead}//");
    for word in text.split_whitespace() {
        if line.chars().count() + 1 + word.chars().count() > WIDTH && !line.ends_with("//") {
            out.push_str(&line);
            out.push('\n');
            line = format!("{lead}//");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// The whitespace the line holding byte `at` starts with.
fn indentation(source: &str, at: usize) -> &str {
    let start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &source[start..];
    &line[..line.len() - line.trim_start().len()]
}

/// Where `fn name` is: the start of the `fn` keyword, its body's `{` and its `}` (byte offsets).
fn function(source: &str, name: &str) -> Result<(usize, usize, usize)> {
    let code = code_mask(source);
    let bytes = source.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let needle = format!("fn {name}");
    let mut found = Vec::new();
    for (at, _) in source.match_indices(&needle) {
        let end = at + needle.len();
        let before_ok = at == 0 || !ident(bytes[at - 1]);
        let after = source[end..].trim_start();
        if code[at] && before_ok && (after.starts_with('(') || after.starts_with('<')) {
            found.push(at);
        }
    }
    let at = match found[..] {
        [at] => at,
        [] => bail!("no fn {name}"),
        _ => bail!("fn {name} is defined {} times", found.len()),
    };
    // The body's `{` is the first one outside the parameters' parentheses.
    let mut parens = 0i32;
    let mut open = None;
    for i in at..source.len() {
        if !code[i] {
            continue;
        }
        match bytes[i] {
            b'(' => parens += 1,
            b')' => parens -= 1,
            b'{' if parens == 0 => {
                open = Some(i);
                break;
            }
            b';' if parens == 0 => bail!("fn {name} has no body"),
            _ => {}
        }
    }
    let Some(open) = open else {
        bail!("fn {name} has no body");
    };
    let mut depth = 0i32;
    for i in open..source.len() {
        if !code[i] {
            continue;
        }
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Ok((at, open, i));
                }
            }
            _ => {}
        }
    }
    bail!("fn {name}: its body is not closed")
}

/// For each byte of `source`, whether it is code: not in a comment, a string or a character
/// literal (crate::lex).
fn code_mask(source: &str) -> Vec<bool> {
    let mut code = vec![true; source.len()];
    for (token, range) in tokens(source) {
        if matches!(token, Token::Comment | Token::Str | Token::Char) {
            code[range].fill(false);
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "/// Doc: fn step() is below.\n\
        fn run(command: &[u8]) -> Result<u8> {\n\
        \x20   let s = \"}\"; let c = '}'; let l: &'static str = r#\"{\"#;\n\
        \x20   // The flag, explained.\n\
        \x20   flags |= Flags::NEW;\n\
        \x20   spawn(flags)\n\
        }\n\
        \n\
        impl Drop for X {\n\
        \x20   fn step<T>(x: T) {\n\
        \x20       if x { format!(\"{x}\"); } /* } */\n\
        \x20   }\n\
        }\n";

    #[test]
    fn a_body_becomes_todo() {
        let cut = Cut::Body {
            file: "main.rs",
            function: "step",
            hint: "look up \"step\"(2) {now}",
            hint_es: "look up \"step\"(2) {now}",
        };
        let out = apply(SOURCE, &cut, cut.hint()).unwrap();
        assert!(
            out.contains(
                "    fn step<T>(x: T) {\n        todo!(\"look up \\\"step\\\"(2) {{now}}\")\n    }\n}\n"
            ),
            "{out}"
        );
        assert!(
            out.starts_with("/// Doc: fn step() is below.\nfn run("),
            "{out}"
        );
    }

    #[test]
    fn a_line_becomes_the_placeholder_under_the_hint() {
        let cut = Cut::Line {
            file: "main.rs",
            function: "run",
            line: "flags |= Flags::NEW;",
            placeholder: "flags |= Flags::empty();",
            hint: "the flag: flag(7)",
            hint_es: "the flag: flag(7)",
        };
        let out = apply(SOURCE, &cut, cut.hint()).unwrap();
        assert!(
            out.contains(
                "'}'; let l: &'static str = r#\"{\"#;\n    // Your step: the flag: flag(7)\n    \
                 flags |= Flags::empty();\n    spawn(flags)\n}\n"
            ),
            "{out}"
        );
        assert!(!out.contains("explained"), "{out}");
    }

    #[test]
    fn the_comments_do_not_name_the_flag_cut() {
        let source = "//! The parent adds `CLONE_NEWIPC`: its own queues.\n\
                      fn run() {\n    flags |= CloneFlags::CLONE_NEWIPC;\n}\n";
        let cut = Cut::Line {
            file: "main.rs",
            function: "run",
            line: "flags |= CloneFlags::CLONE_NEWIPC;",
            placeholder: "flags |= CloneFlags::empty();",
            hint: "the flag: ipc_namespaces(7)",
            hint_es: "la flag: ipc_namespaces(7)",
        };
        let out = apply(source, &cut, cut.hint()).unwrap();
        assert!(!out.contains("CLONE_NEWIPC"), "{out}");
        assert!(
            out.starts_with("//! The parent adds `CLONE_NEW…`: its own queues."),
            "{out}"
        );
    }

    #[test]
    fn a_cut_that_does_not_fit_is_an_error() {
        let body = |function| Cut::Body {
            file: "main.rs",
            function,
            hint: "h(1)",
            hint_es: "h(1)",
        };
        assert!(apply(SOURCE, &body("nope"), "h(1)").is_err());
        // `fn step` in the doc comment does not count.
        assert!(apply(SOURCE, &body("step"), "h(1)").is_ok());
        let twice = format!("{SOURCE}fn step() {{}}\n");
        assert!(apply(&twice, &body("step"), "h(1)").is_err());
        let line = Cut::Line {
            file: "main.rs",
            function: "run",
            line: "flags |= Flags::OTHER;",
            placeholder: "x",
            hint: "h(1)",
            hint_es: "h(1)",
        };
        assert!(apply(SOURCE, &line, "h(1)").is_err());
    }

    #[test]
    fn a_long_hint_is_continued_within_80_columns() {
        let hint = "a hint long enough to need more than one line of the slide, with a \
                    man page at its end: clone(2), and namespaces(7) too, and more words";
        let text = todo("    ", hint);
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        assert!(text.starts_with("    todo!(\n        \""), "{text}");
        assert!(text.ends_with("\"\n    )"), "{text}");
        let words: String = text
            .lines()
            .skip(1)
            .map(|l| l.trim().trim_matches(['"', '\\']).trim())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(words.trim_end_matches([' ', ')']), hint);
    }

    /// Every cut of the catalog fits its slide today: found once, and gone from the result.
    #[test]
    fn every_cut_of_the_catalog_fits_its_slide() {
        let root = crate::util::project_root();
        for stage in catalog::STAGES {
            for cut in stage.exercise {
                let path = root
                    .join("slides")
                    .join(stage.name)
                    .join("src")
                    .join(cut.file());
                let source = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let out = apply(&source, cut, cut.hint_es())
                    .unwrap_or_else(|e| panic!("{} {}: {e:#}", stage.name, cut.function()));
                assert_ne!(out, source, "{}: {cut:?}", stage.name);
                if let Cut::Line { line, .. } = cut {
                    assert!(!out.contains(line), "{}: {cut:?}", stage.name);
                }
            }
        }
    }
}

//! The talk's text made to fit the screen: the notes rendered from Markdown and wrapped, and a
//! demo's command broken as a shell would read it.

use notes::Block;

use crate::diff::{break_line, columns};

/// One line of rendered notes.
#[derive(Debug, PartialEq)]
pub enum Rendered {
    Heading(String),
    Text(String),
}

/// The notes as plain terminal text: the `#` title dropped (the slide title replaces it),
/// headings set apart, paragraphs and list items wrapped to `width`, links shown by their text,
/// code blocks kept as they are (a line too long broken with a marker), and of demo blocks only
/// the commands (they run live after the diff, where their output shows).
pub fn render_notes(markdown: &str, width: usize) -> Vec<Rendered> {
    let mut lines = Vec::new();
    let verbatim =
        |line: &str| break_line(line, width, &line[..line.len() - line.trim_start().len()]);
    for block in notes::blocks(markdown) {
        let texts = match block {
            Block::Heading { level: 1, .. } => continue, // the title
            Block::Heading { text, .. } => {
                lines.extend(wrap(text, width, "").into_iter().map(Rendered::Heading));
                continue;
            }
            Block::Paragraph(text) => wrap(&strip_links(&text), width, ""),
            Block::Item(text) => {
                let mut item = wrap(&strip_links(&text), width, "  ");
                if let Some(first) = item.first_mut() {
                    first.replace_range(..2, "- ");
                }
                item
            }
            Block::Row(row) => verbatim(row),
            Block::Blank
                if lines
                    .last()
                    .is_some_and(|l| *l != Rendered::Text(String::new())) =>
            {
                vec![String::new()]
            }
            Block::Blank => continue,
            Block::Code(code) => {
                let demo = code.demo().is_some();
                let mut texts = Vec::new();
                for line in code.lines.iter().map(|l| l.trim_end()) {
                    match line.strip_prefix("$ ") {
                        // Of a demo, only the commands: their output comes live, after the diff.
                        Some(command) if demo => texts.extend(
                            command_lines(command, width.saturating_sub(4))
                                .into_iter()
                                .map(|p| format!("    {p}")),
                        ),
                        _ if demo => {}
                        _ => texts.extend(verbatim(&format!("    {line}"))),
                    }
                }
                texts.push(String::new());
                texts
            }
        };
        lines.extend(texts.into_iter().map(Rendered::Text));
    }
    while lines.last() == Some(&Rendered::Text(String::new())) {
        lines.pop();
    }
    lines
}

/// `[text](url)` → `text`.
fn strip_links(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find("](") else { break };
        let Some(end) = after[close + 2..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&after[..close]);
        rest = &after[close + 2 + end + 1..];
    }
    out.push_str(rest);
    out
}

/// Greedy word wrap to `width` [`columns`]; every line starts with `indent`. A `code span` that
/// fits a line stays on one; a word longer than a line is broken with a marker.
pub fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::from(indent);
    let room = width.saturating_sub(indent.len()).max(1);
    for word in words(text, room) {
        let len = columns(&line);
        if len > indent.len() && len + 1 + columns(&word) > width {
            lines.push(std::mem::replace(&mut line, String::from(indent)));
        }
        if columns(&word) > room {
            // Longer than a whole line (a URL, a path): on lines of its own, broken.
            if line.len() > indent.len() {
                lines.push(std::mem::replace(&mut line, String::from(indent)));
            }
            let mut pieces = break_line(&word, room, "");
            let last = pieces.pop().unwrap_or_default();
            lines.extend(pieces.into_iter().map(|p| format!("{indent}{p}")));
            line.push_str(&last);
            continue;
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if line.len() > indent.len() {
        lines.push(line);
    }
    lines
}

/// The words of `text`, a `code span` with spaces counting as one word when it is at most
/// `longest` columns long.
fn words(text: &str, longest: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut span: Vec<&str> = Vec::new();
    for word in text.split_whitespace() {
        let ticks = word.matches('`').count();
        if span.is_empty() && ticks % 2 == 0 {
            out.push(word.to_string());
            continue;
        }
        span.push(word);
        if span.len() > 1 && ticks % 2 == 1 {
            let joined = span.join(" ");
            if columns(&joined) <= longest {
                out.push(joined);
            } else {
                out.extend(span.iter().map(|w| w.to_string()));
            }
            span.clear();
        }
    }
    out.extend(span.iter().map(|w| w.to_string()));
    out
}

/// A demo's command as `$ command`, in lines of at most `width` columns: broken at spaces, each
/// line but the last ending in ` \` and the next indented, as a shell would read it. (Breaking
/// inside quotes would change the command, but only its look matters: it runs whole.)
pub fn command_lines(command: &str, width: usize) -> Vec<String> {
    let text = format!("$ {command}");
    if columns(&text) <= width {
        return vec![text];
    }
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.trim().is_empty() && columns(&line) + 1 + columns(word) + 2 > width {
            lines.push(format!("{line} \\"));
            line = " ".repeat(4);
        } else if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    // A word wider than a whole line still has to fit: broken with a marker.
    lines
        .into_iter()
        .flat_map(|l| break_line(&l, width, "    "))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_to_the_width() {
        let lines = wrap("one two three four five six", 10, "");
        assert_eq!(lines, vec!["one two", "three four", "five six"]);
        assert!(wrap("a b c", 10, "  ").iter().all(|l| l.starts_with("  ")));
        assert_eq!(wrap("xx `ip link`", 10, ""), vec!["xx", "`ip link`"]);
        assert_eq!(wrap("xx `a b c d e f`", 8, ""), vec!["xx `a b", "c d e f`"]);
        // A word longer than the width is broken, with a marker, and nothing is lost.
        let lines = wrap("unbreakablewordhere x", 8, "");
        assert!(lines.iter().all(|l| columns(l) <= 8), "{lines:?}");
        assert_eq!(
            lines.concat().replace(crate::diff::CONTINUED, ""),
            "unbreakablewordherex"
        );
    }

    #[test]
    fn renders_notes_without_title_links_or_demos() {
        let md = "# Stage 1 — x\n\nSee [clone(2)](https://man7.org/x) and\nmore.\n\n## Demo\n\n```demo\n$ true\nexpected\n```\n\n- an item that is long enough to wrap around\n";
        let lines = render_notes(md, 20);
        assert!(!lines.contains(&Rendered::Text("    expected".into())));
        assert_eq!(lines[0], Rendered::Text("See clone(2) and".into()));
        assert_eq!(lines[1], Rendered::Text("more.".into()));
        assert!(lines.contains(&Rendered::Heading("Demo".into())));
        assert!(lines.contains(&Rendered::Text("    $ true".into())));
        // A list item wraps with a hanging indent.
        let tail = &lines[lines.len() - 3..];
        assert_eq!(
            tail,
            ["- an item that is", "  long enough to", "  wrap around"]
                .map(|t| Rendered::Text(t.into()))
        );
    }

    #[test]
    fn notes_fit_the_width_code_and_tables_included() {
        let long = "x".repeat(120);
        let md = format!(
            "intro\n\n```sh\n{long}\n```\n\n| a | {long} |\n\n```demo\n$ echo {long} and more words\n```\n"
        );
        for line in render_notes(&md, 40) {
            let (Rendered::Text(text) | Rendered::Heading(text)) = line;
            assert!(columns(&text) <= 40, "{text:?}");
        }
    }

    #[test]
    fn long_commands_break_like_a_shell_line() {
        let command =
            "n=$(ip route | cut -d/ -f1); ping -c 1 -W 1 ${n%.*}.$((${n##*.} + 1)) | grep received";
        let lines = command_lines(command, 40);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| columns(l) <= 40), "{lines:?}");
        assert!(lines[0].starts_with("$ n=$(ip"), "{lines:?}");
        assert!(lines[..lines.len() - 1].iter().all(|l| l.ends_with(" \\")));
        assert!(lines[1..].iter().all(|l| l.starts_with("    ")));
        let joined: Vec<&str> = lines
            .iter()
            .map(|l| l.trim().trim_end_matches('\\').trim())
            .collect();
        assert_eq!(joined.join(" "), format!("$ {command}"));
        assert_eq!(command_lines("true", 40), vec!["$ true"]);
    }
}

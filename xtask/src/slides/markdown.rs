//! The Markdown the deck shows: inline text (`code`, **bold**, links) and a stage's notes as the
//! speaker view reads them.

use std::fmt::Write as _;

use notes::Block;

use super::html::esc;

/// Inline Markdown: `code`, **bold**, and links shown by their text.
pub fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, piece) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(piece));
            continue;
        }
        let mut rest = piece;
        while let Some(open) = rest.find('[') {
            let Some(mid) = rest[open..].find("](").map(|m| open + m) else {
                break;
            };
            let Some(close) = rest[mid..].find(')').map(|c| mid + c) else {
                break;
            };
            out.push_str(&bold(&esc(&rest[..open])));
            let _ = write!(
                out,
                "<span class=\"link\">{}</span>",
                bold(&esc(&rest[open + 1..mid]))
            );
            rest = &rest[close + 1..];
        }
        out.push_str(&bold(&esc(rest)));
    }
    out
}

fn bold(escaped: &str) -> String {
    let mut out = String::new();
    for (i, piece) in escaped.split("**").enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<b>{piece}</b>");
        } else {
            out.push_str(piece);
        }
    }
    out
}

/// A stage's notes as the speaker reads them: headings, paragraphs, lists, code blocks, and of
/// the demo blocks only the commands (their output is on the audience's screen).
pub fn notes_html(markdown: &str) -> String {
    let mut out = String::new();
    let mut in_list = false;
    for block in notes::blocks(markdown) {
        let item = matches!(block, Block::Item(_));
        if item != in_list {
            out.push_str(if item { "<ul>" } else { "</ul>" });
        }
        in_list = item;
        match block {
            Block::Heading { level: 1, text, .. } => {
                let _ = write!(out, "<h3 class=\"title\">{}</h3>", inline(text));
            }
            Block::Heading { text, .. } => {
                let _ = write!(out, "<h3>{}</h3>", inline(text));
            }
            Block::Paragraph(text) => {
                let _ = write!(out, "<p>{}</p>", inline(&text));
            }
            Block::Row(text) => {
                let _ = write!(out, "<p>{}</p>", inline(text.trim()));
            }
            Block::Item(text) => {
                let _ = write!(out, "<li>{}</li>", inline(text.trim()));
            }
            Block::Blank => {}
            Block::Code(code) => {
                let demo = code.demo().is_some();
                out.push_str(if demo {
                    "<pre class=\"cmds\">"
                } else {
                    "<pre>"
                });
                for line in code.lines.iter().map(|l| l.trim_end()) {
                    if !demo || line.starts_with("$ ") {
                        let _ = writeln!(out, "{}", esc(line));
                    }
                }
                out.push_str("</pre>");
            }
        }
    }
    if in_list {
        out.push_str("</ul>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markdown() {
        assert_eq!(
            inline("see [clone(2)](https://x) and `a<b` **now**"),
            "see <span class=\"link\">clone(2)</span> and <code>a&lt;b</code> <b>now</b>"
        );
        let notes = notes_html("# T\n\nOne\ntwo.\n\n- a\n  b\n- c\n\n```demo\n$ ls\nout\n```\n");
        assert!(notes.contains("<p>One two.</p>"), "{notes}");
        assert!(notes.contains("<ul><li>a b</li><li>c</li></ul>"), "{notes}");
        assert!(
            notes.contains("<pre class=\"cmds\">$ ls\n</pre>"),
            "{notes}"
        );
    }
}

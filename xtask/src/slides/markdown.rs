//! The Markdown the deck shows: inline text (`code`, **bold**, links) and a stage's notes as the
//! speaker view reads them.

use std::fmt::Write as _;

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
    let mut para = String::new();
    let mut item: Option<String> = None;
    let mut in_list = false;
    let mut fence: Option<(String, bool)> = None;
    let flush = |out: &mut String,
                 para: &mut String,
                 item: &mut Option<String>,
                 in_list: &mut bool,
                 end_list: bool| {
        if !para.is_empty() {
            let _ = write!(out, "<p>{}</p>", inline(para.trim()));
            para.clear();
        }
        if let Some(text) = item.take() {
            let _ = write!(out, "<li>{}</li>", inline(text.trim()));
        }
        if end_list && *in_list {
            out.push_str("</ul>");
            *in_list = false;
        }
    };
    for raw in markdown.lines() {
        let line = raw.trim_end();
        if let Some((ticks, demo)) = &fence {
            if line.trim_start().starts_with(ticks.as_str())
                && line.trim().trim_matches('`').is_empty()
            {
                out.push_str("</pre>");
                fence = None;
            } else if !demo || line.starts_with("$ ") {
                let _ = writeln!(out, "{}", esc(line));
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            flush(&mut out, &mut para, &mut item, &mut in_list, true);
            let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
            let demo = catalog::notes::demo_fence(&trimmed[ticks..]).is_some();
            out.push_str(if demo {
                "<pre class=\"cmds\">"
            } else {
                "<pre>"
            });
            fence = Some((trimmed[..ticks].to_string(), demo));
            continue;
        }
        if line.is_empty() {
            flush(&mut out, &mut para, &mut item, &mut in_list, true);
            continue;
        }
        if let Some(h) = line.strip_prefix("# ") {
            flush(&mut out, &mut para, &mut item, &mut in_list, true);
            let _ = write!(out, "<h3 class=\"title\">{}</h3>", inline(h));
            continue;
        }
        if line.starts_with("##") {
            flush(&mut out, &mut para, &mut item, &mut in_list, true);
            let _ = write!(
                out,
                "<h3>{}</h3>",
                inline(line.trim_start_matches('#').trim())
            );
            continue;
        }
        if let Some(text) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            flush(&mut out, &mut para, &mut item, &mut in_list, false);
            if !in_list {
                out.push_str("<ul>");
                in_list = true;
            }
            item = Some(text.to_string());
            continue;
        }
        match &mut item {
            Some(text) => {
                text.push(' ');
                text.push_str(trimmed);
            }
            None => {
                para.push(' ');
                para.push_str(trimmed);
            }
        }
    }
    flush(&mut out, &mut para, &mut item, &mut in_list, true);
    if fence.is_some() {
        out.push_str("</pre>");
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

//! A stage's code pages: the diff from the stage before, highlighted, paginated, and what does
//! not fit named with the command that shows it.

use super::highlight::highlight;
use super::html::{esc, Page, Row, LINES_PER_PAGE};
use super::{Deck, Part, DIFF_COLUMNS};
use crate::diff::{self, ChangeTag, FileDiff, Line};
use crate::present::lang::{Lang, Words};

/// Pages of code at most per stage: the story (`main.rs`) first; what does not fit is named on
/// the last page, with the command that shows it all.
pub(super) const MAX_CODE_PAGES: usize = 5;

/// The diff as rows, one a line on the page: file headers, hunk headers, folds, and lines
/// added, removed or kept, highlighted (comments apart from code), wrapped to [`DIFF_COLUMNS`].
fn diff_rows(files: &[FileDiff], lang: Lang, w: &Words) -> Vec<(Option<String>, Row)> {
    let mut rows: Vec<(Option<String>, Row)> = Vec::new();
    let row = |class, html| Row { class, html };
    let cont = diff::CONTINUED.trim_end();
    for file_diff in files {
        let (name, tag) = if file_diff.new == "/dev/null" {
            (&file_diff.old, format!(" <em>{}</em>", esc(w.removed_file)))
        } else if file_diff.old == "/dev/null" {
            (&file_diff.new, format!(" <em>{}</em>", esc(w.new_file)))
        } else {
            (&file_diff.new, String::new())
        };
        let file = Some(name.clone());
        rows.push((file.clone(), row("file", format!("{}{tag}", esc(name)))));
        for hunk in &file_diff.hunks {
            rows.push(match hunk.folded {
                Some(n) => {
                    let header = format!("{} {}", hunk.header, diff::folded(n));
                    (file.clone(), row("fold", esc(&lang.diff_line(&header))))
                }
                None => (file.clone(), row("hunk", esc(&hunk.header))),
            });
            for line in &hunk.lines {
                let (kind, text) = match line {
                    Line::Text(kind, text) => (*kind, text),
                    Line::Folded(n) => {
                        let html = esc(&lang.diff_line(&diff::folded(*n)));
                        rows.push((file.clone(), row("fold", html)));
                        continue;
                    }
                    Line::NoNewline => continue,
                };
                let comment = diff::is_comment(text);
                let class = match (kind, comment) {
                    (ChangeTag::Insert, false) => "add",
                    (ChangeTag::Insert, true) => "add com",
                    (ChangeTag::Delete, false) => "del",
                    (ChangeTag::Delete, true) => "del com",
                    (ChangeTag::Equal, true) => "ctx com",
                    (ChangeTag::Equal, false) => "ctx",
                };
                for piece in diff::pieces(kind, text, Some(DIFF_COLUMNS)) {
                    // After the sign: the text, or on the lines it goes on in, the marker first.
                    let rest = &piece[1..];
                    let body = rest.trim_start();
                    let code = if comment {
                        format!("<span class=\"c\">{}</span>", esc(rest))
                    } else if let Some(tail) = body.strip_prefix(cont) {
                        let indent = &rest[..rest.len() - body.len()];
                        format!(
                            "{}<span class=\"cont\">{}</span>{}",
                            esc(indent),
                            esc(cont),
                            highlight(tail)
                        )
                    } else {
                        highlight(rest)
                    };
                    let sign = esc(&kind.to_string());
                    let html = format!("<span class=\"sign\">{sign}</span>{code}");
                    rows.push((file.clone(), row(class, html)));
                }
            }
        }
    }
    rows
}

pub(super) fn code_pages(deck: &Deck, part: &Part, w: &Words) -> Vec<Page> {
    let stage = part.stage;
    // Pages of LINES_PER_PAGE rows; a page that starts inside a file says which, and a file's
    // or a hunk's header never ends a page.
    let mut pages: Vec<Vec<Row>> = Vec::new();
    let mut current: Vec<Row> = Vec::new();
    for (file, row) in diff_rows(&part.diff, deck.lang, w) {
        let heads = matches!(row.class, "file" | "hunk");
        let room = LINES_PER_PAGE - current.len();
        if room == 0 || (heads && room <= 1) {
            pages.push(std::mem::take(&mut current));
            if let Some(file) = file.filter(|_| row.class != "file") {
                current.push(Row {
                    class: "file cont",
                    html: format!("{} <em>({})</em>", esc(&file), esc(w.continued)),
                });
            }
        }
        current.push(row);
    }
    if !current.is_empty() {
        pages.push(current);
    }
    let shown = pages.len().min(part.code_pages.max(1));
    let mut hidden: Vec<Row> = pages.drain(shown..).flatten().collect();
    if !hidden.is_empty() {
        // The last page shown makes room for the line that names what is not.
        let last = &mut pages[shown - 1];
        let keep = LINES_PER_PAGE.saturating_sub(3).min(last.len());
        let moved: Vec<Row> = last.drain(keep..).collect();
        hidden.splice(0..0, moved);
    }
    let mut out = Vec::new();
    for (n, page) in pages.iter().enumerate() {
        let lines: String = page
            .iter()
            .map(|row| format!("<div class=\"row {}\">{}</div>\n", row.class, row.html))
            .collect();
        let rest = if n + 1 == shown && !hidden.is_empty() {
            let files: Vec<String> = hidden
                .iter()
                .filter(|r| r.class == "file")
                .map(|r| strip_tags(&r.html))
                .collect();
            let lines = hidden
                .iter()
                .filter(|r| !r.class.starts_with("file"))
                .count();
            format!(
                "<p class=\"rest\">{} ({lines} {}{}): <code>cargo xtask diff {}</code></p>",
                esc(w.not_shown),
                esc(w.more_lines),
                if files.is_empty() {
                    String::new()
                } else {
                    format!("; {}", esc(&files.join(", ")))
                },
                esc(stage.name)
            )
        } else {
            String::new()
        };
        out.push(Page {
            class: "code",
            label: format!("{} — {} {}/{}", stage.name, w.code, n + 1, shown),
            html: format!(
                "<header><h2>{} — {} <small>{}/{}</small></h2><p class=\"sub\">{}</p></header>\
                 <div class=\"listing\">{lines}</div>{rest}",
                esc(stage.name),
                esc(w.code),
                n + 1,
                shown,
                esc(&part.diff_heading)
            ),
        });
    }
    out
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

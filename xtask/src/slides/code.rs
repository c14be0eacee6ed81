//! A stage's code pages: the diff from the stage before, highlighted, paginated, and what does
//! not fit named with the command that shows it.

use super::highlight::highlight;
use super::html::{esc, Page, Row, LINES_PER_PAGE};
use super::Part;
use crate::diff;
use crate::present::lang::Words;

/// Pages of code at most per stage: the story (`main.rs`) first; what does not fit is named on
/// the last page, with the command that shows it all.
const MAX_CODE_PAGES: usize = 5;

/// The diff as rows, one a line on the page: file headers, hunk headers, folds, and lines
/// added, removed or kept, highlighted (comments apart from code).
fn diff_rows(text: &str, w: &Words) -> Vec<(Option<String>, Row)> {
    let mut rows: Vec<(Option<String>, Row)> = Vec::new();
    let mut file: Option<String> = None;
    let mut old_name = String::new();
    let mut comment = false;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("--- ") {
            old_name = name.to_string();
            continue;
        }
        if let Some(name) = line.strip_prefix("+++ ") {
            let (name, tag) = if name == "/dev/null" {
                (
                    old_name.clone(),
                    format!(" <em>{}</em>", esc(w.removed_file)),
                )
            } else if old_name == "/dev/null" {
                (name.to_string(), format!(" <em>{}</em>", esc(w.new_file)))
            } else {
                (name.to_string(), String::new())
            };
            file = Some(name.clone());
            rows.push((
                file.clone(),
                Row {
                    class: "file",
                    html: format!("{}{tag}", esc(&name)),
                },
            ));
            continue;
        }
        if line.starts_with("\\ ") {
            continue;
        }
        let row = if line.starts_with("@@") {
            comment = false;
            Row {
                class: if line.contains('…') { "fold" } else { "hunk" },
                html: esc(line),
            }
        } else if line.starts_with(" …") {
            Row {
                class: "fold",
                html: esc(line.trim_start()),
            }
        } else {
            let (sign, rest) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
            let body = rest.trim_start();
            let continued = body.starts_with(diff::CONTINUED.trim_end());
            if !continued {
                comment = rest.trim_start().starts_with("//");
            }
            let class = match (sign, comment) {
                ("+", false) => "add",
                ("+", true) => "add com",
                ("-", false) => "del",
                ("-", true) => "del com",
                (_, true) => "ctx com",
                _ => "ctx",
            };
            let code = if comment {
                format!("<span class=\"c\">{}</span>", esc(rest))
            } else if continued {
                let indent = &rest[..rest.len() - body.len()];
                let tail = body.trim_start_matches(diff::CONTINUED.trim_end());
                format!(
                    "{}<span class=\"cont\">{}</span>{}",
                    esc(indent),
                    esc(diff::CONTINUED.trim_end()),
                    highlight(tail)
                )
            } else {
                highlight(rest)
            };
            Row {
                class,
                html: format!("<span class=\"sign\">{}</span>{code}", esc(sign)),
            }
        };
        rows.push((file.clone(), row));
    }
    rows
}

pub(super) fn code_pages(part: &Part, w: &Words) -> Vec<Page> {
    let stage = part.stage;
    // Pages of LINES_PER_PAGE rows; a page that starts inside a file says which, and a file's
    // or a hunk's header never ends a page.
    let mut pages: Vec<Vec<Row>> = Vec::new();
    let mut current: Vec<Row> = Vec::new();
    for (file, row) in diff_rows(&part.diff, w) {
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
    let shown = pages.len().min(MAX_CODE_PAGES);
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

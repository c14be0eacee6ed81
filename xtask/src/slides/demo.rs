//! A stage's demo pages: each demo's command, its output as recorded (or as the notes promise,
//! when not run) and how it ended, paginated without splitting a demo.

use std::fmt::Write as _;

use super::html::{esc, recorded_line, Page, Row, LINES_PER_PAGE};
use super::{Deck, DemoRun, Outcome, Part};
use crate::diff;
use crate::present::lang::{Lang, Words};

/// Output lines shown per demo; the rest is counted.
const MAX_OUTPUT_LINES: usize = 11;

/// Columns a demo's command and output are broken at.
const DEMO_COLUMNS: usize = 80;

/// One demo as rows: its command, its output as recorded (stderr, the stage's teaching lines,
/// dimmed), and how it ended.
fn demo_rows(run: &DemoRun, lang: Lang, w: &Words) -> Vec<Row> {
    let mut rows = Vec::new();
    if let Some(other) = &run.demo.stage {
        rows.push(Row {
            class: "note",
            html: format!("({} {})", esc(w.run_in), esc(other)),
        });
    }
    for (i, piece) in diff::break_line(&format!("$ {}", run.demo.command), DEMO_COLUMNS, "  ")
        .iter()
        .enumerate()
    {
        let piece = if i == 0 {
            format!(
                "<span class=\"prompt\">$</span> {}",
                esc(piece.trim_start_matches("$ "))
            )
        } else {
            esc(piece)
        };
        rows.push(Row {
            class: "cmd",
            html: piece,
        });
    }
    let (lines, status): (Vec<(bool, String)>, String) = match &run.outcome {
        Outcome::Ran {
            lines,
            code,
            as_promised,
        } => {
            let mut status = String::new();
            if *code != 0 {
                status = lang.exited(*code);
                status.push(' ');
            }
            let _ = write!(
                status,
                "{} {}",
                if *as_promised { "✓" } else { "⚠" },
                if *as_promised {
                    w.as_promised
                } else {
                    w.unlike_notes
                }
            );
            (lines.clone(), status)
        }
        Outcome::NotRun(why) => {
            let mut lines: Vec<(bool, String)> = run
                .demo
                .expected
                .iter()
                .map(|l| (false, l.clone()))
                .collect();
            if lines.is_empty() && run.demo.exit != 0 {
                lines.clear();
            }
            let mut status = String::new();
            if run.demo.exit != 0 {
                status = lang.exited(run.demo.exit);
                status.push(' ');
            }
            status.push_str(w.not_run);
            if !why.is_empty() && why != "--no-run" {
                let _ = write!(status, " ({why})");
            }
            (lines, status)
        }
    };
    let mut output: Vec<Row> = Vec::new();
    for (from_stderr, line) in &lines {
        let lead = line.len() - line.trim_start().len();
        for piece in diff::break_line(line, DEMO_COLUMNS, &line[..lead]) {
            output.push(Row {
                class: if *from_stderr { "err" } else { "out" },
                html: esc(&piece),
            });
        }
    }
    if output.len() > MAX_OUTPUT_LINES {
        let more = output.len() - (MAX_OUTPUT_LINES - 1);
        output.truncate(MAX_OUTPUT_LINES - 1);
        output.push(Row {
            class: "note",
            html: format!("… {more} {}", esc(w.more_lines)),
        });
    }
    rows.extend(output);
    for piece in diff::break_line(&status, DEMO_COLUMNS, "") {
        rows.push(Row {
            class: "status",
            html: esc(&piece),
        });
    }
    rows
}

pub(super) fn demo_pages(deck: &Deck, part: &Part, w: &Words) -> Vec<Page> {
    let mut pages: Vec<Vec<Row>> = Vec::new();
    let mut current: Vec<Row> = Vec::new();
    for run in &part.demos {
        let rows = demo_rows(run, deck.lang, w);
        // A blank line between demos; a demo starts a new page rather than be split.
        let need = rows.len() + usize::from(!current.is_empty());
        if !current.is_empty() && current.len() + need > LINES_PER_PAGE {
            pages.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(Row {
                class: "gap",
                html: String::new(),
            });
        }
        current.extend(rows);
    }
    if !current.is_empty() {
        pages.push(current);
    }
    let n = pages.len();
    pages
        .into_iter()
        .enumerate()
        .map(|(i, rows)| {
            let lines: String = rows
                .iter()
                .map(|r| format!("<div class=\"row {}\">{}</div>\n", r.class, r.html))
                .collect();
            Page {
                class: "demo",
                label: format!("{} — {} {}/{n}", part.stage.name, w.demo, i + 1),
                html: format!(
                    "<header><h2>{} — {} <small>{}/{n}</small></h2><p class=\"sub\">{}</p>\
                     </header><div class=\"listing term\">{lines}</div>",
                    esc(part.stage.name),
                    esc(w.demo),
                    i + 1,
                    esc(&recorded_line(deck, w))
                ),
            }
        })
        .collect()
}

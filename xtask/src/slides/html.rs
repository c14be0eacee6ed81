//! The deck as one HTML page: slides of pages, made from the [`Deck`] gathered in `slides.rs`.
//!
//! Every page is laid out on a 80 × 45 rem canvas (16:9) whose rem follows the window
//! (`deck.css`), so what fits at 1280×720 fits at 1920×1080 and on paper: the code and the demo
//! output are paginated here, a fixed number of lines a page, lines already broken to 81
//! columns by the diff module. The page checks itself that nothing overflows (`#selftest`).

use std::fmt::Write as _;

use catalog::{Attack, Property};

use super::words::{self, Words};
use super::{Deck, DemoRun, Outcome, Part};
use crate::diff;
use crate::present::lang::Lang;

/// Lines of code or demo output on one page: what 1.4 rem monospace leaves room for under a
/// page's heading.
const LINES_PER_PAGE: usize = 19;

/// Pages of code at most per stage: the story (`main.rs`) first; what does not fit is named on
/// the last page, with the command that shows it all.
const MAX_CODE_PAGES: usize = 5;

/// Output lines shown per demo; the rest is counted.
const MAX_OUTPUT_LINES: usize = 11;

/// Columns a demo's command and output are broken at.
const DEMO_COLUMNS: usize = 80;

const CSS: &str = include_str!("deck.css");
const JS: &str = include_str!("deck.js");

/// The policy that proves the page asks for nothing: no fetch, no font, no frame, no image but
/// inline data, scripts and styles only inline.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
                       img-src data:";

/// Escapes text for HTML.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn render(deck: &Deck) -> String {
    let w = words::words(deck.lang);
    let total = deck.stages.len() + 2;
    let mut slides: Vec<Slide> = vec![title_slide(deck, w)];
    for (i, part) in deck.stages.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| &deck.stages[j]);
        slides.push(stage_slide(deck, part, before, w));
    }
    slides.push(closing_slide(deck, w));
    let mut body = String::new();
    for (i, slide) in slides.iter().enumerate() {
        let _ = writeln!(
            body,
            "<section class=\"slide\" id=\"slide-{i}\" data-name=\"{}\">",
            esc(&slide.name)
        );
        let pages = slide.pages.len();
        for (j, page) in slide.pages.iter().enumerate() {
            let _ = writeln!(
                body,
                "<div class=\"page {}\" data-label=\"{}\">{}<footer><span>desde-cero · {}</span>\
                 <span>{} / {} · {}{}</span></footer></div>",
                page.class,
                esc(&page.label),
                page.html,
                esc(w.talk),
                i,
                total - 1,
                esc(&slide.name),
                if pages > 1 {
                    format!(" · {}/{pages}", j + 1)
                } else {
                    String::new()
                },
            );
        }
        let _ = write!(
            body,
            "<aside class=\"notes\">{}</aside>\n</section>\n",
            slide.notes
        );
    }
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>desde-cero — {talk}</title>\n<style>\n{CSS}</style>\n</head>\n\
         <body data-stages=\"{stages}\" data-words=\"{words}\">\n<main id=\"deck\">\n{body}</main>\n\
         <div id=\"progress\"></div><div id=\"jump\" hidden></div><div id=\"toast\" hidden></div>\n\
         <script>\n{JS}</script>\n</body>\n</html>\n",
        lang = w.html_lang,
        csp = CSP,
        talk = esc(w.talk),
        stages = deck.stages.len(),
        words = esc(&js_words(w)),
    )
}

/// The words the script shows, as JSON (in a data attribute).
fn js_words(w: &Words) -> String {
    let pairs = [
        ("speaker", w.speaker),
        ("now", w.now),
        ("next", w.next),
        ("elapsed", w.elapsed),
        ("keys", w.speaker_keys),
        ("blocked", w.popup_blocked),
        ("end", w.the_end),
    ];
    let items: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "\"{k}\":\"{}\"",
                v.replace('\\', "\\\\").replace('"', "\\\"")
            )
        })
        .collect();
    format!("{{{}}}", items.join(","))
}

struct Slide {
    name: String,
    pages: Vec<Page>,
    /// The speaker's notes, HTML.
    notes: String,
}

struct Page {
    class: &'static str,
    /// What the speaker view calls it.
    label: String,
    html: String,
}

fn title_slide(deck: &Deck, w: &Words) -> Slide {
    let mut html = format!(
        "<div class=\"title-block\"><h1>desde-cero</h1><p class=\"talk\">{}</p>\
         <p class=\"sub\">{}</p></div><ol class=\"toc\">",
        esc(w.talk),
        esc(w.subtitle)
    );
    for part in &deck.stages {
        let _ = write!(
            html,
            "<li><b>{}</b> <code>{}</code> {}</li>",
            part.stage.number,
            esc(part.stage.name),
            esc(deck.lang.summary(part.stage))
        );
    }
    html.push_str("</ol>");
    let _ = write!(
        html,
        "<p class=\"meta\">{}</p><p class=\"meta keys\">{}</p>",
        esc(&recorded_line(deck, w)),
        esc(w.keys)
    );
    Slide {
        name: "desde-cero".to_string(),
        pages: vec![Page {
            class: "title",
            label: w.talk.to_string(),
            html,
        }],
        notes: format!(
            "<p>{}</p><p>{}</p>",
            esc(w.keys),
            esc(&recorded_line(deck, w))
        ),
    }
}

fn recorded_line(deck: &Deck, w: &Words) -> String {
    match &deck.recorded {
        Some(r) => format!(
            "{}: {} · Linux {} ({})",
            w.recorded, r.when, r.kernel, r.arch
        ),
        None => w.not_recorded.to_string(),
    }
}

fn stage_slide(deck: &Deck, part: &Part, before: Option<&Part>, w: &Words) -> Slide {
    let stage = part.stage;
    let lang = deck.lang;
    let title = lang.title(stage, catalog::STAGES.len());
    let mut pages = vec![
        Page {
            class: "idea",
            label: title.clone(),
            html: format!(
                "<header><h2>{}</h2><p class=\"idea-text\">{}</p></header>{}",
                esc(&title),
                esc(lang.summary(stage)),
                picture(part, before, lang, w)
            ),
        },
        Page {
            class: "matrix-row",
            label: format!("{} — {}", stage.name, w.isolates),
            html: isolation(part, lang, w),
        },
    ];
    pages.extend(code_pages(part, w));
    pages.extend(demo_pages(deck, part, w));
    Slide {
        name: stage.name.to_string(),
        pages,
        notes: notes_html(&part.notes),
    }
}

/// A chip's label in the picture.
fn chip(lang: Lang, p: Property) -> &'static str {
    let es = lang == Lang::Es;
    match p {
        Property::UtsNs => "uts",
        Property::PidNs => "pid",
        Property::MountNs => "mnt",
        Property::IpcNs => "ipc",
        Property::NetNs => "net",
        Property::UserNs => "user",
        Property::CgroupNs => "cgroup",
        Property::PidsLimit => "pids",
        Property::MemoryLimit if es => "memoria",
        Property::MemoryLimit => "memory",
        Property::CpuLimit => "cpu",
        Property::OwnRoot if es => "raíz propia (chroot)",
        Property::OwnRoot => "own root (chroot)",
        Property::HostRootUnreachable if es => "raíz del host inalcanzable",
        Property::HostRootUnreachable => "host root unreachable",
        Property::ProcIsolated if es => "/proc propio",
        Property::ProcIsolated => "own /proc",
        Property::RootNotHostRoot if es => "root ≠ root del host",
        Property::RootNotHostRoot => "root ≠ host root",
        Property::CapsReduced if es => "menos capabilities",
        Property::CapsReduced => "fewer capabilities",
        Property::NoNewPrivs => "no_new_privs",
        Property::Pid1 => "PID 1",
        Property::Hostname => "hostname: container",
    }
}

/// The layers of the picture, outside in, each with its properties.
const LAYERS: [&[Property]; 4] = [
    &[
        Property::UtsNs,
        Property::PidNs,
        Property::MountNs,
        Property::IpcNs,
        Property::NetNs,
        Property::UserNs,
        Property::CgroupNs,
    ],
    &[
        Property::PidsLimit,
        Property::MemoryLimit,
        Property::CpuLimit,
    ],
    &[
        Property::OwnRoot,
        Property::HostRootUnreachable,
        Property::ProcIsolated,
    ],
    &[
        Property::RootNotHostRoot,
        Property::CapsReduced,
        Property::NoNewPrivs,
    ],
];

/// What isolates the process at this stage, drawn from the catalog: a box per layer (solid
/// when it has anything), a chip per property (lit when the stage has it, marked when it is new
/// here, struck through when an earlier stage had it and this one drops it). The same layout on
/// every stage, so stepping through the talk fills it in.
fn picture(part: &Part, before: Option<&Part>, lang: Lang, w: &Words) -> String {
    let has = catalog::expected(part.stage);
    let had = before.map_or(Vec::new(), |b| catalog::expected(b.stage));
    let chip_html = |p: Property| {
        let class = if has.contains(&p) {
            if had.contains(&p) {
                "chip on"
            } else {
                "chip on new"
            }
        } else if had.contains(&p) {
            "chip dropped"
        } else {
            "chip off"
        };
        format!("<span class=\"{class}\">{}</span>", esc(chip(lang, p)))
    };
    let mut open = String::new();
    for (i, props) in LAYERS.iter().enumerate() {
        let on = props.iter().any(|p| has.contains(p));
        let chips: String = props.iter().map(|p| chip_html(*p)).collect();
        let _ = write!(
            open,
            "<div class=\"layer {}\"><div class=\"lrow\"><span class=\"lname\">{}</span>{chips}\
             </div>",
            if on { "on" } else { "off" },
            esc(w.layers[i])
        );
    }
    let filter_new = part.filter && !before.is_some_and(|b| b.filter);
    let _ = write!(
        open,
        "<div class=\"layer {}\"><div class=\"lrow\"><span class=\"lname\">{}</span>\
         <span class=\"chip {}\">seccomp</span></div>",
        if part.filter { "on" } else { "off" },
        esc(w.layers[4]),
        match (part.filter, filter_new) {
            (true, true) => "on new",
            (true, false) => "on",
            _ => "off",
        }
    );
    let _ = write!(
        open,
        "<div class=\"core\"><span class=\"lname\">{}</span>{}{}</div>",
        esc(w.layers[5]),
        chip_html(Property::Pid1),
        chip_html(Property::Hostname)
    );
    open.push_str(&"</div>".repeat(LAYERS.len() + 1));
    format!(
        "<div class=\"picture\"><div class=\"host\"><span class=\"lname\">host</span>{open}</div>\
         </div>"
    )
}

/// The stage's row of the isolation matrix, and its attacks, from the catalog.
fn isolation(part: &Part, lang: Lang, w: &Words) -> String {
    let stage = part.stage;
    let has = catalog::expected(stage);
    let had = catalog::previous(stage).map_or(Vec::new(), catalog::expected);
    let stopped_before = catalog::previous(stage).map_or(&[][..], |s| s.stops);
    let mut html = format!(
        "<header><h2>{} — {}</h2></header><div class=\"cols\"><div><h3>{}</h3><ul class=\"marks\">",
        esc(stage.name),
        esc(lang.summary(stage)),
        esc(w.isolates)
    );
    for &p in Property::ALL {
        let (class, mark) = match (has.contains(&p), had.contains(&p)) {
            (true, false) => ("yes new", "✓"),
            (true, true) => ("yes", "✓"),
            (false, true) => ("dropped", "✗"),
            (false, false) => ("no", "·"),
        };
        let tag = match class {
            "yes new" => format!(" <em>{}</em>", esc(w.new)),
            "dropped" => format!(" <em>{}</em>", esc(w.dropped)),
            _ => String::new(),
        };
        let _ = write!(
            html,
            "<li class=\"{class}\"><b>{mark}</b><code>{}</code><span>{}{tag}</span></li>",
            esc(p.label()),
            esc(words::property(lang, p))
        );
    }
    let _ = write!(
        html,
        "</ul></div><div><h3>{}</h3><ul class=\"marks\">",
        esc(w.stops)
    );
    for &a in Attack::ALL {
        let stops = stage.stops.contains(&a);
        // Stopped: a tick; getting through: a cross; what changed here: a word.
        let (class, mark) = match (stops, stopped_before.contains(&a)) {
            (true, false) => ("yes new", "✓"),
            (true, true) => ("yes", "✓"),
            (false, true) => ("dropped", "✗"),
            (false, false) => ("through", "✗"),
        };
        let tag = match class {
            "yes new" => format!(" <em>{}</em>", esc(w.new)),
            "dropped" => format!(" <em>{}</em>", esc(w.gets_through)),
            _ => String::new(),
        };
        let _ = write!(
            html,
            "<li class=\"{class}\"><b>{mark}</b><code>{}</code><span>{}{tag}</span></li>",
            esc(a.label()),
            esc(words::attack(lang, a))
        );
    }
    html.push_str("</ul>");
    if !stage.drops_why.is_empty() && lang == Lang::En {
        let _ = write!(
            html,
            "<p class=\"why\">{} {}</p>",
            esc(w.dropped),
            inline(stage.drops_why)
        );
    }
    html.push_str("</div></div>");
    html
}

/// One line of a code page.
struct Row {
    class: &'static str,
    html: String,
}

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

fn code_pages(part: &Part, w: &Words) -> Vec<Page> {
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

fn demo_pages(deck: &Deck, part: &Part, w: &Words) -> Vec<Page> {
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

fn closing_slide(deck: &Deck, w: &Words) -> Slide {
    let lang = deck.lang;
    let head: String = catalog::STAGES
        .iter()
        .map(|s| format!("<th><span>{} {}</span></th>", s.number, esc(s.name)))
        .collect();
    let table = |rows: Vec<(String, String, Vec<bool>)>| {
        let mut html =
            format!("<table class=\"matrix\"><thead><tr><th></th>{head}</tr></thead><tbody>");
        for (label, what, cells) in rows {
            let _ = write!(
                html,
                "<tr><td class=\"label\"><code>{}</code> {}</td>",
                esc(&label),
                esc(&what)
            );
            for yes in cells {
                html.push_str(if yes {
                    "<td class=\"yes\">✓</td>"
                } else {
                    "<td class=\"no\">·</td>"
                });
            }
            html.push_str("</tr>");
        }
        html.push_str("</tbody></table>");
        html
    };
    let isolation = table(
        Property::ALL
            .iter()
            .map(|&p| {
                let cells = catalog::STAGES
                    .iter()
                    .map(|s| catalog::expected(s).contains(&p))
                    .collect();
                (
                    p.label().to_string(),
                    words::property(lang, p).to_string(),
                    cells,
                )
            })
            .collect(),
    );
    let attacks = table(
        Attack::ALL
            .iter()
            .map(|&a| {
                let cells = catalog::STAGES
                    .iter()
                    .map(|s| s.stops.contains(&a))
                    .collect();
                (
                    a.label().to_string(),
                    words::attack(lang, a).to_string(),
                    cells,
                )
            })
            .collect(),
    );
    let page = |what: &str, table: String| Page {
        class: "close",
        label: format!("{} — {what}", w.whole_matrix),
        html: format!(
            "<header><h2>{} — {}</h2></header>{table}",
            esc(w.whole_matrix),
            esc(what)
        ),
    };
    Slide {
        name: w.the_end.to_string(),
        pages: vec![page(w.isolation, isolation), page(w.attacks, attacks)],
        notes: format!(
            "<p><code>cargo xtask matrix</code> · <code>cargo xtask run full -- sh</code></p><p>{}</p>",
            esc(&recorded_line(deck, w))
        ),
    }
}

/// Rust keywords the highlighter marks.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while",
];

/// One line of Rust, highlighted: keywords, types, macros, strings, chars, numbers,
/// attributes and comments, each a `<span>` of its class. Line by line: a string that goes on
/// to the next line is coloured as code there (rare in the slides, and harmless).
pub fn highlight(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::new();
    let span = |out: &mut String, class: &str, text: &[char]| {
        let text: String = text.iter().collect();
        let _ = write!(out, "<span class=\"{class}\">{}</span>", esc(&text));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            span(&mut out, "c", &chars[i..]);
            break;
        }
        let raw = c == 'r' && matches!(next, Some('"' | '#'));
        if c == '"' || (c == 'b' && next == Some('"')) || raw {
            let mut j = i + 1;
            if raw {
                let hashes = chars[j..].iter().take_while(|&&h| h == '#').count();
                j += hashes + 1;
                let close: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat('#').take(hashes))
                    .collect();
                while j < chars.len() && !chars[j..].starts_with(&close) {
                    j += 1;
                }
                j = (j + close.len()).min(chars.len());
            } else {
                if c == 'b' {
                    j += 1;
                }
                while j < chars.len() {
                    match chars[j] {
                        '\\' => j += 2,
                        '"' => {
                            j += 1;
                            break;
                        }
                        _ => j += 1,
                    }
                }
                j = j.min(chars.len());
            }
            span(&mut out, "s", &chars[i..j]);
            i = j;
            continue;
        }
        if c == '\'' {
            // A char literal ('a', '\n', '\u{1F600}'), else a lifetime ('a, 'static).
            let end = if next == Some('\\') {
                // The escaped character itself may be a quote: look past it.
                chars
                    .get(i + 3..)
                    .and_then(|rest| rest.iter().position(|&x| x == '\''))
                    .map(|p| i + 3 + p + 1)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            if let Some(end) = end {
                span(&mut out, "s", &chars[i..end]);
                i = end;
            } else {
                let j = i
                    + 1
                    + chars[i + 1..]
                        .iter()
                        .take_while(|x| x.is_alphanumeric() || **x == '_')
                        .count();
                span(&mut out, "l", &chars[i..j]);
                i = j;
            }
            continue;
        }
        if c == '#' && matches!(next, Some('[' | '!')) {
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                match chars[j] {
                    '[' => depth += 1,
                    ']' => {
                        depth -= 1;
                        if depth == 0 {
                            j += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            span(&mut out, "a", &chars[i..j.min(chars.len())]);
            i = j.min(chars.len());
            continue;
        }
        if c.is_ascii_digit() {
            let j = i + chars[i..]
                .iter()
                .take_while(|x| x.is_ascii_alphanumeric() || **x == '_')
                .count();
            span(&mut out, "n", &chars[i..j]);
            i = j;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let j = i + chars[i..]
                .iter()
                .take_while(|x| x.is_alphanumeric() || **x == '_')
                .count();
            let word: String = chars[i..j].iter().collect();
            if chars.get(j) == Some(&'!') && chars.get(j + 1) != Some(&'=') {
                span(&mut out, "m", &chars[i..=j]);
                i = j + 1;
                continue;
            }
            if KEYWORDS.contains(&word.as_str()) {
                span(&mut out, "k", &chars[i..j]);
            } else if c.is_uppercase() {
                span(&mut out, "t", &chars[i..j]);
            } else {
                out.push_str(&esc(&word));
            }
            i = j;
            continue;
        }
        out.push_str(&esc(&c.to_string()));
        i += 1;
    }
    out
}

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
    fn highlighting_marks_and_escapes() {
        let h = highlight("let x = \"a<b\"; // why & how");
        assert!(h.contains("<span class=\"k\">let</span>"), "{h}");
        assert!(
            h.contains("<span class=\"s\">&quot;a&lt;b&quot;</span>"),
            "{h}"
        );
        assert!(
            h.contains("<span class=\"c\">// why &amp; how</span>"),
            "{h}"
        );
        let h = highlight("fn f<'a>(c: char) -> bool { c == '\\'' || println!(\"x\") }");
        assert!(h.contains("<span class=\"l\">&#39;a</span>"), "{h}");
        assert!(
            h.contains("<span class=\"s\">&#39;\\&#39;&#39;</span>"),
            "{h}"
        );
        assert!(h.contains("<span class=\"m\">println!</span>"), "{h}");
        assert!(highlight("#[path = \"x\"]").starts_with("<span class=\"a\">"));
    }

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

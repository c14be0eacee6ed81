//! The deck as one HTML page, the document around the slides: the page's shell (its policy, CSS
//! and script), the slides and their pages, the title and the closing slide. A stage's pages
//! are made in [`isolation`](super::isolation), [`code`](super::code) and [`demo`](super::demo).
//!
//! Every page is laid out on a 80 × 45 rem canvas (16:9) whose rem follows the window
//! (`deck.css`), so what fits at 1280×720 fits at 1920×1080 and on paper: the code and the demo
//! output are paginated, a fixed number of lines a page, lines already broken to 81
//! columns by the diff module. The page checks itself that nothing overflows (`#selftest`).

use std::fmt::Write as _;

use catalog::{Attack, Property};

use super::code::code_pages;
use super::demo::demo_pages;
use super::isolation::{isolation, picture};
use super::markdown::{inline, notes_html};
use super::{Deck, Part};
use crate::present::lang::Words;

/// Lines of code or demo output on one page: what 1.4 rem monospace leaves room for under a
/// page's heading.
pub(super) const LINES_PER_PAGE: usize = 19;

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
    let w = deck.lang.words();
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
         <body data-stages=\"{stages}\" data-words=\"{words}\"{plan}>\n<main id=\"deck\">\n{body}</main>\n\
         <div id=\"progress\"></div><div id=\"jump\" hidden></div><div id=\"toast\" hidden></div>\n\
         <script>\n{JS}</script>\n</body>\n</html>\n",
        lang = deck.lang.code(),
        csp = CSP,
        talk = esc(w.talk),
        stages = deck.stages.len(),
        words = esc(&js_words(w)),
        plan = match &deck.plan {
            Some(plan) => format!(" data-plan=\"{}\"", esc(&js_plan(plan))),
            None => String::new(),
        },
    )
}

/// A planned deck's plan, as JSON (in a data attribute), for the speaker view's clock: each
/// stage's slide, planned start and minutes (seconds), and the whole.
fn js_plan(plan: &crate::plan::Plan) -> String {
    let stops: Vec<String> = plan
        .stops
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{{\"slide\":{},\"stage\":\"{}\",\"start\":{},\"length\":{}}}",
                i + 1,
                s.stage.name,
                plan.start(i),
                u64::from(s.minutes) * 60
            )
        })
        .collect();
    format!(
        "{{\"name\":\"{}\",\"total\":{},\"stops\":[{}]}}",
        plan.name,
        plan.total(),
        stops.join(",")
    )
}

/// The words the script shows, as JSON (in a data attribute).
fn js_words(w: &Words) -> String {
    let pairs = [
        ("speaker", w.speaker),
        ("now", w.now),
        ("next", w.next_up),
        ("elapsed", w.elapsed),
        ("keys", w.speaker_keys),
        ("blocked", w.popup_blocked),
        ("end", w.the_end),
        ("of", w.of),
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

pub(super) struct Page {
    pub(super) class: &'static str,
    /// What the speaker view calls it.
    pub(super) label: String,
    pub(super) html: String,
}

/// One line of a code or demo page.
pub(super) struct Row {
    pub(super) class: &'static str,
    pub(super) html: String,
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
            part.stage.number(),
            esc(part.stage.name),
            esc(deck.lang.summary(part.stage))
        );
    }
    html.push_str("</ol>");
    // A route's deck says which talk it is, and its planned length.
    if let Some(plan) = &deck.plan {
        let _ = write!(
            html,
            "<p class=\"meta\"><code>{}</code> · {} min</p>",
            esc(&plan.flag()),
            plan.total() / 60
        );
    }
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

pub(super) fn recorded_line(deck: &Deck, w: &Words) -> String {
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
    let mut pages = vec![Page {
        class: "idea",
        label: title.clone(),
        html: format!(
            "<header><h2>{}</h2><p class=\"idea-text\">{}</p></header>{}",
            esc(&title),
            esc(lang.summary(stage)),
            picture(part, before, lang, w)
        ),
    }];
    // A route's deck leaves each stage's row of the matrix to the closing slide's whole
    // matrix: the picture on the stage's first page says what isolates it, in fewer pages.
    if deck.plan.is_none() {
        pages.push(Page {
            class: "matrix-row",
            label: format!("{} — {}", stage.name, w.isolates),
            html: isolation(part, lang, w),
        });
    }
    pages.extend(code_pages(deck, part, w));
    pages.extend(demo_pages(deck, part, w));
    // A planned deck's speaker view reads the script first, then the notes.
    let mut notes = String::new();
    if deck.plan.is_some() && !part.script.is_empty() {
        let _ = write!(
            notes,
            "<div class=\"script\"><h3>{}</h3><ul>",
            esc(crate::plan::SCRIPT_HEADINGS[usize::from(lang.code() == "es")])
        );
        for said in &part.script {
            let _ = write!(notes, "<li>{}</li>", inline(said));
        }
        notes.push_str("</ul></div>");
    }
    notes.push_str(&notes_html(&part.notes));
    Slide {
        name: stage.name.to_string(),
        pages,
        notes,
    }
}

fn closing_slide(deck: &Deck, w: &Words) -> Slide {
    let lang = deck.lang;
    let stages: Vec<&catalog::Stage> = deck.stages.iter().map(|p| p.stage).collect();
    let head: String = stages
        .iter()
        .map(|s| format!("<th><span>{} {}</span></th>", s.number(), esc(s.name)))
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
                let cells = stages
                    .iter()
                    .map(|s| catalog::expected(s).contains(&p))
                    .collect();
                (p.label().to_string(), lang.property(p).to_string(), cells)
            })
            .collect(),
    );
    let attacks = table(
        Attack::ALL
            .iter()
            .map(|&a| {
                let cells = stages.iter().map(|s| s.stops.contains(&a)).collect();
                (a.label().to_string(), lang.attack(a).to_string(), cells)
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

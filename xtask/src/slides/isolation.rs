//! What isolates the process at a stage, from the catalog: the picture on its first page, and
//! its row of the isolation matrix with the attacks it stops on the second.

use std::fmt::Write as _;

use catalog::{Attack, Property};

use super::html::esc;
use super::markdown::inline;
use super::Part;
use crate::present::lang::{Lang, Words};

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
pub(super) fn picture(part: &Part, before: Option<&Part>, lang: Lang, w: &Words) -> String {
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
        format!("<span class=\"{class}\">{}</span>", esc(lang.chip(p)))
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
pub(super) fn isolation(part: &Part, lang: Lang, w: &Words) -> String {
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
            esc(lang.property(p))
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
            esc(lang.attack(a))
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

//! The plan a talk follows: a route of the catalog (`--route NAME`, see `crates/catalog/src/
//! routes.rs`) or a free list of stages (`--stages uts,pid,full`, each planned as the course
//! plans it), and where the talk stands against it (`pid · 12:40 of 45:00 · +1:10`). `present`
//! and `slides` take the same two flags; with neither, they show every stage as before.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use catalog::Stage;
use notes::Demo;

use crate::cli;

pub const ROUTE_FLAG: cli::Arg = cli::option(
    "route",
    "NAME",
    "a talk of the catalog: its stages, demos and minutes (`cargo xtask list --routes`)",
);
pub const STAGES_FLAG: cli::Arg = cli::option(
    "stages",
    "LIST",
    "these stages only, comma-separated (uts,pid,full), every demo, the course's minutes",
);

/// What a talk shows, in order, and how long each part is planned to take.
pub struct Plan {
    /// The route's name, or the free list's stages (`uts,pid,full`).
    pub name: String,
    /// Whether it is a route of the catalog (`--route`), not a free list (`--stages`).
    pub route: bool,
    pub stops: Vec<Planned>,
}

/// One stage of a plan.
pub struct Planned {
    pub stage: &'static Stage,
    pub minutes: u16,
    /// The demos shown, by their place among the notes' demos (1: the first); empty: all.
    pub demos: Vec<u8>,
    /// Pages of the diff the deck shows.
    pub code_pages: usize,
}

impl Planned {
    /// The demos of the notes this stop shows, in the notes' order.
    pub fn keep<T>(&self, demos: Vec<T>) -> Vec<T> {
        demos
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.demos.is_empty() || self.demos.contains(&(*i as u8 + 1)))
            .map(|(_, d)| d)
            .collect()
    }
}

impl Plan {
    /// The plan `--route` or `--stages` asks for; `None` with neither (every stage, no timer).
    pub fn from_args(args: &cli::Args) -> Result<Option<Plan>> {
        let route = args.text("route")?;
        let list = args.text("stages")?;
        match (route, list) {
            (Some(_), Some(_)) => Err(args.error("--route and --stages: give one of them")),
            (Some(name), None) => {
                let Some(route) = catalog::route(name) else {
                    let names: Vec<&str> = catalog::ROUTES.iter().map(|r| r.name).collect();
                    return Err(args.error(format!(
                        "no route is called `{name}`; the routes: {}",
                        names.join(", ")
                    )));
                };
                Ok(Some(Plan::of_route(route)))
            }
            (None, Some(list)) => {
                let mut stops: Vec<Planned> = Vec::new();
                for key in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                    let stage = args.stage(key.as_ref())?;
                    if stops.iter().any(|s| s.stage.name == stage.name) {
                        return Err(args.error(format!("--stages names {} twice", stage.name)));
                    }
                    let course = catalog::course_stop(stage.name).expect("the course has all");
                    stops.push(Planned {
                        stage,
                        minutes: course.minutes,
                        demos: Vec::new(),
                        code_pages: course.code_pages.into(),
                    });
                }
                if stops.is_empty() {
                    return Err(args.error("--stages: no stage named"));
                }
                let names: Vec<&str> = stops.iter().map(|s| s.stage.name).collect();
                Ok(Some(Plan {
                    name: names.join(","),
                    route: false,
                    stops,
                }))
            }
            (None, None) => Ok(None),
        }
    }

    pub fn of_route(route: &catalog::Route) -> Plan {
        Plan {
            name: route.name.to_string(),
            route: true,
            stops: route
                .stops
                .iter()
                .map(|s| Planned {
                    stage: catalog::STAGES
                        .iter()
                        .find(|st| st.name == s.stage)
                        .expect("checked by the catalog's tests"),
                    minutes: s.minutes,
                    demos: s.demos.to_vec(),
                    code_pages: s.code_pages.into(),
                })
                .collect(),
        }
    }

    /// How it was asked for: `--route talk`, `--stages uts,pid`.
    pub fn flag(&self) -> String {
        let flag = if self.route { "route" } else { "stages" };
        format!("--{flag} {}", self.name)
    }

    /// The whole plan, in seconds.
    pub fn total(&self) -> u64 {
        self.stops.iter().map(|s| u64::from(s.minutes) * 60).sum()
    }

    /// Where stop `i` starts in the plan, in seconds.
    pub fn start(&self, i: usize) -> u64 {
        self.stops[..i]
            .iter()
            .map(|s| u64::from(s.minutes) * 60)
            .sum()
    }

    /// Where the talk stands at stop `i`: `pid · 12:40 of 45:00 · +1:10`. `elapsed`: since the
    /// talk began; `entered`: when stop `i` began. The difference is how late the talk is: how
    /// late the stop began against its planned start, plus any time spent in it over its
    /// minutes (`-` when early).
    /// `of`: the word between the two times, in the talk's language.
    pub fn standing(&self, i: usize, elapsed: Duration, entered: Duration, of: &str) -> String {
        let stop = &self.stops[i];
        let planned = u64::from(stop.minutes) * 60;
        let start = self.start(i) as i64;
        let inside = elapsed.saturating_sub(entered).as_secs();
        let late = entered.as_secs() as i64 - start + inside.saturating_sub(planned) as i64;
        format!(
            "{} · {} {of} {} · {}",
            stop.stage.name,
            clock(elapsed.as_secs() as i64),
            clock(self.total() as i64),
            signed(late)
        )
    }
}

/// `m:ss`.
pub fn clock(secs: i64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// `+m:ss` or `-m:ss`.
pub fn signed(secs: i64) -> String {
    format!("{}{}", if secs < 0 { '-' } else { '+' }, clock(secs.abs()))
}

/// A stage's speaker's script: the items of the `## Script` section of its notes (`## Guion`
/// in Spanish), each one spoken line.
pub fn script(notes: &str) -> Vec<String> {
    let mut inside = false;
    let mut lines = Vec::new();
    for block in notes::blocks(notes) {
        match block {
            notes::Block::Heading { level: 2, text, .. } => {
                inside = SCRIPT_HEADINGS.contains(&text.trim());
            }
            notes::Block::Heading { .. } if inside => inside = false,
            notes::Block::Item(text) if inside => lines.push(text),
            _ => {}
        }
    }
    lines
}

/// The script's heading in each language.
pub const SCRIPT_HEADINGS: [&str; 2] = ["Script", "Guion"];

/// A stage's demos from its notes (`lang`'s file), for a check or a rehearsal.
pub fn stage_demos(root: &Path, stage: &Stage, file: &str) -> Result<Vec<Demo>> {
    let path = root.join("slides").join(stage.name).join(file);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the notes {}", path.display()))?;
    notes::demos(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standing_counts_lateness_from_the_plan() {
        let plan = Plan::of_route(catalog::route("talk").unwrap());
        assert_eq!(plan.total(), 45 * 60);
        // pid starts at 8:00 in the plan (2 + 3 + 3); entered at 9:10, now 12:40: 3:30 in,
        // within its 5 minutes: 1:10 late.
        let s = |m: u64, s: u64| Duration::from_secs(m * 60 + s);
        assert_eq!(
            plan.standing(3, s(12, 40), s(9, 10), "of"),
            "pid · 12:40 of 45:00 · +1:10"
        );
        // Entered early, and now 1:00 over its 5 minutes: -0:30 + 1:00.
        assert_eq!(
            plan.standing(3, s(13, 30), s(7, 30), "of"),
            "pid · 13:30 of 45:00 · +0:30"
        );
        assert_eq!(
            plan.standing(0, s(0, 5), s(0, 0), "of"),
            "base1 · 0:05 of 45:00 · +0:00"
        );
        assert_eq!(
            plan.standing(1, s(1, 0), s(1, 0), "de"),
            "base2 · 1:00 de 45:00 · -1:00"
        );
    }

    #[test]
    fn the_script_is_its_sections_items() {
        let notes = "# T\n\ntext\n\n## Script\n\n- one\n- two\n  more\n\n## Try this\n\n- no\n";
        assert_eq!(script(notes), ["one", "two more"]);
        assert!(script("# T\n\n- no\n").is_empty());
    }

    /// Every stage of a talk (not the course) leaves time for its floor: its script at 130
    /// words a minute, a minute a page of code, half a minute a demo.
    #[test]
    fn each_talks_minutes_hold_its_script_code_and_demos() {
        let root = crate::util::project_root();
        for route in catalog::ROUTES.iter().filter(|r| r.name != "course") {
            let plan = Plan::of_route(route);
            for stop in &plan.stops {
                for file in ["README.md", "README.es.md"] {
                    let path = root.join("slides").join(stop.stage.name).join(file);
                    let notes = std::fs::read_to_string(&path).unwrap();
                    let words: usize = script(&notes)
                        .iter()
                        .map(|l| l.split_whitespace().count())
                        .sum();
                    let demos = stop
                        .keep(stage_demos(&root, stop.stage, file).unwrap())
                        .len();
                    let floor = words as f64 / 130.0 + stop.code_pages as f64 + demos as f64 / 2.0;
                    assert!(
                        f64::from(stop.minutes) >= floor,
                        "{}: {}: {} min, under its floor of {floor:.1} ({file})",
                        route.name,
                        stop.stage.name,
                        stop.minutes
                    );
                }
            }
        }
    }

    #[test]
    fn keep_picks_the_demos_by_number() {
        let stop = Planned {
            stage: &catalog::STAGES[0],
            minutes: 1,
            demos: vec![1, 3],
            code_pages: 1,
        };
        assert_eq!(stop.keep(vec!['a', 'b', 'c']), ['a', 'c']);
        let all = Planned {
            demos: Vec::new(),
            ..stop
        };
        assert_eq!(all.keep(vec!['a', 'b']), ['a', 'b']);
    }
}

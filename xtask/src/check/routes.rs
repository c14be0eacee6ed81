//! The routes (`crates/catalog/src/routes.rs`) held to the catalog and the notes, and the
//! READMEs' route tables to the routes; every stage's speaker's script in both languages.
//!
//! - Every stop of a route names a stage of the catalog, and every demo it shows, by number, is
//!   one of that stage's notes' demos.
//! - README.md's and README.es.md's route tables, between `<!-- routes:begin -->` and
//!   `<!-- routes:end -->`, are the routes' (`--fix` writes them).
//! - Every stage's notes end their story with a `## Script` section (`## Guion` in Spanish) of
//!   3 to 6 lines, each a list item: what the presenter says.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::plan;
use crate::util;

const BEGIN: &str = "<!-- routes:begin -->";
const END: &str = "<!-- routes:end -->";

pub(super) fn routes(root: &Path, fix: bool) -> Result<Vec<String>> {
    let mut problems = stops(root, catalog::ROUTES);
    problems.extend(tables(root, fix)?);
    problems.extend(scripts(root));
    Ok(problems)
}

/// Each route's stages and demos against the catalog and the notes.
fn stops(root: &Path, routes: &[catalog::Route]) -> Vec<String> {
    let mut problems = Vec::new();
    for route in routes {
        for stop in route.stops {
            let Some(stage) = catalog::STAGES.iter().find(|s| s.name == stop.stage) else {
                problems.push(format!(
                    "crates/catalog/src/routes.rs: route {}: no stage is called `{}`",
                    route.name, stop.stage
                ));
                continue;
            };
            // A stage's notes that cannot be read are the notes rule's to report.
            let Ok(demos) = plan::stage_demos(root, stage, "README.md") else {
                continue;
            };
            for n in stop.demos.iter().filter(|n| usize::from(**n) > demos.len()) {
                problems.push(format!(
                    "crates/catalog/src/routes.rs: route {}: {} has no demo {n} (its notes have {})",
                    route.name,
                    stage.name,
                    demos.len()
                ));
            }
        }
    }
    problems
}

/// The READMEs' route tables against the routes.
fn tables(root: &Path, fix: bool) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for (name, es) in [("README.md", false), ("README.es.md", true)] {
        let Ok(text) = fs::read_to_string(root.join(name)) else {
            continue; // reported by the README rules
        };
        let problem = match util::between(&text, (BEGIN, END), &table(es)) {
            Ok(None) => continue,
            Ok(Some(fixed)) if fix => {
                let path = root.join(name);
                fs::write(&path, fixed)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("check: {name}: route table rewritten from the catalog");
                continue;
            }
            Ok(Some(_)) => {
                "the route table differs from the catalog: run `cargo xtask check --fix`".into()
            }
            Err(util::Markers::Missing) => format!(
                "no route table: put the lines `{BEGIN}` and `{END}` in its first screen, then \
                 run `cargo xtask check --fix`"
            ),
            Err(util::Markers::Reversed) => format!("`{END}` comes before `{BEGIN}`"),
        };
        problems.push(format!("{name}: {problem}"));
    }
    Ok(problems)
}

/// Every stage's script, in both languages.
fn scripts(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for stage in catalog::STAGES {
        for (file, heading) in [("README.md", "Script"), ("README.es.md", "Guion")] {
            let path = Path::new("slides").join(stage.name).join(file);
            let Ok(text) = fs::read_to_string(root.join(&path)) else {
                continue; // the notes rules report it
            };
            let lines = plan::script(&text).len();
            if !(3..=6).contains(&lines) {
                problems.push(format!(
                    "{}: the `## {heading}` section has {lines} lines: a speaker's script has 3 \
                     to 6 (list items)",
                    path.display()
                ));
            }
        }
    }
    problems
}

/// The READMEs' route table, from the catalog.
pub fn table(es: bool) -> String {
    let mut out = String::from(if es {
        "| ruta | minutos | etapas | qué es |\n|------|--------:|--------|--------|\n"
    } else {
        "| route | minutes | stages | what it is |\n|-------|--------:|--------|------------|\n"
    });
    for route in catalog::ROUTES {
        let stages: Vec<&str> = route.stops.iter().map(|s| s.stage).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            route.name,
            route.minutes(),
            stages.join(", "),
            if es { route.about_es } else { route.about }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use catalog::{Route, Stop};

    #[test]
    fn a_route_to_a_stage_or_demo_that_does_not_exist_is_a_problem() {
        let root = crate::util::project_root();
        assert_eq!(super::stops(&root, catalog::ROUTES), Vec::<String>::new());
        let stop = |stage, demos| Stop {
            stage,
            minutes: 1,
            demos,
            code_pages: 1,
        };
        // Routes are the catalog's statics: a test's own lives as long.
        let stops: &'static [Stop] = Box::leak(Box::new([
            stop("nope", &[]),
            stop("uts", &[3, 4]),
            stop("pid", &[1]),
        ]));
        let bad = [Route {
            name: "bad",
            about: "",
            about_es: "",
            stops,
        }];
        let problems = super::stops(&root, &bad);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("no stage is called `nope`"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("uts has no demo 4 (its notes have 3)"),
            "{problems:?}"
        );
    }

    #[test]
    fn one_row_a_route() {
        for es in [false, true] {
            let table = super::table(es);
            assert_eq!(table.lines().count(), catalog::ROUTES.len() + 2);
            assert!(table.contains("| `talk` | 45 |"), "{table}");
        }
    }
}

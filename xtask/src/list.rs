//! `cargo xtask list [--routes] [--lang LANG]`: the stages in talk order, from the catalog, in 80
//! columns, in English or in Spanish (the catalog holds each summary in both); with `--routes`,
//! the talks a presenter can give (`present --route NAME`), each stage with its minutes.

use std::ffi::OsString;

use anyhow::Result;

use crate::cli;
use crate::present::lang::{self, Lang};

pub const CLI: cli::Command = cli::Command {
    name: "list",
    about: "the stages in talk order",
    args: &[
        cli::flag(
            "routes",
            "the routes through the stages, with their minutes",
        ),
        lang::FLAG,
    ],
    rest: None,
    notes: "A stage is named by its name, an alias (the original talk's folder names) or its \
            number, everywhere a command takes a STAGE.",
};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let args = CLI.parse(args)?;
    let lang = Lang::from_args(&args)?;
    if args.flag("routes") {
        print!("{}", routes(lang));
        return Ok(0);
    }
    let words = lang.words();
    let name_width = catalog::STAGES
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(5)
        .max(words.stage.len());
    // " 6  procfs   what it adds", and under it "also: its aliases".
    let indent = 2 + 2 + name_width + 2;
    println!(
        "{:>2}  {:<name_width$}  {}",
        "#", words.stage, words.what_it_adds
    );
    for s in catalog::STAGES {
        let line = format!(
            "{:>2}  {:<name_width$}  {}",
            s.number(),
            s.name,
            lang.summary(s)
        );
        print!("{}", cli::wrap(&line, cli::WIDTH, indent));
        if !s.aliases.is_empty() {
            let also = format!("{:indent$}{} {}", "", words.also, s.aliases.join(", "));
            print!("{}", cli::wrap(&also, cli::WIDTH, indent + 6));
        }
    }
    Ok(0)
}

/// Every route: its name, its minutes and what it is, then its stages with their minutes.
fn routes(lang: Lang) -> String {
    let mut out = String::new();
    for route in catalog::ROUTES {
        let about = lang.pick(route.about, route.about_es);
        let head = format!("{:<10} {:>3} min  {about}", route.name, route.minutes());
        out.push_str(&cli::wrap(&head, cli::WIDTH, 20));
        let stops: Vec<String> = route
            .stops
            .iter()
            .map(|s| format!("{} {}", s.stage, s.minutes))
            .collect();
        out.push_str(&cli::wrap(
            &format!("{:19} {}", "", stops.join(" · ")),
            cli::WIDTH,
            20,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_list_every_route_with_its_minutes_in_80_columns() {
        for &lang in Lang::ALL {
            let text = routes(lang);
            for route in catalog::ROUTES {
                let head = format!("{:<10} {:>3} min", route.name, route.minutes());
                assert!(text.contains(&head), "{text}");
            }
            assert!(text.contains("pid 5"), "{text}");
            assert!(
                text.lines().all(|l| l.chars().count() <= cli::WIDTH),
                "{text}"
            );
        }
    }
}

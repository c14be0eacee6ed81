//! `cargo xtask list [--lang LANG]`: the stages in talk order, from the catalog, in 80 columns,
//! in English or in Spanish (the catalog holds each summary in both).

use std::ffi::OsString;

use anyhow::Result;

use crate::cli;
use crate::present::lang::{self, Lang};

pub const CLI: cli::Command = cli::Command {
    name: "list",
    about: "the stages in talk order",
    args: &[lang::FLAG],
    rest: None,
    notes: "A stage is named by its name, an alias (the original talk's folder names) or its \
            number, everywhere a command takes a STAGE.",
};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let args = CLI.parse(args)?;
    let lang = Lang::from_args(&args)?;
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

//! `cargo xtask list`: the stages in talk order, from the catalog, in 80 columns.

use std::ffi::OsString;

use anyhow::Result;

use crate::cli;

pub const CLI: cli::Command = cli::Command {
    name: "list",
    about: "the stages in talk order",
    args: &[],
    rest: None,
    notes: "A stage is named by its name, an alias (the original talk's folder names) or its \
            number, everywhere a command takes a STAGE.",
};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    CLI.parse(args)?;
    let name_width = catalog::STAGES
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(5);
    // " 6  procfs   what it adds", and under it "also: its aliases".
    let indent = 2 + 2 + name_width + 2;
    println!("{:>2}  {:<name_width$}  what it adds", "#", "stage");
    for s in catalog::STAGES {
        let line = format!("{:>2}  {:<name_width$}  {}", s.number, s.name, s.summary);
        print!("{}", cli::wrap(&line, cli::WIDTH, indent));
        if !s.aliases.is_empty() {
            let also = format!("{:indent$}also: {}", "", s.aliases.join(", "));
            print!("{}", cli::wrap(&also, cli::WIDTH, indent + 6));
        }
    }
    Ok(0)
}

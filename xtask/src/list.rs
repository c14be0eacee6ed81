//! `cargo xtask list`: the stages in talk order, from the catalog.

use std::ffi::OsString;

use anyhow::Result;

use crate::util::usage;

pub fn main(args: Vec<OsString>) -> Result<u8> {
    if let Some(arg) = args.first() {
        return Err(usage(format!(
            "unexpected argument {arg:?}; usage: cargo xtask list"
        )));
    }
    println!("{:>2}  {:<8} {:<28} adds", "#", "stage", "aliases");
    for s in catalog::STAGES {
        println!(
            "{:>2}  {:<8} {:<28} {}",
            s.number,
            s.name,
            s.aliases.join(", "),
            s.summary
        );
    }
    Ok(0)
}

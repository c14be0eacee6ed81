//! `cargo xtask test`: prepare what the tests need, then run every test.

use std::ffi::OsString;

use anyhow::Result;

use crate::rootfs;
use crate::util::{self, usage};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    if let Some(arg) = args.first() {
        return Err(usage(format!("unexpected argument {arg:?}")));
    }
    let dir = rootfs::ensure()?;
    util::run_checked(util::cargo().args(["build", "--workspace", "--bins"]))?;
    let status = util::cargo()
        .args(["test", "--workspace", "--", "--test-threads=1"])
        .env(rootfs::ENV_VAR, &dir)
        .status()?;
    Ok(if status.success() { 0 } else { 1 })
}

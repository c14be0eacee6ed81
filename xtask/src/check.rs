//! `cargo xtask check`: not written yet.

use std::ffi::OsString;

pub fn main(_args: Vec<OsString>) -> anyhow::Result<u8> {
    anyhow::bail!("`cargo xtask check` is not written yet")
}

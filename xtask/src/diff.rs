//! `cargo xtask diff`: not written yet.

use std::ffi::OsString;

pub fn main(_args: Vec<OsString>) -> anyhow::Result<u8> {
    anyhow::bail!("`cargo xtask diff` is not written yet")
}

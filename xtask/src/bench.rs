//! `cargo xtask bench`: not written yet.

use std::ffi::OsString;

pub fn main(_args: Vec<OsString>) -> anyhow::Result<u8> {
    anyhow::bail!("`cargo xtask bench` is not written yet")
}

//! `cargo xtask doctor`: not written yet.

use std::ffi::OsString;

pub fn main(_args: Vec<OsString>) -> anyhow::Result<u8> {
    anyhow::bail!("`cargo xtask doctor` is not written yet")
}

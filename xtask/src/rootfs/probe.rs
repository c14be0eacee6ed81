//! Building the probe (`crates/probe`) as a static musl binary and putting it into a root
//! filesystem at `/usr/local/bin/probe`, refreshing it whenever the freshly built one differs.
//!
//! `DESDE_CERO_PROBE=PATH` uses an already built probe instead of running cargo (the tests do:
//! a cargo inside `cargo test` could wait on cargo's own lock).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::safe;
use crate::util;

/// Overrides the probe binary to install.
pub const ENV: &str = "DESDE_CERO_PROBE";

/// Where the probe lives inside every root filesystem.
pub const INSIDE: &str = "usr/local/bin/probe";

/// Builds the probe (quick when nothing changed) and returns its path, or `$DESDE_CERO_PROBE`.
pub fn build() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            anyhow::bail!("{ENV}={} is not a file", path.display());
        }
        return Ok(path);
    }
    let target = util::musl_target();
    util::add_rust_target(&target);
    let binary = util::target_dir()
        .join(&target)
        .join("release")
        .join("probe");
    let mut cmd = util::cargo();
    cmd.args(["build", "--release", "--package", "probe", "--target"])
        .arg(&target);
    util::cargo_build(&mut cmd, "the probe", &binary).with_context(|| {
        format!(
            "cannot build the probe for {target} (if the target is missing: \
             `rustup target add {target}`)"
        )
    })?;
    Ok(binary)
}

/// Puts `probe` into `root` unless an identical copy is already there. Returns whether it wrote.
pub fn install(root: &Path, probe: &Path) -> Result<bool> {
    let fresh = fs::read(probe).with_context(|| format!("cannot read {}", probe.display()))?;
    if safe::is_file(root, INSIDE) && fs::read(root.join(INSIDE)).is_ok_and(|old| old == fresh) {
        return Ok(false);
    }
    safe::write(root, INSIDE, &fresh, 0o755)?;
    Ok(true)
}

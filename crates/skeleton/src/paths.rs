//! Paths: where the root filesystem is, and how a teaching line shows a long one.

use std::env;
use std::path::{Path, PathBuf};

use crate::*;

/// Where the root filesystem is: this variable (the xtask sets it), or [`DEFAULT_ROOTFS`].
pub const ROOTFS_ENV: &str = "DESDE_CERO_ROOTFS";
/// The root filesystem `cargo xtask rootfs` makes in this repository.
pub(crate) const DEFAULT_ROOTFS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rootfs/build");

/// Shortens a long path for a teaching line, so it fits a projected 80-column terminal:
/// `/sys/fs/cgroup/memory/desde-cero-42/memory.max` becomes `…/desde-cero-42/memory.max`.
pub fn short(path: &Path) -> String {
    let full = path.display().to_string();
    if full.chars().count() <= 40 {
        return full;
    }
    let parts: Vec<_> = path.iter().map(|p| p.to_string_lossy()).collect();
    let tail = parts[parts.len().saturating_sub(2)..].join("/");
    format!("…/{tail}")
}

/// The root filesystem's folder, from [`ROOTFS_ENV`] or the repository's `rootfs/build`.
pub fn rootfs() -> Result<PathBuf> {
    let dir = PathBuf::from(env::var_os(ROOTFS_ENV).unwrap_or(DEFAULT_ROOTFS.into()));
    // canonicalize resolves `..` for the teaching lines, and fails if there is no folder.
    match dir.canonicalize() {
        Ok(dir) if dir.join("bin").is_dir() => Ok(dir),
        _ => Err(Failure {
            code: EXIT_RUNTIME,
            message: format!(
                "no root filesystem at {} — make one with `cargo xtask rootfs`, or set \
                 {ROOTFS_ENV}",
                dir.display()
            ),
        }),
    }
}

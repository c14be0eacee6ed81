//! `cargo xtask rootfs [--from SOURCE] [--force]`: make the container's root filesystem.
//!
//! (First cut: busybox only. See rootfs/README.md.)

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util::{self, usage};

/// The one documented place the stages read the root filesystem's path from.
pub const ENV_VAR: &str = "DESDE_CERO_ROOTFS";

/// A file that marks a finished root filesystem (written last, so a half-made one has none).
const MARKER: &str = ".desde-cero-rootfs";

/// Where the xtask makes the root filesystem.
pub fn default_dir() -> PathBuf {
    util::project_root().join("rootfs").join("build")
}

/// Returns the root filesystem's folder, making it first if there is none.
pub fn ensure() -> Result<PathBuf> {
    let dir = default_dir();
    if dir.join(MARKER).exists() {
        return Ok(dir);
    }
    build_busybox(&dir)?;
    Ok(dir)
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let mut force = false;
    for arg in &args {
        match util::utf8(arg)? {
            "--force" => force = true,
            other => return Err(usage(format!("unknown argument {other:?}"))),
        }
    }
    let dir = default_dir();
    if dir.join(MARKER).exists() && !force {
        eprintln!("rootfs: {} already exists (use --force to remake it)", dir.display());
        return Ok(0);
    }
    build_busybox(&dir)?;
    Ok(0)
}

fn build_busybox(dir: &PathBuf) -> Result<()> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("no busybox on this host: install busybox-static")?;
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    for d in [
        "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "usr/bin", "usr/sbin",
        "usr/local/bin",
    ] {
        fs::create_dir_all(dir.join(d))?;
    }
    fs::copy(&busybox, dir.join("bin/busybox"))?;
    let out = Command::new(&busybox).arg("--list-full").output()?;
    if !out.status.success() {
        bail!("{} --list-full failed", busybox.display());
    }
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let link = dir.join(applet);
        if applet.is_empty() || link.exists() {
            continue;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        symlink("/bin/busybox", &link)?;
    }
    fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    fs::write(dir.join("etc/group"), "root:x:0:\n")?;
    fs::write(dir.join("etc/hostname"), "container\n")?;
    fs::write(
        dir.join("etc/os-release"),
        "NAME=\"desde-cero\"\nID=desde-cero\nPRETTY_NAME=\"desde-cero busybox root filesystem\"\n",
    )?;
    fs::write(dir.join(MARKER), "busybox\n")?;
    eprintln!("rootfs: made {} from {}", dir.display(), busybox.display());
    Ok(())
}

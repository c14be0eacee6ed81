//! What the host lays out before the stages run: the marker file only the host has, and the
//! bait a careless runtime would leak to its container (an open descriptor, a variable, a key, a
//! block device, the sizes of the host's disks).

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::util;

/// A file only the host has: if a process sees it, it sees the host's root filesystem.
pub(super) struct Marker(pub(super) PathBuf);

impl Marker {
    pub(super) fn create() -> Result<Marker> {
        // In target/, which no root filesystem has; named per run so two runs do not collide.
        let dir = util::target_dir();
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("desde-cero-matrix-marker-{}", std::process::id()));
        fs::write(&path, "the host's root filesystem\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Marker(path))
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// What the host lays out for the attacks: what a careless runtime would leak to its
/// container (see `crates/probe/src/attack/mod.rs`). Taken back when dropped.
pub(super) struct Bait {
    /// The host's marker file (only the host has it).
    marker: PathBuf,
    /// The marker's folder, open: handed to the stage as descriptor [`Bait::FD`].
    dir: OwnedFd,
    /// The key added to root's user keyring, if the kernel took it.
    key: Option<libc::c_long>,
    /// A block device of the host that host root can open, `MAJ:MIN`.
    dev: Option<String>,
    /// The sizes of the host's filesystems a container's writes could land on.
    disks: Vec<u64>,
}

impl Bait {
    /// The inherited descriptor, as in `exec 7</tmp`.
    const FD: libc::c_int = 7;
    /// The variable set in the stage's environment (the probe's `attack::environ::VARIABLE`).
    const VARIABLE: &'static str = "DESDE_CERO_SECRET";
    /// The key's description (the probe's `attack::keyring::DESCRIPTION`).
    const KEY: &'static str = "desde-cero-secret";

    pub(super) fn lay(marker: &Path, rootfs_dir: &Path) -> Result<Bait> {
        let folder = marker.parent().unwrap_or(Path::new("/"));
        let dir = fs::File::open(folder)
            .with_context(|| format!("cannot open {}", folder.display()))?
            .into();
        let disks = [Path::new("/"), &std::env::temp_dir(), rootfs_dir, folder]
            .iter()
            .filter_map(|p| bait::disk_size(p))
            .collect();
        Ok(Bait {
            marker: marker.to_path_buf(),
            dir,
            key: bait::add_key(Bait::KEY, "the host's secret"),
            dev: bait::openable_block_device(),
            disks,
        })
    }

    /// `<probe> attack all` with the bait's arguments, environment and descriptor.
    pub(super) fn command(&self, stage: &Path, probe: &Path) -> Command {
        let mut cmd = Command::new(stage);
        cmd.arg("run")
            .arg(probe)
            .args(["attack", "all", "--host-marker"])
            .arg(&self.marker);
        if let Some(dev) = &self.dev {
            cmd.args(["--host-dev", dev]);
        }
        if !self.disks.is_empty() {
            let sizes: Vec<String> = self.disks.iter().map(u64::to_string).collect();
            cmd.args(["--host-disk", &sizes.join(",")]);
        }
        if let Some(net) = bait::net_namespace() {
            cmd.args(["--host-net", &net.to_string()]);
        }
        cmd.env(Bait::VARIABLE, "the host's secret");
        let fd = self.dir.as_raw_fd();
        // SAFETY: pre_exec's closure runs between fork and exec, where only async-signal-safe
        // calls are sound: it makes one, dup2(2), and allocates nothing. (`fd` closed meanwhile
        // would only make dup2 fail.)
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, Bait::FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }
}

impl Drop for Bait {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            bait::invalidate_key(key);
        }
    }
}

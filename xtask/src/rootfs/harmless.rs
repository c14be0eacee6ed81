//! A root filesystem that gives a local user nothing.
//!
//! The root filesystem is a folder on the host, and the host has other users. A setuid-root file
//! in it, from a tarball or made by a container of the early stages (whose root is the host's
//! root), runs as root for anyone who runs it by its host path; a file capability does the same
//! for one capability; a device node of the host's disk opens that disk to whoever may open the
//! node. So a root filesystem the xtask makes has no setuid or setgid bit, no file capability,
//! and no device node, fifo or socket but the project's own `/dev` nodes (devices.rs: the same
//! ones the host's `/dev` gives everyone), and the folder that holds it lets no other user in,
//! so that what a container makes there later is out of their reach too.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::devices;
use crate::util;

/// The setuid and setgid bits of a mode.
const PRIVILEGE_BITS: u32 = 0o6000;

/// The group of the folder holding the root filesystem: the host id that container root has in
/// the `user` stage and in `full --rootless` when root runs them (`HOST_ID_OF_ROOT` in
/// slides/user/src/userns.rs), so that they may pass through it, and no local user. Docker does
/// the same for its remapped root (`/var/lib/docker/<uid>.<gid>`, mode 0710, that group).
pub const CONTAINER_ROOT: u32 = 700_000_000;

/// What was taken away, by path inside the root filesystem, for the summary lines.
#[derive(Debug, Default)]
pub struct Findings {
    /// Files and folders whose setuid or setgid bit (or file capability) was removed.
    pub privileged: Vec<String>,
    /// Device nodes, fifos and sockets skipped (a tarball) or removed (a folder).
    pub nodes: Vec<String>,
}

impl Findings {
    /// One line for each kind of thing found, none when nothing was. `nodes` says what happened
    /// to the nodes: "skipped" (not unpacked) or "removed".
    pub fn tell(&self, nodes: &str) {
        if !self.privileged.is_empty() {
            eprintln!(
                "rootfs: cleared the setuid/setgid bits or file capabilities of {} file(s): \
                 a local user must gain nothing from them on the host: {}",
                self.privileged.len(),
                some(&self.privileged)
            );
        }
        if !self.nodes.is_empty() {
            eprintln!(
                "rootfs: {nodes} {} device node(s), fifo(s) or socket(s): a root filesystem the \
                 xtask makes has only its own /dev/{{null,zero,...}}: {}",
                self.nodes.len(),
                some(&self.nodes)
            );
        }
    }
}

/// The first few names of a list, then how many more.
fn some(names: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut text = names[..names.len().min(SHOWN)].join(" ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

/// `mode` without its setuid and setgid bits, and whether it had any. The sticky bit stays:
/// `/tmp` needs it, and it gives nobody anything.
pub fn without_privileges(mode: u32) -> (u32, bool) {
    (mode & !PRIVILEGE_BITS, mode & PRIVILEGE_BITS != 0)
}

/// Walks the root filesystem at `root` (never following a symlink, never leaving its filesystem,
/// so nothing mounted inside is touched) and takes away what would give a local user anything:
/// setuid and setgid bits, file capabilities, and device nodes, fifos and sockets other than
/// the project's own `/dev` nodes.
pub fn sweep(root: &Path) -> Result<Findings> {
    // Followed: `root` itself may be the symlink `--from dir` made.
    let top = fs::metadata(root).with_context(|| format!("cannot read {}", root.display()))?;
    let mut found = Findings::default();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let entries =
            fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let meta = fs::symlink_metadata(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let kind = meta.file_type();
            let inside = || {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                rel.display().to_string()
            };
            if kind.is_symlink() || meta.dev() != top.dev() {
                continue; // a symlink is never followed; what is mounted here is not ours
            }
            if kind.is_block_device() || kind.is_char_device() || kind.is_fifo() || kind.is_socket()
            {
                if !devices::is_project_node(root, &path, &meta) {
                    fs::remove_file(&path).with_context(|| cannot(&path, &meta, "remove"))?;
                    found.nodes.push(inside());
                }
                continue;
            }
            let mode = meta.permissions().mode();
            let (safe, had) = without_privileges(mode);
            if had {
                fs::set_permissions(&path, fs::Permissions::from_mode(safe & 0o7777))
                    .with_context(|| cannot(&path, &meta, "clear the setuid/setgid bits of"))?;
            }
            let capable = kind.is_file() && drop_capabilities(&path)?;
            if had || capable {
                found.privileged.push(inside());
            }
            if kind.is_dir() {
                todo.push(path);
            }
        }
    }
    found.privileged.sort();
    found.nodes.sort();
    Ok(found)
}

/// Removes the file capabilities (the `security.capability` attribute, capabilities(7)) of
/// `path`; returns whether it had any.
fn drop_capabilities(path: &Path) -> Result<bool> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let name = c"security.capability";
    // Asked first: removing, even an attribute that is not there, takes CAP_SETFCAP.
    // SAFETY: both strings are valid and NUL-terminated for the duration of the call, and a
    // null buffer of size 0 only asks for the value's size, so nothing is written. (Neither std
    // nor nix has a call for extended attributes: raw libc.)
    let size = unsafe { libc::lgetxattr(c_path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
    if size < 0 {
        return match io::Error::last_os_error() {
            // No such attribute, or a filesystem without extended attributes.
            err if matches!(err.raw_os_error(), Some(libc::ENODATA | libc::EOPNOTSUPP)) => {
                Ok(false)
            }
            err => Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
    }
    // SAFETY: both strings are valid and NUL-terminated for the duration of the call; nothing
    // is written through them.
    if unsafe { libc::lremovexattr(c_path.as_ptr(), name.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("cannot remove the file capabilities of {}", path.display()));
    }
    Ok(true)
}

/// The error for a change the xtask may not make (a root-owned file, as an ordinary user).
fn cannot(path: &Path, meta: &fs::Metadata, what: &str) -> String {
    let hint = if meta.uid() != 0 || util::is_root() {
        String::new()
    } else {
        " (it is root's: run `cargo xtask rootfs` as root, or change it yourself)".to_string()
    };
    format!("cannot {what} {}{hint}", path.display())
}

/// Makes `holder`, the folder that holds a root filesystem, closed to other users if it is
/// missing, and closes the project's own `rootfs/` if it is open. Any other folder that exists
/// is left as it is (it may hold anything: `/tmp`, a home): when others may pass through it,
/// the note to show is returned.
pub fn prepare_holder(holder: &Path) -> Result<Option<String>> {
    let ours = holder == util::project_root().join("rootfs");
    match fs::metadata(holder) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            // 0700 from the start, so that nothing made below is ever reachable.
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(holder)
                .with_context(|| format!("cannot create {}", holder.display()))?;
            close(holder)?;
            Ok(None)
        }
        Err(err) => Err(err).with_context(|| format!("cannot read {}", holder.display())),
        Ok(meta) if is_closed(&meta) => Ok(None),
        Ok(_) if ours => {
            close(holder)?;
            eprintln!(
                "rootfs: closed {} to other users (a setuid file a container makes in the root \
                 filesystem must be out of their reach)",
                holder.display()
            );
            Ok(None)
        }
        Ok(meta) => Ok(Some(format!(
            "rootfs: note: other users can reach the root filesystem through {} (mode {:o}): a \
             setuid file a container makes in it would be theirs to run; make it in a folder of \
             your own (`--dest DIR/NAME`, DIR not yet there)",
            holder.display(),
            meta.permissions().mode() & 0o7777
        ))),
    }
}

/// Whether only the owner, and container root through the group, may enter a folder.
fn is_closed(meta: &fs::Metadata) -> bool {
    let mode = meta.permissions().mode();
    let group = (mode >> 3) & 0o7;
    mode & 0o007 == 0 && (group == 0 || (meta.gid() == CONTAINER_ROOT && group == 0o1))
}

/// Mode 0710 and the group [`CONTAINER_ROOT`]: its owner may do anything, container root may
/// pass through, no one else may even look. Giving a folder a group one is not in takes root:
/// sudo is asked as for the device nodes; without it, 0700.
fn close(holder: &Path) -> Result<()> {
    let mode = |m| {
        fs::set_permissions(holder, fs::Permissions::from_mode(m))
            .with_context(|| format!("cannot change the mode of {}", holder.display()))
    };
    mode(0o700)?;
    let grouped = if util::is_root() {
        std::os::unix::fs::chown(holder, None, Some(CONTAINER_ROOT)).is_ok()
    } else if util::which("sudo").is_some() {
        Command::new("sudo")
            .args(["chgrp", &CONTAINER_ROOT.to_string()])
            .arg(holder)
            .status()
            .is_ok_and(|s| s.success())
    } else {
        false
    };
    if grouped {
        mode(0o710)
    } else {
        eprintln!(
            "rootfs: note: {} is closed to everyone but you (mode 0700): the `user` stage run \
             by root cannot reach the root filesystem (`sudo chgrp {CONTAINER_ROOT} {}` and \
             `chmod 0710 {}` let it)",
            holder.display(),
            holder.display(),
            holder.display()
        );
        Ok(())
    }
}

/// The folder that holds `dest`.
pub fn holder_of(dest: &Path) -> Result<PathBuf> {
    match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => Ok(parent.to_path_buf()),
        _ => bail!("{} has no folder above it", dest.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_setuid_and_setgid_bits_go() {
        assert_eq!(without_privileges(0o4755), (0o755, true));
        assert_eq!(without_privileges(0o2711), (0o711, true));
        assert_eq!(without_privileges(0o6755), (0o755, true));
        assert_eq!(without_privileges(0o1777), (0o1777, false));
        assert_eq!(without_privileges(0o755), (0o755, false));
    }

    #[test]
    fn the_group_is_the_user_stages_container_root() {
        let userns = util::project_root().join("slides/user/src/userns.rs");
        let text = fs::read_to_string(&userns).expect("slides/user/src/userns.rs");
        let value = text
            .lines()
            .find_map(|l| l.split_once("const HOST_ID_OF_ROOT: u32 = "))
            .map(|(_, v)| v.trim_end_matches(';').replace('_', ""));
        assert_eq!(
            value.as_deref(),
            Some(CONTAINER_ROOT.to_string().as_str()),
            "{} maps container root elsewhere: change CONTAINER_ROOT too",
            userns.display()
        );
    }
}

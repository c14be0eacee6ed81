//! The few device nodes a shell expects in `/dev`: `null`, `zero`, `full`, `random`, `urandom`
//! and `tty`. The stages before `full` run the command on the root filesystem as it is (only
//! `full` mounts a `/dev` of its own), and without `/dev/null` busybox's `sh` cannot start a
//! background job, while `> /dev/null` would write a regular file into the shared rootfs.

use std::ffi::OsString;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{self, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::safe;
use crate::util;

/// Name, major and minor number (see the kernel's Documentation/admin-guide/devices.txt).
const NODES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// How often a root filesystem without its device nodes is pointed out.
#[derive(Clone, Copy, PartialEq)]
pub enum Tell {
    /// Every time (`cargo xtask rootfs`, which was asked to make them).
    Always,
    /// The first time only (`cargo xtask run`, `matrix`, `test`): advice that cannot change from
    /// one run to the next is not repeated at every demo.
    Once,
}

/// Makes the missing nodes in `root/dev` (replacing anything else of the same name). Only root
/// may make device nodes: otherwise it asks sudo, and if there is none, or it fails, says what
/// is missing and how to add it.
///
/// `dev` is found as a process chrooted into `root` would find it (safe.rs): a root filesystem
/// whose `dev` is a symlink out of it (`dev -> /usr/bin`, from a tarball) gets nothing, and
/// nothing of the host's is removed or replaced. As root, every change is made through a
/// descriptor of that folder (unlinkat, mknodat), never by a path that could be re-pointed.
pub fn ensure(root: &Path, tell: Tell) {
    let dev_dir = [OsString::from("dev")];
    // /dev/mqueue, where `ipc` on mounts the container's message queues: made here, through the
    // same walk, because a rootless container may not make it in a folder of root's. Failing
    // (a read-only copy, a folder of another user's), the stage says so when it runs.
    let mqueue = [OsString::from("dev"), OsString::from("mqueue")];
    if !matches!(safe::open_dir(root, &mqueue, false), Ok(Some(_))) {
        let _ = safe::dir(root, &mqueue);
    }
    let dev = match safe::open_dir(root, &dev_dir, false) {
        Ok(dir) => dir,
        Err(err) => return refuse(root, &err, tell),
    };
    let missing: Vec<(&str, u32, u32)> = NODES
        .into_iter()
        .filter(|(name, major, minor)| {
            !dev.as_ref()
                .is_some_and(|d| is_node(d, name, *major, *minor))
        })
        .collect();
    if missing.is_empty() {
        return;
    }
    if !util::is_root() && util::which("sudo").is_none() {
        return note(root, &names(&missing), "and there is no sudo", tell);
    }
    // Made if missing, through the same walk: never through a symlink out.
    let made = safe::dir(root, &dev_dir).and_then(|path| {
        let fd = safe::open_dir(root, &dev_dir, false)?;
        Ok((fd.context("dev vanished")?, path))
    });
    let (dev, dev_path) = match made {
        Ok(found) => found,
        Err(err) => return refuse(root, &err, tell),
    };
    let mut failed = Vec::new();
    for (name, major, minor) in &missing {
        if util::is_root() {
            if mknod(&dev, name, *major, *minor).is_err() {
                failed.push(*name);
            }
        } else {
            // sudo gets the folder's real path, as the walk found it: no symlink on the way.
            let path = dev_path.join(name);
            let made = Command::new("sudo")
                .args([
                    "sh",
                    "-c",
                    "rm -f \"$1\" && mknod -m 666 \"$1\" c \"$2\" \"$3\"",
                    "sh",
                ])
                .arg(&path)
                .args([major.to_string(), minor.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if !made {
                failed.push(*name);
            }
        }
    }
    if failed.is_empty() {
        eprintln!(
            "rootfs: made /dev/{{{}}} in {}",
            names(&missing),
            root.display()
        );
    } else if util::is_root() {
        note(root, &failed.join(","), "and mknod failed as root", tell);
    } else {
        note(root, &failed.join(","), "and sudo failed", tell);
    }
}

/// One line: the root filesystem's `dev` leads out of it, so no node is made.
fn refuse(root: &Path, err: &anyhow::Error, tell: Tell) {
    let line = format!(
        "rootfs: warning: made no device node in {}: {err:#}",
        root.display()
    );
    if tell == Tell::Always || util::first_time(&line) {
        eprintln!("{line}");
    }
}

/// One line: which nodes are missing, why that matters, and how to add them.
fn note(root: &Path, missing: &str, why: &str, tell: Tell) {
    let line = format!(
        "rootfs: note: {}/dev has no {{{missing}}} (device nodes need root, {why}): in the \
         container `> /dev/null` then writes a file; `cargo xtask rootfs` adds them when run \
         as root or with sudo",
        root.display()
    );
    // Recorded either way, so a demo after `cargo xtask rootfs` does not say it again.
    let first = util::first_time(&line);
    match tell {
        Tell::Always => eprintln!("{line}"),
        Tell::Once if first => eprintln!("{line} (said once)"),
        Tell::Once => {}
    }
}

fn names(nodes: &[(&str, u32, u32)]) -> String {
    nodes.iter().map(|n| n.0).collect::<Vec<_>>().join(",")
}

/// Whether `path` (whose metadata is `meta`) is one of the nodes this module makes, at its place
/// in `root/dev`: the only device nodes a root filesystem the xtask makes may hold.
pub fn is_project_node(root: &Path, path: &Path, meta: &fs::Metadata) -> bool {
    let dev = root.join("dev");
    NODES.iter().any(|(name, major, minor)| {
        path == dev.join(name)
            && meta.file_type().is_char_device()
            && libc::major(meta.rdev()) == *major
            && libc::minor(meta.rdev()) == *minor
    })
}

/// Whether `dev` holds `name` as that character device (the entry itself, not followed).
fn is_node(dev: &OwnedFd, name: &str, major: u32, minor: u32) -> bool {
    stat::fstatat(dev, name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| {
        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR
            && libc::major(st.st_rdev) == major
            && libc::minor(st.st_rdev) == minor
    })
}

/// Replaces `name` in the folder `dev` by the node, mode 0666: unlinkat removes a symlink
/// there, never what it points to, and mknodat makes the node in that folder only.
fn mknod(dev: &OwnedFd, name: &str, major: u32, minor: u32) -> nix::Result<()> {
    match unlinkat(dev, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(err) => return Err(err),
    }
    // mknod honours the umask: none for this call, so the mode is exactly 0666, as on any
    // host (no chmod by name afterwards, which would follow a symlink put there meanwhile).
    let old = stat::umask(Mode::empty());
    let made = stat::mknodat(
        dev,
        name,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        stat::makedev(u64::from(major), u64::from(minor)),
    );
    stat::umask(old);
    made
}

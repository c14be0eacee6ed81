//! The few device nodes a shell expects in `/dev`: `null`, `zero`, `full`, `random`, `urandom`
//! and `tty`. The stages before `full` run the command on the root filesystem as it is (only
//! `full` mounts a `/dev` of its own), and without `/dev/null` busybox's `sh` cannot start a
//! background job, while `> /dev/null` would write a regular file into the shared rootfs.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use nix::sys::stat::{self, Mode, SFlag};

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
pub fn ensure(root: &Path, tell: Tell) {
    let dev = root.join("dev");
    let missing: Vec<(&str, u32, u32)> = NODES
        .into_iter()
        .filter(|(name, major, minor)| !is_node(&dev.join(name), *major, *minor))
        .collect();
    if missing.is_empty() {
        return;
    }
    if !util::is_root() && util::which("sudo").is_none() {
        return note(root, &names(&missing), "and there is no sudo", tell);
    }
    let _ = fs::create_dir_all(&dev);
    let mut failed = Vec::new();
    for (name, major, minor) in &missing {
        let path = dev.join(name);
        if util::is_root() {
            let _ = fs::remove_file(&path);
            if mknod(&path, *major, *minor).is_err() {
                failed.push(*name);
            }
        } else {
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

fn is_node(path: &Path, major: u32, minor: u32) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| {
        m.file_type().is_char_device()
            && libc::major(m.rdev()) == major
            && libc::minor(m.rdev()) == minor
    })
}

fn mknod(path: &Path, major: u32, minor: u32) -> std::io::Result<()> {
    stat::mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        stat::makedev(u64::from(major), u64::from(minor)),
    )?;
    // mknod honours the umask: make the mode exactly 0666, as on any host.
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666))
}

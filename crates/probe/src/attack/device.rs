//! `device`: a node for a block device of the host, made with mknod(2), opens. Opened for
//! reading and closed at once, nothing read; the node is removed. Whoever can open the host's
//! disk reads (or writes) every file of the host under the filesystem's back.
//!
//! Which device: `--host-dev MAJ:MIN` when the host says (its disk, or one it can open: some
//! virtual machines refuse even host root its disk); else the device of `/` when it is a disk's
//! (a chroot into a folder of the host's disk), the disks /proc/partitions lists, and `loop0`.

use std::fs;
use std::os::unix::fs::MetadataExt;

use super::{sys, Outcome};

/// Where the node may go: the first place it can be made and opened.
const PLACES: &[&str] = &["/tmp", "/dev", "/"];

/// `loop0`, which exists on most machines and opens without a file behind it.
const LOOP0: (u32, u32) = (7, 0);

pub fn attempt(host_dev: Option<(u32, u32)>) -> Outcome {
    let mut devices: Vec<(u32, u32)> = match host_dev {
        Some(dev) => vec![dev],
        None => root_disk()
            .into_iter()
            .chain(partitions())
            .chain([LOOP0])
            .collect(),
    };
    devices.dedup();
    devices.truncate(4);
    let mut why = Vec::new();
    for (major, minor) in devices {
        match open_as_node(major, minor) {
            Ok(text) => return Outcome::through(text),
            Err(e) => why.push(e),
        }
    }
    Outcome::held(why.join("; "))
}

/// mknod and open in the first place that allows both; else on a fresh tmpfs mounted without
/// `nodev` (the way around a `nodev` mount, for whoever may mount); else the last error.
fn open_as_node(major: u32, minor: u32) -> Result<String, String> {
    let why = match in_place(major, minor, PLACES) {
        Ok(done) => return Ok(done),
        Err(why) => why,
    };
    let Ok(dir) = sys::scratch_dir(
        &["/tmp", "/dev", "/"],
        &format!(".probe-dev-{}", sys::pid()),
    ) else {
        return Err(why);
    };
    let tried = sys::mount("none", &dir, "tmpfs", libc::MS_NOSUID, "size=4k")
        .map_err(|e| format!("{why}; {e}"))
        .and_then(|()| {
            let tried = in_place(major, minor, &[dir.as_str()])
                .map(|done| format!("{done}, on a tmpfs it mounted"));
            let _ = sys::umount(&dir);
            tried
        });
    let _ = sys::rmdir(&dir);
    tried
}

fn in_place(major: u32, minor: u32, places: &[&str]) -> Result<String, String> {
    let mut why = String::new();
    for place in places {
        let node = format!("{}/.probe-disk-{}", place.trim_end_matches('/'), sys::pid());
        let path = sys::c(&node)?;
        let dev = libc::makedev(major, minor);
        // SAFETY: path is NUL-terminated.
        if unsafe { libc::mknod(path.as_ptr(), libc::S_IFBLK | 0o600, dev) } != 0 {
            why = sys::error(&format!("mknod {node} b {major} {minor}"));
            continue;
        }
        let opened = sys::open_close(&node, libc::O_RDONLY | libc::O_NONBLOCK);
        let _ = fs::remove_file(&node);
        match opened {
            Ok(()) => {
                return Ok(format!(
                    "mknod {node} b {major} {minor}, opened (closed unread)"
                ))
            }
            Err(e) => why = format!("made {major}:{minor}, then open {e}"),
        }
    }
    Err(why)
}

/// The device of `/`, when it is a disk's (not an overlay's or a tmpfs's: major 0).
fn root_disk() -> Option<(u32, u32)> {
    let dev = fs::metadata("/").ok()?.dev();
    let major = libc::major(dev);
    (major != 0).then(|| (major, libc::minor(dev)))
}

/// The disks /proc/partitions lists (loop, ram and zram devices left out).
fn partitions() -> Vec<(u32, u32)> {
    let table = fs::read_to_string("/proc/partitions").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            match f[..] {
                [major, minor, _, name]
                    if !["loop", "ram", "zram", "sr"]
                        .iter()
                        .any(|p| name.starts_with(p)) =>
                {
                    Some((major.parse().ok()?, minor.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect()
}

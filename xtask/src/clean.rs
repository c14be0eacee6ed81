//! `cargo xtask clean`: removes what a crashed or killed demo can leave on the host, and says
//! what it removed. It recognises the project's leftovers by name only:
//!
//! - cgroups whose folder name starts with `desde-cero`, in every v1 hierarchy and in v2: their
//!   processes are killed first (`cgroup.kill`, else SIGKILL to each), then the folders are
//!   removed, deepest first;
//! - stray mounts under the project's root filesystem or an overlay folder, lazily unmounted;
//! - overlay folders `/tmp/desde-cero-overlay-<pid>` of the `full` stage;
//! - host ends of the `net` stage's veth links.
//!
//! A leftover whose name carries the pid of a stage that is still running belongs to a live
//! container: it is left alone, and the report says so. Running it when there is nothing to
//! clean is safe: it says "nothing to clean" and exits 0. Exit 1 when something could not be
//! removed.

use std::collections::BTreeSet;
use std::ffi::{CString, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::rootfs;
use crate::util::{self, usage};

/// The name every cgroup of the project starts with.
pub const CGROUP_PREFIX: &str = "desde-cero";
/// The `full` stage's overlay folders: this prefix, then the runtime's pid.
pub const OVERLAY_PREFIX: &str = "desde-cero-overlay-";
/// The `net` stage names its veth ends `dc<runtime pid>h` (host) and `dc<runtime pid>c`.
pub const VETH_PREFIX: &str = "dc";

/// Whether a link's name is one the `net` stage gives: `dc`, digits, then `h` or `c`.
pub fn is_project_link(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(VETH_PREFIX) else {
        return false;
    };
    let digits = rest.trim_end_matches(['h', 'c']);
    rest.len() == digits.len() + 1
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// One line of `/proc/self/mountinfo`, see proc(5).
#[derive(Debug, Clone)]
pub struct Mount {
    pub mount_point: PathBuf,
    /// Optional fields: `shared:N`, `master:N`, ...
    pub optional: Vec<String>,
    pub fstype: String,
    pub super_options: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) if bytes[i] == b'\\' => {
                out.push(
                    d.iter()
                        .fold(0u8, |n, b| n.wrapping_mul(8).wrapping_add(b - b'0')),
                );
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

/// The mount table of this process's mount namespace, in mount order.
pub fn mountinfo() -> Vec<Mount> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            Some(Mount {
                mount_point: unescape(fields.get(4)?),
                optional: fields.get(6..sep)?.iter().map(|s| s.to_string()).collect(),
                fstype: fields.get(sep + 1)?.to_string(),
                super_options: fields.get(sep + 3).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// What clean found and did.
#[derive(Default)]
struct Report {
    removed: Vec<String>,
    kept: Vec<String>,
    failed: Vec<String>,
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    if let Some(arg) = args.first() {
        return Err(usage(format!(
            "unexpected argument {arg:?}\nusage: cargo xtask clean"
        )));
    }
    let found = find();
    if found.is_empty() {
        println!("clean: nothing to clean");
        return Ok(0);
    }
    if !util::is_root() {
        // Cgroups, mounts and links belong to root: do the same again through sudo.
        eprintln!(
            "clean: found {} leftover(s); removing them needs root, using sudo",
            found.len()
        );
        let exe = std::env::current_exe().context("cannot find the xtask's own binary")?;
        let err = Command::new("sudo")
            .arg(format!("--preserve-env={}", rootfs::ENV_VAR))
            .arg("--")
            .arg(exe)
            .arg("clean")
            .exec();
        return Err(err)
            .context("cannot start sudo: run `cargo xtask clean` as root, or install sudo");
    }
    let report = clean(found);
    for line in &report.removed {
        println!("clean: removed {line}");
    }
    for line in &report.kept {
        println!("clean: left alone {line}");
    }
    for line in &report.failed {
        eprintln!("clean: could not remove {line}");
    }
    if report.removed.is_empty() && report.failed.is_empty() {
        println!("clean: nothing else to clean: the rest belongs to running containers");
    }
    Ok(if report.failed.is_empty() { 0 } else { 1 })
}

/// A leftover, found by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Leftover {
    /// A mount point; unmounted lazily.
    Mount(PathBuf),
    /// A cgroup folder (a project group, or a group below one).
    Cgroup(PathBuf),
    /// An overlay folder of `full`.
    Overlay(PathBuf),
    /// The host end of a veth link.
    Veth(String),
}

impl Leftover {
    fn describe(&self) -> String {
        match self {
            Leftover::Mount(p) => format!("mount {}", p.display()),
            Leftover::Cgroup(p) => format!("cgroup {}", p.display()),
            Leftover::Overlay(p) => format!("overlay folder {}", p.display()),
            Leftover::Veth(name) => format!("veth {name}"),
        }
    }
}

/// Everything of the project's that is on the host now (live containers' things included).
fn find() -> Vec<Leftover> {
    let mut found = Vec::new();
    let mounts = mountinfo();
    let overlays = overlay_dirs();
    let mut roots: Vec<PathBuf> = overlays.clone();
    let rootfs_dir = rootfs::default_dir();
    roots.push(rootfs_dir.canonicalize().unwrap_or(rootfs_dir));
    // Mounts in reverse mount order, so the ones mounted on top go first.
    for m in mounts.iter().rev() {
        if roots.iter().any(|r| m.mount_point.starts_with(r)) {
            found.push(Leftover::Mount(m.mount_point.clone()));
        }
    }
    found.extend(cgroup_dirs(&mounts).into_iter().map(Leftover::Cgroup));
    found.extend(overlays.into_iter().map(Leftover::Overlay));
    found.extend(veths().into_iter().map(Leftover::Veth));
    found
}

/// The `full` stage's overlay folders, in `/tmp` and in `$TMPDIR`.
fn overlay_dirs() -> Vec<PathBuf> {
    let mut dirs = BTreeSet::new();
    for tmp in [PathBuf::from("/tmp"), std::env::temp_dir()] {
        let Ok(entries) = fs::read_dir(&tmp) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(OVERLAY_PREFIX)
            {
                dirs.insert(entry.path());
            }
        }
    }
    dirs.into_iter().collect()
}

/// Every cgroup folder named `desde-cero…` and every folder below one, in every hierarchy,
/// deepest first.
fn cgroup_dirs(mounts: &[Mount]) -> Vec<PathBuf> {
    let mut found = BTreeSet::new();
    let tops: BTreeSet<&Path> = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .map(|m| m.mount_point.as_path())
        .collect();
    for top in tops {
        walk(top, 0, false, &mut found);
    }
    let mut dirs: Vec<PathBuf> = found.into_iter().collect();
    dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    dirs
}

fn walk(dir: &Path, depth: usize, inside: bool, found: &mut BTreeSet<PathBuf>) {
    if depth > 12 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        let ours = inside
            || entry
                .file_name()
                .to_string_lossy()
                .starts_with(CGROUP_PREFIX);
        if ours {
            found.insert(path.clone());
        }
        walk(&path, depth + 1, ours, found);
    }
}

/// Network links named like the `net` stage's veth ends, and that are veths.
fn veths() -> Vec<String> {
    let Ok(entries) = fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| is_project_link(name))
        .filter(|name| is_veth(name))
        .collect();
    found.sort();
    found
}

/// A veth's driver says so in its uevent-less sysfs entry only through ethtool, so ask the
/// link's `iflink` instead: a veth's peer is another link, so `iflink` differs from `ifindex`.
fn is_veth(name: &str) -> bool {
    let read = |f: &str| fs::read_to_string(format!("/sys/class/net/{name}/{f}")).ok();
    let virtual_dev = fs::canonicalize(format!("/sys/class/net/{name}"))
        .is_ok_and(|p| p.starts_with("/sys/devices/virtual/net"));
    virtual_dev && read("iflink") != read("ifindex")
}

/// The pid in a leftover's name, if a stage with that pid is still running.
fn live_owner(name: &str) -> Option<u32> {
    let digits: String = name
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let pid: u32 = digits.parse().ok()?;
    let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let exe_name = exe.file_name()?.to_string_lossy().into_owned();
    // A deleted binary (rebuilt while running) reads as "name (deleted)".
    let exe_name = exe_name.trim_end_matches(" (deleted)");
    catalog::STAGES
        .iter()
        .any(|s| s.name == exe_name)
        .then_some(pid)
}

/// The live container a cgroup folder belongs to: a component from the first `desde-cero…` one
/// on carries the pid of a stage that is still running.
fn live_cgroup_owner(path: &Path) -> Option<u32> {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .skip_while(|name| !name.starts_with(CGROUP_PREFIX))
        .find_map(|name| live_owner(&name))
}

fn clean(found: Vec<Leftover>) -> Report {
    let mut report = Report::default();
    let mut live_overlays = Vec::new();
    for item in &found {
        if let Leftover::Overlay(dir) = item {
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            if let Some(pid) = live_owner(&name) {
                live_overlays.push(dir.clone());
                report.kept.push(format!(
                    "{} (container pid {pid} still running)",
                    item.describe()
                ));
            }
        }
    }
    for item in found {
        match &item {
            Leftover::Mount(point) => {
                if live_overlays.iter().any(|d| point.starts_with(d)) {
                    continue;
                }
                match umount_lazy(point) {
                    Ok(()) => report.removed.push(item.describe()),
                    // Unmounting a parent first may already have taken this one away.
                    Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {}
                    Err(err) => report.failed.push(format!("{}: {err}", item.describe())),
                }
            }
            Leftover::Cgroup(dir) => {
                if let Some(pid) = live_cgroup_owner(dir) {
                    report.kept.push(format!(
                        "{} (container pid {pid} still running)",
                        item.describe()
                    ));
                    continue;
                }
                match remove_cgroup(dir) {
                    Ok(true) => report.removed.push(item.describe()),
                    // A parent of a live container's group: it stays, silently.
                    Ok(false) => {}
                    Err(err) => report.failed.push(format!("{}: {err:#}", item.describe())),
                }
            }
            Leftover::Overlay(dir) => {
                if live_overlays.contains(dir) {
                    continue;
                }
                match fs::remove_dir_all(dir) {
                    Ok(()) => report.removed.push(item.describe()),
                    Err(err) => report.failed.push(format!("{}: {err}", item.describe())),
                }
            }
            Leftover::Veth(name) => {
                // Deleting one end of a pair deletes the other: it may be gone already.
                if !Path::new("/sys/class/net").join(name).exists() {
                    continue;
                }
                if let Some(pid) = live_owner(name) {
                    report.kept.push(format!(
                        "{} (container pid {pid} still running)",
                        item.describe()
                    ));
                    continue;
                }
                match delete_link(name) {
                    Ok(()) => report.removed.push(item.describe()),
                    Err(err) => report.failed.push(format!("{}: {err:#}", item.describe())),
                }
            }
        }
    }
    report
}

fn umount_lazy(point: &Path) -> std::io::Result<()> {
    let c = CString::new(point.as_os_str().as_bytes())?;
    // SAFETY: a valid C string; MNT_DETACH only detaches the mount, nothing is dereferenced.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The pids in a cgroup folder (v2 and v1 both have `cgroup.procs`).
fn procs(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Kills what is in a cgroup, then removes its folder. `Ok(false)` when the folder still has
/// groups below it (a live container's, left alone).
fn remove_cgroup(dir: &Path) -> Result<bool> {
    if fs::read_dir(dir)?
        .flatten()
        .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
    {
        return Ok(false);
    }
    if !procs(dir).is_empty() {
        // cgroup.kill (v2, Linux 5.14) kills every process in the group at once, even ones
        // forking right now; elsewhere each is sent SIGKILL until none is left.
        let killed_at_once = fs::write(dir.join("cgroup.kill"), "1").is_ok();
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let left = procs(dir);
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                anyhow::bail!("processes {left:?} would not die");
            }
            if !killed_at_once {
                for pid in left {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // A killed process leaves the group a moment after it is gone from cgroup.procs: retry
    // rmdir briefly on EBUSY.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(true),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(err) if err.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(err) => return Err(err.into()),
        }
    }
}

fn delete_link(name: &str) -> Result<()> {
    let out = Command::new("ip")
        .args(["link", "delete", name])
        .output()
        .context("cannot run `ip` (install iproute2)")?;
    if out.status.success() || !Path::new("/sys/class/net").join(name).exists() {
        Ok(())
    } else {
        anyhow::bail!(
            "ip link delete: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    }
}

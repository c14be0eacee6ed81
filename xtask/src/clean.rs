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
//! The `hoststate` crate lists these things; the tests' leak check reads the same lists.
//!
//! A leftover whose name carries the pid of a stage that is still running belongs to a live
//! container: it is left alone, and the report says so. Running it when there is nothing to
//! clean is safe: it says "nothing to clean" and exits 0. Exit 1 when something could not be
//! removed.

use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::util;
use crate::{cli, rootfs};

pub const CLI: cli::Command = cli::Command {
    name: "clean",
    about: "remove what a killed demo left behind (cgroups, veths, mounts, overlays)",
    args: &[],
    rest: None,
    notes: "Leftovers are recognised by name only; those of a container still running are \
            left alone. Safe to run when there is nothing to clean.",
};

/// What clean found and did.
#[derive(Default)]
struct Report {
    removed: Vec<String>,
    kept: Vec<String>,
    failed: Vec<String>,
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    CLI.parse(args)?;
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
        let err = util::as_root(true, exe, &["sudo"], &[rootfs::ENV_VAR], None)
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
    let mounts = hoststate::mounts();
    let overlays = hoststate::overlays();
    let mut roots: Vec<PathBuf> = overlays.clone();
    let rootfs_dir = rootfs::default_dir();
    roots.push(rootfs_dir.canonicalize().unwrap_or(rootfs_dir));
    // Mounts in reverse mount order, so the ones mounted on top go first.
    for m in mounts.iter().rev() {
        if roots.iter().any(|r| m.mount_point.starts_with(r)) {
            found.push(Leftover::Mount(m.mount_point.clone()));
        }
    }
    found.extend(
        hoststate::cgroups(&mounts)
            .into_iter()
            .map(Leftover::Cgroup),
    );
    found.extend(overlays.into_iter().map(Leftover::Overlay));
    found.extend(hoststate::veths().into_iter().map(Leftover::Veth));
    found
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
        .skip_while(|name| !name.starts_with(hoststate::CGROUP_PREFIX))
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
                    // Gone meanwhile: a container that ended as we looked, its runtime
                    // removing its own groups.
                    Err(_) if !dir.exists() => {}
                    Err(err) => report.failed.push(format!("{}: {err:#}", item.describe())),
                }
            }
            Leftover::Overlay(dir) => {
                if live_overlays.contains(dir) {
                    continue;
                }
                match fs::remove_dir_all(dir) {
                    Ok(()) => report.removed.push(item.describe()),
                    Err(_) if !dir.exists() => {}
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
    Ok(umount2(point, MntFlags::MNT_DETACH)?)
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
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
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
    let ip = util::which("ip").context("cannot run `ip` (install iproute2)")?;
    match util::output_checked(Command::new(ip).args(["link", "delete", name])) {
        // Deleting the other end of its pair may have taken it away meanwhile.
        Err(_) if !Path::new("/sys/class/net").join(name).exists() => Ok(()),
        result => result.map(drop),
    }
}

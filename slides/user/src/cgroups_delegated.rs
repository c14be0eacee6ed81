//! The container's cgroup without root, as podman makes it: in a cgroup v2
//! group delegated to the user who runs us. The cgroups stage's steps
//! (cgroups.rs), from a group that is ours instead of root's; userns.rs
//! includes it.
//!
//! A group is delegated to a user when its folder and its files
//! cgroup.procs, cgroup.subtree_control and cgroup.threads are the user's:
//! the user may then make groups under it, move its own processes between
//! them, and enable there the controllers the groups above pass on. systemd
//! gives one with `Delegate=` (its user@.service delegates pids and memory,
//! cpu too where configured); v1 has no safe way to do it.
//!
//! Man pages: cgroups(7); the kernel's admin-guide/cgroup-v2.rst
//! ("Delegation", "No Internal Process Constraint").

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process;

use nix::sys::statfs::CGROUP2_SUPER_MAGIC;
use nix::unistd::geteuid;
use skeleton::{say, Failure, Result};

use crate::cgroups::support::{self, CONTROLLERS, ROOT};
use crate::cgroups::{write_limits, Cgroup, Limits};

/// What a user is given with a delegated group, besides the folder: the
/// files whose writes move processes and enable controllers.
const FILES: [&str; 3] =
    ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"];

/// systemd's way to start a command in a group delegated to its user.
const SYSTEMD_RUN: &str = "systemd-run --user --scope -p Delegate=yes";

/// The container's group, made without root in the group delegated to us;
/// None where there is none, with a line that says why and how to get one.
/// `asked`: the controllers whose limits were asked for explicitly (`full
/// --memory`...): one that cannot be applied is an error, not dropped.
pub fn create(limits: &Limits, asked: &[&str]) -> Result<Option<Cgroup>> {
    let group = match delegated_group() {
        Ok(group) => group,
        Err(why) => return without(&why, asked).map(|()| None),
    };
    // Each limit whose controller the groups above do not pass on to ours
    // cannot be applied: named, or refused if asked for.
    let uid = geteuid();
    let mut offered = Vec::new();
    for controller in CONTROLLERS {
        if support::has(&group, "cgroup.controllers", controller) {
            offered.push(controller);
            continue;
        }
        let why = format!(
            "the {controller} controller is not delegated to uid {uid} (not \
             in {})",
            group.join("cgroup.controllers").display()
        );
        if asked.contains(&controller) {
            return Err(refused(controller, &why));
        }
        let name = skeleton::name();
        eprintln!("{name}: running WITHOUT a {controller} limit: {why}");
    }
    if offered.is_empty() {
        return Ok(None);
    }
    // v2 lets a group enable controllers for its children only while it has
    // no processes of its own: we leave ours for a leaf under it first.
    // Writing 0 to cgroup.procs moves the writer; it takes write access to
    // the cgroup.procs of both groups' common ancestor: ours.
    let leaf = group.join(format!("desde-cero-{}-runtime", process::id()));
    fs::create_dir(&leaf).map_err(|err| {
        let step = format!("mkdir {}", leaf.display());
        skeleton::failure(&step, support::errno(&err), "see cgroups(7)")
    })?;
    let mut back = Back {
        group: group.clone(),
        leaf,
        enabled: Vec::new(),
    };
    support::echo(0, &back.leaf.join("cgroup.procs"))?;
    say!(
        "parent: delegated to us: {}; we move to a leaf: {}",
        skeleton::short(&group),
        skeleton::short(&back.leaf)
    );
    // Then our controllers, for the group's children.
    for controller in offered {
        let file = group.join("cgroup.subtree_control");
        support::echo(format!("+{controller}"), &file)?;
        back.enabled.push(controller);
    }
    // Then the container's group beside our leaf, as root makes it beside
    // ours; `back` is dropped once it is removed, by every way out.
    let mut cgroup = support::mkdir(&group, limits)?;
    cgroup._back = Some(Box::new(back));
    write_limits(&group, &cgroup.dirs[0], limits)?;
    Ok(Some(cgroup))
}

/// Our own group, if it is delegated to us and we are its only process;
/// else why not, and how to get one.
fn delegated_group() -> std::result::Result<PathBuf, String> {
    let root = "or run it as root";
    // statfs(2): v2 mounts its one tree at /sys/fs/cgroup.
    if !support::is_mounted(Path::new(ROOT), CGROUP2_SUPER_MAGIC) {
        return Err(format!(
            "this host's cgroups are v1 (or hybrid), which has no safe \
             delegation to an ordinary user: boot it with cgroup v2 alone, \
             {root}"
        ));
    }
    let group = match support::own_group() {
        own if own.as_os_str().is_empty() => PathBuf::from(ROOT),
        own => Path::new(ROOT).join(own),
    };
    // Ours when the folder and its FILES are: owned by our euid.
    let uid = geteuid().as_raw();
    let theirs = ["."].iter().chain(&FILES).find(|file| {
        fs::metadata(group.join(file)).map_or(true, |m| m.uid() != uid)
    });
    let how = format!("`{SYSTEMD_RUN} -- <this command>` starts it in one");
    if let Some(file) = theirs {
        return Err(format!(
            "our cgroup {} is not delegated to uid {uid} ({file} is not \
             ours): {how}, {root}",
            group.display(),
        ));
    }
    // Other processes in it would keep it from passing controllers on.
    let procs = fs::read_to_string(group.join("cgroup.procs"));
    let ours = process::id().to_string();
    if procs.unwrap_or_default().lines().any(|pid| pid != ours) {
        return Err(format!(
            "our cgroup {} is delegated to uid {uid} but has other processes: \
             {how} of its own, {root}",
            group.display(),
        ));
    }
    Ok(group)
}

/// No group: the line that says so, or, with a limit asked for, the error.
fn without(why: &str, asked: &[&str]) -> Result<()> {
    if let Some(controller) = asked.first() {
        return Err(refused(controller, why));
    }
    eprintln!("{}: running WITHOUT cgroup limits: {why}", skeleton::name());
    Ok(())
}

/// A limit asked for that cannot be applied: exit 125, one line.
fn refused(controller: &str, why: &str) -> Failure {
    Failure {
        code: skeleton::EXIT_RUNTIME,
        message: format!(
            "a {controller} limit was asked for and cannot be applied: {why}"
        ),
    }
}

/// The way back, once the container's group is removed: the controllers we
/// enabled off again, ourselves back in the delegated group, our leaf
/// removed. The group is left as we found it.
struct Back {
    group: PathBuf,
    leaf: PathBuf,
    enabled: Vec<&'static str>,
}

impl Drop for Back {
    fn drop(&mut self) {
        let off: Vec<_> =
            self.enabled.iter().map(|c| format!("-{c}")).collect();
        let control = self.group.join("cgroup.subtree_control");
        // A group with controllers enabled for its children takes no
        // process: off first, then back.
        let done = (off.is_empty()
            || report(support::echo(off.join(" "), &control)))
            && report(support::echo(0, &self.group.join("cgroup.procs")));
        if done {
            let leaf = skeleton::short(&self.leaf);
            say!(
                "parent: back in {}, rmdir {leaf}",
                skeleton::short(&self.group)
            );
            let removed = fs::remove_dir(&self.leaf).map_err(|err| {
                let step = format!("rmdir {}", self.leaf.display());
                skeleton::failure(&step, support::errno(&err), "see cgroups(7)")
            });
            report(removed);
        }
    }
}

/// Whether a step of the way back went well; a failure in one line.
fn report(step: Result<()>) -> bool {
    step.map_err(|failure| {
        eprintln!("{}: {}", skeleton::name(), failure.message)
    })
    .is_ok()
}

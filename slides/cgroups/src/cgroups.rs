//! A cgroup of the container's own, in the unified (v2) hierarchy: one tree
//! at /sys/fs/cgroup, where a group is a folder and each limit a file in it.
//! Hosts that still mount v1 trees (one per controller, or "hybrid": v1 for
//! the controllers, an empty v2 tree beside them) are handled apart, in
//! cgroups_v1.rs: same steps, other file names, and no clone3(2) into a group.
//!
//! Man pages: cgroups(7); the kernel's admin-guide/cgroup-v2.rst.

use std::env;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::statfs::{statfs, FsType, CGROUP2_SUPER_MAGIC};
use nix::unistd::Pid;
use skeleton::{say, Failure, Result, Spawn};

// `#[path]`, so that a later stage that includes this file by its path finds
// this one beside it.
#[path = "cgroups_v1.rs"]
mod v1;

/// Where the kernel's cgroup filesystems are mounted.
const ROOT: &str = "/sys/fs/cgroup";
/// The controllers of our limits (v1 names its trees the same).
const CONTROLLERS: [&str; 3] = ["pids", "memory", "cpu"];
/// The scheduler's period for the CPU quota, in µs: 100 ms.
const CPU_PERIOD_US: u64 = 100_000;
/// Set to 1 to run without the limits of missing controllers (else they are
/// an error naming the fix).
const PARTIAL_ENV: &str = "DESDE_CERO_PARTIAL_CGROUPS";

/// What the container may use.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Processes and threads.
    pub pids: u64,
    /// Memory, in bytes, with no swap on top of it.
    pub memory: u64,
    /// CPU time in each 100 ms period, in µs: 50 000 is half a CPU.
    pub cpu_quota_us: u64,
}

impl Limits {
    /// 20 processes, 100 MiB, half a CPU.
    pub const DEFAULT: Limits = Limits {
        pids: 20,
        memory: 100 << 20,
        cpu_quota_us: 50_000,
    };
}

/// The container's group: one folder on v2 (one per controller on v1).
/// Dropping it kills what is left in it and removes it.
pub struct Cgroup {
    dirs: Vec<PathBuf>,
    /// v2: the group's folder, open, for clone3(2) to start the child in.
    /// None: made in v1 trees (cgroups_v1.rs).
    dir: Option<File>,
    limits: Limits,
}

impl Cgroup {
    /// Makes the group `desde-cero-<our pid>` and writes its limits.
    pub fn create(limits: &Limits) -> Result<Cgroup> {
        // statfs(2) names the filesystem mounted at a path: v2 mounts its one
        // tree at /sys/fs/cgroup, v1 a tmpfs with a tree per controller in it.
        if !is_mounted(Path::new(ROOT), CGROUP2_SUPER_MAGIC) {
            return v1::create(limits);
        }
        let base = base_group()?;
        let mut cgroup = Cgroup {
            dirs: Vec::new(),
            dir: None,
            limits: *limits,
        };
        let dir = make_group(&base, &mut cgroup)?;
        cgroup.dir = Some(File::open(&dir).map_err(|err| {
            let step = format!("open {}", dir.display());
            skeleton::failure(&step, errno(&err), "see open(2)")
        })?);
        say!("parent: cgroup v2: mkdir {}", skeleton::short(&dir));
        let shown = write_limits(&base, &dir, limits)?;
        say!("parent: {}", shown.join(", "));
        Ok(cgroup)
    }

    /// Has the child that `spawn` starts born in the group: it is counted
    /// from its first instruction, and so is all it starts.
    pub fn join<'a>(&'a self, spawn: Spawn<'a>) -> Spawn<'a> {
        let Some(dir) = &self.dir else {
            return v1::join(&self.dirs, spawn);
        };
        // clone3(2) with CLONE_INTO_CGROUP and the group's folder makes the
        // child in the group. (Writing its pid to cgroup.procs afterwards
        // moves it too, but takes a lock that every fork and exit on the host
        // takes, and waits for an RCU grace period: about 10 ms.)
        say!("parent: clone3 with CLONE_INTO_CGROUP: the child is born in it");
        spawn.into_cgroup(dir.as_fd())
    }

    /// Says so when the memory limit's OOM killer ended the command (137 is
    /// 128 + SIGKILL); returns `code`, the container's exit code.
    pub fn explain(&self, code: u8) -> u8 {
        // The kernel counts its kills as `oom_kill N` in memory.events.
        let file = match self.dir {
            Some(_) => "memory.events",
            None => v1::OOM_FILE,
        };
        let mut kills = 0;
        for dir in &self.dirs {
            let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
            let n = text.lines().find_map(|l| l.strip_prefix("oom_kill "));
            kills += n.and_then(|n| n.trim().parse().ok()).unwrap_or(0);
        }
        if kills > 0 && code == 128 + Signal::SIGKILL as u8 {
            let mib = self.limits.memory >> 20;
            let name = skeleton::name();
            eprintln!(
                "{name}: killed by the OOM killer: memory limit {mib} MiB"
            );
        }
        code
    }

    /// How the teaching lines name the group.
    fn shown(&self) -> String {
        match self.dir {
            Some(_) => skeleton::short(&self.dirs[0]),
            None => v1::shown_dirs(&self.dirs),
        }
    }
}

impl Drop for Cgroup {
    /// Removes the group once the container has ended. rmdir(2) removes a
    /// group without processes, and fails with EBUSY while one is left (or
    /// still exiting): kill them all and try again, for 10 s at most.
    fn drop(&mut self) {
        if self.dirs.is_empty() {
            return;
        }
        say!("parent: rmdir {}", self.shown());
        for dir in &self.dirs {
            let deadline = Instant::now() + Duration::from_secs(10);
            while let Err(err) = fs::remove_dir(dir) {
                if errno(&err) != Errno::EBUSY || Instant::now() > deadline {
                    let step = format!("rmdir {}", dir.display());
                    let hint = "remove it by hand once its processes are gone";
                    let failure = skeleton::failure(&step, errno(&err), hint);
                    eprintln!("{}: {}", skeleton::name(), failure.message);
                    break;
                }
                // Writing 1 to cgroup.kill sends SIGKILL to every process in
                // the group. (v1, and v2 before Linux 5.14, have no such file:
                // kill them one by one.)
                if fs::write(dir.join("cgroup.kill"), "1").is_err() {
                    kill_each(dir);
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The group ours goes in: beside the runtime's own, in its parent. v2 lets a
/// group pass controllers on to its children only while it has no processes
/// itself ("no internal processes"), and the runtime's has one: us. (The root
/// group is exempt.) Enables our controllers there.
fn base_group() -> Result<PathBuf> {
    // Our group is the path of the `0::<path>` line of /proc/self/cgroup.
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("");
    let own = Path::new(own.trim_start_matches('/'));
    let base = Path::new(ROOT).join(own.parent().unwrap_or(Path::new("")));
    for controller in CONTROLLERS {
        if !has(&base, "cgroup.controllers", controller) {
            // Not offered here: the groups above do not pass it on.
            let fix = "enable it in the cgroup.subtree_control of the groups \
                       above ours";
            missing(controller, fix)?;
        } else if !has(&base, "cgroup.subtree_control", controller) {
            // A group has a controller's files only when its parent enables
            // it for its children in cgroup.subtree_control.
            let file = base.join("cgroup.subtree_control");
            echo(format!("+{controller}"), &file)?;
        }
    }
    Ok(base)
}

/// Writes `limits` into the group `dir`, each one whose controller `base`
/// enables for its children; returns them as the teaching line shows them.
fn write_limits(
    base: &Path,
    dir: &Path,
    limits: &Limits,
) -> Result<Vec<String>> {
    let mut shown = Vec::new();
    if has(base, "cgroup.subtree_control", "pids") {
        // fork(2) and clone(2) fail with EAGAIN once the group has this
        // many processes and threads.
        shown.push(write(dir, "pids.max", limits.pids)?);
    }
    if has(base, "cgroup.subtree_control", "memory") {
        // Past it the kernel reclaims, then its OOM killer kills a process
        // of the group. No swap either, or swap would be the way out (the
        // file exists only where the kernel counts swap).
        shown.push(write(dir, "memory.max", limits.memory)?);
        if dir.join("memory.swap.max").exists() {
            write(dir, "memory.swap.max", 0)?;
        }
    }
    if has(base, "cgroup.subtree_control", "cpu") {
        // The scheduler runs the group for its quota in every period,
        // then throttles it until the next one.
        let max = format!("{} {CPU_PERIOD_US}", limits.cpu_quota_us);
        shown.push(write(dir, "cpu.max", max)?);
    }
    Ok(shown)
}

/// mkdir(2) in a cgroup filesystem makes a group, and the kernel fills it
/// with its files. The new folder is remembered in `cgroup`, to be removed.
fn make_group(parent: &Path, cgroup: &mut Cgroup) -> Result<PathBuf> {
    let dir = parent.join(format!("desde-cero-{}", process::id()));
    fs::create_dir(&dir).map_err(|err| {
        let step = format!("mkdir {}", dir.display());
        skeleton::failure(&step, errno(&err), &skeleton::root_hint())
    })?;
    cgroup.dirs.push(dir.clone());
    Ok(dir)
}

/// Writes a limit into a file of the group; returns it as `file value`, for
/// the teaching line.
fn write(dir: &Path, file: &str, value: impl ToString) -> Result<String> {
    let value = value.to_string();
    echo(&value, &dir.join(file))?;
    Ok(format!("{file} {value}"))
}

/// Writes `value` into a cgroup file; a failure is named as the shell command
/// that does the same.
fn echo(value: impl ToString, path: &Path) -> Result<()> {
    let value = value.to_string();
    fs::write(path, &value).map_err(|err| {
        let step = format!("echo {value} > {}", path.display());
        let hint = match errno(&err) {
            // v2's "no internal processes" rule, for cgroup.subtree_control.
            Errno::EBUSY => "that group has processes: start this from a \
                             group whose parent has none"
                .to_string(),
            Errno::EPERM | Errno::EACCES => skeleton::root_hint(),
            _ => "see cgroups(7)".to_string(),
        };
        skeleton::failure(&step, errno(&err), &hint)
    })
}

/// A controller that is not available: an error with the fix, unless the user
/// allowed running without its limit.
fn missing(controller: &str, fix: &str) -> Result<()> {
    if env::var_os(PARTIAL_ENV).is_some_and(|value| value == "1") {
        let (name, c) = (skeleton::name(), controller);
        eprintln!("{name}: no {c} controller: running WITHOUT a {c} limit");
        return Ok(());
    }
    Err(Failure {
        code: skeleton::EXIT_RUNTIME,
        message: format!(
            "cgroup: no {controller} controller — {fix}, or set \
             {PARTIAL_ENV}=1 to run without a {controller} limit"
        ),
    })
}

/// Sends SIGKILL to each process listed in the group's cgroup.procs.
fn kill_each(dir: &Path) {
    let procs =
        fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|pid| pid.parse().ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Whether the whitespace-separated list in `dir/file` names `word`.
fn has(dir: &Path, file: &str, word: &str) -> bool {
    let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
    text.split_whitespace().any(|w| w == word)
}

/// Whether a filesystem with this magic number is mounted at `path`.
fn is_mounted(path: &Path, magic: FsType) -> bool {
    statfs(path).is_ok_and(|found| found.filesystem_type() == magic)
}

/// The kernel's error number in an io::Error (std's file functions return
/// those).
fn errno(err: &io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(0))
}

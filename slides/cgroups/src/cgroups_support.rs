//! What cgroups.rs stands on: the group's type and limits, where the group
//! goes, the controllers it needs, errors named as the shell command that
//! fails, the OOM report, and the removal that waits for the group to empty.
//!
//! Man pages: cgroups(7); the kernel's admin-guide/cgroup-v2.rst.

use std::any::Any;
use std::env;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::statfs::{statfs, FsType, CGROUP2_SUPER_MAGIC};
use nix::unistd::Pid;
use skeleton::{say, Failure, InChild, Result};

/// Where the kernel's cgroup filesystems are mounted.
pub const ROOT: &str = "/sys/fs/cgroup";
/// The controllers of our limits (v1 names its trees the same).
pub const CONTROLLERS: [&str; 3] = ["pids", "memory", "cpu"];
/// The scheduler's period for the CPU quota, in µs: 100 ms.
pub const CPU_PERIOD_US: u64 = 100_000;
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
    /// The group's folders, to be removed.
    pub dirs: Vec<PathBuf>,
    /// v2: the group's folder, open, for clone3(2) to start the child in.
    /// None: made in v1 trees (cgroups_v1.rs).
    pub dir: Option<File>,
    /// Its limits, for the OOM report.
    pub limits: Limits,
    /// Held only to be dropped once the group is removed (a struct's fields
    /// are dropped after its own drop): a rootless runtime's way back to the
    /// group it moved out of (cgroups_delegated.rs).
    pub _back: Option<Box<dyn Any>>,
}

impl Cgroup {
    /// Says so when the memory limit's OOM killer ended the command (137 is
    /// 128 + SIGKILL); returns `code`, the container's exit code.
    pub fn explain(&self, code: u8) -> u8 {
        // The kernel counts its kills as `oom_kill N` in memory.events.
        let file = match self.dir {
            Some(_) => "memory.events",
            None => super::v1::OOM_FILE,
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
    pub fn shown(&self) -> String {
        match self.dir {
            Some(_) => skeleton::short(&self.dirs[0]),
            None => super::v1::shown_dirs(&self.dirs),
        }
    }
}

/// The group ours goes in, on v2 (None where /sys/fs/cgroup is v1's): beside
/// the runtime's own, in its parent. v2 lets a group pass controllers on to
/// its children only while it has no processes itself ("no internal
/// processes"), and the runtime's has one: us. (The root group is exempt.)
/// Enables our controllers there.
pub fn base_group() -> Result<Option<PathBuf>> {
    // statfs(2) names the filesystem mounted at a path: v2 mounts its one
    // tree at /sys/fs/cgroup, v1 a tmpfs with a tree per controller in it.
    if !is_mounted(Path::new(ROOT), CGROUP2_SUPER_MAGIC) {
        return Ok(None);
    }
    let own = own_group();
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
    Ok(Some(base))
}

/// Our own v2 group, under ROOT: the path of the `0::<path>` line of
/// /proc/self/cgroup.
pub fn own_group() -> PathBuf {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("");
    PathBuf::from(own.trim().trim_start_matches('/'))
}

/// The v2 group `desde-cero-<our pid>` in `base`, made and opened.
pub fn mkdir(base: &Path, limits: &Limits) -> Result<Cgroup> {
    let mut cgroup = Cgroup {
        dirs: Vec::new(),
        dir: None,
        limits: *limits,
        _back: None,
    };
    let dir = make_group(base, &mut cgroup)?;
    cgroup.dir = Some(File::open(&dir).map_err(|err| {
        let step = format!("open {}", dir.display());
        skeleton::failure(&step, errno(&err), "see open(2)")
    })?);
    say!("parent: cgroup v2: mkdir {}", skeleton::short(&dir));
    Ok(cgroup)
}

/// mkdir(2) in a cgroup filesystem makes a group, and the kernel fills it
/// with its files. The new folder is remembered in `cgroup`, to be removed.
pub fn make_group(parent: &Path, cgroup: &mut Cgroup) -> Result<PathBuf> {
    let dir = parent.join(format!("desde-cero-{}", process::id()));
    fs::create_dir(&dir).map_err(|err| {
        let step = format!("mkdir {}", dir.display());
        skeleton::failure(&step, errno(&err), &skeleton::root_hint())
    })?;
    cgroup.dirs.push(dir.clone());
    Ok(dir)
}

/// No swap on top of the memory limit, or swap would be the way out: 0 in
/// memory.swap.max, which exists only where the kernel counts swap.
pub fn no_swap(dir: &Path) -> Result<()> {
    if dir.join("memory.swap.max").exists() {
        write(dir, "memory.swap.max", 0)?;
    }
    Ok(())
}

/// Removes the groups `dirs` (`shown` in the teaching line). rmdir(2) removes
/// a group without processes, and fails with EBUSY while one is left (or
/// still exiting): kill them all and try again, for 10 s at most.
pub fn remove(dirs: &[PathBuf], shown: &str) {
    if dirs.is_empty() {
        return;
    }
    say!("parent: rmdir {shown}");
    for dir in dirs {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Err(err) = fs::remove_dir(dir) {
            if errno(&err) != Errno::EBUSY || Instant::now() > deadline {
                let step = format!("rmdir {}", dir.display());
                let hint = "remove it by hand once its processes are gone";
                let failure = skeleton::failure(&step, errno(&err), hint);
                eprintln!("{}: {}", skeleton::name(), failure.message);
                break;
            }
            // Writing 1 to cgroup.kill sends SIGKILL to every process in the
            // group. (v1, and v2 before Linux 5.14, have no such file: kill
            // them one by one.)
            if fs::write(dir.join("cgroup.kill"), "1").is_err() {
                kill_each(dir);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Writes a limit into a file of the group; returns it as `file value`, for
/// the teaching line.
pub fn write(dir: &Path, file: &str, value: impl ToString) -> Result<String> {
    let value = value.to_string();
    echo(&value, &dir.join(file))?;
    Ok(format!("{file} {value}"))
}

/// Writes `value` into a cgroup file; a failure is named as the shell command
/// that does the same.
pub fn echo(value: impl ToString, path: &Path) -> Result<()> {
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
pub fn missing(controller: &str, fix: &str) -> Result<()> {
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
pub fn has(dir: &Path, file: &str, word: &str) -> bool {
    let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
    text.split_whitespace().any(|w| w == word)
}

/// Whether a filesystem with this magic number is mounted at `path`.
pub fn is_mounted(path: &Path, magic: FsType) -> bool {
    statfs(path).is_ok_and(|found| found.filesystem_type() == magic)
}

/// The kernel's error number in an io::Error (std's file functions return
/// those).
pub fn errno(err: &io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(0))
}

/// clone3(2)'s arguments, `struct clone_args` of linux/sched.h up to `cgroup`
/// (Linux 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3(2)'s flag: the child starts in the cgroup v2 group given as
/// `cgroup`.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// uts's clone, made by clone3(2) with `CLONE_INTO_CGROUP` and the group's
/// open folder, and no stack of its own: like fork(2), the child goes on from
/// here on a copy of our memory and stack. It runs `in_child`, then exits with
/// its code; the parent gets the child's pid.
pub fn clone3(
    flags: CloneFlags,
    cgroup: BorrowedFd,
    mut in_child: InChild,
) -> Result<Pid> {
    let args = CloneArgs {
        // As u32 first: CLONE_* flags are C ints, and no sign may spread to
        // the upper half.
        flags: flags.bits() as u32 as u64 | CLONE_INTO_CGROUP,
        exit_signal: Signal::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args of the size given, and it asks for
    // no shared memory (no CLONE_VM) and no new stack: the child gets a copy
    // of this one-thread program, as with fork(2), and never returns from
    // here (it exits with _exit(2)).
    let ret = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => {
            let err = Errno::last();
            let hint = match err {
                Errno::EPERM | Errno::EACCES => skeleton::root_hint(),
                _ => {
                    "CLONE_INTO_CGROUP needs Linux 5.7 and a cgroup v2 group, \
                      with no groups of its own; see clone(2)"
                        .to_string()
                }
            };
            Err(skeleton::failure("clone3", err, &hint))
        }
        0 => {
            let code = in_child();
            // SAFETY: _exit(2) ends the child at once, running none of the
            // parent's cleanup.
            unsafe { nix::libc::_exit(code as i32) }
        }
        pid => Ok(Pid::from_raw(pid as i32)),
    }
}

//! # Stage 8 — ipc: System V objects and POSIX message queues of its own
//!
//! Processes can share memory segments, semaphores and message queues through System V IPC
//! (shmget(2), semget(2), msgget(2)) and POSIX message queues (mq_open(3)). They find each
//! other's objects by a key or a name that is global to an IPC namespace, so without one the
//! container can list, attach and remove the host's. The parent adds `CLONE_NEWIPC`: the
//! container starts with none, cannot reach the host's, and the kernel destroys what it creates
//! when the namespace ends with its last process.
//!
//! Run it:   `ipcmk -M 1024 && cargo xtask run ipc -- cat /proc/sysvipc/shm` (the host's segment
//!           is missing inside; `ipcs -m` on the host still shows it, `ipcrm -M <key>` removes it)
//! Directly: `sudo DESDE_CERO_ROOTFS=$PWD/rootfs/build target/debug/ipc run cat /proc/sysvipc/shm`
//!
//! Man pages: ipc_namespaces(7), sysvipc(7), mq_overview(7), ipcmk(1), ipcs(1).
//!
//! Exit status: the command's own; 128+N when it died of signal N; 125 when this program failed
//! (or was called wrongly); 126 when the command cannot be executed; 127 when it is not found.
use std::env;
use std::ffi::{CString, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{clone, CloneFlags};
use nix::sys::prctl;
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC, TMPFS_MAGIC};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{chdir, chroot, execv, sethostname, Pid};

/// The name this program reports its errors under.
const NAME: &str = env!("CARGO_PKG_NAME");

/// How to call it.
const USAGE: &str = concat!("usage: ", env!("CARGO_PKG_NAME"), " run <cmd> [args...]");

/// What to do when the kernel says EPERM: namespaces need root (CAP_SYS_ADMIN).
const ROOT_HINT: &str = concat!(
    "run it as root, or through `cargo xtask run ",
    env!("CARGO_PKG_NAME"),
    "`, which uses sudo"
);

/// The container's hostname.
const HOSTNAME: &str = "container";

/// Where the root filesystem's path is read from.
const ROOTFS_ENV: &str = "DESDE_CERO_ROOTFS";
/// The root filesystem `cargo xtask rootfs` makes, when the variable is not set.
const DEFAULT_ROOTFS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rootfs/build");

/// Exit code when the runtime itself failed (the convention docker and podman use).
const EXIT_RUNTIME: u8 = 125;
/// Exit code when the command exists but cannot be executed.
const EXIT_CANNOT_EXEC: u8 = 126;
/// Exit code when the command is not found.
const EXIT_NOT_FOUND: u8 = 127;

/// Stack for the cloned child until it calls execve(2), which replaces it: 1 MiB is plenty.
const STACK_SIZE: usize = 1024 * 1024;

/// The signals the parent and the init pass on to their child, so `kill` and Ctrl-C reach the
/// command instead of killing the container around it.
const FORWARDED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Where the kernel's cgroup filesystem is mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The controllers the limits need, named as their v1 trees are (v2 uses the same names).
const CONTROLLERS: [&str; 3] = ["pids", "memory", "cpu"];
/// At most this many processes and threads in the container.
const PIDS_MAX: u32 = 20;
/// At most this much memory (swap included where the kernel counts it), in MiB.
const MEMORY_MAX_MIB: u64 = 100;
/// Half a CPU: this much CPU time (in µs) ...
const CPU_QUOTA_US: u32 = 50_000;
/// ... in every period of this length (in µs).
const CPU_PERIOD_US: u32 = 100_000;
/// Set to 1 to run the container even when some controller is missing, without its limit.
const PARTIAL_ENV: &str = "DESDE_CERO_PARTIAL_CGROUPS";
/// What to do when cgroup v2 refuses to enable a controller for a group's children.
const NO_INTERNAL_PROCESSES_HINT: &str = "cgroup v2 enables controllers only in groups without \
     processes of their own: start this from a group whose parent has none (e.g. with \
     `systemd-run --scope -p Delegate=yes`)";

/// Why the program stops early: a one-line message and the documented exit code.
struct Failure {
    code: u8,
    message: String,
}

/// The container's cgroup: one folder on v2; on v1 one per controller, each in its own tree.
/// Dropping it removes them (see the `Drop` impl at the end).
struct Cgroup {
    /// Whether the host uses cgroup v2 (else v1: the file names differ).
    v2: bool,
    /// The group's folders, as created.
    dirs: Vec<PathBuf>,
    /// The folder with the memory controller's files, if there is one.
    memory: Option<PathBuf>,
}

fn main() -> ExitCode {
    // args_os, not args: an argument that is not UTF-8 is passed through, never a panic.
    let args: Vec<OsString> = env::args_os().skip(1).collect();
    let result = match args.split_first() {
        Some((verb, command)) if verb == "run" && !command.is_empty() => run(command),
        Some((verb, command)) if verb == "child" && !command.is_empty() => child(command),
        _ => Err(Failure {
            code: EXIT_RUNTIME,
            message: USAGE.to_string(),
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("{NAME}: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// The parent: starts a copy of this program as `child <cmd> [args...]` and waits for it.
fn run(command: &[OsString]) -> Result<u8, Failure> {
    eprintln!("parent: pid {}, running {:?}", process::id(), command);
    let signals = catch_signals()?;
    // The arguments of the re-executed program, prepared before clone(2) so that a bad one is
    // reported by the parent, before any process is created.
    let mut argv = vec![CString::new(NAME).unwrap_or_default(), c"child".to_owned()];
    for arg in command {
        argv.push(CString::new(arg.as_bytes()).map_err(|_| Failure {
            code: EXIT_RUNTIME,
            message: "an argument contains a NUL byte".to_string(),
        })?);
    }
    // No namespaces yet: the next stages add their flags here, one per isolation step.
    let mut flags = CloneFlags::empty();
    // CLONE_NEWUTS gives the child a new UTS namespace: its own copy of the hostname, which it
    // can change without touching the host's.
    flags |= CloneFlags::CLONE_NEWUTS;
    // CLONE_NEWPID makes the child PID 1 of a new PID namespace: it sees only its own
    // descendants, and the kernel kills them all when it ends.
    flags |= CloneFlags::CLONE_NEWPID;
    // CLONE_NEWNS gives the child its own copy of the mount table (the first namespace ever
    // added to Linux, hence the unspecific name): mounts it makes are its own.
    flags |= CloneFlags::CLONE_NEWNS;
    // CLONE_NEWIPC gives the child a new IPC namespace: its own, empty sets of System V shared
    // memory, semaphores and message queues, and of POSIX message queues.
    flags |= CloneFlags::CLONE_NEWIPC;
    // A cgroup of its own, with the limits set, before the child exists. When `cgroup` goes out
    // of scope, on every return from here on, errors included, Rust drops it: that removes it.
    let cgroup = create_cgroup()?;
    let mut stack = vec![0u8; STACK_SIZE];
    // clone(2) creates the child process. The callback runs in the child and replaces it with a
    // fresh copy of this program; SIGCHLD tells the parent when it ends, as fork(2) would.
    // SAFETY: this program has one thread, so the child (which gets its own copy of our memory,
    // as with fork) is a consistent copy of it; the callback only execs, or reports and returns.
    let child_pid = unsafe {
        clone(
            Box::new(|| {
                // The child joins the group first, before it runs anything: a process stays in
                // the group it was forked in, so whatever it forked before joining (here: the
                // command) would escape the limits. (clone3(2)'s CLONE_INTO_CGROUP creates the
                // child inside the group in one step; nix has no clone3 yet.)
                if let Err(failure) = join_cgroup(&cgroup) {
                    eprintln!("{NAME}: {}", failure.message);
                    return EXIT_RUNTIME as isize;
                }
                match execv(c"/proc/self/exe", &argv) {
                    Ok(never) => match never {},
                    Err(err) => {
                        eprintln!(
                            "{NAME}: {}",
                            failure("execve", err, "see execve(2)").message
                        );
                        EXIT_RUNTIME as isize
                    }
                }
            }),
            &mut stack,
            flags,
            Some(Signal::SIGCHLD as i32),
        )
    }
    .map_err(|err| failure("clone", err, ROOT_HINT))?;
    let code = supervise(child_pid, &signals)?;
    report_oom(&cgroup, code);
    Ok(code)
}

/// The child: this program again, now the container's init. It runs the command as its own
/// child and stays alive until the command ends.
fn child(command: &[OsString]) -> Result<u8, Failure> {
    eprintln!("child: pid {}, running {:?}", process::id(), command);
    // PR_SET_PDEATHSIG asks the kernel to send us SIGKILL if the parent dies, so a killed runtime
    // never leaves its container running on its own.
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(|err| failure("prctl", err, "see prctl(2)"))?;
    // sethostname(2) changes the hostname of the UTS namespace we are in, which is ours alone
    // since the parent created us with CLONE_NEWUTS. The host's hostname stays as it was.
    sethostname(HOSTNAME).map_err(|err| failure("sethostname", err, ROOT_HINT))?;
    eprintln!("child: hostname set to {HOSTNAME} in a new UTS namespace");
    // Our mount table is a copy of the host's, and mounts that were shared there (systemd
    // mounts `/` shared) would still propagate both ways. MS_PRIVATE with MS_REC cuts every
    // mount loose before we mount anything, so nothing reaches the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|err| failure("mount --make-rprivate /", err, ROOT_HINT))?;
    let rootfs = PathBuf::from(env::var_os(ROOTFS_ENV).unwrap_or(DEFAULT_ROOTFS.into()));
    // canonicalize resolves `..` for the teaching line below, and fails if there is no folder.
    let rootfs = match rootfs.canonicalize() {
        Ok(dir) if dir.join("bin").is_dir() => dir,
        _ => {
            return Err(Failure {
                code: EXIT_RUNTIME,
                message: format!(
                    "no root filesystem at {} — make one with `cargo xtask rootfs`, or set {ROOTFS_ENV}",
                    rootfs.display()
                ),
            })
        }
    };
    // chroot(2) makes the root filesystem our `/`: from now on every absolute path, including
    // the command's and the programs it finds in PATH, resolves inside it.
    chroot(&rootfs).map_err(|err| failure("chroot", err, ROOT_HINT))?;
    // chroot does not move the current directory, which is still outside the new root: go to
    // the new `/` so no relative path can reach the host's files.
    chdir("/").map_err(|err| failure("chdir", err, "see chdir(2)"))?;
    eprintln!("child: root is now {}", rootfs.display());
    // A fresh procfs shows the processes of the PID namespace we are in: the container's alone.
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|err| {
        failure(
            "mount /proc",
            err,
            "does the root filesystem have a /proc folder?",
        )
    })?;
    eprintln!("child: mounted a fresh /proc in a new mount namespace");
    eprintln!("child: in a new IPC namespace: no shared memory, semaphores or queues of the host");
    let signals = catch_signals()?;
    let command_pid = spawn(command)?;
    supervise(command_pid, &signals)
}

/// Starts the command with fork(2) and execve(2), sharing our stdin, stdout and stderr.
fn spawn(command: &[OsString]) -> Result<Pid, Failure> {
    let name = command[0].to_string_lossy();
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]);
    // SAFETY: `unblock_signals` runs in the new process between fork and exec, and only calls
    // sigprocmask(2), which is async-signal-safe and does not allocate.
    unsafe { cmd.pre_exec(unblock_signals) };
    cmd.spawn()
        // Only the pid is kept: from here on the process is waited for with waitpid(2).
        .map(|child| Pid::from_raw(child.id() as i32))
        .map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => Failure {
                code: EXIT_NOT_FOUND,
                message: format!("{name}: command not found in the container's root filesystem"),
            },
            io::ErrorKind::PermissionDenied => Failure {
                code: EXIT_CANNOT_EXEC,
                message: format!("{name}: permission denied — is it executable?"),
            },
            _ => Failure {
                code: EXIT_CANNOT_EXEC,
                message: format!("{name}: cannot execute: {err}"),
            },
        })
}

/// Installs a do-nothing handler for the forwarded signals and SIGCHLD, then blocks them, so
/// they wait in a queue until `supervise` takes them with sigwait(3). A handler (not just a
/// block) matters from the `pid` stage on: the kernel drops signals a PID 1 has no handler for.
fn catch_signals() -> Result<SigSet, Failure> {
    extern "C" fn ignore(_: i32) {}
    let mut set = SigSet::empty();
    let action = SigAction::new(
        SigHandler::Handler(ignore),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in FORWARDED.into_iter().chain([Signal::SIGCHLD]) {
        set.add(signal);
        // SAFETY: the handler does nothing, so it is async-signal-safe.
        unsafe { sigaction(signal, &action) }
            .map_err(|err| failure("sigaction", err, "see sigaction(2)"))?;
    }
    set.thread_block()
        .map_err(|err| failure("sigprocmask", err, "see sigprocmask(2)"))?;
    Ok(set)
}

/// Runs in the command's process just before execve(2). The signal mask survives exec, so
/// without this the command would inherit the signals we blocked and never see Ctrl-C or kill.
fn unblock_signals() -> io::Result<()> {
    SigSet::all().thread_unblock().map_err(io::Error::from)
}

/// Waits for `pid` to end, forwarding signals to it and reaping every other child that ends
/// meanwhile (orphans are re-parented to the init, which must wait for them or they stay
/// zombies). Returns the exit code to report for `pid`.
fn supervise(pid: Pid, signals: &SigSet) -> Result<u8, Failure> {
    loop {
        let signal = signals
            .wait()
            .map_err(|err| failure("sigwait", err, "see sigwait(3)"))?;
        if signal != Signal::SIGCHLD {
            // Pass Ctrl-C, kill and hang-up on; the child decides what they mean.
            let _ = kill(pid, signal);
            continue;
        }
        // One SIGCHLD may stand for many ended children: reap until none is left.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(status) if status.pid() == Some(pid) => return Ok(exit_code(status)),
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(err) => return Err(failure("waitpid", err, "see waitpid(2)")),
            }
        }
    }
}

/// The shell's convention: the exit code, or 128+N when the process died of signal N.
fn exit_code(status: WaitStatus) -> u8 {
    match status {
        WaitStatus::Exited(_, code) => code as u8,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as u8,
        _ => EXIT_RUNTIME,
    }
}

/// A runtime failure in one line: the step, the kernel's error, and what to do.
fn failure(step: &str, err: Errno, hint: &str) -> Failure {
    Failure {
        code: EXIT_RUNTIME,
        message: format!("{step}: {err:?} ({}) — {hint}", err.desc().to_lowercase()),
    }
}

/// Finds the host's cgroup layout, makes the container's group, and sets its limits.
fn create_cgroup() -> Result<Cgroup, Failure> {
    let name = format!("desde-cero-{}", process::id());
    let root = Path::new(CGROUP_ROOT);
    // statfs(2) says which filesystem is mounted at a path. cgroup v2 mounts its one tree right
    // there (cgroup2); v1 mounts a tmpfs there, with a cgroup filesystem per controller inside.
    let kind = statfs(root)
        .map_err(|err| failure("statfs /sys/fs/cgroup", err, "is sysfs mounted?"))?
        .filesystem_type();
    let mut cgroup = Cgroup {
        v2: kind == CGROUP2_SUPER_MAGIC,
        dirs: Vec::new(),
        memory: None,
    };
    if cgroup.v2 {
        eprintln!("parent: cgroup v2: one tree at {CGROUP_ROOT} for every controller");
        // Our own group holds a process (us), so v2 would not enable controllers for a child of
        // it: the container's group goes beside it, in its parent. The root group is exempt.
        let own = root.join(own_group("")?.trim_start_matches('/'));
        let base = match own.parent() {
            Some(parent) if own != root => parent.to_path_buf(),
            _ => own,
        };
        let offered = fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
        let enabled = fs::read_to_string(base.join("cgroup.subtree_control")).unwrap_or_default();
        let mut wanted = Vec::new();
        for controller in CONTROLLERS {
            if !offered.split_whitespace().any(|c| c == controller) {
                missing(
                    controller,
                    &format!(
                        "{} does not offer it: enable it in the cgroup.subtree_control of the \
                         group above, or have it delegated (systemd: Delegate=yes)",
                        base.display()
                    ),
                )?;
                continue;
            }
            // A group's files for a controller exist only when its parent enables that
            // controller for its children, in cgroup.subtree_control.
            if !enabled.split_whitespace().any(|c| c == controller) {
                cgroup_write(
                    &base.join("cgroup.subtree_control"),
                    &format!("+{controller}"),
                    NO_INTERNAL_PROCESSES_HINT,
                )?;
            }
            wanted.push(controller);
        }
        let dir = base.join(&name);
        make_group(&mut cgroup, &dir)?;
        for controller in wanted {
            set_limits(&dir, controller, true)?;
            if controller == "memory" {
                cgroup.memory = Some(dir.clone());
            }
        }
    } else if kind == TMPFS_MAGIC {
        let hybrid = statfs(&root.join("unified"))
            .is_ok_and(|found| found.filesystem_type() == CGROUP2_SUPER_MAGIC);
        let also = if hybrid {
            " (hybrid: a cgroup2 tree at /sys/fs/cgroup/unified too, unused here)"
        } else {
            ""
        };
        eprintln!("parent: cgroup v1: a tree per controller under {CGROUP_ROOT}{also}");
        for controller in CONTROLLERS {
            let tree = root.join(controller);
            if !statfs(&tree).is_ok_and(|found| found.filesystem_type() == CGROUP_SUPER_MAGIC) {
                missing(
                    controller,
                    &format!(
                        "its tree is not mounted: `mkdir -p {0} && mount -t cgroup -o {controller} \
                         cgroup {0}`",
                        tree.display()
                    ),
                )?;
                continue;
            }
            // v1 has no rule against processes in inner groups: ours goes below our own group.
            let dir = tree
                .join(own_group(controller)?.trim_start_matches('/'))
                .join(&name);
            make_group(&mut cgroup, &dir)?;
            set_limits(&dir, controller, false)?;
            if controller == "memory" {
                cgroup.memory = Some(dir);
            }
        }
    } else {
        return Err(Failure {
            code: EXIT_RUNTIME,
            message: format!(
                "cgroup: no cgroup filesystem at {CGROUP_ROOT} — mount one: \
                 `mount -t cgroup2 none {CGROUP_ROOT}`"
            ),
        });
    }
    Ok(cgroup)
}

/// This process's group in the tree of `controller` ("" for v2's single tree), read from
/// /proc/self/cgroup, whose lines are `id:controllers:path` (v2's is `0::path`).
fn own_group(controller: &str) -> Result<String, Failure> {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in text.lines() {
        let mut fields = line.splitn(3, ':').skip(1);
        if let (Some(controllers), Some(path)) = (fields.next(), fields.next()) {
            if controllers.split(',').any(|c| c == controller) {
                return Ok(path.to_string());
            }
        }
    }
    Err(Failure {
        code: EXIT_RUNTIME,
        message: format!(
            "cgroup: /proc/self/cgroup names no {controller} group — is /proc mounted?"
        ),
    })
}

/// A controller we cannot use: an error naming it and the fix; or, when the user allowed it
/// with DESDE_CERO_PARTIAL_CGROUPS=1, a warning, and the container runs without that limit.
fn missing(controller: &str, fix: &str) -> Result<(), Failure> {
    if env::var_os(PARTIAL_ENV).is_some_and(|value| value == "1") {
        eprintln!("parent: no {controller} controller: running WITHOUT a {controller} limit, as {PARTIAL_ENV}=1 allows");
        return Ok(());
    }
    Err(Failure {
        code: EXIT_RUNTIME,
        message: format!(
            "cgroup: no {controller} controller — {fix}; or set {PARTIAL_ENV}=1 to run without a \
             {controller} limit"
        ),
    })
}

/// mkdir(2) in a cgroup filesystem makes a group: the kernel fills the folder with its files.
fn make_group(cgroup: &mut Cgroup, dir: &Path) -> Result<(), Failure> {
    eprintln!("parent: mkdir {}", dir.display());
    fs::create_dir(dir).map_err(|err| {
        let hint = match errno(&err) {
            Errno::EEXIST => "a runtime killed by SIGKILL left it behind: rmdir it",
            _ => ROOT_HINT,
        };
        failure(&format!("mkdir {}", dir.display()), errno(&err), hint)
    })?;
    cgroup.dirs.push(dir.to_path_buf());
    Ok(())
}

/// Writes the limits of one controller into the group's files.
fn set_limits(dir: &Path, controller: &str, v2: bool) -> Result<(), Failure> {
    let memory = (MEMORY_MAX_MIB * 1024 * 1024).to_string();
    match (controller, v2) {
        // fork(2) and clone(2) fail with EAGAIN once the group has this many processes/threads.
        ("pids", _) => cgroup_write(&dir.join("pids.max"), &PIDS_MAX.to_string(), ROOT_HINT),
        // Past the limit the kernel reclaims what it can, then its OOM killer kills a process
        // of the group. Swap counts too where the kernel accounts for it (then the file exists),
        // or the command would just swap its way past the limit.
        ("memory", true) => {
            cgroup_write(&dir.join("memory.max"), &memory, ROOT_HINT)?;
            let swap = dir.join("memory.swap.max");
            match swap.exists() {
                true => cgroup_write(&swap, "0", ROOT_HINT),
                false => Ok(()),
            }
        }
        // v1 limits memory plus swap as a whole ("memsw"), which must not be below memory alone.
        ("memory", false) => {
            cgroup_write(&dir.join("memory.limit_in_bytes"), &memory, ROOT_HINT)?;
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            match memsw.exists() {
                true => cgroup_write(&memsw, &memory, ROOT_HINT),
                false => Ok(()),
            }
        }
        // The CFS scheduler lets the group run for the quota in every period, then throttles it
        // until the next period starts: 50 ms of every 100 ms is half a CPU.
        ("cpu", true) => cgroup_write(
            &dir.join("cpu.max"),
            &format!("{CPU_QUOTA_US} {CPU_PERIOD_US}"),
            ROOT_HINT,
        ),
        _ => {
            let period = CPU_PERIOD_US.to_string();
            cgroup_write(&dir.join("cpu.cfs_period_us"), &period, ROOT_HINT)?;
            let quota = CPU_QUOTA_US.to_string();
            cgroup_write(&dir.join("cpu.cfs_quota_us"), &quota, ROOT_HINT)
        }
    }
}

/// Writes `value` into a cgroup file, shown as the shell command that does the same.
fn cgroup_write(path: &Path, value: &str, hint: &str) -> Result<(), Failure> {
    let step = format!("echo {value} > {}", path.display());
    eprintln!("parent: {step}");
    fs::write(path, value).map_err(|err| failure(&step, errno(&err), hint))
}

/// Moves the calling process into the container's group (into each tree's, on v1).
fn join_cgroup(cgroup: &Cgroup) -> Result<(), Failure> {
    for dir in &cgroup.dirs {
        // Writing a pid to cgroup.procs moves that process there, all its threads; 0 means the
        // writer. Whatever it forks from now on starts in the group too.
        let procs = dir.join("cgroup.procs");
        fs::write(&procs, "0").map_err(|err| {
            let step = format!("echo 0 > {}", procs.display());
            failure(&step, errno(&err), "see cgroups(7)")
        })?;
    }
    eprintln!("child: joined the container's cgroup, before running anything");
    Ok(())
}

/// Says so when the memory limit made the OOM killer end the command (`code` is SIGKILL's 137).
fn report_oom(cgroup: &Cgroup, code: u8) {
    let Some(dir) = &cgroup.memory else {
        return;
    };
    // The kernel counts the processes it killed in a group: a line `oom_kill N` in memory.events
    // on v2, in memory.oom_control on v1 (since Linux 4.13).
    let file = if cgroup.v2 {
        "memory.events"
    } else {
        "memory.oom_control"
    };
    let kills: u64 = fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0);
    if kills > 0 && code == 128 + Signal::SIGKILL as u8 {
        eprintln!("{NAME}: killed by the OOM killer: memory limit {MEMORY_MAX_MIB} MiB");
    } else if kills > 0 {
        eprintln!("parent: the OOM killer ended {kills} process(es) in the container: memory limit {MEMORY_MAX_MIB} MiB");
    }
}

impl Drop for Cgroup {
    /// Removes the group once the container has ended, however it ended. rmdir(2) removes a
    /// group with no process left (its files go with it); while one is left, or still exiting,
    /// it fails with EBUSY: kill what is left and retry, for some seconds at most.
    fn drop(&mut self) {
        for dir in &self.dirs {
            eprintln!("parent: rmdir {}", dir.display());
            let deadline = Instant::now() + Duration::from_secs(10);
            let removed = loop {
                match fs::remove_dir(dir).map_err(|err| errno(&err)) {
                    Err(Errno::EBUSY) if Instant::now() < deadline => kill_group(dir, self.v2),
                    result => break result,
                }
                thread::sleep(Duration::from_millis(20));
            };
            if let Err(err) = removed {
                let step = format!("rmdir {}", dir.display());
                let hint = "remove it by hand once its processes have ended";
                eprintln!("{NAME}: {}", failure(&step, err, hint).message);
            }
        }
    }
}

/// Kills every process in a group: v2 does it in one write to cgroup.kill (Linux 5.14), v1 needs
/// a kill(2) for each process cgroup.procs lists.
fn kill_group(dir: &Path, v2: bool) {
    if v2 && fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|pid| pid.parse().ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// The kernel's error number in an io::Error (what std's file functions return).
fn errno(err: &io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(0))
}

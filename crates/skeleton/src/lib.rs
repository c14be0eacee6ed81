//! The skeleton every stage shares once a slide has taught it.
//!
//! `base1` teaches running a command, `base2` re-executing this program as its child. From then
//! on the slides use this crate for those parts and keep their own story on one screen: `run`
//! (the parent, with its clone flags) and `child` (the steps inside, in order). What lives here
//! is plumbing no slide teaches:
//!
//! - [`main`]: the `<stage> run [-q] <cmd>` / `<stage> child <cmd>` command line, `--help`,
//!   and the exit status with a one-line error;
//! - [`Spawn`]: what base2's re-exec needs around the call that makes the child (which the
//!   slides make: clone(2) in uts's clone.rs, clone3(2) into a group in cgroups): the pipe
//!   that holds the child until the parent lets it go, its steps at birth and before exec, and
//!   the parent that waits for the container while passing signals on;
//! - for the init, whose duties `pid` teaches (slides/pid/src/init.rs, included by every later
//!   stage): [`take_terminal`], [`block_signals`], [`start_command`] and [`exit_code`];
//! - [`say!`]: the teaching lines, silenced by `--quiet` or `DESDE_CERO_QUIET=1`.
//!
//! Exit status, docker's convention: the command's own; 128+N when it died of signal N; 125
//! when the runtime failed or was called wrongly; 126 when the command cannot be executed; 127
//! when it is not found.

use std::env;
use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::prctl;
use nix::sys::signal::{kill, signal, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execv, getpgrp, isatty, pipe2, setpgid, tcgetpgrp, tcsetpgrp, write, Pid};

/// Exit code when the runtime itself failed, or was called wrongly.
pub const EXIT_RUNTIME: u8 = 125;
/// Exit code when the command exists but cannot be executed.
pub const EXIT_CANNOT_EXEC: u8 = 126;
/// Exit code when the command is not found.
pub const EXIT_NOT_FOUND: u8 = 127;

/// Set by [`Spawn::start`] in the environment of the child it re-executes. `child` typed by
/// hand is refused: as root, the child's steps would change the host itself.
const CHILD_ENV: &str = "DESDE_CERO_CHILD";
/// Set (to anything but `0` or empty) to silence the teaching lines.
pub const QUIET_ENV: &str = "DESDE_CERO_QUIET";

/// Where the root filesystem is: this variable (the xtask sets it), or [`DEFAULT_ROOTFS`].
pub const ROOTFS_ENV: &str = "DESDE_CERO_ROOTFS";
/// The root filesystem `cargo xtask rootfs` makes in this repository.
const DEFAULT_ROOTFS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rootfs/build");

/// The command's PATH: the usual folders. The host's PATH may name folders the container has
/// not got, or cannot read.
const CONTAINER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The prompt of an interactive shell inside, so the audience sees where it is.
const CONTAINER_PS1: &str = "[container] # ";

/// The signals the parent and the init pass on to their child, so `kill` and Ctrl-C reach the
/// command instead of killing the container around it.
const FORWARDED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

static NAME: OnceLock<&'static str> = OnceLock::new();
static QUIET: AtomicBool = AtomicBool::new(false);

/// Why a stage stops early: a one-line message and the documented exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

/// What a step returns: its value, or why the stage stops.
pub type Result<T> = std::result::Result<T, Failure>;

/// A stage's `run` or `child`: gets the command and returns its exit code.
pub type Step = fn(&[OsString]) -> Result<u8>;

/// Prints a teaching line on stderr, unless the stage runs quiet (`-q`, `DESDE_CERO_QUIET=1`).
/// stderr, so the command's own output can still be piped.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::quiet() {
            eprintln!($($arg)*);
        }
    };
}

/// Whether the teaching lines are silenced.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Silences the teaching lines: `-q`, first after `run`, or among a stage's
/// own options (`full run --rootless -q sh`, which its `run` parses).
pub fn set_quiet() {
    QUIET.store(true, Ordering::Relaxed);
    // The re-executed child reads it from its environment.
    env::set_var(QUIET_ENV, "1");
}

/// The stage's name, as errors are reported under it.
pub fn name() -> &'static str {
    NAME.get().copied().unwrap_or("desde-cero")
}

/// A stage: its name and its one line, both from its Cargo.toml.
#[derive(Clone, Copy)]
pub struct Stage {
    pub name: &'static str,
    pub what: &'static str,
}

/// The calling stage's [`Stage`], read from its own Cargo.toml at build time.
#[macro_export]
macro_rules! stage {
    () => {
        $crate::Stage {
            name: env!("CARGO_PKG_NAME"),
            what: env!("CARGO_PKG_DESCRIPTION"),
        }
    };
}

/// A stage's `main`: `<stage> run [-q|--quiet] <cmd> [args...]` calls `run`; `child <cmd>`,
/// which only the parent's re-exec may call, calls `child`; `--help` prints `what` the stage
/// adds, in one line (its Cargo.toml's description), and the usage.
pub fn main(stage: Stage, run: Step, child: Option<Step>) -> ExitCode {
    let Stage { name, what } = stage;
    let _ = NAME.set(name);
    let quiet_env = env::var_os(QUIET_ENV).is_some_and(|v| !v.is_empty() && v != "0");
    QUIET.store(quiet_env, Ordering::Relaxed);
    // args_os, not args: an argument that is not UTF-8 is passed through, never a panic.
    let mut args: Vec<OsString> = env::args_os().skip(1).collect();
    let verb = if args.is_empty() {
        OsString::new()
    } else {
        args.remove(0)
    };
    let result = match (verb.to_str().unwrap_or(""), child) {
        ("-h" | "--help" | "help", _) => {
            println!("{}", help(name, what));
            Ok(0)
        }
        ("run", _) => {
            if child.is_some() {
                // The mark that lets the re-executed program in as `child`: the
                // environment survives clone(2) and execve(2).
                env::set_var(CHILD_ENV, "1");
            }
            if matches!(
                args.first().and_then(|a| a.to_str()),
                Some("-q" | "--quiet")
            ) {
                args.remove(0);
                set_quiet();
            }
            match args.first().and_then(|a| a.to_str()) {
                None => Err(usage()),
                Some("-h" | "--help") => {
                    println!("{}", help(name, what));
                    Ok(0)
                }
                Some(_) => run(&args),
            }
        }
        ("child", Some(child)) if !args.is_empty() => match env::var(CHILD_ENV) {
            Ok(_) => {
                env::remove_var(CHILD_ENV);
                env::remove_var(QUIET_ENV);
                child(&args)
            }
            Err(_) => Err(usage()),
        },
        _ => Err(usage()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("{name}: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

fn usage() -> Failure {
    Failure {
        code: EXIT_RUNTIME,
        message: format!("usage: {} run [-q] <cmd> [args...]  (--help)", name()),
    }
}

fn help(name: &str, what: &str) -> String {
    format!(
        "{name}: {what}\n\n\
         usage: {name} run [-q|--quiet] <cmd> [args...]\n\
         \x20 -q, --quiet  only the command's output and real errors (or {QUIET_ENV}=1)\n\n\
         exit status: the command's own; 128+N when it died of signal N; 125 when {name}\n\
         failed or was called wrongly; 126 when the command cannot be executed; 127 when it\n\
         is not found"
    )
}

/// A runtime failure in one line: the step, the kernel's error, and what to do.
pub fn failure(step: &str, err: Errno, hint: &str) -> Failure {
    Failure {
        code: EXIT_RUNTIME,
        message: format!("{step}: {err:?} ({}) — {hint}", err.desc().to_lowercase()),
    }
}

/// What to do when the kernel says EPERM: namespaces need root (CAP_SYS_ADMIN).
pub fn root_hint() -> String {
    format!(
        "run it as root, or through `cargo xtask run {}`, which uses sudo",
        name()
    )
}

/// Shortens a long path for a teaching line, so it fits a projected 80-column terminal:
/// `/sys/fs/cgroup/memory/desde-cero-42/memory.max` becomes `…/desde-cero-42/memory.max`.
pub fn short(path: &Path) -> String {
    let full = path.display().to_string();
    if full.chars().count() <= 40 {
        return full;
    }
    let parts: Vec<_> = path.iter().map(|p| p.to_string_lossy()).collect();
    let tail = parts[parts.len().saturating_sub(2)..].join("/");
    format!("…/{tail}")
}

/// `--rootless` before the command, taken off it: from `pivot` on, a stage
/// makes the user namespace only when asked, as docker run by root does.
pub fn rootless(command: &[OsString]) -> (bool, &[OsString]) {
    match command.split_first() {
        Some((first, rest)) if first == "--rootless" => (true, rest),
        _ => (false, command),
    }
}

/// `--help`'s line for [`rootless`].
pub const ROOTLESS_HELP: &str = "options, before the command:
  --rootless   a user namespace, as the `user` stage makes: root inside is an
               ordinary user outside (default: root inside is host root)";

/// A command line for a teaching line, shortened to fit a projected 80-column
/// terminal: `sh -c 'echo $$; …`.
pub fn show(command: &[OsString]) -> String {
    const MAX: usize = 40;
    let words: Vec<String> = command
        .iter()
        .map(|arg| {
            let arg = arg.to_string_lossy();
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                arg.into_owned()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect();
    let line = words.join(" ");
    if line.chars().count() <= MAX {
        return line;
    }
    let cut: String = line.chars().take(MAX - 1).collect();
    format!("{cut}…")
}

/// The exit code of a command std's `Command` started, or the failure to start it.
pub fn exit_status(command: &OsString, status: io::Result<ExitStatus>) -> Result<u8> {
    match status {
        Ok(status) => Ok(match (status.code(), status.signal()) {
            (Some(code), _) => code as u8,
            (None, Some(signal)) => 128 + signal as u8,
            (None, None) => EXIT_RUNTIME,
        }),
        Err(err) => Err(cannot_run(command, err)),
    }
}

/// Why a command could not start: 127 when it is not found, 126 otherwise.
pub fn cannot_run(command: &OsString, err: io::Error) -> Failure {
    let name = command.to_string_lossy();
    match err.kind() {
        io::ErrorKind::NotFound => Failure {
            code: EXIT_NOT_FOUND,
            message: format!("{name}: command not found"),
        },
        io::ErrorKind::PermissionDenied => Failure {
            code: EXIT_CANNOT_EXEC,
            message: format!("{name}: permission denied — is it executable?"),
        },
        _ => Failure {
            code: EXIT_CANNOT_EXEC,
            message: format!("{name}: cannot execute: {err}"),
        },
    }
}

/// The root filesystem's folder, from [`ROOTFS_ENV`] or the repository's `rootfs/build`.
pub fn rootfs() -> Result<PathBuf> {
    let dir = PathBuf::from(env::var_os(ROOTFS_ENV).unwrap_or(DEFAULT_ROOTFS.into()));
    // canonicalize resolves `..` for the teaching lines, and fails if there is no folder.
    match dir.canonicalize() {
        Ok(dir) if dir.join("bin").is_dir() => Ok(dir),
        _ => Err(Failure {
            code: EXIT_RUNTIME,
            message: format!(
                "no root filesystem at {} — make one with `cargo xtask rootfs`, or set \
                 {ROOTFS_ENV}",
                dir.display()
            ),
        }),
    }
}

/// The container's first process, as its parent sees it: started, but held until
/// [`Child::wait`] lets it go, so the parent can set things up from outside first (a cgroup,
/// a veth, the uid map).
pub struct Child {
    pid: Pid,
    go: OwnedFd,
    signals: SigSet,
    terminal: Option<Pid>,
}

/// What the child runs, in the new process, until it re-executes: [`Spawn::start`] makes it,
/// the stage's clone call runs it.
pub type InChild<'c> = Box<dyn FnMut() -> isize + 'c>;

/// The call that makes the child, given the namespaces' flags and what the child runs; it
/// returns the child's pid. The stages have two: uts's `clone`, cgroups' `clone3` into a group.
pub type Clone<'a> = Box<dyn FnOnce(CloneFlags, InChild) -> Result<Pid> + 'a>;

/// [`Spawn::start`]: the child made by the stage's clone call, held on a pipe until
/// [`Child::wait`] lets it go, then this program again as `<stage> child <cmd>`.
fn start(spawn: Spawn) -> Result<Child> {
    let Spawn {
        flags,
        command,
        clone,
        at_birth,
        before_exec,
    } = spawn;
    // Signals are blocked before the child exists, so none is lost before `wait` takes them.
    let signals = block_signals()?;
    let terminal = foreground_group();
    // The arguments of the re-executed program, checked before any process is created.
    let mut argv = vec![
        CString::new(name()).unwrap_or_default(),
        c"child".to_owned(),
    ];
    for arg in command {
        argv.push(CString::new(arg.as_bytes()).map_err(|_| Failure {
            code: EXIT_RUNTIME,
            message: "an argument contains a NUL byte".to_string(),
        })?);
    }
    // A pipe holds the child back: it reads one byte before it re-executes. If the parent dies
    // first, the child reads end-of-file instead and gives up.
    let (wait_end, go) =
        pipe2(OFlag::O_CLOEXEC).map_err(|err| failure("pipe", err, "see pipe(2)"))?;
    // The mark that lets the re-executed program in as `child`: the environment survives
    // clone(2) and execve(2).
    env::set_var(CHILD_ENV, "1");
    let go_fd = go.as_raw_fd();
    // What the child runs, on its own copy of our memory: the clone(2) callback, or what
    // clone3(2) returns to in the child.
    let in_child = || {
        // PR_SET_PDEATHSIG: the kernel sends the child SIGKILL when the parent dies, and
        // execve(2) keeps it. It covers this one process, not what it starts later. (If
        // the parent dies before this line, the child reads end-of-file on the pipe.)
        if let Err(err) = prctl::set_pdeathsig(Signal::SIGKILL) {
            return give_up(failure("prctl", err, "see prctl(2)"));
        }
        // Spawn::at_birth's steps, before the child waits for its go.
        if let Some(Err(failure)) = at_birth.iter().map(|step| step()).find(Result::is_err) {
            return give_up(failure);
        }
        if let Err(failure) = hold(&wait_end, go_fd) {
            return give_up(failure);
        }
        if let Some(before_exec) = before_exec {
            if let Err(failure) = before_exec() {
                return give_up(failure);
            }
            // A change of uid or gid clears PR_SET_PDEATHSIG (prctl(2)): set it again.
            // (A parent that dies between its go and this line is missed.)
            if let Err(err) = prctl::set_pdeathsig(Signal::SIGKILL) {
                return give_up(failure("prctl", err, "see prctl(2)"));
            }
        }
        // The parent's blocked signals survive execve(2). A child that will be PID 1
        // keeps them blocked until its init takes them: a signal sent to a PID 1 with
        // no handler, and not blocked, is discarded. Any other child unblocks them.
        if !flags.contains(CloneFlags::CLONE_NEWPID) {
            let _ = SigSet::all().thread_unblock();
        }
        let err = execv(c"/proc/self/exe", &argv).unwrap_err();
        give_up(failure("execve", err, "see execve(2)"))
    };
    let pid = clone(flags, Box::new(in_child));
    env::remove_var(CHILD_ENV);
    drop(wait_end);
    let pid = pid?;
    Ok(Child {
        pid,
        go,
        signals,
        terminal,
    })
}

impl Child {
    /// The child's pid, in the parent's PID namespace.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Lets the child go, then waits for it to end, passing signals on. Returns its exit code.
    pub fn wait(self) -> Result<u8> {
        write(&self.go, b"1").map_err(|err| failure("write", err, "see pipe(2)"))?;
        drop(self.go);
        let code = wait_for(self.pid, &self.signals);
        // An init in a PID namespace takes the terminal; give it back to whoever ran us.
        if let Some(group) = self.terminal {
            give_terminal(group);
        }
        code
    }
}

/// How the cloned child stops before it becomes this program again: its one line (none when
/// it is empty: the parent, or the step, has said why) and the runtime's exit code.
fn give_up(failure: Failure) -> isize {
    if !failure.message.is_empty() {
        eprintln!("{}: {}", name(), failure.message);
    }
    EXIT_RUNTIME as isize
}

/// Starts the command as our child with posix_spawnp(3), which musl and glibc (since 2.24)
/// make with clone(2)'s CLONE_VM and CLONE_VFORK: the child borrows our memory until its
/// execve(2), so no copy of our page tables is made and torn down again, as fork(2) would.
/// The init of `pid` (slides/pid/src/init.rs) starts the command with it.
pub fn start_command(command: &[OsString]) -> Result<Pid> {
    use nix::spawn::{posix_spawnp, PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags};
    // posix_spawnp looks the command up in our own PATH: the container's, which the command
    // gets too, with the prompt.
    env::set_var("PATH", CONTAINER_PATH);
    env::set_var("PS1", CONTAINER_PS1);
    let c_string = |bytes: Vec<u8>| {
        CString::new(bytes).map_err(|_| Failure {
            code: EXIT_RUNTIME,
            message: "an argument contains a NUL byte".to_string(),
        })
    };
    let argv = command.iter().map(|arg| c_string(arg.as_bytes().to_vec()));
    let argv = argv.collect::<Result<Vec<_>>>()?;
    let envp = env::vars_os()
        .map(|(name, value)| c_string([name.as_bytes(), b"=", value.as_bytes()].concat()));
    let envp = envp.collect::<Result<Vec<_>>>()?;
    // Our blocked signals would survive execve(2): the command starts with none blocked. And
    // with SIGPIPE's default action, which Rust's runtime set to "ignore" in this process.
    let spawn = || -> nix::Result<Pid> {
        let mut attr = PosixSpawnAttr::init()?;
        attr.set_sigmask(&SigSet::empty())?;
        attr.set_sigdefault(&SigSet::from(Signal::SIGPIPE))?;
        attr.set_flags(
            PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
        )?;
        posix_spawnp(
            &argv[0],
            &PosixSpawnFileActions::init()?,
            &attr,
            &argv,
            &envp,
        )
    };
    spawn().map_err(|err| cannot_run(&command[0], err.into()))
}

/// Blocks the forwarded signals and SIGCHLD, so they wait in a queue until sigwait(3) takes
/// them: the parent's in [`Child::wait`], the init's in pid's init.rs. A blocked signal is
/// never discarded, not even for a PID 1 with no handler (the kernel drops those only when
/// they are not blocked): no handler is needed.
pub fn block_signals() -> Result<SigSet> {
    let mut set = SigSet::empty();
    for signal in FORWARDED.into_iter().chain([Signal::SIGCHLD]) {
        set.add(signal);
    }
    set.thread_block()
        .map_err(|err| failure("sigprocmask", err, "see sigprocmask(2)"))?;
    Ok(set)
}

/// The parent's wait: passes signals on to its one child, the container's first process, until
/// it ends, and returns its exit code. The init's wait, which reaps every orphan too, is the
/// `pid` stage's lesson (slides/pid/src/init.rs); this one is needed from `uts` on, before it.
fn wait_for(pid: Pid, signals: &SigSet) -> Result<u8> {
    loop {
        match signals.wait() {
            // Our one child ended, or only stopped: WNOHANG tells.
            Ok(Signal::SIGCHLD) => match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
                Ok(status) => return Ok(exit_code(status)),
                Err(err) => return Err(failure("waitpid", err, "see waitpid(2)")),
            },
            // Pass Ctrl-C, kill and hang-up on; the container decides what they mean.
            Ok(signal) => {
                let _ = kill(pid, signal);
            }
            Err(err) => return Err(failure("sigwait", err, "see sigwait(3)")),
        }
    }
}

/// The shell's convention: the exit code, or 128+N when the process died of signal N.
pub fn exit_code(status: WaitStatus) -> u8 {
    match status {
        WaitStatus::Exited(_, code) => code as u8,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as u8,
        _ => EXIT_RUNTIME,
    }
}

/// Our process group, if it owns the terminal on stdin.
fn foreground_group() -> Option<Pid> {
    let tty = io::stdin();
    if !isatty(&tty).unwrap_or(false) {
        return None;
    }
    let ours = getpgrp();
    (tcgetpgrp(&tty).ok() == Some(ours)).then_some(ours)
}

/// Makes `group` the terminal's foreground process group. tcsetpgrp(3) from a background
/// group raises SIGTTOU, which would stop us: it is ignored meanwhile.
fn give_terminal(group: Pid) {
    let tty = io::stdin();
    // SAFETY: SIG_IGN and SIG_DFL run none of our code in a signal handler.
    let _ = unsafe { signal(Signal::SIGTTOU, SigHandler::SigIgn) };
    let _ = tcsetpgrp(&tty, group);
    let _ = unsafe { signal(Signal::SIGTTOU, SigHandler::SigDfl) };
}

/// Gives the terminal, if there is one, to a new process group led by the init. The group that
/// had it is numbered in the host's PID namespace, which a shell inside cannot name: it could
/// not hand the terminal back when it exits ("Cannot set tty process group").
pub fn take_terminal() {
    if !isatty(io::stdin()).unwrap_or(false) {
        return;
    }
    // setpgid(2) with 0, 0: a new process group whose id is our pid.
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    give_terminal(getpgrp());
}

/// A step the child takes once the parent lets it go, just before it re-executes. The `user`
/// stage needs one: execve(2) keeps the capabilities a new user namespace gives only to a
/// process that is uid 0 in it, so the child becomes uid 0 there (setresuid(2), after the
/// parent has written the uid map) before it execs.
pub type BeforeExec = fn() -> Result<()>;

/// In the child, before execve(2): wait for the parent's go. Our copy of its end of the pipe
/// goes first: while one is open, the parent's death could not show as end-of-file.
fn hold(wait_end: &OwnedFd, go: RawFd) -> Result<()> {
    let _ = nix::unistd::close(go);
    match nix::unistd::read(wait_end, &mut [0u8]) {
        Ok(1) => Ok(()),
        // End of file: the parent failed or died before letting us go; it said why.
        _ => Err(Failure {
            code: EXIT_RUNTIME,
            message: String::new(),
        }),
    }
}

/// [`main`], for a stage whose `run` takes options before the command (`<stage> run [-q]
/// [options] <cmd>`, `full`): `--help`, also after `run`, prints the usage with `options`, the
/// stage's own list of them and their defaults. `run` gets the options and the command.
pub fn main_with_options(stage: Stage, options: &str, run: Step, child: Option<Step>) -> ExitCode {
    let Stage { name, what } = stage;
    let args: Vec<OsString> = env::args_os().skip(1).take(3).collect();
    let words: Vec<&str> = args.iter().map(|a| a.to_str().unwrap_or("")).collect();
    let asks_help = matches!(
        words[..],
        ["-h" | "--help" | "help", ..]
            | ["run", "-h" | "--help", ..]
            | ["run", "-q" | "--quiet", "-h" | "--help", ..]
    );
    if !asks_help {
        return main(stage, run, child);
    }
    let _ = NAME.set(name);
    let text = help(name, what).replace("<cmd> [args...]", "[options] <cmd> [args...]");
    // The options go between the usage and the exit status.
    match text.split_once("\n\nexit status") {
        Some((usage, rest)) => println!("{usage}\n\n{options}\n\nexit status{rest}"),
        None => println!("{text}\n\n{options}"),
    }
    ExitCode::SUCCESS
}

/// The container's first process, to be started: base2's re-exec in the namespaces of `flags`,
/// made by the stage's clone call, with what else the stages have to say about it.
pub struct Spawn<'a> {
    flags: CloneFlags,
    command: &'a [OsString],
    clone: Clone<'a>,
    at_birth: Vec<Box<dyn Fn() -> Result<()> + 'a>>,
    before_exec: Option<BeforeExec>,
}

impl<'a> Spawn<'a> {
    /// The child: this program again, in the namespaces of `flags`, made by `clone`.
    pub fn new(
        flags: CloneFlags,
        command: &'a [OsString],
        clone: impl FnOnce(CloneFlags, InChild) -> Result<Pid> + 'a,
    ) -> Spawn<'a> {
        Spawn {
            flags,
            command,
            clone: Box::new(clone),
            at_birth: Vec::new(),
            before_exec: None,
        }
    }

    /// Another call makes the child: cgroups' clone3(2), which has it born in its group.
    pub fn clone_with(
        mut self,
        clone: impl FnOnce(CloneFlags, InChild) -> Result<Pid> + 'a,
    ) -> Spawn<'a> {
        self.clone = Box::new(clone);
        self
    }

    /// A step the child takes first, as soon as it is born: before it waits for the parent's
    /// go, before it re-executes; several run in the order given. If one fails, the child says
    /// why and exits with 125.
    pub fn at_birth(mut self, step: impl Fn() -> Result<()> + 'a) -> Spawn<'a> {
        self.at_birth.push(Box::new(step));
        self
    }

    /// A step the child takes once let go, just before it re-executes ([`BeforeExec`]).
    pub fn before_exec(mut self, before_exec: BeforeExec) -> Spawn<'a> {
        self.before_exec = Some(before_exec);
        self
    }

    /// Starts the child, held until [`Child::wait`] lets it go.
    pub fn start(self) -> Result<Child> {
        start(self)
    }
}

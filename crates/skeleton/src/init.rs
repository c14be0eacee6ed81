//! What the init that `pid` teaches (slides/pid/src/init.rs) stands on: blocked signals, the
//! command started with posix_spawnp(3), exit codes, the terminal's foreground group.

use nix::sys::signal::{signal, SigHandler, SigSet, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::{getpgrp, isatty, setpgid, tcgetpgrp, tcsetpgrp, Pid};
use std::env;
use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;

use crate::*;

/// The command's PATH: the usual folders. The host's PATH may name folders the container has
/// not got, or cannot read.
pub(crate) const CONTAINER_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The prompt of an interactive shell inside, so the audience sees where it is.
pub(crate) const CONTAINER_PS1: &str = "[container] # ";

/// The signals the parent and the init pass on to their child, so `kill` and Ctrl-C reach the
/// command instead of killing the container around it.
pub(crate) const FORWARDED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

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

/// The shell's convention: the exit code, or 128+N when the process died of signal N.
pub fn exit_code(status: WaitStatus) -> u8 {
    match status {
        WaitStatus::Exited(_, code) => code as u8,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as u8,
        _ => EXIT_RUNTIME,
    }
}

/// Our process group, if it owns the terminal on stdin.
pub(crate) fn foreground_group() -> Option<Pid> {
    let tty = io::stdin();
    if !isatty(&tty).unwrap_or(false) {
        return None;
    }
    let ours = getpgrp();
    (tcgetpgrp(&tty).ok() == Some(ours)).then_some(ours)
}

/// Makes `group` the terminal's foreground process group. tcsetpgrp(3) from a background
/// group raises SIGTTOU, which would stop us: it is ignored meanwhile.
pub(crate) fn give_terminal(group: Pid) {
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

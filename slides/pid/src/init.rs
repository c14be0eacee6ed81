//! The container's init. PID 1 of a namespace (pid_namespaces(7)) is given its
//! orphans, loses the signals it has no handler for, and takes every process
//! left inside with it when it ends. So the init runs the command rather than
//! becoming it, passes signals on, reaps every orphan, exits with its status.

use std::ffi::OsString;

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use skeleton::{failure, Result};

/// PID 1's duties, from the start of the command to its exit status.
pub fn init(command: &[OsString]) -> Result<u8> {
    // Not dumpable, the init (the runtime's own program) keeps the command's
    // root out of /proc/1/mem, environ and exe: proc_pid_mem(5), ptrace(2)
    // "Ptrace access mode checking", CVE-2019-5736. execve(2) resets it.
    prctl::set_dumpable(false)
        .map_err(|err| failure("prctl", err, "see prctl(2)"))?;
    // The terminal's foreground group is numbered in the host's namespace: a
    // shell inside could not hand it back. The init's own group takes it.
    skeleton::take_terminal();
    // Blocked, a signal waits until sigwait(3) takes it, not discarded.
    let signals = skeleton::block_signals()?;
    // The command is our child: posix_spawnp(3), with PATH and PS1 set.
    let command = skeleton::start_command(command)?;
    supervise(command, &signals)
}

/// Passes signals on, reaps every child, and returns the command's status.
fn supervise(command: Pid, signals: &SigSet) -> Result<u8> {
    loop {
        // Sleep until a blocked signal is pending, and take it.
        let signal = signals
            .wait()
            .map_err(|err| failure("sigwait", err, "see sigwait(3)"))?;
        if signal != Signal::SIGCHLD {
            // Ctrl-C, kill, hang-up: kill(2) passes them on to the command.
            let _ = kill(command, signal);
            continue;
        }
        // One SIGCHLD may stand for many (signal(7)): reap until none is
        // left, orphans too, or each stays a zombie (waitpid(2)).
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                // The command's status is the container's (128+N: signal N).
                Ok(status) if status.pid() == Some(command) => {
                    return Ok(skeleton::exit_code(status));
                }
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(err) => {
                    return Err(failure("waitpid", err, "see waitpid(2)"));
                }
            }
        }
    }
}

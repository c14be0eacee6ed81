//! The container's init: PID 1's duties, which the `pid` stage teaches and
//! every later stage includes.
//!
//! PID 1 of a namespace is not an ordinary process (pid_namespaces(7)): the
//! kernel re-parents the namespace's orphans to it, discards the signals sent
//! to it that it has no handler for, and kills everything left in the
//! namespace when it ends. So the init does not become the command: it
//! starts it, passes signals on to it, reaps every orphan, and exits with the
//! command's status.

use std::ffi::OsString;

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use skeleton::{failure, Result};

/// PID 1's duties: start the command as our child, pass signals on to it,
/// reap every orphan the kernel re-parents to us, and exit with the command's
/// status. The command gets the usual PATH and a `[container]` prompt.
pub fn init(command: &[OsString]) -> Result<u8> {
    // The init is the runtime's own program, and the command's root would
    // otherwise reach into it: /proc/1/mem opened read-write (writes no
    // ptrace(2) refusal of a filter sees), /proc/1/environ, /proc/1/exe (the
    // host's binary, CVE-2019-5736). Not dumpable, those need CAP_SYS_PTRACE
    // (proc_pid_mem(5), ptrace(2) "Ptrace access mode checking"); stat,
    // status and cmdline stay readable, for ps. execve(2) makes the command
    // dumpable again: this is the init's alone.
    prctl::set_dumpable(false)
        .map_err(|err| failure("prctl", err, "see prctl(2)"))?;
    // The terminal's foreground group is numbered in the host's namespace: a
    // shell inside could not hand it back. The init's own group takes it.
    skeleton::take_terminal();
    // A signal sent to PID 1 with no handler is discarded, unless it is
    // blocked: blocked, it waits in a queue until sigwait(3) takes it below.
    // (The parent blocked them before clone(2); execve(2) kept them blocked.)
    let signals = skeleton::block_signals()?;
    // The command is our child, not us: posix_spawnp(3), with PATH and PS1
    // set, no signal blocked and SIGPIPE's default action.
    let command = skeleton::start_command(command)?;
    supervise(command, &signals)
}

/// Waits for `command` to end, passing signals on to it and reaping every
/// other child that ends meanwhile. Returns the command's exit code.
fn supervise(command: Pid, signals: &SigSet) -> Result<u8> {
    loop {
        // sigwait(3): sleep until one of the blocked signals is pending, and
        // take it; no handler runs.
        let signal = signals
            .wait()
            .map_err(|err| failure("sigwait", err, "see sigwait(3)"))?;
        if signal != Signal::SIGCHLD {
            // Pass Ctrl-C, kill and hang-up on with kill(2): they were meant
            // for the container, and the command decides what they mean.
            let _ = kill(command, signal);
            continue;
        }
        // A child ended. Standard signals do not queue (signal(7)): one
        // SIGCHLD may stand for many. Reap until none is left, every orphan
        // too, or each would stay a zombie (waitpid(2)) for the namespace's
        // life.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                // The command ended: its status is the container's (128+N
                // for signal N), and our end kills what is left inside.
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

//! The container's first process around the call that makes it (the slides' clone or clone3):
//! held on a pipe until the parent lets it go, then waited for with signals passed on.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::prctl;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execv, pipe2, write, Pid};
use std::env;
use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use crate::*;

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
pub(crate) fn start(spawn: Spawn) -> Result<Child> {
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
pub(crate) fn give_up(failure: Failure) -> isize {
    if !failure.message.is_empty() {
        eprintln!("{}: {}", name(), failure.message);
    }
    EXIT_RUNTIME as isize
}

/// The parent's wait: passes signals on to its one child, the container's first process, until
/// it ends, and returns its exit code. The init's wait, which reaps every orphan too, is the
/// `pid` stage's lesson (slides/pid/src/init.rs); this one is needed from `uts` on, before it.
pub(crate) fn wait_for(pid: Pid, signals: &SigSet) -> Result<u8> {
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

/// A step the child takes once the parent lets it go, just before it re-executes. The `user`
/// stage needs one: execve(2) keeps the capabilities a new user namespace gives only to a
/// process that is uid 0 in it, so the child becomes uid 0 there (setresuid(2), after the
/// parent has written the uid map) before it execs.
pub type BeforeExec = fn() -> Result<()>;

/// In the child, before execve(2): wait for the parent's go. Our copy of its end of the pipe
/// goes first: while one is open, the parent's death could not show as end-of-file.
pub(crate) fn hold(wait_end: &OwnedFd, go: RawFd) -> Result<()> {
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

//! base2's re-exec, made by clone(2) instead of std's Command: clone takes the
//! CLONE_NEW* flags, and the kernel makes the child in those new namespaces.

use std::ffi::OsString;

use nix::sched::{self, CloneFlags};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use skeleton::{InChild, Result, Spawn};

/// The child's stack until it re-executes, which replaces it: 1 MiB is plenty.
const STACK_SIZE: usize = 1024 * 1024;

/// This program again, as `<stage> child <cmd>`, in the new namespaces of
/// `flags`, made by `clone` below: once started, held until `wait` lets it
/// go, which then passes signals on.
pub fn spawn(flags: CloneFlags, command: &[OsString]) -> Spawn<'_> {
    Spawn::new(flags, command, clone)
}

/// Makes the child: a new process, in new namespaces, that runs `in_child` on
/// a stack of its own. It sends us SIGCHLD when it ends, as any child does.
pub fn clone(flags: CloneFlags, in_child: InChild) -> Result<Pid> {
    let mut stack = vec![0u8; STACK_SIZE];
    let signal = Some(Signal::SIGCHLD as i32);
    // SAFETY: this program has one thread, so the child (its own copy of our
    // memory, as with fork: no CLONE_VM) is a consistent copy of it; the
    // callback only waits, execs, or reports and returns.
    unsafe { sched::clone(in_child, &mut stack, flags, signal) }
        .map_err(|err| skeleton::failure("clone", err, &skeleton::root_hint()))
}

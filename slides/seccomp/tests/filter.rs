//! The filter on its own: installed in a forked child (after no_new_privs,
//! as seccomp(2) asks of a process without CAP_SYS_ADMIN), which then tries
//! what the filter refuses and what it must let through, and exits with the
//! number of the first check that failed (0: all held).

#[path = "../src/seccomp.rs"]
mod seccomp;

use nix::libc::{self, c_long};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

/// A raw system call's result: Ok(return value) or Err(errno).
fn call(nr: c_long, args: [c_long; 3]) -> Result<c_long, i32> {
    // SAFETY: every call below takes plain integers or null pointers.
    let ret = unsafe { libc::syscall(nr, args[0], args[1], args[2]) };
    match ret {
        -1 => Err(std::io::Error::last_os_error().raw_os_error().unwrap()),
        ret => Ok(ret),
    }
}

/// The checks, in the child, filter on: whether each of NAMES held.
fn checks() -> [bool; 16] {
    let user = libc::CLONE_NEWUSER as c_long;
    let keyring = libc::KEY_SPEC_USER_KEYRING as c_long;
    let get_id = libc::KEYCTL_GET_KEYRING_ID as c_long;
    let sigchld = libc::SIGCHLD as c_long;
    let clone_user = call(libc::SYS_clone, [user | sigchld, 0, 0]);
    if clone_user == Ok(0) {
        // SAFETY: the clone got through: its child leaves at once.
        unsafe { libc::_exit(99) };
    }
    let x32_keyctl = libc::SYS_keyctl | 0x4000_0000;
    let vsock = libc::AF_VSOCK as c_long;
    let stream = libc::SOCK_STREAM as c_long;
    let inet = libc::AF_INET as c_long;
    [
        call(libc::SYS_keyctl, [get_id, keyring, 0]) == Err(1),
        call(libc::SYS_unshare, [user, 0, 0]) == Err(1),
        call(libc::SYS_unshare, [0x20000, 0, 0]) == Err(1),
        clone_user == Err(libc::EPERM),
        call(libc::SYS_clone3, [0, 0, 0]) == Err(libc::ENOSYS),
        call(x32_keyctl, [get_id, keyring, 0]) == Err(1),
        call(libc::SYS_mount, [0, 0, 0]) == Err(libc::EPERM),
        call(libc::SYS_bpf, [0, 0, 0]) == Err(libc::EPERM),
        call(libc::SYS_setns, [0, 0, 0]) == Err(libc::EPERM),
        { call(libc::SYS_personality, [0x0040000, 0, 0]) == Err(1) },
        call(libc::SYS_socket, [vsock, stream, 0]) == Err(1),
        // What must still work.
        call(libc::SYS_getpid, [0, 0, 0]).is_ok(),
        { call(libc::SYS_personality, [0xffff_ffff, 0, 0]).is_ok() },
        call(libc::SYS_socket, [inet, stream, 0]).is_ok(),
        std::fs::File::open("/dev/null").is_ok(),
        forked_child_refused(),
    ]
}

/// fork(2) (glibc's clone, no namespace flag) works, and its child has the
/// filter: keyctl is refused there too.
fn forked_child_refused() -> bool {
    // SAFETY: the child makes one raw call and leaves with _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let get_id = libc::KEYCTL_GET_KEYRING_ID as c_long;
            let keyring = libc::KEY_SPEC_USER_KEYRING as c_long;
            let refused = call(libc::SYS_keyctl, [get_id, keyring, 0]);
            unsafe { libc::_exit(if refused == Err(1) { 0 } else { 1 }) }
        }
        Ok(ForkResult::Parent { child }) => {
            waitpid(child, None) == Ok(WaitStatus::Exited(child, 0))
        }
        Err(_) => false,
    }
}

#[test]
fn the_filter_refuses_what_docker_refuses_and_lets_the_rest_through() {
    // SAFETY: the child only makes system calls and leaves with _exit; its
    // few allocations happen in a copy of this process that has one thread.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = (|| {
                nix::sys::prctl::set_no_new_privs().ok()?;
                seccomp::install_filter().ok()?;
                let failed = checks().iter().position(|held| !held);
                Some(failed.map_or(0, |index| index as i32 + 1))
            })()
            .unwrap_or(100);
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            let status = waitpid(child, None).expect("waitpid");
            let WaitStatus::Exited(_, code) = status else {
                panic!("the child did not exit: {status:?}");
            };
            assert_ne!(code, 100, "the filter could not be installed");
            assert_eq!(code, 0, "failed: {}", NAMES[code as usize - 1]);
        }
    }
}

/// The checks' names, in order (the parent does not run them).
const NAMES: [&str; 16] = [
    "keyctl refused (EPERM)",
    "unshare(CLONE_NEWUSER) refused (EPERM)",
    "unshare(CLONE_NEWNS) refused (EPERM)",
    "clone(CLONE_NEWUSER) refused (EPERM)",
    "clone3 refused (ENOSYS)",
    "x32 keyctl refused (EPERM)",
    "mount refused (EPERM)",
    "bpf refused (EPERM)",
    "setns refused (EPERM)",
    "personality(ADDR_NO_RANDOMIZE) refused (EPERM)",
    "socket(AF_VSOCK) refused (EPERM)",
    "getpid works",
    "personality(0xffffffff) works",
    "socket(AF_INET) works",
    "open works",
    "fork works, and its child is filtered",
];

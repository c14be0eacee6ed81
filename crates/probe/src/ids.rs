//! Who the process is: hostname, PIDs, user and group IDs, the user namespace's ID maps, and
//! the no_new_privs flag. All of it from system calls except the maps, which only /proc has.

use std::ffi::CStr;

use crate::procfs;

/// The hostname (the UTS namespace's nodename), from uname(2): no file needed.
pub fn hostname() -> Result<String, String> {
    // SAFETY: utsname is plain data; all-zero is a valid value for it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uts is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(format!("uname: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the kernel NUL-terminates nodename within the array.
    let name = unsafe { CStr::from_ptr(uts.nodename.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

pub fn pid() -> i64 {
    // SAFETY: getpid cannot fail.
    i64::from(unsafe { libc::getpid() })
}

pub fn ppid() -> i64 {
    // SAFETY: getppid cannot fail.
    i64::from(unsafe { libc::getppid() })
}

pub fn uid() -> u64 {
    // SAFETY: getuid cannot fail.
    u64::from(unsafe { libc::getuid() })
}

pub fn gid() -> u64 {
    // SAFETY: getgid cannot fail.
    u64::from(unsafe { libc::getgid() })
}

/// The raw text of `/proc/self/uid_map` or `gid_map` (`which` is `uid` or `gid`).
pub fn map(which: &str) -> Result<String, String> {
    procfs::read(&format!("/proc/self/{which}_map"))
}

/// Whether no_new_privs is set: then execve can never grant more privileges (no set-uid).
pub fn no_new_privs() -> Result<bool, String> {
    // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointers.
    let rc = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    match rc {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(format!(
            "prctl(PR_GET_NO_NEW_PRIVS): {}",
            std::io::Error::last_os_error()
        )),
    }
}

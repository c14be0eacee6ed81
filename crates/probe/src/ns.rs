//! The namespaces a process is in: the inode number of each `/proc/self/ns/<kind>` link. Two
//! processes are in the same namespace exactly when these numbers are equal, which is how the
//! tests tell "own UTS namespace" from "the host's".
//!
//! Without /proc (a plain chroot has none mounted) the same inodes are asked from the kernel
//! through a pidfd: since Linux 6.11, `ioctl(pidfd, PIDFD_GET_<KIND>_NAMESPACE)` returns a
//! descriptor of the namespace itself, whose inode is the one /proc/self/ns would show. On older
//! kernels the field is `null` and `errors.ns` says why.

use std::fs;
use std::os::unix::fs::MetadataExt;

use crate::json::Json;
use crate::procfs;

/// The kinds the report lists, in its order.
pub const KINDS: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts", "time"];

/// `{cgroup: inode, ipc: inode, ...}`; a kind this kernel lacks is `null`.
pub fn inodes() -> Result<Json, String> {
    if !procfs::mounted() {
        return from_pidfd().map_err(|why| {
            format!("/proc is not mounted here, and asking through a pidfd failed too: {why}")
        });
    }
    let mut out = Json::obj();
    for kind in KINDS {
        // stat (not lstat): the link leads to the namespace's own inode in nsfs.
        let inode = fs::metadata(format!("/proc/self/ns/{kind}"))
            .ok()
            .map(|m| m.ino());
        out.push(kind, inode);
    }
    Ok(out)
}

/// The `PIDFD_GET_<KIND>_NAMESPACE` ioctl numbers (`_IO(0xFF, n)`, <linux/pidfd.h>), by kind.
const PIDFD_IOCTLS: [(&str, u64); 8] = [
    ("cgroup", 0xFF01),
    ("ipc", 0xFF02),
    ("mnt", 0xFF03),
    ("net", 0xFF04),
    ("pid", 0xFF05),
    ("user", 0xFF09),
    ("uts", 0xFF0A),
    ("time", 0xFF07),
];

/// The inodes through `pidfd_open(getpid())` and the PIDFD_GET_*_NAMESPACE ioctls.
fn from_pidfd() -> Result<Json, String> {
    // SAFETY: pidfd_open takes a PID and flags; getpid cannot fail.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) } as libc::c_int;
    if pidfd < 0 {
        return Err(format!("pidfd_open: {}", std::io::Error::last_os_error()));
    }
    let mut out = Json::obj();
    let mut found = 0;
    let mut why = String::new();
    for (kind, request) in PIDFD_IOCTLS {
        // SAFETY: these ioctls take no argument and return a new descriptor or -1.
        let fd = unsafe { libc::ioctl(pidfd, request as _, 0) };
        if fd < 0 {
            why = format!(
                "ioctl PIDFD_GET_{}_NAMESPACE: {}",
                kind.to_uppercase(),
                std::io::Error::last_os_error()
            );
            out.push(kind, Json::Null);
            continue;
        }
        // SAFETY: stat is plain data; fd is a descriptor we own and close right after.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::fstat(fd, &mut st) } == 0;
        unsafe { libc::close(fd) };
        out.push(kind, ok.then_some(st.st_ino as u64));
        found += usize::from(ok);
    }
    // SAFETY: pidfd is ours.
    unsafe { libc::close(pidfd) };
    if found == 0 {
        return Err(format!("{why} (the ioctls need Linux 6.11 or later)"));
    }
    Ok(out)
}

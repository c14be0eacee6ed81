//! Root inside keeps only docker's default capabilities, for good, and
//! no_new_privs: no setuid binary or file capability can win any back.

use caps::{CapSet, Capability, CapsHashSet};
use nix::sys::prctl;
use skeleton::{say, Failure, Result, EXIT_RUNTIME};

/// docker's default set, from moby's `oci/caps/defaults.go`. Every other
/// capability (CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE, CAP_NET_ADMIN
/// above all) is dropped. podman's default (containers.conf) is smaller, 11:
/// no CAP_NET_RAW, CAP_MKNOD or CAP_AUDIT_WRITE.
const KEPT: [Capability; 14] = [
    Capability::CAP_CHOWN,            // chown any file
    Capability::CAP_DAC_OVERRIDE,     // ignore file permissions
    Capability::CAP_FSETID,           // keep setuid bits when changing a file
    Capability::CAP_FOWNER,           // act as owner of any file (chmod)
    Capability::CAP_MKNOD,            // create device nodes
    Capability::CAP_NET_RAW,          // raw sockets, for ping
    Capability::CAP_SETGID,           // change group ids
    Capability::CAP_SETUID,           // change user ids, e.g. to drop root
    Capability::CAP_SETFCAP,          // set file capabilities
    Capability::CAP_SETPCAP,          // drop from the bounding set
    Capability::CAP_NET_BIND_SERVICE, // listen on ports below 1024
    Capability::CAP_SYS_CHROOT,       // call chroot(2)
    Capability::CAP_KILL,             // signal any process (of its namespace)
    Capability::CAP_AUDIT_WRITE,      // write to the audit log (login does)
];

/// Keeps only KEPT, in every capability set of this process (capabilities(7)):
/// - bounding: the most any later execve(2) can grant. Dropping from it makes
///   the cut permanent: not even a setuid-root program gets one back.
/// - effective and permitted: what this process can use now, or turn on again.
/// - inheritable and ambient: what execve(2) may pass on to a program run
///   without root (ambient to any, inheritable where the file allows): none.
pub fn drop_capabilities() -> Result<()> {
    let fail = |err: caps::errors::CapsError| Failure {
        code: EXIT_RUNTIME,
        message: format!("drop capabilities: {err} — see capabilities(7)"),
    };
    let keep: CapsHashSet = KEPT.into_iter().collect();
    // prctl(PR_CAPBSET_DROP), once per capability; it needs CAP_SETPCAP,
    // which we keep.
    for cap in caps::read(None, CapSet::Bounding).map_err(fail)? {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(fail)?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(fail)?;
    caps::clear(None, CapSet::Inheritable).map_err(fail)?;
    // capset(2): the effective set first, as it must stay within the
    // permitted set.
    let held = caps::read(None, CapSet::Permitted).map_err(fail)?;
    let kept: CapsHashSet = held.intersection(&keep).copied().collect();
    caps::set(None, CapSet::Effective, &kept).map_err(fail)?;
    caps::set(None, CapSet::Permitted, &kept).map_err(fail)
}

/// PR_SET_NO_NEW_PRIVS: no execve(2) from here on may grant privileges;
/// setuid bits and file capabilities are ignored. It is inherited by every
/// child, and cannot be unset.
pub fn set_no_new_privs() -> Result<()> {
    prctl::set_no_new_privs()
        .map_err(|err| skeleton::failure("prctl", err, "see prctl(2)"))?;
    say!(
        "child: capabilities cut to docker's {}, no_new_privs set",
        KEPT.len()
    );
    Ok(())
}

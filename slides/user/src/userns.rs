//! The id maps the parent writes while the child waits, then the child's uid 0:
//! user_namespaces(7) ("User and group ID mappings"), setgroups(2).

use std::fs;

use nix::errno::Errno;
use nix::unistd::{
    geteuid, getgid, getuid, seteuid, setgroups, setresgid, setresuid, Gid,
    Pid, Uid,
};
use skeleton::{say, Child, Failure, Result, Spawn};

use crate::cgroups::{Cgroup, Limits};

/// The host id that container root maps to when root runs this stage: no
/// account has it, and it is past the ranges useradd gives out in /etc/subuid.
pub const HOST_ID_OF_ROOT: u32 = 700_000_000;

/// Writes the child's maps, `<first id inside> <first id outside> <count>`:
/// uid and gid 0 inside are the user who ran us, or HOST_ID_OF_ROOT when that
/// is root. Each map can be written once. The parent writes them: mapping an
/// id other than one's own needs CAP_SETUID (CAP_SETGID) out here, root's.
pub fn map_ids(child: Pid, host_root: bool) -> Result<()> {
    let (uid, gid) = match host_root {
        true => (HOST_ID_OF_ROOT, HOST_ID_OF_ROOT),
        false => (getuid().as_raw(), getgid().as_raw()),
    };
    write(child, "uid_map", &format!("0 {uid} 1"))?;
    // The kernel's order: without root, gid_map may be written only once
    // setgroups(2) is denied in the namespace. Else container root could drop
    // one of the user's groups, and with it a restriction: a file with mode
    // 0705 is closed to its group.
    write(child, "setgroups", "deny")?;
    write(child, "gid_map", &format!("0 {gid} 1"))?;
    say!(
        "parent: uid_map and gid_map of {child}: 0 is {uid} and {gid} outside"
    );
    Ok(())
}

/// Starts the child; in a user namespace (`rootless`), when root runs us, with
/// our effective uid the one its root maps to, then back to 0. The kernel
/// makes that euid the new namespace's owner (user_namespaces(7)), and
/// charges what is made inside against the per-user counts of /proc/sys/user/
/// (inotify instances, namespaces...) at each level: to the owner out here.
/// Owned by uid 0, a container could use up host root's 128 inotify
/// instances, and host root's own programs would get EMFILE.
pub fn start(spawn: Spawn, rootless: bool, host_root: bool) -> Result<Child> {
    if !rootless {
        return spawn.start();
    }
    if !host_root {
        return spawn.start().map_err(explain);
    }
    // SECBIT_NO_SETUID_FIXUP: our capabilities stay while our euid is not 0
    // (capabilities(7)); clone3(2) into the cgroup needs them.
    let bits = securebits(None)?;
    securebits(Some(bits | SECBIT_NO_SETUID_FIXUP))?;
    let euid = Uid::from_raw(HOST_ID_OF_ROOT);
    let fail = |err| skeleton::failure("seteuid", err, "see seteuid(2)");
    say!("parent: euid {euid} for the clone: it owns the user namespace");
    let child = seteuid(euid).map_err(fail).and_then(|()| spawn.start());
    seteuid(Uid::from_raw(0)).map_err(fail)?;
    securebits(Some(bits))?;
    child.map_err(explain)
}

/// capabilities(7)'s bit: no change of capabilities when the euid changes.
const SECBIT_NO_SETUID_FIXUP: i32 = 1 << 2;

/// prctl(2)'s PR_GET_SECUREBITS, or PR_SET_SECUREBITS with `bits`.
fn securebits(bits: Option<i32>) -> Result<i32> {
    use nix::libc::{c_ulong, prctl, PR_GET_SECUREBITS, PR_SET_SECUREBITS};
    // SAFETY: both take integers only, and change no memory of ours.
    let ret = match bits {
        None => unsafe { prctl(PR_GET_SECUREBITS) },
        Some(bits) => unsafe { prctl(PR_SET_SECUREBITS, bits as c_ulong) },
    };
    match ret {
        -1 => Err(skeleton::failure("prctl", Errno::last(), "see prctl(2)")),
        bits => Ok(bits),
    }
}

/// `echo <text> > /proc/<child>/<file>`.
fn write(child: Pid, file: &str, text: &str) -> Result<()> {
    let path = format!("/proc/{child}/{file}");
    fs::write(&path, text).map_err(|err| {
        let errno = Errno::from_raw(err.raw_os_error().unwrap_or(0));
        skeleton::failure(&format!("write {path}"), errno, &hint())
    })
}

/// In the child, once the maps are written and before it re-executes: become
/// uid and gid 0 of the namespace. The kernel gave the child every capability
/// in it, but execve(2) keeps them only for uid 0 there. Run by an ordinary
/// user, we are 0 inside already; run by root, our ids are not even mapped.
pub fn become_root() -> Result<()> {
    let (uid, gid) = (Uid::from_raw(0), Gid::from_raw(0));
    setresgid(gid, gid, gid)
        .map_err(|err| skeleton::failure("setresgid", err, &hint()))?;
    setresuid(uid, uid, uid)
        .map_err(|err| skeleton::failure("setresuid", err, &hint()))
}

/// In the parent, before the child exists, when root runs us: drops our
/// supplementary groups (group 0 among them). The child inherits them, and
/// cannot drop them itself: setgroups(2) is denied in its namespace.
pub fn drop_groups() -> Result<()> {
    setgroups(&[])
        .map_err(|err| skeleton::failure("setgroups", err, "see setgroups(2)"))
}

/// Whether we are root on the host: uid 0 of the host's user namespace, whose
/// uid_map maps every id to itself. Root in another user namespace (a rootless
/// container's, say) is not: it has no privilege over the host.
pub fn host_root() -> bool {
    let identity = ["0", "0", "4294967295"];
    geteuid().is_root()
        && fs::read_to_string("/proc/self/uid_map")
            .is_ok_and(|map| map.split_whitespace().eq(identity))
}

/// A step that needs root on the host: taken, or without root, skipped.
/// (full, which includes this file, skips nothing: it refuses instead.)
#[allow(dead_code)]
pub fn as_root<T>(
    root: bool,
    what: &str,
    step: impl FnOnce() -> Result<T>,
) -> Result<Option<T>> {
    if !root {
        say!("parent: skipping {what}: it needs root on the host");
        return Ok(None);
    }
    step().map(Some)
}

/// The container's cgroup: made by root beside ours (cgroups.rs); without
/// root, in the cgroup v2 group delegated to us, if there is one
/// (cgroups_delegated.rs), else none, said aloud. `asked`: the controllers
/// whose limits were asked for explicitly: refused rather than dropped.
pub fn cgroup(
    root: bool,
    limits: &Limits,
    asked: &[&str],
) -> Result<Option<Cgroup>> {
    match root {
        true => Cgroup::create(limits).map(Some),
        false => delegated::create(limits, asked),
    }
}

#[path = "cgroups_delegated.rs"]
mod delegated;

/// A failed clone(2), with the setting that keeps user namespaces from us, if
/// one does, instead of a hint to run as root: this stage needs no root.
fn explain(failure: Failure) -> Failure {
    let step = failure.message.split(" — ").next().unwrap_or_default();
    Failure {
        code: failure.code,
        message: format!("{step} — {}", hint()),
    }
}

/// The setting that keeps user namespaces from us, if one does, and how to
/// change it.
fn hint() -> String {
    for (setting, off, on) in [
        ("kernel.unprivileged_userns_clone", "0", "1"),
        ("user.max_user_namespaces", "0", "15000"),
        ("kernel.apparmor_restrict_unprivileged_userns", "1", "0"),
    ] {
        let path = format!("/proc/sys/{}", setting.replace('.', "/"));
        if fs::read_to_string(path).is_ok_and(|value| value.trim() == off) {
            return format!(
                "{setting} is {off}, which restricts user namespaces here: \
                 `sudo sysctl -w {setting}={on}` allows them"
            );
        }
    }
    "see user_namespaces(7)".to_string()
}

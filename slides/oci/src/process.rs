//! The spec's process: its limits (process.rlimits, setrlimit(2)), its user
//! (process.user), its capabilities (process.capabilities, capabilities(7)),
//! noNewPrivileges, its environment and folder.

use std::env;

use caps::{CapSet, Capability, CapsHashSet};
use nix::sys::prctl;
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use skeleton::{say, Failure, Result, EXIT_RUNTIME};

use crate::spec::{Caps, Spec};

/// Every descriptor above 2 is closed when the process starts: the only
/// ones a container gets are stdin, stdout and stderr. (close_range(2) with
/// CLOSE_RANGE_CLOEXEC marks them, so ours still work until then. SAFETY:
/// a raw syscall that only changes flags.)
pub fn close_on_exec() -> Result<()> {
    const CLOEXEC: u32 = 1 << 2;
    let done = unsafe {
        nix::libc::syscall(nix::libc::SYS_close_range, 3, u32::MAX, CLOEXEC)
    };
    match done {
        0 => Ok(()),
        _ => Err(skeleton::failure(
            "close_range",
            nix::errno::Errno::last(),
            "see close_range(2)",
        )),
    }
}

/// process.rlimits, each by its name (RLIMIT_NOFILE...). runc's message
/// when the kernel refuses: "error setting rlimit type N".
pub fn set_rlimits(spec: &Spec) -> Result<()> {
    use nix::libc;
    for limit in &spec.rlimits {
        let resource = match limit.name.as_str() {
            "RLIMIT_CPU" => libc::RLIMIT_CPU,
            "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
            "RLIMIT_DATA" => libc::RLIMIT_DATA,
            "RLIMIT_STACK" => libc::RLIMIT_STACK,
            "RLIMIT_CORE" => libc::RLIMIT_CORE,
            "RLIMIT_RSS" => libc::RLIMIT_RSS,
            "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
            "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
            "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
            "RLIMIT_AS" => libc::RLIMIT_AS,
            "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
            "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
            "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
            "RLIMIT_NICE" => libc::RLIMIT_NICE,
            "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
            "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
            other => {
                let why = format!("unknown rlimit {other:?}");
                return Err(Failure {
                    code: 1,
                    message: why,
                });
            }
        };
        let value = libc::rlimit {
            rlim_cur: limit.soft,
            rlim_max: limit.hard,
        };
        // SAFETY: setrlimit(2) reads the struct we pass, nothing else.
        if unsafe { libc::setrlimit(resource, &value) } != 0 {
            let err = nix::errno::Errno::last();
            let why = format!(
                "error setting rlimit type {resource}: {}",
                err.desc().to_lowercase()
            );
            return Err(Failure {
                code: 1,
                message: why,
            });
        }
    }
    Ok(())
}

/// process.user: groups, then gid, then uid (once the uid is not 0, the
/// others could not change). PR_SET_KEEPCAPS keeps the permitted
/// capabilities across the change, for set_capabilities to choose from.
pub fn become_user(spec: &Spec) -> Result<()> {
    let fail =
        |step: &str, err| skeleton::failure(step, err, "see credentials(7)");
    let groups: Vec<Gid> =
        spec.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).map_err(|err| fail("setgroups", err))?;
    let gid = Gid::from_raw(spec.gid);
    setresgid(gid, gid, gid).map_err(|err| fail("setresgid", err))?;
    if spec.uid != 0 {
        prctl::set_keepcaps(true).map_err(|err| fail("prctl", err))?;
        let uid = Uid::from_raw(spec.uid);
        setresuid(uid, uid, uid).map_err(|err| fail("setresuid", err))?;
    }
    Ok(())
}

/// process.capabilities, set by set.
pub fn set_capabilities(wanted: &Caps) -> Result<()> {
    let fail = |err: caps::errors::CapsError| Failure {
        code: EXIT_RUNTIME,
        message: format!("capabilities: {err} — see capabilities(7)"),
    };
    let set =
        |list: &[Capability]| -> CapsHashSet { list.iter().copied().collect() };
    let bounding = set(&wanted.bounding);
    for cap in caps::read(None, CapSet::Bounding).map_err(fail)? {
        if !bounding.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(fail)?;
        }
    }
    // capset(2)'s order: inheritable while we still hold CAP_SETPCAP, then
    // effective, which must stay within permitted, then permitted.
    for (which, list) in [
        (CapSet::Inheritable, &wanted.inheritable),
        (CapSet::Effective, &wanted.effective),
        (CapSet::Permitted, &wanted.permitted),
    ] {
        caps::set(None, which, &set(list)).map_err(fail)?;
    }
    // An ambient capability must be permitted and inheritable too (or
    // PR_CAP_AMBIENT_RAISE fails): `runc spec` lists ambient ones it leaves
    // out of inheritable, and runc skips them; so do we, and says so.
    let both = set(&wanted.inheritable);
    let (ambient, skipped): (Vec<_>, Vec<_>) =
        wanted.ambient.iter().partition(|cap| both.contains(cap));
    if !skipped.is_empty() {
        say!("child: ambient {skipped:?} skipped: not inheritable");
    }
    let ambient: CapsHashSet = ambient.into_iter().copied().collect();
    caps::set(None, CapSet::Ambient, &ambient).map_err(fail)?;
    Ok(())
}

/// process.env, and nothing of ours; then process.cwd.
pub fn set_environment(spec: &Spec) -> Result<()> {
    for (name, _) in env::vars_os() {
        env::remove_var(name);
    }
    for pair in &spec.env {
        if let Some((name, value)) = pair.split_once('=') {
            if !name.is_empty() {
                env::set_var(name, value);
            }
        }
    }
    nix::unistd::chdir(spec.cwd.as_str()).map_err(|err| {
        skeleton::failure(&format!("chdir {}", spec.cwd), err, "see chdir(2)")
    })
}

/// linux.sysctl, through the container's /proc/sys (sysctl(8) writes the
/// same files): the key's dots are folders.
pub fn set_sysctl(spec: &Spec) -> Result<()> {
    for (key, value) in &spec.sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value).map_err(|err| Failure {
            code: 1,
            message: format!("sysctl {key}={value}: {err}"),
        })?;
    }
    Ok(())
}

/// A session keyring of the container's own, named `_ses.<id>` as runc
/// names it: the host's session keyring is left behind (keyrings(7)); uid
/// 0's user keyring stays reachable by keyctl(2), which a seccomp profile
/// refuses (podman's does).
pub fn join_session_keyring(id: &str) -> Result<()> {
    use nix::libc;
    let name =
        std::ffi::CString::new(format!("_ses.{id}")).map_err(|_| Failure {
            code: 1,
            message: "a NUL in the id".into(),
        })?;
    let join = libc::KEYCTL_JOIN_SESSION_KEYRING;
    // SAFETY: keyctl(2) reads the NUL-terminated name we pass, nothing else.
    if unsafe { libc::syscall(libc::SYS_keyctl, join, name.as_ptr()) } < 0 {
        let err = nix::errno::Errno::last();
        return Err(skeleton::failure("keyctl", err, "see keyctl(2)"));
    }
    Ok(())
}

/// linux.uidMappings and gidMappings, written by `create` while the child
/// waits (user_namespaces(7): each map once, by a process with CAP_SETUID
/// and CAP_SETGID out here).
pub fn write_maps(child: nix::unistd::Pid, spec: &Spec) -> Result<()> {
    for (file, map) in [("uid_map", &spec.uid_map), ("gid_map", &spec.gid_map)]
    {
        let path = format!("/proc/{child}/{file}");
        std::fs::write(&path, map).map_err(|err| Failure {
            code: 1,
            message: format!("write {path}: {err}"),
        })?;
    }
    Ok(())
}

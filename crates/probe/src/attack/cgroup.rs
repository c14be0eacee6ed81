//! `cgroup`: the container's limits are lifted, or a cgroup made, from inside. Three routes,
//! in the order an attacker tries them; the first that works is reported:
//!
//! 1. the cgroup filesystems mounted inside, as they are (a `/sys/fs/cgroup` left writable);
//! 2. one mounted by the attack (cgroup2, and v1's `pids`), in a mount namespace of its own:
//!    needs CAP_SYS_ADMIN;
//! 3. the same from a new user namespace (uid 0 mapped to itself) with new mount and cgroup
//!    namespaces: needs no capability at all, only that the kernel allows the user namespace.
//!    Container root that is host root owns the cgroup files, so inside its own user namespace
//!    it may still write them.
//!
//! In each, in the process's own group: make a group (`mkdir`, removed at once), or write
//! `pids.max` (its own value back: writable is the finding, nothing changes).

use std::fs;
use std::io::Write;
use std::path::Path;

use super::{sys, Outcome};

/// Existing folders a cgroup filesystem can be mounted on, in the attack's own mount namespace.
const MOUNT_ON: &[&str] = &["/tmp", "/mnt", "/dev", "/sys", "/root", "/etc"];

pub fn attempt() -> Outcome {
    let mut why = Vec::new();
    match mounted() {
        Ok(done) => return Outcome::through(done),
        Err(e) => why.push(format!("mounted: {e}")),
    }
    match sys::in_child(|_| own_mount(false)) {
        Ok(done) => return Outcome::through(done),
        Err(e) => why.push(format!("own mount: {e}")),
    }
    match sys::in_child(|_| own_mount(true)) {
        Ok(done) => return Outcome::through(done),
        Err(e) => why.push(format!("user namespace: {e}")),
    }
    Outcome::held(why.join("; "))
}

/// Route 1: the cgroup filesystems this process sees mounted.
fn mounted() -> Result<String, String> {
    let mounts = fs::read_to_string("/proc/self/mounts")
        .map_err(|e| format!("/proc/self/mounts: {}", crate::procfs::describe(&e)))?;
    let lines = own_groups()?;
    let mut why = Vec::new();
    for line in mounts.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (point, fstype, options) = match f[..] {
            [_, point, fstype, options, ..] => (point, fstype, options),
            _ => continue,
        };
        let own = match fstype {
            "cgroup2" => own_path(&lines, None),
            "cgroup" if options.split(',').any(|o| o == "pids") => own_path(&lines, Some("pids")),
            _ => continue,
        };
        match try_group(&crate::procfs::unescape(point), own.as_deref()) {
            Ok(done) => return Ok(format!("{fstype} mounted inside: {done}")),
            Err(e) => why.push(e),
        }
    }
    if why.is_empty() {
        return Err("no cgroup filesystem mounted".into());
    }
    Err(why.join("; "))
}

/// Routes 2 and 3, in a child: mount a cgroup filesystem of its own and try its group there.
fn own_mount(userns: bool) -> Result<String, String> {
    let route = if userns {
        // SAFETY: getegid cannot fail.
        let (uid, gid) = (sys::euid(), unsafe { libc::getegid() });
        sys::unshare(libc::CLONE_NEWUSER, "CLONE_NEWUSER")?;
        for (file, text) in [
            ("/proc/self/setgroups", "deny".to_string()),
            ("/proc/self/uid_map", format!("0 {uid} 1")),
            ("/proc/self/gid_map", format!("0 {gid} 1")),
        ] {
            let written = fs::OpenOptions::new()
                .write(true)
                .open(file)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            if let Err(e) = written {
                return Err(format!("write {file}: {}", crate::procfs::describe(&e)));
            }
        }
        sys::unshare(
            libc::CLONE_NEWNS | libc::CLONE_NEWCGROUP,
            "CLONE_NEWNS|CLONE_NEWCGROUP",
        )?;
        "in new user, mount and cgroup namespaces"
    } else {
        sys::unshare(libc::CLONE_NEWNS, "CLONE_NEWNS")?;
        "in a mount namespace of its own"
    };
    sys::private_mounts()?;
    if !crate::procfs::mounted() && !userns {
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        sys::mount("proc", "/proc", "proc", flags, "")?;
    }
    let lines = own_groups()?;
    let at = MOUNT_ON
        .iter()
        .find(|p| Path::new(p).is_dir())
        .ok_or("no folder to mount on")?;
    let mut why = Vec::new();
    for (fstype, data, controller) in [("cgroup2", "", None), ("cgroup", "pids", Some("pids"))] {
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        if let Err(e) = sys::mount("none", at, fstype, flags, data) {
            why.push(e);
            continue;
        }
        let tried = try_group(at, own_path(&lines, controller).as_deref());
        let _ = sys::umount(at);
        let name = if data.is_empty() {
            fstype.to_string()
        } else {
            format!("{fstype} ({data})")
        };
        match tried {
            Ok(done) => return Ok(format!("{route}, mounted {name}: {done}")),
            Err(e) => why.push(format!("{name}: {e}")),
        }
    }
    Err(format!("{route}: {}", why.join("; ")))
}

/// The lines of /proc/self/cgroup.
fn own_groups() -> Result<Vec<String>, String> {
    crate::procfs::cgroup_lines()
}

/// This process's group in the v2 hierarchy (`controller` None) or in v1's `controller` one.
fn own_path(lines: &[String], controller: Option<&str>) -> Option<String> {
    lines.iter().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let fits = match controller {
            None => controllers.is_empty(),
            Some(c) => controllers.split(',').any(|x| x == c),
        };
        fits.then(|| path.to_string())
    })
}

/// In the group folder under `mount` (its own group there, else the mount's top, which is its
/// own group when the mount was made in its cgroup namespace): mkdir, else rewrite pids.max.
fn try_group(mount: &str, own: Option<&str>) -> Result<String, String> {
    let below = own.map(|p| {
        format!(
            "{}/{}",
            mount.trim_end_matches('/'),
            p.trim_start_matches('/')
        )
    });
    let dir = below
        .filter(|d| Path::new(d).is_dir())
        .unwrap_or_else(|| mount.to_string());
    let dir = dir.trim_end_matches('/').to_string();
    let dir = if dir.is_empty() { "/".to_string() } else { dir };
    let made = format!("{}/probe-attack-{}", dir.trim_end_matches('/'), sys::pid());
    let mkdir = match sys::mkdir(&made) {
        Ok(()) => {
            return match sys::rmdir(&made) {
                Ok(()) => Ok(format!("made the cgroup {made} (and removed it)")),
                Err(e) => Ok(format!("made the cgroup {made}, LEFT BEHIND: {e}")),
            }
        }
        Err(e) => e,
    };
    let limit = format!("{}/pids.max", dir.trim_end_matches('/'));
    let Ok(value) = fs::read_to_string(&limit) else {
        return Err(mkdir);
    };
    let written = fs::OpenOptions::new()
        .write(true)
        .open(&limit)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    match written {
        Ok(()) => Ok(format!(
            "wrote {limit} (its own value, {}, back)",
            value.trim()
        )),
        Err(e) => Err(format!(
            "{mkdir}; write {limit}: {}",
            crate::procfs::describe(&e)
        )),
    }
}

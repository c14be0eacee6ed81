//! `cgroup`: the container's pids limit is raised, or escaped, from inside. Making a group
//! is not enough: a child group never gets more than its parent's limit (cgroups(7)). Three
//! routes, in the order an attacker tries them; the first that works is reported:
//!
//! 1. the cgroup filesystems mounted inside, as they are (a `/sys/fs/cgroup` left writable);
//! 2. one mounted by the attack (cgroup2, and v1's `pids`), in a mount namespace of its own:
//!    needs CAP_SYS_ADMIN;
//! 3. the same from a new user namespace (uid 0 mapped to itself) with new mount and cgroup
//!    namespaces: needs no capability at all, only that the kernel allows the user namespace.
//!    Container root that is host root owns the cgroup files, so inside its own user namespace
//!    it may still write them: on a v1 hierarchy, its own group's `pids.max` too; on cgroup2
//!    mounted with `nsdelegate` (systemd's), the kernel refuses writes to the files of the
//!    cgroup namespace's root, its own group, and a move out of it (cgroup_namespaces(7)).
//!
//! In each, measured: `pids.max` of its group and of each group above it that it can see is
//! written `max` and read back (then its old value is put back): higher is a limit raised. Or a
//! child of the probe writes itself into the top group's `cgroup.procs` and reads
//! /proc/self/cgroup: outside its group is a limit escaped. Where no `pids.max` holds it at all
//! (the stages before `cgroups`), there is nothing to lift: that counts as through.

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
        let controller = match fstype {
            "cgroup2" => None,
            "cgroup" if options.split(',').any(|o| o == "pids") => Some("pids"),
            _ => continue,
        };
        let own = own_path(&lines, controller);
        let point = crate::procfs::unescape(point);
        match try_group(&point, own.as_deref(), controller.is_some()) {
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
        let own = own_path(&lines, controller);
        let tried = try_group(at, own.as_deref(), controller.is_some());
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
/// own group when the mount was made in its cgroup namespace): raise a pids limit that holds it,
/// else escape to the top group; else say why not. `v1`: a v1 `pids` hierarchy.
fn try_group(mount: &str, own: Option<&str>, v1: bool) -> Result<String, String> {
    let top = mount.trim_end_matches('/');
    let own = own.unwrap_or("").trim_matches('/');
    let (dir, own) = match format!("{top}/{own}") {
        d if !own.is_empty() && Path::new(&d).is_dir() => (d, own),
        _ => (top.to_string(), ""),
    };
    // A cgroup2 without the pids controller (a hybrid host's) limits nothing here.
    let controllers = fs::read_to_string(format!("{top}/cgroup.controllers"));
    if !v1 && !controllers.is_ok_and(|c| c.split_whitespace().any(|c| c == "pids")) {
        return Err(format!("{top}: no pids controller"));
    }
    let mut why = Vec::new();
    // Its group's limit, and each one above it: the lowest holds.
    let mut held = Vec::new();
    let mut at = Path::new(&dir);
    loop {
        let limit = at.join("pids.max");
        if let Ok(value) = fs::read_to_string(&limit) {
            if value.trim() != "max" {
                held.push((limit.display().to_string(), value.trim().to_string()));
            }
        }
        match at.parent() {
            Some(up) if at != Path::new(top) && up.starts_with(top) => at = up,
            _ => break,
        }
    }
    for (limit, old) in &held {
        match raise(limit, old) {
            Ok(done) => return Ok(done),
            Err(e) => why.push(e),
        }
    }
    if !own.is_empty() {
        match sys::in_child(|_| escape(top, own, v1)) {
            Ok(done) => return Ok(done),
            Err(e) => why.push(format!("move to {top}: {e}")),
        }
    }
    if held.is_empty() {
        return Ok(format!("no pids limit holds it in {top}: nothing to lift"));
    }
    // What does not count: a group of its own below, whose limit its parent's caps.
    let made = format!("{dir}/probe-attack-{}", sys::pid());
    if sys::mkdir(&made).is_ok() {
        let _ = sys::rmdir(&made);
        why.push(format!(
            "made {made} (removed): a child group, held by its parent's limit"
        ));
    }
    Err(why.join("; "))
}

/// Writes `max` to `limit` and reads it back; puts `old` back either way.
fn raise(limit: &str, old: &str) -> Result<String, String> {
    let write = |value: &str| {
        fs::OpenOptions::new()
            .write(true)
            .open(limit)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .map_err(|e| format!("write {limit}: {}", crate::procfs::describe(&e)))
    };
    write("max")?;
    let now = fs::read_to_string(limit).unwrap_or_default();
    let _ = write(old);
    match now.trim() {
        "max" => Ok(format!(
            "raised {limit} from {old} to max (then put {old} back)"
        )),
        now => Err(format!("{limit} still {now} after writing max")),
    }
}

/// In a child of the probe: moves itself into the top group, and reads where it is now.
fn escape(top: &str, own: &str, v1: bool) -> Result<String, String> {
    let procs = format!("{top}/cgroup.procs");
    fs::OpenOptions::new()
        .write(true)
        .open(&procs)
        .and_then(|mut f| f.write_all(b"0"))
        .map_err(|e| format!("write {procs}: {}", crate::procfs::describe(&e)))?;
    let lines = own_groups()?;
    let now = own_path(&lines, v1.then_some("pids")).unwrap_or_default();
    let now = now.trim_matches('/');
    if now == own || now.starts_with(&format!("{own}/")) {
        return Err(format!("still in /{now}"));
    }
    Ok(format!(
        "moved itself from /{own} to /{now}: out of its limit"
    ))
}

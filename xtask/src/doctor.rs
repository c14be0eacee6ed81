//! `cargo xtask doctor`: what this host can and cannot do for the stages, one line each, `ok` or
//! `problem`, and for every problem the exact command that fixes it. Exit 0 when there is no
//! problem, 1 otherwise. It only reads: nothing on the host is changed (the one experiment, a
//! user namespace made by an unprivileged child process, vanishes with that process).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Result;
use hoststate::{CgroupLayout, Mount};
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, setgid, setgroups, setuid, ForkResult, Gid, Uid};

use crate::util;
use crate::{cli, rootfs};

pub const CLI: cli::Command = cli::Command {
    name: "doctor",
    about: "what this host can and cannot do, with the fix for each problem",
    args: &[],
    rest: None,
    notes: "It only reads: nothing on the host is changed. Exit 0 when there is no problem, \
            1 otherwise.",
};

/// The oldest kernel the stages work on: cgroup namespaces (`full`) arrived in 4.6.
const MIN_KERNEL: (u32, u32) = (4, 6);

/// The controllers the `cgroups` stage limits.
const CONTROLLERS: [&str; 3] = ["pids", "memory", "cpu"];

/// One finding.
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
    /// The exact fix, for a problem.
    fix: String,
}

fn ok(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok: true,
        detail: detail.into(),
        fix: String::new(),
    }
}

fn problem(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name,
        ok: false,
        detail: detail.into(),
        fix: fix.into(),
    }
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    CLI.parse(args)?;
    let mounts = hoststate::mounts();
    let rootfs_dir = rootfs::default_dir();
    let rootfs_check = root_filesystem(&rootfs_dir);
    let mut checks = vec![kernel(), privileges()];
    checks.extend(cgroups(&mounts));
    checks.extend(user_namespaces());
    checks.push(rootless_limits(hoststate::cgroup_layout_of(&mounts)));
    checks.push(propagation(&mounts));
    checks.push(overlayfs());
    checks.push(iproute2());
    checks.push(busybox(rootfs_check.ok));
    checks.push(musl_target());
    checks.push(rootfs_check);

    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for check in &checks {
        let verdict = if check.ok { "ok" } else { "problem" };
        println!("{verdict:<8} {:<width$}  {}", check.name, check.detail);
        if !check.ok {
            println!("{:<8} {:<width$}  fix: {}", "", "", check.fix);
        }
    }
    let problems = checks.iter().filter(|c| !c.ok).count();
    if problems == 0 {
        println!("\nno problem: every stage can run here");
        Ok(0)
    } else {
        let s = if problems == 1 { "" } else { "s" };
        println!(
            "\n{problems} problem{s}: apply the fixes above, then run `cargo xtask doctor` again"
        );
        Ok(1)
    }
}

/// The running kernel's release, e.g. `6.8.0-45-generic`.
fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn kernel() -> Check {
    let release = kernel_release();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if version >= MIN_KERNEL {
        let kill = if version >= (5, 14) {
            "cgroup.kill available"
        } else {
            "no cgroup.kill (5.14): clean kills each process instead"
        };
        ok("kernel", format!("Linux {release} ({kill})"))
    } else {
        problem(
            "kernel",
            format!(
                "Linux {release} is older than {}.{}, which `full` needs for cgroup namespaces",
                MIN_KERNEL.0, MIN_KERNEL.1
            ),
            "boot a newer kernel (any distribution's current one will do)",
        )
    }
}

fn privileges() -> Check {
    if util::is_root() {
        return ok("privileges", "running as root");
    }
    let quiet = |args: &[&str]| {
        Command::new("sudo")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    match quiet(&["-n", "true"]) {
        Ok(status) if status.success() => ok("privileges", "sudo works without a password"),
        Ok(_) => ok(
            "privileges",
            "sudo is installed (it will ask for your password when a stage needs root)",
        ),
        Err(_) => problem(
            "privileges",
            "not root and no sudo: every stage but base1, base2 and user needs root",
            "run as root (`su -`), or install sudo: `su -c 'apt-get install sudo && adduser $USER sudo'`",
        ),
    }
}

/// A row of `/proc/cgroups`: a v1 hierarchy id (0 when the controller is not on v1) and
/// whether the controller is enabled.
fn proc_cgroups() -> Vec<(String, u32, bool)> {
    fs::read_to_string("/proc/cgroups")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.to_string(),
                f.get(1)?.parse().ok()?,
                *f.get(3)? == "1",
            ))
        })
        .collect()
}

/// This process's group in the unified (v2) hierarchy, from `/proc/self/cgroup`'s `0::` line.
fn own_v2_group() -> String {
    fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        .unwrap_or_else(|| "/".to_string())
}

fn cgroups(mounts: &[Mount]) -> Vec<Check> {
    let v2_mount = mounts.iter().find(|m| m.fstype == "cgroup2");
    let v1_mounts: Vec<&Mount> = mounts.iter().filter(|m| m.fstype == "cgroup").collect();
    let layout = hoststate::cgroup_layout_of(mounts);
    let mut checks = Vec::new();
    if layout == CgroupLayout::None {
        checks.push(problem(
            "cgroups",
            "nothing usable is mounted at /sys/fs/cgroup",
            "mount cgroup v2: `sudo mount -t cgroup2 none /sys/fs/cgroup`",
        ));
        return checks;
    }
    checks.push(ok("cgroups", layout.describe()));
    let table = proc_cgroups();
    for controller in CONTROLLERS {
        checks.push(controller_check(controller, &table, &v1_mounts, v2_mount));
    }
    checks
}

fn controller_check(
    controller: &'static str,
    table: &[(String, u32, bool)],
    v1_mounts: &[&Mount],
    v2_mount: Option<&Mount>,
) -> Check {
    let name = match controller {
        "pids" => "cgroup pids",
        "memory" => "cgroup memory",
        _ => "cgroup cpu",
    };
    let row = table.iter().find(|(n, _, _)| n == controller);
    if let Some((_, _, false)) = row {
        return problem(
            name,
            format!("the {controller} controller is disabled on the kernel command line"),
            format!(
                "add `cgroup_enable={controller}` to GRUB_CMDLINE_LINUX in /etc/default/grub, \
                 run `sudo update-grub` and reboot"
            ),
        );
    }
    if let Some((_, hierarchy, true)) = row {
        if *hierarchy != 0 {
            // On v1: a hierarchy of its own (or shared, as cpu,cpuacct), mounted somewhere.
            return match v1_mounts
                .iter()
                .find(|m| m.super_options.split(',').any(|o| o == controller))
            {
                Some(m) => ok(name, format!("v1, at {}", m.mount_point.display())),
                None => problem(
                    name,
                    format!("the {controller} controller is on v1 but not mounted"),
                    format!(
                        "sudo mkdir -p /sys/fs/cgroup/{controller} && sudo mount -t cgroup -o \
                         {controller} cgroup /sys/fs/cgroup/{controller}"
                    ),
                ),
            };
        }
    }
    // On v2: it must be available at the top, and passed down to the group the runtime is in.
    let Some(v2) = v2_mount else {
        return problem(
            name,
            format!("the {controller} controller is in no mounted hierarchy"),
            "mount cgroup v2: `sudo mount -t cgroup2 none /sys/fs/cgroup`",
        );
    };
    let top = &v2.mount_point;
    let listed = |dir: &Path| {
        fs::read_to_string(dir.join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == controller)
    };
    if !listed(top) {
        return problem(
            name,
            format!(
                "the {controller} controller is neither on v1 nor in {}/cgroup.controllers",
                top.display()
            ),
            format!(
                "boot with `cgroup_enable={controller}` (GRUB_CMDLINE_LINUX in /etc/default/grub, \
                 `sudo update-grub`, reboot)"
            ),
        );
    }
    let group = own_v2_group();
    let mut dir = top.clone();
    let mut missing_at = None;
    for part in group.split('/').filter(|p| !p.is_empty()) {
        let child = dir.join(part);
        if !listed(&child) {
            missing_at = Some(dir.clone());
            break;
        }
        dir = child;
    }
    match missing_at {
        None => ok(name, format!("v2, available in {}", dir.display())),
        Some(parent) => problem(
            name,
            format!(
                "v2, but not passed down from {} to this process's group {group}",
                parent.display()
            ),
            format!(
                "echo +{controller} | sudo tee {}/cgroup.subtree_control (and in each group \
                 below it down to {group}), or run from a group that has it",
                parent.display()
            ),
        ),
    }
}

fn read_sysctl(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn user_namespaces() -> Vec<Check> {
    const NAME: &str = "user namespaces";
    let mut blockers = Vec::new();
    if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        blockers.push(problem(
            NAME,
            "kernel.unprivileged_userns_clone=0 forbids them to ordinary users",
            "sudo sysctl -w kernel.unprivileged_userns_clone=1 (to keep it: \
             echo kernel.unprivileged_userns_clone=1 | sudo tee /etc/sysctl.d/90-userns.conf)",
        ));
    }
    if read_sysctl("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        blockers.push(problem(
            NAME,
            "user.max_user_namespaces=0 forbids them to everyone",
            "sudo sysctl -w user.max_user_namespaces=15000 (to keep it: \
             echo user.max_user_namespaces=15000 | sudo tee /etc/sysctl.d/90-userns.conf)",
        ));
    }
    if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
    {
        blockers.push(problem(
            NAME,
            "AppArmor restricts them (kernel.apparmor_restrict_unprivileged_userns=1, Ubuntu 23.10+)",
            "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (to keep it: \
             echo kernel.apparmor_restrict_unprivileged_userns=0 | sudo tee \
             /etc/sysctl.d/90-userns.conf)",
        ));
    }
    if !blockers.is_empty() {
        return blockers;
    }
    match try_unprivileged_userns() {
        Ok(who) => vec![ok(
            NAME,
            format!("an unprivileged process ({who}) can make one: `user` runs without root"),
        )],
        Err(errno) => vec![problem(
            NAME,
            format!("an unprivileged unshare(CLONE_NEWUSER) failed: {errno}"),
            "check `sysctl user.max_user_namespaces`, your distribution's userns settings, \
             and any seccomp or LSM policy of this session",
        )],
    }
}

/// Whether a rootless container of this user gets cgroup limits: only in a cgroup v2 group
/// delegated to the user (its folder, `cgroup.procs`, `cgroup.subtree_control` and
/// `cgroup.threads` owned by it, as systemd's `Delegate=` makes them), with the controllers the
/// groups above pass on (`cgroup.controllers`). Never a problem: without it a rootless container
/// runs without limits, and says so (slides/user/src/cgroups_delegated.rs).
fn rootless_limits(layout: CgroupLayout) -> Check {
    const NAME: &str = "rootless limits";
    const HOW: &str = "`systemd-run --user --scope -p Delegate=yes -- <command>` runs a command \
                       in a group delegated to its user";
    if layout != CgroupLayout::V2 {
        return ok(
            NAME,
            format!(
                "none: cgroup {} delegates nothing to ordinary users, so their rootless \
                 containers run without limits (root's get them)",
                layout.describe()
            ),
        );
    }
    if util::is_root() {
        return ok(
            NAME,
            format!("root needs no delegation; for an ordinary user: {HOW}"),
        );
    }
    let group = Path::new("/sys/fs/cgroup").join(own_v2_group().trim().trim_start_matches('/'));
    ok(
        NAME,
        delegation(&group, nix::unistd::geteuid().as_raw(), HOW),
    )
}

/// What `group` gives uid `uid`: none, unless it and its files are the user's; then which of the
/// stages' controllers it offers, and which not.
fn delegation(group: &Path, uid: u32, how: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let files = [
        ".",
        "cgroup.procs",
        "cgroup.subtree_control",
        "cgroup.threads",
    ];
    let ours = files
        .iter()
        .all(|file| fs::metadata(group.join(file)).is_ok_and(|m| m.uid() == uid));
    if !ours {
        return format!(
            "none: {} is not delegated to uid {uid}, so rootless containers run without \
             limits; {how}",
            group.display()
        );
    }
    let offered = fs::read_to_string(group.join("cgroup.controllers")).unwrap_or_default();
    let (delegated, not): (Vec<&str>, Vec<&str>) = CONTROLLERS
        .iter()
        .partition(|c| offered.split_whitespace().any(|o| o == **c));
    let with = match delegated.is_empty() {
        true => "no controller of ours".to_string(),
        false => delegated.join(" "),
    };
    let not = match not.is_empty() {
        true => String::new(),
        false => format!("; not delegated, so without a limit: {}", not.join(" ")),
    };
    format!(
        "{} is delegated to uid {uid}, with {with}{not} (a runtime needs it to itself: started \
         by `systemd-run`, not from a shell in it)",
        group.display()
    )
}

/// Makes a user namespace in a child process that is not root (when we are root, the child
/// first becomes `nobody`), so the answer is the one an ordinary user would get.
fn try_unprivileged_userns() -> Result<&'static str, String> {
    let root = util::is_root();
    let who = if root { "nobody" } else { "you" };
    // SAFETY: the child only makes system calls and `_exit`s: nothing that could deadlock on a
    // lock another thread held at fork time, nothing that allocates.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => child,
        Ok(ForkResult::Child) => {
            let nobody = 65534;
            let code = if root
                && (setgroups(&[]).is_err()
                    || setgid(Gid::from_raw(nobody)).is_err()
                    || setuid(Uid::from_raw(nobody)).is_err())
            {
                200
            } else {
                match unshare(CloneFlags::CLONE_NEWUSER) {
                    Ok(()) => 0,
                    Err(errno) => (errno as i32).clamp(1, 199),
                }
            };
            // SAFETY: ends the forked child at once, running none of the parent's destructors
            // or exit handlers (nix has no _exit).
            unsafe { libc::_exit(code) }
        }
        Err(errno) => return Err(errno.desc().to_string()),
    };
    match waitpid(child, None) {
        Ok(WaitStatus::Exited(_, 0)) => Ok(who),
        Ok(WaitStatus::Exited(_, 200)) => Err("could not become nobody to try".to_string()),
        Ok(WaitStatus::Exited(_, errno)) => {
            Err(std::io::Error::from_raw_os_error(errno).to_string())
        }
        _ => Err("the test process died".to_string()),
    }
}

fn propagation(mounts: &[Mount]) -> Check {
    const NAME: &str = "propagation of /";
    // The last mount on `/` is the one visible.
    let Some(root) = mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == Path::new("/"))
    else {
        return problem(
            NAME,
            "no mount on / in /proc/self/mountinfo",
            "mount /proc: `sudo mount -t proc proc /proc`",
        );
    };
    if root.optional.iter().any(|o| o.starts_with("shared:")) {
        ok(
            NAME,
            "shared (systemd's default): the stages make their copy private first, so none of \
             their mounts reach the host",
        )
    } else if root.optional.iter().any(|o| o.starts_with("master:")) {
        ok(
            NAME,
            "slave: the host's mounts reach the stages, theirs never come back",
        )
    } else {
        ok(NAME, "private: no mount propagates in either direction")
    }
}

fn overlayfs() -> Check {
    const NAME: &str = "overlayfs";
    let listed = fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    if listed {
        return ok(
            NAME,
            "in the kernel (/proc/filesystems): `full` gets a copy-on-write root",
        );
    }
    let module = Path::new("/lib/modules")
        .join(kernel_release())
        .join("kernel/fs/overlayfs");
    if module.is_dir() {
        problem(
            NAME,
            "available as a module, not loaded",
            "sudo modprobe overlay (to keep it: echo overlay | sudo tee /etc/modules-load.d/overlay.conf)",
        )
    } else {
        problem(
            NAME,
            "not in this kernel",
            "run `full --no-overlay` (changes then go straight into the root filesystem), or boot \
             a kernel with CONFIG_OVERLAY_FS",
        )
    }
}

fn iproute2() -> Check {
    match util::which("ip") {
        Some(path) => ok(
            "iproute2",
            format!("`ip` at {}: `net` can make its veth", path.display()),
        ),
        None => problem(
            "iproute2",
            "no `ip` command: the `net` stage cannot link the container to the host",
            "sudo apt-get install iproute2",
        ),
    }
}

/// `Some(true)` for a statically linked ELF (no program interpreter), `Some(false)` for a
/// dynamically linked one, `None` when `path` is not a readable 64-bit little-endian ELF.
fn is_static_elf(path: &Path) -> Option<bool> {
    let data = fs::read(path).ok()?;
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(data.get(o..o + 2)?.try_into().ok()?));
    let phoff = usize::try_from(u64::from_le_bytes(data.get(32..40)?.try_into().ok()?)).ok()?;
    let (phentsize, phnum) = (usize::from(u16_at(54)?), usize::from(u16_at(56)?));
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let kind = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?);
        if kind == PT_INTERP {
            return Some(false);
        }
    }
    Some(true)
}

fn busybox(have_rootfs: bool) -> Check {
    const NAME: &str = "busybox-static";
    let candidates: Vec<PathBuf> = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .chain(util::which("busybox"))
        .collect();
    let mut dynamic = None;
    for path in candidates {
        match is_static_elf(&path) {
            Some(true) => {
                return ok(
                    NAME,
                    format!(
                        "{} is static: `cargo xtask rootfs` works offline",
                        path.display()
                    ),
                )
            }
            Some(false) => dynamic = dynamic.or(Some(path)),
            None => {}
        }
    }
    let what = match dynamic {
        Some(path) => format!(
            "{} is dynamically linked: it cannot run in the container",
            path.display()
        ),
        None => "no busybox".to_string(),
    };
    if have_rootfs {
        ok(
            NAME,
            format!(
                "{what}; only a new `cargo xtask rootfs` needs it, and a root filesystem exists"
            ),
        )
    } else {
        problem(
            NAME,
            format!("{what}: `cargo xtask rootfs` cannot make the root filesystem offline"),
            "sudo apt-get install busybox-static",
        )
    }
}

fn musl_target() -> Check {
    const NAME: &str = "musl target";
    let target = util::musl_target();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else {
        return problem(
            NAME,
            "no rustc in PATH (sudo's PATH lacks ~/.cargo/bin)",
            format!(
                "install Rust with rustup and `rustup target add {target}`; under sudo: \
                 `sudo env PATH=$PATH cargo xtask doctor`"
            ),
        );
    };
    if sysroot
        .join("lib/rustlib")
        .join(&target)
        .join("lib")
        .is_dir()
    {
        ok(
            NAME,
            format!("{target} installed: the stages and the probe build as static binaries"),
        )
    } else {
        problem(
            NAME,
            format!(
                "{target} is not installed: the stages and the probe cannot be built \
                 (cargo xtask adds it with rustup when it can)"
            ),
            format!("rustup target add {target}"),
        )
    }
}

fn root_filesystem(dir: &Path) -> Check {
    const NAME: &str = "root filesystem";
    let present = |rel: &str| fs::symlink_metadata(dir.join(rel)).is_ok();
    if !present("bin/sh") {
        return problem(
            NAME,
            format!("none at {}", dir.display()),
            "cargo xtask rootfs",
        );
    }
    if !present("usr/local/bin/probe") {
        return problem(
            NAME,
            format!("{} has no /usr/local/bin/probe", dir.display()),
            "cargo xtask rootfs (it installs the probe)",
        );
    }
    ok(NAME, format!("{} (with the probe)", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// A folder laid out like a cgroup's, owned by whoever runs the test: delegated to them.
    #[test]
    fn delegation_names_the_controllers_offered_and_those_not() {
        let dir = std::env::temp_dir().join(format!("desde-cero-doctor-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for file in ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"] {
            fs::write(dir.join(file), "").unwrap();
        }
        fs::write(dir.join("cgroup.controllers"), "memory pids\n").unwrap();
        let uid = fs::metadata(&dir).unwrap().uid();
        let said = delegation(&dir, uid, "HOW");
        assert!(
            said.contains(&format!("is delegated to uid {uid}, with pids memory;")),
            "{said}"
        );
        assert!(
            said.contains("not delegated, so without a limit: cpu"),
            "{said}"
        );
        let said = delegation(&dir, uid + 1, "HOW");
        assert!(
            said.starts_with("none: ") && said.ends_with("limits; HOW"),
            "{said}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}

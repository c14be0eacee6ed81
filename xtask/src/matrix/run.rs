//! Running the probe: inside a stage (or alone, on the host) with its report held in a full
//! pipe while the host reads its process, and every attack inside a stage.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bait::Bait;
use catalog::Attack;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{pipe2, write, Pid};
use serde_json::Value;

use super::TIME_LIMIT;
use crate::rootfs;

/// Runs every attack inside a stage: whether each got through, and the probe's line on it. The
/// stage's stdin is a terminal of the matrix's own, its controlling terminal, as a presenter's
/// terminal is: the `tty` attack types into it (nobody reads it) and judges whose it is.
pub(super) fn attacks(
    stage: &Path,
    probe: &Path,
    bait: &Bait,
    rootfs_dir: &Path,
) -> Result<BTreeMap<Attack, (bool, String)>> {
    let (_master, slave) = terminal()?;
    let mut cmd = bait.command(stage, &[], probe, "all");
    cmd.env(rootfs::ENV_VAR, rootfs_dir)
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid(2) and ioctl(2) are async-signal-safe, as pre_exec requires: a session of
    // its own, whose controlling terminal is the one on stdin.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let pid = child.id();
    let (done, watchdog) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if watchdog.recv_timeout(TIME_LIMIT).is_err() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    });
    let out = child
        .wait_with_output()
        .context("cannot wait for the stage")?;
    let _ = done.send(());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last_line = stderr.lines().last().unwrap_or("");
    if !out.status.success() {
        bail!("exited with {}: {last_line}", out.status);
    }
    let report: Value = serde_json::from_slice(&out.stdout)
        .map_err(|why| anyhow::anyhow!("the probe printed no JSON ({why}): {last_line}"))?;
    let mut found = BTreeMap::new();
    for item in report
        .as_array()
        .context("the attacks' report is not a list")?
    {
        let label = item["attack"].as_str().unwrap_or("");
        let attack = Attack::find(label)
            .with_context(|| format!("the probe ran an attack the catalog lacks: {label:?}"))?;
        let through = item["succeeded"]
            .as_bool()
            .with_context(|| format!("{label}: no `succeeded`"))?;
        let detail = item["detail"].as_str().unwrap_or("").to_string();
        found.insert(attack, (through, detail));
    }
    if let Some(missing) = Attack::ALL.iter().find(|a| !found.contains_key(a)) {
        bail!("the probe has no attack {missing}: is the root filesystem's probe old?");
    }
    Ok(found)
}

/// A new pseudo-terminal: its master end, kept open while the stage runs, and the other end.
fn terminal() -> Result<(nix::pty::PtyMaster, OwnedFd)> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = nix::pty::posix_openpt(flags).context("posix_openpt")?;
    nix::pty::unlockpt(&master).context("unlockpt")?;
    // SAFETY: TIOCGPTPEER takes open(2) flags and returns a new descriptor, ours alone.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags.bits()) };
    if fd < 0 {
        bail!("ioctl TIOCGPTPEER: {}", std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just made this descriptor.
    Ok((master, unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// What was seen of one probe: its report, and the host's view of the same process.
pub(super) struct View {
    pub(super) report: Value,
    /// `/proc/<pid>/ns/<kind>` inode numbers, read from the host.
    pub(super) ns: BTreeMap<String, u64>,
    /// Per controller: the process's group folder in the host's cgroup filesystem (from
    /// `/proc/<pid>/cgroup`) and whether that folder sets a limit of its own, read while the
    /// process lives (the stage removes its group when it ends).
    pub(super) groups: BTreeMap<&'static str, (PathBuf, bool)>,
    /// `/proc/<pid>/root`'s device and inode: the process's root directory.
    pub(super) root: (u64, u64),
    /// `/proc/<pid>/status`.
    pub(super) status: String,
    /// `/proc/<pid>/uid_map`, read from the host.
    pub(super) uid_map: String,
}

/// Runs `<stage> run <probe> --host-marker <marker> --compact` (the probe alone without a stage) with its stdout in a pipe that is full
/// before it starts, so the probe blocks on writing its report; reads the probe's process from
/// the host meanwhile, then drains the pipe and parses the report.
pub(super) fn observe(
    stage: Option<&Path>,
    probe: &Path,
    marker: &Path,
    rootfs_dir: &Path,
) -> Result<View> {
    let (read_end, write_end) = full_pipe()?;
    let mut cmd = match stage {
        Some(bin) => {
            let mut cmd = Command::new(bin);
            cmd.arg("run").arg(probe);
            cmd
        }
        None => Command::new(probe),
    };
    cmd.arg("--host-marker")
        .arg(marker)
        .arg("--compact")
        .env(rootfs::ENV_VAR, rootfs_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    // The command holds our copy of the write end: it must go, or the drain below would never
    // see the end of the report.
    drop(cmd);
    let pid = child.id();
    // A stage that hangs is killed after the time limit (its container dies with it).
    let (done, watchdog) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if watchdog.recv_timeout(TIME_LIMIT).is_err() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    });
    let mut stderr = child.stderr.take().context("no stderr pipe")?;
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let seen = find_probe(pid, Instant::now() + TIME_LIMIT).map(outside);
    let mut out = Vec::new();
    let drained = fs::File::from(read_end).read_to_end(&mut out);
    let status = child.wait().context("cannot wait for the stage")?;
    let _ = done.send(());
    let stderr_text = stderr_reader.join().unwrap_or_default();
    drained.context("cannot read the probe's report")?;
    let last_line = stderr_text.lines().last().unwrap_or("").to_string();
    if !status.success() {
        bail!("exited with {status}: {last_line}");
    }
    let text = String::from_utf8_lossy(&out);
    let report: Value = serde_json::from_str(text.trim())
        .map_err(|why| anyhow::anyhow!("the probe printed no JSON ({why}): {last_line}"))?;
    let (ns, groups, root, status, uid_map) =
        seen.context("the probe never showed up among the stage's processes")??;
    Ok(View {
        report,
        ns,
        groups,
        root,
        status,
        uid_map,
    })
}

/// A pipe whose buffer is already full: a write to it blocks until the read end is read.
fn full_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).context("pipe2")?;
    // The report will start after this filler: whitespace, which the JSON parser skips.
    let filler = [b' '; 4096];
    for chunk in [&filler[..], &filler[..1]] {
        while write(&write_end, chunk).is_ok() {}
    }
    // O_NONBLOCK belongs to the open pipe, which the probe shares: take it off again, so the
    // probe's write blocks instead of failing.
    for fd in [&read_end, &write_end] {
        let _ = fcntl(fd, FcntlArg::F_SETFL(OFlag::empty()));
    }
    Ok((read_end, write_end))
}

/// pid, command name and parent pid of every process.
fn processes() -> Vec<(i32, String, i32)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            let (head, tail) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_string();
            let ppid = tail.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, comm, ppid))
        })
        .collect()
}

/// The probe among the descendants of `top` (the one whose parent is not a probe: the escape
/// attempt forks a short-lived second one).
fn find_probe(top: u32, deadline: Instant) -> Option<i32> {
    let top = i32::try_from(top).ok()?;
    while Instant::now() < deadline {
        let procs = processes();
        let mut family: BTreeSet<i32> = BTreeSet::from([top]);
        for _ in 0..8 {
            for (pid, _, ppid) in &procs {
                if family.contains(ppid) {
                    family.insert(*pid);
                }
            }
        }
        let comm_of = |pid: i32| procs.iter().find(|p| p.0 == pid).map(|p| p.1.as_str());
        let found = procs.iter().find(|(pid, comm, ppid)| {
            family.contains(pid) && comm == "probe" && comm_of(*ppid) != Some("probe")
        });
        if let Some((pid, _, _)) = found {
            return Some(*pid);
        }
        if !Path::new(&format!("/proc/{top}")).exists() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

type Outside = (
    BTreeMap<String, u64>,
    BTreeMap<&'static str, (PathBuf, bool)>,
    (u64, u64),
    String,
    String,
);

/// The host's view of process `pid`.
fn outside(pid: i32) -> Result<Outside> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let mut ns = BTreeMap::new();
    for kind in ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts", "time"] {
        if let Ok(meta) = fs::metadata(proc_dir.join("ns").join(kind)) {
            ns.insert(kind.to_string(), meta.ino());
        }
    }
    let read = |name: &str| {
        fs::read_to_string(proc_dir.join(name))
            .with_context(|| format!("cannot read /proc/{pid}/{name}"))
    };
    let lines: Vec<String> = read("cgroup")?.lines().map(str::to_string).collect();
    let mut groups = BTreeMap::new();
    for controller in ["pids", "memory", "cpu"] {
        if let Some((dir, v2)) = cgroup_path(&lines, controller) {
            let limited = own_limit(&dir, v2, controller);
            groups.insert(controller, (dir, limited));
        }
    }
    let root = fs::metadata(proc_dir.join("root"))
        .with_context(|| format!("cannot stat /proc/{pid}/root"))?;
    let status = read("status")?;
    let uid_map = read("uid_map")?;
    Ok((ns, groups, (root.dev(), root.ino()), status, uid_map))
}

/// The folder of a process's group for `controller` (from its `/proc/<pid>/cgroup` lines) in
/// the host's cgroup filesystem, and whether it is a v2 one.
fn cgroup_path(lines: &[String], controller: &str) -> Option<(PathBuf, bool)> {
    let mounts = hoststate::mounts();
    for line in lines {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == controller) {
            let m = mounts.iter().find(|m| {
                m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == controller)
            })?;
            return Some((m.mount_point.join(path.trim_start_matches('/')), false));
        }
    }
    let path = lines.iter().find_map(|l| l.strip_prefix("0::"))?;
    let m = mounts.iter().find(|m| m.fstype == "cgroup2")?;
    Some((m.mount_point.join(path.trim_start_matches('/')), true))
}

/// Whether the group folder `dir` sets a limit of its own for `controller`.
fn own_limit(dir: &Path, v2: bool, controller: &str) -> bool {
    let read = |name: &str| fs::read_to_string(dir.join(name)).map(|s| s.trim().to_string());
    match (controller, v2) {
        ("pids", _) => read("pids.max").is_ok_and(|v| v != "max"),
        ("memory", true) => read("memory.max").is_ok_and(|v| v != "max"),
        // v1 says "no limit" with a huge number (the largest page-aligned i64).
        ("memory", false) => read("memory.limit_in_bytes")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|v| v < 1 << 62),
        ("cpu", true) => read("cpu.max").is_ok_and(|v| !v.starts_with("max")),
        ("cpu", false) => read("cpu.cfs_quota_us").is_ok_and(|v| v != "-1"),
        _ => false,
    }
}

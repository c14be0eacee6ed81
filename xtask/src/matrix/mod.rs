//! `cargo xtask matrix [--json] [--prebuilt]`: the isolation each stage really has, and the
//! attacks it really stops.
//!
//! For every stage of the catalog it runs the probe inside (`<stage> run <probe> --host-marker
//! <file>`), and the probe on the host, and turns the difference into one column of the table:
//! one row per [`catalog::Property`], `✓` where the stage has it and `·` where it does not.
//! Then it runs every attack inside (`<stage> run <probe> attack all ...`) with the bait a
//! careless runtime would leak ([`Bait`]): one row per [`catalog::Attack`], `✓` where the stage
//! stops it and `·` where it gets through. A cell that differs from the catalog (what the stage
//! adds, what it stops) is marked `!` and listed below the table, and the exit code is 1. So is
//! a stage whose crate does not exist yet.
//!
//! What the probe cannot see from inside (a plain `chroot` has no `/proc`, most stages no
//! `/sys/fs/cgroup`) is read from the host about the very same process: the probe's report is
//! held in a full pipe, so the probe is still alive, blocked in write(2), while the matrix reads
//! its `/proc/<pid>/ns`, `cgroup`, `root` and `status`. Then the pipe is drained.
//!
//! `--prebuilt` uses the binaries already built (in `$DESDE_CERO_BIN_DIR`, else `target/debug`)
//! and the root filesystem as it is: that is how the test suite and the sudo re-run call it.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use catalog::{Attack, Property, Stage};
use serde_json::{json, Value};

use crate::util;
use crate::{cli, rootfs};

pub const CLI: cli::Command = cli::Command {
    name: "matrix",
    about: "the isolation each stage really has, observed by the probe",
    args: &[
        cli::flag(
            "json",
            "print the report as JSON (rows, columns, mismatches)",
        ),
        cli::flag(
            "prebuilt",
            "use the binaries already built ($DESDE_CERO_BIN_DIR, else target/debug) and the \
             root filesystem as it is: nothing is built",
        ),
    ],
    rest: None,
    notes: "Exit 0 when every stage has exactly the isolation the catalog says, 1 otherwise. \
            The stages run as root (through sudo when you are not root).",
};

/// Where the probe is inside every root filesystem.
const PROBE_INSIDE: &str = "/usr/local/bin/probe";

/// How long one stage may take to report.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// The hostname every stage from `uts` on gives its container.
const HOSTNAME: &str = "container";

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let args = CLI.parse(args)?;
    let (json, prebuilt) = (args.flag("json"), args.flag("prebuilt"));
    let rootfs_dir = if prebuilt {
        rootfs::default_dir()
    } else {
        rootfs::ensure()?
    };
    let mut binaries: BTreeMap<&'static str, Result<PathBuf, String>> = BTreeMap::new();
    for stage in catalog::STAGES {
        binaries.insert(stage.name, binary(stage, prebuilt));
    }
    if !util::is_root() {
        // Every stage runs as root, so all rows are compared with the same host; reading
        // another root process's /proc/<pid>/ns needs root too. The builds above ran as the
        // user, so target/ stays theirs.
        eprintln!("matrix: the stages need root: running the rest through sudo");
        let exe = std::env::current_exe().context("cannot find the xtask's own binary")?;
        let mut sudo = Command::new("sudo");
        sudo.arg(format!(
            "--preserve-env={},DESDE_CERO_BIN_DIR",
            rootfs::ENV_VAR
        ))
        .arg("--")
        .arg(exe)
        .args(["matrix", "--prebuilt"])
        .env(rootfs::ENV_VAR, &rootfs_dir);
        if json {
            sudo.arg("--json");
        }
        return Err(sudo.exec())
            .context("cannot start sudo: run `cargo xtask matrix` as root, or install sudo");
    }
    let probe_on_host = rootfs_dir.join(PROBE_INSIDE.trim_start_matches('/'));
    if !probe_on_host.is_file() {
        bail!(
            "no probe at {}: run `cargo xtask rootfs` first",
            probe_on_host.display()
        );
    }
    let marker = Marker::create()?;
    let host = observe(None, &probe_on_host, &marker.0, &rootfs_dir)
        .context("cannot run the probe on the host")?;
    let bait = Bait::lay(&marker.0, &rootfs_dir)?;
    let mut rows = Vec::new();
    for stage in catalog::STAGES {
        let outcome = match binaries.remove(stage.name).unwrap_or(Err(String::new())) {
            Err(why) => Outcome::Missing(why),
            Ok(bin) => {
                let probe = if stage.needs_rootfs {
                    PathBuf::from(PROBE_INSIDE)
                } else {
                    // These stages keep the host's root: the probe is found by its host path.
                    probe_on_host.clone()
                };
                let seen = observe(Some(&bin), &probe, &marker.0, &rootfs_dir).and_then(|view| {
                    let attacks =
                        attacks(&bin, &probe, &bait, &rootfs_dir).context("the attacks")?;
                    Ok(Seen {
                        has: properties(&view, &host),
                        attacks,
                    })
                });
                match seen {
                    Ok(seen) => Outcome::Seen(seen),
                    Err(err) => Outcome::Failed(format!("{err:#}")),
                }
            }
        };
        rows.push(Row { stage, outcome });
    }
    let mismatches: Vec<Mismatch> = rows.iter().flat_map(Row::mismatches).collect();
    let all_seen = rows.iter().all(|r| matches!(r.outcome, Outcome::Seen(_)));
    if json {
        println!("{}", to_json(&rows, &mismatches, all_seen));
    } else {
        print_table(&rows, &mismatches);
    }
    Ok(if mismatches.is_empty() && all_seen {
        0
    } else {
        1
    })
}

/// A stage's binary: built now, or already built with `--prebuilt`; an error when its crate
/// does not exist yet or does not build.
fn binary(stage: &Stage, prebuilt: bool) -> Result<PathBuf, String> {
    let manifest = util::project_root()
        .join("slides")
        .join(stage.name)
        .join("Cargo.toml");
    if !manifest.is_file() {
        return Err("not built yet: no slides/".to_string() + stage.name);
    }
    if prebuilt {
        let dir = std::env::var_os("DESDE_CERO_BIN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| util::target_dir().join("debug"));
        let bin = dir.join(stage.name);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("not built yet: no {}", bin.display()))
        };
    }
    util::build_stage(stage, false).map_err(|err| format!("does not build: {err:#}"))
}

/// A file only the host has: if a process sees it, it sees the host's root filesystem.
struct Marker(PathBuf);

impl Marker {
    fn create() -> Result<Marker> {
        // In target/, which no root filesystem has; named per run so two runs do not collide.
        let dir = util::target_dir();
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("desde-cero-matrix-marker-{}", std::process::id()));
        fs::write(&path, "the host's root filesystem\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Marker(path))
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// What the host lays out for the attacks: what a careless runtime would leak to its
/// container (see `crates/probe/src/attack/mod.rs`). Taken back when dropped.
struct Bait {
    /// The host's marker file (only the host has it).
    marker: PathBuf,
    /// The marker's folder, open: handed to the stage as descriptor [`Bait::FD`].
    dir: OwnedFd,
    /// The key added to root's user keyring, if the kernel took it.
    key: Option<libc::c_long>,
    /// A block device of the host that host root can open, `MAJ:MIN`.
    dev: Option<String>,
    /// The sizes of the host's filesystems a container's writes could land on.
    disks: Vec<u64>,
}

impl Bait {
    /// The inherited descriptor, as in `exec 7</tmp`.
    const FD: libc::c_int = 7;
    /// The variable set in the stage's environment (the probe's `attack::environ::VARIABLE`).
    const VARIABLE: &'static str = "DESDE_CERO_SECRET";
    /// The key's description (the probe's `attack::keyring::DESCRIPTION`).
    const KEY: &'static str = "desde-cero-secret";

    fn lay(marker: &Path, rootfs_dir: &Path) -> Result<Bait> {
        let folder = marker.parent().unwrap_or(Path::new("/"));
        let dir = fs::File::open(folder)
            .with_context(|| format!("cannot open {}", folder.display()))?
            .into();
        let disks = [Path::new("/"), &std::env::temp_dir(), rootfs_dir, folder]
            .iter()
            .filter_map(|p| disk_size(p))
            .collect();
        Ok(Bait {
            marker: marker.to_path_buf(),
            dir,
            key: add_key(Bait::KEY, "the host's secret"),
            dev: openable_block_device(),
            disks,
        })
    }

    /// `<probe> attack all` with the bait's arguments, environment and descriptor.
    fn command(&self, stage: &Path, probe: &Path) -> Command {
        let mut cmd = Command::new(stage);
        cmd.arg("run")
            .arg(probe)
            .args(["attack", "all", "--host-marker"])
            .arg(&self.marker);
        if let Some(dev) = &self.dev {
            cmd.args(["--host-dev", dev]);
        }
        if !self.disks.is_empty() {
            let sizes: Vec<String> = self.disks.iter().map(u64::to_string).collect();
            cmd.args(["--host-disk", &sizes.join(",")]);
        }
        cmd.env(Bait::VARIABLE, "the host's secret");
        let fd = self.dir.as_raw_fd();
        // SAFETY: dup2 is async-signal-safe, the only call made between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, Bait::FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }
}

impl Drop for Bait {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            // KEYCTL_INVALIDATE: the key is gone from every keyring at once.
            // SAFETY: keyctl with integer arguments only.
            unsafe { libc::syscall(libc::SYS_keyctl, 21 as libc::c_long, key) };
        }
    }
}

/// add_key(2) of a `user` key into root's user keyring; `None` when the kernel refuses.
fn add_key(description: &str, payload: &str) -> Option<libc::c_long> {
    const KEY_SPEC_USER_KEYRING: libc::c_long = -4;
    let kind = std::ffi::CString::new("user").ok()?;
    let description = std::ffi::CString::new(description).ok()?;
    // SAFETY: NUL-terminated strings and a payload buffer of the given length.
    let key = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            description.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            KEY_SPEC_USER_KEYRING,
        )
    };
    (key >= 0).then_some(key as libc::c_long)
}

/// The host's disk (the device of `/`) when host root can open it; else `loop0`'s; else none.
/// Some virtual machines refuse even host root its disk: a device the host cannot open could
/// not show the attack working anywhere.
fn openable_block_device() -> Option<String> {
    let root = fs::metadata("/").ok()?.dev();
    [(libc::major(root), libc::minor(root)), (7, 0)]
        .into_iter()
        .find(|(major, minor)| {
            let uevent = fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"));
            let name = uevent.ok().and_then(|u| {
                u.lines()
                    .find_map(|l| l.strip_prefix("DEVNAME=").map(String::from))
            });
            name.is_some_and(|name| {
                fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(Path::new("/dev").join(name))
                    .is_ok()
            })
        })
        .map(|(major, minor)| format!("{major}:{minor}"))
}

/// A filesystem's size in bytes, as the probe computes it from statfs(2).
fn disk_size(path: &Path) -> Option<u64> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statfs is plain data; all-zero is a valid value for it.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is NUL-terminated, buf is writable.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut buf) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between libcs
    let (blocks, frsize, bsize) = (buf.f_blocks as u64, buf.f_frsize as u64, buf.f_bsize as u64);
    Some(blocks * if frsize == 0 { bsize } else { frsize })
}

/// Runs every attack inside a stage: whether each got through, and the probe's line on it.
fn attacks(
    stage: &Path,
    probe: &Path,
    bait: &Bait,
    rootfs_dir: &Path,
) -> Result<BTreeMap<Attack, (bool, String)>> {
    let mut cmd = bait.command(stage, probe);
    cmd.env(rootfs::ENV_VAR, rootfs_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let pid = child.id();
    let (done, watchdog) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if watchdog.recv_timeout(TIME_LIMIT).is_err() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
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

/// What was seen of one probe: its report, and the host's view of the same process.
struct View {
    report: Value,
    /// `/proc/<pid>/ns/<kind>` inode numbers, read from the host.
    ns: BTreeMap<String, u64>,
    /// Per controller: the process's group folder in the host's cgroup filesystem (from
    /// `/proc/<pid>/cgroup`) and whether that folder sets a limit of its own, read while the
    /// process lives (the stage removes its group when it ends).
    groups: BTreeMap<&'static str, (PathBuf, bool)>,
    /// `/proc/<pid>/root`'s device and inode: the process's root directory.
    root: (u64, u64),
    /// `/proc/<pid>/status`.
    status: String,
    /// `/proc/<pid>/uid_map`, read from the host.
    uid_map: String,
}

/// Runs `<stage> run <probe> --host-marker <marker> --compact` (the probe alone without a stage) with its stdout in a pipe that is full
/// before it starts, so the probe blocks on writing its report; reads the probe's process from
/// the host meanwhile, then drains the pipe and parses the report.
fn observe(stage: Option<&Path>, probe: &Path, marker: &Path, rootfs_dir: &Path) -> Result<View> {
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
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
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
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe2");
    }
    // SAFETY: pipe2 just returned these two descriptors, owned by nobody else.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // The report will start after this filler: whitespace, which the JSON parser skips.
    let filler = [b' '; 4096];
    for chunk in [&filler[..], &filler[..1]] {
        loop {
            // SAFETY: writing from a live buffer of the given length.
            let n = unsafe { libc::write(fds[1], chunk.as_ptr().cast(), chunk.len()) };
            if n < 0 {
                break;
            }
        }
    }
    // O_NONBLOCK belongs to the open pipe, which the probe shares: take it off again, so the
    // probe's write blocks instead of failing.
    for fd in fds {
        // SAFETY: F_SETFL on descriptors we own.
        unsafe { libc::fcntl(fd, libc::F_SETFL, 0) };
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

/// Which properties a probe's view shows, compared with the host's view.
fn properties(inside: &View, host: &View) -> BTreeSet<Property> {
    let r = &inside.report;
    let h = &host.report;
    let mut has = BTreeSet::new();
    let ns = |v: &View, kind: &str| {
        at(&v.report, &["ns", kind])
            .and_then(Value::as_u64)
            .or_else(|| v.ns.get(kind).copied())
    };
    let own_ns = |kind: &str| {
        let (a, b) = (ns(inside, kind), ns(host, kind));
        a.is_some() && b.is_some() && a != b
    };
    for (property, kind) in [
        (Property::UtsNs, "uts"),
        (Property::PidNs, "pid"),
        (Property::MountNs, "mnt"),
        (Property::IpcNs, "ipc"),
        (Property::NetNs, "net"),
        (Property::UserNs, "user"),
        (Property::CgroupNs, "cgroup"),
    ] {
        if own_ns(kind) {
            has.insert(property);
        }
    }
    if at(r, &["hostname"]).and_then(Value::as_str) == Some(HOSTNAME) {
        has.insert(Property::Hostname);
    }
    if at(r, &["pid"]).and_then(Value::as_u64) == Some(1)
        || at(r, &["ppid"]).and_then(Value::as_u64) == Some(1)
    {
        has.insert(Property::Pid1);
    }
    if inside.root != host.root {
        has.insert(Property::OwnRoot);
    }
    // The host's /proc lists every process of the machine, kernel threads included; the
    // container's lists its init and the probe.
    if let (Some(n), Some(all)) = (
        at(r, &["proc_pids"]).and_then(Value::as_u64),
        at(h, &["proc_pids"]).and_then(Value::as_u64),
    ) {
        if n >= 1 && n * 2 < all {
            has.insert(Property::ProcIsolated);
        }
    }
    for (property, key, controller) in [
        (Property::PidsLimit, "pids_max", "pids"),
        (Property::MemoryLimit, "memory_max", "memory"),
        (Property::CpuLimit, "cpu_max", "cpu"),
    ] {
        if limited(inside, host, key, controller) {
            has.insert(property);
        }
    }
    let uid_map = |v: &View| {
        at(&v.report, &["uid_map"])
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| v.uid_map.clone())
    };
    if host_uid_of_root(&uid_map(inside)).is_some_and(|uid| uid != 0) {
        has.insert(Property::RootNotHostRoot);
    }
    let mask = |v: &View, key: &str, status_key: &str| {
        at(&v.report, &["caps", key])
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| status_field(&v.status, status_key))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
    };
    let reduced = |key: &str, status_key: &str| match (
        mask(inside, key, status_key),
        mask(host, key, status_key),
    ) {
        (Some(a), Some(b)) => a & !b == 0 && a != b,
        _ => false,
    };
    if reduced("effective", "CapEff") && reduced("bounding", "CapBnd") {
        has.insert(Property::CapsReduced);
    }
    let nnp = |v: &View| {
        at(&v.report, &["no_new_privs"])
            .and_then(Value::as_bool)
            .or_else(|| status_field(&v.status, "NoNewPrivs").map(|s| s == "1"))
    };
    if nnp(inside) == Some(true) && nnp(host) != Some(true) {
        has.insert(Property::NoNewPrivs);
    }
    // Unreachable only when the escape was really tried and failed: when it could not even be
    // tried (the probe says why under `errors`), nothing is proven.
    if at(r, &["host_root_reachable"]).and_then(Value::as_bool) == Some(false)
        && at(r, &["errors", "host_root_reachable"]).is_none()
    {
        has.insert(Property::HostRootUnreachable);
    }
    has
}

/// Whether a limit of `controller` applies inside and not on the host. The probe's own report
/// decides when it could read the limits; when it could not (no `/sys/fs/cgroup` inside), the
/// process's group as the host sees it: another group than the host's, with its own limit.
fn limited(inside: &View, host: &View, key: &str, controller: &str) -> bool {
    let reachable = |v: &View| {
        !at(&v.report, &["limits_source"])
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with("unreachable") || s.starts_with("unknown"))
    };
    let value = |v: &View| {
        at(&v.report, &["limits", key])
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if reachable(inside) {
        let own = value(inside);
        return own.is_some() && own != value(host);
    }
    match (inside.groups.get(controller), host.groups.get(controller)) {
        (Some((dir, limited)), Some((host_dir, _))) => dir != host_dir && *limited,
        _ => false,
    }
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

/// The host uid that uid 0 inside maps to, from a uid_map's text.
fn host_uid_of_root(map: &str) -> Option<u64> {
    map.lines().find_map(|line| {
        let f: Vec<u64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        match f[..] {
            [inside, outside, count] if inside == 0 && count > 0 => Some(outside),
            _ => None,
        }
    })
}

fn status_field(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// What happened to one stage.
enum Outcome {
    /// Its crate does not exist yet, or does not build.
    Missing(String),
    /// It ran, but the probe's report could not be had.
    Failed(String),
    /// What was observed.
    Seen(Seen),
}

/// What the probe observed inside one stage.
struct Seen {
    /// The properties it has.
    has: BTreeSet<Property>,
    /// Every attack: whether it got through, and the probe's one line on it.
    attacks: BTreeMap<Attack, (bool, String)>,
}

impl Seen {
    fn stopped(&self) -> BTreeSet<Attack> {
        self.attacks
            .iter()
            .filter(|(_, (through, _))| !through)
            .map(|(a, _)| *a)
            .collect()
    }
}

struct Row {
    stage: &'static Stage,
    outcome: Outcome,
}

/// A row of the table: a property, or an attack.
#[derive(Clone, Copy)]
enum Cell {
    Property(Property),
    Attack(Attack),
}

impl Cell {
    fn label(self) -> &'static str {
        match self {
            Cell::Property(p) => p.label(),
            Cell::Attack(a) => a.label(),
        }
    }

    fn description(self) -> &'static str {
        match self {
            Cell::Property(p) => p.description(),
            Cell::Attack(a) => a.description(),
        }
    }
}

struct Mismatch {
    stage: &'static str,
    cell: Cell,
    expected: bool,
    /// The probe's line on an attack.
    detail: Option<String>,
}

impl Row {
    fn expected(&self) -> BTreeSet<Property> {
        catalog::expected(self.stage).into_iter().collect()
    }

    fn expected_stops(&self) -> BTreeSet<Attack> {
        self.stage.stops.iter().copied().collect()
    }

    fn mismatches(&self) -> Vec<Mismatch> {
        let Outcome::Seen(seen) = &self.outcome else {
            return Vec::new();
        };
        let expected = self.expected();
        let properties = Property::ALL
            .iter()
            .filter(|p| expected.contains(p) != seen.has.contains(p))
            .map(|&property| Mismatch {
                stage: self.stage.name,
                cell: Cell::Property(property),
                expected: expected.contains(&property),
                detail: None,
            });
        let (stops, stopped) = (self.expected_stops(), seen.stopped());
        let attacks = Attack::ALL
            .iter()
            .filter(|a| stops.contains(a) != stopped.contains(a))
            .map(|&attack| Mismatch {
                stage: self.stage.name,
                cell: Cell::Attack(attack),
                expected: stops.contains(&attack),
                detail: seen.attacks.get(&attack).map(|(_, d)| d.clone()),
            });
        properties.chain(attacks).collect()
    }

    /// Whether the stage has the property or stops the attack: observed (`None` without a
    /// report), and what the catalog says.
    fn cell(&self, cell: Cell) -> (Option<bool>, bool) {
        let seen = match &self.outcome {
            Outcome::Seen(seen) => Some(seen),
            _ => None,
        };
        match cell {
            Cell::Property(p) => (
                seen.map(|s| s.has.contains(&p)),
                self.expected().contains(&p),
            ),
            Cell::Attack(a) => (
                seen.map(|s| s.stopped().contains(&a)),
                self.stage.stops.contains(&a),
            ),
        }
    }
}

fn mark(has: bool) -> &'static str {
    if has {
        "✓"
    } else {
        "·"
    }
}

/// The table, turned so it fits 80 columns: a row per property, then a row per attack, a
/// column per stage (by number, named in the key below), then what the row means (continued
/// on the next line, under itself, when it does not fit).
fn print_table(rows: &[Row], mismatches: &[Mismatch]) {
    let label_width = Property::ALL
        .iter()
        .map(|p| p.label().len())
        .chain(Attack::ALL.iter().map(|a| a.label().len()))
        .max()
        .unwrap_or(8);
    let mut header = format!("{:<label_width$}", "");
    for row in rows {
        header.push_str(&format!(" {}", row.stage.number));
    }
    println!("{header}  (stages, by number)");
    let line = |cell: Cell| {
        let mut line = format!("{:<label_width$}", cell.label());
        for row in rows {
            // Each cell is as wide as its column's number plus the space before it.
            let width = row.stage.number.to_string().len() + 1;
            let text = match row.cell(cell) {
                (Some(has), expected) => {
                    format!("{}{}", if has != expected { "!" } else { "" }, mark(has))
                }
                (None, _) => "?".to_string(),
            };
            line.push_str(&format!("{text:>width$}"));
        }
        let indent = line.chars().count() + 2;
        print!(
            "{}",
            cli::wrap(
                &format!("{line}  {}", cell.description()),
                cli::WIDTH,
                indent
            )
        );
    };
    for p in Property::ALL {
        line(Cell::Property(*p));
    }
    println!("attacks: ✓ the stage stops it   · it gets through");
    for a in Attack::ALL {
        line(Cell::Attack(*a));
    }
    // The key, "stages: 1 base1, 2 base2, ...", never breaking a number from its name.
    let mut key = String::from("stages:");
    let mut used = key.len();
    for (i, row) in rows.iter().enumerate() {
        let comma = if i + 1 < rows.len() { "," } else { "" };
        let entry = format!("{} {}{comma}", row.stage.number, row.stage.name);
        if used + 1 + entry.len() > cli::WIDTH {
            key.push_str("\n       ");
            used = 7;
        }
        key.push(' ');
        key.push_str(&entry);
        used += 1 + entry.len();
    }
    println!("\n{key}");
    println!("✓ has it   · does not   ! differs from what the catalog says   ? no report");
    for stage in catalog::STAGES.iter().filter(|s| !s.drops.is_empty()) {
        let dropped: Vec<&str> = stage.drops.iter().map(|p| p.label()).collect();
        let note = format!(
            "{} leaves out {} of the stages before it: {}",
            stage.name,
            dropped.join(", "),
            stage.drops_why
        );
        print!("\n{}", cli::wrap(&note, cli::WIDTH, 0));
    }
    if !mismatches.is_empty() {
        println!();
        for m in mismatches {
            let detail = m
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            let line = format!(
                "mismatch: {} × {}: the catalog says {} ({}), the probe saw {}{detail}",
                m.stage,
                m.cell.label(),
                mark(m.expected),
                m.cell.description(),
                mark(!m.expected)
            );
            print!("{}", cli::wrap(&line, cli::WIDTH, 4));
        }
    }
    let incomplete: Vec<&Row> = rows
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Seen(_)))
        .collect();
    if !incomplete.is_empty() {
        println!();
    }
    for row in incomplete {
        let why = match &row.outcome {
            Outcome::Missing(why) => why.clone(),
            Outcome::Failed(why) => format!("failed: {why}"),
            Outcome::Seen(_) => continue,
        };
        let line = format!(
            "no report from {} {}: {why}",
            row.stage.number, row.stage.name
        );
        print!("{}", cli::wrap(&line, cli::WIDTH, 4));
    }
}

fn to_json(rows: &[Row], mismatches: &[Mismatch], all_seen: bool) -> String {
    let labels = |set: &BTreeSet<Property>| -> Vec<&str> {
        Property::ALL
            .iter()
            .filter(|p| set.contains(p))
            .map(|p| p.label())
            .collect()
    };
    let attack_labels = |set: &BTreeSet<Attack>| -> Vec<&str> {
        Attack::ALL
            .iter()
            .filter(|a| set.contains(a))
            .map(|a| a.label())
            .collect()
    };
    let columns: Vec<Value> = Property::ALL
        .iter()
        .map(|p| json!({"label": p.label(), "description": p.description()}))
        .collect();
    let attack_columns: Vec<Value> = Attack::ALL
        .iter()
        .map(|a| json!({"label": a.label(), "description": a.description()}))
        .collect();
    let stages: Vec<Value> = rows
        .iter()
        .map(|row| {
            let (status, error, observed, stopped, attacks) = match &row.outcome {
                Outcome::Missing(why) => (
                    "not built yet",
                    json!(why),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                ),
                Outcome::Failed(why) => {
                    ("failed", json!(why), Value::Null, Value::Null, Value::Null)
                }
                Outcome::Seen(seen) => {
                    let attacks: serde_json::Map<String, Value> = seen
                        .attacks
                        .iter()
                        .map(|(a, (through, detail))| {
                            let v = json!({"succeeded": through, "detail": detail});
                            (a.label().to_string(), v)
                        })
                        .collect();
                    (
                        "ok",
                        Value::Null,
                        json!(labels(&seen.has)),
                        json!(attack_labels(&seen.stopped())),
                        Value::Object(attacks),
                    )
                }
            };
            let wrong = |attack: bool| -> Vec<&str> {
                row.mismatches()
                    .iter()
                    .filter(|m| matches!(m.cell, Cell::Attack(_)) == attack)
                    .map(|m| m.cell.label())
                    .collect()
            };
            json!({
                "number": row.stage.number,
                "name": row.stage.name,
                "status": status,
                "error": error,
                "expected": labels(&row.expected()),
                "observed": observed,
                "mismatches": wrong(false),
                "stops_expected": attack_labels(&row.expected_stops()),
                "stops_observed": stopped,
                "attack_mismatches": wrong(true),
                "attacks": attacks,
                "drops": labels(&row.stage.drops.iter().copied().collect()),
                "drops_why": row.stage.drops_why,
            })
        })
        .collect();
    let cells: Vec<Value> = mismatches
        .iter()
        .map(|m| {
            let kind = match m.cell {
                Cell::Property(_) => "property",
                Cell::Attack(_) => "attack",
            };
            json!({
                "stage": m.stage,
                kind: m.cell.label(),
                "expected": m.expected,
                "observed": !m.expected,
                "detail": m.detail,
            })
        })
        .collect();
    json!({
        "ok": mismatches.is_empty() && all_seen,
        "columns": columns,
        "attacks": attack_columns,
        "stages": stages,
        "mismatches": cells,
    })
    .to_string()
}

/// The value at a path of object keys.
fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_probe_prints() {
        let v: Value = serde_json::from_str(
            r#"  {"a":{"b":[1,-2.5e3,"x\"\u00e9"],"n":null},"t":true,"big":18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(at(&v, &["t"]).and_then(Value::as_bool), Some(true));
        assert_eq!(at(&v, &["big"]).and_then(Value::as_u64), Some(u64::MAX));
        assert_eq!(at(&v, &["a", "n"]), Some(&Value::Null));
        let Some(Value::Array(items)) = at(&v, &["a", "b"]) else {
            panic!("no array");
        };
        assert_eq!(items[2].as_str(), Some("x\"é"));
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"abc", "[1] 2", "nul"] {
            assert!(
                serde_json::from_str::<Value>(bad).is_err(),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn root_mapping() {
        assert_eq!(
            host_uid_of_root("         0          0 4294967295\n"),
            Some(0)
        );
        assert_eq!(host_uid_of_root("0 100000 65536\n"), Some(100000));
        assert_eq!(host_uid_of_root(""), None);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        let err = main(vec!["--bogus".into()]).unwrap_err();
        assert!(err.downcast_ref::<util::Usage>().is_some());
    }
}

//! `full run [options] <cmd>`: the options, each with a default, every value
//! checked before anything is created (one line, exit 125).

use std::env;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::{sysconf, SysconfVar};
use skeleton::{Failure, Result, EXIT_RUNTIME};

use crate::cgroups::Limits;

/// What `full run` can be told.
pub struct Options {
    /// `--hostname NAME`: the container's hostname.
    pub hostname: String,
    /// `--rootfs DIR`: the root filesystem (the overlay's lower layer).
    pub rootfs: PathBuf,
    /// `--memory SIZE`, `--pids N`, `--cpus N`: the cgroup's limits.
    pub limits: Limits,
    /// The controllers of the limits given (`--memory`: memory): without
    /// root, one that cannot be applied is refused, not dropped.
    pub asked: Vec<&'static str>,
    /// `--net none|veth`: the loopback alone, or also a veth link to the host.
    pub veth: bool,
    /// `--rootless`: a user namespace; root inside is an ordinary user outside.
    pub rootless: bool,
    /// `--no-overlay` turns it off: writes go into the root filesystem itself.
    pub overlay: bool,
    /// `--disk SIZE`: the overlay's room for changes, in bytes.
    pub disk: u64,
}

/// The container's hostname, unless `--hostname` says otherwise.
const HOSTNAME: &str = "container";
/// `--cpus 1` is this much CPU time per period of the cgroup (100 ms).
const CPU_US: f64 = 100_000.0;
/// The options that take a value.
const WITH_VALUE: [&str; 7] = [
    "--hostname",
    "--rootfs",
    "--memory",
    "--pids",
    "--cpus",
    "--net",
    "--disk",
];
/// The longest hostname the kernel accepts (HOST_NAME_MAX).
const HOSTNAME_MAX: usize = 64;
/// The folders of the root filesystem the child mounts on.
const MOUNT_POINTS: [&str; 4] = ["dev", "proc", "sys", "tmp"];

/// The options' part of `full --help`.
pub fn help() -> String {
    let rootfs = skeleton::ROOTFS_ENV;
    let Limits {
        pids,
        memory,
        cpu_quota_us,
    } = Limits::DEFAULT;
    let (memory, cpus) = (memory >> 20, cpu_quota_us as f64 / CPU_US);
    let disk = memory / 2;
    format!(
        "options, before the command (`--` ends them), each with its default:
  --hostname NAME   the container's hostname, 1 to {HOSTNAME_MAX} bytes:
                    letters, digits, `-` and `.` (RFC 1123)
                    default: {HOSTNAME}
  --rootfs DIR      the root filesystem, the overlay's lower layer; never
                    the host's own /
                    default: ${rootfs}, else this repository's
                    rootfs/build
  --memory SIZE     memory limit: bytes, or with K, M or G (powers of 1024),
                    from 1M to the machine's memory
                    default: {memory}M
  --pids N          at most N processes at once, 1 to the kernel's pid_max
                    default: {pids}
  --cpus N          CPU time, in CPUs (0.5: half of one), 0.01 to the
                    machine's CPUs
                    default: {cpus}
  --net none|veth   the loopback alone, or also a veth link to the host
                    default: none
  --rootless        a user namespace: root inside is an ordinary user
                    outside; needs no root on the host
                    default: off: root inside is root outside, with
                    docker's capabilities only
  --disk SIZE       room for the container's changes: a tmpfs in its
                    memory, so at most --memory, and counted in it
                    default: half of --memory ({disk}M)
  --no-overlay      write into the root filesystem itself
                    default: an overlay: changes go to that tmpfs,
                    gone on exit"
    )
}

/// Reads `[options] <cmd> [args...]`: the options, and the command.
pub fn parse(args: &[OsString]) -> Result<(Options, &[OsString])> {
    let mut options = Options {
        hostname: HOSTNAME.to_string(),
        rootfs: PathBuf::new(),
        limits: Limits::DEFAULT,
        asked: Vec::new(),
        veth: false,
        rootless: false,
        overlay: true,
        disk: 0,
    };
    let mut disk = None;
    let mut rest = args;
    // An option starts with `--`; the first argument that does not is the
    // command. Quiet mode's -q may come among them.
    while let Some(arg) = rest.first().and_then(|a| a.to_str()) {
        if arg == "-q" || arg == "--quiet" {
            skeleton::set_quiet();
            rest = &rest[1..];
            continue;
        }
        if !arg.starts_with("--") {
            break;
        }
        rest = &rest[1..];
        // `--memory 256M` and `--memory=256M` both work.
        match arg.split_once('=') {
            _ if arg == "--" => break,
            _ if arg == "--rootless" => options.rootless = true,
            _ if arg == "--no-overlay" => options.overlay = false,
            Some(("--disk", value)) => disk = Some(bytes("--disk", value)?),
            Some((name, value)) => set(&mut options, name, value)?,
            None if !WITH_VALUE.contains(&arg) => {
                return Err(wrong(arg, "is not an option"))
            }
            None => {
                let value = rest.first().and_then(|v| v.to_str());
                let value = value.ok_or_else(|| wrong(arg, "needs a value"))?;
                rest = &rest[1..];
                match arg {
                    "--disk" => disk = Some(bytes(arg, value)?),
                    _ => set(&mut options, arg, value)?,
                }
            }
        }
    }
    if rest.is_empty() {
        return Err(wrong("run", "a command is missing after the options"));
    }
    // Without the overlay there is no tmpfs for --disk to size: writes land
    // on the host's disk, unbounded. An option that cannot apply is refused.
    if disk.is_some() && !options.overlay {
        return Err(wrong(
            "--disk",
            "sizes the overlay: not with --no-overlay",
        ));
    }
    // The overlay's tmpfs is charged to the memory cgroup: more than the
    // limit could never be written (the OOM killer would come first).
    let memory = options.limits.memory;
    options.disk = disk.unwrap_or(memory / 2);
    if options.disk > memory {
        let why = format!("at most --memory ({}M): it is memory", memory >> 20);
        return Err(wrong(&format!("--disk {}M", options.disk >> 20), &why));
    }
    // The root filesystem: --rootfs is what sets the variable
    // skeleton::rootfs() reads, which resolves it. The parent checks what it
    // resolved (check_rootfs) and hands the child that path (for_child).
    options.rootfs = skeleton::rootfs()?;
    Ok((options, rest))
}

/// Checks one option's value and stores it.
fn set(options: &mut Options, name: &str, value: &str) -> Result<()> {
    let invalid = |what: &str| wrong(&format!("{name} {value:?}"), what);
    match name {
        "--hostname" if !is_hostname(value) => {
            return Err(invalid("1 to 64 letters, digits, `-`, `.` (RFC 1123)"))
        }
        "--hostname" => options.hostname = value.to_string(),
        "--rootfs" => env::set_var(skeleton::ROOTFS_ENV, value),
        // A limit above what the machine has limits nothing: refused, not
        // silently turned into "unlimited" (nor left for the kernel to round
        // to "max", or to refuse with ERANGE).
        "--memory" => {
            options.asked.push("memory");
            let ram =
                machine("/proc/meminfo", "MemTotal:").map(|kib| kib << 10);
            let ram = ram.unwrap_or(u64::MAX);
            options.limits.memory = size(value)
                .filter(|&bytes| bytes >= 1 << 20 && bytes <= ram)
                .ok_or_else(|| {
                    invalid(&format!("a size from 1M to {}M", ram >> 20))
                })?
        }
        "--pids" => {
            options.asked.push("pids");
            let max =
                machine("/proc/sys/kernel/pid_max", "").unwrap_or(1 << 22);
            options.limits.pids = value
                .parse()
                .ok()
                .filter(|&n| n > 0 && n <= max)
                .ok_or_else(|| {
                    invalid(&format!("a whole number, 1 to {max}"))
                })?
        }
        "--cpus" => {
            options.asked.push("cpu");
            // The CPUs online (std's available_parallelism would count the
            // quota of the cgroup we are in, and the child is in ours).
            let cpus = sysconf(SysconfVar::_NPROCESSORS_ONLN).ok().flatten();
            let cpus = cpus.unwrap_or(1) as f64;
            options.limits.cpu_quota_us = value
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && (0.01..=cpus).contains(n))
                .map(|n| (n * CPU_US).round() as u64)
                .ok_or_else(|| {
                    invalid(&format!("a number of CPUs from 0.01 to {cpus}"))
                })?
        }
        "--net" if value == "none" => options.veth = false,
        "--net" if value == "veth" => options.veth = true,
        "--net" => return Err(invalid("none or veth")),
        _ => return Err(wrong(name, "is not an option")),
    }
    Ok(())
}

/// `--disk`'s size: at least 1M (and at most --memory, checked once both
/// are known).
fn bytes(name: &str, value: &str) -> Result<u64> {
    size(value)
        .filter(|&bytes| bytes >= 1 << 20)
        .ok_or_else(|| {
            wrong(
                &format!("{name} {value:?}"),
                "a size of at least 1M, like 64M",
            )
        })
}

/// A hostname as RFC 1123 has it: labels of letters, digits and `-` (not
/// first or last), joined by dots; 1 to 64 bytes in all, the kernel's most.
/// A newline, a space or a `/` would reach prompts, logs and files inside.
fn is_hostname(name: &str) -> bool {
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    name.len() <= HOSTNAME_MAX && name.split('.').all(label)
}

/// A number the machine reports: the first word of `file` after `key`.
fn machine(file: &str, key: &str) -> Option<u64> {
    let text = fs::read_to_string(file).ok()?;
    let line = text.lines().find(|line| line.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Refuses a root filesystem that would hand the host to the container: the
/// host's own `/` (by any path: same device and inode), or a folder with the
/// host's `/` mounted somewhere under it. And one without the folders the
/// child mounts on, named, rather than a mount(2) error later.
pub fn check_rootfs(options: &Options) -> Result<()> {
    let rootfs = &options.rootfs;
    let shown = format!("--rootfs {}", rootfs.display());
    let id = |path: &Path| fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
    let host_root = id(Path::new("/"));
    let hosts = |path: &Path| host_root.is_some() && id(path) == host_root;
    if hosts(rootfs) {
        return Err(wrong(&shown, "that is the host's own root"));
    }
    // /proc/self/mountinfo: `id parent major:minor root mountpoint ...`;
    // the host's root mounted again shows as the same device and root.
    let table = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let field =
        |line: &str, n: usize| line.split(' ').nth(n).map(str::to_string);
    let root_line = table.lines().find(|l| field(l, 4).as_deref() == Some("/"));
    let root_fs = root_line.map(|l| (field(l, 2), field(l, 3)));
    for line in table.lines() {
        let at = field(line, 4).unwrap_or_default();
        let under = Path::new(&at).starts_with(rootfs) && at != "/";
        if under && Some((field(line, 2), field(line, 3))) == root_fs {
            return Err(wrong(&shown, &format!("the host's root is at {at}")));
        }
    }
    for dir in MOUNT_POINTS {
        // A real folder: mount(2) would follow a symlink (`dev -> /tmp`).
        let meta = fs::symlink_metadata(rootfs.join(dir));
        if !meta.is_ok_and(|m| m.is_dir()) {
            let why = format!("no real folder /{dir} (a symlink?) to mount on");
            return Err(wrong(&shown, &why));
        }
    }
    // Without the overlay, what the container makes lands in the folder: a
    // setuid-root file too. Run by its host path, it would make any local
    // user root, unless the way to it is closed (as rootfs/, mode 0710).
    if !options.overlay && reachable(rootfs) {
        let why = "other users can reach it, and with --no-overlay a setuid \
                   file made in it would be theirs to run (close a folder on \
                   the way, as rootfs/ is: 0710)";
        return Err(wrong(&shown, why));
    }
    Ok(())
}

/// Whether other local users may reach `dir`: every folder from `/` down
/// lets them search it (others, or a group not root's nor container root's).
fn reachable(dir: &Path) -> bool {
    let others = |m: &fs::Metadata| {
        let group = m.gid() != 0 && m.gid() != crate::userns::HOST_ID_OF_ROOT;
        m.mode() & 0o001 != 0 || (group && m.mode() & 0o010 != 0)
    };
    dir.ancestors()
        .all(|d| fs::metadata(d).is_ok_and(|m| others(&m)))
}

/// The child's arguments: `args`, the root filesystem given as the path the
/// parent resolved and checked, last (the last --rootfs counts). The one
/// given would be resolved again: a symlink may point elsewhere by then.
pub fn for_child(
    args: &[OsString],
    command: &[OsString],
    rootfs: &Path,
) -> Vec<OsString> {
    let mut options = args[..args.len() - command.len()].to_vec();
    // Before the `--` that ends the options, if there is one.
    let end =
        options.len() - usize::from(options.last().is_some_and(|a| a == "--"));
    let mut given = OsString::from("--rootfs=");
    given.push(rootfs);
    options.insert(end, given);
    options.extend_from_slice(command);
    options
}

/// `512`, `64K`, `256M`, `2G` (powers of 1024, either case) in bytes.
fn size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 10),
        (i, 'm' | 'M') => (&text[..i], 20),
        (i, 'g' | 'G') => (&text[..i], 30),
        _ => (text, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// A wrong call: what was wrong, and where to read how it is called.
pub fn wrong(what: &str, why: &str) -> Failure {
    Failure {
        code: EXIT_RUNTIME,
        message: format!(
            "{what}: {why} — see `{} run --help`",
            skeleton::name()
        ),
    }
}

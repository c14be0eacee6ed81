//! `full run [options] <cmd>`: the options, each with a default, every value
//! checked before anything is created (one line, exit 125).

use std::env;
use std::ffi::OsString;
use std::path::PathBuf;

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
    /// `--net none|veth`: the loopback alone, or also a veth link to the host.
    pub veth: bool,
    /// `--rootless`: a user namespace; root inside is an ordinary user outside.
    pub rootless: bool,
    /// `--no-overlay` turns it off: writes go into the root filesystem itself.
    pub overlay: bool,
}

/// The container's hostname, unless `--hostname` says otherwise.
const HOSTNAME: &str = "container";
/// `--cpus 1` is this much CPU time per period of the cgroup (100 ms).
const CPU_US: f64 = 100_000.0;
/// The options that take a value.
const WITH_VALUE: [&str; 6] = [
    "--hostname",
    "--rootfs",
    "--memory",
    "--pids",
    "--cpus",
    "--net",
];
/// The longest hostname the kernel accepts (HOST_NAME_MAX).
const HOSTNAME_MAX: usize = 64;

/// The options' part of `full --help`.
pub fn help() -> String {
    let rootfs = skeleton::ROOTFS_ENV;
    let Limits {
        pids,
        memory,
        cpu_quota_us,
    } = Limits::DEFAULT;
    let (memory, cpus) = (memory >> 20, cpu_quota_us as f64 / CPU_US);
    format!(
        "options, before the command (`--` ends them), each with its default:
  --hostname NAME   the container's hostname, 1 to {HOSTNAME_MAX} bytes
                    default: {HOSTNAME}
  --rootfs DIR      the root filesystem, the overlay's lower layer
                    default: ${rootfs}, else this repository's
                    rootfs/build
  --memory SIZE     memory limit: bytes, or with K, M or G (powers of 1024)
                    default: {memory}M
  --pids N          at most N processes at once
                    default: {pids}
  --cpus N          CPU time, in CPUs (0.5: half of one)
                    default: {cpus}
  --net none|veth   the loopback alone, or also a veth link to the host
                    default: none
  --rootless        a user namespace: root inside is an ordinary user
                    outside; needs no root on the host
                    default: off: root inside is root outside, with
                    docker's capabilities only
  --no-overlay      write into the root filesystem itself
                    default: an overlay: changes go to a folder in /tmp,
                    removed on exit"
    )
}

/// Reads `[options] <cmd> [args...]`: the options, and the command.
pub fn parse(args: &[OsString]) -> Result<(Options, &[OsString])> {
    let mut options = Options {
        hostname: HOSTNAME.to_string(),
        rootfs: PathBuf::new(),
        limits: Limits::DEFAULT,
        veth: false,
        rootless: false,
        overlay: true,
    };
    let mut rest = args;
    // An option starts with `--`; the first argument that does not is the
    // command.
    while let Some(arg) = rest.first().and_then(|a| a.to_str()) {
        if !arg.starts_with("--") {
            break;
        }
        rest = &rest[1..];
        // `--memory 256M` and `--memory=256M` both work.
        match arg.split_once('=') {
            _ if arg == "--" => break,
            _ if arg == "--rootless" => options.rootless = true,
            _ if arg == "--no-overlay" => options.overlay = false,
            Some((name, value)) => set(&mut options, name, value)?,
            None if !WITH_VALUE.contains(&arg) => {
                return Err(wrong(arg, "is not an option"))
            }
            None => {
                let value = rest.first().and_then(|v| v.to_str());
                let value = value.ok_or_else(|| wrong(arg, "needs a value"))?;
                rest = &rest[1..];
                set(&mut options, arg, value)?;
            }
        }
    }
    if rest.is_empty() {
        return Err(wrong("run", "a command is missing after the options"));
    }
    // The root filesystem: --rootfs is what sets the variable
    // skeleton::rootfs() reads, here and in the child, which inherits it.
    options.rootfs = skeleton::rootfs()?;
    Ok((options, rest))
}

/// Checks one option's value and stores it.
fn set(options: &mut Options, name: &str, value: &str) -> Result<()> {
    let invalid = |what: &str| wrong(&format!("{name} {value:?}"), what);
    match name {
        "--hostname" if value.is_empty() || value.len() > HOSTNAME_MAX => {
            return Err(invalid("a hostname has 1 to 64 bytes"))
        }
        "--hostname" => options.hostname = value.to_string(),
        "--rootfs" => env::set_var(skeleton::ROOTFS_ENV, value),
        "--memory" => {
            options.limits.memory = size(value)
                .filter(|&bytes| bytes >= 1 << 20)
                .ok_or_else(|| invalid("a size of at least 1M, like 512M"))?
        }
        "--pids" => {
            options.limits.pids = value
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| invalid("a whole number above 0"))?
        }
        "--cpus" => {
            options.limits.cpu_quota_us = value
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && (0.01..=1024.0).contains(n))
                .map(|n| (n * CPU_US).round() as u64)
                .ok_or_else(|| invalid("a number of CPUs from 0.01 to 1024"))?
        }
        "--net" if value == "none" => options.veth = false,
        "--net" if value == "veth" => options.veth = true,
        "--net" => return Err(invalid("none or veth")),
        _ => return Err(wrong(name, "is not an option")),
    }
    Ok(())
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

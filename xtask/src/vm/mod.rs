//! The cgroup v2 VM: `cargo xtask test` runs the integration tests a second time inside a small
//! VM whose kernel mounts nothing but cgroup2, because the machines this project is tested on
//! (and many laptops) have a v1 or hybrid cgroup layout. See vm/README.md.
//!
//! What happens, in order (this file is the flow; each step is a module):
//! 1. qemu is found (or installed with apt-get when we are root), and Debian's kernel package is
//!    downloaded once with `apt-get download` and unpacked under `target/vm/kernel/` (cached).
//!    The ELF `vmlinux` is unpacked from the compressed bzImage (as the kernel's own
//!    `scripts/extract-vmlinux` does), so qemu can boot it directly through the PVH entry point
//!    with the tiny qboot firmware: about 2 s to a shell even without KVM. ([`kernel`])
//! 2. The stage binaries, the probe and the integration tests are built statically for musl.
//!    ([`binaries`])
//! 3. An initramfs (newc cpio, written here) gets static busybox, those binaries, a copy of the
//!    root filesystem, the kernel modules the tests need, and a generated `/init` script.
//!    ([`initramfs`], [`cpio`])
//! 4. qemu boots it; `/init` moves itself onto a tmpfs (`pivot_root` does not work on the
//!    initramfs), mounts cgroup2, runs every test file of [`VM_TESTS`] and powers off. Test output
//!    comes back on the second serial port, one status line per test file on the third.
//!    ([`boot`], judged by [`verdict`])

mod binaries;
mod boot;
mod cpio;
mod elf;
mod initramfs;
mod kernel;
mod verdict;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::rootfs;
use crate::util;
use boot::VmEnd;
use initramfs::BUSYBOX;

/// The target the VM's binaries are built for: static, so they need nothing from the initramfs.
pub const TARGET: &str = "x86_64-unknown-linux-musl";

/// The integration test files (`crates/testkit/tests/<name>.rs`) that also run inside the VM,
/// each with extra arguments for its test executable (e.g. `--skip PREFIX` for tests that need
/// what the VM has not: cargo, the xtask, the network). A file that does not exist (yet) is
/// reported and skipped. `DESDE_CERO_VM_TESTS=a,b` (or `all`) overrides the list for one run.
/// Inside the VM a test sees `DESDE_CERO_IN_VM=1` (`testkit::in_vm()`).
pub const VM_TESTS: &[(&str, &[&str])] = &[
    // The VM's self-check: a pure cgroup2 hierarchy with the controllers the tests need.
    ("vm", &[]),
    // The cgroups stage on cgroup v2: pids, memory and cpu limits, clean-up.
    ("cgroups", &[]),
    // The first stages' namespace basics and exit codes; the xtask_* tests need cargo.
    ("stages", &["--skip", "xtask_"]),
    // The hardened stage: its cgroup namespace and limits on a pure cgroup2 host. The race of
    // a switched --rootfs symlink (300 runs against a thread that switches it) runs on the host
    // only: it does not depend on the cgroup layout, and under the VM's emulated CPUs the
    // switching thread starved the kernel (soft lockups) until the run timed out.
    ("full", &["--skip", "a_rootfs_symlink_switched"]),
    // The syscall filter: a user namespace (the first step of lifting the limits from inside)
    // and the other attacks refused, and ordinary work unchanged, on a pure cgroup2 host.
    ("seccomp", &[]),
    // The attack suite on a pure cgroup2 host: the cgroup attack's routes (a mounted cgroup2,
    // one of its own, one from a user namespace) meet v2's rules, and each hardening stage
    // stops there what it stops on a hybrid host.
    ("attacks", &[]),
    // Rootless with limits: an ordinary user's `full --rootless` in a group delegated to it, as
    // systemd delegates one; and without delegation, the line and the refusal.
    ("delegation", &[]),
];

const QEMU: &str = "qemu-system-x86_64";

/// The whole VM run's default time limit (`DESDE_CERO_VM_TIMEOUT=<seconds>` changes it).
const DEFAULT_TIMEOUT: u64 = 600;

/// How a VM run ended.
pub enum Outcome {
    Passed(String),
    Failed(String),
    /// The VM could not run here; the reason says what to install.
    Skipped(String),
}

/// A reason the VM cannot run on this machine (not a test failure).
#[derive(Debug)]
struct Skip(String);

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Skip {}

fn skip(msg: impl Into<String>) -> anyhow::Error {
    Skip(msg.into()).into()
}

/// Builds, boots and runs the VM's tests; `filter` goes to every test executable.
pub fn run(filter: &[String]) -> Outcome {
    let started = Instant::now();
    match run_inner(filter, started) {
        Ok(outcome) => outcome,
        Err(err) => match err.downcast_ref::<Skip>() {
            Some(Skip(reason)) => Outcome::Skipped(reason.clone()),
            None => Outcome::Failed(format!("{err:#}")),
        },
    }
}

fn run_inner(filter: &[String], started: Instant) -> Result<Outcome> {
    let cache = util::target_dir().join("vm");
    fs::create_dir_all(&cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let qemu = ensure_qemu()?;
    ensure_busybox()?;
    ensure_musl_target()?;
    let kernel = {
        // Two test runs at once must not download into the same folder.
        let _lock = lock(&cache.join("kernel.lock"))?;
        kernel::ensure(&cache)?
    };
    let accel = boot::accel();

    let bins = binaries::build_bins()?;
    let all_tests = binaries::build_tests()?;
    let tests = binaries::choose_tests(&all_tests);
    if tests.is_empty() {
        bail!("none of the VM's test files is built");
    }
    let modules = kernel::resolve_modules(&kernel);

    let rootfs_dir = rootfs::ensure()?;
    let run_dir = run_dir(&cache)?;
    let initramfs = run_dir.join("initramfs.cpio");
    let names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
    let script = initramfs::init_script(&tests, filter, &modules);
    let size = initramfs::write(&initramfs, &script, &bins, &tests, &modules, &rootfs_dir)?;
    let prepared = started.elapsed();
    eprintln!(
        "vm: {} test file(s) [{}], initramfs {:.1} MiB, kernel {}, accel {} ({}); prepared in {:.1} s",
        tests.len(),
        names.join(" "),
        size as f64 / (1024.0 * 1024.0),
        kernel.release,
        accel.0,
        accel.1,
        prepared.as_secs_f64()
    );

    let timeout = std::env::var("DESDE_CERO_VM_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_TIMEOUT);
    let deadline = Instant::now() + Duration::from_secs(timeout);

    let mut last_err = String::new();
    for boot in boot::ways(&kernel) {
        match boot::boot_vm(&qemu, &boot, accel.0, &initramfs, &run_dir, deadline)? {
            VmEnd::NoBoot(why) => {
                last_err = format!("{} boot: {why}", boot.how);
                if Instant::now() > deadline {
                    break;
                }
                eprintln!("vm: {} boot failed ({why}), trying the next way", boot.how);
            }
            VmEnd::Ran { boot_time, status } => {
                let run = verdict::Run {
                    names: &names,
                    run_dir: &run_dir,
                    how: boot.how,
                    accel: accel.0,
                    boot_time,
                    total: started.elapsed(),
                    timeout,
                };
                return Ok(verdict::judge(&status, &run));
            }
        }
    }
    Ok(Outcome::Failed(format!(
        "the VM did not boot ({last_err}); see {}",
        run_dir.join("console.log").display()
    )))
}

/// This run's own folder, `target/vm/run/<pid>`, so that two test runs at once do not mix their
/// files; folders of runs that have ended are removed (the last one's logs stay until the next).
fn run_dir(cache: &Path) -> Result<PathBuf> {
    let runs = cache.join("run");
    fs::create_dir_all(&runs)?;
    for entry in fs::read_dir(&runs)?.flatten() {
        let alive = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
            // Signal 0 (None) only asks whether the process exists.
            .is_some_and(|pid| kill(Pid::from_raw(pid), None).is_ok());
        if !alive {
            let path = entry.path();
            let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
        }
    }
    let dir = runs.join(std::process::id().to_string());
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// An exclusive `flock` on a file, released when dropped.
fn lock(path: &Path) -> Result<Flock<fs::File>> {
    let file =
        fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| anyhow::anyhow!("cannot lock {}: {errno}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Tools: qemu, busybox, the musl target.

/// Finds qemu, installing it with apt-get when we are root.
fn ensure_qemu() -> Result<PathBuf> {
    if let Some(path) = util::which(QEMU) {
        return Ok(path);
    }
    if !util::is_root() {
        return Err(skip(format!(
            "{QEMU} is not installed: run `sudo apt-get install --no-install-recommends \
             qemu-system-x86` (if apt refuses because of a newer qemu-utils, add \
             `qemu-utils/bookworm --allow-downgrades`)"
        )));
    }
    eprintln!("vm: installing qemu-system-x86 with apt-get");
    // apt may not remove anything (--no-remove): Debian bookworm's qemu 7.2 breaks a backported
    // qemu-utils 10.x, which a plain `-y` install would silently remove. Downgrading it to the
    // matching 7.2 in the same install keeps qemu-utils there.
    let plain = apt_install(&["qemu-system-x86"]);
    if plain.is_err() {
        eprintln!("vm: retrying with qemu-utils/bookworm --allow-downgrades");
        apt_install(&[
            "qemu-system-x86",
            "qemu-utils/bookworm",
            "--allow-downgrades",
        ])
        .map_err(|e| skip(format!("cannot install qemu-system-x86: {e:#}")))?;
    }
    util::which(QEMU).ok_or_else(|| skip(format!("{QEMU} is still missing after apt-get install")))
}

/// The static busybox the initramfs is made of (and the root filesystem too).
pub fn ensure_busybox() -> Result<()> {
    if !Path::new(BUSYBOX).exists() {
        if !util::is_root() {
            return Err(skip(format!(
                "no {BUSYBOX}: run `sudo apt-get install busybox-static`"
            )));
        }
        eprintln!("vm: installing busybox-static with apt-get");
        apt_install(&["busybox-static"])
            .map_err(|e| skip(format!("cannot install busybox-static: {e:#}")))?;
    }
    let program = fs::read(BUSYBOX).with_context(|| format!("cannot read {BUSYBOX}"))?;
    if elf::has_interpreter(&program) {
        return Err(skip(format!(
            "{BUSYBOX} is dynamically linked: install busybox-static (`apt-get install busybox-static`)"
        )));
    }
    Ok(())
}

fn ensure_musl_target() -> Result<()> {
    // Added with rustup when it is missing, as for the stages; checked in the sysroot either way.
    util::add_rust_target(TARGET);
    let mut rustc = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()));
    let out = util::output_checked(rustc.args(["--print", "sysroot"]))?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .exists()
    {
        return Err(skip(format!(
            "the Rust target {TARGET} is not installed: run `rustup target add {TARGET}`"
        )));
    }
    Ok(())
}

fn apt_install(packages: &[&str]) -> Result<()> {
    let mut cmd = Command::new("apt-get");
    cmd.args([
        "install",
        "-y",
        "--no-install-recommends",
        "--no-remove",
        "-o",
        "DPkg::Lock::Timeout=300",
    ])
    .args(packages)
    .env("DEBIAN_FRONTEND", "noninteractive");
    util::run_checked(&mut cmd)
}

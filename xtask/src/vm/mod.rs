//! The cgroup v2 VM: `cargo xtask test` runs the integration tests a second time inside a small
//! VM whose kernel mounts nothing but cgroup2, because the machines this project is tested on
//! (and many laptops) have a v1 or hybrid cgroup layout. See vm/README.md.
//!
//! What happens, in order:
//! 1. qemu is found (or installed with apt-get when we are root), and Debian's kernel package is
//!    downloaded once with `apt-get download` and unpacked under `target/vm/kernel/` (cached).
//!    The ELF `vmlinux` is unpacked from the compressed bzImage (as the kernel's own
//!    `scripts/extract-vmlinux` does), so qemu can boot it directly through the PVH entry point
//!    with the tiny qboot firmware: about 2 s to a shell even without KVM.
//! 2. The stage binaries, the probe and the integration tests are built statically for musl.
//! 3. An initramfs (newc cpio, written here) gets static busybox, those binaries, a copy of the
//!    root filesystem, the kernel modules the tests need, and a generated `/init` script.
//! 4. qemu boots it; `/init` moves itself onto a tmpfs (`pivot_root` does not work on the
//!    initramfs), mounts cgroup2, runs every test file of [`VM_TESTS`] and powers off. Test output
//!    comes back on the second serial port, one status line per test file on the third.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::rootfs;
use crate::util;

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
    // The hardened stage: its cgroup namespace and limits on a pure cgroup2 host.
    ("full", &[]),
    // The syscall filter: a user namespace (the first step of lifting the limits from inside)
    // and the other attacks refused, and ordinary work unchanged, on a pure cgroup2 host.
    ("seccomp", &[]),
    // The attack suite on a pure cgroup2 host: the cgroup attack's routes (a mounted cgroup2,
    // one of its own, one from a user namespace) meet v2's rules, and each hardening stage
    // stops there what it stops on a hybrid host.
    ("attacks", &[]),
];

/// Programs of this host that the stages and tests run (iproute2's `ip`, util-linux's `nsenter`,
/// `unshare`, `script`, `mount`, `umount`): copied into the VM's `/usr/local/bin` with the shared
/// libraries `ldd` names, so the VM behaves like a host rather than like busybox. Missing ones are
/// left out (busybox has `ip`, `nsenter`, `unshare`, `mount` and `umount` of its own).
const HOST_TOOLS: &[&str] = &["ip", "nsenter", "unshare", "script", "mount", "umount"];

/// Kernel modules loaded inside the VM (with their dependencies) when the kernel has them as
/// modules: overlayfs and veth are modules in Debian's kernel.
const MODULES: &[&str] = &["overlay", "veth"];

/// Debian's meta package; it depends on the concrete kernel package we download.
const KERNEL_META: &str = "linux-image-amd64";

/// qemu's minimal firmware: boots an ELF kernel through PVH with almost no firmware time.
const QBOOT: &str = "/usr/share/qemu/qboot.rom";

const QEMU: &str = "qemu-system-x86_64";

/// Where the static busybox of package busybox-static is.
const BUSYBOX: &str = "/bin/busybox";

/// The kernel command line: serial console, no cgroup v1 at all, and no reboot loop on a panic.
const CMDLINE: &str = "console=ttyS0 panic=-1 cgroup_no_v1=all rdinit=/init quiet";

/// Without a sign of life from /init in this time the boot is taken as failed.
const BOOT_LIMIT: Duration = Duration::from_secs(90);

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
        let _lock = Lock::take(&cache.join("kernel.lock"))?;
        ensure_kernel(&cache)?
    };
    let accel = accel();

    let bins = build_bins()?;
    let all_tests = build_tests()?;
    let tests = choose_tests(&all_tests)?;
    if tests.is_empty() {
        bail!("none of the VM's test files is built");
    }
    let modules = resolve_modules(&kernel);

    let rootfs_dir = rootfs::ensure()?;
    let run_dir = run_dir(&cache)?;
    let initramfs = run_dir.join("initramfs.cpio");
    let names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
    let script = init_script(&tests, filter, &modules);
    let size = write_initramfs(&initramfs, &script, &bins, &tests, &modules, &rootfs_dir)?;
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

    // DESDE_CERO_VM_BOOT=bzimage skips the fast PVH path (to test the fallback, or if it hangs).
    let force_bzimage = std::env::var("DESDE_CERO_VM_BOOT").is_ok_and(|v| v == "bzimage");
    let mut boots: Vec<Boot> = Vec::new();
    if let (Some(vmlinux), false) = (&kernel.vmlinux, force_bzimage) {
        if Path::new(QBOOT).exists() {
            boots.push(Boot {
                how: "pvh",
                kernel: vmlinux.clone(),
                bios: Some(PathBuf::from(QBOOT)),
            });
        }
    }
    boots.push(Boot {
        how: "bzImage",
        kernel: kernel.vmlinuz.clone(),
        bios: None,
    });

    let mut last_err = String::new();
    for boot in &boots {
        let result = boot_vm(&qemu, boot, accel.0, &initramfs, &run_dir, deadline)?;
        match result {
            VmEnd::NoBoot(why) => {
                last_err = format!("{} boot: {why}", boot.how);
                if Instant::now() > deadline {
                    break;
                }
                eprintln!("vm: {} boot failed ({why}), trying the next way", boot.how);
            }
            VmEnd::Ran { boot_time, status } => {
                let total = started.elapsed();
                return Ok(judge(
                    &status, &names, &run_dir, boot, accel.0, boot_time, total, timeout,
                ));
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
            .and_then(|n| n.parse::<libc::pid_t>().ok())
            // SAFETY: kill with signal 0 only asks whether the process exists.
            .is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0);
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
struct Lock(fs::File);

impl Lock {
    fn take(path: &Path) -> Result<Lock> {
        use std::os::fd::AsRawFd;
        let file =
            fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!(
                "cannot lock {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        Ok(Lock(file))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking a file descriptor we own (closing it would too).
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

// ---------------------------------------------------------------------------------------------
// Tools: qemu, busybox, the musl target.

/// Finds qemu, installing it with apt-get when we are root.
fn ensure_qemu() -> Result<PathBuf> {
    if let Some(path) = which(QEMU) {
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
    which(QEMU).ok_or_else(|| skip(format!("{QEMU} is still missing after apt-get install")))
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
    let elf = fs::read(BUSYBOX).with_context(|| format!("cannot read {BUSYBOX}"))?;
    if has_interpreter(&elf) {
        return Err(skip(format!(
            "{BUSYBOX} is dynamically linked: install busybox-static (`apt-get install busybox-static`)"
        )));
    }
    Ok(())
}

fn ensure_musl_target() -> Result<()> {
    let out = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .context("cannot run rustc")?;
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

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// KVM when it is a real one; TCG (software emulation) otherwise. `DESDE_CERO_VM_ACCEL` forces.
fn accel() -> (&'static str, &'static str) {
    match std::env::var("DESDE_CERO_VM_ACCEL").as_deref() {
        Ok("kvm") => return ("kvm", "DESDE_CERO_VM_ACCEL"),
        Ok("tcg") => return ("tcg", "DESDE_CERO_VM_ACCEL"),
        _ => {}
    }
    if Path::new("/sys/module/kvm_pvm").exists() {
        // kvm_pvm runs only specially built guest kernels: Debian's hangs early.
        return ("tcg", "/dev/kvm is kvm_pvm");
    }
    match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => ("kvm", "/dev/kvm"),
        Err(_) => ("tcg", "no usable /dev/kvm"),
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel: downloaded once, unpacked, cached.

struct Kernel {
    release: String,
    vmlinuz: PathBuf,
    vmlinux: Option<PathBuf>,
    /// `lib/modules/<release>` of the unpacked package.
    modules: PathBuf,
}

/// A file written last into a kernel's cache folder: its presence means the folder is complete.
const KERNEL_DONE: &str = ".complete";

fn ensure_kernel(cache: &Path) -> Result<Kernel> {
    let kernels = cache.join("kernel");
    let package = match kernel_package() {
        Ok(p) => p,
        Err(why) => {
            // No apt here (or no lists): use a kernel downloaded before, if any.
            let cached = newest_cached(&kernels)
                .ok_or_else(|| skip(format!("cannot find Debian's kernel package ({why})")))?;
            eprintln!("vm: {why}; using the cached {cached}");
            cached
        }
    };
    let dir = kernels.join(&package);
    if !dir.join(KERNEL_DONE).exists() {
        download_kernel(&package, &dir)?;
    }
    let boot = dir.join("tree/boot");
    let vmlinuz = fs::read_dir(&boot)
        .with_context(|| format!("cannot read {}", boot.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .with_context(|| format!("no vmlinuz-* in {}", boot.display()))?;
    let release = vmlinuz.file_name().unwrap().to_string_lossy()["vmlinuz-".len()..].to_string();
    let vmlinux = dir.join("vmlinux");
    Ok(Kernel {
        modules: dir.join("tree/lib/modules").join(&release),
        release,
        vmlinuz,
        vmlinux: vmlinux.exists().then_some(vmlinux),
    })
}

/// The concrete package `linux-image-amd64` depends on, e.g. `linux-image-6.1.0-56-amd64`.
fn kernel_package() -> std::result::Result<String, String> {
    let out = Command::new("apt-cache")
        .args(["depends", KERNEL_META])
        .output()
        .map_err(|e| format!("cannot run apt-cache: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(|p| p.trim().to_string())
        .find(|p| p.starts_with("linux-image-") && !p.contains('<'))
        .ok_or_else(|| format!("apt-cache knows no {KERNEL_META}: run `apt-get update`"))
}

fn newest_cached(kernels: &Path) -> Option<String> {
    let mut found: Vec<String> = fs::read_dir(kernels)
        .ok()?
        .flatten()
        .filter(|e| e.path().join(KERNEL_DONE).exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    found.pop()
}

fn download_kernel(package: &str, dir: &Path) -> Result<()> {
    let t = Instant::now();
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    fs::create_dir_all(dir)?;
    eprintln!(
        "vm: downloading {package} (once; cached in {})",
        dir.display()
    );
    let out = Command::new("apt-get")
        .args(["download", package])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .context("cannot run apt-get")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(skip(format!(
            "cannot download {package} with apt-get ({last}); try `apt-get update`"
        )));
    }
    let deb = fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension() == Some(OsStr::new("deb")))
        .context("apt-get download left no .deb")?;
    util::run_checked(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(dir.join("tree")),
    )
    .context("cannot unpack the kernel package")?;
    fs::remove_file(&deb)?;
    let boot = dir.join("tree/boot");
    let vmlinuz = fs::read_dir(&boot)?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .with_context(|| format!("no vmlinuz-* in {}", boot.display()))?;
    match extract_vmlinux(&fs::read(&vmlinuz)?) {
        Ok(elf) => fs::write(dir.join("vmlinux"), elf)?,
        Err(e) => eprintln!("vm: cannot unpack vmlinux ({e:#}); will boot the bzImage (slower)"),
    }
    fs::write(dir.join(KERNEL_DONE), package)?;
    eprintln!("vm: kernel ready in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

/// Finds the compressed kernel inside a bzImage and decompresses it, as the kernel's
/// `scripts/extract-vmlinux` does: try each known magic, keep the first complete ELF.
fn extract_vmlinux(bzimage: &[u8]) -> Result<Vec<u8>> {
    let formats: [(&[u8], &str); 3] = [
        (b"\xfd7zXZ\x00", "xz"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"\x1f\x8b\x08", "gzip"),
    ];
    for (magic, tool) in formats {
        let mut from = 0;
        for _ in 0..4 {
            let Some(at) = find(&bzimage[from..], magic).map(|i| i + from) else {
                break;
            };
            from = at + 1;
            // The payload is followed by other data, so the tool complains at the end; the
            // ELF check below decides whether what came out is whole.
            let Ok(out) = decompress(tool, &bzimage[at..]) else {
                continue;
            };
            if elf_is_complete(&out) {
                return Ok(out);
            }
        }
    }
    bail!("no compressed ELF kernel found in the bzImage")
}

fn decompress(tool: &str, data: &[u8]) -> Result<Vec<u8>> {
    let mut child = Command::new(tool)
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {tool}"))?;
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut out = Vec::new();
    std::thread::scope(|s| {
        s.spawn(move || {
            // A write error only means the tool stopped reading early.
            let _ = stdin.write_all(data);
        });
        stdout.read_to_end(&mut out)
    })?;
    child.wait()?;
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as u64)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A 64-bit ELF whose section header table (at the end of the file) is all there.
fn elf_is_complete(b: &[u8]) -> bool {
    if !b.starts_with(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(shoff), Some(shentsize), Some(shnum)) =
        (u64_at(b, 0x28), u16_at(b, 0x3a), u16_at(b, 0x3c))
    else {
        return false;
    };
    shoff > 0 && shoff + shentsize * shnum <= b.len() as u64
}

/// Whether an ELF file asks for a dynamic loader (PT_INTERP): then it is not static.
fn has_interpreter(b: &[u8]) -> bool {
    let (Some(phoff), Some(phentsize), Some(phnum)) =
        (u64_at(b, 0x20), u16_at(b, 0x36), u16_at(b, 0x38))
    else {
        return true;
    };
    (0..phnum).any(|i| {
        let at = (phoff + i * phentsize) as usize;
        b.get(at..at + 4) == Some(&3u32.to_le_bytes()[..])
    })
}

// ---------------------------------------------------------------------------------------------
// Kernel modules: Debian's package has no modules.dep, so read `depends=` from each module.

fn resolve_modules(kernel: &Kernel) -> Vec<(String, PathBuf)> {
    let builtin = fs::read_to_string(kernel.modules.join("modules.builtin")).unwrap_or_default();
    let mut index = BTreeMap::new();
    index_modules(&kernel.modules.join("kernel"), &mut index);
    let mut order = Vec::new();
    for name in MODULES {
        let name = name.replace('-', "_");
        let is_builtin = builtin
            .lines()
            .any(|l| module_name(Path::new(l)) == Some(name.clone()));
        if is_builtin {
            continue;
        }
        if !add_module(&name, &index, &mut order, 0) {
            eprintln!("vm: kernel module {name} not found; tests that need it will say so");
        }
    }
    order
}

fn add_module(
    name: &str,
    index: &BTreeMap<String, PathBuf>,
    order: &mut Vec<(String, PathBuf)>,
    depth: usize,
) -> bool {
    if order.iter().any(|(n, _)| n == name) {
        return true;
    }
    let Some(path) = index.get(name) else {
        return false;
    };
    if depth < 16 {
        for dep in module_depends(path) {
            add_module(&dep, index, order, depth + 1);
        }
    }
    order.push((name.to_string(), path.clone()));
    true
}

fn index_modules(dir: &Path, index: &mut BTreeMap<String, PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            index_modules(&path, index);
        } else if path.extension() == Some(OsStr::new("ko")) {
            if let Some(name) = module_name(&path) {
                index.insert(name, path);
            }
        }
    }
}

fn module_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    Some(file.strip_suffix(".ko")?.replace('-', "_"))
}

/// The `depends=` entry of a module's `.modinfo` section (NUL-separated `key=value` strings).
fn module_depends(path: &Path) -> Vec<String> {
    let Ok(data) = fs::read(path) else {
        return Vec::new();
    };
    let key = b"\0depends=";
    let Some(at) = find(&data, key) else {
        return Vec::new();
    };
    let value = &data[at + key.len()..];
    let end = value.iter().position(|&b| b == 0).unwrap_or(0);
    String::from_utf8_lossy(&value[..end])
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace('-', "_"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Host tools.

/// Each of [`HOST_TOOLS`] found on this host: name, path, and the libraries it loads.
fn host_tools() -> Vec<(String, PathBuf, Vec<PathBuf>)> {
    let mut found = Vec::new();
    for name in HOST_TOOLS {
        let Some(path) = which(name).or_else(|| {
            ["/usr/sbin", "/sbin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| p.is_file())
        }) else {
            continue;
        };
        let Some(libs) = shared_libraries(&path) else {
            eprintln!(
                "vm: note: cannot list the libraries of {}; left out",
                path.display()
            );
            continue;
        };
        found.push((name.to_string(), path, libs));
    }
    found
}

/// The shared libraries (and the dynamic loader) `ldd` says a program loads; empty for a static
/// one, `None` when ldd cannot tell.
fn shared_libraries(program: &Path) -> Option<Vec<PathBuf>> {
    let out = Command::new("ldd").arg(program).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return (text.contains("not a dynamic") || err.contains("not a dynamic")).then(Vec::new);
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let path = match words.as_slice() {
            [_, "=>", path, ..] if path.starts_with('/') => path,
            [path, ..] if path.starts_with('/') => path,
            [_, "=>", "not", "found", ..] => return None,
            _ => continue,
        };
        libs.push(PathBuf::from(path));
    }
    Some(libs)
}

// ---------------------------------------------------------------------------------------------
// Building the static binaries.

/// `cargo build --target musl --bins` of the default members: every stage and the probe.
fn build_bins() -> Result<Vec<(String, PathBuf)>> {
    let mut cmd = util::cargo();
    cmd.args([
        "build",
        "--bins",
        "--target",
        TARGET,
        "--message-format=json-render-diagnostics",
    ]);
    let found = cargo_artifacts(&mut cmd, "bin")?;
    if found.is_empty() {
        bail!("cargo built no binaries for {TARGET}");
    }
    Ok(found)
}

/// `cargo test --no-run` of testkit's integration tests for musl: name and executable of each.
fn build_tests() -> Result<Vec<(String, PathBuf)>> {
    let mut cmd = util::cargo();
    cmd.args([
        "test",
        "--no-run",
        "--package",
        "testkit",
        "--target",
        TARGET,
        "--message-format=json-render-diagnostics",
    ]);
    cargo_artifacts(&mut cmd, "test")
}

/// Runs cargo with `--message-format=json` and collects (target name, executable) of every
/// artifact of the given kind.
fn cargo_artifacts(cmd: &mut Command, kind: &str) -> Result<Vec<(String, PathBuf)>> {
    cmd.stdout(Stdio::piped());
    let out = cmd.output().context("cannot run cargo")?;
    if !out.status.success() {
        bail!("{cmd:?} failed with {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| artifact(line, kind))
        .collect())
}

/// The target name and executable of one line of cargo's JSON, if it is an artifact of `kind`.
fn artifact(line: &str, kind: &str) -> Option<(String, PathBuf)> {
    let msg: serde_json::Value = serde_json::from_str(line).ok()?;
    if msg["reason"] != "compiler-artifact" || msg["target"]["kind"] != serde_json::json!([kind]) {
        return None;
    }
    let name = msg["target"]["name"].as_str()?;
    let exe = msg["executable"].as_str()?;
    Some((name.to_string(), PathBuf::from(exe)))
}

/// One test executable to run inside the VM, with its extra arguments.
#[derive(Clone)]
struct VmTest {
    name: String,
    exe: PathBuf,
    args: Vec<String>,
}

fn choose_tests(all: &[(String, PathBuf)]) -> Result<Vec<VmTest>> {
    // A listed file keeps its arguments when it is chosen by DESDE_CERO_VM_TESTS too.
    let with_args = |name: &str| {
        let args = VM_TESTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, args)| args.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default();
        (name.to_string(), args)
    };
    let wanted: Vec<(String, Vec<String>)> = match std::env::var("DESDE_CERO_VM_TESTS") {
        Ok(list) if list == "all" => all.iter().map(|(n, _)| with_args(n)).collect(),
        Ok(list) => list.split(',').map(|s| with_args(s.trim())).collect(),
        Err(_) => VM_TESTS.iter().map(|(n, _)| with_args(n)).collect(),
    };
    let mut chosen = Vec::new();
    let mut missing = Vec::new();
    for (name, args) in wanted {
        match all.iter().find(|(n, _)| *n == name) {
            Some((_, exe)) => chosen.push(VmTest {
                name,
                exe: exe.clone(),
                args,
            }),
            None => missing.push(name),
        }
    }
    if !missing.is_empty() {
        eprintln!(
            "vm: note: no test file {} in crates/testkit/tests (yet); not run in the VM",
            missing.join(", ")
        );
    }
    Ok(chosen)
}

// ---------------------------------------------------------------------------------------------
// The initramfs.

/// Where things are inside the VM.
const VM_HOME: &str = "desde-cero";

/// Quotes a word for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn init_script(tests: &[VmTest], filter: &[String], modules: &[(String, PathBuf)]) -> String {
    let mut env = vec![
        format!("DESDE_CERO_ROOTFS=/{VM_HOME}/rootfs"),
        format!("DESDE_CERO_BIN_DIR=/{VM_HOME}/bin"),
        "DESDE_CERO_IN_VM=1".to_string(),
    ];
    for var in ["CI", "RUST_BACKTRACE"] {
        if let Ok(value) = std::env::var(var) {
            env.push(format!("{var}={}", sh_quote(&value)));
        }
    }
    let mut runs = String::new();
    for test in tests {
        let args: Vec<String> = test
            .args
            .iter()
            .chain(filter)
            .map(|a| sh_quote(a))
            .collect();
        runs.push_str(&format!(
            "run {} {}\n",
            sh_quote(&test.name),
            args.join(" ")
        ));
    }
    let mods: Vec<String> = modules
        .iter()
        .map(|(n, _)| format!("/{VM_HOME}/modules/{n}.ko"))
        .collect();
    format!(
        r#"#!/bin/sh
# Generated by `cargo xtask test` (xtask/src/vm.rs). ttyS0: kernel console; ttyS1: test output;
# ttyS2: status lines (booted, controllers, start NAME, exit NAME CODE, done).
bb=/bin/busybox
if [ "$1" != stage2 ]; then
    # Stage 1, on the initramfs: pivot_root cannot leave it, so move everything onto a tmpfs.
    $bb mount -t devtmpfs devtmpfs /dev
    echo booted > /dev/ttyS2
    $bb mkdir -p /newroot
    $bb mount -t tmpfs -o mode=0755 tmpfs /newroot
    for d in /*; do
        case "$d" in /newroot|/dev|/proc|/sys) ;; *) $bb cp -a "$d" /newroot/ ;; esac
    done
    $bb mkdir -p /newroot/dev /newroot/proc /newroot/sys
    $bb mount --move /dev /newroot/dev
    exec $bb switch_root /newroot /init stage2
fi
# Stage 2, on the tmpfs.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
$bb --install -s 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
chmod 1777 /tmp
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
echo "+cpuset +cpu +io +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
hostname desde-cero-vm
ip link set lo up
for m in {mods}; do insmod "$m" || echo "vm: cannot load $m" >&2; done
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
exec 3>/dev/ttyS1 4>/dev/ttyS2
echo "controllers $(cat /sys/fs/cgroup/cgroup.controllers)" >&4
export {env}
cd /tmp
run() {{
    t=$1
    shift
    echo "start $t" >&4
    echo "---- $t (in the VM)" >&3
    /{VM_HOME}/tests/$t --test-threads=1 "$@" >&3 2>&3 </dev/null
    echo "exit $t $?" >&4
}}
{runs}echo done >&4
# Closing a serial port waits until its output has left.
exec 3>&- 4>&-
sync
poweroff -f
"#,
        mods = mods.join(" "),
        env = env.join(" "),
        runs = runs,
    )
}

fn write_initramfs(
    path: &Path,
    script: &str,
    bins: &[(String, PathBuf)],
    tests: &[VmTest],
    modules: &[(String, PathBuf)],
    rootfs_dir: &Path,
) -> Result<u64> {
    let scratch = path.parent().unwrap_or(Path::new("."));
    let file =
        fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut cpio = Cpio::new(BufWriter::new(file));
    for dir in [
        "bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "tmp", "dev", "proc", "sys",
        "newroot", VM_HOME,
    ] {
        cpio.dir(dir, 0o755)?;
    }
    cpio.file("bin/busybox", 0o755, &fs::read(BUSYBOX)?)?;
    cpio.symlink("bin/sh", "busybox")?;
    cpio.file("init", 0o755, script.as_bytes())?;
    cpio.file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n")?;
    cpio.file("etc/group", 0o644, b"root:x:0:\n")?;
    cpio.file(
        "etc/os-release",
        0o644,
        // Like a distribution's, and not naming this project: tests tell the container's
        // root filesystem from the host's by that name.
        b"NAME=\"cgroup v2 test VM\"\nID=cgroup2-vm\nPRETTY_NAME=\"cgroup v2 test VM (busybox)\"\n",
    )?;
    // The host tools the stages and tests call, with the shared libraries they load.
    let mut libs = BTreeSet::new();
    for (name, path, needs) in host_tools() {
        cpio.parents(&format!("usr/local/bin/{name}"))?;
        let data = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        cpio.file(&format!("usr/local/bin/{name}"), 0o755, &data)?;
        libs.extend(needs);
    }
    for lib in libs {
        let inside = lib.to_string_lossy().trim_start_matches('/').to_string();
        cpio.parents(&inside)?;
        let data = fs::read(&lib).with_context(|| format!("cannot read {}", lib.display()))?;
        cpio.file(&inside, 0o755, &data)?;
    }
    cpio.dir(&format!("{VM_HOME}/bin"), 0o755)?;
    for (name, exe) in bins {
        cpio.file(
            &format!("{VM_HOME}/bin/{name}"),
            0o755,
            &stripped(exe, scratch)?,
        )?;
    }
    cpio.dir(&format!("{VM_HOME}/tests"), 0o755)?;
    for test in tests {
        let data = stripped(&test.exe, scratch)?;
        cpio.file(&format!("{VM_HOME}/tests/{}", test.name), 0o755, &data)?;
    }
    cpio.dir(&format!("{VM_HOME}/modules"), 0o755)?;
    for (name, ko) in modules {
        cpio.file(
            &format!("{VM_HOME}/modules/{name}.ko"),
            0o644,
            &fs::read(ko)?,
        )?;
    }
    cpio.tree(&format!("{VM_HOME}/rootfs"), rootfs_dir)?;
    cpio.finish()
}

/// An executable without its debug information (much smaller, so the VM boots faster), or as it
/// is when there is no `strip`. The stripped copy goes to `scratch`.
fn stripped(exe: &Path, scratch: &Path) -> Result<Vec<u8>> {
    let copy = scratch.join(exe.file_name().unwrap_or(OsStr::new("exe")));
    let ok = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&copy)
        .arg(exe)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let from = if ok { &copy } else { exe };
    let data = fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    let _ = fs::remove_file(&copy);
    Ok(data)
}

/// A writer of the "newc" cpio format the kernel unpacks an initramfs from: per entry a
/// 110-byte ASCII header of hex fields, the NUL-terminated name and the data, each padded to 4.
struct Cpio<W: Write> {
    out: W,
    ino: u32,
    written: u64,
    /// Folders already in the archive.
    dirs: BTreeSet<String>,
}

impl<W: Write> Cpio<W> {
    fn new(out: W) -> Self {
        Cpio {
            out,
            ino: 1,
            written: 0,
            dirs: BTreeSet::new(),
        }
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) -> Result<()> {
        let name_len = name.len() + 1;
        let header = format!(
            "070701{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            self.ino,
            mode,
            0, // uid
            0, // gid
            if mode & 0o170000 == 0o040000 { 2 } else { 1 },
            0, // mtime
            data.len(),
            0, // dev major
            0, // dev minor
            rdev.0,
            rdev.1,
            name_len,
            0, // check
        );
        self.ino += 1;
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> Result<()> {
        let n = (4 - self.written % 4) % 4;
        self.put(&[0; 3][..n as usize])
    }

    fn dir(&mut self, name: &str, perm: u32) -> Result<()> {
        self.dirs.insert(name.to_string());
        self.entry(name, 0o040000 | perm, &[], (0, 0))
    }

    /// Adds the folders above `name` that are not in the archive yet.
    fn parents(&mut self, name: &str) -> Result<()> {
        let mut at = 0;
        while let Some(slash) = name[at..].find('/') {
            let dir = &name[..at + slash];
            if !self.dirs.contains(dir) {
                self.dir(dir, 0o755)?;
            }
            at += slash + 1;
        }
        Ok(())
    }

    fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> Result<()> {
        self.entry(name, 0o100000 | perm, data, (0, 0))
    }

    fn symlink(&mut self, name: &str, target: &str) -> Result<()> {
        self.entry(name, 0o120777, target.as_bytes(), (0, 0))
    }

    /// Adds a folder and everything below it (folders first, so the kernel can create files).
    fn tree(&mut self, name: &str, src: &Path) -> Result<()> {
        let meta =
            fs::symlink_metadata(src).with_context(|| format!("cannot stat {}", src.display()))?;
        let perm = meta.permissions().mode() & 0o7777;
        let kind = meta.file_type();
        if kind.is_dir() {
            self.dir(name, perm)?;
            let mut entries: Vec<_> = fs::read_dir(src)?.flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let child = format!("{name}/{}", entry.file_name().to_string_lossy());
                self.tree(&child, &entry.path())?;
            }
        } else if kind.is_symlink() {
            let target = fs::read_link(src)?;
            self.symlink(name, &target.to_string_lossy())?;
        } else if kind.is_file() {
            let data = fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
            self.file(name, perm, &data)?;
        } else if kind.is_char_device() || kind.is_block_device() {
            let rdev = meta.rdev();
            let mode = if kind.is_char_device() {
                0o020000
            } else {
                0o060000
            };
            self.entry(
                name,
                mode | perm,
                &[],
                (libc::major(rdev), libc::minor(rdev)),
            )?;
        }
        // Sockets and FIFOs have no place in a root filesystem image.
        Ok(())
    }

    fn finish(mut self) -> Result<u64> {
        self.entry("TRAILER!!!", 0, &[], (0, 0))?;
        // The kernel reads the archive in 512-byte blocks at most; pad like cpio(1) does.
        let n = (512 - self.written % 512) % 512;
        self.put(&vec![0; n as usize])?;
        self.out.flush()?;
        Ok(self.written)
    }
}

// ---------------------------------------------------------------------------------------------
// Booting and reading the results.

struct Boot {
    how: &'static str,
    kernel: PathBuf,
    bios: Option<PathBuf>,
}

enum VmEnd {
    /// /init never said it was up.
    NoBoot(String),
    /// /init ran: how long the boot took and the status lines it wrote.
    Ran { boot_time: Duration, status: Status },
}

#[derive(Default)]
struct Status {
    controllers: String,
    started: Vec<String>,
    exits: Vec<(String, i32)>,
    done: bool,
    timed_out: bool,
}

fn parse_status(text: &str) -> Status {
    let mut st = Status::default();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("controllers ") {
            st.controllers = rest.to_string();
        } else if let Some(rest) = line.strip_prefix("start ") {
            st.started.push(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("exit ") {
            if let Some((name, code)) = rest.rsplit_once(' ') {
                st.exits
                    .push((name.to_string(), code.parse().unwrap_or(-1)));
            }
        } else if line == "done" {
            st.done = true;
        }
    }
    st
}

fn boot_vm(
    qemu: &Path,
    boot: &Boot,
    accel: &str,
    initramfs: &Path,
    run_dir: &Path,
    deadline: Instant,
) -> Result<VmEnd> {
    let console = run_dir.join("console.log");
    let output = run_dir.join("output.log");
    let status = run_dir.join("status.log");
    for f in [&console, &output, &status] {
        fs::write(f, b"")?;
    }
    let mut cmd = Command::new(qemu);
    cmd.args(["-accel", accel]);
    if accel == "kvm" {
        cmd.args(["-cpu", "host"]);
    }
    cmd.args(["-m", "1024", "-smp", "2", "-nodefaults", "-no-user-config"])
        .args(["-display", "none", "-no-reboot"])
        .arg("-serial")
        .arg(serial_file(&console))
        .arg("-serial")
        .arg(serial_file(&output))
        .arg("-serial")
        .arg(serial_file(&status))
        .arg("-kernel")
        .arg(&boot.kernel)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", CMDLINE]);
    if let Some(bios) = &boot.bios {
        cmd.arg("-bios").arg(bios);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", qemu.display()))?;
    let mut stderr = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut shown = 0usize;
    let mut boot_time = None;
    let mut timed_out = false;
    let exit = loop {
        if let Some(exit) = child.try_wait()? {
            break Some(exit);
        }
        if boot_time.is_none() && fs::read_to_string(&status)?.contains("booted") {
            boot_time = Some(started.elapsed());
        }
        if boot_time.is_none() && started.elapsed() > BOOT_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        shown += show_new(&output, shown)?;
        std::thread::sleep(Duration::from_millis(100));
    };
    show_new(&output, shown)?;
    let qemu_err = stderr_reader.join().unwrap_or_default();
    let status_text = fs::read_to_string(&status)?;
    if boot_time.is_none() && status_text.contains("booted") {
        boot_time = Some(started.elapsed());
    }
    let Some(boot_time) = boot_time else {
        let why = match exit {
            Some(code) => format!(
                "qemu exited with {code} before /init ran{}",
                first_line(&qemu_err)
            ),
            None if timed_out => "timed out (DESDE_CERO_VM_TIMEOUT)".to_string(),
            None => format!("no sign of /init after {} s", BOOT_LIMIT.as_secs()),
        };
        return Ok(VmEnd::NoBoot(why));
    };
    let mut st = parse_status(&status_text);
    st.timed_out = timed_out;
    if !qemu_err.trim().is_empty() {
        eprintln!("vm: qemu said: {}", qemu_err.trim());
    }
    Ok(VmEnd::Ran {
        boot_time,
        status: st,
    })
}

fn first_line(text: &str) -> String {
    match text.lines().find(|l| !l.trim().is_empty()) {
        Some(line) => format!(": {}", line.trim()),
        None => String::new(),
    }
}

fn serial_file(path: &Path) -> std::ffi::OsString {
    let mut arg = std::ffi::OsString::from("file:");
    arg.push(path);
    arg
}

/// Prints what was added to a file since `from` bytes; returns how many bytes it printed.
fn show_new(path: &Path, from: usize) -> Result<usize> {
    let data = fs::read(path)?;
    if data.len() <= from {
        return Ok(0);
    }
    let text: Vec<u8> = data[from..]
        .iter()
        .copied()
        .filter(|&b| b != b'\r')
        .collect();
    let mut out = std::io::stdout().lock();
    out.write_all(&text)?;
    out.flush()?;
    Ok(data.len() - from)
}

/// libtest's "test result: ok. 3 passed; 0 failed; 1 ignored; …" lines, added up.
fn count_results(output: &str) -> (u32, u32, u32) {
    let mut totals = (0, 0, 0);
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        for part in rest.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let n = |w: &[&str]| w.iter().find_map(|x| x.parse::<u32>().ok()).unwrap_or(0);
            if part.contains(" passed") {
                totals.0 += n(&words);
            } else if part.contains(" failed") {
                totals.1 += n(&words);
            } else if part.contains(" ignored") {
                totals.2 += n(&words);
            }
        }
    }
    totals
}

#[allow(clippy::too_many_arguments)]
fn judge(
    st: &Status,
    names: &[&str],
    run_dir: &Path,
    boot: &Boot,
    accel: &str,
    boot_time: Duration,
    total: Duration,
    timeout: u64,
) -> Outcome {
    let output = fs::read_to_string(run_dir.join("output.log")).unwrap_or_default();
    let (passed, failed, ignored) = count_results(&output);
    let timing = format!(
        "boot {:.1} s ({}, {accel}), total {:.0} s",
        boot_time.as_secs_f64(),
        boot.how,
        total.as_secs_f64()
    );
    let counts = format!("{passed} passed, {failed} failed, {ignored} ignored");
    let bad: Vec<String> = st
        .exits
        .iter()
        .filter(|(_, code)| *code != 0)
        .map(|(n, code)| format!("{n} (exit {code})"))
        .collect();
    let missing_ctl: Vec<&str> = ["cpu", "memory", "pids"]
        .into_iter()
        .filter(|c| !st.controllers.split_whitespace().any(|x| x == *c))
        .collect();
    let problem = if st.timed_out {
        Some(format!(
            "timed out after {timeout} s while running {} (DESDE_CERO_VM_TIMEOUT changes the limit)",
            st.started.last().map(String::as_str).unwrap_or("the boot")
        ))
    } else if !st.done {
        Some(format!(
            "the VM stopped before the tests finished (last started: {}); see {}",
            st.started.last().map(String::as_str).unwrap_or("none"),
            run_dir.join("console.log").display()
        ))
    } else if !bad.is_empty() {
        Some(format!("failing test files: {}", bad.join(", ")))
    } else if st.exits.len() != names.len() {
        Some(format!(
            "{} of {} test files reported",
            st.exits.len(),
            names.len()
        ))
    } else if !missing_ctl.is_empty() {
        Some(format!(
            "the VM's cgroup2 root lacks {} (controllers: {})",
            missing_ctl.join(", "),
            st.controllers
        ))
    } else {
        None
    };
    if problem.is_some() {
        let console = fs::read_to_string(run_dir.join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = console.lines().collect();
        let tail = &lines[lines.len().saturating_sub(25)..];
        if !tail.is_empty() {
            eprintln!("--- last lines of the VM's console\n{}", tail.join("\n"));
        }
    }
    let summary = format!(
        "{} test file(s): {counts}; cgroup2 controllers: {}; {timing}",
        names.len(),
        st.controllers
    );
    match problem {
        Some(p) => Outcome::Failed(format!("{p}; {summary}")),
        None => Outcome::Passed(summary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_entries_are_padded_to_four_bytes() {
        let mut buf = Vec::new();
        let mut cpio = Cpio::new(&mut buf);
        cpio.file("a", 0o644, b"hello").unwrap();
        let n = cpio.finish().unwrap();
        assert_eq!(n % 512, 0);
        assert!(buf.starts_with(b"070701"));
        // 110-byte header + "a\0" = 112, then 5 bytes of data padded to 8.
        assert_eq!(&buf[112..117], b"hello");
        assert_eq!(&buf[120..126], b"070701");
    }

    #[test]
    fn json_strings_are_found_and_unescaped() {
        let line = r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"vm"},"executable":"/a/b\"c"}"#;
        let (name, exe) = artifact(line, "test").unwrap();
        assert_eq!(name, "vm");
        assert_eq!(exe, PathBuf::from("/a/b\"c"));
        assert_eq!(artifact(line, "bin"), None);
        let no_exe = r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"vm"},"executable":null}"#;
        assert_eq!(artifact(no_exe, "test"), None);
        assert_eq!(
            artifact(r#"{"reason":"build-finished","success":true}"#, "test"),
            None
        );
    }

    #[test]
    fn libtest_results_are_added_up() {
        let out = "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured\n\
                   test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured\n";
        assert_eq!(count_results(out), (4, 2, 1));
    }

    #[test]
    fn status_lines_are_parsed() {
        let st = parse_status("booted\ncontrollers cpu memory pids\nstart vm\nexit vm 0\ndone\n");
        assert!(st.done);
        assert_eq!(st.exits, vec![("vm".to_string(), 0)]);
        assert_eq!(st.controllers, "cpu memory pids");
    }
}

//! The VM's kernel: Debian's own package, downloaded once with `apt-get download`, unpacked with
//! `dpkg-deb -x` under `target/vm/kernel/<package>/` (cached), the ELF `vmlinux` unpacked from its
//! bzImage for the fast PVH boot, and the kernel modules the tests need with their dependencies.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::{elf, skip};
use crate::util;

/// Debian's meta package; it depends on the concrete kernel package we download.
const KERNEL_META: &str = "linux-image-amd64";

/// A file written last into a kernel's cache folder: its presence means the folder is complete.
const KERNEL_DONE: &str = ".complete";

/// Kernel modules loaded inside the VM (with their dependencies) when the kernel has them as
/// modules: overlayfs and veth are modules in Debian's kernel, and so is loop, whose
/// /dev/loop0 is the block device the device attack's bait needs (the VM has no disk).
const MODULES: &[&str] = &["overlay", "veth", "loop"];

pub struct Kernel {
    pub release: String,
    pub vmlinuz: PathBuf,
    pub vmlinux: Option<PathBuf>,
    /// `lib/modules/<release>` of the unpacked package.
    modules: PathBuf,
}

/// The kernel, from the cache under `cache/kernel/`, downloaded first if it is not there.
pub fn ensure(cache: &Path) -> Result<Kernel> {
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
        download(&package, &dir)?;
    }
    let vmlinuz = find_vmlinuz(&dir)?;
    let release = vmlinuz.file_name().unwrap().to_string_lossy()["vmlinuz-".len()..].to_string();
    let vmlinux = dir.join("vmlinux");
    Ok(Kernel {
        modules: dir.join("tree/lib/modules").join(&release),
        release,
        vmlinuz,
        vmlinux: vmlinux.exists().then_some(vmlinux),
    })
}

/// The compressed kernel, `tree/boot/vmlinuz-<release>`, of an unpacked package.
fn find_vmlinuz(dir: &Path) -> Result<PathBuf> {
    let boot = dir.join("tree/boot");
    fs::read_dir(&boot)
        .with_context(|| format!("cannot read {}", boot.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .with_context(|| format!("no vmlinuz-* in {}", boot.display()))
}

/// The concrete package `linux-image-amd64` depends on, e.g. `linux-image-6.1.0-56-amd64`.
fn kernel_package() -> std::result::Result<String, String> {
    let hint = format!("apt-cache knows no {KERNEL_META}: run `apt-get update`");
    let out = util::output_checked(Command::new("apt-cache").args(["depends", KERNEL_META]))
        .map_err(|e| format!("{e:#}; {hint}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(|p| p.trim().to_string())
        .find(|p| p.starts_with("linux-image-") && !p.contains('<'))
        .ok_or(hint)
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

fn download(package: &str, dir: &Path) -> Result<()> {
    let t = Instant::now();
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    fs::create_dir_all(dir)?;
    eprintln!(
        "vm: downloading {package} (once; cached in {})",
        dir.display()
    );
    let mut apt = Command::new("apt-get");
    apt.args(["download", package])
        .current_dir(dir)
        .stdin(Stdio::null());
    util::output_checked(&mut apt).map_err(|e| {
        skip(format!(
            "cannot download {package} with apt-get ({e:#}); try `apt-get update`"
        ))
    })?;
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
    let vmlinuz = find_vmlinuz(dir)?;
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
            if elf::is_complete(&out) {
                return Ok(out);
            }
        }
    }
    bail!("no compressed ELF kernel found in the bzImage")
}

/// `tool -dc` over `data`, all it wrote whatever its exit (see [`extract_vmlinux`]).
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

// ---------------------------------------------------------------------------------------------
// Kernel modules: Debian's package has no modules.dep, so read `depends=` from each module.

/// [`MODULES`] that are not built in, each after the modules it depends on: name and file.
pub fn resolve_modules(kernel: &Kernel) -> Vec<(String, PathBuf)> {
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

//! The `busybox` source: the host's statically linked busybox (Debian/Ubuntu: `busybox-static`)
//! plus its applet links and the few folders and files a Linux userland expects. No network.
//!
//! `DESDE_CERO_BUSYBOX=PATH` picks the busybox to use; set to an empty value it pretends the
//! host has none (the tests use that to reach the other sources).

use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::safe;

/// Overrides where busybox is looked for (empty: there is none).
pub const ENV: &str = "DESDE_CERO_BUSYBOX";

/// What the host has.
#[derive(Debug)]
pub enum Found {
    /// A statically linked busybox: usable.
    Static(PathBuf),
    /// Only a dynamically linked one: it would not start inside the container, which has no
    /// shared libraries.
    Dynamic(PathBuf),
    None,
}

/// Looks for busybox: `$DESDE_CERO_BUSYBOX`, else the usual places and `$PATH`.
pub fn find() -> Found {
    let candidates: Vec<PathBuf> = match std::env::var_os(ENV) {
        Some(path) if path.is_empty() => return Found::None,
        Some(path) => vec![PathBuf::from(path)],
        None => {
            let mut list: Vec<PathBuf> = ["/bin", "/usr/bin", "/sbin", "/usr/sbin"]
                .iter()
                .map(PathBuf::from)
                .collect();
            if let Some(path) = std::env::var_os("PATH") {
                list.extend(std::env::split_paths(&path));
            }
            list.into_iter().map(|dir| dir.join("busybox")).collect()
        }
    };
    let mut dynamic = None;
    for path in candidates {
        match is_static_elf(&path) {
            Some(true) => return Found::Static(path),
            Some(false) => dynamic = dynamic.or(Some(path)),
            None => {}
        }
    }
    dynamic.map_or(Found::None, Found::Dynamic)
}

/// `Some(true)` for a statically linked ELF executable (no program interpreter), `Some(false)`
/// for a dynamically linked one, `None` when `path` is not a readable 64-bit ELF file.
fn is_static_elf(path: &Path) -> Option<bool> {
    let mut head = vec![0u8; 64];
    let mut file = fs::File::open(path).ok()?;
    file.read_exact(&mut head).ok()?;
    // 64-bit little-endian ELF only: the architectures this talk runs on.
    if &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(head[32..40].try_into().ok()?) as usize;
    let (phentsize, phnum) = (u16_at(&head, 54), u16_at(&head, 56));
    let bytes = fs::read(path).ok()?;
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = bytes.get(at..at + 4)?;
        if u32::from_le_bytes(p_type.try_into().ok()?) == 3 {
            return Some(false); // PT_INTERP: needs ld.so
        }
    }
    Some(true)
}

/// The first line of busybox's help, e.g. `BusyBox v1.35.0 (Debian ...) multi-call binary.`
pub fn version(busybox: &Path) -> String {
    Command::new(busybox)
        .arg("--help")
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .map(|l| l.trim_end_matches(" multi-call binary.").to_string())
        })
        .unwrap_or_else(|| "unknown version".into())
}

/// Fills the empty folder `root`: folders, busybox and its applet links, a few files in /etc.
/// Returns how many applet links were made.
pub fn build(root: &Path, busybox: &Path) -> Result<usize> {
    for dir in [
        "bin",
        "sbin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home",
        "usr/bin",
        "usr/sbin",
        "usr/local/bin",
        "var/tmp",
    ] {
        fs::create_dir_all(root.join(dir))?;
    }
    for (dir, mode) in [("tmp", 0o1777), ("var/tmp", 0o1777), ("root", 0o700)] {
        fs::set_permissions(root.join(dir), fs::Permissions::from_mode(mode))?;
    }
    fs::copy(busybox, root.join("bin/busybox"))
        .with_context(|| format!("cannot copy {}", busybox.display()))?;
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755))?;

    let out = Command::new(busybox)
        .arg("--list-full")
        .output()
        .with_context(|| format!("cannot run {}", busybox.display()))?;
    if !out.status.success() {
        bail!("`{} --list-full` failed", busybox.display());
    }
    let mut links = 0;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        // Lines look like `usr/bin/awk`; a line that is not a plain relative path is ignored.
        let Ok(parts) = safe::components(Path::new(applet)) else {
            continue;
        };
        if parts.is_empty() || applet == "bin/busybox" {
            continue;
        }
        let link = root.join(applet);
        if fs::symlink_metadata(&link).is_ok() {
            continue;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        // Absolute, as Alpine does: inside the container `/bin/busybox` is this copy.
        symlink("/bin/busybox", &link)
            .with_context(|| format!("cannot link {}", link.display()))?;
        links += 1;
    }
    if !root.join("bin/sh").exists() {
        bail!("{} has no `sh` applet", busybox.display());
    }

    let files: &[(&str, &str, u32)] = &[
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
            0o644,
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644),
        ("etc/hostname", "container\n", 0o644),
        (
            "etc/hosts",
            "127.0.0.1\tlocalhost container\n::1\tlocalhost ip6-localhost\n",
            0o644,
        ),
        (
            "etc/os-release",
            "NAME=\"desde-cero\"\nID=desde-cero\nVERSION_ID=1\n\
             PRETTY_NAME=\"desde-cero busybox root filesystem\"\n",
            0o644,
        ),
        (
            "etc/profile",
            "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
             export PS1='[container] \\w \\$ '\n",
            0o644,
        ),
    ];
    for (rel, text, mode) in files {
        safe::write(root, rel, text.as_bytes(), *mode)?;
    }
    Ok(links)
}

//! `procsys`: the kernel's settings are writable from inside. Each file is opened for writing
//! and closed again without a byte written: opening is the whole test, so the host's settings
//! never change (and sysrq is never triggered).
//!
//! Where /proc or /sys is not mounted (a plain chroot), an attacker with CAP_SYS_ADMIN mounts
//! them: so does this attack, in a mount namespace of its own that ends with it.

use super::{sys, Outcome};

/// A setting of every kind: /proc/sys (the page cache: harmless, had it been written), sysrq
/// (it reboots, or crashes, the machine), and /sys (transparent huge pages, the profiler,
/// the program the kernel runs on every device event: only the first that exists).
const PROC: &[&str] = &["/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"];
const SYS: &[&str] = &[
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/kernel/profiling",
    "/sys/kernel/uevent_helper",
];

pub fn attempt() -> Outcome {
    let visible = std::path::Path::new("/proc/sys/vm").is_dir()
        && std::path::Path::new("/sys/kernel").is_dir();
    let (found, why) = try_all();
    if let Some(path) = found {
        return Outcome::through(format!("opened {path} for writing (closed unwritten)"));
    }
    if !visible {
        let mounted = |_| {
            mount_own().map_err(|e| format!("{why}; {e}"))?;
            let (found, more) = try_all();
            found.ok_or(format!("{more} (on the /proc and /sys it mounted)"))
        };
        return match sys::in_child(mounted) {
            Ok(path) => Outcome::through(format!(
                "opened {path} for writing (closed unwritten), on the /proc and /sys it mounted"
            )),
            Err(why) => Outcome::held(why),
        };
    }
    Outcome::held(why)
}

/// Opens each setting for writing: the first that opens, or why none did.
fn try_all() -> (Option<String>, String) {
    let mut why = Vec::new();
    let sys_first = SYS
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or(&SYS[0]);
    for path in PROC.iter().chain(std::iter::once(sys_first)) {
        match sys::open_close(path, libc::O_WRONLY) {
            Ok(()) => return (Some(path.to_string()), String::new()),
            Err(e) => why.push(e),
        }
    }
    (None, why.join("; "))
}

/// In the child: its own mount namespace, with a fresh /proc and /sys where there were none.
fn mount_own() -> Result<(), String> {
    sys::unshare(libc::CLONE_NEWNS, "CLONE_NEWNS")?;
    sys::private_mounts()?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    if !std::path::Path::new("/proc/sys/vm").is_dir() {
        sys::mount("proc", "/proc", "proc", flags, "")?;
    }
    if !std::path::Path::new("/sys/kernel").is_dir() {
        sys::mount("sysfs", "/sys", "sysfs", flags, "")?;
    }
    Ok(())
}

//! The root filesystem done right: pivot_root(2) instead of chroot(2), so the
//! host's root is detached and no `..` reaches it; a minimal /dev; a /proc
//! whose files that act on the whole machine are read-only or hidden; a
//! read-only /sys without the firmware's tables. Every mount is made under the
//! new root before the pivot.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::chdir;
use skeleton::{say, Result};

/// The device nodes programs expect in `/dev`, borrowed from the host.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
/// Files of `/proc` that act on the whole machine (`sysrq-trigger` can reboot
/// it, `sys` sets kernel parameters): read-only. Five of docker's six
/// ReadonlyPaths (moby's `oci/defaults.go`; `asound`, sound cards, left out).
const PROC_READ_ONLY: [&str; 5] = ["bus", "fs", "irq", "sys", "sysrq-trigger"];
/// What shows the host's kernel memory, keys, timers, sound cards, disks
/// and ACPI tables: hidden. docker's MaskedPaths, same file, with SYS_HIDDEN.
const PROC_HIDDEN: [&str; 9] = [
    "acpi",
    "asound",
    "kcore",
    "keys",
    "latency_stats",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "scsi",
];
/// sysfs's firmware tables and powercap's energy counters (which tell what
/// the CPU computes: CVE-2020-8694): hidden too.
const SYS_HIDDEN: [&str; 2] = ["firmware", "devices/virtual/powercap"];

/// What no filesystem without programs or devices needs.
const NOTHING_TO_RUN: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// The root filesystem itself becomes the new root (in full: `--no-overlay`).
pub fn bind(rootfs: &Path) -> Result<PathBuf> {
    // pivot_root(2) needs the new root to be a mount point: a bind mount of
    // the folder onto itself makes it one. Remounting the bind gives it flags
    // of its own: MS_NODEV, so a device node on it cannot be opened. Root may
    // still mknod(2) (docker keeps CAP_MKNOD and stops a node for the host's
    // disk with the devices cgroup; these slides, with nodev on every mount
    // root can write, once it may no longer mount: the next stage).
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount_fs(rootfs, rootfs, None, flags, None)?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV;
    mount_fs(rootfs, rootfs, None, flags, None)?;
    say!(
        "child: root is {} itself, writable",
        skeleton::short(rootfs)
    );
    Ok(rootfs.to_path_buf())
}

/// A minimal /dev: a tmpfs with only DEVICES, and a devpts of its own. The
/// host's /dev, with its disks and hardware, is not there.
pub fn mount_dev(root: &Path) -> Result<()> {
    let dev = root.join("dev");
    // A tmpfs is a filesystem in memory: this /dev is the container's own. The
    // bind mounts below are mounts of their own, and work despite its nodev.
    let size = Some("mode=755,size=64k");
    mount_fs("tmpfs", &dev, Some("tmpfs"), NOTHING_TO_RUN, size)?;
    for name in DEVICES {
        let node = dev.join(name);
        // A bind mount shows the host's node (the node itself, not a copy)
        // at this path too: no mknod(2), which a user namespace may not do.
        // It needs something to mount on: an empty file.
        File::create(&node).map_err(|err| io_failure("create", &node, err))?;
        let host = Path::new("/dev").join(name);
        mount_fs(&host, &node, None, MsFlags::MS_BIND, None)?;
    }
    // devpts with `newinstance`: a new set of pseudo-terminals, numbered from
    // 0, showing none of the host's; /dev/ptmx, where programs ask for one,
    // points into it.
    let pts = dev.join("pts");
    fs::create_dir(&pts).map_err(|err| io_failure("mkdir", &pts, err))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    let data = Some("newinstance,ptmxmode=0666,mode=0620");
    mount_fs("devpts", &pts, Some("devpts"), flags, data)?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let link = dev.join(link);
        symlink(target, &link)
            .map_err(|err| io_failure("symlink", &link, err))?;
    }
    Ok(())
}

/// A fresh /proc, with the files that act on the whole machine masked.
pub fn mount_proc(root: &Path) -> Result<()> {
    // A new procfs shows the processes of our PID namespace: the container's.
    let proc = root.join("proc");
    mount_fs("proc", &proc, Some("proc"), NOTHING_TO_RUN, None)?;
    // Not every kernel has every file (sysrq-trigger needs CONFIG_MAGIC_SYSRQ):
    // as runc, what is not there is skipped.
    let present = |name| Some(proc.join(name)).filter(|path| path.exists());
    for path in PROC_READ_ONLY.into_iter().filter_map(present) {
        // A bind mount of a path onto itself makes it a mount point with
        // flags of its own; the remount makes it read-only.
        mount_fs(&path, &path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount_fs(&path, &path, None, flags | NOTHING_TO_RUN, None)?;
    }
    for path in PROC_HIDDEN.into_iter().filter_map(present) {
        hide(root, &path)?;
    }
    Ok(())
}

/// sysfs shows the machine's devices and kernel settings: read-only, the
/// container can look but change nothing; SYS_HIDDEN, not even look.
pub fn mount_sys(root: &Path) -> Result<()> {
    let sys = root.join("sys");
    let flags = MsFlags::MS_RDONLY | NOTHING_TO_RUN;
    mount_fs("sysfs", &sys, Some("sysfs"), flags, None)?;
    let present = |name| Some(sys.join(name)).filter(|path| path.exists());
    for path in SYS_HIDDEN.into_iter().filter_map(present) {
        hide(root, &path)?;
    }
    Ok(())
}

/// Hides a path as runc does: a file under /dev/null, which reads as empty;
/// a folder under an empty tmpfs, read-only, so it stays empty.
fn hide(root: &Path, path: &Path) -> Result<()> {
    if path.is_dir() {
        let flags = MsFlags::MS_RDONLY | NOTHING_TO_RUN;
        return mount_fs("tmpfs", path, Some("tmpfs"), flags, Some("mode=555"));
    }
    mount_fs(root.join("dev/null"), path, None, MsFlags::MS_BIND, None)
}

/// A tmpfs (a filesystem in memory) for /tmp, writable by everyone.
pub fn mount_tmp(root: &Path) -> Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let tmp = root.join("tmp");
    mount_fs("tmpfs", &tmp, Some("tmpfs"), flags, Some("mode=1777"))
}

/// Makes `root` the root of our whole mount namespace, and detaches the host's.
pub fn pivot_root(root: &Path) -> Result<()> {
    // pivot_root(2) changes the root mount of the mount namespace, where
    // chroot(2) changed one process's idea of `/`. With "." for both (the
    // trick its man page describes), `root` becomes `/` and the old root is
    // stacked on top of it.
    chdir(root)
        .map_err(|err| skeleton::failure("chdir", err, "see chdir(2)"))?;
    nix::unistd::pivot_root(".", ".").map_err(|err| {
        skeleton::failure("pivot_root", err, "see pivot_root(2)")
    })?;
    // umount2(2) with MNT_DETACH takes the old root, the host's, off the top
    // at once; the kernel frees it when no one uses it any more. From now on
    // no path, however many `..` it has, reaches the host's files.
    umount2(".", MntFlags::MNT_DETACH).map_err(|err| {
        skeleton::failure("umount2 old root", err, "see umount2(2)")
    })?;
    chdir("/")
        .map_err(|err| skeleton::failure("chdir", err, "see chdir(2)"))?;
    say!("child: pivot_root: host's / detached; minimal /dev, masked /proc");
    Ok(())
}

/// mount(2) with the step named in the error: `source` (a device, a folder to
/// bind, or a label for filesystems without one) of type `fstype` on `target`.
pub fn mount_fs(
    source: impl AsRef<Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    // mount(2) follows a symlink at `target`: a root filesystem whose `dev`
    // is one (`dev -> /tmp`) would get its /dev mounted elsewhere, and run
    // with none. lstat(2), which does not follow it, tells.
    if fs::symlink_metadata(target).is_ok_and(|m| m.is_symlink()) {
        return Err(skeleton::Failure {
            code: skeleton::EXIT_RUNTIME,
            message: format!(
                "{} is a symlink, not a folder: refusing this root filesystem",
                target.display()
            ),
        });
    }
    mount(Some(source.as_ref()), target, fstype, flags, data).map_err(|err| {
        let step = format!("mount {}", target.display());
        skeleton::failure(&step, err, "is that folder in the root filesystem?")
    })
}

/// A failed file operation as a one-line runtime failure.
pub fn io_failure(
    step: &str,
    path: &Path,
    err: io::Error,
) -> skeleton::Failure {
    let errno = Errno::from_raw(err.raw_os_error().unwrap_or(0));
    let step = format!("{step} {}", path.display());
    skeleton::failure(&step, errno, "see the folder's permissions")
}

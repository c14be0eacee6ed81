//! The spec's mounts, in its order, under the new root (config.md,
//! "Mounts"): each a mount(2) of its type and options, bind mounts of the
//! host's files too (podman's /etc/hosts, /etc/resolv.conf...); then
//! linux.devices bound from the host, as pivot's /dev, and, once the root
//! is /, maskedPaths hidden and readonlyPaths made read-only.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use skeleton::Result;

use crate::rootfs::{io_failure, mount_fs};
use crate::spec::{Mount, Spec};

const DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// Every entry of `mounts`, then linux.devices.
pub fn mount_all(root: &Path, spec: &Spec) -> Result<()> {
    for mount in &spec.mounts {
        mount_one(root, mount)?;
    }
    // The spec's devices, and the six every container has (runc adds
    // them to any list, as pivot's /dev has them).
    let usual = DEVICES.iter().map(|d| d.to_string());
    let mut devices: Vec<String> = usual.chain(spec.devices.clone()).collect();
    devices.dedup();
    for device in &devices {
        let node = inside(root, device);
        if !node.exists() {
            fs::File::create(&node)
                .map_err(|e| io_failure("create", &node, e))?;
        }
        mount_fs(device, &node, None, MsFlags::MS_BIND, None)?;
    }
    // The links every /dev has (runc makes the same).
    for (link, target) in [
        ("dev/ptmx", "pts/ptmx"),
        ("dev/fd", "/proc/self/fd"),
        ("dev/stdin", "/proc/self/fd/0"),
        ("dev/stdout", "/proc/self/fd/1"),
        ("dev/stderr", "/proc/self/fd/2"),
    ] {
        let link = root.join(link);
        if fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(target, &link)
                .map_err(|err| io_failure("symlink", &link, err))?;
        }
    }
    // root.readonly: the root itself, bound on itself, made read-only.
    if spec.readonly {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount_fs(root, root, None, flags, None)?;
    }
    Ok(())
}

fn mount_one(root: &Path, mount: &Mount) -> Result<()> {
    let target = inside(root, &mount.destination);
    let (flags, propagation, data) = options(&mount.options);
    let bind = mount.kind == "bind" || flags.contains(MsFlags::MS_BIND);
    make_target(&target, bind && !Path::new(&mount.source).is_dir())?;
    if mount.kind == "cgroup" {
        // The host's cgroup trees, as full mounts them (cgroup_ns.rs).
        return crate::cgroup_ns::mount_cgroup(root);
    }
    let data = (!data.is_empty()).then_some(data.as_str());
    if bind {
        mount_fs(&mount.source, &target, None, flags, None)?;
        // A bind mount takes its other flags on a second call (mount(2)).
        let rest = flags - MsFlags::MS_BIND - MsFlags::MS_REC;
        if !rest.is_empty() {
            let again = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | rest;
            mount_fs(&target, &target, None, again, None)?;
        }
    } else {
        let kind = Some(mount.kind.as_str());
        mount_fs(&mount.source, &target, kind, flags, data)?;
    }
    if !propagation.is_empty() {
        mount_fs("none", &target, None, propagation, None)?;
    }
    Ok(())
}

/// A destination under the root: never `..` out of it.
fn inside(root: &Path, destination: &str) -> PathBuf {
    let parts = Path::new(destination)
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)));
    root.join(parts.collect::<PathBuf>())
}

/// The mount point, a folder, or an empty file for a file bound on it.
fn make_target(target: &Path, file: bool) -> Result<()> {
    if fs::symlink_metadata(target).is_ok() {
        return Ok(());
    }
    let parent = target.parent().unwrap_or(target);
    fs::create_dir_all(parent).map_err(|e| io_failure("mkdir", parent, e))?;
    let made = match file {
        true => fs::File::create(target).map(drop),
        false => fs::create_dir(target),
    };
    made.map_err(|err| io_failure("create", target, err))
}

/// A mount's options: its flags, its propagation, and the rest, which the
/// filesystem reads (mode=755, size=65536k...), as mount(8) splits them.
fn options(options: &[String]) -> (MsFlags, MsFlags, String) {
    let (mut flags, mut propagation) = (MsFlags::empty(), MsFlags::empty());
    let mut data = Vec::new();
    for option in options {
        match option.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "private" => propagation |= MsFlags::MS_PRIVATE,
            "rprivate" => propagation |= MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            "slave" => propagation |= MsFlags::MS_SLAVE,
            "rslave" => propagation |= MsFlags::MS_SLAVE | MsFlags::MS_REC,
            "shared" => propagation |= MsFlags::MS_SHARED,
            "rshared" => propagation |= MsFlags::MS_SHARED | MsFlags::MS_REC,
            "unbindable" => propagation |= MsFlags::MS_UNBINDABLE,
            "runbindable" => {
                propagation |= MsFlags::MS_UNBINDABLE | MsFlags::MS_REC
            }
            // The defaults, named: nothing to set.
            "rw" | "suid" | "dev" | "exec" | "async" | "atime" | "diratime"
            | "norelatime" => {}
            other => data.push(other),
        }
    }
    (flags, propagation, data.join(","))
}

/// Under the new root: linux.maskedPaths hidden (an empty read-only tmpfs on
/// a folder, /dev/null on a file) and linux.readonlyPaths bound read-only.
pub fn mask_paths(spec: &Spec) -> Result<()> {
    for path in spec.masked.iter().map(Path::new).filter(|p| p.exists()) {
        if path.is_dir() {
            let flags = MsFlags::MS_RDONLY;
            mount_fs("tmpfs", path, Some("tmpfs"), flags, None)?;
        } else {
            mount_fs("/dev/null", path, None, MsFlags::MS_BIND, None)?;
        }
    }
    for path in spec.readonly_paths.iter().map(Path::new) {
        if !path.exists() {
            continue;
        }
        let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount_fs(path, path, None, flags, None)?;
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        mount_fs(path, path, None, flags, None)?;
    }
    Ok(())
}

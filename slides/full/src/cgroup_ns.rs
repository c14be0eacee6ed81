//! A cgroup namespace: the container sees its own cgroup as `/`, and that
//! group alone, read-only, at /sys/fs/cgroup.

use std::fs;
use std::path::Path;

use nix::mount::MsFlags;
use nix::sched::{unshare, CloneFlags};
use skeleton::Result;

use crate::rootfs::{io_failure, mount_fs};

/// Enters a new cgroup namespace, rooted at the group we are in.
pub fn unshare_cgroup() -> Result<()> {
    // unshare(2) with CLONE_NEWCGROUP roots the new namespace at the cgroup we
    // are in: the container's, which the parent moved us into before letting
    // us go. /proc/self/cgroup then reads `/`. (The flag given to clone(2)
    // would root it at the parent's group, where the child was then.)
    unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|err| {
        skeleton::failure("unshare", err, &skeleton::root_hint())
    })
}

/// Mounts the container's cgroup at `<root>/sys/fs/cgroup`, read-only. In the
/// new cgroup namespace, a cgroup filesystem mounted from inside has the
/// container's group as its root: its limits can be read, not changed, and
/// no other group is visible.
pub fn mount_cgroup(root: &Path) -> Result<()> {
    let dir = root.join("sys/fs/cgroup");
    let read_only = MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    // /proc/self/cgroup has a line `id:controllers:path` per hierarchy; v2's
    // is `0::path`.
    let lines = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if lines.lines().all(|line| line.starts_with("0::")) {
        // cgroup v2: one tree for every controller.
        return mount_fs("cgroup2", &dir, Some("cgroup2"), read_only, None);
    }
    // cgroup v1 (or hybrid): a tmpfs with a folder per tree, each mounted with
    // the controllers it has on the host (e.g. `cpu,cpuacct`), or the kernel
    // would refuse; then the tmpfs is made read-only too.
    let writable = read_only - MsFlags::MS_RDONLY;
    mount_fs("tmpfs", &dir, Some("tmpfs"), writable, Some("mode=755"))?;
    for controllers in lines.lines().filter_map(|line| line.split(':').nth(1)) {
        // Skip the hybrid's v2 tree, and systemd's tree without controllers.
        if controllers.is_empty() || controllers.starts_with("name=") {
            continue;
        }
        let tree = dir.join(controllers);
        fs::create_dir(&tree).map_err(|err| io_failure("mkdir", &tree, err))?;
        let kind = Some("cgroup");
        mount_fs("cgroup", &tree, kind, read_only, Some(controllers))?;
    }
    let remount = MsFlags::MS_REMOUNT | read_only;
    mount_fs(&dir, &dir, None, remount, Some("mode=755"))
}

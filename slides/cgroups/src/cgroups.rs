//! The container's cgroup (cgroups(7)): in v2, a folder with a file per limit.
//! Where it goes and errors: cgroups_support.rs; v1 trees: cgroups_v1.rs.

use skeleton::{say, Result, Spawn};
use std::{os::fd::AsFd, path::Path};
pub use support::{Cgroup, Limits};

impl Cgroup {
    /// Makes the group `desde-cero-<our pid>` beside ours; writes its limits.
    pub fn create(limits: &Limits) -> Result<Cgroup> {
        let Some(base) = support::base_group()? else {
            return v1::create(limits);
        };
        // mkdir(2) there makes a group; the kernel fills it with its files.
        let cgroup = support::mkdir(&base, limits)?;
        write_limits(&base, &cgroup.dirs[0], limits)?;
        Ok(cgroup)
    }

    /// Has the child born in the group: clone3(2) with CLONE_INTO_CGROUP.
    pub fn join<'a>(&'a self, spawn: Spawn<'a>) -> Spawn<'a> {
        let Some(dir) = &self.dir else {
            return v1::join(&self.dirs, spawn);
        };
        say!("parent: clone3 with CLONE_INTO_CGROUP: the child is born in it");
        spawn.clone_with(|flags, run| support::clone3(flags, dir.as_fd(), run))
    }
}

/// Writes each limit whose controller `base` enables for its children.
pub fn write_limits(base: &Path, dir: &Path, limits: &Limits) -> Result<()> {
    let mut shown = Vec::new();
    if support::has(base, "cgroup.subtree_control", "pids") {
        // fork(2) and clone(2) fail with EAGAIN past this many tasks.
        shown.push(support::write(dir, "pids.max", limits.pids)?);
    }
    if support::has(base, "cgroup.subtree_control", "memory") {
        // Past it the kernel reclaims, then its OOM killer kills in the group.
        shown.push(support::write(dir, "memory.max", limits.memory)?);
        support::no_swap(dir)?;
    }
    if support::has(base, "cgroup.subtree_control", "cpu") {
        // Its quota in every period, then throttled until the next one.
        let max = format!("{} {}", limits.cpu_quota_us, support::CPU_PERIOD_US);
        shown.push(support::write(dir, "cpu.max", max)?);
    }
    say!("parent: {}", shown.join(", "));
    Ok(())
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        support::remove(&self.dirs, &self.shown());
    }
}

#[path = "cgroups_support.rs"]
pub mod support;
#[path = "cgroups_v1.rs"]
mod v1;

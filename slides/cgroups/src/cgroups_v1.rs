//! cgroup v1, set aside: not the lesson path, but what hybrid hosts still use.
//!
//! v1 mounts a tree per controller (/sys/fs/cgroup/pids, /memory, /cpu);
//! "hybrid" hosts mount those and an empty v2 tree at /sys/fs/cgroup/unified.
//! The steps are cgroups.rs's, but the container gets a group in each tree
//! (all named `desde-cero-<our pid>`), and some files have other names.
//!
//! Man pages: cgroups(7); the kernel's admin-guide/cgroup-v1/*.rst.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
use skeleton::{say, Result, Spawn};

use super::support::{
    errno, is_mounted, make_group, missing, write, Cgroup, Limits, CONTROLLERS,
    CPU_PERIOD_US, ROOT,
};

/// Where v1 counts the OOM killer's kills (`oom_kill N`).
pub(super) const OOM_FILE: &str = "memory.oom_control";

/// Makes the container's group in the tree of each controller, and writes
/// its limits.
pub(super) fn create(limits: &Limits) -> Result<Cgroup> {
    let mut cgroup = Cgroup {
        dirs: Vec::new(),
        dir: None,
        limits: *limits,
        _back: None,
    };
    let mut shown = Vec::new();
    for controller in CONTROLLERS {
        let tree = Path::new(ROOT).join(controller);
        if !is_mounted(&tree, CGROUP_SUPER_MAGIC) {
            let fix = format!(
                "mount it: `mount -t cgroup -o {controller} cgroup {}`",
                tree.display()
            );
            missing(controller, &fix)?;
            continue;
        }
        // v1 allows processes in any group, so ours goes below the runtime's.
        let dir = make_group(&tree.join(own_group(controller)), &mut cgroup)?;
        match controller {
            "pids" => shown.push(write(&dir, "pids.max", limits.pids)?),
            "memory" => {
                let bytes = limits.memory;
                shown.push(write(&dir, "memory.limit_in_bytes", bytes)?);
                // memsw is memory and swap together: the same limit leaves
                // no swap. The file exists only where the kernel counts swap.
                if dir.join("memory.memsw.limit_in_bytes").exists() {
                    write(&dir, "memory.memsw.limit_in_bytes", bytes)?;
                }
            }
            _ => {
                write(&dir, "cpu.cfs_period_us", CPU_PERIOD_US)?;
                let quota = limits.cpu_quota_us;
                shown.push(write(&dir, "cpu.cfs_quota_us", quota)?);
            }
        }
    }
    let unified = Path::new(ROOT).join("unified");
    let layout = match is_mounted(&unified, CGROUP2_SUPER_MAGIC) {
        true => "v1 (hybrid)",
        false => "v1",
    };
    say!(
        "parent: cgroup {layout}: mkdir {}",
        shown_dirs(&cgroup.dirs)
    );
    say!("parent: {}", shown.join(", "));
    Ok(cgroup)
}

/// v1 has no clone3(2) into a group: the child joins by itself, as soon as it
/// is born, before its first step.
pub(super) fn join<'a>(dirs: &'a [PathBuf], spawn: Spawn<'a>) -> Spawn<'a> {
    say!("parent: the child's first step: echo 0 > tasks, in each tree");
    // 0 is the writer itself, and `tasks` moves one thread (the child has
    // one): a single thread moving itself is the one move that skips the lock
    // that forks and exits take and moving by pid (cgroup.procs) waits on.
    // The files are opened here, by us: the kernel checks a write to `tasks`
    // against whoever opened it, and a child in a user namespace may not be
    // root on the host any more (full --rootless, userns.rs).
    let tasks: Vec<_> = dirs.iter().map(|dir| dir.join("tasks")).collect();
    let open = |path| fs::OpenOptions::new().write(true).open(path);
    let files: Vec<_> = tasks.iter().map(open).collect();
    spawn.at_birth(move || {
        tasks.iter().zip(&files).try_for_each(|(path, file)| {
            let written = match file.as_ref() {
                Ok(mut file) => file.write_all(b"0").map_err(|e| errno(&e)),
                Err(err) => Err(errno(err)),
            };
            written.map_err(|err| {
                let step = format!("echo 0 > {}", path.display());
                skeleton::failure(&step, err, &skeleton::root_hint())
            })
        })
    })
}

/// The runtime's own group in a controller's tree: the path of the line
/// `id:controllers:path` of /proc/self/cgroup that names the controller.
fn own_group(controller: &str) -> PathBuf {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let path = text
        .lines()
        .filter_map(|line| line.split_once(':')?.1.split_once(':'))
        .find(|(names, _)| names.split(',').any(|c| c == controller))
        .map_or("", |(_, path)| path);
    PathBuf::from(path.trim_start_matches('/'))
}

/// The groups, for a teaching line: `desde-cero-42 in pids, memory, cpu`
/// (their full paths are 100 columns and more).
pub(super) fn shown_dirs(dirs: &[PathBuf]) -> String {
    let trees: Vec<_> = dirs
        .iter()
        .filter_map(|dir| dir.strip_prefix(ROOT).ok()?.iter().next())
        .map(|tree| tree.to_string_lossy())
        .collect();
    let name = dirs.first().and_then(|d| d.file_name()).unwrap_or_default();
    format!("{} in {}", name.to_string_lossy(), trees.join(", "))
}

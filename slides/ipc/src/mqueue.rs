//! The container's POSIX message queues, as files: mq_overview(7),
//! ipc_namespaces(7) ("/proc interfaces"), mount(2).

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use skeleton::Result;

/// Mounts an mqueue filesystem at `<root>/dev/mqueue`, as docker and runc do:
/// it lists the queues of the IPC namespace of the process that mounts it,
/// ours, so a student sees the container's queues there and none of the
/// host's.
pub fn mount_mqueue(root: &Path) -> Result<()> {
    let dir = root.join("dev/mqueue");
    // Its mount point: `cargo xtask rootfs` makes it; an older root
    // filesystem gets it here.
    match fs::create_dir(&dir) {
        Err(err) if err.kind() != ErrorKind::AlreadyExists => {
            let errno = Errno::from_raw(err.raw_os_error().unwrap_or(0));
            let step = format!("mkdir {}", dir.display());
            return Err(skeleton::failure(&step, errno, "see mkdir(2)"));
        }
        _ => {}
    }
    // Queues are not programs or devices: nothing to run, no device node.
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("mqueue"), &dir, Some("mqueue"), flags, None::<&str>)
        .map_err(|err| skeleton::failure("mount mqueue", err, "see mount(2)"))
}

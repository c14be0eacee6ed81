//! A /proc of the container's own: proc(5), pid_namespaces(7) ("/proc and
//! PID namespaces"), mount(2).

use skeleton::{say, Result};

/// Mounts a procfs of the container's own at `/proc`.
pub fn mount_proc() -> Result<()> {
    use nix::mount::{mount, MsFlags};
    // A new procfs shows the processes of the PID namespace of the process that
    // mounts it: ours, so only the container's.
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|err| {
        skeleton::failure("mount /proc", err, "is there a /proc folder?")
    })?;
    say!("child: mounted a fresh /proc in a new mount namespace");
    Ok(())
}

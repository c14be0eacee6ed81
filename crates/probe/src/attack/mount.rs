//! `mount`: a filesystem can be mounted from inside. A small tmpfs on a fresh folder, unmounted
//! and the folder removed at once. Without a mount namespace of its own, that is a mount on the
//! host, which is the point: for a moment, every process of the machine could see it.

use super::{sys, Outcome};

pub fn attempt() -> Outcome {
    let name = format!(".probe-mount-{}", sys::pid());
    let dir = match sys::scratch_dir(&["/tmp", "/dev", "/"], &name) {
        Ok(dir) => dir,
        Err(why) => return Outcome::held(format!("no folder to mount on ({why})")),
    };
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let outcome = match sys::mount("none", &dir, "tmpfs", flags, "size=4k") {
        Ok(()) => match sys::umount(&dir) {
            Ok(()) => Outcome::through(format!("mounted a tmpfs on {dir} (and unmounted it)")),
            Err(why) => Outcome::through(format!("mounted a tmpfs on {dir}, LEFT MOUNTED: {why}")),
        },
        Err(why) => Outcome::held(why),
    };
    let _ = sys::rmdir(&dir);
    outcome
}

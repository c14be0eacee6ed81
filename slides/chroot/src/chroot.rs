//! The container's root filesystem as our `/`: chroot(2), chdir(2),
//! path_resolution(7).

use skeleton::{say, Result};

/// Makes the container's root filesystem our `/`.
pub fn change_root() -> Result<()> {
    use nix::unistd::{chdir, chroot};
    let rootfs = skeleton::rootfs()?;
    // chroot(2) changes our root directory: from now on every absolute path,
    // the command's and those in its PATH included, resolves inside the root
    // filesystem.
    chroot(&rootfs).map_err(|err| {
        skeleton::failure("chroot", err, &skeleton::root_hint())
    })?;
    // chroot does not move the current directory, still outside the new root:
    // go to the new `/`, or relative paths would still reach the host's files.
    chdir("/")
        .map_err(|err| skeleton::failure("chdir", err, "see chdir(2)"))?;
    say!("child: root is now {}", skeleton::short(&rootfs));
    Ok(())
}

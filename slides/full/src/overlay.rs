//! A copy-on-write overlay whose changes live in the container's memory: a
//! tmpfs of `--disk` bytes, mounted in the container's own mount namespace.
//! `rm -rf /bin` inside leaves the shared root filesystem intact, writes stop
//! at the size, `df /` shows it, and nothing is made on the host: nothing to
//! clean after a `kill -9`, no name another user could take first.

use std::fs::{self, File, Permissions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use nix::mount::MsFlags;
use skeleton::{say, Result};

use crate::options::Options;
use crate::rootfs::{io_failure, mount_fs};

/// In the child, once its mounts are private: mounts the overlay of the root
/// filesystem on the root filesystem's own folder, and returns it: the new
/// root. The host sees none of it.
pub fn mount(options: &Options) -> Result<PathBuf> {
    let rootfs = &options.rootfs;
    // The lower layer, the root filesystem, is never written. It is opened
    // first: the tmpfs below covers its path, but not this descriptor.
    let lower =
        File::open(rootfs).map_err(|e| io_failure("open", rootfs, e))?;
    // A tmpfs keeps its files in memory, charged to the memory cgroup of the
    // process that writes them: the container's, which we joined before our
    // first step. `size` bounds it: past it, writes fail with ENOSPC. It is
    // mounted in our mount namespace only (private), and goes with it.
    let size = format!("size={},mode=755", options.disk);
    mount_fs(
        "tmpfs",
        rootfs,
        Some("tmpfs"),
        MsFlags::MS_NODEV,
        Some(&size),
    )?;
    // `upper` takes every change (a changed file is copied up first, a
    // deleted one is hidden by a marker); `work` is overlayfs's scratch space.
    // 0755, whatever the umask: the overlay's `/` takes its mode from `upper`.
    let (upper, work) = (rootfs.join("upper"), rootfs.join("work"));
    for dir in [&upper, &work] {
        fs::create_dir(dir)
            .and_then(|()| {
                fs::set_permissions(dir, Permissions::from_mode(0o755))
            })
            .map_err(|err| io_failure("mkdir", dir, err))?;
    }
    let mut layers = format!(
        "lowerdir=/proc/self/fd/{},upperdir={},workdir={}",
        lower.as_raw_fd(),
        upper.display(),
        work.display()
    );
    // In a user namespace overlayfs may not write its bookkeeping into
    // `trusted.*` extended attributes, which only host root may: `userxattr`
    // has it use `user.*` ones.
    if options.rootless {
        layers.push_str(",userxattr");
    }
    // On the same folder, on top of the tmpfs. MS_NODEV: device nodes on it
    // cannot be opened (see rootfs::bind).
    let nodev = MsFlags::MS_NODEV;
    mount_fs("overlay", rootfs, Some("overlay"), nodev, Some(&layers))?;
    say!(
        "child: overlay: changes go to a tmpfs of {}M, not the rootfs",
        options.disk >> 20
    );
    Ok(rootfs.to_path_buf())
}

//! A copy-on-write overlay: the container writes into a folder of its own on
//! the host, removed on exit, so `rm -rf /bin` inside leaves the shared root
//! filesystem intact and the next container starts from it untouched.

use std::fs::{self, DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process;

use nix::mount::MsFlags;
use nix::unistd::{chown, Pid, Uid};
use skeleton::{say, Result};

use crate::options::Options;
use crate::rootfs::{io_failure, mount_fs};

/// The folder is this prefix and the runtime's pid; `cargo xtask clean` finds
/// the folders a runtime killed with SIGKILL left, by the prefix.
const PREFIX: &str = "/tmp/desde-cero-overlay-";

/// The overlay's folder on the host: `upper` (the container's changes),
/// `work` (overlayfs's scratch space) and `root` (where the merged view is
/// mounted). Dropping it removes the folder.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Makes the folder.
    pub fn create() -> Result<Scratch> {
        let dir = PathBuf::from(format!("{PREFIX}{}", process::id()));
        // Mode 0700: no other user of the host may read the container's files.
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|err| io_failure("mkdir", &dir, err))?;
        let scratch = Scratch(dir);
        for sub in subfolders(&scratch.0) {
            // 0755, whatever the umask: the overlay's `/` takes its mode from
            // `upper`, and every user of the container must be able to enter.
            fs::create_dir(&sub)
                .and_then(|()| {
                    fs::set_permissions(&sub, Permissions::from_mode(0o755))
                })
                .map_err(|err| io_failure("mkdir", &sub, err))?;
        }
        Ok(scratch)
    }

    /// `--rootless`: container root mounts the overlay, and may not be root
    /// on the host. The folder becomes its own: the host uid that 0 has in
    /// the child's uid_map (`0 <uid outside> 1`), just written.
    pub fn give_to(&self, child: Pid) -> Result<()> {
        let map = fs::read_to_string(format!("/proc/{child}/uid_map"));
        let map = map.unwrap_or_default();
        let uid = map.split_whitespace().nth(1).and_then(|id| id.parse().ok());
        let uid = Some(Uid::from_raw(uid.unwrap_or(0)));
        for path in subfolders(&self.0).iter().chain([&self.0]) {
            chown(path, uid, None).map_err(|err| {
                let step = format!("chown {}", path.display());
                skeleton::failure(&step, err, &skeleton::root_hint())
            })?;
        }
        Ok(())
    }

    /// The folder, for the child to mount.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// The overlay's three folders in `dir`.
fn subfolders(dir: &Path) -> [PathBuf; 3] {
    ["upper", "work", "root"].map(|name| dir.join(name))
}

/// In the child: mounts the overlay of `rootfs` and the folder `dir` made by
/// the parent, and returns where the merged view is: the new root.
pub fn mount(options: &Options, dir: &Path) -> Result<PathBuf> {
    let rootfs = &options.rootfs;
    // overlayfs shows the root filesystem (the lower layer, never written)
    // merged with the empty `upper`, where every change goes: a changed file
    // is copied up first, a deleted one is hidden by a marker.
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    let mut layers = format!(
        "lowerdir={},upperdir={},workdir={}",
        rootfs.display(),
        upper.display(),
        work.display()
    );
    // In a user namespace overlayfs may not write its bookkeeping into
    // `trusted.*` extended attributes, which only host root may: `userxattr`
    // has it use `user.*` ones.
    if options.rootless {
        layers.push_str(",userxattr");
    }
    // MS_NODEV: device nodes on it cannot be opened (see rootfs::bind).
    let root = dir.join("root");
    mount_fs(
        "overlay",
        &root,
        Some("overlay"),
        MsFlags::MS_NODEV,
        Some(&layers),
    )?;
    say!(
        "child: overlay: changes go to {}, not the rootfs",
        dir.display()
    );
    Ok(root)
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // The overlay was mounted in the child's mount namespace only, which
        // ended with it. overlayfs leaves `work/work` with mode 000 (and the
        // container may have made folders like it): without root, their owner
        // must open them before removing what is inside.
        let removed = fs::remove_dir_all(&self.0).or_else(|_| {
            open_up(&self.0);
            fs::remove_dir_all(&self.0)
        });
        if let Err(err) = removed {
            let dir = self.0.display();
            let name = skeleton::name();
            eprintln!(
                "{name}: remove {dir}: {err} — `cargo xtask clean` removes it"
            );
        }
    }
}

/// Gives the owner of every folder under `dir` (`dir` included) full access.
fn open_up(dir: &Path) {
    let _ = fs::set_permissions(dir, Permissions::from_mode(0o700));
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        // file_type does not follow symbolic links: only real folders.
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            open_up(&entry.path());
        }
    }
}

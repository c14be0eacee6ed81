//! Mounts of our own, that reach no one else's table: mount_namespaces(7)
//! ("Shared subtrees"), mount(2).

use skeleton::Result;

/// Keeps our mounts to ourselves, before we mount anything.
pub fn make_mounts_private() -> Result<()> {
    use nix::mount::{mount, MsFlags};
    // Our mount table is a copy of the host's, and mounts shared there (systemd
    // mounts `/` shared) still propagate both ways. MS_PRIVATE with MS_REC cuts
    // every mount loose, so nothing we mount or unmount reaches the host.
    let flags = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).map_err(|err| {
        skeleton::failure(
            "mount --make-rprivate /",
            err,
            &skeleton::root_hint(),
        )
    })
}

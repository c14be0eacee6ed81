//! The bait a careless runtime would leak to its container, as the host lays it out for the
//! probe's attacks (`probe attack <name>`): a key in root's user keyring, a block device the
//! host can open, the sizes of the host's filesystems, and the host's network namespace. The
//! test helpers (crates/testkit) and `cargo xtask matrix` both lay it as [`Bait`], so they bait
//! the same way.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// add_key(2) of a `user` key into root's user keyring; `None` when the kernel refuses.
pub fn add_key(description: &str, payload: &str) -> Option<libc::c_long> {
    const KEY_SPEC_USER_KEYRING: libc::c_long = -4;
    let kind = std::ffi::CString::new("user").ok()?;
    let description = std::ffi::CString::new(description).ok()?;
    // SAFETY: two NUL-terminated strings and a payload buffer of the given length, all alive
    // for the call; the kernel copies them (nix has no add_key).
    let key = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            description.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            KEY_SPEC_USER_KEYRING,
        )
    };
    (key >= 0).then_some(key as libc::c_long)
}

/// keyctl(2) KEYCTL_INVALIDATE: the key is gone from every keyring at once.
pub fn invalidate_key(key: libc::c_long) {
    const KEYCTL_INVALIDATE: libc::c_long = 21;
    // SAFETY: keyctl(2) with integer arguments only, no memory passed (nix has no keyctl).
    unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_INVALIDATE, key) };
}

/// The host's disk (the device of `/`) when host root can open it; else `loop0`'s; else none.
/// Some virtual machines refuse even host root its disk: a device the host cannot open could
/// not show the attack working anywhere.
pub fn openable_block_device() -> Option<String> {
    let root = fs::metadata("/").ok()?.dev();
    [(libc::major(root), libc::minor(root)), (7, 0)]
        .into_iter()
        .find(|(major, minor)| {
            let uevent = fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"));
            let name = uevent.ok().and_then(|u| {
                u.lines()
                    .find_map(|l| l.strip_prefix("DEVNAME=").map(String::from))
            });
            name.is_some_and(|name| {
                fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(Path::new("/dev").join(name))
                    .is_ok()
            })
        })
        .map(|(major, minor)| format!("{major}:{minor}"))
}

/// A filesystem's size in bytes, as the probe computes it from statfs(2).
pub fn disk_size(path: &Path) -> Option<u64> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statfs is plain data; all-zero is a valid value for it.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is NUL-terminated, buf is writable.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut buf) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between libcs
    let (blocks, frsize, bsize) = (buf.f_blocks as u64, buf.f_frsize as u64, buf.f_bsize as u64);
    Some(blocks * if frsize == 0 { bsize } else { frsize })
}

/// The inode of the host's network namespace (ours), which the `route` attack compares with its
/// own: in the host's network it sends no Router Advertisement.
pub fn net_namespace() -> Option<u64> {
    fs::metadata("/proc/self/ns/net").ok().map(|m| m.ino())
}

/// The bait laid on the host around a marker file (a file only the host has): the marker's
/// folder open, a key in root's keyring, a block device, the sizes of the host's disks. The key
/// is taken back when dropped; the marker is its maker's.
pub struct Bait {
    /// The host's marker file.
    pub marker: PathBuf,
    /// The marker's folder, open: handed to the stage as descriptor [`Bait::FD`].
    dir: OwnedFd,
    /// The key added to root's user keyring, if the kernel took it.
    key: Option<libc::c_long>,
    /// A block device of the host that host root can open, `MAJ:MIN`.
    pub dev: Option<String>,
    /// The sizes of the host's filesystems a container's writes could land on.
    pub disks: Vec<u64>,
}

impl Bait {
    /// The inherited descriptor, as in `exec 7</tmp`.
    pub const FD: libc::c_int = 7;
    /// The variable set in the stage's environment (the probe's `attack::environ::VARIABLE`).
    pub const VARIABLE: &'static str = "DESDE_CERO_SECRET";
    /// The key's description (the probe's `attack::keyring::DESCRIPTION`).
    pub const KEY: &'static str = "desde-cero-secret";

    /// Lays the bait around `marker`, with the sizes of the filesystems of `disks`; an error
    /// when the marker's folder cannot be opened.
    pub fn lay(marker: &Path, disks: &[&Path]) -> std::io::Result<Bait> {
        let dir = fs::File::open(marker.parent().unwrap_or(Path::new("/")))?.into();
        Ok(Bait {
            marker: marker.to_path_buf(),
            dir,
            key: add_key(Bait::KEY, "the host's secret"),
            dev: openable_block_device(),
            disks: disks.iter().filter_map(|p| disk_size(p)).collect(),
        })
    }

    /// `<stage> run [stage_args...] <probe> attack <name>` with the bait's arguments,
    /// environment and descriptor.
    pub fn command(&self, stage: &Path, stage_args: &[&str], probe: &Path, name: &str) -> Command {
        let mut cmd = Command::new(stage);
        cmd.arg("run")
            .args(stage_args)
            .arg(probe)
            .args(["attack", name, "--host-marker"])
            .arg(&self.marker);
        if let Some(dev) = &self.dev {
            cmd.args(["--host-dev", dev]);
        }
        if !self.disks.is_empty() {
            let sizes: Vec<String> = self.disks.iter().map(u64::to_string).collect();
            cmd.args(["--host-disk", &sizes.join(",")]);
        }
        if let Some(net) = net_namespace() {
            cmd.args(["--host-net", &net.to_string()]);
        }
        cmd.env(Bait::VARIABLE, "the host's secret");
        let fd = self.dir.as_raw_fd();
        // SAFETY: pre_exec's closure runs between fork and exec, where only async-signal-safe
        // calls are sound: it makes one, dup2(2), and allocates nothing. (`fd` closed meanwhile
        // would only make dup2 fail.)
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, Bait::FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }
}

impl Drop for Bait {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            invalidate_key(key);
        }
    }
}

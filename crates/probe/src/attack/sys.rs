//! The few system calls the attacks share, wrapped once: errors as one line with the errno's
//! name, and a child process to try what must not change the probe itself (namespaces, ids).

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::procfs;

/// How long an attack's child process may take before it is killed.
pub const LIMIT: Duration = Duration::from_secs(10);

/// The last system call's error as `what: EPERM (Operation not permitted)`.
pub fn error(what: &str) -> String {
    let err = io::Error::last_os_error();
    format!("{what}: {}", procfs::describe(&err))
}

/// A path for a system call.
pub fn c(path: &str) -> Result<CString, String> {
    CString::new(path).map_err(|_| format!("{path}: NUL in path"))
}

/// `open(path, flags)`, closed again at once: whether it could be opened, and if not why.
pub fn open_close(path: &str, flags: libc::c_int) -> Result<(), String> {
    let p = c(path)?;
    // SAFETY: p is NUL-terminated; the descriptor is closed right away.
    let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOCTTY) };
    if fd < 0 {
        return Err(error(path));
    }
    // SAFETY: fd was just opened here and is not used again.
    unsafe { libc::close(fd) };
    Ok(())
}

/// `mkdir(path, 0700)`.
pub fn mkdir(path: &str) -> Result<(), String> {
    let p = c(path)?;
    // SAFETY: p is NUL-terminated.
    if unsafe { libc::mkdir(p.as_ptr(), 0o700) } != 0 {
        return Err(error(&format!("mkdir {path}")));
    }
    Ok(())
}

/// `rmdir(path)`.
pub fn rmdir(path: &str) -> Result<(), String> {
    let p = c(path)?;
    // SAFETY: p is NUL-terminated.
    if unsafe { libc::rmdir(p.as_ptr()) } != 0 {
        return Err(error(&format!("rmdir {path}")));
    }
    Ok(())
}

/// `mount(source, target, fstype, flags, data)`.
pub fn mount(
    source: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> Result<(), String> {
    let (s, t, f, d) = (c(source)?, c(target)?, c(fstype)?, c(data)?);
    // SAFETY: every pointer is to a NUL-terminated string that outlives the call.
    let rc = unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), flags, d.as_ptr().cast()) };
    if rc != 0 {
        return Err(error(&format!("mount {fstype} on {target}")));
    }
    Ok(())
}

/// `umount2(target, MNT_DETACH)`.
pub fn umount(target: &str) -> Result<(), String> {
    let t = c(target)?;
    // SAFETY: t is NUL-terminated.
    if unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(error(&format!("umount {target}")));
    }
    Ok(())
}

/// `unshare(flags)`, named for the error.
pub fn unshare(flags: libc::c_int, name: &str) -> Result<(), String> {
    // SAFETY: unshare takes no pointers; it runs in a child process of the probe.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(error(&format!("unshare({name})")));
    }
    Ok(())
}

/// A private copy of the mount namespace's mounts: what is mounted from here on stays here.
/// Call it right after unshare(CLONE_NEWNS), in a child process.
///
/// In a plain chroot `/` is a folder, not a mount, and cannot be made private; the mount it is
/// on (the host's, shared with the host's namespace) can, from the top of the namespace: the
/// child climbs out as the chroot escape does, makes every mount private, and goes back.
pub fn private_mounts() -> Result<(), String> {
    if make_private().is_ok() {
        return Ok(());
    }
    let root = c("/")?;
    // SAFETY: root is NUL-terminated; the descriptor is closed below.
    let here = unsafe {
        libc::open(
            root.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if here < 0 {
        return Err(error("open /"));
    }
    let dir = scratch_dir(&["/tmp", "/"], &format!(".probe-top-{}", pid()))?;
    let climbed = climb_out(&dir).and_then(|()| make_private());
    // SAFETY: here is the root we came from; chroot(".") there puts the child back in it.
    let back = unsafe { libc::fchdir(here) == 0 && libc::chroot(c(".")?.as_ptr()) == 0 };
    // SAFETY: here was opened above and is not used again.
    unsafe { libc::close(here) };
    let _ = rmdir(&dir);
    if !back {
        return Err(error("back into its root"));
    }
    climbed
}

fn make_private() -> Result<(), String> {
    let (root, none) = (c("/")?, c("none")?);
    // SAFETY: NUL-terminated strings; MS_PRIVATE needs no filesystem type or data.
    let rc = unsafe {
        libc::mount(
            none.as_ptr(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(error("make / private"));
    }
    Ok(())
}

/// chroot into `dir`, then `..` up to the top of the mount namespace, and chroot there.
fn climb_out(dir: &str) -> Result<(), String> {
    let (dir_c, up, here) = (c(dir)?, c("..")?, c(".")?);
    // SAFETY: NUL-terminated strings; this runs in a child process only.
    unsafe {
        if libc::chroot(dir_c.as_ptr()) != 0 {
            return Err(error("chroot"));
        }
        for _ in 0..256 {
            libc::chdir(up.as_ptr());
        }
        if libc::chroot(here.as_ptr()) != 0 {
            return Err(error("chroot(\".\")"));
        }
    }
    Ok(())
}

/// The process's effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// This process's pid (in a child: the child's).
pub fn pid() -> i32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// The first of `bases` in which a fresh folder `<base>/<name>` can be made, and that folder.
pub fn scratch_dir(bases: &[&str], name: &str) -> Result<String, String> {
    let mut why = Vec::new();
    for base in bases {
        let dir = format!("{}/{name}", base.trim_end_matches('/'));
        match mkdir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => why.push(e),
        }
    }
    Err(why.join("; "))
}

/// A filesystem's type and size, from statfs(2).
pub struct Fs {
    pub magic: u64,
    pub bytes: u64,
}

impl Fs {
    /// The filesystem type's name, for the common ones.
    pub fn kind(&self) -> String {
        match self.magic {
            0x0102_1994 => "tmpfs".into(),
            0x8584_58f6 => "ramfs".into(),
            0x794c_7630 => "overlay".into(),
            0xef53 => "ext4".into(),
            0x9123_683e => "btrfs".into(),
            0x5846_5342 => "xfs".into(),
            other => format!("a filesystem of type {other:#x}"),
        }
    }

    /// Whether it lives in memory (tmpfs, ramfs), bounded by its size or the memory cgroup.
    pub fn in_memory(&self) -> bool {
        matches!(self.magic, 0x0102_1994 | 0x8584_58f6)
    }
}

/// statfs(2) of `path`.
pub fn statfs(path: &str) -> Result<Fs, String> {
    let p = c(path)?;
    // SAFETY: statfs is plain data; all-zero is a valid value for it.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: p is NUL-terminated and buf writable.
    if unsafe { libc::statfs(p.as_ptr(), &mut buf) } != 0 {
        return Err(error(&format!("statfs {path}")));
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between glibc and musl
    let (magic, blocks, size) = (buf.f_type as u64, buf.f_blocks as u64, buf.f_frsize as u64);
    Ok(Fs {
        magic: magic & 0xffff_ffff,
        bytes: blocks * if size == 0 { buf.f_bsize as u64 } else { size },
    })
}

/// Whether `path`'s filesystem honours setuid bits and is writable (statvfs(3)).
pub fn suid_and_writable(path: &str) -> bool {
    let Ok(p) = c(path) else { return false };
    // SAFETY: statvfs is plain data; all-zero is a valid value for it.
    let mut buf: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: p is NUL-terminated and buf writable.
    if unsafe { libc::statvfs(p.as_ptr(), &mut buf) } != 0 {
        return false;
    }
    buf.f_flag & (libc::ST_NOSUID | libc::ST_RDONLY) == 0
}

/// A byte count as `12.3 GiB`.
pub fn size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

/// Runs `body` in a forked child, so whatever it changes (namespaces, ids, mounts) ends with
/// it, and returns the one line it reported: what `body` returned, or what it wrote to the
/// descriptor it is given (a program it executes writes `O<text>` or `E<why>` there, e.g. on
/// its stdout). A child that takes longer than [`LIMIT`] is killed.
pub fn in_child(body: impl FnOnce(RawFd) -> Result<String, String>) -> Result<String, String> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(error("pipe"));
    }
    let [read_end, write_end] = fds;
    // SAFETY: the probe is single-threaded, so the child may keep running Rust code.
    let child = unsafe { libc::fork() };
    if child < 0 {
        let why = error("fork");
        // SAFETY: both ends are ours and unused from here on.
        unsafe { (libc::close(read_end), libc::close(write_end)) };
        return Err(why);
    }
    if child == 0 {
        // SAFETY: the read end is the parent's.
        unsafe { libc::close(read_end) };
        let message = match body(write_end) {
            Ok(text) => format!("O{text}"),
            Err(why) => format!("E{why}"),
        };
        write_all(write_end, message.as_bytes());
        // SAFETY: leaving the child without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: the write end is the child's now.
    unsafe { libc::close(write_end) };
    let answer = read_until(read_end, Instant::now() + LIMIT);
    // SAFETY: the read end is ours and not used again.
    unsafe { libc::close(read_end) };
    if answer.is_none() {
        // SAFETY: child is our own child's pid; killing it has no memory-safety preconditions.
        unsafe { libc::kill(child, libc::SIGKILL) };
    }
    let mut status = 0;
    // SAFETY: child is our child's pid; status is writable.
    unsafe { libc::waitpid(child, &mut status, 0) };
    let Some(answer) = answer else {
        return Err(format!("killed after {} s", LIMIT.as_secs()));
    };
    let answer = answer.trim_end();
    if let Some(text) = answer.strip_prefix('O') {
        Ok(text.to_string())
    } else if let Some(why) = answer.strip_prefix('E') {
        Err(why.to_string())
    } else {
        Err("the attack's child died without a word".into())
    }
}

/// Writes all of `bytes` to `fd`; a failure has nobody left to tell.
pub fn write_all(fd: RawFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing from a live buffer of the given length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Reads `fd` to its end, or `None` at the deadline.
fn read_until(fd: RawFd, deadline: Instant) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: poll reads and writes one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, ms.max(1)) };
        if ready < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if ready <= 0 {
            continue;
        }
        // SAFETY: reading into a live buffer of the given length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
}

//! The classic chroot escape, run in a forked child so the probe itself is never affected.
//!
//! chroot(2) changes a process's root directory but not its current directory. A process that
//! may call chroot (CAP_SYS_CHROOT) can therefore: make a folder, chroot into it (its current
//! directory is now *outside* its root), chdir("..") up to the real top of the mount namespace,
//! and chroot(".") there. After a plain `chroot` that top is the host's `/`. After pivot_root in
//! a mount namespace (the later stages), the old root is unmounted and the top is the
//! container's own root: nothing to escape to.
//!
//! "Escaped" means: with `--host-marker PATH` (a file the host made, absent from the root
//! filesystem), that PATH is visible after the escape; without it, `/` is a different folder
//! after the escape than before.

use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::FromRawFd;
use std::path::Path;

/// What the escape attempt found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub escaped: bool,
    /// Why the attempt could not be made (no chroot permission, read-only root, ...).
    pub error: Option<String>,
    /// Whether the marker was visible before any escape (no isolation at all).
    pub marker_visible_before: Option<bool>,
}

/// Runs the escape in a child process and reports what it found.
pub fn attempt(marker: Option<&Path>) -> Outcome {
    let marker_visible_before = marker.map(|m| m.exists());
    let root_before = match fs::metadata("/") {
        Ok(m) => (m.dev(), m.ino()),
        Err(e) => return failed(format!("stat /: {e}"), marker_visible_before),
    };
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    let candidates: Vec<String> = ["/tmp", "/"]
        .iter()
        .map(|base| format!("{}/.probe-escape-{pid}", base.trim_end_matches('/')))
        .collect();

    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return failed(
            format!("pipe: {}", std::io::Error::last_os_error()),
            marker_visible_before,
        );
    }
    // SAFETY: the probe is single-threaded, so the child may keep running Rust code.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return failed(
            format!("fork: {}", std::io::Error::last_os_error()),
            marker_visible_before,
        );
    }
    if child == 0 {
        // SAFETY: fds[1] is the pipe's write end, owned by this child from here on.
        let mut out = unsafe { fs::File::from_raw_fd(fds[1]) };
        let message = match in_child(&candidates, marker, root_before) {
            Ok(true) => "1".to_string(),
            Ok(false) => "0".to_string(),
            Err(e) => format!("E{e}"),
        };
        let _ = out.write_all(message.as_bytes());
        // SAFETY: leaving the child without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: fds[1] belongs to the child now; fds[0] is the read end, owned here.
    unsafe { libc::close(fds[1]) };
    let mut input = unsafe { fs::File::from_raw_fd(fds[0]) };
    let mut answer = String::new();
    let _ = input.read_to_string(&mut answer);
    let mut status = 0;
    // SAFETY: child is our child's PID; status is writable.
    unsafe { libc::waitpid(child, &mut status, 0) };
    for dir in &candidates {
        let _ = fs::remove_dir(dir);
    }
    match answer.as_str() {
        "1" => Outcome {
            escaped: true,
            error: None,
            marker_visible_before,
        },
        "0" => Outcome {
            escaped: false,
            error: None,
            marker_visible_before,
        },
        other => failed(
            other.strip_prefix('E').map_or_else(
                || "the escape child died without a word".into(),
                str::to_string,
            ),
            marker_visible_before,
        ),
    }
}

fn failed(error: String, marker_visible_before: Option<bool>) -> Outcome {
    Outcome {
        escaped: false,
        error: Some(error),
        marker_visible_before,
    }
}

fn os_error(what: &str) -> String {
    let err = std::io::Error::last_os_error();
    format!("{what}: {}", crate::procfs::describe(&err))
}

fn c(path: &str) -> Result<CString, String> {
    CString::new(path).map_err(|_| format!("{path}: NUL in path"))
}

/// The escape itself; runs only in the forked child.
fn in_child(
    candidates: &[String],
    marker: Option<&Path>,
    root_before: (u64, u64),
) -> Result<bool, String> {
    let mut made = None;
    let mut why = String::new();
    for dir in candidates {
        let path = c(dir)?;
        // SAFETY: path is NUL-terminated.
        if unsafe { libc::mkdir(path.as_ptr(), 0o700) } == 0 {
            made = Some(path);
            break;
        }
        why = os_error(&format!("mkdir {dir}"));
    }
    let Some(dir) = made else {
        return Err(format!("cannot make a folder to chroot into ({why})"));
    };
    // SAFETY: dir is NUL-terminated.
    if unsafe { libc::chroot(dir.as_ptr()) } != 0 {
        return Err(os_error("chroot"));
    }
    let up = c("..")?;
    for _ in 0..256 {
        // SAFETY: up is NUL-terminated. Failing here only means we cannot climb further.
        unsafe { libc::chdir(up.as_ptr()) };
    }
    let here = c(".")?;
    // SAFETY: here is NUL-terminated.
    if unsafe { libc::chroot(here.as_ptr()) } != 0 {
        return Err(os_error("chroot(\".\")"));
    }
    match marker {
        Some(marker) => Ok(marker.exists()),
        None => {
            let now = fs::metadata("/").map_err(|e| format!("stat /: {e}"))?;
            Ok((now.dev(), now.ino()) != root_before)
        }
    }
}

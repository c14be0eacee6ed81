//! `hostfd`: a descriptor inherited from the host reaches the host's files. A directory open on
//! the host (`exec 7</tmp` before starting the runtime) stays open across chroot, pivot_root and
//! every namespace: `..` from it climbs to the host's `/`, never meeting the container's root.
//! Reading is through openat(2) (the same as `/proc/self/fd/7/..`, without needing /proc).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{sys, Outcome};

/// Enough `..` to climb from any folder to the top.
const UP: usize = 64;

pub fn attempt(marker: Option<&Path>) -> Outcome {
    let dirs: Vec<i32> = (3..1024).filter(|fd| is_dir(*fd)).collect();
    if dirs.is_empty() {
        return Outcome::held("no directory descriptor inherited (3 and up)");
    }
    let up = "../".repeat(UP);
    let mut why = Vec::new();
    for fd in &dirs {
        let target = match marker {
            Some(m) => format!("{up}{}", m.to_string_lossy().trim_start_matches('/')),
            None => up.clone(),
        };
        let opened = match openat(*fd, &target) {
            Ok(opened) => opened,
            Err(e) => {
                why.push(format!("fd {fd}: {e}"));
                continue;
            }
        };
        let reached = match marker {
            // The host's own file, read through the descriptor.
            Some(m) => {
                let mut byte = [0u8; 1];
                // SAFETY: reading one byte into a live buffer.
                let n = unsafe { libc::read(opened, byte.as_mut_ptr().cast(), 1) };
                (n >= 0).then(|| format!("read the host's {} through fd {fd}", m.display()))
            }
            // Without a marker: the top it climbed to is not this process's `/`.
            None => {
                let top = fstat(opened);
                let own = fs::metadata("/").ok().map(|m| (m.dev(), m.ino()));
                (top.is_some() && top != own).then(|| format!("fd {fd} climbs to another /"))
            }
        };
        // SAFETY: opened is ours and not used again.
        unsafe { libc::close(opened) };
        match reached {
            Some(text) => return Outcome::through(text),
            None => why.push(format!("fd {fd}: nothing of the host's")),
        }
    }
    Outcome::held(why.join("; "))
}

fn fstat(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: stat is plain data; all-zero is a valid value for it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable; a closed fd only fails.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between glibc and musl
    Some((st.st_dev as u64, st.st_ino as u64))
}

fn is_dir(fd: i32) -> bool {
    // SAFETY: stat is plain data; all-zero is a valid value for it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable; a closed fd only fails.
    unsafe { libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR }
}

fn openat(fd: i32, path: &str) -> Result<i32, String> {
    let p = sys::c(path)?;
    // SAFETY: p is NUL-terminated; the caller closes the descriptor.
    let opened = unsafe { libc::openat(fd, p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if opened < 0 {
        let shown = path.replace(&"../".repeat(UP), "../(x64)");
        return Err(sys::error(&format!("openat {shown}")));
    }
    Ok(opened)
}

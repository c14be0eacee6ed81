//! Where a root filesystem is made and how it gets to its place: the temporary sibling folder
//! (removed when dropped), the rename into place, the leftovers of a killed run, and SIGINT and
//! SIGTERM turned into a flag checked as the build goes.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{self, kill, SigHandler, Signal};
use nix::unistd::Pid;

/// The first mount point at or below `dir`, from /proc/self/mountinfo.
pub(super) fn mounted_below(dir: &Path) -> Option<String> {
    let dir = fs::canonicalize(dir).ok()?;
    let mounts = hoststate::mounts();
    let mount = hoststate::mounted_below(&mounts, &dir)?;
    Some(mount.mount_point.to_string_lossy().into_owned())
}

/// Renames the finished temporary folder to `dest`, replacing what is there.
pub(super) fn put_in_place(tmp: Temp, dest: &Path) -> Result<()> {
    let mut old = None;
    if fs::symlink_metadata(dest).is_ok() {
        let mut aside = tmp.path().as_os_str().to_owned();
        aside.push(".old");
        let aside = PathBuf::from(aside);
        fs::rename(dest, &aside)
            .with_context(|| format!("cannot move the old {} aside", dest.display()))?;
        old = Some(Temp(Some(aside)));
    }
    if let Err(err) = fs::rename(tmp.path(), dest) {
        if let Some(old) = old.as_mut().and_then(|o| o.0.take()) {
            let _ = fs::rename(old, dest);
        }
        return Err(err)
            .with_context(|| format!("cannot move the new root filesystem to {}", dest.display()));
    }
    tmp.keep();
    drop(old); // removes the old root filesystem
    Ok(())
}

/// A temporary file or folder, removed when dropped unless kept.
pub(super) struct Temp(pub(super) Option<PathBuf>);

impl Temp {
    pub(super) fn path(&self) -> &Path {
        self.0
            .as_deref()
            .expect("a Temp is only used before it is kept")
    }

    pub(super) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            if fs::symlink_metadata(&path).is_ok() {
                if let Err(err) = remove_tree(&path) {
                    eprintln!("rootfs: warning: cannot remove {}: {err}", path.display());
                }
            }
        }
    }
}

/// Removes a file, symlink or folder tree. Folders a tarball made read-only are made writable
/// first when plain removal fails (as non-root).
pub(super) fn remove_tree(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return fs::remove_file(path);
    }
    if fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    make_writable(path);
    fs::remove_dir_all(path)
}

fn make_writable(dir: &Path) {
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&entry.path());
            }
        }
    }
}

/// Removes `.tmp-<name>-<pid>*` leftovers in `parent` whose process is gone (a killed run).
pub(super) fn remove_stale(parent: &Path, name: &str) {
    let prefix = format!(".tmp-{name}-");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(pid) = digits.parse::<libc::pid_t>() else {
            continue;
        };
        // Signal 0 only checks whether the process exists.
        let alive = kill(Pid::from_raw(pid), None) != Err(Errno::ESRCH);
        if alive || mounted_below(&entry.path()).is_some() {
            continue;
        }
        match remove_tree(&entry.path()) {
            Ok(()) => eprintln!(
                "rootfs: removed {}, left by an interrupted run",
                entry.path().display()
            ),
            Err(err) => eprintln!(
                "rootfs: warning: cannot remove {}: {err}",
                entry.path().display()
            ),
        }
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C (SIGINT) or SIGTERM arrived while a root filesystem was being made.
pub(super) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// While alive, SIGINT and SIGTERM only set a flag, so the build stops at the next check and its
/// temporary files are removed. A child (curl, cargo) still gets the default action: handlers
/// do not survive exec.
pub(super) struct CatchSignals {
    old: [SigHandler; 2],
}

impl CatchSignals {
    pub(super) fn new() -> CatchSignals {
        let handler = SigHandler::Handler(on_signal);
        CatchSignals {
            old: set_handlers([handler, handler]),
        }
    }
}

impl Drop for CatchSignals {
    fn drop(&mut self) {
        set_handlers(self.old);
    }
}

/// Sets the handlers of SIGINT and SIGTERM; returns the ones before (the default's on error).
fn set_handlers(handlers: [SigHandler; 2]) -> [SigHandler; 2] {
    let [int, term] = handlers;
    // SAFETY: each handler is `on_signal`, which only stores to an atomic (async-signal-safe),
    // or one this process had before, put back.
    unsafe {
        [
            signal::signal(Signal::SIGINT, int).unwrap_or(SigHandler::SigDfl),
            signal::signal(Signal::SIGTERM, term).unwrap_or(SigHandler::SigDfl),
        ]
    }
}

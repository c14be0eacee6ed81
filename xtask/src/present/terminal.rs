//! The presenter's terminal: its size, one key at a time in raw mode, and the demos run as a
//! shell runs a job, so the terminal always comes back.
//!
//! The terminal belongs to one process group at a time, its foreground group; a process of
//! another group that reads from it, or changes its settings, is stopped by SIGTTIN or SIGTTOU
//! (tty(4), "job control" in bash(1)). A stage from `pid` on starts an init in a new PID
//! namespace that takes the terminal for its own group, so the shell inside can have it; when
//! the demo ends, that group is gone and `present`'s is not the foreground any more. So each
//! demo runs as a job of its own, put in the foreground as a shell does, and when it ends
//! `present` takes the terminal back (tcsetpgrp(3) with SIGTTOU ignored, which the kernel
//! allows a background group) and puts back the settings it found, whatever the demo did.

use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

/// What the presenter pressed. One meaning per key, at every prompt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Key {
    /// Space or Enter: go on (the next page, run the demo, the next step).
    Go,
    /// `s`: skip this (the rest of these pages, or this demo without running it).
    Skip,
    /// `n`: the next stage.
    Next,
    /// `b`: back one step.
    Back,
    /// `f`: fold or unfold the comment-only changes of a diff.
    Fold,
    /// `q` or Ctrl-D: quit the talk.
    Quit,
}

impl Key {
    fn from_byte(byte: u8) -> Option<Key> {
        Some(match byte {
            b'\r' | b'\n' | b' ' => Key::Go,
            b's' | b'S' => Key::Skip,
            b'n' | b'N' => Key::Next,
            b'b' | b'B' => Key::Back,
            b'f' | b'F' => Key::Fold,
            b'q' | b'Q' | 4 => Key::Quit,
            _ => return None,
        })
    }
}

pub fn stdin_is_terminal() -> bool {
    // SAFETY: isatty only inspects a file descriptor number.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// Rows of the terminal on stdout, or None off a terminal.
pub fn rows() -> Option<usize> {
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass, and nothing else.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_row > 0).then_some(usize::from(size.ws_row))
}

/// The terminal's settings from before the talk, for every way out to put back.
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);

fn saved() -> Option<libc::termios> {
    *SAVED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Saves the terminal's settings and restores them when dropped, and on a panic.
pub struct RawMode;

impl RawMode {
    pub fn save() -> RawMode {
        // SAFETY: tcgetattr fills the termios we pass.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } == 0 {
            *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = Some(saved);
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        }
        RawMode
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts back the terminal's settings from before the talk (keys typed ahead are kept).
pub fn restore() {
    if let Some(saved) = saved() {
        // SAFETY: tcsetattr reads the termios we pass.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, &saved) };
    }
}

/// Puts the terminal in raw mode (no line buffering, no echo, and Ctrl-C as a key, so it cannot
/// kill us with the terminal left raw), dropping keys pressed before: a prompt waits for a key
/// pressed after it shows. Done before the prompt is printed, so a key pressed as soon as it
/// shows is not dropped.
pub fn raw() -> Result<()> {
    let mut raw = saved().context("no terminal saved")?;
    raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
    raw.c_cc[libc::VMIN] = 1;
    raw.c_cc[libc::VTIME] = 0;
    // SAFETY: tcsetattr reads the termios we pass.
    if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSAFLUSH, &raw) } != 0 {
        bail!(
            "cannot set the terminal to raw mode: {}",
            io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Reads one of `keys` (others are ignored) with the terminal in raw mode ([`raw`] first), then
/// puts the terminal back. Ctrl-C leaves at once, the terminal put back first, with the status
/// of a shell interrupted by SIGINT (130).
pub fn read_key(keys: &[Key]) -> Result<Key> {
    let key = loop {
        let mut byte = [0u8; 1];
        match io::stdin().read(&mut byte) {
            Ok(0) => break Key::Quit,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                restore();
                return Err(err).context("cannot read a key");
            }
        }
        if byte[0] == 3 {
            restore();
            println!();
            std::process::exit(130);
        }
        // Anything else (arrow keys' escape sequences included) is ignored.
        match Key::from_byte(byte[0]) {
            Some(key) if keys.contains(&key) || key == Key::Quit => break key,
            _ => {}
        }
    };
    restore();
    Ok(key)
}

/// Runs `cmd` (a demo) to its end and returns how it ended. With `job_control` and the terminal
/// ours, it runs as a shell runs a job: in a process group of its own, in the terminal's
/// foreground, so the terminal's Ctrl-C and Ctrl-Z reach it and not us; when it ends, however
/// it ends, the terminal and its settings come back to us. Otherwise it runs in our group, and
/// we ignore SIGINT and SIGQUIT meanwhile (they are the demo's; its stage forwards them to the
/// command).
pub fn run_job(cmd: &mut Command, job_control: bool) -> Result<ExitStatus> {
    // SAFETY: getpgrp and tcgetpgrp have no preconditions.
    let ours = unsafe { libc::getpgrp() };
    let job_control = job_control
        && stdin_is_terminal()
        && unsafe { libc::tcgetpgrp(libc::STDIN_FILENO) } == ours;
    // SAFETY: setpgid, signal, getpid and tcsetpgrp are async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(move || {
            if job_control {
                // The same as the parent does below: whichever runs first wins the race.
                libc::setpgid(0, 0);
                libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
                libc::signal(libc::SIGTTOU, libc::SIG_DFL);
            }
            // We may ignore these meanwhile; the demo gets the default action back.
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            Ok(())
        });
    }
    // Declared before the child starts: dropped last, on every way out.
    let _back = TakeBack { ours, job_control };
    let _ignore = (!job_control).then(IgnoreInterrupts::new);
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", cmd.get_program().to_string_lossy()))?;
    let pid = child.id() as libc::pid_t;
    if job_control {
        // SAFETY: as in the child; an error (the child has exec'd already) changes nothing.
        unsafe {
            libc::setpgid(pid, pid);
            with_sigttou_ignored(|| libc::tcsetpgrp(libc::STDIN_FILENO, pid));
        }
    }
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into the int we pass. WUNTRACED: a demo stopped by
        // Ctrl-Z is seen, and continued, rather than waited for forever.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("cannot wait for the demo");
        }
        if libc::WIFSTOPPED(status) {
            // SAFETY: kill sends a signal, nothing more; to the whole job when it has a group.
            unsafe { libc::kill(if job_control { -pid } else { pid }, libc::SIGCONT) };
            continue;
        }
        return Ok(ExitStatus::from_raw(status));
    }
}

/// Runs `f` with SIGTTOU ignored, so a background group may set the terminal.
///
/// # Safety
/// `f` must be async-signal-safe if called between fork and exec (it is not, here).
unsafe fn with_sigttou_ignored<T>(f: impl FnOnce() -> T) -> T {
    let old = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
    let out = f();
    libc::signal(libc::SIGTTOU, old);
    out
}

/// Takes the terminal back for our process group, and puts back its settings, when dropped.
struct TakeBack {
    ours: libc::pid_t,
    job_control: bool,
}

impl Drop for TakeBack {
    fn drop(&mut self) {
        if !self.job_control {
            return;
        }
        // SAFETY: tcsetpgrp and tcsetattr read only the values we pass.
        unsafe {
            with_sigttou_ignored(|| {
                libc::tcsetpgrp(libc::STDIN_FILENO, self.ours);
                if let Some(saved) = saved() {
                    libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, &saved);
                }
            });
        }
    }
}

/// Ignores SIGINT and SIGQUIT in this process while it lives.
struct IgnoreInterrupts;

impl IgnoreInterrupts {
    fn new() -> IgnoreInterrupts {
        // SAFETY: changing a signal's disposition to SIG_IGN has no memory-safety preconditions.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGQUIT, libc::SIG_IGN);
        }
        IgnoreInterrupts
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_meaning_per_key() {
        assert_eq!(Key::from_byte(b' '), Some(Key::Go));
        assert_eq!(Key::from_byte(b'\r'), Some(Key::Go));
        assert_eq!(Key::from_byte(b'q'), Some(Key::Quit));
        assert_eq!(Key::from_byte(4), Some(Key::Quit));
        assert_eq!(Key::from_byte(b'x'), None);
    }
}

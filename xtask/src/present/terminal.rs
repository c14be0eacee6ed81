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

use std::io::{self, IsTerminal, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::sync::Mutex;

use anyhow::{Context, Result};
use nix::sys::signal::{self, killpg, SigHandler, Signal};
use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpgrp, getpid, setpgid, tcgetpgrp, tcsetpgrp, Pid};

use super::relay::Relay;

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
    /// `m`: a route's stage shows its whole notes instead of its script, or back.
    Notes,
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
            b'm' | b'M' => Key::Notes,
            b'q' | b'Q' | 4 => Key::Quit,
            _ => return None,
        })
    }
}

pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

/// Rows of the terminal on stdout, or None off a terminal.
pub fn rows() -> Option<usize> {
    crate::util::terminal_size()
        .map(|(rows, _)| rows)
        .filter(|&rows| rows > 0)
}

/// The terminal's settings from before the talk, for every way out to put back.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

fn saved() -> Option<Termios> {
    SAVED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Saves the terminal's settings and restores them when dropped, and on a panic.
pub struct RawMode;

impl RawMode {
    pub fn save() -> RawMode {
        if let Ok(saved) = termios::tcgetattr(io::stdin()) {
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
        let _ = termios::tcsetattr(io::stdin(), SetArg::TCSADRAIN, &saved);
    }
}

/// Puts the terminal in raw mode (no line buffering, no echo, and Ctrl-C as a key, so it cannot
/// kill us with the terminal left raw), dropping keys pressed before: a prompt waits for a key
/// pressed after it shows. Done before the prompt is printed, so a key pressed as soon as it
/// shows is not dropped.
pub fn raw() -> Result<()> {
    let mut raw = saved().context("no terminal saved")?;
    raw.local_flags
        .remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG);
    raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    termios::tcsetattr(io::stdin(), SetArg::TCSAFLUSH, &raw)
        .map_err(io::Error::from)
        .context("cannot set the terminal to raw mode")
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
    let ours = getpgrp();
    let job_control = job_control && stdin_is_terminal() && tcgetpgrp(io::stdin()) == Ok(ours);
    // Taken here, not in the child: the closure below must not allocate, and `stdin()` may.
    let tty = io::stdin();
    // SAFETY: pre_exec's closure runs between fork and exec, where only async-signal-safe calls
    // are sound: setpgid, signal, getpid and tcsetpgrp are, and it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if job_control {
                // The same as the parent does below: whichever runs first wins the race.
                let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
                ignore(Signal::SIGTTOU, true);
                let _ = tcsetpgrp(&tty, getpid());
                ignore(Signal::SIGTTOU, false);
            }
            // We may ignore these meanwhile; the demo gets the default action back.
            ignore(Signal::SIGINT, false);
            ignore(Signal::SIGQUIT, false);
            Ok(())
        });
    }
    // Declared before the child starts: dropped last, on every way out.
    let _back = TakeBack { ours, job_control };
    let _ignore = (!job_control).then(IgnoreInterrupts::new);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", cmd.get_program().to_string_lossy()))?;
    // Piped output (`--yes`) is relayed as it comes, each line on a line of its own.
    let relay = Relay::start(child.stdout.take(), child.stderr.take());
    let pid = Pid::from_raw(child.id() as libc::pid_t);
    if job_control {
        // As in the child; an error (the child has exec'd already) changes nothing.
        let _ = setpgid(pid, pid);
        let _ = with_sigttou_ignored(|| tcsetpgrp(io::stdin(), pid));
    }
    let raw = loop {
        // WUNTRACED: a demo stopped by Ctrl-Z is seen, and continued, rather than waited for
        // forever.
        let status = match waitpid(pid, Some(WaitPidFlag::WUNTRACED)) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(io::Error::from(err)).context("cannot wait for the demo"),
            Ok(status) => status,
        };
        // The raw wait status that std's ExitStatus is made of (wait(2)'s encoding).
        break match status {
            WaitStatus::Stopped(..) => {
                // To the whole job when it has a group of its own.
                let _ = if job_control {
                    killpg(pid, Signal::SIGCONT)
                } else {
                    signal::kill(pid, Signal::SIGCONT)
                };
                continue;
            }
            WaitStatus::Exited(_, code) => (code & 0xff) << 8,
            WaitStatus::Signaled(_, sig, core) => sig as i32 | if core { 0x80 } else { 0 },
            // Not asked for (no WCONTINUED, WNOHANG or ptrace): waited for again.
            _ => continue,
        };
    };
    if let Some(relay) = relay {
        relay.finish();
    }
    Ok(ExitStatus::from_raw(raw))
}

/// Makes `signal` ignored, or its default action again. Only SIG_IGN and SIG_DFL: the xtask
/// installs no handler for these signals, so none is lost.
fn ignore(signal: Signal, ignored: bool) -> bool {
    let handler = if ignored {
        SigHandler::SigIgn
    } else {
        SigHandler::SigDfl
    };
    // SAFETY: what makes signal(2) dangerous is the code a handler runs in signal context;
    // SIG_IGN and SIG_DFL run none. It is async-signal-safe, so fine between fork and exec.
    let old = unsafe { signal::signal(signal, handler) };
    matches!(old, Ok(SigHandler::SigIgn))
}

/// Runs `f` with SIGTTOU ignored, so a background group may set the terminal.
fn with_sigttou_ignored<T>(f: impl FnOnce() -> T) -> T {
    let was_ignored = ignore(Signal::SIGTTOU, true);
    let out = f();
    ignore(Signal::SIGTTOU, was_ignored);
    out
}

/// Takes the terminal back for our process group, and puts back its settings, when dropped.
struct TakeBack {
    ours: Pid,
    job_control: bool,
}

impl Drop for TakeBack {
    fn drop(&mut self) {
        if !self.job_control {
            return;
        }
        with_sigttou_ignored(|| {
            let _ = tcsetpgrp(io::stdin(), self.ours);
            if let Some(saved) = saved() {
                let _ = termios::tcsetattr(io::stdin(), SetArg::TCSADRAIN, &saved);
            }
        });
    }
}

/// Ignores SIGINT and SIGQUIT in this process while it lives.
struct IgnoreInterrupts;

impl IgnoreInterrupts {
    fn new() -> IgnoreInterrupts {
        ignore(Signal::SIGINT, true);
        ignore(Signal::SIGQUIT, true);
        IgnoreInterrupts
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        ignore(Signal::SIGINT, false);
        ignore(Signal::SIGQUIT, false);
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

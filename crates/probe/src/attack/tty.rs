//! `tty`: the terminal the container was handed is read outside it. A process types into its
//! terminal with TIOCSTI (ioctl_tty(2)): the bytes join the terminal's input as if typed on the
//! keyboard. When that terminal is the one the runtime was started from, the shell that reads it
//! once the container ends runs those lines on the host, as the host's user.
//!
//! The verdict is the terminal's session (TIOCGSID): a console of the container's own belongs to
//! a session its init leads, PID 1 here; any other session (0: one outside our PID namespace)
//! is read by someone outside. With `--host-marker M` it types `touch M.typed`, which the host
//! can look for; without, a shell comment, which runs nothing.

use std::path::Path;

use super::Outcome;

pub fn attempt(marker: Option<&Path>) -> Outcome {
    // SAFETY: isatty only looks at the descriptor.
    let Some(fd) = (0..3).find(|fd| unsafe { libc::isatty(*fd) } == 1) else {
        return Outcome::held("no terminal on stdin, stdout or stderr");
    };
    let line = match marker {
        Some(m) => format!("touch '{}.typed'\n", m.display()),
        None => "# typed from inside the container\n".to_string(),
    };
    let mut sid: libc::pid_t = -1;
    // SAFETY: TIOCGSID writes one pid_t to the pointer, which is ours.
    if unsafe { libc::ioctl(fd, libc::TIOCGSID, &mut sid) } < 0 {
        sid = -1;
    }
    for byte in line.as_bytes() {
        // SAFETY: TIOCSTI reads one byte from the pointer, which is ours.
        if unsafe { libc::ioctl(fd, libc::TIOCSTI, byte) } < 0 {
            let err = std::io::Error::last_os_error();
            let why = match err.raw_os_error() {
                Some(libc::EIO) => " (dev.tty.legacy_tiocsti is 0: the kernel refuses it)",
                Some(libc::EPERM) => " (not its controlling terminal, and no CAP_SYS_ADMIN)",
                _ => "",
            };
            return Outcome::held(format!("TIOCSTI on fd {fd}: {err}{why}"));
        }
    }
    let typed = line.trim_end();
    match sid {
        1 => Outcome::held(format!(
            "typed `{typed}` into fd {fd}, a console of its own: its session is the \
             container's init's"
        )),
        0 => Outcome::through(format!(
            "typed `{typed}` into fd {fd}, whose session is outside the container's PID \
             namespace: its reader runs it"
        )),
        _ => Outcome::through(format!(
            "typed `{typed}` into fd {fd}, whose session (sid {sid}) is the host's: its \
             reader runs it"
        )),
    }
}

//! A shell on a real pseudo-terminal that the test opens itself (openpty, then setsid and
//! TIOCSCTTY in the child, so the shell is a session leader with job control, as in a terminal
//! emulator): the test types on the terminal's other end and reads the screen. `present` is
//! driven on one (tests/present_tty.rs), and the `tty` attack runs on one, with the shell
//! reading the terminal after the container ends, as a presenter's shell does.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shell's prompt, so the test knows when it waits for a line.
pub const PROMPT: &str = "@ready@";

/// The longest a step may show nothing new before the test calls it a hang (the first one
/// includes building the stages, which `cargo xtask test` has already done).
pub const QUIET_LIMIT: Duration = Duration::from_secs(120);

/// A shell on a terminal of its own, and the terminal's other end, where the test reads the
/// screen and types.
pub struct Terminal {
    master: File,
    shell: Child,
    /// Everything the terminal has shown, escapes included.
    pub screen: Vec<u8>,
    /// Whether a stopped job is expected (Ctrl-Z typed on purpose), not a failure.
    pub stops_expected: bool,
}

impl Terminal {
    /// `shell` (e.g. `["bash", "--norc", "--noprofile", "-i"]`) on an 80×24 terminal, in the C
    /// locale, with [`PROMPT`] as its prompt; returns once the first prompt shows.
    pub fn open(shell: &[&str]) -> Terminal {
        let (mut master, mut slave) = (-1, -1);
        let size = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two file descriptors into the ints we pass and reads the
        // winsize; a null name and termios mean "don't return the name, default settings".
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened by openpty and are owned here alone.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut cmd = Command::new(shell[0]);
        cmd.args(&shell[1..])
            .env("TERM", "xterm")
            .env("PS1", format!("{PROMPT} "))
            .env_remove("PROMPT_COMMAND")
            .env_remove("NO_COLOR")
            .env_remove("COLUMNS")
            .env_remove("LINES")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env_remove("LANG")
            .env(crate::ROOTFS_ENV, crate::rootfs())
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe, as pre_exec requires. The new session
        // takes the terminal on stdin as its controlling terminal, as a terminal emulator does.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let shell = cmd.spawn().expect("start a shell on the terminal");
        let mut term = Terminal {
            master,
            shell,
            screen: Vec::new(),
            stops_expected: false,
        };
        term.wait_for(0, "the first prompt", |s| s.contains(PROMPT));
        term
    }

    /// Resizes the terminal, as a terminal emulator does when its window changes: its
    /// foreground process group gets SIGWINCH.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize, which is ours.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    /// Types `bytes`, as the presenter would.
    pub fn press(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("type on the terminal");
    }

    /// What has been shown since byte `from`, colours and other escapes left out.
    pub fn text_since(&self, from: usize) -> String {
        plain(&String::from_utf8_lossy(
            &self.screen[from.min(self.screen.len())..],
        ))
    }

    /// Reads for up to `limit`; whether anything came.
    pub fn read_some(&mut self, limit: Duration) -> bool {
        let mut pollfd = libc::pollfd {
            fd: self.master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = limit.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: poll reads and writes the one pollfd we pass.
        if unsafe { libc::poll(&mut pollfd, 1, ms) } <= 0 {
            return false;
        }
        let mut buf = [0u8; 4096];
        match self.master.read(&mut buf) {
            Ok(n) if n > 0 => {
                self.screen.extend_from_slice(&buf[..n]);
                true
            }
            // EIO: every slave end is closed (the shell has gone).
            _ => false,
        }
    }

    /// Reads until the screen (all of it since `from`) satisfies `done`; fails the test on a
    /// stop, a raw mode error, a panic or a hang.
    pub fn wait_for(&mut self, from: usize, what: &str, done: impl Fn(&str) -> bool) -> String {
        let mut last_news = Instant::now();
        loop {
            let text = self.text_since(from);
            self.check(&text, what);
            if done(&text) {
                return text;
            }
            if self.read_some(Duration::from_millis(200)) {
                last_news = Instant::now();
            } else if last_news.elapsed() > QUIET_LIMIT {
                self.fail(&format!(
                    "hang: nothing new for {QUIET_LIMIT:?} waiting for {what}"
                ));
            }
        }
    }

    /// Types `line` as the shell's next command, with `stty -g` before and after; returns the
    /// byte where its output starts, for [`Terminal::finish`].
    pub fn start(&mut self, line: &str) -> usize {
        let from = self.screen.len();
        self.press(
            format!(
                "s0=$(stty -g); {line}; st=$?; [ \"$(stty -g)\" = \"$s0\" ] && t=same || \
                 t=changed; echo \"@sta\"\"tus=$st@tty=$t@\"\n"
            )
            .as_bytes(),
        );
        from
    }

    /// [`Terminal::start`], then [`Terminal::finish`].
    pub fn run(&mut self, line: &str) -> (i32, String) {
        let from = self.start(line);
        self.finish(from)
    }

    /// Waits for the end of a line typed by [`Terminal::start`] at byte `from`: its exit status
    /// and whether the terminal's settings were the same after as before.
    pub fn finish(&mut self, from: usize) -> (i32, String) {
        let text = self.wait_for(from, "the end of the command", |t| {
            t.split_once("@status=")
                .is_some_and(|(_, rest)| rest.contains(PROMPT))
        });
        let tail = text.rsplit("@status=").next().unwrap();
        let (code, rest) = tail.split_once("@tty=").unwrap();
        let tty = rest.split('@').next().unwrap().to_string();
        (code.trim().parse().unwrap(), tty)
    }

    /// Fails the test if the screen shows a stopped job (unless expected), a raw mode error or a
    /// panic.
    pub fn check(&mut self, text: &str, what: &str) {
        if text.contains("Stopped") && !self.stops_expected {
            self.fail(&format!("the job stopped (waiting for {what})"));
        }
        // present's own error, not the words (the console stage's diff has them).
        if text.contains("cannot set the terminal to raw mode") {
            self.fail(&format!("could not set raw mode (waiting for {what})"));
        }
        if text.contains("panicked") {
            self.fail(&format!("a panic (waiting for {what})"));
        }
    }

    pub fn fail(&mut self, why: &str) -> ! {
        let text = self.text_since(self.screen.len().saturating_sub(3000));
        self.hang_up();
        panic!("{why}; the terminal's last output:\n{text}");
    }

    /// Ends the session: the terminal hangs up, so the shell and its jobs get SIGHUP; the shell
    /// is killed if it is still there after two seconds.
    pub fn hang_up(&mut self) {
        let _ = self.master.write_all(b"\x03exit 0\n");
        // Dropping the master end would need ownership; a hang-up from the ioctl does the same.
        // SAFETY: TIOCVHANGUP takes no argument; the descriptor is ours.
        unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCVHANGUP) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            if let Ok(Some(_)) = self.shell.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }

    /// Types `exit` and waits for the shell to end (hangs up after five seconds).
    pub fn close(mut self) {
        self.press(b"exit 0\n");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            self.read_some(Duration::from_millis(100));
            if let Ok(Some(_)) = self.shell.try_wait() {
                return;
            }
        }
        self.hang_up();
    }
}

/// `text` without ANSI escapes (CSI sequences), as the audience reads it.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

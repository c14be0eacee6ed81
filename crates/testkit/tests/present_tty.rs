//! `cargo xtask present` on a real terminal, driven as a presenter drives it: an interactive
//! bash on a pseudo-terminal of 80×24 that this test opens itself (openpty, then setsid and
//! TIOCSCTTY in the child, so bash is a session leader with job control, as in a terminal
//! emulator), runs `xtask present` as a foreground job, and the test presses space at every
//! prompt, through every stage and every live demo, start to end, reading the screen.
//!
//! It fails when bash reports the job stopped (a demo kept the terminal and `present` got
//! SIGTTOU or SIGTTIN), when `present` cannot set raw mode, when nothing new shows for too long
//! (a hang), or when the terminal is not left as it was found (`stty -g` before and after).
//! The other tests here press `q`, Ctrl-C at a prompt, and Ctrl-C as a demo starts, and give
//! one stage in Spanish (`--lang es`). bash runs in the C locale, so the talk is English unless
//! `--lang` says otherwise.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::LeakCheck;

/// The longest a step may show nothing new before the test calls it a hang (the first one
/// includes building the stages, which `cargo xtask test` has already done).
const QUIET_LIMIT: Duration = Duration::from_secs(120);

/// A bash on a terminal of its own, and the terminal's other end, where the test reads the screen
/// and types.
struct Terminal {
    master: File,
    bash: Child,
    /// Everything the terminal has shown, escapes included.
    screen: Vec<u8>,
}

impl Terminal {
    fn open() -> Terminal {
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
        let mut cmd = Command::new("bash");
        cmd.args(["--norc", "--noprofile", "-i"])
            .env("TERM", "xterm")
            .env("PS1", "@ready@ ")
            .env_remove("PROMPT_COMMAND")
            .env_remove("NO_COLOR")
            .env_remove("COLUMNS")
            .env_remove("LINES")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env_remove("LANG")
            .env(testkit::ROOTFS_ENV, testkit::rootfs())
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
        let bash = cmd.spawn().expect("start bash on the terminal");
        let mut term = Terminal {
            master,
            bash,
            screen: Vec::new(),
        };
        term.wait_for(0, "the first prompt", |s| s.contains("@ready@"));
        term
    }

    /// Types `bytes`, as the presenter would.
    fn press(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("type on the terminal");
    }

    /// What has been shown since byte `from`, colours and other escapes left out.
    fn text_since(&self, from: usize) -> String {
        plain(&String::from_utf8_lossy(
            &self.screen[from.min(self.screen.len())..],
        ))
    }

    /// Reads for up to `limit`; whether anything came.
    fn read_some(&mut self, limit: Duration) -> bool {
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
            // EIO: every slave end is closed (bash has gone).
            _ => false,
        }
    }

    /// Reads until the screen (all of it) satisfies `done`; fails the test on a stop, a raw
    /// mode error or a hang.
    fn wait_for(&mut self, from: usize, what: &str, done: impl Fn(&str) -> bool) -> String {
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

    /// Waits for the next prompt of `present` after byte `from`: a line of keys ending in
    /// `[q] quit` (or any `[q]` key), shown and then nothing more, since it waits for a key.
    /// `None`: the shell's prompt came back instead (the talk has ended).
    fn next_prompt(&mut self, from: usize) -> Option<String> {
        let mut last_news = Instant::now();
        loop {
            let text = self.text_since(from);
            self.check(&text, "a prompt");
            if text.contains("@status=") {
                return None;
            }
            if self.read_some(Duration::from_millis(100)) {
                last_news = Instant::now();
                continue;
            }
            // Quiet for a moment: if the last line is a prompt, present waits for a key (it
            // sets raw mode before it prints one, so a key typed now is not lost).
            let tail = text.rsplit(['\n', '\r']).find(|l| !l.trim().is_empty());
            if let Some(prompt) = tail.filter(|l| l.contains("[q]")) {
                return Some(prompt.trim().to_string());
            }
            if last_news.elapsed() > QUIET_LIMIT {
                self.fail(&format!("hang: no prompt for {QUIET_LIMIT:?}"));
            }
        }
    }

    fn check(&mut self, text: &str, what: &str) {
        if text.contains("Stopped") {
            self.fail(&format!("the job stopped (waiting for {what})"));
        }
        if text.contains("raw mode") {
            self.fail(&format!(
                "present could not set raw mode (waiting for {what})"
            ));
        }
        if text.contains("panicked") {
            self.fail(&format!("present panicked (waiting for {what})"));
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        let text = self.text_since(self.screen.len().saturating_sub(3000));
        self.hang_up();
        panic!("{why}; the terminal's last output:\n{text}");
    }

    /// Ends the session: the terminal hangs up, so bash and its jobs get SIGHUP; bash is killed
    /// if it is still there after two seconds.
    fn hang_up(&mut self) {
        let _ = self.master.write_all(b"\x03exit 0\n");
        // Dropping the master end would need ownership; a hang-up from the ioctl does the same.
        // SAFETY: TIOCVHANGUP takes no argument; the descriptor is ours.
        unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCVHANGUP) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            if let Ok(Some(_)) = self.bash.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.bash.kill();
        let _ = self.bash.wait();
    }

    /// Runs `present ARGS` as a foreground job of bash, with `stty -g` before and after;
    /// returns the byte where its output starts.
    fn start_present(&mut self, args: &str) -> usize {
        let from = self.screen.len();
        let xtask = testkit::xtask_bin();
        let line = format!(
            "s0=$(stty -g); {} present {args}; st=$?; \
             [ \"$(stty -g)\" = \"$s0\" ] && t=same || t=changed; echo \"@sta\"\"tus=$st@tty=$t@\"\n",
            xtask.display()
        );
        self.press(line.as_bytes());
        from
    }

    /// Waits for the end of `present` started at byte `from`: its exit status and whether the
    /// terminal's settings were the same after as before.
    fn finish(&mut self, from: usize) -> (i32, String) {
        let text = self.wait_for(from, "the end of present", |t| {
            t.split_once("@status=")
                .is_some_and(|(_, rest)| rest.contains("@ready@"))
        });
        let tail = text.rsplit("@status=").next().unwrap();
        let (code, rest) = tail.split_once("@tty=").unwrap();
        let tty = rest.split('@').next().unwrap().to_string();
        (code.trim().parse().unwrap(), tty)
    }

    fn close(mut self) {
        self.press(b"exit 0\n");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            self.read_some(Duration::from_millis(100));
            if let Ok(Some(_)) = self.bash.try_wait() {
                return;
            }
        }
        self.hang_up();
    }
}

/// `text` without ANSI escapes (CSI sequences), as the audience reads it.
fn plain(text: &str) -> String {
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

fn ready() -> bool {
    testkit::require_root()
        && testkit::require(
            Command::new("bash").arg("--version").output().is_ok(),
            "bash is not installed",
        )
}

#[test]
fn present_runs_the_whole_talk_on_a_terminal() {
    if !ready() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let mut term = Terminal::open();
    let from = term.start_present("");
    let mut prompts = 0;
    let mut at = from;
    while let Some(prompt) = term.next_prompt(at) {
        prompts += 1;
        assert!(prompts < 2000, "no end after {prompts} prompts: {prompt}");
        at = term.screen.len();
        term.press(b" ");
    }
    let shown = term.text_since(from);
    let (code, tty) = term.finish(from);
    term.close();
    leaks.assert_clean();
    assert_eq!(code, 0, "present exited {code}:\n{shown}");
    assert_eq!(tty, "same", "present left the terminal's settings changed");
    // Every stage was shown, with every demo of its notes, and the demos ran.
    for stage in catalog::STAGES {
        let title = format!("Stage {} of {}", stage.number, catalog::STAGES.len());
        assert!(shown.contains(&title), "no {title:?} on the terminal");
    }
    assert!(
        shown.lines().any(|l| l.trim() == "container"),
        "the uts demo's `hostname` did not print the container's name:\n{shown}"
    );
}

#[test]
fn present_quits_on_q_and_on_ctrl_c_leaving_the_terminal_as_found() {
    if !ready() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let mut term = Terminal::open();
    // q at the first prompt: the talk ends, status 0.
    let from = term.start_present("pid --only");
    term.next_prompt(from).expect("a first prompt");
    term.press(b"q");
    assert_eq!(term.finish(from), (0, "same".to_string()), "q");

    // Ctrl-C at a prompt: status 130, as a shell interrupted by SIGINT.
    let from = term.start_present("pid --only");
    term.next_prompt(from).expect("a first prompt");
    term.press(b"\x03");
    assert_eq!(term.finish(from), (130, "same".to_string()), "Ctrl-C");
    term.close();
    leaks.assert_clean();
}

#[test]
fn ctrl_c_as_a_demo_starts_leaves_the_terminal_as_found() {
    if !ready() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let mut term = Terminal::open();
    let from = term.start_present("pid --only");
    // Space up to the first demo's prompt, then run it and press Ctrl-C at once: it reaches the
    // demo (whose stage forwards it to the command) or, if the demo was quicker, the next
    // prompt (which quits, status 130). Either way nothing stops and the terminal is as it was.
    let mut at = from;
    loop {
        let prompt = term.next_prompt(at).expect("the talk ended before a demo");
        at = term.screen.len();
        if prompt.contains("run") {
            break;
        }
        term.press(b" ");
    }
    term.press(b" \x03");
    if term.next_prompt(at).is_some() {
        term.press(b"q");
    }
    let (code, tty) = term.finish(from);
    term.close();
    leaks.assert_clean();
    assert_eq!(tty, "same");
    assert!([0, 1, 130].contains(&code), "present exited {code}");
}

#[test]
fn present_in_spanish_on_a_terminal() {
    if !ready() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let mut term = Terminal::open();
    let from = term.start_present("pid --only --lang es");
    let mut prompts = Vec::new();
    let mut at = from;
    while let Some(prompt) = term.next_prompt(at) {
        assert!(prompts.len() < 200, "no end after 200 prompts: {prompt}");
        prompts.push(prompt);
        at = term.screen.len();
        term.press(b" ");
    }
    let shown = term.text_since(from);
    let (code, tty) = term.finish(from);
    term.close();
    leaks.assert_clean();
    assert_eq!(code, 0, "present exited {code}:\n{shown}");
    assert_eq!(tty, "same", "present left the terminal's settings changed");
    assert!(shown.contains("Etapa 4 de"), "{shown}");
    // Every prompt in Spanish, on one line of the 80-column terminal.
    for prompt in &prompts {
        assert!(
            prompt.contains("[espacio]") && prompt.ends_with("[q] salir"),
            "{prompt}"
        );
        assert!(prompt.chars().count() < 80, "{prompt}");
    }
    assert!(
        prompts.iter().any(|p| p.contains("ejecutar")),
        "{prompts:?}"
    );
    assert!(
        prompts.iter().any(|p| p.starts_with("fin de pid")),
        "{prompts:?}"
    );
    // The demos ran, and printed what they print in English: the shell is PID 2, its parent 1.
    assert!(shown.lines().any(|l| l.trim() == "2 1"), "{shown}");
}

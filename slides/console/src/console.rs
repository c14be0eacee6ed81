//! The container's console: a pseudo-terminal of its own (pty(7)).
//!
//! The stages before hand the container our own terminal. Whatever reads
//! that terminal after the container ends (the host's shell) reads what the
//! container typed into it with TIOCSTI, and keeps the settings it changed.
//! Here, as `docker run -t` does, the container gets the far end of a new
//! pseudo-terminal, and we copy bytes between it and ours while it runs.

use std::io::{self, IsTerminal, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::thread::{self, JoinHandle};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::{posix_openpt, unlockpt, PtyMaster};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::termios::{self, SetArg, Termios};
use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout, pipe2, setsid};
use skeleton::{failure, say, Result};

/// The pseudo-terminal, before the child is born: its two ends, and which
/// of our stdin, stdout and stderr are terminals (the child's become the
/// console; the others, pipes or files, stay as they are).
pub struct Console {
    master: PtyMaster,
    slave: OwnedFd,
    ttys: Vec<RawFd>,
}

impl Console {
    /// A console when stdin, stdout or stderr is a terminal; none when no
    /// one is: a pipe stays a pipe, for scripts and tests.
    pub fn open() -> Result<Option<Console>> {
        let ttys: Vec<RawFd> = [
            (0, io::stdin().is_terminal()),
            (1, io::stdout().is_terminal()),
            (2, io::stderr().is_terminal()),
        ]
        .into_iter()
        .filter_map(|(fd, tty)| tty.then_some(fd))
        .collect();
        let Some(&ours) = ttys.first() else {
            return Ok(None);
        };
        // posix_openpt(3) opens /dev/ptmx: a new pair, its master end ours.
        // O_CLOEXEC: the child must not take the master with it.
        let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        let master =
            posix_openpt(flags).map_err(|e| fail("posix_openpt", e))?;
        unlockpt(&master).map_err(|e| fail("unlockpt", e))?;
        // TIOCGPTPEER (ioctl_tty(2)) opens the far end from the master, not
        // by a name in /dev/pts that could be another terminal by then.
        // SAFETY: the request takes open(2) flags and returns a new fd.
        let peer = libc::TIOCGPTPEER;
        let fd = unsafe { libc::ioctl(master.as_raw_fd(), peer, flags.bits()) };
        if fd < 0 {
            return Err(fail("ioctl TIOCGPTPEER", Errno::last()));
        }
        // SAFETY: the kernel just gave us this descriptor; no one else has it.
        let slave = unsafe { OwnedFd::from_raw_fd(fd) };
        copy_window_size(ours, master.as_raw_fd());
        say!("parent: a console of its own for fds {ttys:?}");
        Ok(Some(Console {
            master,
            slave,
            ttys,
        }))
    }

    /// In the child, as it is born: a session of its own, whose controlling
    /// terminal is the console, on the fds that were terminals.
    pub fn attach(&self) -> Result<()> {
        // setsid(2): a new session, with no controlling terminal. Ours is
        // not its terminal any more: TIOCSTI on a terminal that is not the
        // caller's controlling terminal needs CAP_SYS_ADMIN.
        setsid().map_err(|e| fail("setsid", e))?;
        // TIOCSCTTY: the console becomes the session's controlling terminal,
        // so Ctrl-C, Ctrl-Z and job control work inside.
        // SAFETY: the request takes an int; 0 asks for nothing to be stolen.
        let slave = self.slave.as_raw_fd();
        if unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) } < 0 {
            return Err(fail("ioctl TIOCSCTTY", Errno::last()));
        }
        for &fd in &self.ttys {
            let to = [dup2_stdin, dup2_stdout, dup2_stderr][fd as usize];
            to(&self.slave).map_err(|e| fail("dup2", e))?;
        }
        Ok(())
    }

    /// Once the child is born: our terminal raw, and a thread that copies
    /// bytes both ways until the container ends. The `Relay` returned puts
    /// our terminal back as it was when dropped, on every way out.
    pub fn relay(self) -> Result<Relay> {
        let Console {
            master,
            slave,
            ttys,
        } = self;
        // Our copy of the far end goes: the master reads EIO once the
        // container's last copy is closed.
        drop(slave);
        let input = ttys.first().filter(|fd| **fd == 0).copied();
        let output = ttys.iter().copied().find(|fd| *fd > 0);
        // Raw: every byte typed, Ctrl-C's too, goes to the console, whose
        // line discipline turns it into a signal for the container.
        let saved = input.map(make_raw).transpose()?;
        // SIGWINCH, our window resized, read from a descriptor (signalfd(2))
        // by the thread; blocked first so that no thread takes it.
        let mut winch = SigSet::empty();
        winch.add(Signal::SIGWINCH);
        winch.thread_block().map_err(|e| fail("sigprocmask", e))?;
        let resized = SignalFd::new(&winch).map_err(|e| fail("signalfd", e))?;
        let (stop_rx, stop) =
            pipe2(OFlag::O_CLOEXEC).map_err(|e| fail("pipe", e))?;
        let ours = ttys[0];
        let copy = thread::spawn(move || {
            copy(&master, input, output, ours, &resized, &stop_rx)
        });
        Ok(Relay {
            saved,
            stop: Some(stop),
            copy: Some(copy),
        })
    }
}

/// The relay while the container runs; dropping it stops it and restores
/// our terminal's settings.
pub struct Relay {
    saved: Option<Termios>,
    stop: Option<OwnedFd>,
    copy: Option<JoinHandle<()>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Closing the pipe tells the thread to drain what is left and end.
        drop(self.stop.take());
        if let Some(copy) = self.copy.take() {
            let _ = copy.join();
        }
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(io::stdin(), SetArg::TCSADRAIN, saved);
        }
    }
}

/// Puts the terminal on `fd` in raw mode (termios(3), cfmakeraw), and
/// returns its settings as they were.
fn make_raw(fd: RawFd) -> Result<Termios> {
    // SAFETY: fd is one of our stdin, stdout, stderr, open for our life.
    let tty = unsafe { BorrowedFd::borrow_raw(fd) };
    let saved = termios::tcgetattr(tty).map_err(|e| fail("tcgetattr", e))?;
    let mut raw = saved.clone();
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(tty, SetArg::TCSANOW, &raw)
        .map_err(|e| fail("tcsetattr", e))?;
    Ok(saved)
}

/// Copies typed bytes from `input` to the console, and the console's output
/// to `output`, passing window size changes on, until the container's last
/// process closes the console (EIO), or, once told to stop, it is quiet.
fn copy(
    master: &PtyMaster,
    input: Option<RawFd>,
    output: Option<RawFd>,
    ours: RawFd,
    resized: &SignalFd,
    stop: &OwnedFd,
) {
    let mut buf = [0u8; 4096];
    let mut stopping = false;
    let mut reading = input.is_some();
    loop {
        // SAFETY: input is our stdin, open for our life.
        let stdin = input.map(|fd| unsafe { BorrowedFd::borrow_raw(fd) });
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(resized.as_fd(), PollFlags::POLLIN),
        ];
        if !stopping {
            fds.push(PollFd::new(stop.as_fd(), PollFlags::POLLIN));
        }
        if let (Some(stdin), true) = (stdin, reading && !stopping) {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        // Told to stop, the container has ended: only its last output is
        // left to read, and it comes at once.
        let wait = match stopping {
            true => PollTimeout::from(500u16),
            false => PollTimeout::NONE,
        };
        match poll(&mut fds, wait) {
            Ok(0) if stopping => return,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return,
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        let has = |i: usize| ready.get(i).copied().unwrap_or(false);
        if has(0) {
            match nix::unistd::read(master, &mut buf) {
                // EIO: every copy of the far end is closed; we are done.
                Ok(0) | Err(_) => return,
                Ok(n) => write_all(output, &buf[..n]),
            }
        }
        if has(1) {
            let _ = resized.read_signal();
            copy_window_size(ours, master.as_raw_fd());
        }
        if has(2) {
            stopping = true;
        }
        if let (true, Some(stdin)) = (has(3), stdin) {
            match nix::unistd::read(stdin, &mut buf) {
                // End of our input: the container keeps its console.
                Ok(0) | Err(_) => reading = false,
                Ok(n) => {
                    let _ = (&*master).write_all(&buf[..n]);
                }
            }
        }
    }
}

/// Writes the console's output to ours, all of it.
fn write_all(output: Option<RawFd>, mut bytes: &[u8]) {
    let Some(fd) = output else { return };
    // SAFETY: fd is our stdout or stderr, open for our life.
    let out = unsafe { BorrowedFd::borrow_raw(fd) };
    while !bytes.is_empty() {
        match nix::unistd::write(out, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}

/// Gives the console our terminal's size: TIOCGWINSZ, then TIOCSWINSZ,
/// which sends SIGWINCH to the console's foreground process group.
fn copy_window_size(ours: RawFd, master: RawFd) {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: both requests take a pointer to a struct winsize we own.
    unsafe {
        if libc::ioctl(ours, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(master, libc::TIOCSWINSZ, &size);
        }
    }
}

fn fail(step: &str, err: Errno) -> skeleton::Failure {
    failure(step, err, "see pty(7) and ioctl_tty(2)")
}

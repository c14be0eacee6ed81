//! A demo's output relayed, when `present --yes` runs it: its stdout to ours, its stderr to
//! ours, each line starting on a line of its own.
//!
//! Two writers share the screen during a demo: the command inside the container (its output)
//! and the stage's runtime (its teaching lines, on stderr, some printed after the command has
//! ended, such as `parent: ip address delete …`). Written straight to one terminal, a command
//! whose output does not end in a newline (`ls /dev | tr '\n' ' '`) has the runtime's next
//! line glued to it, one line wider than the terminal. Relayed, we see which stream each chunk
//! comes from: a chunk from one stream while the other has left its line open first ends that
//! line, and so does the demo's end, so that what `present` prints next starts a line too.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::process::{ChildStderr, ChildStdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Which of our streams a chunk goes to.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Stream {
    Out,
    Err,
}

/// The relay of one demo, running in a thread of its own.
pub struct Relay {
    ended: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Relay {
    /// Relays the demo's pipes until both are closed, or the demo has ended and they are quiet.
    pub fn start(out: Option<ChildStdout>, err: Option<ChildStderr>) -> Option<Relay> {
        let (out, err) = (out?, err?);
        let ended = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ended);
        let thread = thread::spawn(move || relay(out, err, &flag));
        Some(Relay { ended, thread })
    }

    /// Once the demo has ended: relays what is left and returns. Something it left running
    /// in the background may hold the pipes open; that is not waited for.
    pub fn finish(self) {
        self.ended.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

/// How long the pipes may stay quiet, once the demo has ended, before the relay stops.
const QUIET: u16 = 50;

fn relay(mut out: ChildStdout, mut err: ChildStderr, ended: &AtomicBool) {
    let mut lines = Lines::default();
    let (mut out_open, mut err_open) = (true, true);
    let mut buf = [0u8; 8192];
    while out_open || err_open {
        // Read before it is ended, so that what came before the end is relayed.
        let was_ended = ended.load(Ordering::SeqCst);
        // What each pipe has, stdout first: a command's last output is in its pipe before the
        // runtime's lines that follow its end.
        let mut ready = [false, false];
        {
            let mut fds = Vec::new();
            if out_open {
                fds.push(PollFd::new(out.as_fd(), PollFlags::POLLIN));
            }
            if err_open {
                fds.push(PollFd::new(err.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::from(QUIET)) {
                Ok(0) if was_ended => break,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            let mut at = 0;
            for (open, slot) in [(out_open, 0), (err_open, 1)] {
                if open {
                    ready[slot] = fds[at].revents().is_some_and(|r| !r.is_empty());
                    at += 1;
                }
            }
        }
        if ready[0] {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => lines.write(Stream::Out, &buf[..n]),
            }
        }
        if ready[1] {
            match err.read(&mut buf) {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => lines.write(Stream::Err, &buf[..n]),
            }
        }
    }
    lines.end();
}

/// Our two streams, and which of them has a line left open.
#[derive(Default)]
struct Lines {
    open: Option<Stream>,
}

impl Lines {
    fn write(&mut self, to: Stream, bytes: &[u8]) {
        if let Some(other) = self.open.filter(|&s| s != to) {
            emit(other, b"\n");
        }
        emit(to, bytes);
        self.open = (!bytes.ends_with(b"\n")).then_some(to);
    }

    fn end(&mut self) {
        if let Some(open) = self.open.take() {
            emit(open, b"\n");
        }
    }
}

/// Writes to our stdout or stderr at once. A closed one is not worth failing the talk for.
fn emit(to: Stream, bytes: &[u8]) {
    let _ = match to {
        Stream::Out => io::stdout()
            .lock()
            .write_all(bytes)
            .and_then(|_| io::stdout().flush()),
        Stream::Err => io::stderr().lock().write_all(bytes),
    };
}

//! The create/start split: the created container waits on a FIFO in its
//! state folder (fifo(7): opening one to write blocks until a reader opens
//! it), and `start`, another process, opens it to read. runc's exec.fifo.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use skeleton::Result;

use crate::state::{self, State};

/// The FIFO, opened by path only (O_PATH: no reader needed yet), before
/// pivot_root(2) takes the host's folders out of sight.
pub fn open_path(path: &Path) -> Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    open(path, flags, Mode::empty()).map_err(|err| {
        skeleton::failure(
            &format!("open {}", path.display()),
            err,
            "see open(2)",
        )
    })
}

/// In the container, set up: opens the FIFO to write, through /proc (the
/// one way to reopen an O_PATH descriptor), which blocks until `start`
/// opens it to read; then one byte, and the process may run.
pub fn wait_for_start(fifo: OwnedFd) -> Result<()> {
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let mut file = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|err| state::error(format!("open {path}: {err}")))?;
    file.write_all(b"0")
        .map_err(|err| state::error(format!("write {path}: {err}")))
}

/// `start`: opens the FIFO to read, which lets the waiting container go,
/// takes its byte, and removes the FIFO: from now on, `running`.
pub fn start(state: &State) -> Result<u8> {
    let id = &state.id;
    match state.status() {
        "created" => {}
        "stopped" if state.dir.join(state::FIFO).exists() => {
            return Err(state::error(format!(
                "container {id} died before start"
            )));
        }
        status => {
            let why =
                format!("cannot start a container that is {status}: {id}");
            return Err(state::error(why));
        }
    }
    let path = state.dir.join(state::FIFO);
    let mut byte = Vec::new();
    File::open(&path)
        .and_then(|mut fifo| fifo.read_to_end(&mut byte))
        .map_err(|err| state::error(format!("{}: {err}", path.display())))?;
    let _ = fs::remove_file(&path);
    match byte.as_slice() {
        b"0" => Ok(0),
        _ => Err(state::error(format!("container {id} did not start"))),
    }
}

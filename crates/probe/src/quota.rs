//! `probe inotify [SECONDS]`: how many inotify instances this process can make, as a container
//! that wants to use up a per-user quota would: it makes them until the kernel refuses one, says
//! so as one JSON line, and holds them until its stdin ends (or SECONDS pass, 30 by default), so
//! whoever started it can try to make one of its own meanwhile.
//!
//! `{made, error, nofile, own_limit}`: `made` instances before `error` (EMFILE from the per-user
//! count `fs.inotify.max_user_instances` of inotify(7), or from RLIMIT_NOFILE: `nofile` is its
//! soft limit, so the two can be told apart); `own_limit` is this user namespace's own
//! `/proc/sys/user/max_inotify_instances` (null when unreadable).

use std::fs;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::json::Json;
use crate::procfs::describe;

/// Enough to pass any per-user limit a host sets by default (128), and bounded.
const AT_MOST: usize = 65_536;

/// Makes the instances, prints the line, holds them for `seconds` at most.
pub fn hold_inotify(seconds: u64) {
    let mut held = Vec::new();
    let mut error = Json::Null;
    while held.len() < AT_MOST {
        // SAFETY: inotify_init1 takes a flag and returns a new descriptor, or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if fd < 0 {
            error = describe(&std::io::Error::last_os_error()).into();
            break;
        }
        // SAFETY: the descriptor was just made, and nothing else owns it.
        held.push(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    let own = fs::read_to_string("/proc/sys/user/max_inotify_instances").ok();
    let own = own.and_then(|text| text.trim().parse::<i64>().ok());
    let report = Json::obj()
        .with("made", held.len())
        .with("error", error)
        .with("nofile", nofile())
        .with("own_limit", own.map_or(Json::Null, Json::from));
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", report.render(false));
    let _ = out.flush();
    // Until stdin ends (its writer is done trying) or the time is up.
    let mut stdin = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(seconds.saturating_mul(1000)).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd; a read of at most 64 bytes into a buffer of 64.
    unsafe {
        if libc::poll(&mut stdin, 1, ms) > 0 {
            let mut buf = [0u8; 64];
            while libc::read(0, buf.as_mut_ptr().cast(), buf.len()) > 0 {}
        }
    }
    drop(held);
}

/// RLIMIT_NOFILE's soft limit.
fn nofile() -> Json {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the one rlimit it is given.
    match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } {
        0 => Json::from(limit.rlim_cur),
        _ => Json::Null,
    }
}

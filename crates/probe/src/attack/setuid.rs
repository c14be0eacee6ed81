//! `setuid`: a setuid-root binary run by an unprivileged user gains privilege. The probe copies
//! itself, setuid root, into a folder only root may enter (so no user of the host can reach the
//! copy while it exists), opens the copy, and a child process becomes `nobody` (uid 65534) and
//! executes it through that descriptor (execveat(2), `AT_EMPTY_PATH`: no path to search). The
//! copy reports its effective uid and capabilities; then copy and folder are removed.
//!
//! Without no_new_privs the kernel makes the copy run as euid 0 with root's capabilities;
//! with it, execve(2) ignores the setuid bit.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use super::{sys, Outcome, PRIVILEGES};

/// The unprivileged user: `nobody`.
const NOBODY: u32 = 65534;

/// Where the copy may go: the first writable folder whose filesystem honours setuid bits.
const PLACES: &[&str] = &["/tmp", "/var/tmp", "/root", "/"];

pub fn attempt() -> Outcome {
    let exe = match own_binary() {
        Ok(bytes) => bytes,
        Err(why) => return Outcome::held(why),
    };
    let places: Vec<&str> = PLACES
        .iter()
        .copied()
        .filter(|p| sys::suid_and_writable(p))
        .collect();
    let dir = match sys::scratch_dir(&places, &format!(".probe-setuid-{}", sys::pid())) {
        Ok(dir) => dir,
        Err(why) if places.is_empty() => {
            return Outcome::held(
                format!(
                    "no writable place that honours setuid bits ({})",
                    PLACES.join(", ")
                ) + &why,
            )
        }
        Err(why) => return Outcome::held(why),
    };
    let copy = format!("{dir}/probe");
    let outcome = plant(&copy, &exe).and_then(|()| run_as_nobody(&copy));
    let _ = fs::remove_file(&copy);
    let _ = sys::rmdir(&dir);
    match outcome {
        Err(why) => Outcome::held(why),
        Ok(answer) => {
            let mut words = answer.split_whitespace();
            let euid: u32 = words.next().and_then(|w| w.parse().ok()).unwrap_or(NOBODY);
            let caps = words.next().unwrap_or("?");
            let text = format!(
                "run by uid {NOBODY}, the setuid-root copy in {dir} had euid {euid}, CapEff {caps}"
            );
            if euid == 0 || !caps.trim_start_matches('0').is_empty() {
                Outcome::through(text)
            } else {
                Outcome::held(text)
            }
        }
    }
}

/// The probe's own bytes: /proc/self/exe, else the path it was started by.
fn own_binary() -> Result<Vec<u8>, String> {
    if let Ok(bytes) = fs::read("/proc/self/exe") {
        return Ok(bytes);
    }
    let argv0 = std::env::args_os().next().unwrap_or_default();
    fs::read(&argv0).map_err(|e| format!("cannot read its own binary ({argv0:?}): {e}"))
}

/// Writes the setuid-root copy.
fn plant(copy: &str, exe: &[u8]) -> Result<(), String> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(copy)
        .map_err(|e| format!("create {copy}: {e}"))?;
    file.write_all(exe)
        .map_err(|e| format!("write {copy}: {e}"))?;
    let path = sys::c(copy)?;
    // SAFETY: path is NUL-terminated.
    if unsafe { libc::chown(path.as_ptr(), 0, 0) } != 0 {
        return Err(sys::error(&format!("chown {copy}")));
    }
    // chown clears the setuid bit: set it after.
    fs::set_permissions(copy, fs::Permissions::from_mode(0o4755))
        .map_err(|e| format!("chmod 4755 {copy}: {e}"))
}

/// A child becomes nobody and executes the copy, which writes its answer on the pipe.
fn run_as_nobody(copy: &str) -> Result<String, String> {
    let path = sys::c(copy)?;
    // SAFETY: path is NUL-terminated; the descriptor is closed below (and on exec).
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(sys::error(&format!("open {copy}")));
    }
    let answer = sys::in_child(|pipe| {
        // SAFETY: plain calls without pointers but setgroups' empty list; this is the child.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0 {
                return Err(sys::error("setgroups"));
            }
            if libc::setresgid(NOBODY, NOBODY, NOBODY) != 0 {
                return Err(sys::error("setresgid(65534)"));
            }
            if libc::setresuid(NOBODY, NOBODY, NOBODY) != 0 {
                return Err(sys::error("setresuid(65534)"));
            }
            if libc::dup2(pipe, 1) < 0 {
                return Err(sys::error("dup2"));
            }
        }
        let args: Vec<CString> = ["probe", "attack", PRIVILEGES]
            .iter()
            .map(|a| CString::new(*a).expect("no NUL"))
            .collect();
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let envp: [*const libc::c_char; 1] = [std::ptr::null()];
        let empty = sys::c("")?;
        // SAFETY: argv and envp are NULL-terminated arrays of NUL-terminated strings that live
        // until the call; on success it does not return.
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                fd,
                empty.as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        Err(sys::error("execveat the copy"))
    });
    // SAFETY: fd was opened above and is not used again.
    unsafe { libc::close(fd) };
    answer
}

/// The copy's side: `O<euid> <CapEff>` on stdout.
pub fn report() -> String {
    match crate::caps::capget() {
        Ok((effective, _)) => format!("O{} {effective:016x}", sys::euid()),
        Err(why) => format!("E{why}"),
    }
}

//! `environ`: the host's environment is visible inside. The host sets [`VARIABLE`] in the
//! runtime's environment; the attack looks for it in its own environment, the init's
//! (`/proc/1/environ`) and its parent's. A runtime that passes its environment on leaks
//! whatever the host had there: tokens, passwords, paths. The value is never printed.

use std::fs;

use super::Outcome;

/// The variable the host sets.
pub const VARIABLE: &str = "DESDE_CERO_SECRET";

pub fn attempt() -> Outcome {
    if std::env::var_os(VARIABLE).is_some() {
        return Outcome::through(format!("{VARIABLE} is in its own environment"));
    }
    // SAFETY: getppid cannot fail.
    let ppid = unsafe { libc::getppid() };
    let mut why = Vec::new();
    let mut places = vec![("/proc/1/environ".to_string(), "the init's")];
    if ppid > 1 {
        places.push((format!("/proc/{ppid}/environ"), "its parent's"));
    }
    for (path, whose) in places {
        match fs::read(&path) {
            Ok(bytes) => {
                let prefix = format!("{VARIABLE}=");
                if bytes
                    .split(|b| *b == 0)
                    .any(|v| v.starts_with(prefix.as_bytes()))
                {
                    return Outcome::through(format!("{VARIABLE} is in {path} ({whose})"));
                }
                why.push(format!("not in {path}"));
            }
            Err(e) => why.push(format!("{path}: {}", crate::procfs::describe(&e))),
        }
    }
    Outcome::held(format!(
        "{VARIABLE} is not in its own environment, {}",
        why.join(", ")
    ))
}

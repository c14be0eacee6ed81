//! `keyring`: a key in host root's user keyring is readable from inside. Keyrings are not
//! namespaced but by user namespace: root in a container without one shares host root's user
//! keyring, where tools keep credentials (kerberos tickets, filesystem keys, tokens).
//!
//! The host adds a key of type `user` described [`DESCRIPTION`]; the attack searches the user
//! and session keyrings for it and reads it (its length is reported, never its value). Without
//! that key, it asks for its user keyring and judges by whose it is: uid 0's of the initial
//! user namespace is host root's.

use std::fs;

use super::{sys, Outcome};

/// The key the host adds.
pub const DESCRIPTION: &str = "desde-cero-secret";

// <linux/keyctl.h>
const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
const KEYCTL_SEARCH: libc::c_long = 10;
const KEYCTL_READ: libc::c_long = 11;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
const KEY_SPEC_USER_KEYRING: libc::c_long = -4;

pub fn attempt() -> Outcome {
    // SAFETY: keyctl with integer arguments only.
    let user = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_USER_KEYRING,
            0,
        )
    };
    if user < 0 {
        return Outcome::held(sys::error("keyctl(KEYCTL_GET_KEYRING_ID, user keyring)"));
    }
    let (kind, description) = (sys::c("user"), sys::c(DESCRIPTION));
    let (Ok(kind), Ok(description)) = (kind, description) else {
        return Outcome::held("no key type");
    };
    let mut why = Vec::new();
    for (keyring, name) in [
        (KEY_SPEC_USER_KEYRING, "user"),
        (KEY_SPEC_SESSION_KEYRING, "session"),
    ] {
        // SAFETY: both strings are NUL-terminated and outlive the call.
        let key = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_SEARCH,
                keyring,
                kind.as_ptr(),
                description.as_ptr(),
                0,
            )
        };
        if key < 0 {
            why.push(sys::error(&format!("search the {name} keyring")));
            continue;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: the kernel writes at most buf.len() bytes into buf.
        let n = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_READ,
                key,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            why.push(sys::error(&format!("read key {key}")));
            continue;
        }
        return Outcome::through(format!(
            "read the key {DESCRIPTION} ({n} bytes) from the {name} keyring"
        ));
    }
    if why.iter().all(|w| w.contains("ENOKEY")) && sys::euid() == 0 && initial_user_ns() {
        return Outcome::through(format!(
            "no key {DESCRIPTION} planted, but its user keyring ({user}) is uid 0's of the \
             initial user namespace: host root's"
        ));
    }
    Outcome::held(why.join("; "))
}

/// Whether this is the initial user namespace: its uid map is the identity over every uid.
fn initial_user_ns() -> bool {
    fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|map| map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}

//! `userns`: a new user namespace, with every capability inside it: the first step of lifting
//! the container's limits from inside (the `cgroup` attack's third route), and of many kernel
//! exploits, which need a capability over some namespace. Tried in a child process.

use super::{sys, Outcome};

/// CAP_SYS_ADMIN's bit.
const CAP_SYS_ADMIN: u64 = 1 << 21;

pub fn attempt() -> Outcome {
    let answer = sys::in_child(|_| {
        sys::unshare(libc::CLONE_NEWUSER, "CLONE_NEWUSER")?;
        let (effective, _) = crate::caps::capget()?;
        Ok(format!("{effective:016x}"))
    });
    match answer {
        Err(why) => Outcome::held(why),
        Ok(hex) => {
            let mask = u64::from_str_radix(&hex, 16).unwrap_or(0);
            let text = format!("unshare(CLONE_NEWUSER): CapEff {hex} inside");
            if mask & CAP_SYS_ADMIN != 0 {
                Outcome::through(text)
            } else {
                Outcome::held(text + ", without CAP_SYS_ADMIN")
            }
        }
    }
}

//! The hostname of the container's own UTS namespace: uts_namespaces(7),
//! sethostname(2).

use skeleton::{say, Result};

/// Names the container.
pub fn set_hostname(name: &str) -> Result<()> {
    use nix::unistd::sethostname;
    // sethostname(2) changes the hostname of the UTS namespace we are in: ours
    // alone, since the parent created us with CLONE_NEWUTS.
    sethostname(name).map_err(|err| {
        skeleton::failure("sethostname", err, &skeleton::root_hint())
    })?;
    say!("child: hostname set to {name} in a new UTS namespace");
    Ok(())
}

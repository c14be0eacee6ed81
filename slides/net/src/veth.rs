//! A cable between the host and the container: a veth pair (veth(4)), two
//! interfaces where what one sends the other receives. One end stays on the
//! host, the other is in the container's network namespace; each gets an
//! address of the same /30 and is brought up. The parent does it all from
//! outside, with ip(8), while the child is still held.

use std::net::Ipv4Addr;
use std::process::{self, Command, Stdio};

use nix::unistd::Pid;
use skeleton::{say, Failure, Result, EXIT_RUNTIME};

/// The pair, by its host end `dc<our pid>h`. Dropping it deletes the pair.
pub struct Veth {
    host: String,
}

/// Connects the child (held, not yet running anything) to the host: `dc<our
/// pid>h` on the host with the /30's `.1`, `dc<our pid>c` in the child's
/// network namespace with its `.2` (the kernel takes names of at most 15
/// characters).
pub fn connect(subnet: Ipv4Addr, child: Pid) -> Result<Veth> {
    let id = process::id();
    let (host, inside) = (format!("dc{id}h"), format!("dc{id}c"));
    let net = u32::from(subnet);
    let (host_ip, inside_ip) =
        (Ipv4Addr::from(net + 1), Ipv4Addr::from(net + 2));
    // `netns <pid>` makes the container's end right in the child's network
    // namespace, as `ip link set dc..c netns <pid>` would move it there: the
    // pair is never on the host with both ends, so whenever the runtime dies,
    // the namespace dies with the child and takes the pair along.
    run(&format!(
        "ip link add {host} type veth peer name {inside} netns {child}"
    ))?;
    // From here on, returning early drops `veth`, which deletes the pair.
    let veth = Veth { host: host.clone() };
    run(&format!("ip address add {host_ip}/30 dev {host}"))?;
    run(&format!("ip link set {host} up"))?;
    // nsenter(1) runs `ip` in the child's network namespace only: not in its
    // PID namespace, where the command must be the first process after init.
    let netns = format!("nsenter -t {child} -n");
    run(&format!(
        "{netns} ip address add {inside_ip}/30 dev {inside}"
    ))?;
    run(&format!("{netns} ip link set {inside} up"))?;
    Ok(veth)
}

impl Drop for Veth {
    /// Deletes the pair: deleting either end deletes both, with their
    /// addresses and routes. The kernel does it too when the container's
    /// network namespace goes, but a moment later, in the background; by then
    /// `ip` may find nothing to delete, and says so on stderr, silenced here.
    fn drop(&mut self) {
        say!("parent: ip link delete {}", self.host);
        let mut ip = Command::new("ip");
        let _ = ip
            .args(["link", "delete", &self.host])
            .stderr(Stdio::null());
        let _ = ip.status();
    }
}

/// Prints a command for the audience, then runs it.
fn run(line: &str) -> Result<()> {
    say!("parent: {line}");
    let argv: Vec<&str> = line.split_whitespace().collect();
    match Command::new(argv[0]).args(&argv[1..]).status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(Failure {
            code: EXIT_RUNTIME,
            message: format!("{line}: {status} — see its message above"),
        }),
        Err(err) => Err(Failure {
            code: EXIT_RUNTIME,
            message: format!("{}: {err} — is it installed?", argv[0]),
        }),
    }
}

//! A cable between the host and the container: a veth pair (veth(4)), two
//! interfaces where what one sends the other receives. One end stays on the
//! host, the other is in the container's network namespace; each gets an
//! address of the same /30 and is brought up. The parent does it all from
//! outside while the child is still held, with the requests ip(8) itself
//! would send the kernel over rtnetlink (netlink.rs): each is printed as the
//! `ip` command it stands for, and no process is started.

use std::net::Ipv4Addr;
use std::process;

use nix::errno::Errno;
use nix::unistd::Pid;
use skeleton::{say, Result};

// Beside this file, wherever this file is included from.
#[path = "netlink.rs"]
mod netlink;
use netlink::Netlink;

/// The pair, by its host end `dc<our pid>h` and that end's address. Dropped,
/// it gives the /30 back (see `drop`).
pub struct Veth {
    host: String,
    address: Ipv4Addr,
    netlink: Netlink,
    /// Both ends addressed and up: the child may go.
    connected: bool,
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
    let netlink = Netlink::open().map_err(no_socket)?;
    // `netns <pid>` makes the container's end right in the child's network
    // namespace, as `ip link set dc..c netns <pid>` would move it there: the
    // pair is never on the host with both ends, so whenever the runtime dies,
    // the namespace dies with the child and takes the pair along.
    let add = format!("ip link add {host} type veth peer name {inside}");
    ip(&format!("{add} netns {child}"), || {
        netlink.add_veth(&host, &inside, child)
    })?;
    // From here on, returning early drops `veth`, which deletes the pair.
    let mut veth = Veth {
        host: host.clone(),
        address: host_ip,
        netlink,
        connected: false,
    };
    ip(&format!("ip address add {host_ip}/30 dev {host}"), || {
        veth.netlink.add_address(&host, host_ip, 30)
    })?;
    // Before it is up, the host's end gives up IPv6. Left on, as the kernel
    // makes it (accept_ra=1), it takes a Router Advertisement sent from
    // inside (CAP_NET_RAW is enough): a default route for the host through
    // the container, and an address (CVE-2020-13401 in docker). The cable is
    // IPv4, a /30: with IPv6 off, the host takes no advertisement, no
    // redirect, nothing IPv6 from the container (disable_ipv6 in the kernel's
    // Documentation/networking/ip-sysctl.rst).
    sysctl(&format!("net.ipv6.conf.{host}.disable_ipv6"), "1")?;
    ip(&format!("ip link set {host} up"), || {
        veth.netlink.set_up(&host)
    })?;
    // A socket acts on the network namespace it was made in: one made in the
    // child's, as nsenter(1) would enter it, sets its end up from here.
    let netns = format!("nsenter -t {child} -n");
    let theirs = Netlink::open_in(child).map_err(no_socket)?;
    ip(
        &format!("{netns} ip address add {inside_ip}/30 dev {inside}"),
        || theirs.add_address(&inside, inside_ip, 30),
    )?;
    ip(&format!("{netns} ip link set {inside} up"), || {
        theirs.set_up(&inside)
    })?;
    // Closed now: a socket holds on to its namespace, which must go with the
    // child's last process.
    drop(theirs);
    veth.connected = true;
    Ok(veth)
}

impl Drop for Veth {
    /// Once connected, the pair is the kernel's to delete: a network namespace
    /// whose last process has ended is destroyed with its interfaces, a veth's
    /// peer with them, a moment later, by a kernel worker (later, when a TCP
    /// connection still closing holds the namespace). Deleting it here
    /// would keep us as long: `ip link delete` returns once the kernel is sure
    /// nothing uses the device any more (10 to 35 ms here). Only the host
    /// end's address goes, at once, so that the next container may take this
    /// /30 as soon as we exit. A pair half made, the child still held, is
    /// deleted here.
    fn drop(&mut self) {
        let (host, address) = (&self.host, self.address);
        if self.connected {
            say!("parent: ip address delete {address}/30 dev {host}");
            let _ = self.netlink.delete_address(host, address, 30);
        } else {
            say!("parent: ip link delete {host}");
            let _ = self.netlink.delete(host);
        }
    }
}

/// Prints the `ip` command a request stands for, then sends it; a refusal is
/// reported as that command's.
fn ip(line: &str, request: impl FnOnce() -> nix::Result<()>) -> Result<()> {
    say!("parent: {line}");
    request().map_err(|err| skeleton::failure(line, err, "see rtnetlink(7)"))
}

/// `sysctl -w <name>=<value>`: a write to its file under /proc/sys, the dots
/// as slashes. A kernel without IPv6 (ipv6.disable=1) has none to set.
fn sysctl(name: &str, value: &str) -> Result<()> {
    let line = format!("sysctl -w {name}={value}");
    say!("parent: {line}");
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    if !std::path::Path::new("/proc/sys/net/ipv6").exists() {
        return Ok(());
    }
    std::fs::write(path, value).map_err(|err| {
        let errno = Errno::from_raw(err.raw_os_error().unwrap_or(0));
        skeleton::failure(&line, errno, "see sysctl(8)")
    })
}

fn no_socket(err: Errno) -> skeleton::Failure {
    skeleton::failure("socket(AF_NETLINK)", err, &skeleton::root_hint())
}

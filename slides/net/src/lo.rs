//! `lo`, the loopback interface, which a new network namespace has down: until
//! it is up, even 127.0.0.1 is unreachable. A step of `net`, used as it is by
//! the stages after it.

use skeleton::{say, Result};

/// Brings the loopback interface up: until it is, even 127.0.0.1 is
/// unreachable.
pub fn bring_up() -> Result<()> {
    use nix::errno::Errno;
    use nix::libc;
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    // What `ip link set lo up` does, without starting a process: one started
    // here would be in our PID namespace before the command. The ioctl(2)
    // SIOCSIFFLAGS sets an interface's flags (netdevice(7)); any socket will
    // do, and ours, made here, is in our network namespace. (nix has no call
    // for it: raw libc.)
    let fail = |err| {
        skeleton::failure("ip link set lo up (ioctl)", err, "see netdevice(7)")
    };
    let (inet, udp) = (AddressFamily::Inet, SockType::Datagram);
    let sock = socket(inet, udp, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|err| skeleton::failure("socket", err, "see socket(2)"))?;
    // SAFETY: ifreq is plain data, and all zeroes is a valid one.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    req.ifr_name[0] = b'l' as libc::c_char;
    req.ifr_name[1] = b'o' as libc::c_char;
    // Read the flags, to set IFF_UP and keep the others. SAFETY: a valid
    // socket and ifreq, which the kernel reads and writes. (`as _`: the
    // request is a c_ulong with glibc, a c_int with musl.)
    let fd = sock.as_raw_fd();
    if unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) } < 0 {
        return Err(fail(Errno::last()));
    }
    // SAFETY: SIOCGIFFLAGS filled in the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above.
    if unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req) } < 0 {
        return Err(fail(Errno::last()));
    }
    say!("child: ip link set lo up (an ioctl, no process)");
    Ok(())
}

//! The network interfaces a process sees, whether each is up, and its addresses.
//!
//! The list comes from getifaddrs(3), which asks the kernel over netlink: it describes the
//! network namespace the process is really in, and needs neither /proc nor /sys. (Reading
//! `/sys/class/net` would be wrong inside a new network namespace whose /sys was not remounted:
//! it still lists the host's interfaces.) If getifaddrs fails, the names come from
//! `/sys/class/net` and the state from the SIOCGIFFLAGS ioctl, without addresses.

use std::ffi::CStr;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::json::Json;

/// One interface.
#[derive(Debug, Default)]
struct Iface {
    name: String,
    up: bool,
    addresses: Vec<String>,
}

/// `[{name, up, addresses: ["10.0.0.2/24", ...]}]`.
pub fn report() -> Result<Json, String> {
    let list = match from_getifaddrs() {
        Ok(list) => list,
        Err(why) => from_sys().map_err(|e| format!("{why}; {e}"))?,
    };
    Ok(Json::Arr(
        list.into_iter()
            .map(|i| {
                Json::obj().with("name", i.name).with("up", i.up).with(
                    "addresses",
                    i.addresses.into_iter().map(Json::from).collect::<Vec<_>>(),
                )
            })
            .collect(),
    ))
}

fn entry<'a>(list: &'a mut Vec<Iface>, name: &str) -> &'a mut Iface {
    let at = match list.iter().position(|i| i.name == name) {
        Some(at) => at,
        None => {
            list.push(Iface {
                name: name.to_string(),
                ..Iface::default()
            });
            list.len() - 1
        }
    };
    &mut list[at]
}

fn from_getifaddrs() -> Result<Vec<Iface>, String> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: head is a valid out-pointer; the list is freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(format!("getifaddrs: {}", std::io::Error::last_os_error()));
    }
    let mut list = Vec::new();
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: cursor points into the list getifaddrs returned, which is still alive.
        let ifa = unsafe { &*cursor };
        cursor = ifa.ifa_next;
        if ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_string_lossy();
        let iface = entry(&mut list, &name);
        iface.up = ifa.ifa_flags & libc::IFF_UP as libc::c_uint != 0;
        // SAFETY: both pointers are null or point to sockaddrs of the family they announce.
        if let Some(address) = unsafe { address(ifa.ifa_addr, ifa.ifa_netmask) } {
            iface.addresses.push(address);
        }
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(list)
}

/// `addr/prefix` for an IPv4 or IPv6 sockaddr; None for other families (link-layer entries).
///
/// # Safety
/// `addr` and `mask` must be null or point to valid sockaddrs of the family they announce.
unsafe fn address(addr: *const libc::sockaddr, mask: *const libc::sockaddr) -> Option<String> {
    if addr.is_null() {
        return None;
    }
    match i32::from((*addr).sa_family) {
        libc::AF_INET => {
            let a = &*(addr as *const libc::sockaddr_in);
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            let prefix = if mask.is_null() {
                32
            } else {
                let m = &*(mask as *const libc::sockaddr_in);
                u32::from_be(m.sin_addr.s_addr).count_ones()
            };
            Some(format!("{ip}/{prefix}"))
        }
        libc::AF_INET6 => {
            let a = &*(addr as *const libc::sockaddr_in6);
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let prefix = if mask.is_null() {
                128
            } else {
                let m = &*(mask as *const libc::sockaddr_in6);
                m.sin6_addr.s6_addr.iter().map(|b| b.count_ones()).sum()
            };
            Some(format!("{ip}/{prefix}"))
        }
        _ => None,
    }
}

/// Fallback: names from /sys/class/net, state from SIOCGIFFLAGS.
fn from_sys() -> Result<Vec<Iface>, String> {
    let dir = std::fs::read_dir("/sys/class/net")
        .map_err(|e| format!("/sys/class/net: {e} (is /sys mounted?)"))?;
    // SAFETY: plain socket(2) call; the descriptor is closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    let mut list = Vec::new();
    let mut names: Vec<String> = dir
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let up = sock >= 0 && flags(sock, &name).is_some_and(|f| f & libc::IFF_UP != 0);
        list.push(Iface {
            name,
            up,
            addresses: Vec::new(),
        });
    }
    if sock >= 0 {
        // SAFETY: sock is a descriptor this function opened.
        unsafe { libc::close(sock) };
    }
    Ok(list)
}

fn flags(sock: libc::c_int, name: &str) -> Option<libc::c_int> {
    // SAFETY: ifreq is plain data; all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return None;
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: req is a valid ifreq with a NUL-terminated name.
    let rc = unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS as _, &mut req) };
    // SAFETY: after SIOCGIFFLAGS the union holds ifru_flags.
    (rc == 0).then(|| libc::c_int::from(unsafe { req.ifr_ifru.ifru_flags }))
}

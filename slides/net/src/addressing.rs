//! The container's addresses: a point-to-point /30 that no address or route
//! of the host overlaps, so that the host's end answers and none of the host's
//! own networks is shadowed. Bookkeeping, not the lesson (that is veth.rs).

use std::env;
use std::fs;
use std::net::Ipv4Addr;
use std::process;

use nix::ifaddrs::getifaddrs;
use nix::sys::socket::SockaddrStorage;
use skeleton::{Failure, Result, EXIT_RUNTIME};

/// The pool of the containers' /30s: the host's end gets `.1`, the
/// container's `.2`.
const POOL: &str = "10.200.0.0/24";
/// Names another pool, or a single /30: `DESDE_CERO_SUBNET=10.9.9.0/30`.
const SUBNET_ENV: &str = "DESDE_CERO_SUBNET";

/// The first /30 of the pool that nothing on the host overlaps. The search
/// starts at a place that depends on our pid, so that two containers starting
/// together are unlikely to race for the same one.
pub fn free_subnet() -> Result<Ipv4Addr> {
    let pool = env::var(SUBNET_ENV).unwrap_or(POOL.to_string());
    let Some((first, len)) = parse(&pool) else {
        return Err(refused(format!(
            "{SUBNET_ENV}={pool}: not a subnet like {POOL} or 10.9.9.0/30"
        )));
    };
    let taken = host_networks();
    let count = 1 << (30 - len);
    let mut clash = String::new();
    for i in 0..count {
        let net = first + (process::id().wrapping_add(i) % count) * 4;
        // Two networks overlap when they agree on the bits that both masks
        // cover (a /30's mask is !3).
        match taken
            .iter()
            .find(|(addr, mask, _)| (addr ^ net) & mask & !3 == 0)
        {
            Some((_, _, what)) => {
                clash = format!("{}/30 overlaps {what}", Ipv4Addr::from(net))
            }
            None => return Ok(Ipv4Addr::from(net)),
        }
    }
    Err(refused(format!(
        "no free /30 in {pool}: {clash} — choose another with {SUBNET_ENV}"
    )))
}

/// `<first address>/<length>`: at most a /30, and the address is the subnet's
/// first.
fn parse(pool: &str) -> Option<(u32, u32)> {
    let (first, len) = pool.split_once('/')?;
    let first = u32::from(first.parse::<Ipv4Addr>().ok()?);
    let len = len.parse::<u32>().ok().filter(|len| *len <= 30)?;
    (u64::from(first) % (1 << (32 - len)) == 0).then_some((first, len))
}

/// The networks in use on the host, as (address, mask, what): each
/// interface's address with its network, and each route of the main routing
/// table but the default one (whose mask, 0, would overlap everything).
fn host_networks() -> Vec<(u32, u32, String)> {
    let mut taken = Vec::new();
    let ip =
        |a: Option<SockaddrStorage>| Some(u32::from(a?.as_sockaddr_in()?.ip()));
    for ifa in getifaddrs().into_iter().flatten() {
        if let (Some(addr), Some(mask)) = (ip(ifa.address), ip(ifa.netmask)) {
            let what = format!("an address of {}", ifa.interface_name);
            taken.push((addr, mask, what));
        }
    }
    // /proc/net/route shows addresses in hex, in the byte order of the
    // kernel's memory.
    let hex = |s: &str| {
        u32::from_str_radix(s, 16).map(|n| u32::from_be_bytes(n.to_ne_bytes()))
    };
    let routes = fs::read_to_string("/proc/net/route").unwrap_or_default();
    for line in routes.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [dev, dest, _, _, _, _, _, mask, ..] = fields[..] {
            if let (Ok(dest), Ok(mask)) = (hex(dest), hex(mask)) {
                taken.push((dest, mask, format!("a route on {dev}")));
            }
        }
    }
    taken.retain(|(_, mask, _)| *mask != 0);
    taken
}

/// A subnet refused before anything is made: one line, exit 125.
fn refused(message: String) -> Failure {
    Failure {
        code: EXIT_RUNTIME,
        message,
    }
}

//! The container's addresses: a point-to-point /30 that no address or route
//! of the host overlaps, so that the host's end answers and none of the host's
//! own networks is shadowed, and that no other container holds, even one that
//! starts at the same moment. Bookkeeping, not the lesson (that is veth.rs).

use std::env;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::ifaddrs::getifaddrs;
use nix::libc;
use nix::sys::socket::SockaddrStorage;
use skeleton::{Failure, Result, EXIT_RUNTIME};

/// The pool of the containers' /30s, 16384 of them: the host's end gets `.1`,
/// the container's `.2`.
const POOL: &str = "10.200.0.0/16";
/// Names another pool, or a single /30: `DESDE_CERO_SUBNET=10.9.9.0/30`.
const SUBNET_ENV: &str = "DESDE_CERO_SUBNET";
/// A file per /30, which a running container keeps locked. Only root may
/// write to /run, which the FHS has emptied at boot; this folder is root's
/// alone, so no other user can open a file in it to lock it and block that
/// /30 (flock(2) locks a file opened for reading as well).
const RESERVED: &str = "/run/desde-cero/subnets";

/// Our /30's lock, held until this process ends however it ends, `kill -9`
/// included: the kernel releases a flock(2) lock when the last descriptor of
/// its open file is closed. (The child does not keep it: std opens files
/// close-on-exec, and the child re-executes.)
static HELD: OnceLock<Flock<File>> = OnceLock::new();

/// The first /30 of the pool that nothing on the host overlaps and that no
/// other container holds. The host's addresses alone are not enough: two
/// containers starting together would both find a /30 free before either had
/// added its address. So each takes a lock on the /30's file first.
pub fn free_subnet() -> Result<Ipv4Addr> {
    let pool = env::var(SUBNET_ENV).unwrap_or(POOL.to_string());
    let Some((first, len)) = parse(&pool) else {
        return Err(refused(format!(
            "{SUBNET_ENV}={pool}: not a subnet like {POOL} or 10.9.9.0/30"
        )));
    };
    let taken = host_networks();
    let dir = reserved_dir()?;
    let count = 1 << (30 - len);
    let mut clash = String::new();
    for i in 0..count {
        let net = first + i * 4;
        if let Some(what) = overlap(&taken, net) {
            clash = format!("{}/30 overlaps {what}", Ipv4Addr::from(net));
            continue;
        }
        let Some(lock) = reserve(dir, net)? else {
            clash =
                format!("{}/30 is another container's", Ipv4Addr::from(net));
            continue;
        };
        // Asked again, now that no other container can take it: a container
        // killed a moment ago has given its lock back, but the kernel may not
        // yet have deleted its veth pair, and with it the address.
        if let Some(what) = overlap(&host_networks(), net) {
            clash = format!("{}/30 overlaps {what}", Ipv4Addr::from(net));
            continue;
        }
        let _ = HELD.set(lock);
        return Ok(Ipv4Addr::from(net));
    }
    Err(refused(format!(
        "no free /30 in {pool}: {clash} — choose another with {SUBNET_ENV}"
    )))
}

/// What on the host the /30 at `net` overlaps, if anything. Two networks
/// overlap when they agree on the bits that both masks cover (a /30's mask is
/// !3).
fn overlap(taken: &[(u32, u32, String)], net: u32) -> Option<&str> {
    taken
        .iter()
        .find(|(addr, mask, _)| (addr ^ net) & mask & !3 == 0)
        .map(|(_, _, what)| what.as_str())
}

/// Locks the file of the /30 at `net` in `dir`, without waiting: `None` when
/// another container holds it. The lock goes with the returned value.
fn reserve(dir: &Path, net: u32) -> Result<Option<Flock<File>>> {
    let path = dir.join(Ipv4Addr::from(net).to_string());
    // O_NOFOLLOW: a symlink planted here is refused, never followed.
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|err| io_failure(&format!("open {}", path.display()), &err))?;
    // LOCK_NB: fail at once with EWOULDBLOCK when another process holds it.
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, err)) => Err(skeleton::failure("flock", err, "see flock(2)")),
    }
}

/// The folder of the /30s' files, made root's alone (0700) when missing, and
/// the folders above it if a minimal system lacks them. One that anybody but
/// root may enter was not made so: refused.
fn reserved_dir() -> Result<&'static Path> {
    let dir = Path::new(RESERVED);
    let made = DirBuilder::new().recursive(true).mode(0o700).create(dir);
    made.map_err(|err| io_failure(&format!("mkdir -p {RESERVED}"), &err))?;
    let meta = fs::symlink_metadata(dir)
        .map_err(|err| io_failure(&format!("stat {RESERVED}"), &err))?;
    if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o077 != 0 {
        return Err(refused(format!("{RESERVED} is not root's alone")));
    }
    Ok(dir)
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

/// A failed file step, named as the command that does the same.
fn io_failure(step: &str, err: &io::Error) -> Failure {
    let errno = Errno::from_raw(err.raw_os_error().unwrap_or(0));
    skeleton::failure(step, errno, &skeleton::root_hint())
}

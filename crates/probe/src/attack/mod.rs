//! `probe attack <name>|all`: the attacks a process inside a container tries against the host,
//! one per attack class of the catalog (`catalog::Attack`), each a row of `cargo xtask matrix`.
//!
//! Each attack prints one JSON object, `{"attack", "succeeded", "detail"}`: `succeeded` is
//! whether it got through, `detail` one line saying what happened (usually the errno that
//! stopped it). `all` prints them all as one JSON array. Every attack is safe for the host (it
//! opens for writing but never writes what it should not, it reads nothing secret, a value it
//! writes is the value that was there), bounded in time (whatever runs in a child process is
//! killed after [`sys::LIMIT`]), and leaves nothing behind (what it makes, it removes).
//!
//! Some attacks need bait the host lays out (what a runtime would leak if it could):
//!
//! - `--host-marker PATH`: a file only the host has (`escape`, `hostfd`);
//! - `--host-dev MAJ:MIN`: the device of the host's disk (`device`; else guessed);
//! - `--host-disk BYTES[,BYTES...]`: the sizes of the host's filesystems where a container's
//!   writes could land (`disk`; else guessed from the type of `/`);
//! - `--host-net INODE`: the inode of the host's `/proc/self/ns/net` (`route`: no RA is sent in
//!   the host's own network; without it, none at all);
//! - a key described [`keyring::DESCRIPTION`] in host root's user keyring (`keyring`);
//! - a directory descriptor inherited from the host, e.g. `exec 7</tmp` (`hostfd`);
//! - [`environ::VARIABLE`] set in the runtime's environment (`environ`);
//! - a terminal on stdin, stdout or stderr that is the process's controlling terminal (`tty`;
//!   with `--host-marker M`, the line it types is `touch M.typed`).

mod cgroup;
mod device;
mod environ;
mod escape;
mod hostfd;
mod keyring;
mod mount;
mod procsys;
mod route;
mod setuid;
mod sys;
mod tty;
mod userns;

use std::path::PathBuf;

use crate::json::Json;

/// The attacks, by the catalog's labels, in the matrix's order.
pub const NAMES: &[&str] = &[
    "escape", "procsys", "mount", "setuid", "device", "userns", "cgroup", "keyring", "hostfd",
    "environ", "disk", "route", "tty",
];

/// What the host told the attacks (see the module's documentation).
#[derive(Debug, Default, PartialEq)]
pub struct Bait {
    pub marker: Option<PathBuf>,
    pub host_dev: Option<(u32, u32)>,
    pub host_disk: Vec<u64>,
    pub host_net: Option<u64>,
}

/// How one attack went.
pub struct Outcome {
    pub succeeded: bool,
    pub detail: String,
}

impl Outcome {
    fn through(detail: impl Into<String>) -> Outcome {
        Outcome {
            succeeded: true,
            detail: detail.into(),
        }
    }

    fn held(detail: impl Into<String>) -> Outcome {
        Outcome {
            succeeded: false,
            detail: detail.into(),
        }
    }
}

/// Runs one attack by name; `None` for a name that is not an attack.
pub fn run(name: &str, bait: &Bait) -> Option<Json> {
    let outcome = match name {
        "escape" => escape::attempt(bait.marker.as_deref()),
        "procsys" => procsys::attempt(),
        "mount" => mount::attempt(),
        "setuid" => setuid::attempt(),
        "device" => device::attempt(bait.host_dev),
        "userns" => userns::attempt(),
        "cgroup" => cgroup::attempt(),
        "keyring" => keyring::attempt(),
        "hostfd" => hostfd::attempt(bait.marker.as_deref()),
        "environ" => environ::attempt(),
        "disk" => disk(&bait.host_disk),
        "route" => route::attempt(bait.host_net),
        "tty" => tty::attempt(bait.marker.as_deref()),
        _ => return None,
    };
    Some(
        Json::obj()
            .with("attack", name)
            .with("succeeded", outcome.succeeded)
            .with("detail", outcome.detail),
    )
}

/// Every attack, as one JSON array. `hostfd` goes first, before any other attack has opened
/// (and closed again) a descriptor of its own.
pub fn all(bait: &Bait) -> Json {
    let order = std::iter::once("hostfd").chain(NAMES.iter().copied().filter(|n| *n != "hostfd"));
    let mut done: Vec<(usize, Json)> = order
        .filter_map(|name| {
            let at = NAMES.iter().position(|n| *n == name)?;
            Some((at, run(name, bait)?))
        })
        .collect();
    done.sort_by_key(|(at, _)| *at);
    Json::Arr(done.into_iter().map(|(_, json)| json).collect())
}

/// What the setuid attack's copy reports when it runs as `probe attack __privileges`.
pub const PRIVILEGES: &str = "__privileges";

/// The setuid copy's side: its effective uid and capabilities, for the attack to judge.
pub fn privileges() -> String {
    setuid::report()
}

/// `disk`: writes to `/` are unbounded and land on the host's disk. A container's `/` that is
/// the host's filesystem, or an overlay whose writable layer is on it, has that filesystem's
/// size; a bounded one (a size-limited tmpfs under the overlay) has its own. It writes nothing.
fn disk(host_sizes: &[u64]) -> Outcome {
    let fs = match sys::statfs("/") {
        Ok(fs) => fs,
        Err(why) => return Outcome::held(why),
    };
    let what = format!("/ is {} of {}", fs.kind(), sys::size(fs.bytes));
    if host_sizes.is_empty() {
        // Without the host's sizes, a tmpfs (or ramfs) is the one kind known to be bounded.
        return if fs.in_memory() {
            Outcome::held(format!(
                "{what}, bounded (no --host-disk: judged by its type)"
            ))
        } else {
            Outcome::through(format!(
                "{what}, on a disk (no --host-disk: judged by its type)"
            ))
        };
    }
    if host_sizes.contains(&fs.bytes) {
        Outcome::through(format!(
            "{what}, a host filesystem's size: writes land on the host's disk"
        ))
    } else {
        Outcome::held(format!("{what}, no host filesystem's size: bounded"))
    }
}

/// Parses `MAJ:MIN`.
pub fn parse_dev(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Parses `BYTES[,BYTES...]`.
pub fn parse_sizes(text: &str) -> Option<Vec<u64>> {
    text.split(',').map(|n| n.trim().parse().ok()).collect()
}

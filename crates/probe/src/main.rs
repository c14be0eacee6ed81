//! `probe`: prints, as one JSON object, what a process sees from inside a container.
//!
//! It is copied into every root filesystem `cargo xtask rootfs` makes, at `/usr/local/bin/probe`,
//! and run inside each stage by the tests and by `cargo xtask matrix`. It is statically linked
//! (musl) and needs nothing from the root filesystem: no shell, no libraries, not even /proc
//! (what cannot be known without it is `null`, with the reason under `errors`).
//!
//! ```text
//! probe [--host-marker PATH] [--pretty|--compact]   the full report
//! probe escape [--host-marker PATH]                 only the chroot escape: {"escaped", "error"}
//! probe attack NAME|all [--host-marker PATH] [--host-dev MAJ:MIN] [--host-disk BYTES,...]
//!       [--host-net INODE]
//! probe paths PATH...                               what each path shows (paths.rs)
//! probe inotify [SECONDS]                            inotify instances made and held (quota.rs)
//! probe connect ADDRESS:PORT...                     whether TCP reaches each (connect.rs)
//! ```
//!
//! `attack` runs one attack against the host (see `attack/mod.rs`: escape, procsys, mount,
//! setuid, device, userns, cgroup, keyring, hostfd, environ, disk) and prints
//! `{"attack", "succeeded", "detail"}`; `all` prints every one, as a JSON array.
//!
//! The report's keys, always all present and in this order:
//! `hostname`, `pid`, `ppid`, `uid`, `gid`, `ns` {cgroup, ipc, mnt, net, pid, user, uts, time:
//! inode numbers}, `proc_pids` (how many PIDs /proc lists), `mounts` [{mountpoint, fstype,
//! options}], `cgroup` {path, lines}, `limits` {pids_max, memory_max, cpu_max: strings or null
//! when unlimited}, `limits_source`, `interfaces` [{name, up, addresses}], `uid_map`, `gid_map`
//! (raw text), `caps` {effective, permitted, bounding: hex masks, source}, `no_new_privs`,
//! `host_marker_visible` (whether the `--host-marker` file is visible as it is: then this is
//! not the container's own root), `host_root_reachable` (visible, or reached by the chroot escape;
//! false when the escape cannot even be tried for lack of CAP_SYS_CHROOT), both null without
//! `--host-marker`, and `errors` {field: what went wrong; mostly why that field is null}.
//!
//! Exit codes: 0 report printed (even with errors inside it, and whether an attack succeeded or
//! not); `escape` exits 0 when it escaped and 1 when not; 2 usage error. The probe never panics
//! on what it finds.

mod attack;
mod caps;
mod cgroup;
mod connect;
mod escape;
mod ids;
mod json;
mod net;
mod ns;
mod paths;
mod procfs;
mod quota;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use json::Json;

const USAGE: &str = "usage: probe [--host-marker PATH] [--pretty|--compact]\n       \
                     probe escape [--host-marker PATH]\n       \
                     probe attack NAME|all [--host-marker PATH] [--host-dev MAJ:MIN] \
                     [--host-disk BYTES,...] [--host-net INODE]\n       \
                     probe paths PATH...\n       \
                     probe inotify [SECONDS]\n       \
                     probe connect ADDRESS:PORT...";

/// What the command line asked for.
#[derive(Debug, PartialEq)]
struct Args {
    escape_only: bool,
    /// `attack NAME`: the attack to run (`all`, or one of [`attack::NAMES`]).
    attack: Option<String>,
    marker: Option<PathBuf>,
    pretty: Option<bool>,
    bait: attack::Bait,
    /// `paths PATH...`: the paths to look at (paths.rs).
    paths: Option<Vec<String>>,
    /// `connect ADDRESS:PORT...`: where to try a TCP connection (connect.rs).
    connect: Option<Vec<String>>,
}

fn parse(args: Vec<String>) -> Result<Args, String> {
    let mut out = Args {
        escape_only: false,
        attack: None,
        marker: None,
        pretty: None,
        bait: attack::Bait::default(),
        paths: None,
        connect: None,
    };
    let mut args = args.into_iter().peekable();
    match args.peek().map(String::as_str) {
        Some("paths") => {
            let paths: Vec<String> = args.skip(1).collect();
            if paths.is_empty() {
                return Err("paths needs at least one path".into());
            }
            out.paths = Some(paths);
            return Ok(out);
        }
        Some("connect") => {
            let addresses: Vec<String> = args.skip(1).collect();
            if addresses.is_empty() {
                return Err("connect needs at least one ADDRESS:PORT".into());
            }
            out.connect = Some(addresses);
            return Ok(out);
        }
        Some("escape") => {
            out.escape_only = true;
            args.next();
        }
        Some("attack") => {
            args.next();
            match args.next() {
                Some(name)
                    if name == "all"
                        || name == attack::PRIVILEGES
                        || attack::NAMES.contains(&name.as_str()) =>
                {
                    out.attack = Some(name)
                }
                Some(name) => {
                    return Err(format!(
                        "no attack {name:?}: one of all, {}",
                        attack::NAMES.join(", ")
                    ))
                }
                None => return Err("attack needs a name, or all".into()),
            }
        }
        _ => {}
    }
    let attacking = out.attack.is_some();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host-marker" => match args.next() {
                Some(path) if !path.is_empty() => out.marker = Some(path.into()),
                _ => return Err("--host-marker needs a path".into()),
            },
            "--host-dev" if attacking => match args.next().as_deref().and_then(attack::parse_dev) {
                Some(dev) => out.bait.host_dev = Some(dev),
                None => return Err("--host-dev needs MAJOR:MINOR".into()),
            },
            "--host-disk" if attacking => {
                match args.next().as_deref().and_then(attack::parse_sizes) {
                    Some(sizes) => out.bait.host_disk = sizes,
                    None => return Err("--host-disk needs sizes in bytes, comma-separated".into()),
                }
            }
            "--host-net" if attacking => match args.next().and_then(|n| n.parse().ok()) {
                Some(inode) => out.bait.host_net = Some(inode),
                None => return Err("--host-net needs the inode of a network namespace".into()),
            },
            "--pretty" if !out.escape_only && !attacking => out.pretty = Some(true),
            "--compact" if !out.escape_only && !attacking => out.pretty = Some(false),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    out.bait.marker = out.marker.clone();
    Ok(out)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.first().is_some_and(|a| a == "inotify") {
        let seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
        quota::hold_inotify(seconds);
        return ExitCode::SUCCESS;
    }
    let args = match parse(args) {
        Ok(args) => args,
        Err(why) => {
            eprintln!("probe: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(paths) = &args.paths {
        print(&paths::report(paths), false);
        return ExitCode::SUCCESS;
    }
    if let Some(addresses) = &args.connect {
        print(&connect::report(addresses), false);
        return ExitCode::SUCCESS;
    }
    if let Some(name) = &args.attack {
        if name == attack::PRIVILEGES {
            // The setuid attack's copy, run as nobody: its answer on stdout, nothing else.
            let _ = std::io::stdout().write_all(attack::privileges().as_bytes());
            return ExitCode::SUCCESS;
        }
        let report = if name == "all" {
            attack::all(&args.bait)
        } else {
            attack::run(name, &args.bait).unwrap_or(Json::Null)
        };
        print(&report, false);
        return ExitCode::SUCCESS;
    }
    if args.escape_only {
        let outcome = escape::attempt(args.marker.as_deref());
        let report = Json::obj()
            .with("escaped", outcome.escaped)
            .with("error", outcome.error)
            .with("marker_visible_before", outcome.marker_visible_before);
        print(&report, false);
        return if outcome.escaped {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    // SAFETY: isatty only inspects a descriptor.
    let tty = unsafe { libc::isatty(1) } == 1;
    print(&report(args.marker), args.pretty.unwrap_or(tty));
    ExitCode::SUCCESS
}

fn print(value: &Json, pretty: bool) {
    let mut text = value.render(pretty);
    text.push('\n');
    // A closed stdout is not worth a panic: there is nobody left to tell.
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// Collects fields; a failed one becomes `null` and its reason goes under `errors`.
struct Report {
    body: Json,
    errors: Json,
}

impl Report {
    fn field(&mut self, key: &str, value: Result<impl Into<Json>, String>) {
        match value {
            Ok(v) => self.body.push(key, v),
            Err(why) => {
                self.body.push(key, Json::Null);
                self.errors.push(key, why);
            }
        }
    }
}

/// The full report.
fn report(marker: Option<PathBuf>) -> Json {
    let mut r = Report {
        body: Json::obj(),
        errors: Json::obj(),
    };
    r.field("hostname", ids::hostname());
    r.body.push("pid", ids::pid());
    r.body.push("ppid", ids::ppid());
    r.body.push("uid", ids::uid());
    r.body.push("gid", ids::gid());
    r.field("ns", ns::inodes());
    r.field("proc_pids", procfs::pid_count());
    r.field("mounts", procfs::mounts());
    let lines = procfs::cgroup_lines();
    r.field(
        "cgroup",
        lines
            .as_ref()
            .map(|l| cgroup::report(l))
            .map_err(Clone::clone),
    );
    let limits = cgroup::limits(lines.as_deref().ok());
    r.body.push("limits", limits.json());
    r.body.push("limits_source", limits.source.as_str());
    r.field("interfaces", net::report());
    r.field("uid_map", ids::map("uid"));
    r.field("gid_map", ids::map("gid"));
    r.field("caps", caps::report());
    r.field("no_new_privs", ids::no_new_privs());
    let (visible, reachable) = match marker {
        None => (None, None),
        Some(marker) => {
            let outcome = escape::attempt(Some(&marker));
            let visible = outcome.marker_visible_before;
            let reachable = match &outcome.error {
                None => Some(outcome.escaped || visible == Some(true)),
                Some(why) => {
                    r.errors.push("host_root_reachable", why.as_str());
                    if visible == Some(true) {
                        Some(true)
                    } else if why.starts_with("chroot: EPERM") {
                        // No CAP_SYS_CHROOT: this process cannot even try, so it cannot get out.
                        Some(false)
                    } else {
                        None
                    }
                }
            };
            (visible, reachable)
        }
    };
    r.body.push("host_marker_visible", visible);
    r.body.push("host_root_reachable", reachable);
    let errors = r.errors;
    r.body.with("errors", errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_both_forms() {
        let a = parse(args(&["escape", "--host-marker", "/m"])).unwrap();
        assert!(a.escape_only);
        assert_eq!(a.marker, Some(PathBuf::from("/m")));
        let a = parse(args(&["--pretty"])).unwrap();
        assert!(!a.escape_only);
        assert_eq!(a.pretty, Some(true));
        assert!(parse(args(&["--host-marker"])).is_err());
        assert!(parse(args(&["escape", "--pretty"])).is_err());
        assert!(parse(args(&["bogus"])).is_err());
        let a = parse(args(&["paths", "/a", "--pretty"])).unwrap();
        assert_eq!(a.paths, Some(vec!["/a".into(), "--pretty".into()]));
        assert!(parse(args(&["paths"])).is_err());
        let a = parse(args(&["connect", "10.0.0.1:80"])).unwrap();
        assert_eq!(a.connect, Some(vec!["10.0.0.1:80".into()]));
        assert!(parse(args(&["connect"])).is_err());
    }

    #[test]
    fn report_has_every_key_in_order() {
        let Json::Obj(fields) = report(None) else {
            panic!("not an object");
        };
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "hostname",
                "pid",
                "ppid",
                "uid",
                "gid",
                "ns",
                "proc_pids",
                "mounts",
                "cgroup",
                "limits",
                "limits_source",
                "interfaces",
                "uid_map",
                "gid_map",
                "caps",
                "no_new_privs",
                "host_marker_visible",
                "host_root_reachable",
                "errors"
            ]
        );
    }
}

//! Every attack class of the catalog (`catalog::Attack`), tried for real with the probe
//! (`probe attack <name>`), with the bait a careless runtime would leak (`testkit::attack`).
//!
//! For each attack, the catalog's `stops` says which stages stop it; the stage that stops it for
//! good is the first from which every later stage stops it too. The attack must get through in
//! the stage before that one and fail in it: the hardening step is shown working, the demo the
//! talk gives. An attack the last stage does not stop yet (the catalog says so) must still get
//! through there, so that the day it is stopped, this test and the catalog change together.
//! `cargo xtask matrix` (tests/matrix.rs) checks every stage × attack cell.

use catalog::{Attack, Stage};
use testkit::attack::attack;
use testkit::container_test;

/// The stage that stops `a` for good: the first from which every later stage stops it.
fn stopped_from(a: Attack) -> Option<&'static Stage> {
    let stages = catalog::STAGES;
    let first = stages
        .iter()
        .rposition(|s| !s.stops.contains(&a))
        .map_or(0, |i| i + 1);
    stages.get(first)
}

fn check(a: Attack) {
    container_test(|| {
        let label = a.label();
        let Some(stage) = stopped_from(a) else {
            let last = catalog::STAGES.last().expect("stages");
            let tried = attack(last.name, &[], label);
            eprintln!(
                "{label}: NOT STOPPED YET by {}: {}",
                last.name, tried.detail
            );
            assert!(
                tried.succeeded,
                "{label} held in {}, but the catalog says it does not stop it ({}): add it to \
                 its stops",
                last.name, tried.detail
            );
            return;
        };
        let mut before =
            catalog::previous(stage).expect("no stage stops every attack from the first");
        // On cgroup2 mounted with nsdelegate (systemd's, the VM's), the cgroup attack's last
        // route, a user namespace's own cgroup2 mount, meets a refused write to its own group's
        // pids.max: `capabilities` stops it already there, and the stage before shows it.
        if a == Attack::Cgroup && testkit::cgroup2_nsdelegate() {
            let tried = attack(before.name, &[], label);
            eprintln!(
                "{label} in {} (cgroup2, nsdelegate): {}",
                before.name, tried.detail
            );
            assert!(!tried.succeeded, "{label} got through in {}", before.name);
            before = catalog::previous(before).expect("a stage before");
        }
        let tried = attack(before.name, &[], label);
        eprintln!("{label} in {}: {}", before.name, tried.detail);
        assert!(
            tried.succeeded,
            "{label} should get through in {}, the stage before {} ({})",
            before.name, stage.name, tried.detail
        );
        let tried = attack(stage.name, &[], label);
        eprintln!("{label} in {}: {}", stage.name, tried.detail);
        assert!(
            !tried.succeeded,
            "{} should stop {label} ({})",
            stage.name, tried.detail
        );
    });
}

#[test]
fn escape() {
    check(Attack::Escape);
}

#[test]
fn procsys() {
    check(Attack::ProcSys);
}

#[test]
fn mount() {
    check(Attack::Mount);
}

#[test]
fn setuid() {
    check(Attack::Setuid);
}

#[test]
fn device() {
    if !testkit::require(
        testkit::attack::Bait::lay().dev.is_some(),
        "no block device the host itself can open (its disk or loop0)",
    ) {
        return;
    }
    check(Attack::Device);
}

#[test]
fn userns() {
    check(Attack::UserNs);
}

#[test]
fn cgroup() {
    check(Attack::Cgroup);
}

#[test]
fn keyring() {
    check(Attack::Keyring);
}

#[test]
fn hostfd() {
    check(Attack::HostFd);
}

#[test]
fn environ() {
    check(Attack::Environ);
}

#[test]
fn disk() {
    check(Attack::Disk);
}

/// On a real terminal, with a shell reading it after the container ends
/// (`testkit::attack::on_terminal`).
#[test]
fn tty() {
    check(Attack::Tty);
}

/// `route`: before net, the container is in the host's network namespace, its routes its own to
/// change (the probe says so without touching them); net's cable stops the Router Advertisement.
/// That the RA is real is shown by a control: a cable the test makes itself, the host's end as
/// the kernel makes it, takes it (a default route and an address of the probe's prefix appear
/// on the host). Then the stages' cables, rootful and `--rootless`, must leave the host's routes
/// and addresses as they were, looked at while the container still lives.
#[test]
fn route() {
    check(Attack::Route);
    container_test(|| {
        let taken = route::control();
        eprintln!("route, control cable: the host took {taken:?}");
        assert!(
            taken.iter().any(|l| l.starts_with("default")) && taken.len() >= 2,
            "the control's host end took no default route and address: {taken:?}"
        );
        for (stage, args) in [
            ("net", &[][..]),
            ("full", &["--net", "veth"][..]),
            ("full", &["--rootless", "--net", "veth"][..]),
        ] {
            let (tried, taken) = route::in_stage(stage, args);
            eprintln!("route in {stage} {args:?}: {}", tried.detail);
            assert!(
                taken.is_empty() && !tried.succeeded,
                "{stage} {args:?}: the host took {taken:?} ({})",
                tried.detail
            );
        }
    });
}

mod route {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    use testkit::attack::Attempt;

    /// The probe's prefix (its `attack::route::PREFIX`), as `ip` prints it.
    const PREFIX: &str = "fddc:dc:";

    /// A cable of the test's own into a network namespace it made (`unshare --net`), the host's
    /// end as the kernel makes it; the probe's RA sent on it. What the host took.
    pub fn control() -> Vec<String> {
        let probe = testkit::probe_path("base1");
        let mut held = Held::spawn(
            Command::new("unshare")
                .args(["--net", "--", "/bin/sh", "-c"])
                .arg(r#"read go && "$0" "$@"; read done"#)
                .arg(probe)
                .args(super::route_args()),
        );
        let (host, inside) = (format!("dcra{}h", held.pid), format!("dcra{}c", held.pid));
        let pid = held.pid.to_string();
        // unshare(1) is running once spawned, but has it unshared yet?
        let ours = testkit::host_ns("net");
        let theirs = || {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!("/proc/{pid}/ns/net")).map_or(ours, |m| m.ino())
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while theirs() == ours && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Its end made right in the namespace: whatever happens, the pair dies with it.
        ip(&[
            "link", "add", &host, "type", "veth", "peer", "name", &inside, "netns", &pid,
        ])
        .and_then(|_| {
            // The kernel's default (accept_ra=1) takes RAs unless the host forwards; 2 takes
            // them even then, so the control stands on any host.
            let all = "/proc/sys/net/ipv6/conf/all/forwarding";
            if std::fs::read_to_string(all).is_ok_and(|f| f.trim() != "0") {
                let own = format!("/proc/sys/net/ipv6/conf/{host}/accept_ra");
                std::fs::write(own, "2").map_err(|e| e.to_string())?;
            }
            ip(&["link", "set", &host, "up"])
        })
        .and_then(|_| {
            let run = testkit::run_cmd(
                Command::new("nsenter")
                    .args(["-t", &pid, "-n", "ip", "link", "set", &inside, "up"]),
            );
            (run.code == 0).then_some(()).ok_or(run.stderr)
        })
        .unwrap_or_else(|e| panic!("the control cable: {e}"));
        held.go();
        let tried = held.attempt();
        let taken = taken(&host);
        drop(held);
        let _ = ip(&["link", "delete", &host]);
        assert!(tried.succeeded, "the control's RA: {}", tried.detail);
        taken
    }

    /// The probe's RA from inside `stage`, and what the host's end of its cable took.
    pub fn in_stage(stage: &str, args: &[&str]) -> (Attempt, Vec<String>) {
        let probe = testkit::probe_path(stage);
        let script = format!(
            "{} {}; read done",
            probe.display(),
            super::route_args().join(" ")
        );
        let mut held = Held::spawn(
            Command::new(testkit::bin(stage))
                .arg("run")
                .args(args)
                .args(["/bin/sh", "-c", &script]),
        );
        let tried = held.attempt();
        let taken = taken(&format!("dc{}h", held.pid));
        (tried, taken)
    }

    /// The IPv6 routes and addresses on the host's link `dev` that an RA made: routes the RA
    /// gave (`proto ra`) or of the probe's prefix, addresses in it.
    fn taken(dev: &str) -> Vec<String> {
        let mut taken = Vec::new();
        for what in [
            &["route", "show", "table", "all", "dev", dev][..],
            &["addr", "show", "dev", dev],
        ] {
            let run = testkit::run_cmd(Command::new("ip").arg("-6").args(what));
            assert_eq!(run.code, 0, "ip -6 {what:?}: {}", run.stderr);
            taken.extend(
                run.stdout
                    .lines()
                    .map(str::trim)
                    .filter(|l| l.contains("proto ra") || l.contains(PREFIX))
                    .map(String::from),
            );
        }
        taken
    }

    fn ip(args: &[&str]) -> Result<(), String> {
        let run = testkit::run_cmd(Command::new("ip").args(args));
        (run.code == 0)
            .then_some(())
            .ok_or(format!("ip {}: {}", args.join(" "), run.stderr))
    }

    /// A process that waits for a line on its stdin before it ends, so that its network
    /// namespace, and the cable in it, live while the host is looked at. Dropped: stdin closed,
    /// the process waited for (killed after 20 s).
    struct Held {
        child: Child,
        pid: u32,
        stdin: Option<ChildStdin>,
        lines: mpsc::Receiver<String>,
    }

    impl Held {
        fn spawn(cmd: &mut Command) -> Held {
            let mut child = cmd
                .env(testkit::ROOTFS_ENV, testkit::rootfs())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
            let (tx, lines) = mpsc::channel();
            let stdout = child.stdout.take().expect("stdout");
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            Held {
                pid: child.id(),
                stdin: child.stdin.take(),
                child,
                lines,
            }
        }

        fn go(&mut self) {
            let stdin = self.stdin.as_mut().expect("stdin");
            stdin.write_all(b"go\n").expect("write to the held process");
        }

        /// The probe's line, once it has printed it.
        fn attempt(&mut self) -> Attempt {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .expect("the probe printed nothing in 20 s");
            let v: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            Attempt {
                succeeded: v["succeeded"].as_bool().expect("succeeded"),
                detail: v["detail"].as_str().unwrap_or("").to_string(),
            }
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            self.stdin.take();
            for _ in 0..200 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The probe's arguments for the `route` attack: the host's network namespace as its bait.
fn route_args() -> Vec<String> {
    let net = bait::net_namespace().expect("the host's /proc/self/ns/net");
    vec![
        "attack".into(),
        "route".into(),
        "--host-net".into(),
        net.to_string(),
    ]
}

/// Every attack of the catalog is one the probe knows, and one test above.
#[test]
fn the_probe_carries_every_attack_of_the_catalog() {
    container_test(|| {
        let seen = testkit::attack::attacks("base1", &[]);
        let names: Vec<&str> = seen.keys().map(String::as_str).collect();
        let mut want: Vec<&str> = Attack::ALL.iter().map(|a| a.label()).collect();
        want.sort();
        assert_eq!(names, want);
        let this_file = include_str!("attacks.rs");
        for a in Attack::ALL {
            assert!(
                this_file.contains(&format!("check(Attack::{a:?})")),
                "no test for {a}"
            );
        }
    });
}

/// `full --rootless` adds a user namespace to everything: each attack `full` stops, it stops.
#[test]
fn full_rootless_stops_what_full_stops() {
    container_test(|| {
        let full = catalog::find("full").expect("full");
        let seen = testkit::attack::attacks("full", &["--rootless"]);
        for a in full.stops {
            let tried = &seen[a.label()];
            eprintln!("full --rootless × {a}: {}", tried.detail);
            assert!(
                !tried.succeeded,
                "full --rootless lets {a} through: {}",
                tried.detail
            );
        }
    });
}

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

/// Whether cgroup2 is mounted at /sys/fs/cgroup with `nsdelegate` (systemd's way, the VM's):
/// then the kernel refuses writes to the files of a cgroup namespace's root from inside it.
fn cgroup2_nsdelegate() -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts.lines().any(|line| {
        let f: Vec<&str> = line.split(' ').collect();
        matches!(f[..], [_, "/sys/fs/cgroup", "cgroup2", options, ..]
            if options.split(',').any(|o| o == "nsdelegate"))
    })
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
        if a == Attack::Cgroup && cgroup2_nsdelegate() {
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

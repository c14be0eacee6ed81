//! The hardening stages stop what their notes say, and only from where their notes say: each
//! attack is tried as an attacker would, with the root filesystem's busybox and the probe, and
//! must work in the stage before and fail in the stage that stops it, and in every stage after it
//! (up to `full`).
//!
//! - `pivot` (11): the double-chroot escape works in `user` and reaches the host's `/`; the
//!   write-open of `/proc/sys` and `/sys` works for root without a user namespace (`net`: `user`
//!   refuses it for another reason, its root is nobody on the host) and meets a read-only mount;
//!   every path docker masks or makes read-only is, from `pivot` to `full --rootless`.
//! - `capabilities` (12): mount, the umount that lifts `pivot`'s mask over `/proc/sys`, a device
//!   node on a fresh tmpfs (the way around `nodev`), and a setuid-root binary run by `nobody`,
//!   all work in `pivot` and fail here.

use std::path::{Path, PathBuf};

use serde_json::Value;

use testkit::{container_test, Run};

/// The stages from `first` to the end of the talk, by name.
fn from(first: &str) -> Vec<&'static str> {
    let n = catalog::find(first)
        .expect("a stage of the catalog")
        .number();
    catalog::STAGES
        .iter()
        .filter(|s| s.number() >= n)
        .map(|s| s.name)
        .collect()
}

/// Runs a shell command line inside a stage; shows what it said.
fn attack(stage: &str, script: &str) -> Run {
    let run = testkit::stage(stage, ["-q", "sh", "-c", script]);
    eprintln!(
        "{stage}: exit {}: {}{}",
        run.code,
        run.stdout.trim(),
        run.stderr.lines().last().unwrap_or("")
    );
    run
}

/// The attack works in `before`, and in `stage` and every stage after it fails with `message`.
#[track_caller]
fn works_then_fails(before: &str, stage: &str, script: &str, message: &str) {
    let run = attack(before, script);
    assert_eq!(
        run.code, 0,
        "in {before}, the stage before {stage}, `{script}` should work:\n{run:?}"
    );
    for later in from(stage) {
        let run = attack(later, script);
        assert_ne!(run.code, 0, "in {later}, `{script}` should fail:\n{run:?}");
        assert!(
            run.stdout.contains(message) || run.stderr.contains(message),
            "in {later}, `{script}` should fail with `{message}`:\n{run:?}"
        );
    }
}

/// A file on the host, outside the root filesystem, removed when dropped.
struct Marker(PathBuf);

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn pivot_stops_the_double_chroot_escape_that_works_in_user() {
    container_test(|| {
        let marker = Marker(PathBuf::from(format!(
            "/tmp/desde-cero-hardening-marker-{}",
            std::process::id()
        )));
        std::fs::write(&marker.0, "the host's root\n").expect("write the host marker");
        // The probe exits 0 when it escaped, 1 when not.
        let script = format!("probe escape --host-marker {}", marker.0.display());
        works_then_fails("user", "pivot", &script, "\"escaped\":false");
    });
}

#[test]
fn pivot_makes_proc_sys_and_sys_read_only_for_a_root_without_a_user_namespace() {
    container_test(|| {
        // A write-open that writes nothing: what matters is whether the kernel lets it open.
        let proc_sys = ": > /proc/sys/vm/drop_caches";
        works_then_fails("net", "pivot", proc_sys, "Read-only file system");
        // In `user`, the same open is refused because root inside is nobody on the host.
        let run = attack("user", proc_sys);
        assert!(
            run.code != 0 && run.stderr.contains("Permission denied"),
            "{run:?}"
        );
        // net has no /sys: root mounts one. From pivot on, /sys is there, read-only.
        let sys = "mountpoint -q /sys || mount -t sysfs none /sys; : > /sys/kernel/profiling";
        works_then_fails("net", "pivot", sys, "Read-only file system");
    });
}

/// docker's MaskedPaths and ReadonlyPaths (moby's `oci/defaults.go`, podman's containers-common,
/// the same list with `/sys/devices/virtual/powercap`).
const MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// What the probe sees at each path inside a stage (`probe paths`), by path.
fn seen(stage: &str, stage_args: &[&str], paths: &[&str]) -> serde_json::Map<String, Value> {
    let mut args: Vec<&str> = stage_args.to_vec();
    args.extend(["-q", "/usr/local/bin/probe", "paths"]);
    args.extend(paths);
    let run = testkit::stage(stage, &args);
    run.expect_code(0);
    let list: Vec<Value> = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("{stage}: no JSON ({e}): {run:?}"));
    list.into_iter()
        .map(|seen| (seen["path"].as_str().unwrap().to_string(), seen))
        .collect()
}

/// Hidden as runc hides it: a folder empty and on a read-only mount, a file that reads as empty.
fn hidden(seen: &Value) -> bool {
    match seen["dir"].as_bool() {
        Some(true) => seen["entries"] == 0 && seen["read_only"] == true,
        Some(false) => seen["bytes"] == 0,
        None => false,
    }
}

#[test]
fn pivot_hides_and_makes_read_only_every_path_docker_does() {
    container_test(|| {
        // A kernel without one of them has nothing there to hide: skipped, as runc skips it.
        let on_host = |list: &[&'static str]| -> Vec<&'static str> {
            list.iter()
                .copied()
                .filter(|p| Path::new(p).exists())
                .collect()
        };
        let (masked, read_only) = (on_host(&MASKED), on_host(&READ_ONLY));
        eprintln!("on this host: masked {masked:?}, read-only {read_only:?}");
        assert!(
            masked.contains(&"/sys/firmware") || testkit::in_vm(),
            "{masked:?}"
        );
        let all: Vec<&str> = masked.iter().chain(&read_only).copied().collect();
        // In net, the stage before pivot, /proc shows them as they are, and writable.
        let before = seen("net", &[], &all);
        for path in &read_only {
            assert_eq!(before[*path]["read_only"], false, "net: {}", before[*path]);
        }
        let shown = masked
            .iter()
            .filter(|p| p.starts_with("/proc/") && !hidden(&before[**p]));
        assert!(shown.count() > 0, "net hides them already: {before:?}");
        let mut stages: Vec<(&str, &[&str])> =
            from("pivot").into_iter().map(|s| (s, &[][..])).collect();
        stages.push(("full", &["--rootless"]));
        for (stage, stage_args) in stages {
            let inside = seen(stage, stage_args, &all);
            for path in &masked {
                let seen = &inside[*path];
                eprintln!("{stage} {stage_args:?}: {seen}");
                assert!(
                    seen["exists"] == true && hidden(seen),
                    "{stage}: {path} is not hidden: {seen}"
                );
            }
            for path in &read_only {
                let seen = &inside[*path];
                assert_eq!(
                    seen["read_only"], true,
                    "{stage}: {path} is writable: {seen}"
                );
            }
        }
    });
}

#[test]
fn capabilities_refuses_the_mount_that_works_in_pivot() {
    container_test(|| {
        let script = "mount -t tmpfs none /tmp";
        works_then_fails("pivot", "capabilities", script, "permission denied");
    });
}

#[test]
fn capabilities_keeps_pivots_mask_over_proc_sys_on() {
    container_test(|| {
        let script = "umount /proc/sys && : > /proc/sys/vm/drop_caches";
        works_then_fails("pivot", "capabilities", script, "Operation not permitted");
    });
}

#[test]
fn capabilities_keeps_nodev_from_being_walked_around() {
    container_test(|| {
        // A device node in `/` (nodev) cannot be opened, already in pivot...
        let in_root = "mknod /hd c 1 3 && echo x > /hd; s=$?; rm -f /hd; exit $s";
        for stage in from("pivot") {
            let run = attack(stage, in_root);
            assert!(run.stderr.contains("Permission denied"), "{stage}: {run:?}");
        }
        // ...but root in pivot mounts a tmpfs without nodev and makes its node there.
        let script = "mount -t tmpfs none /tmp && mknod /tmp/n c 1 3 && echo x > /tmp/n";
        works_then_fails("pivot", "capabilities", script, "permission denied");
        assert!(
            !testkit::rootfs().join("hd").exists(),
            "a node was left in the rootfs"
        );
    });
}

#[test]
fn capabilities_gives_a_setuid_root_binary_run_by_nobody_nothing() {
    container_test(|| {
        // A setuid-root copy of the probe, in the root filesystem (/tmp is nosuid), run by
        // nobody: it reports its effective capabilities.
        let script = "cp /usr/local/bin/probe /sp && chmod 4755 /sp && \
                      su -s /bin/sh nobody -c '/sp --compact' > /tmp/r; rm -f /sp; \
                      grep -oE '\"(uid|effective)\":[^,]*' /tmp/r | tr '\\n' ' '; \
                      ! grep -q '\"effective\":\"0000000000000000\"' /tmp/r";
        works_then_fails(
            "pivot",
            "capabilities",
            script,
            "\"uid\":65534 \"effective\":\"0000000000000000\"",
        );
        let left = testkit::rootfs().join("sp");
        let _ = std::fs::remove_file(&left);
    });
}

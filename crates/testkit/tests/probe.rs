//! The probe (`/usr/local/bin/probe` in every root filesystem) tells the truth about what a
//! process sees, checked against the host's own view and the kernel's tools.
//!
//! On the host its report matches /proc and the host's namespaces; under `setpriv` it sees
//! no_new_privs and the dropped capabilities; under `unshare --net` only a loopback that is
//! down; in a cgroup with limits, those limits (v1 or v2); inside the `chroot` stage, its own
//! hostname, an empty /proc, and a root it can escape with the classic chroot escape.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use testkit::container_test;
use testkit::{host_ns, Run, Scratch};

/// The probe `cargo xtask test` put into the root filesystem.
fn probe() -> PathBuf {
    testkit::rootfs().join("usr/local/bin/probe")
}

fn report(run: &Run) -> Value {
    run.expect_code(0);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

/// `cmd args... <probe> probe_args...`, e.g. `setpriv --no-new-privs <probe> --compact`.
fn probe_under(cmd: &[&str], probe_args: &[&str]) -> Run {
    let mut command = Command::new(cmd[0]);
    command.args(&cmd[1..]).arg(probe()).args(probe_args);
    testkit::run_cmd(&mut command)
}

fn has_command(name: &str, package: &str) -> bool {
    testkit::require(
        Command::new(name).arg("--version").output().is_ok(),
        &format!("needs the {name} command: apt-get install {package}"),
    )
}

fn status_field(key: &str) -> String {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/self/status"))
        .trim()
        .to_string()
}

#[test]
fn on_the_host_it_reports_what_the_host_sees() {
    let r = report(&testkit::run_bin(&probe(), ["--compact"]));
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(r["hostname"], hostname.trim());
    assert_eq!(r["ppid"], std::process::id(), "its parent is this test");
    for kind in ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"] {
        assert_eq!(r["ns"][kind], host_ns(kind), "{kind} namespace");
    }
    assert!(r["proc_pids"].as_u64().unwrap() > 1, "{r}");
    let mounts = r["mounts"].as_array().unwrap();
    assert!(mounts.iter().any(|m| m["mountpoint"] == "/"), "{r}");
    assert!(mounts
        .iter()
        .any(|m| m["mountpoint"] == "/proc" && m["fstype"] == "proc"));
    let cgroup = fs::read_to_string("/proc/self/cgroup").unwrap();
    let lines: Vec<&str> = cgroup.lines().collect();
    assert_eq!(r["cgroup"]["lines"], json!(lines));
    let lo = r["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "lo")
        .unwrap_or_else(|| panic!("no lo: {r}"));
    assert_eq!(lo["up"], true);
    assert!(lo["addresses"]
        .as_array()
        .unwrap()
        .contains(&json!("127.0.0.1/8")));
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!(
        (r["uid"].clone(), r["gid"].clone()),
        (json!(uid), json!(gid))
    );
    assert_eq!(
        r["uid_map"],
        fs::read_to_string("/proc/self/uid_map").unwrap()
    );
    assert_eq!(r["caps"]["bounding"], status_field("CapBnd"));
    assert_eq!(r["caps"]["source"], "/proc/self/status");
    assert_eq!(r["no_new_privs"], status_field("NoNewPrivs") == "1");
    assert_eq!(r["host_marker_visible"], Value::Null);
    assert_eq!(r["host_root_reachable"], Value::Null);
    assert_eq!(r["errors"], json!({}));

    // Pretty or compact, it is the same report.
    let pretty = report(&testkit::run_bin(&probe(), ["--pretty"]));
    assert!(testkit::run_bin(&probe(), ["--pretty"])
        .stdout
        .contains("\n  \"hostname\": "));
    assert_eq!(pretty["ns"], r["ns"]);
    assert_eq!(pretty["mounts"], r["mounts"]);
}

#[test]
fn it_sees_no_new_privs_and_dropped_capabilities() {
    container_test(|| {
        if !has_command("setpriv", "util-linux") {
            return;
        }
        let full = report(&testkit::run_bin(&probe(), ["--compact"]));
        assert_ne!(
            full["caps"]["effective"], "0000000000000000",
            "root has capabilities"
        );
        let r = report(&probe_under(
            &[
                "setpriv",
                "--no-new-privs",
                "--bounding-set=-all",
                "--inh-caps=-all",
            ],
            &["--compact"],
        ));
        assert_eq!(r["no_new_privs"], true, "{r}");
        assert_eq!(r["caps"]["bounding"], "0000000000000000", "{r}");
        assert_eq!(r["caps"]["effective"], "0000000000000000", "{r}");
    });
}

#[test]
fn in_a_new_network_namespace_it_sees_only_a_loopback_that_is_down() {
    container_test(|| {
        if !has_command("unshare", "util-linux") {
            return;
        }
        let r = report(&probe_under(&["unshare", "--net", "--uts"], &["--compact"]));
        assert_ne!(r["ns"]["net"], host_ns("net"));
        assert_ne!(r["ns"]["uts"], host_ns("uts"));
        assert_eq!(r["ns"]["mnt"], host_ns("mnt"));
        assert_eq!(
            r["interfaces"],
            json!([{"name": "lo", "up": false, "addresses": []}])
        );
    });
}

/// A cgroup made for one test (v1: one per controller; v2: one), removed when dropped.
struct TestCgroup {
    dirs: Vec<PathBuf>,
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // The probe has exited; the kernel may take a moment to let the cgroup go.
            for _ in 0..50 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn it_reports_the_limits_of_its_cgroup() {
    container_test(|| {
        let name = format!("desde-cero-probe-test-{}", std::process::id());
        let root = Path::new("/sys/fs/cgroup");
        // (folder, file, value written, value the probe must report)
        let mut plan: Vec<(PathBuf, &str, &str, &str)> = Vec::new();
        let v2 = root.join("cgroup.controllers").exists();
        if v2 {
            let enabled =
                fs::read_to_string(root.join("cgroup.subtree_control")).unwrap_or_default();
            let dir = root.join(&name);
            for (controller, file, value, reported) in [
                ("pids", "pids.max", "42", "42"),
                ("memory", "memory.max", "67108864", "67108864"),
                ("cpu", "cpu.max", "50000 100000", "50000 100000"),
            ] {
                if enabled.split_whitespace().any(|c| c == controller) {
                    plan.push((dir.clone(), file, value, reported));
                }
            }
        } else {
            for (controller, file, value, reported) in [
                ("pids", "pids.max", "42", "42"),
                ("memory", "memory.limit_in_bytes", "67108864", "67108864"),
                ("cpu", "cpu.cfs_quota_us", "50000", "50000 100000"),
            ] {
                if root.join(controller).is_dir() {
                    plan.push((root.join(controller).join(&name), file, value, reported));
                }
            }
        }
        if !testkit::require(
            plan.iter().any(|p| p.1 == "pids.max"),
            "no pids controller is available here (cgroup v1 pids or v2 with pids enabled)",
        ) {
            return;
        }
        let mut dirs: Vec<PathBuf> = plan.iter().map(|p| p.0.clone()).collect();
        dirs.dedup();
        let cgroup = TestCgroup { dirs };
        for dir in &cgroup.dirs {
            fs::create_dir(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        }
        for (dir, file, value, _) in &plan {
            fs::write(dir.join(file), value)
                .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()));
        }
        let join: String = cgroup
            .dirs
            .iter()
            .map(|d| format!("echo $$ > {}/cgroup.procs && ", d.display()))
            .collect();
        let script = format!("{join}exec {} --compact", probe().display());
        let r = report(&testkit::run_bin(Path::new("/bin/sh"), ["-c", &script]));
        for (_, file, _, reported) in &plan {
            let key = match *file {
                "pids.max" => "pids_max",
                "memory.max" | "memory.limit_in_bytes" => "memory_max",
                _ => "cpu_max",
            };
            assert_eq!(r["limits"][key], *reported, "{key}: {r}");
        }
        let source = r["limits_source"].as_str().unwrap();
        assert!(source.contains(&name), "{source}");
        assert!(r["cgroup"]["lines"].to_string().contains(&name), "{r}");
        drop(cgroup);
    });
}

#[test]
fn inside_chroot_it_has_its_own_root_and_escapes_it() {
    container_test(|| {
        // A file only the host has: the root filesystem has no such path.
        let scratch = Scratch::new("probe-marker");
        let marker = scratch.path.join("host-only");
        fs::write(&marker, "host").unwrap();
        let marker = marker.to_str().unwrap();
        assert!(!testkit::rootfs()
            .join(marker.trim_start_matches('/'))
            .exists());

        let r = testkit::probe_with("chroot", &["--compact", "--host-marker", marker]);
        assert_eq!(r["hostname"], "container", "{r}");
        assert_eq!(
            r["host_marker_visible"], false,
            "chroot shows its own root: {r}"
        );
        assert_eq!(
            r["host_root_reachable"], true,
            "the chroot escape reaches the host's root: {r}"
        );
        // Nothing is mounted on the root filesystem's /proc in this stage.
        assert_eq!(r["proc_pids"], 0, "{r}");
        assert_eq!(r["mounts"], Value::Null);
        assert!(r["errors"]["mounts"]
            .as_str()
            .unwrap()
            .contains("/proc is not mounted"));
        assert_eq!(
            r["limits"],
            json!({"pids_max": null, "memory_max": null, "cpu_max": null})
        );
        assert!(
            r["limits_source"].as_str().unwrap().starts_with("unknown"),
            "{r}"
        );
        // Namespaces without /proc: from a pidfd on Linux 6.11+, else null and said why.
        if r["ns"].is_null() {
            assert!(r["errors"]["ns"].as_str().unwrap().contains("6.11"), "{r}");
        } else {
            assert_ne!(r["ns"]["uts"], host_ns("uts"));
            assert_eq!(r["ns"]["mnt"], host_ns("mnt"));
        }
        assert_eq!(r["caps"]["source"], "capget(2) and prctl(PR_CAPBSET_READ)");

        // The escape alone, as issue 6's tools run it.
        let probe = testkit::probe_path("chroot");
        let probe = probe.to_str().unwrap();
        let run = testkit::stage("chroot", [probe, "escape", "--host-marker", marker]);
        run.expect_code(0);
        let escape: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(escape["escaped"], true, "{escape}");
        assert_eq!(escape["error"], Value::Null);
        assert_eq!(escape["marker_visible_before"], false);
        assert!(
            leftover_escape_dirs(&testkit::rootfs()).is_empty(),
            "the escape left its folder in the root filesystem"
        );
    });
}

fn leftover_escape_dirs(root: &Path) -> Vec<PathBuf> {
    [root.join("tmp"), root.to_path_buf()]
        .iter()
        .filter_map(|d| fs::read_dir(d).ok())
        .flat_map(|entries| entries.flatten())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(".probe-escape-"))
        .collect()
}

#[test]
fn without_chroot_permission_the_escape_cannot_be_tried() {
    container_test(|| {
        if !has_command("setpriv", "util-linux") {
            return;
        }
        let run = probe_under(
            &[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ],
            &["escape"],
        );
        run.expect_code(1);
        let r: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(r["escaped"], false);
        assert!(r["error"].as_str().unwrap().contains("EPERM"), "{r}");
        assert!(leftover_escape_dirs(Path::new("/")).is_empty());

        // On the host without any chroot, there is nothing to escape from.
        let run = testkit::run_bin(&probe(), ["escape"]);
        run.expect_code(1);
        let r: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(
            r,
            json!({"escaped": false, "error": null, "marker_visible_before": null})
        );
    });
}

#[test]
fn bad_arguments_are_a_usage_error() {
    for args in [
        &["--bogus"][..],
        &["--host-marker"],
        &["escape", "--pretty"],
    ] {
        let run = testkit::run_bin(&probe(), args);
        run.expect_code(2);
        assert!(run.stderr.contains("usage: probe"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    let run = testkit::run_bin(&probe(), ["--help"]);
    run.expect_code(0);
    assert!(run.stdout.contains("probe escape"));
}

//! `cargo xtask doctor` and `cargo xtask clean` on the real host. The doctor finds no problem
//! on a host that runs the test suite, and names the exact fix for one it does find. Clean
//! removes what a killed demo leaves — cgroups named `desde-cero-<pid>` with processes still in
//! them, an overlay folder with a mount inside, a mount under the root filesystem, a `dc<pid>h`
//! veth — recognising each by its name alone; it leaves a running container's things alone, and
//! with nothing to clean it says so.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use testkit::{LeakCheck, Run};

fn xtask(args: &[&str]) -> Run {
    testkit::run_bin(&testkit::xtask_bin(), args)
}

/// Runs the doctor with the root filesystem at `rootfs`.
fn doctor_with_rootfs(rootfs: &Path) -> Run {
    let out = Command::new(testkit::xtask_bin())
        .arg("doctor")
        .env(testkit::ROOTFS_ENV, rootfs)
        .stdin(Stdio::null())
        .output()
        .expect("run xtask doctor");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn doctor_finds_no_problem_on_a_host_that_runs_the_tests() {
    if !testkit::require_root() {
        return;
    }
    let run = doctor_with_rootfs(&testkit::rootfs());
    let checks: Vec<&str> = run
        .stdout
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.trim_start().starts_with("fix:"))
        .collect();
    for line in &checks {
        assert!(
            line.starts_with("ok ") || line.starts_with("problem "),
            "not an ok/problem line: {line:?}"
        );
    }
    for topic in [
        "kernel",
        "privileges",
        "cgroups",
        "cgroup pids",
        "cgroup memory",
        "cgroup cpu",
        "user namespaces",
        "rootless limits",
        "propagation of /",
        "overlayfs",
        "iproute2",
        "busybox-static",
        "musl target",
        "root filesystem",
    ] {
        assert!(
            checks.iter().any(|l| l
                .split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
                .join(" ")
                .starts_with(topic)),
            "no `{topic}` check:\n{}",
            run.stdout
        );
    }
    assert_eq!(run.code, 0, "the doctor found problems:\n{}", run.stdout);
    assert!(run.stdout.contains("no problem"), "{}", run.stdout);
}

#[test]
fn doctor_names_the_exact_fix_for_a_missing_root_filesystem() {
    let missing = PathBuf::from("/nonexistent/desde-cero-rootfs");
    let run = doctor_with_rootfs(&missing);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("problem") && l.contains("root filesystem"))
        .unwrap_or_else(|| panic!("no root filesystem problem:\n{}", run.stdout));
    assert!(
        lines[at].contains(&missing.display().to_string()),
        "{}",
        lines[at]
    );
    assert_eq!(
        lines.get(at + 1).map(|l| l.trim()),
        Some("fix: cargo xtask rootfs")
    );
}

#[test]
fn doctor_and_clean_refuse_arguments_with_exit_2() {
    for command in ["doctor", "clean"] {
        let run = xtask(&[command, "--bogus"]);
        run.expect_code(2);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(
            run.stderr.starts_with("error: unknown flag `--bogus`")
                && run
                    .stderr
                    .contains(&format!("(see `cargo xtask {command} --help`)")),
            "{}",
            run.stderr
        );
    }
}

/// The mount points of every cgroup hierarchy (v1 and v2).
fn cgroup_mounts() -> Vec<PathBuf> {
    hoststate::mounts()
        .into_iter()
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .map(|m| m.mount_point)
        .collect()
}

/// A number that is no running process, to name fake leftovers after a "dead" runtime.
fn dead_pid() -> u32 {
    (3_000_000..)
        .find(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        .unwrap()
}

fn mount_tmpfs(at: &Path) {
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "desde-cero-test"])
        .arg(at)
        .status()
        .expect("run mount");
    assert!(status.success(), "mount tmpfs on {}", at.display());
}

#[test]
fn clean_removes_a_killed_demos_leftovers_by_name() {
    if !testkit::require_root() {
        return;
    }
    let _g = testkit::serial();
    let leaks = LeakCheck::start();
    let pid = dead_pid();
    let name = format!("desde-cero-{pid}");

    // A cgroup in every hierarchy, with a group below it and a process still inside.
    let mut sleeper = Command::new("sleep")
        .arg("300")
        .spawn()
        .expect("start sleep");
    let mut groups = Vec::new();
    let mut joined = 0;
    for top in cgroup_mounts() {
        let inner = top.join(&name).join("inner");
        if fs::create_dir_all(&inner).is_ok() {
            groups.push(top.join(&name));
            if fs::write(inner.join("cgroup.procs"), sleeper.id().to_string()).is_ok() {
                joined += 1;
            }
        }
    }
    assert!(!groups.is_empty(), "could not make any cgroup");
    assert!(
        joined > 0,
        "could not move a process into any of {groups:?}"
    );

    // An overlay folder with a mount inside, a mount under the root filesystem, a veth pair.
    let overlay = PathBuf::from(format!("/tmp/desde-cero-overlay-{pid}"));
    for dir in ["upper", "work", "merged"] {
        fs::create_dir_all(overlay.join(dir)).unwrap();
    }
    mount_tmpfs(&overlay.join("merged"));
    let under_rootfs = testkit::rootfs().canonicalize().unwrap().join("tmp");
    mount_tmpfs(&under_rootfs);
    let (host_end, peer) = (format!("dc{pid}h"), format!("dc{pid}c"));
    let status = Command::new("ip")
        .args([
            "link", "add", &host_end, "type", "veth", "peer", "name", &peer,
        ])
        .status()
        .expect("run ip");
    assert!(status.success(), "ip link add {host_end}");

    let run = xtask(&["clean"]);
    run.expect_code(0);
    let said = |what: &str| {
        assert!(
            run.stdout.contains(what),
            "clean did not report `{what}`:\n{}",
            run.stdout
        );
    };
    for group in &groups {
        said(&format!("removed cgroup {}", group.join("inner").display()));
        said(&format!("removed cgroup {}", group.display()));
        assert!(!group.exists(), "{} is still there", group.display());
    }
    said(&format!(
        "removed mount {}",
        overlay.join("merged").display()
    ));
    said(&format!("removed mount {}", under_rootfs.display()));
    said(&format!("removed overlay folder {}", overlay.display()));
    assert!(!overlay.exists());
    assert!(
        run.stdout.contains(&format!("removed veth {host_end}"))
            || run.stdout.contains(&format!("removed veth {peer}")),
        "{}",
        run.stdout
    );
    assert!(!Path::new("/sys/class/net").join(&host_end).exists());
    // The process in the group was killed first, or the group could not have gone.
    let status = sleeper.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    // Again: nothing of ours is left to remove.
    let again = xtask(&["clean"]);
    again.expect_code(0);
    assert!(!again.stdout.contains(&pid.to_string()), "{}", again.stdout);
    if testkit::in_ci() {
        // Nobody else runs containers under CI: the host is clean.
        assert_eq!(again.stdout.trim(), "clean: nothing to clean");
    }
    leaks.assert_clean();
}

#[test]
fn clean_leaves_a_running_container_alone() {
    if !testkit::require_root() {
        return;
    }
    let _g = testkit::serial();
    let leaks = LeakCheck::start();
    let mut full = Command::new(testkit::bin("full"))
        .args(["run", "sleep", "30"])
        .env(testkit::ROOTFS_ENV, testkit::rootfs())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start full");
    let name = format!("desde-cero-{}", full.id());
    // full makes no overlay folder on the host (its overlay is a tmpfs in the container's mount
    // namespace): only its groups are there for clean to leave alone.
    let overlay = PathBuf::from(format!("/tmp/desde-cero-overlay-{}", full.id()));
    // Wait until the container is set up: its groups exist and its init has a child.
    let deadline = Instant::now() + Duration::from_secs(20);
    let groups = loop {
        let groups: Vec<PathBuf> = cgroup_mounts()
            .into_iter()
            .flat_map(|top| {
                fs::read_dir(&top)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .chain(std::iter::once(top.clone()))
                    .collect::<Vec<_>>()
            })
            .map(|dir| dir.join(&name))
            .filter(|dir| dir.join("cgroup.procs").exists())
            .filter(|dir| {
                !fs::read_to_string(dir.join("cgroup.procs"))
                    .unwrap()
                    .is_empty()
            })
            .collect();
        if !groups.is_empty() {
            break groups;
        }
        assert!(full.try_wait().unwrap().is_none(), "full ended early");
        assert!(Instant::now() < deadline, "full never set its container up");
        sleep(Duration::from_millis(50));
    };
    let run = xtask(&["clean"]);
    run.expect_code(0);
    let still = format!("(container pid {} still running)", full.id());
    for group in &groups {
        assert!(
            run.stdout
                .contains(&format!("left alone cgroup {} {still}", group.display())),
            "{}",
            run.stdout
        );
        assert!(group.exists(), "clean removed a running container's group");
    }
    assert!(!overlay.exists(), "full made an overlay folder on the host");
    assert!(
        full.try_wait().unwrap().is_none(),
        "clean killed the container"
    );
    // SIGTERM reaches the sleep through the runtime and the init: the shell's 128+15.
    // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
    unsafe { libc::kill(full.id() as i32, libc::SIGTERM) };
    let status = full.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    leaks.assert_clean();
}

//! `full`, the last stage, against the real kernel: the talk's security demonstrations.
//!
//! The classic chroot escape reaches the host's root from `chroot` (the point of that slide) and
//! not from `full` (pivot_root). Inside `full`: mounting fails, /proc's dangerous files and /sys
//! are read-only, a dropped capability cannot be raised again, a setuid binary gains nothing
//! (no_new_privs), the host's processes and hostname are invisible, `rm -rf /bin` leaves the
//! shared root filesystem intact (overlay), the environment is clean. Exit codes and signals
//! behave as in the earlier stages; every invalid option is rejected with 125 before anything
//! is created; after every run no mount, cgroup, link, process or overlay folder is left.

use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::container_test;
use testkit::{host_ns, Run};

/// `full run <args...>`.
fn full(args: &[&str]) -> Run {
    testkit::stage("full", args)
}

/// `full run sh -c <script>`.
fn sh(script: &str) -> Run {
    full(&["sh", "-c", script])
}

/// What the command itself wrote to stderr (the runtime's teaching lines left out).
fn said(run: &Run) -> String {
    run.stderr
        .lines()
        .filter(|l| !l.starts_with("parent: ") && !l.starts_with("child: "))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn json(run: &Run) -> Value {
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

/// A file on the host, outside the root filesystem, removed when dropped.
struct Marker(PathBuf);

impl Marker {
    fn new() -> Marker {
        let path = PathBuf::from(format!(
            "/tmp/desde-cero-host-marker-{}",
            std::process::id()
        ));
        fs::write(&path, "the host's root\n").expect("write the host marker");
        Marker(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[test]
fn the_chroot_escape_reaches_the_host_from_chroot_but_not_from_full() {
    container_test(|| {
        let marker = Marker::new();
        assert!(
            !testkit::rootfs().join(&marker.path()[1..]).exists(),
            "the marker must not be in the root filesystem"
        );
        let escape = [
            "/usr/local/bin/probe",
            "escape",
            "--host-marker",
            marker.path(),
        ];

        // chroot: a root process climbs out and sees the host's files. That is the slide's point.
        let chroot = testkit::stage("chroot", escape);
        eprintln!("chroot: {}", chroot.stdout.trim());
        let report = json(&chroot);
        assert_eq!(report["marker_visible_before"], false, "{report}");
        assert_eq!(
            report["escaped"], true,
            "chroot must be escapable: {report}"
        );
        chroot.expect_code(0);

        // full: the same escape (CAP_SYS_CHROOT is kept, as docker does) ends in the container's
        // own root: the host's was pivoted away and unmounted.
        let run = full(&escape);
        eprintln!("full:   {}", run.stdout.trim());
        let report = json(&run);
        assert_eq!(
            report["error"],
            Value::Null,
            "the escape was not even tried: {report}"
        );
        assert_eq!(
            report["escaped"], false,
            "full must not be escapable: {report}"
        );
        run.expect_code(1);
    });
}

#[test]
fn full_reports_every_hardening_step() {
    container_test(|| {
        let report = testkit::probe("full");
        for kind in ["uts", "pid", "mnt", "cgroup", "ipc", "net"] {
            let inside = report["ns"][kind].as_u64().unwrap_or(0);
            assert_ne!(
                inside,
                host_ns(kind),
                "{kind} namespace shared with the host"
            );
        }
        // Without --rootless there is no user namespace: container root is host root, with
        // docker's capabilities only (see the rootless tests below).
        assert_eq!(report["ns"]["user"].as_u64().unwrap(), host_ns("user"));
        assert_eq!(report["hostname"], "container");
        // With --net none (the default) the only interface is the container's own loopback.
        let names: Vec<&str> = report["interfaces"]
            .as_array()
            .expect("interfaces")
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["lo"], "{report}");
        // The cgroups stage's limits are the options' defaults, and visible inside.
        assert_eq!(report["limits"]["pids_max"], "20", "{report}");
        assert_eq!(report["limits"]["memory_max"], "104857600", "{report}");
        assert_eq!(report["limits"]["cpu_max"], "50000 100000", "{report}");
        // The host's processes are invisible: only the init and the probe.
        assert_eq!(report["proc_pids"], 2, "{report}");
        // The cgroup namespace's root is the container's own group.
        assert_eq!(report["cgroup"]["path"], "/", "{report}");
        // docker's default set: 0xa80425fb, in the bounding set too, and no_new_privs.
        let caps = &report["caps"];
        for set in ["effective", "permitted", "bounding"] {
            assert_eq!(caps[set], "00000000a80425fb", "{set}: {caps}");
        }
        assert_eq!(report["no_new_privs"], true);
        let mounts = report["mounts"].as_array().expect("mounts");
        let mount = |at: &str| {
            mounts
                .iter()
                .rfind(|m| m["mountpoint"] == at)
                .unwrap_or_else(|| panic!("nothing mounted at {at}: {report}"))
        };
        assert_eq!(mount("/")["fstype"], "overlay");
        assert_eq!(mount("/dev")["fstype"], "tmpfs");
        assert_eq!(mount("/dev/pts")["fstype"], "devpts");
        assert_eq!(mount("/tmp")["fstype"], "tmpfs");
        for read_only in ["/sys", "/proc/sys"] {
            let options = mount(read_only)["options"].as_str().unwrap();
            assert!(options.starts_with("ro,"), "{read_only}: {options}");
        }
    });
}

#[test]
fn mounting_anything_fails_inside_full() {
    container_test(|| {
        for script in [
            "mount -t tmpfs none /tmp",
            "mount -o remount,rw /sys",
            "umount /proc/sys",
            "unshare -m true",
        ] {
            let run = sh(script);
            eprintln!("{script}: exit {} {}", run.code, said(&run));
            assert_eq!(run.code, 1, "{script} must fail:\n{}", run.stderr);
            let err = run.stderr.to_lowercase();
            assert!(
                err.contains("permission denied") || err.contains("operation not permitted"),
                "{script}: {}",
                run.stderr
            );
        }
    });
}

#[test]
fn proc_sysrq_trigger_proc_sys_and_sys_are_read_only() {
    container_test(|| {
        // `h` only prints sysrq's help to the kernel log, should the write ever get through.
        let run = sh(
            "test -e /proc/sysrq-trigger && echo exists; echo h > /proc/sysrq-trigger || exit 9",
        );
        eprintln!("sysrq-trigger: exit {}, {}", run.code, said(&run));
        run.expect_code(9);
        if run.stdout.contains("exists") {
            assert!(
                run.stderr.contains("Read-only file system"),
                "{}",
                run.stderr
            );
        }
        // Dropping the page cache is harmless, and must be refused too.
        let run = sh("echo 1 > /proc/sys/vm/drop_caches");
        eprintln!("/proc/sys: {}", said(&run));
        assert_ne!(run.code, 0);
        assert!(
            run.stderr.contains("Read-only file system"),
            "{}",
            run.stderr
        );
        let run = sh("touch /sys/kernel");
        eprintln!("/sys: {}", said(&run));
        assert_ne!(run.code, 0);
        assert!(
            run.stderr.contains("Read-only file system"),
            "{}",
            run.stderr
        );
    });
}

#[test]
fn a_dropped_capability_cannot_be_raised_again() {
    container_test(|| {
        // A kept capability can be put in the inheritable set (the control)...
        sh("setpriv --inh-caps +chown true").expect_code(0);
        // ...a dropped one cannot: it is gone from the bounding set.
        let run = sh("setpriv --inh-caps +sys_admin true");
        eprintln!("setpriv +sys_admin: exit {} {}", run.code, said(&run));
        assert_eq!(run.code, 1);
        assert!(
            run.stderr.contains("capset: Operation not permitted"),
            "{}",
            run.stderr
        );
        // And what CAP_SYS_ADMIN allows fails: changing the hostname, a new namespace.
        let run = sh("hostname changed");
        eprintln!("hostname changed: exit {} {}", run.code, said(&run));
        assert_eq!(run.code, 1);
        assert!(
            run.stderr.contains("Operation not permitted"),
            "{}",
            run.stderr
        );
    });
}

#[test]
fn a_setuid_binary_gains_nothing_under_no_new_privs() {
    container_test(|| {
        // A setuid-root copy of the probe, run by `nobody`: without no_new_privs it runs with
        // effective uid 0 and so with capabilities; with it, the setuid bit is ignored.
        let setuid = "cp /usr/local/bin/probe /tmp/probe-suid && chmod 4755 /tmp/probe-suid \
                      && su -s /bin/sh nobody -c '/tmp/probe-suid --compact'";
        // procfs (no no_new_privs): a tmpfs and a bound passwd with `nobody`, in its own mount
        // namespace only, so the shared root filesystem is not touched.
        let procfs = testkit::stage(
            "procfs",
            [
                "sh",
                "-c",
                &format!(
                    "mount -t tmpfs none /tmp && cp /etc/passwd /tmp/passwd \
                     && echo nobody:x:65534:65534::/:/bin/sh >> /tmp/passwd \
                     && mount --bind /tmp/passwd /etc/passwd && {setuid}"
                ),
            ],
        );
        procfs.expect_code(0);
        let report = json(&procfs);
        eprintln!(
            "procfs: uid {} caps {}",
            report["uid"], report["caps"]["effective"]
        );
        assert_eq!(report["uid"], 65534);
        assert_ne!(report["caps"]["effective"], "0000000000000000", "{report}");
        assert_eq!(report["no_new_privs"], false);
        // full: the overlay takes the passwd change; /tmp is nosuid, so the copy goes in /.
        let run = sh(&format!(
            "echo nobody:x:65534:65534::/:/bin/sh >> /etc/passwd && {}",
            setuid.replace("/tmp/", "/")
        ));
        run.expect_code(0);
        let report = json(&run);
        eprintln!(
            "full:   uid {} caps {}",
            report["uid"], report["caps"]["effective"]
        );
        assert_eq!(report["uid"], 65534);
        assert_eq!(report["caps"]["effective"], "0000000000000000", "{report}");
        assert_eq!(report["no_new_privs"], true);
    });
}

#[test]
fn rm_rf_bin_inside_leaves_the_shared_root_filesystem_intact() {
    container_test(|| {
        let busybox = testkit::rootfs().join("bin/busybox");
        assert!(busybox.exists());
        let run = sh("rm -rf /bin && test ! -e /bin && echo /bin is gone");
        eprintln!("inside: {}", run.stdout.trim());
        run.expect_code(0);
        assert_eq!(run.stdout.trim(), "/bin is gone");
        assert!(busybox.exists(), "the shared root filesystem lost /bin");
        full(&["ls", "/bin/busybox"]).expect_code(0);
    });
}

#[test]
fn no_overlay_writes_into_the_root_filesystem() {
    container_test(|| {
        let name = format!("desde-cero-no-overlay-{}", std::process::id());
        let on_host = testkit::rootfs().join("root").join(&name);
        full(&["touch", &format!("/root/{name}")]).expect_code(0);
        assert!(!on_host.exists(), "the overlay let a write through");
        full(&["--no-overlay", "touch", &format!("/root/{name}")]).expect_code(0);
        let written = on_host.exists();
        let _ = fs::remove_file(&on_host);
        assert!(
            written,
            "--no-overlay did not write into the root filesystem"
        );
    });
}

#[test]
fn the_environment_is_clean_and_options_apply() {
    container_test(|| {
        let mut cmd = Command::new(testkit::bin("full"));
        cmd.args(["run", "--hostname=web", "env"])
            .env("DESDE_CERO_SECRET", "hunter2");
        let run = testkit::run_cmd(&mut cmd);
        run.expect_code(0);
        let mut vars: Vec<&str> = run
            .stdout
            .lines()
            .map(|l| l.split('=').next().unwrap())
            .collect();
        vars.sort();
        // PATH and PS1 (the `[container]` prompt) come from the init.
        assert_eq!(
            vars,
            ["HOME", "HOSTNAME", "PATH", "PS1", "TERM"],
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains("HOSTNAME=web\n"), "{}", run.stdout);
        let run = full(&["--hostname", &"h".repeat(64), "hostname"]);
        run.expect_code(0);
        assert_eq!(run.stdout.trim(), "h".repeat(64));
        // `--` ends the options: what follows is the command, even if it looks like one.
        let run = full(&["--", "--hostname"]);
        run.expect_code(127);
    });
}

#[test]
fn exit_codes_and_signals_match_the_earlier_stages() {
    container_test(|| {
        full(&["true"]).expect_code(0);
        full(&["sh", "-c", "exit 3"]).expect_code(3);
        full(&["sh", "-c", "kill -9 $$"]).expect_code(137);
        full(&["/etc/passwd"]).expect_code(126);
        full(&["no-such-command-here"]).expect_code(127);
        // SIGTERM to the runtime reaches the command; the runtime reports 128+15 and cleans up.
        let mut child = Command::new(testkit::bin("full"))
            .args(["run", "sleep", "30"])
            .env(testkit::ROOTFS_ENV, testkit::rootfs())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start full");
        sleep(Duration::from_millis(500));
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().expect("wait for full");
        assert_eq!(status.signal(), None, "the runtime itself died");
        assert_eq!(status.code(), Some(128 + 15));
    });
}

#[test]
fn a_killed_container_still_leaves_nothing_behind() {
    container_test(|| {
        let mut child = Command::new(testkit::bin("full"))
            .args(["run", "sleep", "30"])
            .env(testkit::ROOTFS_ENV, testkit::rootfs())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start full");
        // The container's init is the runtime's only child; SIGKILL it from the host.
        let runtime = child.id().to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        let init = loop {
            let found = fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
                let stat = fs::read_to_string(e.path().join("stat")).ok()?;
                let ppid = stat
                    .rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .nth(1)?
                    .to_string();
                (ppid == runtime).then(|| e.file_name().to_string_lossy().into_owned())
            });
            if let Some(pid) = found {
                break pid;
            }
            assert!(
                Instant::now() < deadline,
                "the container's init never started"
            );
            sleep(Duration::from_millis(20));
        };
        sleep(Duration::from_millis(300));
        let folder = PathBuf::from(format!("/tmp/desde-cero-overlay-{runtime}"));
        assert!(folder.is_dir(), "no {} while running", folder.display());
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(init.parse().unwrap(), libc::SIGKILL) };
        let status = child.wait().expect("wait for full");
        assert_eq!(status.code(), Some(128 + 9));
        assert!(!folder.exists(), "{} left behind", folder.display());
    });
}

#[test]
fn every_invalid_option_is_rejected_with_125_before_anything_is_created() {
    container_test(|| {
        let long = "h".repeat(65);
        let cases: &[&[&str]] = &[
            &["--memory", "lots", "true"],
            &["--memory=0", "true"],
            &["--cpus", "-1", "true"],
            &["--cpus", "0", "true"],
            &["--cpus", "NaN", "true"],
            &["--pids", "0", "true"],
            &["--pids", "many", "true"],
            &["--net", "bridge", "true"],
            &["--hostname", &long, "true"],
            &["--hostname=", "true"],
            &["--bogus", "true"],
            &["--rootfs", "/nonexistent/desde-cero", "true"],
            &["--memory"],
            &["--hostname", "x"],
            &[],
        ];
        for args in cases {
            let run = full(args);
            eprintln!("{args:?}: exit {}: {}", run.code, run.stderr.trim_end());
            run.expect_code(125);
            assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
            assert!(run.stderr.starts_with("full: "), "{}", run.stderr);
            assert!(
                !run.stderr.contains("parent:"),
                "something was started: {}",
                run.stderr
            );
        }
        let help = testkit::run_bin(&testkit::bin("full"), ["--help"]);
        help.expect_code(0);
        for option in [
            "--hostname",
            "--rootfs",
            "--memory",
            "--pids",
            "--cpus",
            "--net",
            "--rootless",
            "--no-overlay",
        ] {
            assert!(help.stdout.contains(option), "--help lacks {option}");
        }
        assert!(
            help.stdout.matches("default: ").count() >= 8,
            "{}",
            help.stdout
        );
    });
}

#[test]
fn the_hosts_ipc_objects_and_hostname_are_invisible() {
    container_test(|| {
        // A System V shared memory segment on the host, removed at the end of the test.
        // SAFETY: plain system calls; the segment is not attached.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
        let listed = |text: &str| {
            text.lines()
                .skip(1)
                .any(|l| l.split_whitespace().nth(1) == Some(&id.to_string()))
        };
        let host = fs::read_to_string("/proc/sysvipc/shm").unwrap_or_default();
        let inside = sh("cat /proc/sysvipc/shm; hostname");
        // SAFETY: id is the segment made above.
        unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        assert!(listed(&host), "the host does not list its own segment {id}");
        inside.expect_code(0);
        eprintln!("inside: {:?}", inside.stdout);
        assert!(
            !listed(&inside.stdout),
            "the host's segment is visible: {}",
            inside.stdout
        );
        assert_eq!(inside.stdout.lines().last(), Some("container"));
        assert_ne!(
            fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap()
                .trim(),
            "container"
        );
    });
}

#[test]
fn limit_and_network_options_apply() {
    container_test(|| {
        let run = full(&[
            "--memory=50M",
            "--pids",
            "5",
            "--cpus",
            "1.5",
            "--net",
            "veth",
            "/usr/local/bin/probe",
        ]);
        run.expect_code(0);
        let report = json(&run);
        assert_eq!(report["limits"]["pids_max"], "5", "{report}");
        assert_eq!(report["limits"]["memory_max"], "52428800", "{report}");
        assert_eq!(report["limits"]["cpu_max"], "150000 100000", "{report}");
        let interfaces = report["interfaces"].as_array().unwrap();
        let veth = interfaces
            .iter()
            .find(|i| i["name"].as_str().unwrap().starts_with("dc"))
            .unwrap_or_else(|| panic!("no veth inside with --net veth: {report}"));
        eprintln!("--net veth: {veth}");
        assert_eq!(veth["up"], true, "{veth}");
        // The pids limit holds: a sixth process cannot be started.
        let run = full(&[
            "--pids",
            "5",
            "sh",
            "-c",
            "sleep 5 & sleep 5 & sleep 5 & sleep 5 & sleep 5 & wait",
        ]);
        eprintln!("--pids 5: exit {} {}", run.code, said(&run));
        assert_ne!(run.code, 0);
        assert!(said(&run).contains("can't fork"), "{}", run.stderr);
    });
}

/// The host's uid and gid map of the container's root, as the probe reports it.
fn uid_map(report: &Value) -> Vec<String> {
    report["uid_map"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn rootless_run_by_root_maps_container_root_to_an_unused_id() {
    container_test(|| {
        let run = full(&["--rootless", "/usr/local/bin/probe"]);
        run.expect_code(0);
        let report = json(&run);
        assert_ne!(report["ns"]["user"].as_u64().unwrap(), host_ns("user"));
        assert_eq!(report["uid"], 0);
        assert_eq!(uid_map(&report), ["0", "700000000", "1"], "{report}");
        assert_eq!(report["caps"]["bounding"], "00000000a80425fb");
        assert_eq!(report["no_new_privs"], true);
        // The overlay still takes new files; the limits still apply.
        sh_rootless("touch /new-file && test -e /new-file").expect_code(0);
        assert_eq!(report["limits"]["pids_max"], "20", "{report}");
    });
}

fn sh_rootless(script: &str) -> Run {
    full(&["--rootless", "sh", "-c", script])
}

#[test]
fn rootless_needs_no_root_on_the_host() {
    container_test(|| {
        // Run as uid and gid 65534 (std calls setgroups(0) too, dropping root's groups).
        let as_nobody = |args: &[&str]| {
            let mut cmd = Command::new(testkit::bin("full"));
            cmd.args(args).uid(65534).gid(65534);
            testkit::run_cmd(&mut cmd)
        };
        let help = as_nobody(&["--help"]);
        if !testkit::require(
            help.code == 0,
            &format!(
                "uid 65534 cannot run {}: {}",
                testkit::bin("full").display(),
                help.stderr
            ),
        ) {
            return;
        }
        // Without --rootless, no root: refused before anything is made.
        let run = as_nobody(&["run", "true"]);
        run.expect_code(125);
        assert!(run.stderr.contains("add --rootless"), "{}", run.stderr);
        let run = as_nobody(&["run", "--rootless", "--net", "veth", "true"]);
        run.expect_code(125);
        // With it: root inside, uid 65534 outside, every other step as before.
        let run = as_nobody(&["run", "--rootless", "/usr/local/bin/probe"]);
        run.expect_code(0);
        let report = json(&run);
        eprintln!(
            "rootless as nobody: uid {} uid_map {:?}",
            report["uid"],
            uid_map(&report)
        );
        assert_eq!(report["uid"], 0);
        assert_eq!(uid_map(&report), ["0", "65534", "1"], "{report}");
        assert_eq!(report["no_new_privs"], true);
        assert_eq!(report["caps"]["bounding"], "00000000a80425fb");
        assert!(
            run.stderr.contains("skipping the cgroup limits"),
            "{}",
            run.stderr
        );
        // Folders the container closes (mode 000) are still removed afterwards.
        let run = as_nobody(&[
            "run",
            "--rootless",
            "sh",
            "-c",
            "mkdir -p /a/b && chmod 000 /a/b /a",
        ]);
        run.expect_code(0);
        assert!(!run.stderr.contains("full: remove"), "{}", run.stderr);
    });
}

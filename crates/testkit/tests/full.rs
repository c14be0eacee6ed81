//! `full`, the last stage, against the real kernel: the talk's security demonstrations.
//!
//! The classic chroot escape reaches the host's root from `chroot` (the point of that slide) and
//! not from `full` (pivot_root). Inside `full`: mounting fails, /proc's dangerous files and /sys
//! are read-only, a dropped capability cannot be raised again, a setuid binary gains nothing
//! (no_new_privs), the host's processes and hostname are invisible, `rm -rf /bin` leaves the
//! shared root filesystem intact (overlay), the environment is clean. Exit codes and signals
//! behave as in the earlier stages; every invalid option is rejected with 125 before anything
//! is created; after every run no mount, cgroup, link or process is left, and the overlay makes
//! nothing on the host at all. Issue 15's attacks on full itself (an overlay folder on the host,
//! unbounded writes, the init's environment, an inherited descriptor, limits lifted from inside,
//! unchecked options) are tests below, with --rootless too.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::container_test;
use testkit::{host_ns, Run};

/// The CPUs online, as `full` counts them for `--cpus`.
fn online_cpus() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) as usize }
}

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
fn inheritable_and_ambient_capabilities_are_emptied() {
    container_test(|| {
        // Started with sys_admin and chown in its inheritable and ambient sets, which execve(2)
        // would pass on to any program: the stages from capabilities on empty both.
        let probe = |wrap: &[&str], stage: Option<&str>| -> Value {
            let mut cmd = Command::new("setpriv");
            cmd.args([
                "--inh-caps",
                "+sys_admin,+chown",
                "--ambient-caps",
                "+sys_admin,+chown",
            ]);
            cmd.args(wrap);
            if let Some(stage) = stage {
                cmd.arg(testkit::bin(stage)).args(["run", "-q"]);
                cmd.arg(testkit::probe_path(stage));
            } else {
                cmd.arg(testkit::rootfs().join("usr/local/bin/probe"));
            }
            let run = testkit::run_cmd(cmd.arg("--compact"));
            run.expect_code(0);
            json(&run)["caps"].clone()
        };
        // The control: on the host, the probe gets both sets as setpriv made them.
        let host = probe(&[], None);
        assert_eq!(host["ambient"], "0000000000200001", "{host}");
        for stage in ["capabilities", "seccomp", "full"] {
            let caps = probe(&[], Some(stage));
            eprintln!("{stage}: {caps}");
            assert_eq!(caps["inheritable"], "0000000000000000", "{stage}: {caps}");
            assert_eq!(caps["ambient"], "0000000000000000", "{stage}: {caps}");
        }
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
        // 64 bytes, the kernel's most, in labels of at most 63 (RFC 1123).
        let longest = format!("{}.{}", "h".repeat(62), "h");
        let run = full(&["--hostname", &longest, "hostname"]);
        run.expect_code(0);
        assert_eq!(run.stdout.trim(), longest);
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
        // Nothing on the host's /tmp: the overlay is a tmpfs in the container's mount namespace.
        assert_eq!(
            in_host_tmp(&format!("overlay-{runtime}")),
            Vec::<String>::new()
        );
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(init.parse().unwrap(), libc::SIGKILL) };
        let status = child.wait().expect("wait for full");
        assert_eq!(status.code(), Some(128 + 9));
    });
}

#[test]
fn quiet_mode_mixes_with_the_options_in_any_order() {
    container_test(|| {
        let cases: &[&[&str]] = &[
            &["-q", "--rootless", "--hostname", "q"],
            &["--rootless", "-q", "--hostname", "q"],
            &["--rootless", "--hostname", "q", "--quiet"],
        ];
        for options in cases {
            let mut args = options.to_vec();
            args.extend(["sh", "-c", "echo $(hostname) $(id -u)"]);
            let run = full(&args);
            eprintln!(
                "{args:?}: exit {}: {} | {}",
                run.code,
                run.stdout.trim(),
                said(&run)
            );
            run.expect_code(0);
            // The options applied, the command is sh, and not one teaching line.
            assert_eq!(run.stdout.trim(), "q 0", "{args:?}: {run:?}");
            assert_eq!(run.stderr, "", "{args:?}");
        }
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
        // The project's root filesystem is closed to other users (rootfs/ is 0710: a setuid
        // file there must give them nothing), so uid 65534 gets a copy of its own, as an
        // ordinary user who made it would have.
        let scratch = testkit::Scratch::new("rootless-rootfs");
        std::fs::set_permissions(&scratch.path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the scratch folder");
        let rootfs = scratch.path.join("rootfs");
        for (program, args) in [
            (
                "cp",
                vec![
                    "-a".into(),
                    testkit::rootfs().into_os_string(),
                    rootfs.clone().into(),
                ],
            ),
            (
                "chown",
                vec!["-R".into(), "65534:65534".into(), rootfs.clone().into()],
            ),
        ] {
            let status = Command::new(program).args(&args).status().expect(program);
            assert!(status.success(), "{program} of the root filesystem failed");
        }
        // Run as uid and gid 65534 (std calls setgroups(0) too, dropping root's groups).
        let as_nobody = |args: &[&str]| {
            let mut cmd = Command::new(testkit::bin("full"));
            cmd.args(args)
                .env(testkit::ROOTFS_ENV, &rootfs)
                .uid(65534)
                .gid(65534);
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
        // Nothing delegated to uid 65534 here: no limits, said so (delegation.rs has the rest).
        assert!(
            run.stderr.contains("full: running WITHOUT cgroup limits"),
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

// Issue 15: the attacks that got through `full`, each a test. Every one of them failed on the
// code before the fix (see the notes of each), and must keep failing for the attacker.

/// The entries of the host's /tmp whose name has `what` in it.
fn in_host_tmp(what: &str) -> Vec<String> {
    fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(what))
        .collect()
}

/// Starts `full run <args>` in the background and waits until its init has started its
/// command. Returns the runtime and the init's pid (in the host's PID namespace).
fn start_full(args: &[&str]) -> (std::process::Child, i32) {
    start_full_with(args, |_| {})
}

/// [`start_full`], the command changed by `setup` first (its environment, its descriptors).
fn start_full_with(args: &[&str], setup: impl FnOnce(&mut Command)) -> (std::process::Child, i32) {
    let mut cmd = Command::new(testkit::bin("full"));
    cmd.arg("run")
        .args(args)
        .env(testkit::ROOTFS_ENV, testkit::rootfs())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    setup(&mut cmd);
    let mut child = cmd.spawn().expect("start full");
    let children_of = |pid: &str| -> Vec<String> {
        fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let stat = fs::read_to_string(e.path().join("stat")).ok()?;
                let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
                (ppid == pid).then(|| e.file_name().to_string_lossy().into_owned())
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let inits = children_of(&child.id().to_string());
        if let Some(init) = inits.first() {
            if !children_of(init).is_empty() {
                break (child, init.parse().unwrap());
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "full ended early");
        assert!(
            Instant::now() < deadline,
            "the container's command never started"
        );
        sleep(Duration::from_millis(20));
    }
}

/// SIGTERM to a runtime [`start_full`] started, which passes it on to the container, and waits
/// for it: it cleans up after itself (its cgroup, its mounts).
fn stop(mut runtime: std::process::Child) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(runtime.id() as i32, libc::SIGTERM) };
    let _ = runtime.wait();
}

#[test]
fn the_overlay_makes_nothing_on_the_host_not_even_after_kill_9() {
    // Before: /tmp/desde-cero-overlay-<pid> while it ran, left behind by a kill -9 of the
    // runtime.
    container_test(|| {
        let before = in_host_tmp("desde-cero");
        let (mut runtime, init) = start_full(&["sleep", "30"]);
        let pid = runtime.id();
        let made: Vec<String> = in_host_tmp("desde-cero")
            .into_iter()
            .filter(|name| !before.contains(name))
            .collect();
        // kill -9 of the runtime: its Drops never run; the kernel kills the container
        // (PR_SET_PDEATHSIG), and the overlay's tmpfs goes with its mount namespace.
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        runtime.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while fs::metadata(format!("/proc/{init}")).is_ok() {
            assert!(Instant::now() < deadline, "the init outlived its runtime");
            sleep(Duration::from_millis(20));
        }
        // What the kernel cannot remove: the cgroup, as `cargo xtask clean` would.
        let name = format!("desde-cero-{pid}");
        for group in hoststate::cgroups(&hoststate::mounts()) {
            if group.file_name().is_some_and(|n| n == name.as_str()) {
                let deadline = Instant::now() + Duration::from_secs(10);
                while fs::remove_dir(&group).is_err() && Instant::now() < deadline {
                    sleep(Duration::from_millis(20));
                }
            }
        }
        assert!(
            made.is_empty(),
            "made on the host's /tmp while running: {made:?}"
        );
        let after: Vec<String> = in_host_tmp("desde-cero")
            .into_iter()
            .filter(|name| !before.contains(name))
            .collect();
        assert!(after.is_empty(), "left on the host's /tmp: {after:?}");
    });
}

#[test]
fn folders_made_beforehand_for_the_next_pids_block_nothing() {
    // Before: any local user could make /tmp/desde-cero-overlay-<pid> for the pids to come;
    // full then failed with `mkdir ...: EEXIST`, exit 125.
    container_test(|| {
        let last: u32 = fs::read_to_string("/proc/sys/kernel/ns_last_pid")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let traps: Vec<PathBuf> = (last + 1..last + 400)
            .map(|pid| PathBuf::from(format!("/tmp/desde-cero-overlay-{pid}")))
            .filter(|dir| fs::create_dir(dir).is_ok())
            .collect();
        let run = full(&["true"]);
        for dir in &traps {
            let _ = fs::remove_dir(dir);
        }
        eprintln!("with {} folders in the way: {}", traps.len(), said(&run));
        run.expect_code(0);
    });
}

#[test]
fn the_containers_writes_are_bounded_and_df_shows_its_own_space() {
    // Before: 2 GB written inside landed on the host's disk, and `df /` showed the host's.
    container_test(|| {
        let run = sh("df -k / | tail -1; dd if=/dev/zero of=/big bs=1M count=80");
        eprintln!("default: {} {}", run.stdout.trim(), said(&run));
        // The default --disk: half of the default --memory (100M), in KiB.
        let size = run.stdout.split_whitespace().nth(1);
        assert_eq!(size, Some("51200"), "df / inside: {}", run.stdout);
        assert_ne!(run.code, 0);
        assert!(
            run.stderr.contains("No space left on device"),
            "{}",
            run.stderr
        );

        let run = full(&[
            "--disk",
            "16M",
            "sh",
            "-c",
            "dd if=/dev/zero of=/big bs=1M count=64; df -k / | tail -1",
        ]);
        eprintln!("--disk 16M: {} {}", run.stdout.trim(), said(&run));
        run.expect_code(0);
        let used: Vec<&str> = run.stdout.split_whitespace().skip(1).take(3).collect();
        assert_eq!(used, ["16384", "16384", "0"], "{}", run.stdout);
        assert!(
            run.stderr.contains("No space left on device"),
            "{}",
            run.stderr
        );

        // The files are memory of the container's cgroup: a disk as large as the memory limit
        // fills it, and the OOM killer ends the container, which the runtime reports.
        let run = full(&[
            "--memory",
            "48M",
            "--disk",
            "48M",
            "dd",
            "if=/dev/zero",
            "of=/big",
            "bs=1M",
            "count=100",
        ]);
        eprintln!("--memory 48M --disk 48M: exit {} {}", run.code, said(&run));
        run.expect_code(137);
        assert!(
            run.stderr.contains("killed by the OOM killer"),
            "{}",
            run.stderr
        );
    });
}

#[test]
fn the_inits_environment_is_as_clean_as_the_commands() {
    // Before: /proc/1/environ showed the host's whole environment, FOO=secret included. Read
    // from the host: inside, the init is not dumpable and its environ is closed to the command
    // (the_inits_memory_environment_and_exe_are_closed_to_the_command).
    container_test(|| {
        for rootless in [false, true] {
            let args: &[&str] = match rootless {
                true => &["--rootless", "sleep", "30"],
                false => &["sleep", "30"],
            };
            let (runtime, init) = start_full_with(args, |cmd| {
                cmd.env("FOO", "secret").env("DESDE_CERO_SECRET", "secret");
            });
            let environ = fs::read(format!("/proc/{init}/environ"));
            stop(runtime);
            let environ =
                String::from_utf8_lossy(&environ.expect("the init's environ")).replace('\0', "\n");
            eprintln!("rootless {rootless}: {environ:?}");
            assert!(!environ.contains("secret"), "{environ}");
            assert!(environ.contains("DESDE_CERO_CHILD="), "{environ}");
            for line in environ.lines() {
                let name = line.split('=').next().unwrap();
                let kept = [
                    "DESDE_CERO_CHILD",
                    "DESDE_CERO_QUIET",
                    "DESDE_CERO_ROOTFS",
                    "TERM",
                ];
                assert!(kept.contains(&name), "the init got {line:?}");
            }
        }
    });
}

#[test]
fn the_inits_memory_environment_and_exe_are_closed_to_the_command() {
    // Before: the init was dumpable, and the command (root inside, without CAP_SYS_PTRACE)
    // opened /proc/1/mem read-write, round the filter's refusal of ptrace(2); /proc/1/exe is
    // the runtime's binary on the host. stat, status and cmdline stay readable: ps works.
    container_test(|| {
        for rootless in [false, true] {
            let mut args = vec![];
            if rootless {
                args.push("--rootless");
            }
            let mem = [&args[..], &["sh", "-c", "exec 3<>/proc/1/mem"]].concat();
            let run = full(&mem);
            eprintln!(
                "rootless {rootless}, /proc/1/mem: exit {} {}",
                run.code,
                said(&run)
            );
            assert_ne!(run.code, 0, "/proc/1/mem opened read-write from inside");
            // Our own memory, for contrast: the command is dumpable.
            let own = [&args[..], &["sh", "-c", "exec 3<>/proc/self/mem"]].concat();
            full(&own).expect_code(0);

            let paths = ["/proc/1/environ", "/proc/1/exe", "/proc/1/stat"];
            let paths = [&args[..], &["/usr/local/bin/probe", "paths"], &paths[..]].concat();
            let run = full(&paths);
            run.expect_code(0);
            let report = json(&run);
            eprintln!("rootless {rootless}: {report}");
            let error = |i: usize| report[i]["error"].as_str().unwrap_or("").to_string();
            for i in 0..2 {
                assert!(error(i).contains("EACCES"), "{}", report[i]);
            }
            assert!(report[2]["bytes"].as_u64() > Some(0), "{}", report[2]);
            let ps = [&args[..], &["ps"]].concat();
            full(&ps).expect_code(0);
        }
    });
}

/// `full run <args>` with the host's /tmp open as descriptor 7, as `exec 7</tmp` leaves it.
fn full_with_fd_7(args: &[&str]) -> Run {
    let mut cmd = Command::new(testkit::bin("full"));
    cmd.arg("run").args(args);
    // SAFETY: between fork and exec, only open(2) and dup2(2), which are async-signal-safe.
    unsafe { cmd.pre_exec(open_tmp_as_7) };
    testkit::run_cmd(&mut cmd)
}

/// `exec 7</tmp`, between fork and exec.
fn open_tmp_as_7() -> std::io::Result<()> {
    // SAFETY: open(2) of a constant path and dup2(2), which are async-signal-safe.
    let fd = unsafe { libc::open(c"/tmp".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    if fd < 0 || unsafe { libc::dup2(fd, 7) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[test]
fn a_descriptor_the_host_left_open_is_closed() {
    // Before: `exec 7</tmp; full run sh -c 'head /proc/self/fd/7/../etc/shadow'` printed the
    // host's shadow file; with --rootless, writing through it made a host file.
    container_test(|| {
        // The init's descriptors, from the host (inside, its fd folder is closed to the
        // command: the init is not dumpable).
        let (runtime, init) = start_full_with(&["sleep", "30"], |cmd| {
            // SAFETY: between fork and exec, only open(2) and dup2(2), async-signal-safe.
            unsafe { cmd.pre_exec(open_tmp_as_7) };
        });
        let fds = || {
            fs::read_dir(format!("/proc/{init}/fd")).map(|list| {
                let names = list
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned());
                let mut names: Vec<String> = names.collect();
                names.sort();
                names
            })
        };
        // The command may still be on its way to execve(2): posix_spawn(3) holds a pipe of
        // its own (O_CLOEXEC) in the init until then. A descriptor the host left stays.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = fds();
        while seen.as_ref().is_ok_and(|fds| fds.len() > 3) && Instant::now() < deadline {
            sleep(Duration::from_millis(20));
            seen = fds();
        }
        let fds = seen;
        stop(runtime);
        eprintln!("fd 7: the init's descriptors {fds:?}");
        assert_eq!(fds.expect("the init's fd folder"), ["0", "1", "2"]);
        let run = full_with_fd_7(&["head", "-1", "/proc/self/fd/7/../etc/shadow"]);
        eprintln!("fd 7: exit {}, {:?} {}", run.code, run.stdout, said(&run));
        assert_ne!(run.code, 0);
        assert!(run.stderr.contains("No such file"), "{}", run.stderr);

        let name = format!("desde-cero-fd7-{}", std::process::id());
        let script = format!("touch /proc/self/fd/7/{name}");
        let run = full_with_fd_7(&["--rootless", "sh", "-c", &script]);
        let made = PathBuf::from("/tmp").join(&name);
        let written = made.exists();
        let _ = fs::remove_file(&made);
        eprintln!("--rootless, fd 7: exit {} {}", run.code, said(&run));
        assert!(!written, "a file was made on the host through descriptor 7");
        assert_ne!(run.code, 0);
    });
}

/// `full run <args> probe inotify`: the probe makes inotify instances until the kernel refuses
/// one and holds them; meanwhile this process, host root, makes one of its own. Returns the
/// probe's report and what host root got.
fn inotify_while_held(args: &[&str]) -> (Value, std::io::Result<()>) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(testkit::bin("full"))
        .arg("run")
        .args(args)
        .args(["/usr/local/bin/probe", "inotify", "20"])
        .env(testkit::ROOTFS_ENV, testkit::rootfs())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start full");
    // The probe holds its instances until its stdin ends, 20 s at most.
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    // SAFETY: inotify_init1 takes a flag and returns a new descriptor or -1; close(2) it.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    let host = match fd {
        -1 => Err(std::io::Error::last_os_error()),
        fd => {
            unsafe { libc::close(fd) };
            Ok(())
        }
    };
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "full {args:?} probe inotify: {status}, {line:?}"
    );
    let report = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("probe inotify printed no JSON ({e}): {line:?}"));
    (report, host)
}

#[test]
fn a_containers_inotify_instances_leave_host_roots_own_alone_with_rootless() {
    // Before: --rootless started by root made a user namespace owned by uid 0, and the kernel
    // charges the instances made inside to the namespace's owner too: a container holding
    // 128 (fs.inotify.max_user_instances) left host root's programs with EMFILE.
    container_test(|| {
        for rootless in [false, true] {
            let args: &[&str] = if rootless { &["--rootless"] } else { &[] };
            let (report, host) = inotify_while_held(args);
            eprintln!("rootless {rootless}: probe {report}, host root's own: {host:?}");
            let made = report["made"].as_u64().unwrap_or(0);
            let nofile = report["nofile"].as_u64().unwrap_or(0);
            // Refused by the per-user count, not by the descriptor limit.
            assert!(made > 0 && made + 3 < nofile, "{report}");
            assert!(report["error"].is_string(), "{report}");
            match rootless {
                // As with docker run by root: root inside is host root, one count (the notes
                // say so). The control: the probe really used up what host root had.
                false => assert!(host.is_err(), "rootful: host root still made one"),
                true => assert!(host.is_ok(), "--rootless: host root got {host:?}"),
            }
        }
    });
}

#[test]
fn no_cgroup_limit_is_raised_and_no_cgroup_made_from_inside() {
    // Before (no seccomp filter): `unshare -U -r` gave every capability in a new user
    // namespace, from where a cgroup hierarchy could be mounted and pids.max set to max.
    container_test(|| {
        for rootless in [false, true] {
            let mut args = vec![];
            if rootless {
                args.push("--rootless");
            }
            for script in [
                // A user namespace, the first step of the lift.
                "unshare -U -r -m true",
                // The cgroup tree, straight: read-only, and no CAP_SYS_ADMIN to remount it.
                "mkdir /sys/fs/cgroup/pids/x || mkdir /sys/fs/cgroup/x",
                "echo max > /sys/fs/cgroup/pids/pids.max || echo max > /sys/fs/cgroup/pids.max",
                "mount -t cgroup2 none /mnt",
                "mount -t cgroup -o pids none /mnt",
            ] {
                let run = full(&[&args[..], &["sh", "-c", script]].concat());
                eprintln!(
                    "rootless {rootless}: {script}: exit {} {}",
                    run.code,
                    said(&run)
                );
                assert_ne!(run.code, 0, "{script} worked:\n{}", run.stderr);
            }
            // The limit still holds.
            let cat = "cat /sys/fs/cgroup/pids/pids.max || cat /sys/fs/cgroup/pids.max";
            let run = full(&[&args[..], &["sh", "-c", cat]].concat());
            assert_eq!(run.stdout.trim(), "20", "{}", run.stderr);
        }
    });
}

#[test]
fn every_option_is_checked_against_what_the_kernel_and_the_machine_accept() {
    // Before: --memory 18446744073709551615 and --cpus 1000 were accepted (no limit, silently);
    // --pids 18446744073709551615 failed with ERANGE and "run it as root"; a hostname with a
    // newline was accepted; --rootfs / showed the host's /etc/shadow through the overlay; a
    // root filesystem without /dev failed on a mount.
    container_test(|| {
        let no_dev = testkit::Scratch::new("no-dev");
        for dir in ["bin", "proc", "sys", "tmp"] {
            fs::create_dir(no_dev.path.join(dir)).unwrap();
        }
        let root_link = testkit::Scratch::new("root-link");
        let link = root_link.path.join("root");
        std::os::unix::fs::symlink("/", &link).unwrap();
        let cpus = (online_cpus() + 1).to_string();
        let ram = fs::read_to_string("/proc/meminfo").unwrap();
        let kib: u64 = ram
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let too_much = format!("{}K", kib + 1024);
        let no_dev = no_dev.path.to_str().unwrap().to_string();
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["--memory", "18446744073709551615"], "--memory"),
            (vec!["--memory", &too_much], "--memory"),
            (vec!["--memory", "17179869184G"], "--memory"),
            (vec!["--cpus", "1000"], "--cpus"),
            (vec!["--cpus", &cpus], "--cpus"),
            (vec!["--pids", "18446744073709551615"], "--pids"),
            (vec!["--pids", "99999999"], "--pids"),
            (vec!["--hostname", "a\nb"], "--hostname"),
            (vec!["--hostname", "-a"], "--hostname"),
            (vec!["--hostname", "a..b"], "--hostname"),
            (vec!["--hostname", "a_b"], "--hostname"),
            (vec!["--hostname", "a b"], "--hostname"),
            (vec!["--hostname", "a/b"], "--hostname"),
            (vec!["--rootfs", "/"], "host's own root"),
            (vec!["--rootfs", "/."], "host's own root"),
            (vec!["--rootfs", link.to_str().unwrap()], "host's own root"),
            (vec!["--rootfs", &no_dev], "no real folder /dev"),
            (vec!["--disk", "200M"], "--memory"),
            (vec!["--memory", "32M", "--disk", "64M"], "--memory"),
            (vec!["--disk", "0"], "--disk"),
            (vec!["--disk", "lots"], "--disk"),
        ];
        for (args, named) in cases {
            let run = full(&[&args[..], &["cat", "/etc/shadow"]].concat());
            eprintln!("{args:?}: exit {}: {}", run.code, run.stderr.trim_end());
            run.expect_code(125);
            assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
            assert!(run.stderr.starts_with("full: "), "{}", run.stderr);
            assert!(run.stderr.contains(named), "{args:?}: {}", run.stderr);
            assert!(!run.stderr.contains("run it as root"), "{}", run.stderr);
            assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        }
        // And the largest values that are accepted work.
        let cpus = std::thread::available_parallelism()
            .unwrap()
            .get()
            .to_string();
        full(&[
            "--cpus",
            &cpus,
            "--hostname",
            "a-1.b2",
            "--disk",
            "100M",
            "true",
        ])
        .expect_code(0);
    });
}

#[test]
fn every_attack_of_the_suite_fails_against_full_rootless_and_no_overlay_too() {
    // The probe's attack suite with its bait (a host marker, descriptor 7 on the host's /tmp,
    // DESDE_CERO_SECRET, a key in host root's keyring, the host's disk sizes): what tests/attacks.rs
    // tries against full's defaults, tried against its other ways of running.
    container_test(|| {
        let ways: [&[&str]; 3] = [&[], &["--rootless"], &["--no-overlay"]];
        for args in ways {
            let tried = testkit::attack::attacks("full", args);
            assert_eq!(tried.len(), catalog::Attack::ALL.len(), "{tried:?}");
            for (name, attempt) in &tried {
                eprintln!("full {args:?}: {name}: {}", attempt.detail);
                // --no-overlay writes into the root filesystem: its disk is the host's, by
                // choice.
                if args == ["--no-overlay"] && name == "disk" {
                    assert!(attempt.succeeded, "{}", attempt.detail);
                    continue;
                }
                assert!(
                    !attempt.succeeded,
                    "full {args:?}: {name} got through: {}",
                    attempt.detail
                );
            }
        }
    });
}

// ---- issue 30, hardening round three: what `full` is given as its root filesystem ----------

/// A copy of the test root filesystem at `dest` (`cp -a`: modes, owners and device nodes).
fn copy_rootfs(dest: &std::path::Path) {
    let copied = Command::new("cp")
        .arg("-a")
        .arg(testkit::rootfs())
        .arg(dest)
        .status()
        .expect("cp");
    assert!(copied.success(), "cannot copy the root filesystem");
}

#[test]
fn a_rootfs_whose_dev_proc_sys_or_tmp_is_a_symlink_is_refused_by_pivot_and_full() {
    // Before: pivot and full mounted through the symlink (`dev -> /var/tmp`), and the command
    // ran with no /dev (or /proc) of its own, exit 0.
    container_test(|| {
        let scratch = testkit::Scratch::new("full-symlinked");
        for dir in ["dev", "proc", "sys", "tmp"] {
            let root = scratch.path.join(dir);
            copy_rootfs(&root);
            fs::remove_dir_all(root.join(dir)).unwrap();
            std::os::unix::fs::symlink("/var/tmp", root.join(dir)).unwrap();
            let shown = root.to_str().unwrap();
            let pivot = testkit::run_cmd(
                Command::new(testkit::bin("pivot"))
                    .args(["run", "-q", "true"])
                    .env(testkit::ROOTFS_ENV, &root),
            );
            let full = full(&["-q", "--rootfs", shown, "true"]);
            for (stage, run) in [("pivot", pivot), ("full", full)] {
                eprintln!("{dir} -> /var/tmp, {stage}: {}", run.stderr.trim_end());
                run.expect_code(125);
                let lines: Vec<&str> = run.stderr.lines().collect();
                assert_eq!(lines.len(), 1, "{stage}, {dir}: {}", run.stderr);
                assert!(
                    lines[0].contains(&format!("/{dir}")),
                    "{stage}: {}",
                    lines[0]
                );
                assert!(lines[0].contains("symlink"), "{stage}: {}", lines[0]);
            }
        }
    });
}

#[test]
fn disk_with_no_overlay_is_refused_and_so_is_a_rootfs_others_can_reach() {
    container_test(|| {
        // --disk sizes the overlay's tmpfs: with --no-overlay it limited nothing, and the
        // writes landed on the host's disk.
        for args in [
            &["--disk", "10M", "--no-overlay", "true"][..],
            &["--no-overlay", "--disk=10M", "true"],
        ] {
            let run = full(args);
            run.expect_code(125);
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
            assert!(run.stderr.contains("--no-overlay"), "{}", run.stderr);
        }
        // The attack: with --no-overlay, a setuid-root file made inside lands in the root
        // filesystem; under a folder every local user can pass (a copy in /tmp), any of them
        // could run it by its host path. Refused, and nothing is made.
        let scratch = testkit::Scratch::new("full-reachable");
        fs::set_permissions(&scratch.path, fs::Permissions::from_mode(0o755)).unwrap();
        let root = scratch.path.join("root");
        copy_rootfs(&root);
        let made = root.join("setuid-sh");
        let script = "cp /bin/busybox /setuid-sh && chmod 4755 /setuid-sh";
        let args = [
            "--no-overlay",
            "--rootfs",
            root.to_str().unwrap(),
            "sh",
            "-c",
        ];
        let run = full(&[&args[..], &[script]].concat());
        run.expect_code(125);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(
            run.stderr.contains("other users can reach it"),
            "{}",
            run.stderr
        );
        assert!(!made.exists(), "the setuid file was made: {}", run.stderr);
        // The same folder closed to others (as rootfs/ is): it runs.
        fs::set_permissions(&scratch.path, fs::Permissions::from_mode(0o700)).unwrap();
        full(&[&args[..], &["true"]].concat()).expect_code(0);
        // And with the overlay, nothing lands there: no refusal.
        fs::set_permissions(&scratch.path, fs::Permissions::from_mode(0o755)).unwrap();
        full(&["--rootfs", root.to_str().unwrap(), "true"]).expect_code(0);
    });
}

#[test]
fn a_rootfs_symlink_switched_during_runs_never_gets_a_refused_root_used() {
    // `--rootfs LINK`, with LINK switched back and forth between the root filesystem and a
    // copy with the host's `/` bound inside, which the parent's check refuses: before, the
    // child resolved LINK again, and in some runs read a host-only file from inside.
    container_test(|| {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let scratch = testkit::Scratch::new("full-switch");
        // On the host's own filesystem (/tmp may be a tmpfs, which a bind of `/` leaves out);
        // the VM's initramfs has no /var/tmp until it is made.
        let secret = format!("/var/tmp/desde-cero-switch-{}", std::process::id());
        fs::create_dir_all("/var/tmp").unwrap();
        fs::write(&secret, "host-only\n").unwrap();
        let evil = scratch.path.join("evil");
        copy_rootfs(&evil);
        let host = Unmount(evil.join("host"));
        fs::create_dir(&host.0).unwrap();
        let mount = |args: &[&str]| Command::new("mount").args(args).arg(&host.0).status();
        assert!(mount(&["--bind", "/"]).unwrap().success());
        assert!(mount(&["--make-private"]).unwrap().success());
        let link = scratch.path.join("link");
        let stop = Arc::new(AtomicBool::new(false));
        let switcher = {
            let (stop, link, spare) = (stop.clone(), link.clone(), scratch.path.join("spare"));
            let (good, evil) = (testkit::rootfs(), evil.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for target in [&good, &evil] {
                        let _ = fs::remove_file(&spare);
                        std::os::unix::fs::symlink(target, &spare).unwrap();
                        fs::rename(&spare, &link).unwrap();
                    }
                }
            })
        };
        let started = Instant::now();
        let (mut runs, mut refused, mut leaked) = (0, 0, Vec::new());
        let inside = format!("/host{secret}");
        let args = [
            "--no-overlay",
            "--rootfs",
            link.to_str().unwrap(),
            "/bin/cat",
            &inside,
        ];
        while runs < 300 && started.elapsed() < Duration::from_secs(90) {
            let run = full(&args);
            runs += 1;
            if run.code == 125 {
                refused += 1;
            }
            if run.stdout.contains("host-only") {
                leaked.push(run.stderr);
            }
        }
        stop.store(true, Ordering::Relaxed);
        switcher.join().unwrap();
        let _ = fs::remove_file(&secret);
        drop(host);
        eprintln!(
            "{runs} runs, {refused} refused by the check, {} leaked",
            leaked.len()
        );
        assert!(
            leaked.is_empty(),
            "a refused root filesystem was used: {leaked:?}"
        );
        // The race was on: some runs were refused, some got past the check.
        assert!(refused > 0 && refused < runs, "{refused} of {runs} refused");
    });
}

/// A mount point, unmounted when dropped (a failed test leaves no mount behind).
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

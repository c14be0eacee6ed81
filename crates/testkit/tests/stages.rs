//! The talk's stages against the real kernel, run as separate processes.
//!
//! For each of the first six stages, its own isolation property holds and the stage before it did
//! not have it (namespaces are compared by their `/proc/<pid>/ns/*` inodes, as the probe reports
//! them; the host is never changed). For every stage in the catalog: exit codes propagate
//! (0, 3, 128+9, 126, 127), a usage error is one line with exit 125, signals reach the command,
//! and nothing is left on the host.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use serde_json::Value;
use testkit::container_test;
use testkit::host_ns;
use testkit::ns;

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read the host's hostname")
        .trim()
        .to_string()
}

#[test]
fn every_stage_propagates_exit_codes() {
    container_test(|| {
        for stage in catalog::STAGES {
            let name = stage.name;
            testkit::stage(name, ["true"]).expect_code(0);
            testkit::stage(name, ["sh", "-c", "exit 3"]).expect_code(3);
            testkit::stage(name, ["sh", "-c", "kill -9 $$"]).expect_code(128 + 9);
            // /etc/passwd exists in the host's root and in the container's, and is not executable.
            let run = testkit::stage(name, ["/etc/passwd"]);
            run.expect_code(126);
            assert!(run.stderr.contains("/etc/passwd"), "{name}: {}", run.stderr);
            let run = testkit::stage(name, ["no-such-command-here"]);
            run.expect_code(127);
            assert!(
                run.stderr
                    .contains("no-such-command-here: command not found"),
                "{name}: {}",
                run.stderr
            );
        }
    });
}

#[test]
fn a_usage_error_is_one_line_and_exit_125() {
    for stage in catalog::STAGES {
        for args in [&[][..], &["run"][..], &["bogus", "true"][..]] {
            let run = testkit::run_bin(&testkit::bin(stage.name), args);
            run.expect_code(125);
            let prefix = format!("{}: usage: {} run ", stage.name, stage.name);
            assert!(run.stderr.starts_with(&prefix), "{args:?}: {}", run.stderr);
            assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
            assert!(!run.stderr.contains("panicked"));
        }
    }
}

#[test]
fn uts_has_its_own_hostname_and_base2_shares_the_hosts() {
    container_test(|| {
        let before = hostname();
        let base2 = testkit::probe("base2");
        assert_eq!(
            ns(&base2, "uts"),
            host_ns("uts"),
            "base2 must share the host's UTS ns"
        );
        assert_eq!(base2["hostname"], before.as_str());

        let uts = testkit::probe("uts");
        assert_ne!(
            ns(&uts, "uts"),
            host_ns("uts"),
            "uts must have its own UTS ns"
        );
        assert_eq!(uts["hostname"], "container");
        assert_eq!(hostname(), before, "the host's hostname changed");
    });
}

#[test]
fn pid_makes_the_init_pid_1_and_uts_does_not() {
    container_test(|| {
        let uts = testkit::probe("uts");
        assert_eq!(ns(&uts, "pid"), host_ns("pid"));
        assert_ne!(uts["ppid"], 1);

        let pid = testkit::probe("pid");
        assert_ne!(
            ns(&pid, "pid"),
            host_ns("pid"),
            "pid must have its own PID ns"
        );
        // The init (the stage's child) is PID 1; the command it runs, here the probe, is PID 2.
        assert_eq!(pid["ppid"], 1, "{pid}");
        assert_eq!(pid["pid"], 2, "{pid}");
    });
}

#[test]
fn chroot_runs_the_command_in_the_root_filesystem_and_pid_does_not() {
    container_test(|| {
        // The root filesystem's os-release names this project; the host's does not.
        let chroot = testkit::stage("chroot", ["cat", "/etc/os-release"]);
        chroot.expect_code(0);
        assert!(chroot.stdout.contains("desde-cero"), "{}", chroot.stdout);
        let pid = testkit::stage("pid", ["cat", "/etc/os-release"]);
        pid.expect_code(0);
        assert!(!pid.stdout.contains("desde-cero"), "{}", pid.stdout);
    });
}

#[test]
fn a_missing_root_filesystem_is_one_clear_line() {
    container_test(|| {
        let mut cmd = Command::new(testkit::bin("chroot"));
        cmd.args(["run", "true"])
            .env(testkit::ROOTFS_ENV, "/nonexistent/desde-cero");
        let run = testkit::run_cmd(&mut cmd);
        run.expect_code(125);
        assert!(
            run.stderr
                .contains("chroot: no root filesystem at /nonexistent/desde-cero"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("cargo xtask rootfs"), "{}", run.stderr);
    });
}

#[test]
fn procfs_shows_only_the_containers_processes_and_chroot_does_not() {
    container_test(|| {
        let pid = testkit::probe("pid");
        assert!(
            pid["proc_pids"].as_u64().unwrap() > 2,
            "pid reads the host's /proc: {pid}"
        );
        let chroot = testkit::probe("chroot");
        // Without a /proc the probe reads namespaces through pidfd ioctls, new in Linux 6.11;
        // the cgroup v2 VM's kernel is older, and only there may the answer be missing.
        if !(chroot["ns"].is_null() && testkit::in_vm()) {
            assert_eq!(ns(&chroot, "mnt"), host_ns("mnt"));
        }
        assert_eq!(
            chroot["proc_pids"], 0,
            "nothing is mounted on the rootfs's /proc"
        );

        let procfs = testkit::probe("procfs");
        assert_ne!(
            ns(&procfs, "mnt"),
            host_ns("mnt"),
            "procfs must have its own mount ns"
        );
        // The init and the probe: nothing else.
        assert_eq!(procfs["proc_pids"], 2, "{procfs}");
    });
}

#[test]
fn the_init_reaps_orphans() {
    container_test(|| {
        // The subshell's `sleep` is orphaned at once and re-parented to the init (PID 1). If the
        // init did not reap it, it would linger as a zombie that the probe counts in /proc.
        let run = testkit::stage(
            "procfs",
            [
                "sh",
                "-c",
                "(sleep 0.1 &); sleep 0.5; exec /usr/local/bin/probe",
            ],
        );
        run.expect_code(0);
        let report: Value = serde_json::from_str(&run.stdout).expect("probe JSON");
        assert_eq!(report["proc_pids"], 2, "a zombie was left: {report}");
    });
}

#[test]
fn signals_to_the_runtime_reach_the_command() {
    container_test(|| {
        // base2's parent only waits (std's Command): forwarding arrives with clone, in uts.
        for stage in ["uts", "pid", "procfs"] {
            let mut child = Command::new(testkit::bin(stage))
                .args(["run", "sleep", "30"])
                .env(testkit::ROOTFS_ENV, testkit::rootfs())
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the stage");
            // Give the container a moment to start its command.
            sleep(Duration::from_millis(400));
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let status = child.wait().expect("wait for the stage");
            assert_eq!(status.signal(), None, "{stage}: the runtime itself died");
            assert_eq!(
                status.code(),
                Some(128 + 15),
                "{stage}: sleep did not get SIGTERM"
            );
        }
    });
}

/// The claim base2 must not make: a killed runtime leaves its command running there, while from
/// `pid` on the kernel kills the whole PID namespace when its init dies with the runtime.
#[test]
fn a_killed_runtime_leaves_its_command_in_base2_not_in_pid() {
    container_test(|| {
        for (stage, survives) in [("base2", true), ("uts", false), ("pid", false)] {
            let marker = format!("/tmp/desde-cero-survivor-{stage}-{}", std::process::id());
            let _ = std::fs::remove_file(&marker);
            // SIGKILL cannot be forwarded: the runtime dies at once, and only the kernel can
            // take its container down with it.
            let script = format!("sleep 0.8; touch {marker}");
            let mut child = Command::new(testkit::bin(stage))
                .args(["run", "-q", "sh", "-c", &script])
                .env(testkit::ROOTFS_ENV, testkit::rootfs())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the stage");
            sleep(Duration::from_millis(300));
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let status = child.wait().expect("wait for the stage");
            assert_eq!(
                status.signal(),
                Some(9),
                "{stage}: the runtime was not killed"
            );
            sleep(Duration::from_millis(1000));
            let lived = std::path::Path::new(&marker).exists();
            let _ = std::fs::remove_file(&marker);
            assert_eq!(
                lived, survives,
                "{stage}: did the command outlive its runtime?"
            );
        }
    });
}

/// Whether script(1) is here to give a stage a real terminal (a loud skip, or a CI failure).
fn script_is_installed() -> bool {
    testkit::require(
        Command::new("script").arg("--version").output().is_ok(),
        "script(1) from util-linux is not installed",
    )
}

/// `<stage> run sh` on a real terminal made by script(1); what is written to the child's stdin
/// is typed on that terminal.
fn shell_on_a_terminal(name: &str) -> std::process::Child {
    Command::new("script")
        .args(["-q", "-e", "-c"])
        .arg(format!("{} run sh", testkit::bin(name).display()))
        .arg("/dev/null")
        .env(testkit::ROOTFS_ENV, testkit::rootfs())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start script")
}

#[test]
fn ctrl_c_on_the_terminal_stops_the_command_not_the_container() {
    container_test(|| {
        if !script_is_installed() {
            return;
        }
        for name in ["pid", "procfs", "full"] {
            let mut child = shell_on_a_terminal(name);
            let started = std::time::Instant::now();
            {
                use std::io::Write;
                let mut tty = child.stdin.take().unwrap();
                tty.write_all(b"sleep 20\n").unwrap();
                // ^C, typed on the terminal: the line discipline sends SIGINT to the terminal's
                // foreground process group, which must be the command's, inside the container.
                // Twice, in case a slow machine (the VM) had not started `sleep` yet.
                for _ in 0..2 {
                    sleep(Duration::from_millis(2000));
                    tty.write_all(b"\x03").unwrap();
                }
                sleep(Duration::from_millis(300));
                tty.write_all(b"echo still-$(hostname)\nexit 4\n").unwrap();
            }
            let out = child.wait_with_output().expect("wait for script");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("still-container"), "{name}: {stdout}");
            assert_eq!(out.status.code(), Some(4), "{name}: {stdout}");
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{name}: Ctrl-C did not stop `sleep 20`"
            );
        }
    });
}

#[test]
fn an_interactive_shell_works_on_a_terminal() {
    container_test(|| {
        // script(1) gives the stage a real terminal; the shell reads its commands from it.
        if !script_is_installed() {
            return;
        }
        // `pid` runs the host's sh (dash here), which gives the terminal back to the group that
        // had it when it exits: that group must exist in the container's PID namespace.
        // `procfs` and `full` run busybox's sh from the root filesystem.
        for name in ["pid", "procfs", "full"] {
            let mut child = shell_on_a_terminal(name);
            {
                use std::io::Write;
                let mut stdin = child.stdin.take().unwrap();
                stdin
                    .write_all(b"echo on-a-tty-$(hostname)\nexit 4\n")
                    .unwrap();
            }
            let out = child.wait_with_output().expect("wait for script");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("on-a-tty-container"), "{name}: {stdout}");
            assert_eq!(out.status.code(), Some(4), "{name}: {stdout}");
        }
    });
}

#[test]
fn xtask_rejects_unknown_stages_and_flags_with_exit_2() {
    let xtask = testkit::xtask_bin();
    let run = testkit::run_bin(&xtask, ["run", "pidnamespce"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("did you mean `pidnamespace`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("base1, base2, uts"), "{}", run.stderr);
    let run = testkit::run_bin(&xtask, ["run"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error: missing STAGE (see `cargo xtask run --help`)\n"
    );
    let run = testkit::run_bin(&xtask, ["run", "pid", "--bogus"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "error: unknown flag `--bogus`; a stage's own options go after `--` (see `cargo xtask \
         run --help`)\n"
    );
    // The Spanish talk's folder for the mount namespace is a stage, not a typo of `net`.
    let run = testkit::run_bin(&xtask, ["run", "mntnamespce"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("did you mean `mntnamespace`"),
        "{}",
        run.stderr
    );
}

#[test]
fn xtask_run_builds_and_runs_a_stage_by_alias_and_number() {
    container_test(|| {
        let xtask = testkit::xtask_bin();
        testkit::run_bin(&xtask, ["run", "pidnamespace", "--", "sh", "-c", "exit 3"])
            .expect_code(3);
        let run = testkit::run_bin(&xtask, ["run", "3", "hostname"]);
        run.expect_code(0);
        assert_eq!(run.stdout.trim(), "container");
        // A warm build says nothing: no cargo line, no first-build note.
        for line in ["Finished", "Compiling", "first build"] {
            assert!(!run.stderr.contains(line), "{line}: {}", run.stderr);
        }
    });
}

#[test]
fn xtask_list_prints_the_catalog_in_order() {
    for lang in ["en", "es"] {
        list_in(lang);
    }
}

/// `list --lang LANG`: a row per stage, its summary in that language from the catalog.
fn list_in(lang: &str) {
    let run = testkit::run_bin(&testkit::xtask_bin(), ["list", "--lang", lang]);
    run.expect_code(0);
    assert!(
        run.stdout.lines().all(|l| l.chars().count() <= 80),
        "{}",
        run.stdout
    );
    // A stage's row starts with its number; the lines under it (its summary's end, `also:`
    // and its aliases) are indented.
    let rows: Vec<&str> = run
        .stdout
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("    "))
        .collect();
    assert_eq!(rows.len(), catalog::STAGES.len(), "{}", run.stdout);
    let flat = run.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for (row, stage) in rows.iter().zip(catalog::STAGES) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[0], stage.number().to_string());
        assert_eq!(cols[1], stage.name);
        let (summary, also) = match lang {
            "es" => (stage.summary_es, "alias:"),
            _ => (stage.summary, "also:"),
        };
        assert!(flat.contains(summary), "{summary}");
        if !stage.aliases.is_empty() {
            let also = format!("{also} {}", stage.aliases.join(", "));
            assert!(flat.contains(&also), "{also}");
        }
    }
}

/// No stage takes `user`'s lesson away: from `pivot` on the user namespace is opt-in, and with
/// `--rootless` every later stage runs in one, its root an ordinary id outside, its limits and
/// its hardening kept. Without it, root inside is host root (the catalog's `drops`).
#[test]
fn every_stage_after_user_keeps_its_namespace_with_rootless() {
    container_test(|| {
        let user = catalog::find("user").unwrap().number();
        for stage in catalog::STAGES.iter().filter(|s| s.number() > user) {
            let name = stage.name;
            let probe = testkit::probe_path(name).into_os_string();
            let run = testkit::stage(name, ["--rootless".into(), probe]);
            run.expect_code(0);
            let report: Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("{name} --rootless: {e}: {}", run.stderr));
            assert_ne!(
                report["ns"]["user"].as_u64(),
                Some(host_ns("user")),
                "{name}"
            );
            assert_eq!(report["uid"], 0, "{name}: {report}");
            let map = report["uid_map"].as_str().unwrap_or_default();
            assert!(
                map.split_whitespace().eq(["0", "700000000", "1"]),
                "{name}: {map}"
            );
            // In its group: the limits read inside (full mounts its cgroup), or the group's
            // name in /proc/self/cgroup (the stages before full mount none).
            let lines = report["cgroup"]["lines"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let grouped = lines
                .iter()
                .any(|l| l.as_str().unwrap_or("").contains("desde-cero-"));
            let limited = report["limits"]["pids_max"] == "20";
            assert!(grouped || limited, "{name}: no group: {report}");
            let rootful = testkit::probe(name);
            assert_eq!(
                rootful["ns"]["user"].as_u64(),
                Some(host_ns("user")),
                "{name}"
            );
        }
    });
}

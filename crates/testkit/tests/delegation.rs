//! Rootless with limits (issue 28): `full --rootless`, run by an ordinary user (uid 65534), gets
//! its cgroup limits from a cgroup v2 group delegated to that user, as podman does, and leaves
//! the group as it found it; where nothing is delegated it says it runs without limits, why and
//! how to get them, and refuses a limit given explicitly.
//!
//! The delegated group is made here the way systemd makes one for `Delegate=yes` (its
//! `user@.service`, or `systemd-run --user --scope -p Delegate=yes`), without systemd: root makes
//! a parent group that enables controllers for its children (systemd's `user-<uid>.slice`), makes
//! the user's group in it, and chowns to the user that folder and its `cgroup.procs`,
//! `cgroup.subtree_control` and `cgroup.threads` (the kernel's cgroup-v2.rst, "Delegation"); then
//! it starts the runtime in that group as the user: the child of `fork` writes its pid into the
//! group's `cgroup.procs` while still root, then drops to uid and gid 65534 and executes it.
//!
//! Needs pure cgroup v2: it runs in the VM (vm/README.md). On the hybrid host, the line.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use testkit::{container_test, Run, Scratch};

/// The ordinary user the runtime runs as: nobody.
const USER: u32 = 65534;

/// busybox awk doubling a string 27 times: about 270 MiB at its peak (as in cgroups.rs), far
/// past a 48 MiB limit. Bounded, so harmless where no limit applies.
const MEMORY_HOG: &str = r#"BEGIN { s = "x"; for (i = 0; i < 27; i++) s = s s; print length(s) }"#;

/// A pipeline of 40 sleeps: 40 forks at once, twice the default pids limit. Bounded.
fn pipeline_of_sleeps() -> String {
    vec!["sleep 2"; 40].join(" | ")
}

/// Whether this machine has cgroup v2 alone at /sys/fs/cgroup.
fn host_is_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// A group delegated to [`USER`], as systemd makes one: `parent` (root's) enables `controllers`
/// for its children; `dir`, in it, is the user's. Both are removed when dropped.
struct Delegated {
    parent: PathBuf,
    dir: PathBuf,
}

impl Delegated {
    fn new(controllers: &str) -> Delegated {
        let parent = PathBuf::from(format!(
            "/sys/fs/cgroup/desde-cero-test-user-{}",
            std::process::id()
        ));
        fs::create_dir(&parent).expect("mkdir the parent group");
        let delegated = Delegated {
            dir: parent.join("user"),
            parent,
        };
        fs::write(delegated.parent.join("cgroup.subtree_control"), controllers)
            .expect("enable the controllers for the user's group");
        fs::create_dir(&delegated.dir).expect("mkdir the user's group");
        // systemd's Delegate=: the folder and the three files whose writes make groups, move
        // processes and enable controllers are given to the user.
        for path in [
            "",
            "cgroup.procs",
            "cgroup.subtree_control",
            "cgroup.threads",
        ] {
            let path = delegated.dir.join(path);
            std::os::unix::fs::chown(&path, Some(USER), Some(USER))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
        delegated
    }

    /// The user's group as the runtime left it: no group under it, no controller enabled, no
    /// process (the runtime has been waited for; its exit may take a moment to show).
    fn assert_as_found(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !read(&self.dir, "cgroup.procs").is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            read(&self.dir, "cgroup.procs"),
            "",
            "a process left in the group"
        );
        assert_eq!(
            read(&self.dir, "cgroup.subtree_control"),
            "",
            "controllers left on"
        );
        let groups: Vec<_> = fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name())
            .collect();
        assert!(groups.is_empty(), "groups left: {groups:?}");
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        for dir in [&self.dir, &self.parent] {
            let deadline = Instant::now() + Duration::from_secs(10);
            while fs::remove_dir(dir).is_err() && Instant::now() < deadline {
                let _ = fs::write(dir.join("cgroup.kill"), "1");
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

/// What uid 65534 needs: a copy of the root filesystem of its own (rootfs/ is closed to other
/// users) and copies of the stages it runs (the build folder may be too).
struct Setup {
    scratch: Scratch,
}

impl Setup {
    fn new() -> Setup {
        let scratch = Scratch::new("delegation");
        fs::set_permissions(&scratch.path, fs::Permissions::from_mode(0o755)).expect("chmod");
        let rootfs = scratch.path.join("rootfs");
        let copied = Command::new("cp")
            .arg("-a")
            .arg(testkit::rootfs())
            .arg(&rootfs)
            .status();
        assert!(
            copied.is_ok_and(|s| s.success()),
            "cp -a of the root filesystem"
        );
        let owner = format!("{USER}:{USER}");
        let chowned = Command::new("chown")
            .args(["-R", &owner])
            .arg(&rootfs)
            .status();
        assert!(chowned.is_ok_and(|s| s.success()), "chown -R of the copy");
        for stage in ["full", "user"] {
            let copy = scratch.path.join(stage);
            fs::copy(testkit::bin(stage), &copy).expect("copy the stage");
            fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        Setup { scratch }
    }

    /// Runs `stage run <args>` as uid and gid 65534, started in `group` if one is given.
    fn run(&self, group: Option<&Path>, stage: &str, args: &[&str]) -> Run {
        let mut cmd = Command::new(self.scratch.path.join(stage));
        cmd.arg("run")
            .args(args)
            .env(testkit::ROOTFS_ENV, self.scratch.path.join("rootfs"));
        let procs = group.map(|g| {
            CString::new(g.join("cgroup.procs").into_os_string().into_encoded_bytes()).unwrap()
        });
        // SAFETY: between fork and exec only open(2), write(2), close(2), setgroups(2),
        // setgid(2) and setuid(2), which are async-signal-safe; the path was made before.
        unsafe {
            cmd.pre_exec(move || {
                let fail = || Err(std::io::Error::last_os_error());
                if let Some(procs) = &procs {
                    // Into the delegated group while still root: the user could not move
                    // itself there from root's group.
                    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                    if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return fail();
                    }
                    libc::close(fd);
                }
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(USER) != 0
                    || libc::setuid(USER) != 0
                {
                    return fail();
                }
                Ok(())
            })
        };
        let run = testkit::run_cmd(&mut cmd);
        // The transcript, for `--nocapture`.
        eprintln!(
            "$ {stage} run {}\n{}{}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
        run
    }
}

/// The lines of stderr that are the stage's own warnings and errors (`full: ...`).
fn said<'a>(run: &'a Run, stage: &str) -> Vec<&'a str> {
    let prefix = format!("{stage}: ");
    run.stderr
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .collect()
}

#[test]
fn a_delegated_group_gives_rootless_full_its_limits_and_is_left_as_found() {
    container_test(|| {
        if !host_is_v2() {
            eprintln!("a v1 or hybrid host delegates nothing: the cgroup v2 VM runs this test");
            return;
        }
        let setup = Setup::new();
        let group = Delegated::new("+cpu +memory +pids");
        let dir = Some(group.dir.as_path());
        // The limits asked for, read inside, through the container's own cgroup2 mount.
        let script = "cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max \
                      /sys/fs/cgroup/memory.max; id -u";
        let limits = ["--pids", "12", "--memory", "48M", "--cpus", "0.5"];
        let run = setup.run(
            dir,
            "full",
            &[&limits[..], &["--rootless", "sh", "-c", script]].concat(),
        );
        run.expect_code(0);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(
            lines,
            ["50000 100000", "12", "50331648", "0"],
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("delegated to us"), "{}", run.stderr);
        assert!(said(&run, "full").is_empty(), "{}", run.stderr);
        group.assert_as_found();
        // The cpu limit holds: a busy loop at a tenth of a CPU is throttled (cpu.stat counts
        // the periods it was stopped in), not only written.
        let script = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; \
                      grep nr_throttled /sys/fs/cgroup/cpu.stat";
        let run = setup.run(
            dir,
            "full",
            &["--rootless", "--cpus", "0.1", "sh", "-c", script],
        );
        run.expect_code(0);
        let throttled = run
            .stdout
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse::<u64>().ok());
        assert!(
            throttled.is_some_and(|n| n > 0),
            "{}{}",
            run.stdout,
            run.stderr
        );
        group.assert_as_found();
        // A fork bomb stops at the pids limit: forks fail with EAGAIN.
        let script = format!("({}); echo pipeline exit $?", pipeline_of_sleeps());
        let run = setup.run(dir, "full", &["--rootless", "sh", "-c", &script]);
        run.expect_code(0);
        assert!(
            run.stderr
                .contains("can't fork: Resource temporarily unavailable"),
            "{}",
            run.stderr
        );
        assert!(run.stdout.contains("pipeline exit 2"), "{}", run.stdout);
        group.assert_as_found();
        // A memory hog is killed by the OOM killer: 137, and said so.
        let run = setup.run(
            dir,
            "full",
            &["--rootless", "--memory", "48M", "awk", MEMORY_HOG],
        );
        run.expect_code(137);
        assert!(
            run.stderr.contains("killed by the OOM killer"),
            "{}",
            run.stderr
        );
        group.assert_as_found();
        // The user stage, the first rootless one, gets its limits the same way.
        let run = setup.run(dir, "user", &["cat", "/proc/self/cgroup"]);
        run.expect_code(0);
        assert!(run.stderr.contains("parent: pids.max 20"), "{}", run.stderr);
        assert!(run.stdout.contains("/user/desde-cero-"), "{}", run.stdout);
        group.assert_as_found();
    });
}

#[test]
fn a_controller_not_delegated_is_named_and_its_limit_refused_if_asked() {
    container_test(|| {
        if !host_is_v2() {
            eprintln!("a v1 or hybrid host delegates nothing: the cgroup v2 VM runs this test");
            return;
        }
        let setup = Setup::new();
        // systemd's user@.service delegates memory and pids unless configured to add cpu.
        let group = Delegated::new("+memory +pids");
        let dir = Some(group.dir.as_path());
        let run = setup.run(
            dir,
            "full",
            &["--rootless", "cat", "/sys/fs/cgroup/pids.max"],
        );
        run.expect_code(0);
        assert_eq!(run.stdout.trim(), "20");
        let warnings = said(&run, "full");
        assert_eq!(warnings.len(), 1, "{}", run.stderr);
        assert!(
            warnings[0].contains("WITHOUT a cpu limit"),
            "{}",
            run.stderr
        );
        assert!(
            warnings[0].contains("cpu controller is not delegated"),
            "{}",
            run.stderr
        );
        group.assert_as_found();
        let run = setup.run(dir, "full", &["--rootless", "--cpus", "0.5", "true"]);
        run.expect_code(125);
        let errors = said(&run, "full");
        assert_eq!(errors.len(), 1, "{}", run.stderr);
        assert!(
            errors[0].contains("a cpu limit was asked for"),
            "{}",
            run.stderr
        );
        group.assert_as_found();
    });
}

#[test]
fn a_delegated_group_with_other_processes_is_not_used() {
    container_test(|| {
        if !host_is_v2() {
            eprintln!("a v1 or hybrid host delegates nothing: the cgroup v2 VM runs this test");
            return;
        }
        let setup = Setup::new();
        let group = Delegated::new("+cpu +memory +pids");
        // Another process in the group (the shell that ran the runtime, say): v2 would not let
        // the group pass controllers on, and moving it is not the runtime's to do.
        let mut other = Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("start sleep");
        fs::write(group.dir.join("cgroup.procs"), other.id().to_string()).expect("move sleep");
        let run = setup.run(Some(&group.dir), "full", &["--rootless", "true"]);
        run.expect_code(0);
        let warnings = said(&run, "full");
        assert_eq!(warnings.len(), 1, "{}", run.stderr);
        assert!(
            warnings[0].contains("WITHOUT cgroup limits"),
            "{}",
            run.stderr
        );
        assert!(
            warnings[0].contains("has other processes"),
            "{}",
            run.stderr
        );
        let run = setup.run(
            Some(&group.dir),
            "full",
            &["--rootless", "--pids", "5", "true"],
        );
        run.expect_code(125);
        other.kill().expect("kill sleep");
        other.wait().expect("reap sleep");
        group.assert_as_found();
    });
}

#[test]
fn without_delegation_it_runs_without_limits_and_refuses_an_explicit_one() {
    container_test(|| {
        let setup = Setup::new();
        // Started in our own group, root's: nothing is delegated to uid 65534.
        let run = setup.run(None, "full", &["--rootless", "echo", "ran"]);
        run.expect_code(0);
        assert_eq!(run.stdout.trim(), "ran");
        let warnings = said(&run, "full");
        assert_eq!(warnings.len(), 1, "{}", run.stderr);
        assert!(
            warnings[0].contains("running WITHOUT cgroup limits"),
            "{}",
            run.stderr
        );
        // Why, and how to get them: on v2 systemd's command; on v1 and hybrid hosts, root.
        let how = match host_is_v2() {
            true => "systemd-run --user --scope -p Delegate=yes",
            false => "v1 (or hybrid)",
        };
        assert!(warnings[0].contains(how), "{}", run.stderr);
        assert!(warnings[0].contains("or run it as root"), "{}", run.stderr);
        assert!(!run.stderr.contains("parent: cgroup"), "{}", run.stderr);
        // The same for the user stage, with nothing asked for explicitly.
        let run = setup.run(None, "user", &["true"]);
        run.expect_code(0);
        let warnings = said(&run, "user");
        assert_eq!(warnings.len(), 1, "{}", run.stderr);
        assert!(warnings[0].contains(how), "{}", run.stderr);
        // A limit given explicitly and not applied: refused, in one line, before anything runs.
        for limit in [
            &["--memory", "64M"][..],
            &["--pids", "5"],
            &["--cpus", "0.5"],
        ] {
            let args = [limit, &["--rootless", "echo", "ran"]].concat();
            let run = setup.run(None, "full", &args);
            run.expect_code(125);
            assert_eq!(run.stdout, "");
            let errors = said(&run, "full");
            assert_eq!(errors.len(), 1, "{}", run.stderr);
            assert!(
                errors[0].contains("limit was asked for and cannot be applied"),
                "{}",
                run.stderr
            );
            assert!(errors[0].contains(how), "{}", run.stderr);
        }
    });
}

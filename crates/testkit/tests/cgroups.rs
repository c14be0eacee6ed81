//! The `cgroups` stage (7) against the real kernel, on whatever cgroup layout this machine has:
//! v1 or hybrid on the CI host, pure cgroup v2 inside the VM that `cargo xtask test` boots (the
//! same file runs in both places; see vm/README.md).
//!
//! What it shows: the stage says which layout it found; each container gets a group of its own
//! (two at once get two), with the pids, memory and cpu limits set, and the container's processes
//! in it but not the runtime; a fork bomb stops at the pids limit with EAGAIN while the host keeps
//! working; a memory hog is killed by the OOM killer and reported with exit 137; a CPU burner is
//! throttled; a missing controller is a clear error unless `DESDE_CERO_PARTIAL_CGROUPS=1`; and
//! every group is gone afterwards, however the container ended. `procfs`, the stage before, has
//! none of it.
//!
//! The group's folders are found on the host by their name, `desde-cero-<runtime's pid>` (the
//! teaching lines show them shortened to fit 80 columns), and looked at while the container runs.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use testkit::container_test;
use testkit::Run;

/// The limits the slide promises.
const PIDS_MAX: &str = "20";
const MEMORY_MAX: &str = "104857600";
const OOM_LINE: &str = "cgroups: killed by the OOM killer: memory limit 100 MiB";

/// A pipeline of 40 sleeps: the shell forks 40 processes at once, twice the pids limit. Bounded
/// on purpose: where no limit applies it just sleeps and ends.
fn pipeline_of_sleeps(seconds: u32) -> String {
    vec![format!("sleep {seconds}"); 40].join(" | ")
}

/// busybox awk doubling a string 27 times: a 128 MiB string, about 270 MiB charged to its
/// group at the peak (measured), well past the limit. Bounded, so harmless where none applies.
const MEMORY_HOG: &str = r#"BEGIN { s = "x"; for (i = 0; i < 27; i++) s = s s; print length(s) }"#;

/// Whether this machine has cgroup v2 at /sys/fs/cgroup (else v1 or hybrid).
fn host_is_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The folders of the group of the runtime with this pid, in every cgroup hierarchy of the host,
/// as they are now.
fn groups_of(pid: u32) -> Vec<PathBuf> {
    let name = format!("desde-cero-{pid}");
    hoststate::cgroups(&hoststate::mounts())
        .into_iter()
        .filter(|dir| dir.file_name().is_some_and(|n| *n == *name))
        .collect()
}

/// The folders of the group the stage made, found on the host while it runs.
fn groups(stderr: &str) -> Vec<PathBuf> {
    groups_of(runtime_pid(stderr))
}

/// The folder of the stage's group that has `file` (e.g. `pids.max`).
fn group_with(stderr: &str, file: &str) -> PathBuf {
    groups(stderr)
        .into_iter()
        .find(|dir| dir.join(file).exists())
        .unwrap_or_else(|| panic!("no group with {file}:\n{stderr}"))
}

/// The runtime's pid, from its first teaching line.
fn runtime_pid(stderr: &str) -> u32 {
    stderr
        .lines()
        .find_map(|line| line.strip_prefix("parent: pid "))
        .and_then(|rest| rest.split([',', ':']).next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no `parent: pid` line:\n{stderr}"))
}

/// A cgroup file's content, trimmed.
fn read(dir: &Path, file: &str) -> String {
    let path = dir.join(file);
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The number after `key ` in a flat-keyed cgroup file (cpu.stat, pids.events, memory.events).
fn stat(dir: &Path, file: &str, key: &str) -> u64 {
    let text = read(dir, file);
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(' '))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {}/{file}:\n{text}", dir.display()))
}

/// Asserts the stage made a group and removed it, and said so.
#[track_caller]
fn assert_removed(run: &Run) {
    let name = format!("desde-cero-{}", runtime_pid(&run.stderr));
    for step in ["mkdir", "rmdir"] {
        let said = run.stderr.lines().any(|line| {
            line.starts_with(&format!("parent: {step} "))
                || line.starts_with("parent: cgroup ") && line.contains(&format!(": {step} "))
        });
        assert!(said, "no `{step}`:\n{}", run.stderr);
    }
    assert!(
        run.stderr.contains(&name),
        "{name} is not named:\n{}",
        run.stderr
    );
    let left = groups_of(runtime_pid(&run.stderr));
    assert!(left.is_empty(), "still there: {left:?}");
}

/// Asserts the stage made no group at all.
#[track_caller]
fn assert_no_group(run: &Run) {
    assert!(!run.stderr.contains("mkdir"), "{}", run.stderr);
}

/// The processes in a group once the container's command has started (the init and the
/// command: two), or what is there after 30 s.
fn procs_once_started(dir: &Path) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let procs: BTreeSet<String> = read(dir, "cgroup.procs")
            .lines()
            .map(str::to_string)
            .collect();
        if procs.len() >= 2 || Instant::now() > deadline {
            return procs;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A stage running in the background, its stderr read line by line as it comes.
struct Background {
    child: Child,
    lines: Receiver<String>,
    stderr: String,
    stdout: thread::JoinHandle<String>,
}

impl Background {
    fn start(stage: &str, args: &[&str]) -> Background {
        Background::spawn(Command::new(testkit::bin(stage)).arg("run").args(args))
    }

    fn spawn(cmd: &mut Command) -> Background {
        if std::env::var_os(testkit::ROOTFS_ENV).is_none() {
            cmd.env(testkit::ROOTFS_ENV, testkit::rootfs());
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the stage");
        let (tx, lines) = channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        });
        Background {
            child,
            lines,
            stderr: String::new(),
            stdout,
        }
    }

    /// Waits until a stderr line contains `needle`; all of stderr so far is in `self.stderr`.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.stderr.push_str(&line);
            self.stderr.push('\n');
            if line.contains(needle) {
                return;
            }
        }
        let _ = self.child.kill();
        panic!("the stage never said {needle:?}:\n{}", self.stderr);
    }

    /// Sends `signal` to the runtime (the stage's parent process).
    fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own unreaped child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Waits (60 s at most) for the stage to end; its whole output.
    fn finish(mut self) -> Run {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the stage") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
            }
            thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at EOF, once every process holding the pipe has ended.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.stderr.push_str(&line);
            self.stderr.push('\n');
        }
        Run {
            code: status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.stderr,
        }
    }
}

#[test]
fn names_the_layout_and_makes_one_group_of_its_own() {
    container_test(|| {
        let run = testkit::stage("cgroups", ["cat", "/proc/self/cgroup"]);
        run.expect_code(0);
        let pid = runtime_pid(&run.stderr);
        let name = format!("desde-cero-{pid}");
        // The container's processes are in the group: the lines of /proc/self/cgroup name it,
        // the one line of v2, or each limited controller's on v1 (no other).
        let inside = |line: &&str| line.ends_with(&format!("/{name}"));
        let limits = if host_is_v2() {
            assert!(
                run.stderr.contains("parent: cgroup v2: mkdir "),
                "{}",
                run.stderr
            );
            let line = run.stdout.lines().find(|l| l.starts_with("0::")).unwrap();
            assert!(inside(&line), "{line}");
            format!("parent: pids.max {PIDS_MAX}, memory.max {MEMORY_MAX}, cpu.max 50000 100000")
        } else {
            assert!(run.stderr.contains("parent: cgroup v1"), "{}", run.stderr);
            if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
                assert!(run.stderr.contains("v1 (hybrid)"), "{}", run.stderr);
            }
            let shown = format!("{name} in pids, memory, cpu");
            assert!(
                run.stderr.contains(&format!(": mkdir {shown}")),
                "{}",
                run.stderr
            );
            for line in run.stdout.lines() {
                let controllers = line.split(':').nth(1).unwrap_or("");
                let limited = controllers
                    .split(',')
                    .any(|c| ["pids", "memory", "cpu"].contains(&c));
                assert_eq!(inside(&line), limited, "{line}");
            }
            format!(
                "parent: pids.max {PIDS_MAX}, memory.limit_in_bytes {MEMORY_MAX}, \
                 cpu.cfs_quota_us 50000"
            )
        };
        assert!(
            run.stderr.lines().any(|l| l == limits),
            "no `{limits}`:\n{}",
            run.stderr
        );
        // The child joins as it is born: v2 clones it into the group, v1's child moves itself
        // (0 is the writer) through `tasks`, before its first step.
        let join = match host_is_v2() {
            true => "parent: clone3 with CLONE_INTO_CGROUP: the child is born in it",
            false => "parent: the child's first step: echo 0 > tasks, in each tree",
        };
        let lines: Vec<&str> = run.stderr.lines().collect();
        let at = lines.iter().position(|l| *l == join);
        let at = at.unwrap_or_else(|| panic!("no `{join}`:\n{}", run.stderr));
        let first_step = lines.iter().position(|l| l.starts_with("child: "));
        assert!(Some(at) < first_step, "{}", run.stderr);
        // A projected terminal: few lines, each within 80 columns.
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(
            lines.len() <= 9,
            "{} teaching lines:\n{}",
            lines.len(),
            run.stderr
        );
        for line in lines {
            assert!(line.chars().count() <= 80, "wider than 80 columns: {line}");
        }
        assert_removed(&run);
        // Quiet, only the command's output: not one teaching line.
        let run = testkit::stage("cgroups", ["-q", "true"]);
        run.expect_code(0);
        assert_eq!(run.stderr, "", "quiet");
    });
}

#[test]
fn limits_hold_while_the_container_runs_and_the_group_goes_when_it_is_killed() {
    container_test(|| {
        let mut bg = Background::start("cgroups", &["sleep", "60"]);
        bg.wait_for("child: mounted a fresh /proc");
        let stderr = bg.stderr.clone();
        let pids = group_with(&stderr, "pids.max");
        assert_eq!(read(&pids, "pids.max"), PIDS_MAX);
        if host_is_v2() {
            assert_eq!(read(&pids, "memory.max"), MEMORY_MAX);
            assert_eq!(read(&pids, "cpu.max"), "50000 100000");
        } else {
            let memory = group_with(&stderr, "memory.limit_in_bytes");
            assert_eq!(read(&memory, "memory.limit_in_bytes"), MEMORY_MAX);
            let cpu = group_with(&stderr, "cpu.cfs_quota_us");
            assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
            assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
        }
        // The container's init and the command are in every group; the runtime is not.
        let runtime = bg.child.id().to_string();
        for dir in groups(&stderr) {
            let procs = procs_once_started(&dir);
            assert_eq!(procs.len(), 2, "{}: {procs:?}", dir.display());
            assert!(!procs.contains(&runtime), "{}: {procs:?}", dir.display());
        }
        // SIGTERM reaches the command through the runtime and the init: it dies of it.
        bg.signal(libc::SIGTERM);
        let run = bg.finish();
        run.expect_code(128 + libc::SIGTERM);
        assert_removed(&run);
    });
}

#[test]
fn two_containers_at_once_get_two_groups() {
    container_test(|| {
        let mut first = Background::start("cgroups", &["sleep", "60"]);
        let mut second = Background::start("cgroups", &["sleep", "60"]);
        first.wait_for("child: mounted a fresh /proc");
        second.wait_for("child: mounted a fresh /proc");
        let (a, b) = (groups(&first.stderr), groups(&second.stderr));
        assert!(!a.is_empty() && !b.is_empty());
        for dir in a.iter().chain(&b) {
            // Each group holds its init and its command (so the init passes SIGTERM on).
            assert_eq!(procs_once_started(dir).len(), 2, "{}", dir.display());
        }
        let shared: Vec<_> = a.iter().filter(|dir| b.contains(dir)).collect();
        assert!(shared.is_empty(), "both use {shared:?}");
        first.signal(libc::SIGTERM);
        second.signal(libc::SIGTERM);
        assert_removed(&first.finish());
        assert_removed(&second.finish());
    });
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit_and_the_host_keeps_working() {
    container_test(|| {
        // The 40 forks fail from the 20th process on; the subshell running them gives up, and the
        // sleeps it started hold the group full for a few seconds more.
        let script = format!(
            "({}); echo pipeline exit $?; sleep 3",
            pipeline_of_sleeps(5)
        );
        let mut bg = Background::start("cgroups", &["sh", "-c", &script]);
        bg.wait_for("can't fork");
        let pids = group_with(&bg.stderr, "pids.max");
        let now: u64 = read(&pids, "pids.current").parse().unwrap();
        assert!(now <= 20, "pids.current {now}");
        // The kernel counts the forks it refused at the limit.
        assert!(stat(&pids, "pids.events", "max") > 0);
        // Meanwhile the host starts processes as usual.
        let started = Instant::now();
        let usage = Command::new(testkit::bin("cgroups"))
            .output()
            .expect("the host can still start a process");
        assert_eq!(usage.status.code(), Some(125));
        assert!(started.elapsed() < Duration::from_secs(10));
        let run = bg.finish();
        // The transcript, for `--nocapture` (the closing note shows it).
        eprintln!("{}{}", run.stdout, run.stderr);
        run.expect_code(0);
        assert!(
            run.stderr
                .contains("can't fork: Resource temporarily unavailable"),
            "fork should fail with EAGAIN:\n{}",
            run.stderr
        );
        assert!(run.stdout.contains("pipeline exit 2"), "{}", run.stdout);
        assert_removed(&run);
    });
}

#[test]
fn without_the_cgroup_step_the_same_forks_all_succeed() {
    container_test(|| {
        let run = testkit::stage("procfs", ["sh", "-c", &pipeline_of_sleeps(1)]);
        run.expect_code(0);
        assert!(!run.stderr.contains("can't fork"), "{}", run.stderr);
        assert_no_group(&run);
    });
}

#[test]
fn a_memory_hog_is_killed_by_the_oom_killer_and_reported() {
    container_test(|| {
        let run = testkit::stage("cgroups", ["awk", MEMORY_HOG]);
        // The transcript, for `--nocapture` (the closing note shows it).
        eprintln!("{}{}", run.stdout, run.stderr);
        run.expect_code(137);
        assert!(run.stderr.contains(OOM_LINE), "{}", run.stderr);
        assert_removed(&run);
        // When a shell inside survives the kill, the command did not die of it: no such line.
        let script = format!("awk '{MEMORY_HOG}'; echo awk exit $?");
        let run = testkit::stage("cgroups", ["sh", "-c", &script]);
        run.expect_code(0);
        assert!(run.stdout.contains("awk exit 137"), "{}", run.stdout);
        assert!(!run.stderr.contains(OOM_LINE), "{}", run.stderr);
        // A SIGKILL that is not the OOM killer's is not reported as one.
        let run = testkit::stage("cgroups", ["sh", "-c", "kill -9 $$"]);
        run.expect_code(137);
        assert!(!run.stderr.contains("OOM"), "{}", run.stderr);
        assert_removed(&run);
    });
}

#[test]
fn without_the_cgroup_step_the_memory_hog_finishes() {
    container_test(|| {
        let run = testkit::stage("procfs", ["awk", MEMORY_HOG]);
        run.expect_code(0);
        assert_eq!(run.stdout.trim(), (1u64 << 27).to_string());
    });
}

#[test]
fn a_cpu_burner_is_throttled_to_half_a_cpu() {
    container_test(|| {
        let started = Instant::now();
        let mut bg = Background::start("cgroups", &["sh", "-c", "while :; do :; done"]);
        bg.wait_for("child: mounted a fresh /proc");
        let file = if host_is_v2() {
            "cpu.max"
        } else {
            "cpu.cfs_quota_us"
        };
        let cpu = group_with(&bg.stderr, file);
        // Throttled as soon as it gets the CPU for more than 50 ms of a 100 ms period: at once
        // on an idle machine, later on a busy one (other work leaves it less than that). It
        // burns for 2 s at least, so that its CPU time says something.
        let deadline = Instant::now() + Duration::from_secs(60);
        while (stat(&cpu, "cpu.stat", "nr_throttled") == 0 && Instant::now() < deadline)
            || started.elapsed() < Duration::from_secs(2)
        {
            thread::sleep(Duration::from_millis(100));
        }
        let throttled = stat(&cpu, "cpu.stat", "nr_throttled");
        let periods = stat(&cpu, "cpu.stat", "nr_periods");
        // And never more than half a CPU, however long it ran: the CPU time of the group's
        // processes (utime + stime, /proc/PID/stat), against the time since the group was made.
        let ticks: u64 = read(&cpu, "cgroup.procs")
            .lines()
            .map(|pid| {
                let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let after = stat.rsplit_once(')').map_or("", |(_, after)| after);
                let fields: Vec<&str> = after.split_whitespace().collect();
                // After the command's name: state is field 3, utime 14 and stime 15.
                let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
                field(14).unwrap_or(0) + field(15).unwrap_or(0)
            })
            .sum();
        let elapsed = started.elapsed().as_secs_f64();
        // SAFETY: sysconf has no preconditions.
        let used = ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        bg.signal(libc::SIGTERM);
        let run = bg.finish();
        run.expect_code(128 + libc::SIGTERM);
        assert_removed(&run);
        eprintln!(
            "{used:.2} s of CPU in {elapsed:.2} s, throttled in {throttled} of {periods} periods"
        );
        assert!(throttled > 0, "never throttled in {periods} periods");
        // Slack: one period's quota, and the clock tick's granularity.
        assert!(
            used <= elapsed * 0.5 + 0.1,
            "{used:.2} s of CPU in {elapsed:.2} s is more than half a CPU"
        );
    });
}

#[test]
fn every_way_out_removes_the_group() {
    container_test(|| {
        for (args, code) in [
            (&["true"][..], 0),
            (&["sh", "-c", "exit 3"][..], 3),
            (&["sh", "-c", "kill -9 $$"][..], 137),
            (&["no-such-command-here"][..], 127),
            (&["/etc/passwd"][..], 126),
        ] {
            let run = testkit::stage("cgroups", args);
            run.expect_code(code);
            assert_removed(&run);
        }
        // A usage error stops before any group is made.
        let run = testkit::run_bin(&testkit::bin("cgroups"), ["run"]);
        run.expect_code(125);
        assert_no_group(&run);
    });
}

#[test]
fn the_probe_inside_is_in_the_group_and_in_procfs_it_is_not() {
    container_test(|| {
        let report = testkit::probe("cgroups");
        let lines: Vec<&str> = report["cgroup"]["lines"]
            .as_array()
            .expect("cgroup lines")
            .iter()
            .filter_map(|l| l.as_str())
            .collect();
        let inside = lines.iter().filter(|l| l.contains("/desde-cero-")).count();
        assert_eq!(inside, if host_is_v2() { 1 } else { 3 }, "{lines:?}");
        // The probe finds the limits only where it can see a cgroup filesystem (this stage mounts
        // none inside); what it finds must be the slide's.
        let limits = &report["limits"];
        for (key, value) in [
            ("pids_max", PIDS_MAX),
            ("memory_max", MEMORY_MAX),
            ("cpu_max", "50000 100000"),
        ] {
            if !limits[key].is_null() {
                assert_eq!(limits[key], value, "{report}");
            }
        }
        let report = testkit::probe("procfs");
        let text = report["cgroup"].to_string();
        assert!(!text.contains("desde-cero"), "{text}");
    });
}

/// Starts the cgroups stage as `cgroups run true` with `env`, after taking away its pids
/// controller: on v1 by unmounting the pids tree in a mount namespace of its own; on v2 by
/// running it in a group two levels down from one that does not enable pids for its children.
fn without_pids(env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(testkit::bin("cgroups"));
    cmd.args(["run", "true"]).envs(env.iter().copied());
    if host_is_v2() {
        let top = Path::new("/sys/fs/cgroup/desde-cero-test-nopids");
        let leaf = top.join("base").join("runtime");
        fs::create_dir_all(&leaf).expect("make the test's groups");
        fs::write(top.join("cgroup.subtree_control"), "+memory +cpu").expect("enable memory, cpu");
        let procs = std::ffi::CString::new(
            leaf.join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        // SAFETY: between fork and exec only open(2), write(2) and close(2), which are
        // async-signal-safe; the path was prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                Ok(())
            })
        };
        let run = testkit::run_cmd(&mut cmd);
        for dir in [leaf.as_path(), &top.join("base"), top] {
            // The runtime has been waited for; its group may take a moment to empty.
            let deadline = Instant::now() + Duration::from_secs(10);
            while let Err(e) = fs::remove_dir(dir) {
                assert!(Instant::now() < deadline, "rmdir {}: {e}", dir.display());
                thread::sleep(Duration::from_millis(20));
            }
        }
        run
    } else {
        // SAFETY: between fork and exec only unshare(2), mount(2) and umount2(2), which are
        // plain system calls; the strings are literals.
        unsafe {
            cmd.pre_exec(|| {
                let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                    && libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) == 0
                    && libc::umount2(c"/sys/fs/cgroup/pids".as_ptr(), libc::MNT_DETACH) == 0;
                match ok {
                    true => Ok(()),
                    false => Err(std::io::Error::last_os_error()),
                }
            })
        };
        testkit::run_cmd(&mut cmd)
    }
}

#[test]
fn a_missing_controller_is_an_error_unless_partial_limits_are_allowed() {
    container_test(|| {
        let run = without_pids(&[]);
        run.expect_code(125);
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("cgroups:"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", run.stderr);
        assert!(errors[0].contains("no pids controller"), "{}", errors[0]);
        assert!(
            errors[0].contains("DESDE_CERO_PARTIAL_CGROUPS=1"),
            "{}",
            errors[0]
        );
        assert!(
            !run.stderr.contains("child:"),
            "the container ran:\n{}",
            run.stderr
        );
        let left = groups(&run.stderr);
        assert!(left.is_empty(), "still there: {left:?}");

        let run = without_pids(&[("DESDE_CERO_PARTIAL_CGROUPS", "1")]);
        run.expect_code(0);
        assert!(
            run.stderr.contains("running WITHOUT a pids limit"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("pids.max"), "{}", run.stderr);
        assert!(run.stderr.contains("cpu."), "{}", run.stderr);
        assert_removed(&run);
    });
}

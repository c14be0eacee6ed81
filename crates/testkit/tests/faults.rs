//! Faults the stages survive, on the real kernel: hundreds of containers in a row and twenty at
//! once leave nothing behind; a runtime killed with SIGKILL takes its container with it (the
//! init's `PR_SET_PDEATHSIG`, then the PID namespace's teardown) and `cargo xtask clean` removes
//! what remained; a fork bomb and a memory hog inside `full` hit its limits while the host keeps
//! working; and hostile command lines (empty, huge, non-UTF-8, `--` in odd places, random bytes)
//! never make a stage or the xtask panic: each ends with a documented exit code.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use catalog::Property;
use testkit::container_test;
use testkit::{LeakCheck, Run};

/// The stage the load tests run: the whole container.
const STAGE: &str = "full";

/// Starts `<stage> run <args...>` in the background, its output discarded.
fn start(stage: &str, args: &[&str]) -> Child {
    Command::new(testkit::bin(stage))
        .arg("run")
        .args(args)
        .env(testkit::ROOTFS_ENV, testkit::rootfs())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {stage}: {e}"))
}

/// Every process: pid, parent pid, command line (NULs as spaces).
fn processes() -> Vec<(i32, i32, String)> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            Some((pid, ppid, cmdline))
        })
        .collect()
}

/// The inode of process `pid`'s PID namespace.
fn pid_ns(pid: i32) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|m| m.ino())
}

/// The processes in PID namespace `ns`.
fn in_pid_ns(ns: u64) -> Vec<i32> {
    processes()
        .into_iter()
        .map(|p| p.0)
        .filter(|&pid| pid_ns(pid) == Some(ns))
        .collect()
}

/// Waits until the container's command runs: a shell (`sh -c ... <marker>`) in a PID namespace
/// other than ours, so the stage has finished setting the container up (the init's own command
/// line, `<stage> child ...`, holds the marker too, but the init is not ready yet). Returns the
/// shell's pid and its PID namespace.
fn wait_for_container(marker: &str, runtime: &mut Child) -> (i32, u64) {
    let ours = pid_ns(std::process::id() as i32).expect("our own pid namespace");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = processes().into_iter().find_map(|(pid, _, cmdline)| {
            let ns = pid_ns(pid)?;
            (cmdline.starts_with("sh -c ") && cmdline.contains(marker) && ns != ours)
                .then_some((pid, ns))
        });
        if let Some(found) = found {
            return found;
        }
        if let Ok(Some(status)) = runtime.try_wait() {
            panic!("the stage ended with {status} before its container ran");
        }
        assert!(Instant::now() < deadline, "the container never started");
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_hundred_in_a_row_and_twenty_at_once_leave_nothing() {
    container_test(|| {
        let started = Instant::now();
        for i in 0..200 {
            let run = testkit::stage(STAGE, ["true"]);
            assert_eq!(
                run.code, 0,
                "run {i} of 200 exited {}:\n{}",
                run.code, run.stderr
            );
        }
        eprintln!("200 sequential `{STAGE} run true`: {:?}", started.elapsed());
        let started = Instant::now();
        let runs: Vec<Run> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..20)
                .map(|_| scope.spawn(|| testkit::stage(STAGE, ["true"])))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, run) in runs.iter().enumerate() {
            assert_eq!(
                run.code, 0,
                "concurrent run {i} of 20 exited {}:\n{}",
                run.code, run.stderr
            );
        }
        eprintln!("20 concurrent `{STAGE} run true`: {:?}", started.elapsed());
    });
}

#[test]
fn a_runtime_killed_with_sigkill_takes_its_container_along() {
    container_test(|| {
        // Every stage with a PID namespace: from `pid` on, the kernel ends the whole container
        // when its init dies, and the init dies with the runtime (PR_SET_PDEATHSIG).
        let stages: Vec<&str> = catalog::STAGES
            .iter()
            .filter(|s| catalog::expected(s).contains(&Property::PidNs))
            .map(|s| s.name)
            .collect();
        assert!(stages.contains(&STAGE), "{STAGE} has no PID namespace?");
        for stage in stages {
            let marker = format!("desde-cero-fault-{stage}-{}", std::process::id());
            let script = "while :; do sleep 1; done";
            let mut runtime = start(stage, &["sh", "-c", script, &marker]);
            let (_, ns) = wait_for_container(&marker, &mut runtime);
            // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
            unsafe { libc::kill(runtime.id() as i32, libc::SIGKILL) };
            let status = runtime.wait().expect("reap the runtime");
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(libc::SIGKILL)
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let left: Vec<String> = processes()
                    .into_iter()
                    .filter(|(_, _, cmdline)| cmdline.contains(&marker))
                    .map(|(pid, _, cmdline)| format!("{pid}: {cmdline}"))
                    .collect();
                let in_ns = in_pid_ns(ns);
                if left.is_empty() && in_ns.is_empty() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{stage}: still running 5 s after the runtime was killed: {left:?}, \
                     pids in its namespace: {in_ns:?}"
                );
                sleep(Duration::from_millis(20));
            }
            // What the runtime would have removed on its way out (its cgroup, the overlay
            // folder) is removed by `cargo xtask clean`; the leak check then sees nothing.
            let clean = testkit::run_bin(&testkit::xtask_bin(), ["clean"]);
            assert_eq!(clean.code, 0, "{stage}: clean failed:\n{}", clean.stderr);
            let ours = format!("-{} ", runtime.id());
            assert!(
                !clean
                    .stdout
                    .lines()
                    .any(|l| l.contains("left alone") && l.contains(&ours)),
                "{stage}: clean thinks the killed container still runs:\n{}",
                clean.stdout
            );
            eprintln!("{stage}: {}", clean.stdout.trim());
        }
    });
}

#[test]
fn a_fork_bomb_in_full_stops_at_the_pids_limit_and_the_host_keeps_working() {
    container_test(|| {
        const LIMIT: usize = 20;
        // Each shell starts two more in the background and sleeps: exponential, like any fork
        // bomb, but bounded to 2^9 shells, so a missing limit could not take the host down.
        // It runs in a subshell, and the top shell waits for a sleep started before it: the
        // container lives 4 s whatever the refused forks do to the bomb's shells.
        let bomb = "b() { if [ $1 -gt 0 ]; then b $(($1-1)) & b $(($1-1)) & fi; sleep 3; }; b 8";
        let script = format!("sleep 4 & ({bomb}); wait");
        let mut runtime = Command::new(testkit::bin(STAGE))
            .args(["run", "--pids", &LIMIT.to_string(), "sh", "-c", &script])
            .arg("desde-cero-fork-bomb")
            .env(testkit::ROOTFS_ENV, testkit::rootfs())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the fork bomb");
        // Read stderr meanwhile: every refused fork adds a line, and a full pipe would block
        // the runtime.
        let mut stderr_pipe = runtime.stderr.take().expect("stderr is piped");
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr_pipe, &mut text);
            text
        });
        let (init, ns) = wait_for_container("desde-cero-fork-bomb", &mut runtime);
        let group = pids_group(init).expect("the container's pids group");
        let mut most = 0;
        let mut most_counted = 0;
        let mut slowest = Duration::ZERO;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            // The kernel's count for the group, and the processes seen in the namespace.
            if let Ok(now) = fs::read_to_string(group.join("pids.current")) {
                most = most.max(now.trim().parse().unwrap_or(0));
            }
            most_counted = most_counted.max(in_pid_ns(ns).len());
            // The host still starts a process at once.
            let started = Instant::now();
            let ok = Command::new("true").status().expect("the host can fork");
            assert!(ok.success());
            slowest = slowest.max(started.elapsed());
            sleep(Duration::from_millis(20));
        }
        // How many forks the kernel refused at the limit (`max N` in pids.events).
        let refused: u64 = fs::read_to_string(group.join("pids.events"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("max ")?.trim().parse().ok())
            .unwrap_or(0);
        let status = runtime.wait().expect("wait for the bomb");
        let stderr = stderr_reader.join().unwrap_or_default();
        eprintln!(
            "fork bomb: pids.current at most {most}, at most {most_counted} processes seen, \
             {refused} forks refused at the limit, host fork+exec at worst {slowest:?}, exit {:?}",
            status.code()
        );
        assert!(
            most <= LIMIT && most_counted <= LIMIT,
            "{most} ({most_counted} seen) processes in a container limited to {LIMIT}"
        );
        assert!(
            refused > 0,
            "the kernel refused no fork: did the bomb run?\n{stderr}"
        );
        assert!(
            stderr.contains("can't fork: Resource temporarily unavailable"),
            "forks should fail with EAGAIN:\n{stderr}"
        );
        assert!(
            slowest < Duration::from_secs(2),
            "the host took {slowest:?} to start `true`"
        );
        assert!(in_pid_ns(ns).is_empty(), "the bomb outlived its container");
    });
}

/// The pids cgroup folder of process `pid`, in the host's cgroup filesystem (v1 or v2).
fn pids_group(pid: i32) -> Option<std::path::PathBuf> {
    let lines = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mounts = hoststate::mounts();
    let mount_of = |v2: bool| {
        mounts.iter().find_map(|m| {
            let wanted = if v2 {
                m.fstype == "cgroup2"
            } else {
                m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == "pids")
            };
            wanted.then(|| m.mount_point.clone())
        })
    };
    for line in lines.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let dir = if controllers.split(',').any(|c| c == "pids") {
            mount_of(false)?.join(path.trim_start_matches('/'))
        } else if controllers.is_empty() {
            mount_of(true)?.join(path.trim_start_matches('/'))
        } else {
            continue;
        };
        if dir.join("pids.max").exists() {
            return Some(dir);
        }
    }
    None
}

#[test]
fn a_memory_hog_in_full_is_oom_killed_and_reported() {
    container_test(|| {
        // busybox awk doubling a string: 128 MiB, far past a 32 MiB limit.
        let hog = r#"BEGIN { s = "x"; for (i = 0; i < 27; i++) s = s s; print length(s) }"#;
        let run = testkit::stage(STAGE, ["--memory", "32M", "awk", hog]);
        assert_eq!(run.code, 137, "{}", run.stderr);
        assert!(
            run.stderr.contains("killed by the OOM killer"),
            "the stage should say the OOM killer did it:\n{}",
            run.stderr
        );
    });
}

/// A small deterministic pseudo-random generator (xorshift64*), so a failing case can be
/// reproduced: the seed is printed, and `DESDE_CERO_FUZZ_SEED` replays it.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("DESDE_CERO_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x00de_5de0_ce20_2611);
        eprintln!("fuzz seed {seed} (DESDE_CERO_FUZZ_SEED={seed} replays it)");
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// One hostile argument: empty, huge, non-UTF-8, random bytes (never NUL; starting with a
    /// control character, so it never names a real command such as `[`), or one of `junk`.
    fn hostile(&mut self, junk: &[&str]) -> OsString {
        match self.below(8) {
            0 => OsString::new(),
            1 => {
                let c = b"A-/\xff"[self.below(4)];
                OsString::from_vec(vec![c; 100_000])
            }
            2 => OsString::from_vec(vec![0xff, 0xfe, b'-', b'-', 0x80]),
            3 | 4 => {
                let len = self.below(40);
                let first = 1 + self.below(31) as u8;
                let rest = (0..len).map(|_| 1 + self.below(255) as u8);
                OsString::from_vec(std::iter::once(first).chain(rest).collect())
            }
            _ => self.pick(junk).into(),
        }
    }
}

/// Arguments that mean something to some stage, and values that are wrong for them.
const STAGE_WORDS: &[&str] = &[
    "run",
    "--",
    "-",
    "--help",
    "-h",
    "help",
    "--memory",
    "lots",
    "--memory=1G",
    "--pids",
    "-1",
    "0",
    "--cpus",
    "1e9",
    "--net",
    "veth",
    "none",
    "--hostname",
    "--rootless",
    "--no-overlay",
    "--rootfs",
    "/nonexistent",
    "=",
    "--=",
    "true",
    "false",
    "/etc/passwd",
    "/nonexistent/cmd",
];

/// What a stage may exit with when it runs `true`, `false`, a missing or a non-executable
/// command, or refuses its command line: documented in every slide's header.
const STAGE_CODES: &[i32] = &[0, 1, 125, 126, 127];

fn assert_no_panic(what: &str, args: &[OsString], run: &Run, allowed: &[i32]) {
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if s.len() > 40 {
                format!(
                    "{}…({} bytes)",
                    &s[..s.floor_char_boundary_compat(40)],
                    a.len()
                )
            } else {
                format!("{s:?}")
            }
        })
        .collect();
    assert!(
        !run.stderr.contains("panicked at") && run.code != 101,
        "{what} panicked on {shown:?}:\n{}",
        run.stderr
    );
    assert!(
        allowed.contains(&run.code),
        "{what} exited {} (documented: {allowed:?}) on {shown:?}:\n{}",
        run.code,
        run.stderr
    );
}

/// `str::floor_char_boundary` is not stable yet: the largest char boundary at or below `i`.
trait FloorBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorBoundary for str {
    fn floor_char_boundary_compat(&self, i: usize) -> usize {
        (0..=i.min(self.len()))
            .rev()
            .find(|&j| self.is_char_boundary(j))
            .unwrap_or(0)
    }
}

#[test]
fn hostile_command_lines_never_make_a_stage_panic() {
    container_test(|| {
        let mut rng = Rng::new();
        for stage in catalog::STAGES {
            let bin = testkit::bin(stage.name);
            for _ in 0..24 {
                let mut args: Vec<OsString> = Vec::new();
                // Most cases get past the verb, so the options and the command are reached.
                // Never `child`: that verb is the stage's own re-execution, not a command line
                // for people.
                if rng.below(10) < 7 {
                    args.push("run".into());
                }
                for _ in 0..rng.below(6) {
                    let arg = rng.hostile(STAGE_WORDS);
                    if args.is_empty() && arg == "child" {
                        continue;
                    }
                    args.push(arg);
                }
                let run = testkit::run_bin(&bin, &args);
                assert_no_panic(stage.name, &args, &run, STAGE_CODES);
            }
        }
    });
}

#[test]
fn hostile_command_lines_never_make_the_xtask_panic() {
    if !testkit::require_root() {
        return;
    }
    let _g = testkit::serial();
    let leaks = LeakCheck::start();
    let xtask = testkit::xtask_bin();
    let mut rng = Rng::new();
    // Only calls that end before any long work: a bogus stage or flag stops them at once.
    let junk_stage = |rng: &mut Rng| -> OsString {
        loop {
            let arg = rng.hostile(&["zz", "--", "-x", "nope", "--bogus", "pidd", "0", "12"]);
            if arg.to_str().map_or(true, |s| catalog::find(s).is_none()) {
                return arg;
            }
        }
    };
    for _ in 0..150 {
        let mut args: Vec<OsString> = Vec::new();
        match rng.below(9) {
            0 => {
                args.push("run".into());
                args.push(junk_stage(&mut rng));
            }
            1 => {
                args.push("list".into());
                args.push(rng.hostile(&["--", "x", "--json"]));
            }
            2 => {
                args.push("diff".into());
                args.push(junk_stage(&mut rng));
                if rng.below(2) == 0 {
                    args.push(junk_stage(&mut rng));
                }
            }
            3 => {
                // Never `test`, `rootfs`, `bench` or `present`: a stray valid call would start
                // long work (or this very test suite) instead of a quick refusal.
                args.push(rng.pick(&["doctor", "clean", "matrix"]).into());
                loop {
                    let flag = rng.hostile(&["--", "-", "--bogus", "x"]);
                    if flag != "--json" && flag != "--prebuilt" {
                        args.push(flag);
                        break;
                    }
                }
            }
            4 => args.push(rng.pick(&["help", "-h", "--help"]).into()),
            _ => {
                // An unknown command: anything that is none of the real ones.
                loop {
                    let arg = rng.hostile(&["--", "-", "", "runn", "lists", "--run"]);
                    let real = [
                        "run", "list", "rootfs", "test", "diff", "matrix", "doctor", "clean",
                        "present", "bench", "check", "help", "-h", "--help",
                    ];
                    if !real.iter().any(|r| arg == *r) {
                        args.push(arg);
                        break;
                    }
                }
                for _ in 0..rng.below(3) {
                    args.push(rng.hostile(&["--", "run", "pid"]));
                }
            }
        }
        let run = testkit::run_bin(&xtask, &args);
        assert_no_panic("xtask", &args, &run, &[0, 1, 2]);
    }
    // And no arguments at all: the usage, exit 2.
    let run = testkit::run_bin(&xtask, Vec::<OsString>::new());
    assert_no_panic("xtask", &[], &run, &[2]);
    leaks.assert_clean();
}

//! Measuring: the warm-up and the timed rounds (each round's order shuffled), one start of a
//! case timed from spawn to `wait4`, and the extra measurements: `cargo xtask run` against the
//! bare binary, `--profile`, the clean build time.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use catalog::Stage;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::cases::{Case, MountNs, Plan};
use crate::util;

/// Rounds run first and not timed: the first checks that each case works, the others (forked,
/// see [`Spawn`]) measure the peak RSS.
pub const WARM_UP: usize = 3;

/// How long one start of `true` may take before it is killed.
const TIME_LIMIT: Duration = Duration::from_secs(30);

/// One start of a case.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub round: usize,
    pub wall: Duration,
    pub max_rss_kib: i64,
    pub user: Duration,
    pub sys: Duration,
}

/// The warm-up rounds. The first checks each case and keeps its stderr for the error message:
/// a case that fails is taken out of the plan, a peer as skipped ("does not work here"), one of
/// ours returned as broken (case, why). The others measure the peak RSS.
pub fn warm_up(plan: &mut Plan, log: &Path) -> Result<Vec<(String, String)>> {
    let ns = plan.cgroup2_ns.as_ref();
    let mut broken: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < plan.cases.len() {
        let outcome = (|| -> Result<()> {
            let err = File::create(log)?;
            let (code, _) = run_once(&plan.cases[i], ns, Stdio::from(err), Spawn::Spawn)?;
            if code != 0 {
                let text = fs::read_to_string(log).unwrap_or_default();
                let last = text
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                bail!("exit {code}: {last}");
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => i += 1,
            Err(err) => {
                let case = plan.cases.remove(i);
                let reason = format!("{err:#}");
                if !case.is_peer() {
                    broken.push((case.name, reason));
                } else {
                    plan.skipped
                        .push((case.name, format!("does not work here: {reason}")));
                }
            }
        }
    }
    for _ in 1..WARM_UP {
        for case in plan.cases.iter_mut() {
            let (code, sample) = run_once(case, ns, Stdio::null(), Spawn::Fork)?;
            if code == 0 {
                case.max_rss_kib = case.max_rss_kib.max(sample.max_rss_kib);
            }
        }
    }
    Ok(broken)
}

/// The timed rounds: every case once per round, in a shuffled order; a sample per start that
/// exits 0, a failure (with the last line of its stderr) per one that does not.
pub fn rounds(plan: &mut Plan, runs: usize, log: &Path) -> Result<()> {
    let cases = &mut plan.cases;
    eprintln!("bench: {runs} rounds of {} cases, interleaved", cases.len());
    let mut order: Vec<usize> = (0..cases.len()).collect();
    let mut rng = Shuffle(0x9e37_79b9_7f4a_7c15);
    for round in 0..runs {
        // Each round in its own order (A B C, C A B, B C A, …): what one case leaves behind for
        // the next (the kernel's cgroup lock stays cheap for a moment after a cgroup move,
        // caches, …) must not always help the same case.
        rng.shuffle(&mut order);
        for &i in &order {
            let case = &mut cases[i];
            // stderr goes to a file (made before the clock starts), so that a failure says why.
            let err = File::create(log).context("cannot create the bench's log file")?;
            match run_once(
                case,
                plan.cgroup2_ns.as_ref(),
                Stdio::from(err),
                Spawn::Spawn,
            ) {
                Ok((0, mut sample)) => {
                    sample.round = round;
                    case.samples.push(sample);
                }
                Ok((code, _)) => case.failures.push(format!(
                    "round {}: exit {code}: {}",
                    round + 1,
                    last_line(log)
                )),
                Err(err) => case.failures.push(format!("round {}: {err:#}", round + 1)),
            }
        }
        if (round + 1) % 10 == 0 && round + 1 < runs {
            eprintln!("bench: {}/{runs} rounds", round + 1);
        }
    }
    Ok(())
}

/// A fixed-seed xorshift generator: each round's order of the cases. Our own: a reproducible
/// order is 15 lines, not worth a dependency in the presenter's first build.
struct Shuffle(u64);

impl Shuffle {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Fisher–Yates.
    fn shuffle(&mut self, items: &mut [usize]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// The last line of a log that is not empty.
fn last_line(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let line = text.lines().rev().find(|l| !l.trim().is_empty());
    line.unwrap_or("(nothing on stderr)").trim().to_string()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// How a case is started.
#[derive(Clone, Copy, PartialEq)]
enum Spawn {
    /// posix_spawn (vfork-like, the bench's memory shared until exec): the least overhead, for
    /// the timed rounds. Its ru_maxrss is useless: exec records the old (the bench's) memory
    /// size as the new process's peak.
    Spawn,
    /// fork, then exec: the child's peak starts from only what fork copied (well below the
    /// `exec` case's peak), so its ru_maxrss is the program's own. For the peak RSS rounds.
    Fork,
}

/// Starts one case with stdin and stdout closed to /dev/null, waits for it, and returns its
/// exit code (128+N on signal N) with the wall time and rusage.
fn run_once(case: &Case, ns: Option<&MountNs>, stderr: Stdio, how: Spawn) -> Result<(i32, Sample)> {
    let mut cmd = Command::new(&case.program);
    cmd.args(&case.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    if how == Spawn::Fork {
        use std::os::unix::process::CommandExt;
        // SAFETY: the hook does nothing; it only makes std fork instead of posix_spawn.
        unsafe { cmd.pre_exec(|| Ok(())) };
    }
    let ns = ns.filter(|_| case.in_cgroup2_ns);
    if let Some(ns) = ns {
        ns.enter()?;
    }
    let started = Instant::now();
    let spawned = cmd.spawn();
    if let Some(ns) = ns {
        ns.leave()?;
    }
    let child = spawned.with_context(|| format!("cannot start {}", case.program.display()))?;
    let (status, usage) = wait_with_limit(Pid::from_raw(child.id() as i32), TIME_LIMIT)?;
    let wall = started.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        -1
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok((
        code,
        Sample {
            round: 0,
            wall,
            max_rss_kib: usage.ru_maxrss,
            user: tv(usage.ru_utime),
            sys: tv(usage.ru_stime),
        },
    ))
}

/// Waits for a child with `wait4` (for its rusage), killing it after `limit`. The limit is
/// watched with a pidfd and poll(2), so the bench stays one thread (setns into a mount namespace
/// needs that).
fn wait_with_limit(pid: Pid, limit: Duration) -> Result<(i32, libc::rusage)> {
    // nix has neither pidfd_open nor wait4: those two stay raw.
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let mut killed = false;
    if fd >= 0 {
        // SAFETY: the descriptor was just returned to us and is owned from here on.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            match poll(
                &mut [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)],
                timeout,
            ) {
                Ok(0) => {
                    // The child has not been reaped, so the pid is still ours.
                    let _ = kill(pid, Signal::SIGKILL);
                    killed = true;
                    break;
                }
                Ok(_) => break,
                Err(Errno::EINTR) => {}
                Err(err) => return Err(err).context("poll on the child's pidfd"),
            }
        }
    }
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to our status and rusage.
        let r = unsafe { libc::wait4(pid.as_raw(), &mut status, 0, &mut usage) };
        if r == pid.as_raw() {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
    if killed {
        bail!("still running after {} s: killed", limit.as_secs());
    }
    Ok((status, usage))
}

/// `cargo xtask run base1 -- true` against the bare `base1 run true` it builds, `n` times each,
/// interleaved, after one warm-up of each: medians in ms.
pub fn time_xtask_run(true_path: &Path, n: usize) -> Result<(f64, f64)> {
    eprintln!("bench: timing `cargo xtask run base1 -- true` against the bare binary");
    let through_cargo = || {
        let mut cmd = util::cargo();
        cmd.args(["xtask", "run", "base1", "--"]).arg(true_path);
        cmd
    };
    let bare = || {
        let mut cmd = Command::new(util::stage_binary(util::stage("base1")?, false));
        cmd.arg("run").arg(true_path);
        Ok::<_, anyhow::Error>(cmd)
    };
    let time = |mut cmd: Command| -> Result<f64> {
        let started = Instant::now();
        let status = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
        if !status.success() {
            bail!("{cmd:?} failed with {status}");
        }
        Ok(ms(started.elapsed()))
    };
    // The warm-up builds base1 in debug if it is not built yet.
    util::run_checked(through_cargo().stdout(Stdio::null()).stderr(Stdio::null()))
        .context("`cargo xtask run base1 -- true` failed")?;
    let (mut cargo_ms, mut bare_ms) = (Vec::new(), Vec::new());
    for _ in 0..n {
        cargo_ms.push(time(through_cargo())?);
        bare_ms.push(time(bare()?)?);
    }
    Ok((median(&cargo_ms), median(&bare_ms)))
}

/// Where a stage's time goes, step by step: its teaching lines (stderr) mark the end of each
/// step, so the time from one line to the next, read as they arrive, is that step's cost. The
/// median over `n` runs of each gap, then the gap from the last line to the stage's exit (the
/// command, the container's end, the clean-up after its last line).
pub fn profile(stage: &Stage, rootfs_dir: &Path, n: usize) -> Result<String> {
    use std::io::{BufRead, BufReader};
    let binary = util::build_stage(stage, true)?;
    let target = if stage.needs_rootfs {
        PathBuf::from("/bin/true")
    } else {
        rootfs_dir.join("bin/true")
    };
    // Lines of different runs differ only in numbers (pids): those become `N`.
    let key = |line: &str| -> String {
        let mut out = String::new();
        for c in line.chars() {
            if c.is_ascii_digit() {
                if !out.ends_with('N') {
                    out.push('N');
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    let mut steps: Vec<(String, Vec<f64>)> = Vec::new();
    let mut totals = Vec::new();
    for run in 0..n + 1 {
        let started = Instant::now();
        let mut child = Command::new(&binary)
            .arg("run")
            .arg(&target)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut last = 0.0;
        let mut seen = Vec::new();
        for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
            let now = ms(started.elapsed());
            seen.push((key(&line?), now - last));
            last = now;
        }
        let status = child.wait()?;
        let end = ms(started.elapsed());
        if !status.success() {
            bail!("{} run true failed with {status}", stage.name);
        }
        seen.push((
            "(exit: the command, the container's end, the clean-up)".into(),
            end - last,
        ));
        // The first run warms up; a run whose lines differ (another path taken) is not mixed in.
        if run == 0 {
            steps = seen.into_iter().map(|(k, _)| (k, Vec::new())).collect();
        } else if seen.len() == steps.len() && seen.iter().zip(&steps).all(|(a, b)| a.0 == b.0) {
            for ((_, gap), (_, gaps)) in seen.into_iter().zip(steps.iter_mut()) {
                gaps.push(gap);
            }
            totals.push(end);
        }
    }
    let mut out = format!(
        "\nwhere {} spends its time ({} runs; median time since the previous line of its stderr):\n",
        stage.name,
        totals.len()
    );
    for (line, gaps) in &steps {
        let mut text: String = line.chars().take(96).collect();
        if text.len() < line.len() {
            text.push('…');
        }
        let _ = writeln!(out, "  {:>7.2} ms  {text}", median(gaps));
    }
    let _ = writeln!(out, "  {:>7.2} ms  total (median)", median(&totals));
    Ok(out)
}

/// Clean builds of the workspace's binaries, debug and release, in a temporary target folder:
/// seconds each.
pub fn time_clean_build() -> Result<(f64, f64)> {
    let dir = super::Scratch::named("build")?;
    let mut secs = [0.0; 2];
    for (i, release) in [false, true].into_iter().enumerate() {
        eprintln!(
            "bench: clean build of the workspace ({}) in {}",
            if release { "release" } else { "debug" },
            dir.path.display()
        );
        let mut cmd = util::cargo();
        cmd.args(["build", "--quiet", "--workspace", "--bins"])
            .env("CARGO_TARGET_DIR", &dir.path);
        if release {
            cmd.arg("--release");
        }
        let started = Instant::now();
        util::run_checked(&mut cmd)?;
        secs[i] = started.elapsed().as_secs_f64();
    }
    Ok((secs[0], secs[1]))
}

pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_round_has_every_case_once() {
        let mut rng = Shuffle(1);
        let mut order: Vec<usize> = (0..16).collect();
        let mut firsts = std::collections::BTreeSet::new();
        for _ in 0..50 {
            rng.shuffle(&mut order);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..16).collect::<Vec<_>>());
            firsts.insert(order[0]);
        }
        assert!(firsts.len() > 5, "the order changes: {firsts:?}");
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}

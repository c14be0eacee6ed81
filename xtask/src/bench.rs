//! `cargo xtask bench [--runs N] [--stages a,b,...] [--json FILE] [--install-peers]
//! [--build-time]`: every stage against the tools people use instead, side by side.
//!
//! Each case starts `/bin/true` of the same root filesystem and waits for it:
//!
//! - `exec`: plain exec of `true`, the baseline (no container at all);
//! - every stage, built in release (`<stage> run true`);
//! - the peers that are installed: util-linux `unshare` (pid, uts, ipc, net and mount namespaces,
//!   the root filesystem as its root, a fresh /proc), `bwrap --unshare-all`, and `crun` and `runc`
//!   running an OCI bundle made here (a minimal config.json: `true`, the same five namespaces, a
//!   fresh /proc, a tmpfs /dev, no terminal). A peer that is not installed is listed as skipped
//!   with the Debian package that provides it; `--install-peers` installs those with apt.
//!
//! crun refuses hybrid cgroup hosts (v1 controllers plus a cgroup2 tree at
//! `/sys/fs/cgroup/unified`). There the bench makes one private mount namespace with the cgroup2
//! tree mounted at `/sys/fs/cgroup`, keeps it open, and starts crun inside it (setns before the
//! spawn, back right after), so crun is timed like every other case.
//!
//! The cases run interleaved, one of each per round, each round in a shuffled order (A B C,
//! C A B, …), after three warm-up rounds, so drift (frequency, caches, other load) and what one
//! case leaves behind for the next hit them alike. Per case: median, min and max wall time from
//! just before the spawn to `wait4` returning; the ratio to `unshare`, taken round by round and
//! then the median; mean user and system CPU time from `wait4`'s rusage (charged by the tick,
//! hence a mean), including the children the process waited for.
//!
//! Peak RSS is ru_maxrss from `wait4` in the two forked warm-up rounds (see [`Spawn`] for why
//! not the timed ones). It is a maximum, not a sum: that of the process started (the stage, the
//! runtime) or of a child it waited for (the container's init, `runc init`), whichever is
//! larger. The `exec` row is the floor: `true` itself.
//!
//! Also reported: the cost of each step (a stage's median minus the previous stage's), how much
//! `cargo xtask run` adds on a warm build against the bare binary, each stage's binary size, and
//! with `--build-time` the clean build time of the workspace (in a temporary target folder).
//! `--profile STAGE` shows where one stage spends its time, from its teaching lines.
//!
//! Stages that need root are skipped, loudly, when the bench does not run as root. Timings are
//! only read, never asserted: `cargo xtask bench --runs 3` is a smoke test.

use std::ffi::{CString, OsString};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use catalog::Stage;
use serde_json::{json, Value};

use crate::util;
use crate::{cli, rootfs};

pub const CLI: cli::Command = cli::Command {
    name: "bench",
    about: "time every stage against unshare, bwrap, crun and runc",
    args: &[
        cli::option("runs", "N", "rounds to measure (default: 50)"),
        cli::option(
            "stages",
            "A,B",
            "only these stages (names, aliases or numbers)",
        ),
        cli::option("json", "FILE", "also write the results as JSON to FILE"),
        cli::flag(
            "install-peers",
            "install the missing peers (unshare, bwrap, crun, runc) with apt",
        ),
        cli::flag("build-time", "also time a clean build of the workspace"),
        cli::option(
            "profile",
            "STAGE",
            "where one stage spends its time, from its teaching lines",
        ),
    ],
    rest: None,
    notes: "Release builds start /bin/true from the same root filesystem, in shuffled rounds; \
            the median is reported. Stages that need root are skipped when not run as root.",
};

/// Rounds measured when `--runs` is not given.
const DEFAULT_RUNS: usize = 50;

/// Rounds run first and not timed: the first checks that each case works, the others (forked,
/// see [`Spawn`]) measure the peak RSS.
const WARM_UP: usize = 3;

/// How long one start of `true` may take before it is killed.
const TIME_LIMIT: Duration = Duration::from_secs(30);

/// The case every ratio is taken against.
const REFERENCE: &str = "unshare";

/// A tool people use instead of this project's stages.
struct Peer {
    name: &'static str,
    /// The executable looked for on PATH (and in the sbin folders).
    program: &'static str,
    /// The Debian package that provides it.
    package: &'static str,
    what: &'static str,
}

const PEERS: [Peer; 4] = [
    Peer {
        name: "unshare",
        program: "unshare",
        package: "util-linux",
        what: "util-linux unshare: pid+uts+ipc+net+mount, --root, --mount-proc",
    },
    Peer {
        name: "bwrap",
        program: "bwrap",
        package: "bubblewrap",
        what: "bwrap --unshare-all, rootfs bound at /, --proc, --dev",
    },
    Peer {
        name: "crun",
        program: "crun",
        package: "crun",
        what: "crun run: OCI bundle, pid+uts+ipc+net+mount",
    },
    Peer {
        name: "runc",
        program: "runc",
        package: "runc",
        what: "runc run: OCI bundle, pid+uts+ipc+net+mount",
    },
];

#[derive(Debug, PartialEq)]
struct Options {
    runs: usize,
    stages: Vec<&'static Stage>,
    json: Option<PathBuf>,
    install_peers: bool,
    build_time: bool,
    profile: Option<&'static Stage>,
}

fn parse(args: Vec<OsString>) -> Result<Options> {
    let args = CLI.parse(args)?;
    let mut opts = Options {
        runs: DEFAULT_RUNS,
        stages: catalog::STAGES.iter().collect(),
        json: args.value("json").map(PathBuf::from),
        install_peers: args.flag("install-peers"),
        build_time: args.flag("build-time"),
        profile: None,
    };
    if let Some(text) = args.text("runs")? {
        opts.runs = match text.parse::<usize>() {
            Ok(n) if (1..=100_000).contains(&n) => n,
            _ => {
                return Err(args.error(format!(
                    "--runs wants a whole number from 1 to 100000, not {text:?}"
                )))
            }
        };
    }
    if let Some(text) = args.text("stages")? {
        let mut stages: Vec<&'static Stage> = Vec::new();
        for key in text.split(',').filter(|k| !k.is_empty()) {
            let stage = args.stage(std::ffi::OsStr::new(key.trim()))?;
            if !stages.iter().any(|s| s.name == stage.name) {
                stages.push(stage);
            }
        }
        // Talk order, whatever order they were given in: the step costs follow it.
        stages.sort_by_key(|s| s.number);
        opts.stages = stages;
    }
    if let Some(key) = args.value("profile") {
        opts.profile = Some(args.stage(key)?);
    }
    Ok(opts)
}

/// One thing timed: a program and its arguments.
struct Case {
    name: String,
    what: String,
    program: PathBuf,
    args: Vec<OsString>,
    /// A stage's number, for the step costs.
    stage: Option<&'static Stage>,
    /// Started inside the bench's private mount namespace with a cgroup2 layout (crun on a
    /// hybrid host).
    in_cgroup2_ns: bool,
    /// Size of the executable (for peers: without their shared libraries).
    binary_bytes: Option<u64>,
    /// Peak RSS, from the forked warm-up rounds.
    max_rss_kib: i64,
    samples: Vec<Sample>,
    failures: Vec<String>,
}

/// One start of a case.
#[derive(Clone, Copy, Debug)]
struct Sample {
    round: usize,
    wall: Duration,
    max_rss_kib: i64,
    user: Duration,
    sys: Duration,
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let opts = parse(args)?;
    let root = util::is_root();
    if opts.install_peers {
        install_peers(root)?;
    }
    let rootfs_dir = rootfs::ensure()?;
    let rootfs_dir = rootfs_dir
        .canonicalize()
        .with_context(|| format!("cannot find the root filesystem {}", rootfs_dir.display()))?;
    let true_in_rootfs = rootfs_dir.join("bin/true");
    if !true_in_rootfs.exists() {
        bail!(
            "{} has no /bin/true: make it again with `cargo xtask rootfs --force`",
            rootfs_dir.display()
        );
    }
    if !root {
        let line = "bench: NOT ROOT: the stages that need root and the peers unshare, crun and \
                    runc are SKIPPED; run `sudo -E cargo xtask bench` for the whole table";
        let stars = "*".repeat(80);
        eprintln!("{stars}\n{line}\n{stars}");
    }

    let scratch = Scratch::new()?;
    let mut cases: Vec<Case> = Vec::new();
    let mut skipped: Vec<(String, String)> = Vec::new();

    cases.push(Case::new(
        "exec",
        "plain exec of true (baseline)",
        true_in_rootfs.clone(),
        Vec::new(),
    ));

    for stage in &opts.stages {
        if stage.needs_root && !root {
            skipped.push((
                stage.name.into(),
                "needs root (SKIPPED: run as root)".into(),
            ));
            continue;
        }
        eprintln!("bench: building {} (release)", stage.name);
        let binary = util::build_stage(stage, true)?;
        // Stages that change root find `true` in the root filesystem; the others run on the
        // host's / and are given the very same file by its host path.
        let target: OsString = if stage.needs_rootfs {
            "/bin/true".into()
        } else {
            true_in_rootfs.clone().into()
        };
        let mut case = Case::new(
            stage.name,
            &format!("stage {}: {}", stage.number, stage.summary),
            binary,
            vec!["run".into(), target],
        );
        case.stage = Some(stage);
        cases.push(case);
    }

    let bundle = scratch.path.join("bundle");
    fs::create_dir_all(&bundle)?;
    fs::write(bundle.join("config.json"), oci_config(&rootfs_dir))
        .context("cannot write the OCI bundle's config.json")?;
    let mut cgroup2_ns: Option<MountNs> = None;
    for peer in &PEERS {
        let Some(program) = find_program(peer.program) else {
            skipped.push((
                peer.name.into(),
                format!(
                    "not installed (apt-get install {}, or `cargo xtask bench --install-peers`)",
                    peer.package
                ),
            ));
            continue;
        };
        if peer.name != "bwrap" && !root {
            skipped.push((peer.name.into(), "needs root (SKIPPED: run as root)".into()));
            continue;
        }
        let r = rootfs_dir.as_os_str();
        let id = format!("desde-cero-bench-{}", std::process::id());
        let state = scratch.path.join(format!("{}-state", peer.name));
        let args: Vec<OsString> = match peer.name {
            "unshare" => {
                let mut root_arg = OsString::from("--root=");
                root_arg.push(r);
                vec![
                    "--pid".into(),
                    "--uts".into(),
                    "--ipc".into(),
                    "--net".into(),
                    "--mount".into(),
                    "--fork".into(),
                    root_arg,
                    "--mount-proc".into(),
                    "/bin/true".into(),
                ]
            }
            "bwrap" => vec![
                "--unshare-all".into(),
                "--bind".into(),
                r.into(),
                "/".into(),
                "--proc".into(),
                "/proc".into(),
                "--dev".into(),
                "/dev".into(),
                "/bin/true".into(),
            ],
            _ => vec![
                "--root".into(),
                state.into(),
                "run".into(),
                "--bundle".into(),
                bundle.clone().into(),
                id.into(),
            ],
        };
        let mut case = Case::new(peer.name, peer.what, program, args);
        if peer.name == "crun" && cgroup_layout() == Layout::Hybrid {
            if cgroup2_ns.is_none() {
                match MountNs::with_cgroup2() {
                    Ok(ns) => cgroup2_ns = Some(ns),
                    Err(err) => {
                        skipped.push((
                            peer.name.into(),
                            format!(
                                "refuses this hybrid cgroup host, and no private mount \
                                 namespace with cgroup2 at /sys/fs/cgroup could be made: {err:#}"
                            ),
                        ));
                        continue;
                    }
                }
            }
            case.in_cgroup2_ns = true;
            case.what
                .push_str(" (hybrid host: in a private mount ns, cgroup2 at /sys/fs/cgroup)");
        }
        cases.push(case);
    }

    // Warm-up: the first round checks each case and keeps its stderr for the error message.
    let mut broken: Vec<(String, String)> = Vec::new();
    let log = scratch.path.join("stderr.log");
    let mut i = 0;
    while i < cases.len() {
        let outcome = (|| -> Result<()> {
            let err = File::create(&log)?;
            let (code, _) = run_once(
                &cases[i],
                cgroup2_ns.as_ref(),
                Stdio::from(err),
                Spawn::Spawn,
            )?;
            if code != 0 {
                let text = fs::read_to_string(&log).unwrap_or_default();
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
                let case = cases.remove(i);
                let reason = format!("{err:#}");
                if case.stage.is_some() || case.name == "exec" {
                    broken.push((case.name, reason));
                } else {
                    skipped.push((case.name, format!("does not work here: {reason}")));
                }
            }
        }
    }
    for _ in 1..WARM_UP {
        for case in cases.iter_mut() {
            let (code, sample) = run_once(case, cgroup2_ns.as_ref(), Stdio::null(), Spawn::Fork)?;
            if code == 0 {
                case.max_rss_kib = case.max_rss_kib.max(sample.max_rss_kib);
            }
        }
    }

    eprintln!(
        "bench: {} rounds of {} cases, interleaved",
        opts.runs,
        cases.len()
    );
    let mut order: Vec<usize> = (0..cases.len()).collect();
    let mut rng = Shuffle(0x9e37_79b9_7f4a_7c15);
    for round in 0..opts.runs {
        // Each round in its own order (A B C, C A B, B C A, …): what one case leaves behind for
        // the next (the kernel's cgroup lock stays cheap for a moment after a cgroup move,
        // caches, …) must not always help the same case.
        rng.shuffle(&mut order);
        for &i in &order {
            let case = &mut cases[i];
            // stderr goes to a file (made before the clock starts), so that a failure says why.
            let err = File::create(&log).context("cannot create the bench's log file")?;
            match run_once(case, cgroup2_ns.as_ref(), Stdio::from(err), Spawn::Spawn) {
                Ok((0, mut sample)) => {
                    sample.round = round;
                    case.samples.push(sample);
                }
                Ok((code, _)) => case.failures.push(format!(
                    "round {}: exit {code}: {}",
                    round + 1,
                    last_line(&log)
                )),
                Err(err) => case.failures.push(format!("round {}: {err:#}", round + 1)),
            }
        }
        if (round + 1) % 10 == 0 && round + 1 < opts.runs {
            eprintln!("bench: {}/{} rounds", round + 1, opts.runs);
        }
    }
    drop(cgroup2_ns);

    let xtask_run = if opts.stages.iter().any(|s| s.name == "base1") {
        Some(time_xtask_run(&true_in_rootfs, opts.runs.clamp(3, 10))?)
    } else {
        None
    };
    let build_time = if opts.build_time {
        Some(time_clean_build()?)
    } else {
        None
    };

    let report = Report {
        runs: opts.runs,
        rootfs: rootfs_dir,
        root,
        cases,
        skipped,
        broken,
        xtask_run,
        build_time,
    };
    print!("{}", report.text());
    if let Some(stage) = opts.profile {
        if stage.needs_root && !root {
            eprintln!("bench: --profile {}: SKIPPED, it needs root", stage.name);
        } else {
            print!("{}", profile(stage, &report.rootfs, opts.runs.max(5))?);
        }
    }
    if let Some(path) = &opts.json {
        fs::write(path, report.json())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    // Our own cases must work every time; a peer's failures are reported, not fatal.
    let failed = !report.broken.is_empty()
        || report
            .cases
            .iter()
            .any(|c| !c.is_peer() && !c.failures.is_empty());
    Ok(u8::from(failed))
}

impl Case {
    fn new(name: &str, what: &str, program: PathBuf, args: Vec<OsString>) -> Case {
        let binary_bytes = fs::metadata(&program).ok().map(|m| m.len());
        Case {
            name: name.into(),
            what: what.into(),
            program,
            args,
            stage: None,
            in_cgroup2_ns: false,
            binary_bytes,
            max_rss_kib: 0,
            samples: Vec::new(),
            failures: Vec::new(),
        }
    }

    fn is_peer(&self) -> bool {
        self.stage.is_none() && self.name != "exec"
    }

    fn walls_ms(&self) -> Vec<f64> {
        self.samples.iter().map(|s| ms(s.wall)).collect()
    }
}

/// A fixed-seed xorshift generator: each round's order of the cases (reproducible, no crate).
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

fn ms(d: Duration) -> f64 {
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
    let (status, usage) = wait_with_limit(child.id() as libc::pid_t, TIME_LIMIT)?;
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
fn wait_with_limit(pid: libc::pid_t, limit: Duration) -> Result<(i32, libc::rusage)> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let mut killed = false;
    if fd >= 0 {
        // SAFETY: the descriptor was just returned to us and is owned from here on.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut pfd = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
            if n > 0 {
                break;
            }
            if n == 0 {
                // SAFETY: the child has not been reaped, so the pid is still ours.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed = true;
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err).context("poll on the child's pidfd");
            }
        }
    }
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to our status and rusage.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
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

/// Finds an executable on PATH, or in the sbin folders a user's PATH may lack.
fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|dir| dir.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// `apt-get install` of the peers that are missing (root only).
fn install_peers(root: bool) -> Result<()> {
    let missing: Vec<&str> = PEERS
        .iter()
        .filter(|p| find_program(p.program).is_none())
        .map(|p| p.package)
        .collect();
    if missing.is_empty() {
        eprintln!("bench: every peer is installed");
        return Ok(());
    }
    if !root {
        bail!(
            "--install-peers needs root: sudo apt-get install {}",
            missing.join(" ")
        );
    }
    eprintln!("bench: apt-get install {}", missing.join(" "));
    util::run_checked(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The OCI runtime spec's minimal config: `true`, five namespaces, /proc and a tmpfs /dev (so
/// the runtime creates its device nodes there and not in the shared root filesystem).
fn oci_config(rootfs_dir: &Path) -> String {
    let root = Value::from(rootfs_dir.to_string_lossy()).to_string();
    format!(
        r#"{{
  "ociVersion": "1.0.2",
  "process": {{
    "terminal": false,
    "user": {{ "uid": 0, "gid": 0 }},
    "args": ["/bin/true"],
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
    "cwd": "/"
  }},
  "root": {{ "path": {root}, "readonly": false }},
  "hostname": "container",
  "mounts": [
    {{ "destination": "/proc", "type": "proc", "source": "proc" }},
    {{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
       "options": ["nosuid", "strictatime", "mode=755", "size=1m"] }}
  ],
  "linux": {{
    "namespaces": [
      {{ "type": "pid" }}, {{ "type": "uts" }}, {{ "type": "ipc" }},
      {{ "type": "network" }}, {{ "type": "mount" }}
    ]
  }}
}}
"#
    )
}

#[derive(Debug, PartialEq)]
enum Layout {
    V2,
    Hybrid,
    V1,
}

/// The host's cgroup layout, from what is mounted at /sys/fs/cgroup.
fn cgroup_layout() -> Layout {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    let fstype = |path: &str| -> Option<i64> {
        let c = CString::new(path).ok()?;
        // SAFETY: statfs is plain data filled in by the kernel.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C string and a valid out pointer.
        (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0).then_some(st.f_type as i64)
    };
    if fstype("/sys/fs/cgroup") == Some(CGROUP2_SUPER_MAGIC) {
        Layout::V2
    } else if fstype("/sys/fs/cgroup/unified") == Some(CGROUP2_SUPER_MAGIC) {
        Layout::Hybrid
    } else {
        Layout::V1
    }
}

/// A private mount namespace where the cgroup2 tree is mounted at /sys/fs/cgroup, kept alive by
/// its descriptor; the bench steps into it only to start crun. Closing it removes its mounts.
struct MountNs {
    host: OwnedFd,
    inside: OwnedFd,
    cwd: PathBuf,
}

impl MountNs {
    fn with_cgroup2() -> Result<MountNs> {
        let open_ns = || -> Result<OwnedFd> {
            Ok(File::open("/proc/self/ns/mnt")
                .context("open /proc/self/ns/mnt")?
                .into())
        };
        let host = open_ns()?;
        let cwd = std::env::current_dir()?;
        // SAFETY: unshare has no memory arguments; the bench is one thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
            return Err(std::io::Error::last_os_error()).context("unshare(CLONE_NEWNS)");
        }
        let made = (|| -> Result<OwnedFd> {
            let c = |s: &str| CString::new(s).expect("no NUL");
            let (none, slash, dir, fs) = (c("none"), c("/"), c("/sys/fs/cgroup"), c("cgroup2"));
            // SAFETY: valid C strings; nothing here touches memory we own.
            unsafe {
                let private = libc::MS_REC | libc::MS_PRIVATE;
                if libc::mount(
                    none.as_ptr(),
                    slash.as_ptr(),
                    std::ptr::null(),
                    private,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(std::io::Error::last_os_error()).context("mount --make-rprivate /");
                }
                if libc::mount(fs.as_ptr(), dir.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) != 0 {
                    return Err(std::io::Error::last_os_error())
                        .context("mount -t cgroup2 none /sys/fs/cgroup");
                }
            }
            open_ns()
        })();
        let ns = MountNs {
            host,
            inside: match &made {
                Ok(fd) => fd.try_clone()?,
                Err(_) => open_ns()?,
            },
            cwd,
        };
        ns.leave()?;
        made.map(|_| ns)
    }

    fn enter(&self) -> Result<()> {
        setns(&self.inside)
    }

    fn leave(&self) -> Result<()> {
        setns(&self.host)?;
        std::env::set_current_dir(&self.cwd)
            .with_context(|| format!("cannot go back to {}", self.cwd.display()))
    }
}

fn setns(fd: &OwnedFd) -> Result<()> {
    // SAFETY: a valid namespace descriptor; the bench is one thread.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
        return Err(std::io::Error::last_os_error()).context("setns(mount namespace)");
    }
    Ok(())
}

/// `cargo xtask run base1 -- true` against `target/debug/base1 run true`, `n` times each,
/// interleaved, after one warm-up of each: medians in ms.
fn time_xtask_run(true_path: &Path, n: usize) -> Result<(f64, f64)> {
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
fn profile(stage: &Stage, rootfs_dir: &Path, n: usize) -> Result<String> {
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
fn time_clean_build() -> Result<(f64, f64)> {
    let dir = Scratch::named("build")?;
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

/// A temporary folder of the bench (`$TMPDIR/desde-cero-bench-<pid>[-what]`), removed on drop.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new() -> Result<Scratch> {
        Scratch::at(std::env::temp_dir().join(format!("desde-cero-bench-{}", std::process::id())))
    }

    fn named(what: &str) -> Result<Scratch> {
        Scratch::at(
            std::env::temp_dir().join(format!("desde-cero-bench-{}-{what}", std::process::id())),
        )
    }

    fn at(path: PathBuf) -> Result<Scratch> {
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn median(values: &[f64]) -> f64 {
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

/// Everything measured, printed as text or JSON.
struct Report {
    runs: usize,
    rootfs: PathBuf,
    root: bool,
    cases: Vec<Case>,
    skipped: Vec<(String, String)>,
    broken: Vec<(String, String)>,
    /// Medians of `cargo xtask run base1 -- true` and of the bare binary, ms.
    xtask_run: Option<(f64, f64)>,
    /// Clean build of the workspace, debug and release, seconds.
    build_time: Option<(f64, f64)>,
}

/// One row's numbers.
struct Row<'a> {
    case: &'a Case,
    median: f64,
    min: f64,
    max: f64,
    ratio: Option<f64>,
    max_rss_kib: i64,
    user: f64,
    sys: f64,
}

impl Report {
    fn rows(&self) -> Vec<Row<'_>> {
        let reference = self.cases.iter().find(|c| c.name == REFERENCE);
        self.cases
            .iter()
            .filter(|c| !c.samples.is_empty())
            .map(|case| {
                let walls = case.walls_ms();
                // Ratio round by round: a sample is paired with the reference's of the same
                // round; a round where either failed is left out.
                let ratio = reference.and_then(|r| {
                    let mut by_round = vec![None; self.runs];
                    for s in &r.samples {
                        by_round[s.round] = Some(ms(s.wall));
                    }
                    let ratios: Vec<f64> = case
                        .samples
                        .iter()
                        .filter_map(|a| by_round[a.round].map(|b| ms(a.wall) / b))
                        .collect();
                    (!ratios.is_empty()).then(|| median(&ratios))
                });
                // CPU time is charged by the tick: a mean over many rounds estimates it, a
                // median of a few does not.
                let cpu = |f: fn(&Sample) -> Duration| {
                    case.samples.iter().map(|s| ms(f(s))).sum::<f64>() / case.samples.len() as f64
                };
                Row {
                    case,
                    median: median(&walls),
                    min: walls.iter().copied().fold(f64::INFINITY, f64::min),
                    max: walls.iter().copied().fold(0.0, f64::max),
                    ratio,
                    max_rss_kib: case.max_rss_kib,
                    user: cpu(|s| s.user),
                    sys: cpu(|s| s.sys),
                }
            })
            .collect()
    }

    /// (stage, previous stage, median difference in ms) for each measured stage after the first.
    fn steps(&self) -> Vec<(&str, &str, f64)> {
        let rows = self.rows();
        let stages: Vec<&Row> = rows.iter().filter(|r| r.case.stage.is_some()).collect();
        stages
            .windows(2)
            .map(|w| {
                let (prev, this): (&Case, &Case) = (w[0].case, w[1].case);
                (
                    this.name.as_str(),
                    prev.name.as_str(),
                    w[1].median - w[0].median,
                )
            })
            .collect()
    }

    fn text(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(
            w,
            "\n`true` from {}, {} interleaved rounds after {WARM_UP} warm-up rounds{}",
            self.rootfs.display(),
            self.runs,
            if self.root {
                ", as root"
            } else {
                ", NOT as root"
            }
        );
        let _ = writeln!(w, "host: {}\n", host_line());
        let _ = writeln!(
            w,
            "{:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9}",
            "case", "median", "min", "max", "×unshare", "peak RSS", "user", "sys", "binary"
        );
        for r in self.rows() {
            let _ = writeln!(
                w,
                "{:<8} {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>9} {:>5.1} MiB {:>5.2} ms {:>5.2} ms {:>9}",
                r.case.name,
                r.median,
                r.min,
                r.max,
                r.ratio.map_or("—".to_string(), |x| format!("{x:.2}×")),
                r.max_rss_kib as f64 / 1024.0,
                r.user,
                r.sys,
                r.case
                    .binary_bytes
                    .map_or("—".to_string(), |b| format!("{} KiB", b / 1024)),
            );
        }
        for (name, reason) in &self.skipped {
            let _ = writeln!(w, "{name:<8} skipped: {reason}");
        }
        for (name, reason) in &self.broken {
            let _ = writeln!(w, "{name:<8} FAILED: {reason}");
        }
        for case in &self.cases {
            // A peer that fails now and then is the peer's business: said, not fatal.
            let word = if case.is_peer() { "failed" } else { "FAILED" };
            for f in &case.failures {
                let _ = writeln!(w, "{:<8} {word}: {f}", case.name);
            }
        }
        let _ = writeln!(w, "\nwhat each case runs:");
        for case in &self.cases {
            let _ = writeln!(w, "  {:<8} {}", case.name, case.what);
        }
        let _ = writeln!(
            w,
            "\nwall: spawn to wait4; ×unshare: median of the per-round ratios; peak RSS: \
             ru_maxrss from wait4 (forked warm-up\nrounds): the largest of the process started \
             and the children it waited for, a maximum, not a sum (exec: the\nfloor, `true` \
             itself); user/sys: mean CPU time, children included; binary: size of the \
             executable\n(peers: without their shared libraries)."
        );
        let steps = self.steps();
        if !steps.is_empty() {
            let _ = writeln!(
                w,
                "\ncost of each step (median of stage N − median of stage N−1):"
            );
            for (stage, prev, d) in steps {
                let _ = writeln!(w, "  {stage:<8} {d:>+7.2} ms  (over {prev})");
            }
        }
        if let Some((cargo, bare)) = self.xtask_run {
            let _ = writeln!(
                w,
                "\n`cargo xtask run base1 -- true` on a warm build: {cargo:.0} ms; \
                 target/debug/base1 run true: {bare:.1} ms; cargo xtask adds {:.0} ms",
                cargo - bare
            );
        }
        if let Some((debug, release)) = self.build_time {
            let _ = writeln!(
                w,
                "clean build of the workspace's binaries: {debug:.0} s debug, {release:.0} s \
                 release"
            );
        }
        out
    }

    fn json(&self) -> String {
        // Four decimals are plenty for milliseconds; NaN and infinities become null.
        let num = |x: f64| json!((x * 1e4).round() / 1e4);
        let cases: Vec<Value> = self
            .rows()
            .iter()
            .map(|r| {
                let kind = if r.case.stage.is_some() {
                    "stage"
                } else if r.case.name == "exec" {
                    "baseline"
                } else {
                    "peer"
                };
                json!({
                    "name": r.case.name,
                    "what": r.case.what,
                    "kind": kind,
                    "median_ms": num(r.median),
                    "min_ms": num(r.min),
                    "max_ms": num(r.max),
                    "ratio_to_unshare": r.ratio.map(num),
                    "peak_rss_kib": r.max_rss_kib,
                    "user_ms": num(r.user),
                    "sys_ms": num(r.sys),
                    "binary_bytes": r.case.binary_bytes,
                    "samples_ms": r.case.walls_ms().into_iter().map(num).collect::<Vec<_>>(),
                })
            })
            .collect();
        let pairs = |list: &[(String, String)]| -> Vec<Value> {
            list.iter()
                .map(|(n, r)| json!({"name": n, "reason": r}))
                .collect()
        };
        let mut failed = self.broken.clone();
        let mut peer_failures = Vec::new();
        for case in &self.cases {
            let list = if case.is_peer() {
                &mut peer_failures
            } else {
                &mut failed
            };
            list.extend(case.failures.iter().map(|f| (case.name.clone(), f.clone())));
        }
        let steps: Vec<Value> = self
            .steps()
            .iter()
            .map(|(s, p, d)| json!({"stage": s, "previous": p, "cost_ms": num(*d)}))
            .collect();
        let report = json!({
            "runs": self.runs,
            "warm_up": WARM_UP,
            "rootfs": self.rootfs.to_string_lossy(),
            "root": self.root,
            "host": host_line(),
            "cases": cases,
            "skipped": pairs(&self.skipped),
            "failed": pairs(&failed),
            "peer_failures": pairs(&peer_failures),
            "steps": steps,
            "xtask_run": self.xtask_run.map(|(c, b)| {
                json!({"cargo_xtask_run_ms": num(c), "binary_ms": num(b)})
            }),
            "clean_build_s": self.build_time.map(|(d, r)| {
                json!({"debug": num(d), "release": num(r)})
            }),
        });
        let mut out = serde_json::to_string_pretty(&report).unwrap_or_default();
        out.push('\n');
        out
    }
}

/// Kernel, CPU count and cgroup layout, for the record.
fn host_line() -> String {
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    let layout = match cgroup_layout() {
        Layout::V2 => "cgroup v2",
        Layout::Hybrid => "cgroup hybrid (v1 + v2)",
        Layout::V1 => "cgroup v1",
    };
    format!("Linux {}, {cpus} × {model}, {layout}", kernel.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn defaults_and_options() {
        let opts = parse(vec![]).unwrap();
        assert_eq!(opts.runs, DEFAULT_RUNS);
        assert_eq!(opts.stages.len(), catalog::STAGES.len());
        let opts = parse(args(&[
            "--runs",
            "3",
            "--stages",
            "full,pid,1",
            "--json",
            "x",
        ]))
        .unwrap();
        assert_eq!(opts.runs, 3);
        let names: Vec<&str> = opts.stages.iter().map(|s| s.name).collect();
        assert_eq!(names, ["base1", "pid", "full"]);
        assert_eq!(opts.json, Some(PathBuf::from("x")));
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for bad in [
            args(&["--runs"]),
            args(&["--runs", "0"]),
            args(&["--runs", "x"]),
            args(&["--stages", "nope"]),
            args(&["--bogus"]),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.downcast_ref::<util::Usage>().is_some(), "{err:#}");
        }
    }

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

    #[test]
    fn the_oci_config_is_escaped() {
        let text = oci_config(Path::new("/a \"b\""));
        assert!(text.contains(r#""path": "/a \"b\"""#), "{text}");
    }
}

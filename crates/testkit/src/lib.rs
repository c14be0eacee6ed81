//! What the integration tests share: finding the built stages and the root filesystem, running a
//! stage as a separate process, asking the probe, requiring root loudly, and checking that a
//! test left nothing behind on the host.
//!
//! `cargo xtask test` builds every binary and the root filesystem first, then runs the tests with
//! `DESDE_CERO_ROOTFS` and `DESDE_CERO_BIN_DIR` set. Run by hand (`cargo test`), the defaults are
//! `rootfs/build` and `target/<arch>-unknown-linux-musl/debug`.

pub mod attack;
pub mod leaks;
pub mod terminal;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use leaks::LeakCheck;

/// The environment variable the stages read the root filesystem's path from.
pub const ROOTFS_ENV: &str = "DESDE_CERO_ROOTFS";

/// The workspace's top folder.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("testkit lives in crates/testkit")
        .to_path_buf()
}

/// Where the stage binaries are (`DESDE_CERO_BIN_DIR`, else `target/<arch>-unknown-linux-musl/debug`:
/// the stages are static musl binaries, built by `cargo xtask`).
pub fn bin_dir() -> PathBuf {
    match std::env::var_os("DESDE_CERO_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => project_root()
            .join("target")
            .join(format!("{}-unknown-linux-musl", std::env::consts::ARCH))
            .join("debug"),
    }
}

/// The xtask binary (`DESDE_CERO_XTASK`, which `cargo xtask test` sets, else
/// `target/debug/xtask`): built for the host, not with the stages.
pub fn xtask_bin() -> PathBuf {
    let path = match std::env::var_os("DESDE_CERO_XTASK") {
        Some(path) => PathBuf::from(path),
        None => project_root().join("target").join("debug").join("xtask"),
    };
    assert!(
        path.exists(),
        "{} is not built: run the tests through `cargo xtask test`",
        path.display()
    );
    path
}

/// The built binary of a stage (or of any workspace binary, e.g. `xtask`).
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests through `cargo xtask test`",
        path.display()
    );
    path
}

/// The root filesystem the tests use.
pub fn rootfs() -> PathBuf {
    let dir = match std::env::var_os(ROOTFS_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => project_root().join("rootfs").join("build"),
    };
    assert!(
        dir.join("bin").exists(),
        "no root filesystem at {}: run the tests through `cargo xtask test`",
        dir.display()
    );
    dir
}

/// Whether the tests run under CI (`CI=true`), where a skip is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether the tests run inside the cgroup v2 VM that `cargo xtask test` boots
/// (`DESDE_CERO_IN_VM=1`; see vm/README.md). A test that cannot work there checks this.
pub fn in_vm() -> bool {
    std::env::var("DESDE_CERO_IN_VM").is_ok_and(|v| v == "1")
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Says loudly that a test cannot run here and why. Under `CI=true` that is a failure.
///
/// Returns `false` so a test reads `if !testkit::require(cond, "why") { return; }`.
#[track_caller]
pub fn require(ok: bool, why: &str) -> bool {
    if ok {
        return true;
    }
    let at = std::panic::Location::caller();
    if in_ci() {
        panic!("required under CI=true, but {why} ({at})");
    }
    eprintln!("\n*** SKIPPED ({at}): {why} ***\n");
    false
}

/// Requires root: skip loudly, or fail under CI.
#[track_caller]
pub fn require_root() -> bool {
    require(
        is_root(),
        "this test needs root (namespaces, mounts, cgroups): run `sudo -E cargo xtask test`",
    )
}

/// Serialises the tests that start containers: they change global state (mounts, cgroups,
/// links) that the leak check compares, so two at once would blame each other.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `body` as a container test: root required (a loud skip, or a failure under `CI=true`),
/// one container test at a time, and nothing may be left on the host afterwards.
pub fn container_test(body: impl FnOnce()) {
    if !require_root() {
        return;
    }
    let _serial = serial();
    let leaks = LeakCheck::start();
    body();
    leaks.assert_clean();
}

/// The inode of a namespace in a probe's report (`ns.<kind>`); fails the test if it is missing.
#[track_caller]
pub fn ns(report: &serde_json::Value, kind: &str) -> u64 {
    report["ns"][kind]
        .as_u64()
        .unwrap_or_else(|| panic!("probe reported no {kind} namespace: {report}"))
}

/// A finished process: exit code (128+N for signal N, as the stages report it), stdout, stderr.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Run {
        use std::os::unix::process::ExitStatusExt;
        let code = match (out.status.code(), out.status.signal()) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig,
            (None, None) => -1,
        };
        Run {
            code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// Runs `bin_path` with `args`, stdin closed, the root filesystem set, and a time limit.
pub fn run_bin<I, S>(bin_path: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(bin_path);
    cmd.args(args);
    run_cmd(&mut cmd)
}

/// Runs a prepared command with stdin closed, the root filesystem set, and a 60 s time limit.
pub fn run_cmd(cmd: &mut Command) -> Run {
    run_cmd_within(cmd, Duration::from_secs(60))
}

/// [`run_cmd`] with another time limit, for the few commands that build or measure for long.
pub fn run_cmd_within(cmd: &mut Command, limit: Duration) -> Run {
    let set_by_caller = cmd.get_envs().any(|(key, _)| key == ROOTFS_ENV);
    if !set_by_caller && std::env::var_os(ROOTFS_ENV).is_none() {
        cmd.env(ROOTFS_ENV, rootfs());
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    Run::from_output(wait_with_timeout(child, limit))
}

/// Runs `stage run <args...>`: the syntax every slide shares.
pub fn stage<I, S>(name: &str, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(bin(name));
    cmd.arg("run").args(args);
    run_cmd(&mut cmd)
}

/// The probe's path as a stage must be given it: inside the root filesystem for the stages that
/// change root, the same file by its host path for the ones that run on the host's `/`.
pub fn probe_path(stage_name: &str) -> PathBuf {
    let inside = Path::new("/usr/local/bin/probe");
    match catalog::find(stage_name) {
        Some(s) if !s.needs_rootfs => rootfs().join(inside.strip_prefix("/").unwrap()),
        _ => inside.to_path_buf(),
    }
}

/// Runs the probe inside a stage and parses its JSON report.
pub fn probe(stage_name: &str) -> serde_json::Value {
    probe_with(stage_name, &[])
}

/// Runs the probe inside a stage with extra probe arguments and parses its JSON report.
pub fn probe_with(stage_name: &str, probe_args: &[&str]) -> serde_json::Value {
    let mut args = vec![probe_path(stage_name).into_os_string()];
    args.extend(probe_args.iter().map(|a| a.into()));
    let run = stage(stage_name, args);
    run.expect_code(0);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "probe in {stage_name} printed no JSON ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    })
}

/// The inode of one of this (host) process's namespaces, as the probe reports them.
pub fn host_ns(kind: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/ns/{kind}"))
        .unwrap_or_else(|e| panic!("/proc/self/ns/{kind}: {e}"))
        .ino()
}

/// A fresh temporary folder (`$TMPDIR/desde-cero-<what>-<pid>-<n>`), removed when dropped.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(what: &str) -> Scratch {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("desde-cero-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Scratch { path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn wait_with_timeout(child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            // Timed out (or the sender vanished without a word): kill the stuck process.
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().expect("wait for child");
    let _ = tx.send(());
    out
}

/// Whether cgroup2 is mounted at /sys/fs/cgroup with `nsdelegate` (systemd's way, the VM's):
/// then the kernel refuses writes to the files of a cgroup namespace's root from inside it.
pub fn cgroup2_nsdelegate() -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts.lines().any(|line| {
        let f: Vec<&str> = line.split(' ').collect();
        matches!(f[..], [_, "/sys/fs/cgroup", "cgroup2", options, ..]
            if options.split(',').any(|o| o == "nsdelegate"))
    })
}

//! Where `--check` runs a student's version: whatever it does, the host keeps nothing of it.
//!
//! The check enters namespaces of its own before it runs anything, so that a step written
//! wrong changes them and not the host's: a mount namespace, a UTS namespace (a hostname set
//! without a namespace of the container's own renames the sandbox), an IPC namespace (with a
//! shared memory segment in it, the bait the `ipc` notes lay by hand) and a network namespace
//! (a veth left behind goes with it). The sandbox's mounts receive the host's but send nothing
//! back (`--make-rslave`), and are shared among themselves (`--make-rshared`): a mount that the
//! container's code lets propagate shows in the sandbox's table, as it would in the host's,
//! and is reported. The root filesystem the stage is given is an overlay on a tmpfs: what the
//! container writes to it is gone with the sandbox. mount_namespaces(7), overlayfs.
//!
//! What namespaces do not hold is tidied after every run and reported: the cgroups named
//! `desde-cero-<pid>` of runtimes that have ended, the process group of the run (after the time
//! limit, or once the runtime ended), mounts that reached the sandbox, veths left in it.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// How long one run of a student's version may take, unless [`LIMIT_ENV`] says otherwise.
const TIME_LIMIT: Duration = Duration::from_secs(20);
/// Seconds one run may take (the tests' hanging version need not take 20 s).
const LIMIT_ENV: &str = "DESDE_CERO_EXERCISE_LIMIT";

/// How long one run of a student's version may take.
pub fn time_limit() -> Duration {
    std::env::var(LIMIT_ENV)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&s: &u64| s > 0)
        .map_or(TIME_LIMIT, Duration::from_secs)
}

/// The check's namespaces and root filesystem. Dropping it unmounts and removes the overlay's
/// folder; the namespaces end with the process.
pub struct Sandbox {
    /// The overlay's folder (a tmpfs mounted on it holds the overlay's layers and mount point).
    dir: PathBuf,
    /// The root filesystem to give the stages: the overlay.
    pub rootfs: PathBuf,
    /// What was there before any run, to tell what a run left.
    before: Snapshot,
}

/// What a run can leave behind that the namespaces do not hold, or that shows in them.
#[derive(Clone, PartialEq, Eq)]
struct Snapshot {
    mounts: BTreeSet<(PathBuf, String)>,
    cgroups: BTreeSet<PathBuf>,
    links: BTreeSet<String>,
}

impl Snapshot {
    fn take() -> Snapshot {
        let mounts = hoststate::mounts();
        Snapshot {
            cgroups: hoststate::cgroups(&mounts).into_iter().collect(),
            mounts: mounts
                .into_iter()
                .map(|m| (m.mount_point, m.fstype))
                .collect(),
            links: hoststate::links().into_iter().collect(),
        }
    }
}

/// One finished run: its exit code (128+N for signal N), its output, and whether it was killed
/// at the time limit.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Sandbox {
    /// Enters the namespaces (this process must have one thread: unshare(2) refuses
    /// CLONE_NEWNS to a threaded one) and mounts the overlay of `rootfs` on `dir`.
    pub fn enter(rootfs: &Path, dir: &Path) -> Result<Sandbox> {
        let flags = CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWNET;
        unshare(flags).context("cannot enter the check's namespaces (unshare)")?;
        let root = Path::new("/");
        mount(
            None::<&str>,
            root,
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_SLAVE,
            None::<&str>,
        )
        .context("mount --make-rslave /")?;
        mount(
            None::<&str>,
            root,
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_SHARED,
            None::<&str>,
        )
        .context("mount --make-rshared /")?;
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmpfs = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            tmpfs,
            Some("size=1g,mode=755"),
        )
        .with_context(|| format!("cannot mount a tmpfs on {}", dir.display()))?;
        for sub in ["upper", "work", "root"] {
            fs::create_dir(dir.join(sub))?;
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            rootfs.display(),
            dir.join("upper").display(),
            dir.join("work").display()
        );
        let overlay = dir.join("root");
        mount(
            Some("overlay"),
            &overlay,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        )
        .with_context(|| format!("cannot mount an overlay of {}", rootfs.display()))?;
        // Shared, as the host's `/` under the real root filesystem is: a mount under it that a
        // container lets propagate comes back here.
        mount(
            None::<&str>,
            &overlay,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )?;
        lay_ipc_bait();
        Ok(Sandbox {
            dir: dir.to_path_buf(),
            rootfs: overlay,
            before: Snapshot::take(),
        })
    }

    /// Runs `command` (a stage's binary and its arguments) in its own process group, at most
    /// [`time_limit`], then kills what is left of the group.
    pub fn run(&self, command: &mut Command) -> Result<Ran> {
        self.run_within(command, time_limit())
    }

    /// [`Sandbox::run`] with another time limit (the matrix runs many).
    pub fn run_within(&self, command: &mut Command, limit: Duration) -> Result<Ran> {
        command
            .env(crate::rootfs::ENV_VAR, &self.rootfs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // A group of its own keeps Ctrl-C from the run: if the check itself ends, whatever
        // way, the kernel kills the run (PR_SET_PDEATHSIG), and the stage its container.
        // SAFETY: prctl(2) is async-signal-safe, the only call made between fork and exec.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {:?}", command.get_program()))?;
        let group = Pid::from_raw(child.id() as i32);
        let (done, watchdog) = mpsc::channel::<()>();
        let timer = std::thread::spawn(move || {
            let killed = watchdog.recv_timeout(limit).is_err();
            if killed {
                let _ = killpg(group, Signal::SIGKILL);
            }
            killed
        });
        let mut stderr = child.stderr.take().context("no stderr pipe")?;
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            text
        });
        let mut stdout = Vec::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_end(&mut stdout);
        }
        let status = child.wait().context("cannot wait for the run")?;
        // What the command started and left running goes too.
        let _ = killpg(group, Signal::SIGKILL);
        let stderr = reader.join().unwrap_or_default();
        let _ = done.send(());
        let timed_out = timer.join().unwrap_or(false);
        Ok(Ran {
            code: crate::util::status_code(status),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            timed_out,
        })
    }

    /// Removes what the runs so far left (cgroups of ended runtimes, mounts that reached the
    /// sandbox, links left in it) and says what each was.
    pub fn tidy(&self) -> Vec<String> {
        let mut found = Vec::new();
        // The kernel tears a namespace down in the background: a veth goes a moment after.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut now = Snapshot::take();
        while now != self.before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            now = Snapshot::take();
        }
        // A mount below another sorts after it: in reverse, the one on top goes first.
        let mounts: Vec<_> = now.mounts.difference(&self.before.mounts).collect();
        for (point, fstype) in mounts.into_iter().rev() {
            found.push(format!(
                "a mount made in the container reached the host's mount table: {} ({fstype}): \
                 the container's mounts still propagate to the host's",
                point.display()
            ));
            let _ = umount2(point, MntFlags::MNT_DETACH);
        }
        // Deepest first, as hoststate lists them.
        let mut cgroups: Vec<&PathBuf> = now.cgroups.difference(&self.before.cgroups).collect();
        cgroups.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for dir in cgroups {
            if owner_alive(dir) {
                continue;
            }
            found.push(format!(
                "the container's cgroup {} was still on the host after it ended",
                dir.display()
            ));
            remove_cgroup(dir);
        }
        for link in now.links.difference(&self.before.links) {
            found.push(format!(
                "the link {link} was still there after the container ended"
            ));
            let _ = Command::new("ip")
                .args(["link", "delete", link])
                .stderr(Stdio::null())
                .status();
        }
        found
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = umount2(&self.dir, MntFlags::MNT_DETACH);
        let _ = fs::remove_dir(&self.dir);
    }
}

/// A System V shared memory segment in the sandbox's IPC namespace, as `ipcmk -M 1024` makes
/// one: a container without an IPC namespace of its own sees it. It goes with the namespace.
fn lay_ipc_bait() {
    // SAFETY: shmget only creates a segment; no memory of ours is attached or touched.
    unsafe { libc::shmget(libc::IPC_PRIVATE, 1024, libc::IPC_CREAT | 0o600) };
}

/// Whether the runtime whose pid a cgroup's name carries (`desde-cero-<pid>`) still runs.
fn owner_alive(dir: &Path) -> bool {
    dir.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter_map(|name| {
            name.strip_prefix(hoststate::CGROUP_PREFIX)
                .map(|rest| rest.trim_start_matches('-').to_string())
        })
        .filter_map(|pid| pid.parse::<i32>().ok())
        .any(|pid| kill(Pid::from_raw(pid), None).is_ok())
}

/// Kills what is in a cgroup, then removes its folder (a few tries: dying processes leave it
/// busy for a moment).
fn remove_cgroup(dir: &Path) {
    for _ in 0..100 {
        if fs::write(dir.join("cgroup.kill"), "1").is_err() {
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.split_whitespace().filter_map(|p| p.parse().ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        if fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The xtask's own binary, to run `matrix` with.
pub fn xtask() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the xtask's own binary")?;
    if !exe.is_file() {
        bail!("the xtask's binary {} is gone", exe.display());
    }
    Ok(exe)
}

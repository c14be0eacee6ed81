//! # Stage 16 — oci: full, driven by the runtime spec, so podman can run it
//!
//! docker and podman do not make containers: they call a runtime (runc,
//! crun) with a bundle, a folder whose config.json says what `full` took as
//! flags, and five verbs (the OCI runtime spec's runtime.md): `create` makes
//! the container and leaves it waiting, `start` lets it run the process,
//! `state` reports it, `kill` signals it, `delete` removes what is left. The
//! state lives in a folder per container under --root (state.rs); between
//! `create` and `start` the container waits on a FIFO there (runc's
//! exec.fifo), which `start`, another process, opens.
//!
//! Run it: `oci create --bundle DIR ID; oci start ID; oci state ID`, or as
//! podman's runtime: `podman --runtime $(which oci) run --rm IMAGE true`
//! Man pages: fifo(7), pivot_root(2), capabilities(7), setrlimit(2).

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sched::CloneFlags;
use nix::unistd::pipe2;
use skeleton::{say, Result};

fn main() -> std::process::ExitCode {
    let stage = skeleton::stage!();
    skeleton::main_with_verbs(stage, cli::HELP, cli::verbs, run, Some(child))
}

/// `create`: the container made and left waiting, set up, before its
/// process runs: podman starts its monitor (conmon) in between.
fn create(
    root: &Path,
    id: &str,
    bundle: &Path,
    pid_file: Option<&Path>,
) -> Result<u8> {
    let spec = spec::read(bundle)?;
    let mut state = State::make(root, id, bundle)?;
    let remove = Remover(Some(state.dir.clone()));
    // The cgroups stage's group, with the spec's limits; kept after we exit.
    let cgroup = Cgroup::create(&spec.limits)?;
    // The child reports on this pipe that it is set up, or closes it failing.
    let (ready, told) = pipe2(OFlag::O_CLOEXEC)
        .map_err(|err| skeleton::failure("pipe", err, "see pipe(2)"))?;
    // Its end, and no other, survives the child's execve(2).
    let sync = told.as_raw_fd();
    fcntl(&told, FcntlArg::F_SETFD(FdFlag::empty()))
        .map_err(|err| skeleton::failure("fcntl", err, "see fcntl(2)"))?;
    std::env::set_var(SYNC_ENV, sync.to_string());
    let dir = [state.dir.clone().into_os_string()];
    let mut spawn = clone::spawn(spec.namespaces, &dir);
    spawn = cgroup.join(spawn);
    // In a user namespace: born of uid 700000000, not host root; once let
    // go, root of its namespace before it re-executes (userns.rs).
    let rootless = spec.namespaces.contains(CloneFlags::CLONE_NEWUSER);
    if rootless {
        spawn = spawn.before_exec(userns::become_root);
    }
    let child = userns::start(spawn, rootless, userns::host_root())?;
    // While it waits: the spec's id maps.
    if rootless {
        process::write_maps(child.pid(), &spec)?;
    }
    // Let go, not waited for: it sets itself up while we wait for its word.
    let pid = child.release()?;
    drop(told);
    let mut word = String::new();
    let _ = File::from(ready).read_to_string(&mut word);
    if word != "ready" {
        // It said why on stderr; its group and folder go with `remove`.
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(state::error("container init failed".into()));
    }
    state.pid = pid.as_raw();
    state.start_time = state::stat(state.pid).map_or(0, |(_, t)| t);
    // Its groups named after it, which outlives us: `cargo xtask clean`
    // leaves the groups of a live stage's pid alone.
    state.cgroups = state::rename_groups(&cgroup.dirs, state.pid)?;
    state.annotations = spec.annotations;
    state.save()?;
    if let Some(file) = pid_file {
        fs::write(file, state.pid.to_string())
            .map_err(|e| state::error(format!("{}: {e}", file.display())))?;
    }
    // Both stay: `delete` removes them.
    std::mem::forget(cgroup);
    std::mem::forget(remove);
    say!(
        "create: {id} is pid {}, waiting on {}",
        state.pid,
        state::FIFO
    );
    Ok(0)
}

/// The child, in its namespaces and group: builds the container from the
/// spec, then waits on the FIFO for `start` before it runs the process.
fn child(args: &[OsString]) -> Result<u8> {
    // Our parent, `create`, exits before we run: no SIGKILL when it does.
    // Under `oci run` it waits for us: killed, it takes us along.
    if std::env::var_os(ATTACHED_ENV).is_none() {
        nix::sys::prctl::set_pdeathsig(None)
            .map_err(|err| skeleton::failure("prctl", err, "see prctl(2)"))?;
    }
    let told = take_sync()?;
    process::close_on_exec()?;
    let dir = Path::new(&args[0]);
    let state = State::load(dir.parent().unwrap_or(dir), &dir_name(dir))?;
    let spec = spec::read(&state.bundle)?;
    let fifo = fifo::open_path(&dir.join(state::FIFO))?;
    process::join_session_keyring(&state.id)?;
    if spec.cgroup_ns {
        cgroup_ns::unshare_cgroup()?;
    }
    if let Some(name) = &spec.hostname {
        hostname::set_hostname(name)?;
    }
    if spec.namespaces.contains(CloneFlags::CLONE_NEWNET) {
        lo::bring_up()?;
    }
    mounts::make_mounts_private()?;
    let root = rootfs::bind(&spec.root)?;
    spec_mounts::mount_all(&root, &spec)?;
    rootfs::pivot_root(&root)?;
    process::set_sysctl(&spec)?;
    spec_mounts::mask_paths(&spec)?;
    process::set_rlimits(&spec)?;
    // The caller's syscall filter (spec_seccomp.rs), inherited by all that
    // follows: without no_new_privs, seccomp(2) wants CAP_SYS_ADMIN, so it
    // goes in before the user and capabilities change (runc's order).
    if !spec.no_new_privs {
        spec_seccomp::install(&spec.seccomp)?;
    }
    process::become_user(&spec)?;
    // process.capabilities, or the capabilities stage's list without them.
    match &spec.caps {
        Some(caps) => process::set_capabilities(caps)?,
        None => capabilities::drop_capabilities()?,
    }
    if spec.no_new_privs {
        capabilities::set_no_new_privs()?;
    }
    process::set_environment(&spec)?;
    if spec.no_new_privs {
        spec_seccomp::install(&spec.seccomp)?;
    }
    // Set up: `create` may exit. We wait for `start` on the FIFO (fifo.rs).
    nix::unistd::write(&told, b"ready")
        .map_err(|err| skeleton::failure("write", err, "see pipe(2)"))?;
    drop(told);
    fifo::wait_for_start(fifo)?;
    // PID 1's duties: run the process, pass signals on, reap orphans.
    init::init(&spec.args)
}

/// `run`: runc's own verb, the four in one, on a bundle of the root
/// filesystem made on the spot (cli.rs).
fn run(args: &[OsString]) -> Result<u8> {
    cli::run(args)
}

// The steps with files of their own: an earlier stage's are included
// from its folder (#[path]), not copied.
// Of the cgroups stage's group and pivot's root, the spec's steps use some.
#[allow(dead_code)]
#[path = "../../cgroups/src/cgroups.rs"]
mod cgroups;
#[path = "../../uts/src/clone.rs"]
mod clone;
#[path = "../../uts/src/hostname.rs"]
mod hostname;
#[path = "../../pid/src/init.rs"]
mod init;
#[path = "../../procfs/src/mounts.rs"]
mod mounts;
use cgroups::Cgroup;
#[path = "../../net/src/lo.rs"]
mod lo;
#[allow(dead_code)]
#[path = "../../user/src/userns.rs"]
mod userns;

#[path = "../../capabilities/src/capabilities.rs"]
mod capabilities;
#[path = "../../full/src/cgroup_ns.rs"]
mod cgroup_ns;
#[allow(dead_code)]
#[path = "../../pivot/src/rootfs.rs"]
mod rootfs;
// The seccomp stage's refusals, which `oci run` writes as config.json's
// profile (cli.rs).
#[allow(dead_code)]
#[path = "../../seccomp/src/seccomp.rs"]
mod seccomp;
// This stage's own: the command line, the bundle's config.json, the state,
// the FIFO, and the spec's mounts and process.
mod cli;
mod fifo;
mod process;
mod spec;
mod spec_mounts;
mod spec_seccomp;
mod state;
use state::State;

/// Set by `oci run`, whose child dies with it (cli.rs).
const ATTACHED_ENV: &str = "DESDE_CERO_OCI_ATTACHED";

/// Where `create` tells its child the pipe's descriptor.
const SYNC_ENV: &str = "DESDE_CERO_OCI_SYNC";

/// The child's end of `create`'s pipe, named by SYNC_ENV.
fn take_sync() -> Result<OwnedFd> {
    let fd = std::env::var(SYNC_ENV).ok().and_then(|v| v.parse().ok());
    std::env::remove_var(SYNC_ENV);
    let Some(fd) = fd else {
        return Err(state::error(format!("no {SYNC_ENV}")));
    };
    // SAFETY: `create` left this descriptor open for us, and no one else
    // owns it in this process.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn dir_name(dir: &Path) -> String {
    let name = dir.file_name().unwrap_or_default();
    name.to_string_lossy().into_owned()
}

/// Removes a container's folder and its groups when `create` fails.
struct Remover(Option<std::path::PathBuf>);

impl Drop for Remover {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

//! The command line runc has, as podman and conmon call it: global options,
//! then a verb and its own. `run`, the verbs in one, on a bundle made on the
//! spot from the root filesystem, as `runc spec` writes one.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;
use skeleton::{Failure, Result, EXIT_RUNTIME};

use crate::state::{self, State};

/// `--help`'s part on the verbs and options.
pub const HELP: &str = "or, as podman and conmon call a runtime (runc's):
  oci [global] create --bundle DIR [--pid-file FILE] ID
  oci [global] start ID | state ID | delete [--force] ID
  oci [global] kill [--all] ID [SIGNAL]
  global: --root DIR (default /run/desde-cero-oci), --log FILE,
          --log-format text|json, --debug (the teaching lines); --version
  refused by name: exec, --console-socket, --systemd-cgroup, a spec's
  terminal, hooks (the notes say why)";

/// The usage line, as every stage's starts: `oci: usage: oci run ...`.
fn usage() -> Failure {
    Failure {
        code: EXIT_RUNTIME,
        message: "usage: oci run [-q] <cmd> [args...] | oci [global] \
                  create|start|state|kill|delete ... (--help)"
            .into(),
    }
}

fn refused(what: &str) -> Failure {
    let message = format!("{what}: not supported by this runtime");
    Failure { code: 1, message }
}

/// The global options, then the verb; None for `run`, `child` and
/// `--help`, which the skeleton handles.
pub fn verbs(args: &[OsString]) -> Option<Result<u8>> {
    let args: Vec<String> =
        args.iter().map(|a| a.to_string_lossy().into()).collect();
    let mut root = PathBuf::from(state::ROOT);
    let mut log = None;
    let mut json = false;
    let mut debug = false;
    let mut at = 0;
    while let Some(arg) = args.get(at) {
        let value = args.get(at + 1);
        match (arg.as_str(), value) {
            ("--root", Some(dir)) => root = dir.into(),
            ("--log", Some(file)) => log = Some(PathBuf::from(file)),
            ("--log-format", Some(format)) => json = format == "json",
            ("--debug", _) => {
                debug = true;
                at += 1;
                continue;
            }
            ("--systemd-cgroup", _) => {
                return Some(Err(refused("--systemd-cgroup (use cgroupfs)")))
            }
            ("--version" | "-v", _) => {
                println!(
                    "oci version {}\nspec: 1.0.2",
                    env!("CARGO_PKG_VERSION")
                );
                return Some(Ok(0));
            }
            _ => break,
        }
        at += 2;
    }
    let verb = args.get(at).map(String::as_str).unwrap_or("");
    let rest = &args[(at + 1).min(args.len())..];
    if !debug && !matches!(verb, "run" | "child") {
        skeleton::set_quiet();
    }
    let result = match verb {
        "run" | "child" | "-h" | "--help" | "help" if at == 0 => return None,
        "create" => create(&root, rest),
        "start" => one_id(rest)
            .and_then(|id| crate::fifo::start(&State::load(&root, id)?)),
        "state" => one_id(rest).and_then(|id| {
            let state = State::load(&root, id)?;
            println!("{:#}", state.to_json());
            Ok(0)
        }),
        "kill" => signal(&root, rest),
        "delete" => delete(&root, rest),
        "exec" | "pause" | "resume" | "checkpoint" | "restore" | "update"
        | "ps" | "events" | "features" | "spec" | "list" => Err(refused(verb)),
        _ => Err(usage()),
    };
    if let (Err(failure), Some(log)) = (&result, log) {
        write_log(&log, json, &failure.message);
    }
    Some(result)
}

/// runc's --log: errors appended, one line each, in text or JSON.
fn write_log(log: &Path, json: bool, message: &str) {
    let line = match json {
        true => json!({"level": "error", "msg": message}).to_string(),
        false => format!("level=error msg={message:?}"),
    };
    let file = fs::OpenOptions::new().create(true).append(true).open(log);
    if let Ok(mut file) = file {
        let _ = writeln!(file, "{line}");
    }
}

fn one_id(rest: &[String]) -> Result<&str> {
    match rest {
        [id] => Ok(id),
        _ => Err(usage()),
    }
}

fn create(root: &Path, rest: &[String]) -> Result<u8> {
    let (mut bundle, mut pid_file, mut id) = (PathBuf::from("."), None, None);
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        let mut value = || words.next().cloned().ok_or_else(usage);
        match word.as_str() {
            "--bundle" | "-b" => bundle = value()?.into(),
            "--pid-file" => pid_file = Some(PathBuf::from(value()?)),
            "--console-socket" => return Err(refused("--console-socket")),
            "--preserve-fds" => return Err(refused("--preserve-fds")),
            "--no-pivot" => return Err(refused("--no-pivot")),
            "--no-new-keyring" => return Err(refused("--no-new-keyring")),
            word if word.starts_with('-') => return Err(usage()),
            word if id.is_none() => id = Some(word.to_string()),
            _ => return Err(usage()),
        }
    }
    let id = id.ok_or_else(usage)?;
    let bundle = bundle.canonicalize().map_err(|err| {
        state::error(format!("bundle {}: {err}", bundle.display()))
    })?;
    crate::create(root, &id, &bundle, pid_file.as_deref())
}

/// kill: a number (podman sends 15, then 9) or a name (TERM, SIGTERM).
fn signal(root: &Path, rest: &[String]) -> Result<u8> {
    let all = rest.first().is_some_and(|a| a == "--all" || a == "-a");
    let rest = &rest[all as usize..];
    let (id, name) = match rest {
        [id] => (id, "SIGTERM"),
        [id, name] => (id, name.as_str()),
        _ => return Err(usage()),
    };
    let signal = parse_signal(name)?;
    let state = State::load(root, id)?;
    if !state.alive() {
        return Err(state::error(format!("container not running: {id}")));
    }
    let mut pids = vec![state.pid];
    if all {
        for dir in &state.cgroups {
            let procs = fs::read_to_string(dir.join("cgroup.procs"))
                .unwrap_or_default();
            pids.extend(procs.lines().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
    for pid in pids {
        kill(Pid::from_raw(pid), signal)
            .map_err(|err| skeleton::failure("kill", err, "see kill(2)"))?;
    }
    Ok(0)
}

fn parse_signal(name: &str) -> Result<Signal> {
    let bad = || state::error(format!("unknown signal {name:?}"));
    if let Ok(number) = name.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| bad());
    }
    let upper = name.to_ascii_uppercase();
    let full = match upper.starts_with("SIG") {
        true => upper,
        false => format!("SIG{upper}"),
    };
    full.parse().map_err(|_| bad())
}

/// delete: what `create` made, once the container has stopped; --force
/// kills it first (SIGKILL, and waits until it is gone).
fn delete(root: &Path, rest: &[String]) -> Result<u8> {
    let (force, id) = match rest {
        [flag, id] if flag == "--force" || flag == "-f" => (true, id),
        [id] => (false, id),
        _ => return Err(usage()),
    };
    let state = State::load(root, id)?;
    remove(&state, force)
}

/// Kills (with --force) and removes one container: its process, its groups
/// (the cgroups stage's Drop removes them), its folder.
pub fn remove(state: &State, force: bool) -> Result<u8> {
    let status = state.status();
    if status != "stopped" && !force {
        let id = &state.id;
        let why = format!(
            "cannot delete container {id} that is not stopped: {status}"
        );
        return Err(state::error(why));
    }
    if state.alive() {
        let _ = kill(Pid::from_raw(state.pid), Signal::SIGKILL);
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_secs(10);
        while state.alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    // Its groups, those still there (`cargo xtask clean` may have been
    // first).
    let dirs = state.cgroups.iter().filter(|dir| dir.exists());
    drop(crate::cgroups::Cgroup {
        dirs: dirs.cloned().collect(),
        dir: None,
        limits: crate::cgroups::Limits::DEFAULT,
    });
    fs::remove_dir_all(&state.dir).map_err(|err| {
        state::error(format!("{}: {err}", state.dir.display()))
    })?;
    Ok(0)
}

/// `run`: a bundle of the root filesystem made on the spot (as `runc spec`
/// writes one), then create, start, wait, delete.
pub fn run(command: &[OsString]) -> Result<u8> {
    let root = PathBuf::from(state::ROOT);
    let id = format!("run-{}", std::process::id());
    let bundle = root.join(format!("{id}.bundle"));
    let rootfs = skeleton::rootfs()?;
    fs::create_dir_all(&bundle)
        .map_err(|err| state::error(format!("{}: {err}", bundle.display())))?;
    let _bundle = RemoveDir(bundle.clone());
    // --rootless: a user namespace whose root is uid 700000000 outside.
    let (rootless, command) = skeleton::rootless(command);
    let args: Vec<String> =
        command.iter().map(|a| a.to_string_lossy().into()).collect();
    let mut config = default_spec(&rootfs, &args);
    if rootless {
        let id = crate::userns::HOST_ID_OF_ROOT;
        let map = json!([{"containerID": 0, "hostID": id, "size": 1}]);
        let linux = &mut config["linux"];
        linux["uidMappings"] = map.clone();
        linux["gidMappings"] = map;
        if let Some(all) = linux["namespaces"].as_array_mut() {
            all.push(json!({"type": "user"}));
        }
    }
    fs::write(bundle.join("config.json"), config.to_string())
        .map_err(|err| state::error(format!("{}: {err}", bundle.display())))?;
    // The container dies with us, as every earlier stage's (PR_SET_PDEATHSIG,
    // which `create` alone clears): `run` is attached.
    std::env::set_var(crate::ATTACHED_ENV, "1");
    crate::create(&root, &id, &bundle, None)?;
    let state = State::load(&root, &id)?;
    // `delete --force` on every way out, a panic's unwinding included.
    let _delete = Delete(&state);
    crate::fifo::start(&state)?;
    skeleton::wait_for_child(Pid::from_raw(state.pid))
}

struct Delete<'s>(&'s State);

impl Drop for Delete<'_> {
    fn drop(&mut self) {
        // Ours to reap, when it ended early: a zombie stays in its groups
        // until then, and they could not be removed.
        let pid = Pid::from_raw(self.0.pid);
        let _ = kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        if let Err(failure) = remove(self.0, true) {
            eprintln!("oci: {}", failure.message);
        }
    }
}

struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The spec `run` writes: full's container, as config.json says it.
fn default_spec(rootfs: &Path, args: &[String]) -> serde_json::Value {
    let mount = |to: &str, kind: &str, options: &[&str]| {
        json!({"destination": to, "type": kind, "source": kind,
               "options": options})
    };
    let none = ["nosuid", "noexec", "nodev"];
    let term = std::env::var("TERM").unwrap_or("xterm".into());
    let namespaces = ["pid", "network", "ipc", "uts", "mount", "cgroup"];
    let masked = [
        "acpi",
        "asound",
        "kcore",
        "keys",
        "latency_stats",
        "timer_list",
        "timer_stats",
        "sched_debug",
        "scsi",
    ];
    let masked = masked.iter().map(|p| format!("/proc/{p}"));
    let masked: Vec<String> = masked
        .chain(
            ["/sys/firmware", "/sys/devices/virtual/powercap"].map(Into::into),
        )
        .collect();
    let read_only = ["bus", "fs", "irq", "sys", "sysrq-trigger"];
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "args": args,
            "env": [format!("PATH={PATH}"), "HOME=/root",
                    "HOSTNAME=container", format!("TERM={term}")],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "noNewPrivileges": true,
        },
        "root": {"path": rootfs},
        "hostname": "container",
        "mounts": [
            mount("/proc", "proc", &none),
            mount("/dev", "tmpfs", &["nosuid", "nodev", "noexec", "mode=755"]),
            mount("/dev/pts", "devpts",
                  &["nosuid", "noexec", "newinstance", "ptmxmode=0666"]),
            mount("/dev/mqueue", "mqueue", &none),
            mount("/sys", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
            mount("/sys/fs/cgroup", "cgroup", &[]),
            mount("/tmp", "tmpfs", &["nosuid", "nodev", "mode=1777"]),
        ],
        "linux": {
            "namespaces": namespaces.map(|kind| json!({"type": kind})),
            "resources": {
                "pids": {"limit": 20},
                "memory": {"limit": 100 << 20},
                "cpu": {"quota": 50_000, "period": 100_000},
            },
            "seccomp": seccomp_profile(),
            "maskedPaths": masked,
            "readonlyPaths": read_only.map(|p| format!("/proc/{p}")),
        },
    })
}

/// The usual folders: the host's PATH may name folders the container has
/// not got.
const PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The seccomp stage's filter in config.json's words (config-linux.md,
/// "Seccomp"): its refused calls, the clone(2) flags of new namespaces, the
/// other personalities, AF_VSOCK sockets; clone3(2) as not there (ENOSYS),
/// so a C library falls back to clone(2), whose flags can be seen.
fn seccomp_profile() -> serde_json::Value {
    use crate::seccomp::{CLONE_NEW, PERSONALITIES, REFUSED};
    let eperm = |names: &[&str], args: serde_json::Value| {
        json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
               "args": args})
    };
    let names: Vec<&str> = REFUSED
        .iter()
        .filter_map(|nr| skeleton::syscall_name(*nr))
        .collect();
    let mut calls = vec![eperm(&names, json!([]))];
    for flag in CLONE_NEW {
        let arg = json!({"index": 0, "value": flag, "valueTwo": flag,
                         "op": "SCMP_CMP_MASKED_EQ"});
        calls.push(eperm(&["clone"], json!([arg])));
    }
    let other = PERSONALITIES
        .map(|p| json!({"index": 0, "value": p, "op": "SCMP_CMP_NE"}));
    calls.push(eperm(&["personality"], json!(other)));
    let vsock = json!({"index": 0, "value": nix::libc::AF_VSOCK,
                       "op": "SCMP_CMP_EQ"});
    calls.push(eperm(&["socket"], json!([vsock])));
    calls.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": nix::libc::ENOSYS}));
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": calls})
}

//! What the bench times: the `exec` baseline, the stages (release builds) and the peers that
//! are installed (`unshare`, `bwrap`, `crun`, `runc`), each a program with its arguments; and on a
//! hybrid cgroup host, the private mount namespace crun is started in.

use std::ffi::OsString;
use std::fs::{self, File};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use catalog::Stage;
use hoststate::CgroupLayout;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use serde_json::Value;

use super::measure::{ms, Sample};
use crate::util;

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

/// One thing timed: a program and its arguments.
pub struct Case {
    pub name: String,
    pub what: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// A stage's number, for the step costs.
    pub stage: Option<&'static Stage>,
    /// A stage run with an option (`full --net veth`): ours, but not a step of the talk.
    pub variant_of: Option<&'static Stage>,
    /// Started inside the bench's private mount namespace with a cgroup2 layout (crun on a
    /// hybrid host).
    pub in_cgroup2_ns: bool,
    /// Size of the executable (for peers: without their shared libraries).
    pub binary_bytes: Option<u64>,
    /// Peak RSS, from the forked warm-up rounds.
    pub max_rss_kib: i64,
    pub samples: Vec<Sample>,
    pub failures: Vec<String>,
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
            variant_of: None,
            in_cgroup2_ns: false,
            binary_bytes,
            max_rss_kib: 0,
            samples: Vec::new(),
            failures: Vec::new(),
        }
    }

    pub fn is_peer(&self) -> bool {
        self.stage.is_none() && self.variant_of.is_none() && self.name != "exec"
    }

    pub fn walls_ms(&self) -> Vec<f64> {
        self.samples.iter().map(|s| ms(s.wall)).collect()
    }
}

/// Everything to time, what is skipped and why, and crun's namespace on a hybrid host.
pub struct Plan {
    pub cases: Vec<Case>,
    /// (case, why it is not timed).
    pub skipped: Vec<(String, String)>,
    pub cgroup2_ns: Option<MountNs>,
}

/// The cases: `exec`, then `stages` (built in release; those that need root skipped when not
/// root), then every peer installed. `scratch` holds the OCI bundle and the runtimes' state.
pub fn plan(
    stages: &[&'static Stage],
    root: bool,
    rootfs_dir: &Path,
    scratch: &Path,
) -> Result<Plan> {
    let true_in_rootfs = rootfs_dir.join("bin/true");
    let mut cases: Vec<Case> = Vec::new();
    let mut skipped: Vec<(String, String)> = Vec::new();

    cases.push(Case::new(
        "exec",
        "plain exec of true (baseline)",
        true_in_rootfs.clone(),
        Vec::new(),
    ));

    for stage in stages {
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
            &format!("stage {}: {}", stage.number(), stage.summary),
            binary.clone(),
            vec!["run".into(), target.clone()],
        );
        case.stage = Some(stage);
        cases.push(case);
        // `full --net veth`: what the veth pair adds to the whole container.
        if stage.name == "full" {
            let mut veth = Case::new(
                "full+veth",
                &format!(
                    "stage {} with --net veth: a veth pair to the host (rtnetlink)",
                    stage.number()
                ),
                binary,
                vec!["run".into(), "--net".into(), "veth".into(), target],
            );
            veth.variant_of = Some(stage);
            cases.push(veth);
        }
    }

    let bundle = scratch.join("bundle");
    fs::create_dir_all(&bundle)?;
    fs::write(bundle.join("config.json"), oci_config(rootfs_dir))
        .context("cannot write the OCI bundle's config.json")?;
    let mut cgroup2_ns: Option<MountNs> = None;
    for peer in &PEERS {
        let Some(program) = util::which(peer.program) else {
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
        let args = peer_args(
            peer.name,
            rootfs_dir,
            &bundle,
            &scratch.join(format!("{}-state", peer.name)),
        );
        let mut case = Case::new(peer.name, peer.what, program, args);
        if peer.name == "crun" && hoststate::cgroup_layout() == CgroupLayout::Hybrid {
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
    Ok(Plan {
        cases,
        skipped,
        cgroup2_ns,
    })
}

/// A peer's command line: `true` of the root filesystem in the same five namespaces. crun and
/// runc run the OCI `bundle`, keeping their state in `state`.
fn peer_args(peer: &str, rootfs_dir: &Path, bundle: &Path, state: &Path) -> Vec<OsString> {
    let r = rootfs_dir.as_os_str();
    let id = format!("desde-cero-bench-{}", std::process::id());
    match peer {
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
            bundle.into(),
            id.into(),
        ],
    }
}

/// `apt-get install` of the peers that are missing (root only).
pub fn install_peers(root: bool) -> Result<()> {
    let missing: Vec<&str> = PEERS
        .iter()
        .filter(|p| util::which(p.program).is_none())
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

/// A private mount namespace where the cgroup2 tree is mounted at /sys/fs/cgroup, kept alive by
/// its descriptor; the bench steps into it only to start crun. Closing it removes its mounts.
pub struct MountNs {
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
        // The bench is one thread, so the whole process changes namespace.
        unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
        let made = (|| -> Result<OwnedFd> {
            let none: Option<&str> = None;
            mount(
                Some("none"),
                "/",
                none,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                none,
            )
            .context("mount --make-rprivate /")?;
            mount(
                Some("cgroup2"),
                hoststate::CGROUP_ROOT,
                Some("cgroup2"),
                MsFlags::empty(),
                none,
            )
            .context("mount -t cgroup2 none /sys/fs/cgroup")?;
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

    pub fn enter(&self) -> Result<()> {
        setns(&self.inside, CloneFlags::CLONE_NEWNS).context("setns(mount namespace)")
    }

    pub fn leave(&self) -> Result<()> {
        setns(&self.host, CloneFlags::CLONE_NEWNS).context("setns(mount namespace)")?;
        std::env::set_current_dir(&self.cwd)
            .with_context(|| format!("cannot go back to {}", self.cwd.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oci_config_is_escaped() {
        let text = oci_config(Path::new("/a \"b\""));
        assert!(text.contains(r#""path": "/a \"b\"""#), "{text}");
    }
}

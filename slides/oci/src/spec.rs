//! config.json, the bundle's one file (the runtime spec's config.md and
//! config-linux.md): the fields this stage applies, read from the JSON; what
//! it does not apply is refused by name, never ignored.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use caps::Capability;
use nix::sched::CloneFlags;
use serde_json::Value;
use skeleton::{Failure, Result};

use crate::cgroups::Limits;

/// One entry of `mounts`.
pub struct Mount {
    pub destination: String,
    pub kind: String,
    pub source: String,
    pub options: Vec<String>,
}

/// `process.rlimits`: the resource, its soft and hard limits, its name.
pub struct Rlimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// The process's capabilities by set, as `process.capabilities` names them.
#[derive(Default)]
pub struct Caps {
    pub bounding: Vec<Capability>,
    pub effective: Vec<Capability>,
    pub permitted: Vec<Capability>,
    pub inheritable: Vec<Capability>,
    pub ambient: Vec<Capability>,
}

/// What this stage applies of a config.json.
pub struct Spec {
    pub root: PathBuf,
    pub readonly: bool,
    pub args: Vec<OsString>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub hostname: Option<String>,
    pub namespaces: CloneFlags,
    pub cgroup_ns: bool,
    /// linux.uidMappings and gidMappings, as /proc/<pid>/uid_map lines.
    pub uid_map: String,
    pub gid_map: String,
    pub mounts: Vec<Mount>,
    pub devices: Vec<String>,
    pub masked: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub caps: Option<Caps>,
    pub no_new_privs: bool,
    pub rlimits: Vec<Rlimit>,
    pub limits: Limits,
    pub annotations: Value,
    pub sysctl: Vec<(String, String)>,
    pub seccomp: Vec<seccompiler::BpfProgram>,
}

/// A bundle's problem: one line, exit 1 as runc's.
pub fn bad(message: String) -> Failure {
    Failure { code: 1, message }
}

/// Reads `<bundle>/config.json`, checks it, and resolves root.path against
/// the bundle, as the spec says of a relative path.
pub fn read(bundle: &Path) -> Result<Spec> {
    let file = bundle.join("config.json");
    let text = fs::read_to_string(&file)
        .map_err(|err| bad(format!("{}: {err}", file.display())))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|err| bad(format!("{}: {err}", file.display())))?;
    let version = json["ociVersion"].as_str().unwrap_or("");
    if !version.starts_with("1.") {
        let why = format!("ociVersion {version:?}: this runtime reads 1.x");
        return Err(bad(why));
    }
    refuse_unsupported(&json)?;
    let linux = &json["linux"];
    let user = wants(&linux["namespaces"], "user");
    let mapped =
        !linux["uidMappings"].is_null() || !linux["gidMappings"].is_null();
    if user != mapped {
        let why = "a user namespace needs linux.uidMappings and gidMappings, \
                   and they need one";
        return Err(bad(why.into()));
    }
    let root = bundle.join(text_of(&json["root"]["path"], "root.path")?);
    let process = &json["process"];
    let user = &process["user"];
    Ok(Spec {
        root,
        readonly: json["root"]["readonly"].as_bool().unwrap_or(false),
        args: strings(&process["args"])
            .into_iter()
            .map(OsString::from)
            .collect(),
        env: strings(&process["env"]),
        cwd: process["cwd"].as_str().unwrap_or("/").to_string(),
        uid: user["uid"].as_u64().unwrap_or(0) as u32,
        gid: user["gid"].as_u64().unwrap_or(0) as u32,
        groups: numbers(&user["additionalGids"]),
        hostname: json["hostname"].as_str().map(str::to_string),
        namespaces: namespaces(&linux["namespaces"])?,
        cgroup_ns: wants(&linux["namespaces"], "cgroup"),
        uid_map: id_map(&linux["uidMappings"]),
        gid_map: id_map(&linux["gidMappings"]),
        mounts: mounts(&json["mounts"]),
        devices: devices(&linux["devices"]),
        masked: strings(&linux["maskedPaths"]),
        readonly_paths: strings(&linux["readonlyPaths"]),
        caps: capabilities(&process["capabilities"])?,
        no_new_privs: process["noNewPrivileges"].as_bool().unwrap_or(false),
        rlimits: rlimits(&process["rlimits"]),
        limits: limits(&linux["resources"]),
        annotations: json["annotations"].clone(),
        sysctl: sysctl(&linux["sysctl"])?,
        seccomp: crate::spec_seccomp::compile(&linux["seccomp"])?,
    })
}

/// Fields whose meaning this stage does not give: a runtime that ignored
/// them would run a container other than the one asked for.
fn refuse_unsupported(json: &Value) -> Result<()> {
    let linux = &json["linux"];
    let process = &json["process"];
    let set = |v: &Value| match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    };
    let fields = [
        ("process.terminal (a console socket)", &process["terminal"]),
        ("hooks", &json["hooks"]),
        ("process.apparmorProfile", &process["apparmorProfile"]),
        ("process.selinuxLabel", &process["selinuxLabel"]),
        ("linux.intelRdt", &linux["intelRdt"]),
        ("linux.personality", &linux["personality"]),
    ];
    match fields.iter().find(|(_, value)| set(value)) {
        Some((name, _)) => {
            Err(bad(format!("{name}: not supported by this runtime")))
        }
        None => Ok(()),
    }
}

fn text_of<'v>(value: &'v Value, name: &str) -> Result<&'v str> {
    value
        .as_str()
        .ok_or_else(|| bad(format!("config.json: no {name}")))
}

fn strings(value: &Value) -> Vec<String> {
    let all = value.as_array().map(Vec::as_slice).unwrap_or_default();
    all.iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn numbers(value: &Value) -> Vec<u32> {
    let all = value.as_array().map(Vec::as_slice).unwrap_or_default();
    all.iter()
        .filter_map(|v| v.as_u64().map(|n| n as u32))
        .collect()
}

/// linux.namespaces: new ones only; joining one by its path is refused.
fn namespaces(value: &Value) -> Result<CloneFlags> {
    let mut flags = CloneFlags::empty();
    for ns in value.as_array().map(Vec::as_slice).unwrap_or_default() {
        let kind = ns["type"].as_str().unwrap_or("");
        if ns["path"].as_str().is_some_and(|p| !p.is_empty()) {
            let why = format!("joining the {kind} namespace by path");
            return Err(bad(format!("{why}: not supported by this runtime")));
        }
        flags |= match kind {
            "pid" => CloneFlags::CLONE_NEWPID,
            "network" => CloneFlags::CLONE_NEWNET,
            "mount" => CloneFlags::CLONE_NEWNS,
            "ipc" => CloneFlags::CLONE_NEWIPC,
            "uts" => CloneFlags::CLONE_NEWUTS,
            // Unshared by the child, once in its group (cgroup_ns.rs).
            "cgroup" => CloneFlags::empty(),
            // Its maps written by `create` while the child waits (userns.rs).
            "user" => CloneFlags::CLONE_NEWUSER,
            other => {
                let why = format!("a {other:?} namespace");
                return Err(bad(format!(
                    "{why}: not supported by this runtime"
                )));
            }
        };
    }
    // pivot_root(2) needs a mount namespace of our own; so does the init.
    for (flag, name) in [
        (CloneFlags::CLONE_NEWNS, "mount"),
        (CloneFlags::CLONE_NEWPID, "pid"),
    ] {
        if !flags.contains(flag) {
            let why = format!("no {name} namespace");
            return Err(bad(format!("{why}: not supported by this runtime")));
        }
    }
    Ok(flags)
}

/// Whether linux.namespaces asks for a new one of `kind`.
fn wants(value: &Value, kind: &str) -> bool {
    let all = value.as_array().map(Vec::as_slice).unwrap_or_default();
    all.iter().any(|ns| ns["type"] == kind)
}

/// `containerID hostID size`, a line each, as user_namespaces(7) writes them.
fn id_map(value: &Value) -> String {
    let all = value.as_array().map(Vec::as_slice).unwrap_or_default();
    let line = |m: &Value| {
        let n = |k: &str| m[k].as_u64().unwrap_or(0);
        format!("{} {} {}\n", n("containerID"), n("hostID"), n("size"))
    };
    all.iter().map(line).collect()
}

fn mounts(value: &Value) -> Vec<Mount> {
    let all = value.as_array().map(Vec::as_slice).unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    all.iter()
        .map(|m| Mount {
            destination: text(&m["destination"]),
            kind: text(&m["type"]),
            source: text(&m["source"]),
            options: strings(&m["options"]),
        })
        .collect()
}

fn devices(value: &Value) -> Vec<String> {
    let all = value.as_array().map(Vec::as_slice).unwrap_or_default();
    all.iter()
        .filter_map(|d| d["path"].as_str().map(str::to_string))
        .collect()
}

fn capabilities(value: &Value) -> Result<Option<Caps>> {
    if value.is_null() {
        return Ok(None);
    }
    let set = |name: &str| -> Result<Vec<Capability>> {
        strings(&value[name])
            .iter()
            .map(|cap| {
                cap.parse()
                    .map_err(|_| bad(format!("unknown capability {cap:?}")))
            })
            .collect()
    };
    Ok(Some(Caps {
        bounding: set("bounding")?,
        effective: set("effective")?,
        permitted: set("permitted")?,
        inheritable: set("inheritable")?,
        ambient: set("ambient")?,
    }))
}

fn rlimits(value: &Value) -> Vec<Rlimit> {
    let all = value.as_array().map(Vec::as_slice).unwrap_or_default();
    all.iter()
        .map(|r| Rlimit {
            name: r["type"].as_str().unwrap_or("").to_string(),
            soft: r["soft"].as_u64().unwrap_or(0),
            hard: r["hard"].as_u64().unwrap_or(0),
        })
        .collect()
}

/// linux.resources: pids, memory and cpu, the three the cgroups stage
/// limits; what is not given has no limit (the kernel's own maximum).
fn limits(value: &Value) -> Limits {
    let positive = |v: &Value| v.as_i64().filter(|n| *n > 0).map(|n| n as u64);
    let cpu = &value["cpu"];
    let period = positive(&cpu["period"]).unwrap_or(100_000);
    let quota = positive(&cpu["quota"]).map(|q| q * 100_000 / period);
    Limits {
        // PID_MAX_LIMIT: pids.max takes no more.
        pids: positive(&value["pids"]["limit"]).unwrap_or(4 << 20),
        memory: positive(&value["memory"]["limit"]).unwrap_or(1 << 62),
        // A quota of every CPU (of up to 1024) in each 100 ms period.
        cpu_quota_us: quota.unwrap_or(1024 * 100_000),
    }
}

/// linux.sysctl: only those of the container's own namespaces (net.* of
/// its network, the IPC ones of its IPC): any other would change the host.
fn sysctl(value: &Value) -> Result<Vec<(String, String)>> {
    let all = value.as_object().cloned().unwrap_or_default();
    let own = |key: &str| {
        key.starts_with("net.")
            || key.starts_with("fs.mqueue.")
            || key.starts_with("kernel.shm")
            || key.starts_with("kernel.msg")
            || key == "kernel.sem"
    };
    all.into_iter()
        .map(|(key, v)| match (own(&key), v.as_str()) {
            (true, Some(v)) => Ok((key, v.to_string())),
            _ => Err(bad(format!(
                "linux.sysctl {key}: not supported by this runtime"
            ))),
        })
        .collect()
}

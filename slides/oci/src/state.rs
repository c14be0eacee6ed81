//! The runtime's state, kept between its calls: a folder per container
//! under --root (default /run/desde-cero-oci, a tmpfs: gone at reboot, as
//! the containers are), with state.json and exec.fifo, the FIFO that holds
//! a created container until `start` opens it (runc's exec.fifo).

use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;
use serde_json::{json, Value};
use skeleton::{Failure, Result};

/// --root's default.
pub const ROOT: &str = "/run/desde-cero-oci";
/// The FIFO the created container waits on.
pub const FIFO: &str = "exec.fifo";

/// One container's state.json.
pub struct State {
    pub dir: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid: i32,
    /// When that pid started (/proc/<pid>/stat's 22nd field): a pid the
    /// kernel gave to another process since is not ours.
    pub start_time: u64,
    pub cgroups: Vec<PathBuf>,
    pub annotations: Value,
}

/// A lifecycle error: one line, exit 1 as runc's.
pub fn error(message: String) -> Failure {
    Failure { code: 1, message }
}

/// An id is a folder's name under --root: no `/`, no `.` or `..`.
pub fn check_id(id: &str) -> Result<()> {
    let bad = id.is_empty() || id == "." || id == ".." || id.contains('/');
    match bad || id.contains('\0') {
        true => Err(error(format!("invalid container id {id:?}"))),
        false => Ok(()),
    }
}

impl State {
    /// Makes the container's folder, which must not exist yet (mkdir(2)
    /// fails with EEXIST: two `create`s of one id cannot both win), and its
    /// FIFO.
    pub fn make(root: &Path, id: &str, bundle: &Path) -> Result<State> {
        check_id(id)?;
        fs::create_dir_all(root)
            .map_err(|err| error(format!("mkdir {}: {err}", root.display())))?;
        let dir = root.join(id);
        if let Err(err) = fs::create_dir(&dir) {
            return Err(match err.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    error(format!("container with id exists: {id}"))
                }
                _ => error(format!("mkdir {}: {err}", dir.display())),
            });
        }
        // 0622: a process that is no longer root inside may still open it
        // to write, its one use.
        let fifo = dir.join(FIFO);
        let mode = Mode::from_bits_truncate(0o622);
        // mkfifo(3) applies our umask (022): the mode set again after.
        let made = nix::unistd::mkfifo(&fifo, mode).map_err(|e| e.to_string());
        let made = made.and_then(|()| {
            let mode = std::os::unix::fs::PermissionsExt::from_mode(0o622);
            fs::set_permissions(&fifo, mode).map_err(|e| e.to_string())
        });
        if let Err(err) = made {
            let _ = fs::remove_dir_all(&dir);
            return Err(error(format!("mkfifo {}: {err}", fifo.display())));
        }
        let state = State {
            dir,
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            pid: 0,
            start_time: 0,
            cgroups: Vec::new(),
            annotations: Value::Null,
        };
        // "creating": the child reads its bundle's path from it.
        state.save().inspect_err(|_| {
            let _ = fs::remove_dir_all(&state.dir);
        })?;
        Ok(state)
    }

    /// The state of container `id`, or "does not exist".
    pub fn load(root: &Path, id: &str) -> Result<State> {
        check_id(id)?;
        let dir = root.join(id);
        let file = dir.join("state.json");
        let text = fs::read_to_string(&file)
            .map_err(|_| error(format!("container does not exist: {id}")))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|err| error(format!("{}: {err}", file.display())))?;
        let paths = json["cgroups"].as_array().cloned().unwrap_or_default();
        Ok(State {
            dir,
            id: id.to_string(),
            bundle: PathBuf::from(json["bundle"].as_str().unwrap_or("")),
            pid: json["pid"].as_i64().unwrap_or(0) as i32,
            start_time: json["start_time"].as_u64().unwrap_or(0),
            cgroups: paths
                .iter()
                .filter_map(|p| p.as_str().map(PathBuf::from))
                .collect(),
            annotations: json["annotations"].clone(),
        })
    }

    /// Writes state.json whole, through a file renamed over the old one: a
    /// reader never sees half of it.
    pub fn save(&self) -> Result<()> {
        let json = json!({
            "id": self.id,
            "bundle": self.bundle,
            "pid": self.pid,
            "start_time": self.start_time,
            "cgroups": self.cgroups,
            "annotations": self.annotations,
        });
        let new = self.dir.join("state.json.new");
        fs::write(&new, json.to_string())
            .and_then(|()| fs::rename(&new, self.dir.join("state.json")))
            .map_err(|err| error(format!("{}: {err}", new.display())))
    }

    /// The spec's status: created while the FIFO waits, running once
    /// `start` has taken it, stopped when the process is gone.
    pub fn status(&self) -> &'static str {
        if self.pid == 0 {
            "creating"
        } else if !self.alive() {
            "stopped"
        } else if self.dir.join(FIFO).exists() {
            "created"
        } else {
            "running"
        }
    }

    /// Whether our process still runs: it exists, is not a zombie (its
    /// parent, conmon or the host's init, has not reaped it yet), and
    /// started when ours did.
    pub fn alive(&self) -> bool {
        match stat(self.pid) {
            Some((state, start)) => state != 'Z' && start == self.start_time,
            None => false,
        }
    }

    /// The state as the spec's `state` prints it (runtime.md, "State").
    pub fn to_json(&self) -> Value {
        let status = self.status();
        let pid = if status == "stopped" { 0 } else { self.pid };
        json!({
            "ociVersion": "1.0.2",
            "id": self.id,
            "status": status,
            "pid": pid,
            "bundle": self.bundle,
            "annotations": match &self.annotations {
                Value::Object(_) => self.annotations.clone(),
                _ => json!({}),
            },
        })
    }
}

/// Renames each group `desde-cero-<pid>`, in its own folder (rename(2)
/// moves no process: a group keeps its members under its new name).
pub fn rename_groups(dirs: &[PathBuf], pid: i32) -> Result<Vec<PathBuf>> {
    let name = format!("desde-cero-{pid}");
    dirs.iter()
        .map(|dir| {
            let new = dir.with_file_name(&name);
            fs::rename(dir, &new).map_err(|err| {
                error(format!("rename {}: {err}", dir.display()))
            })?;
            Ok(new)
        })
        .collect()
}

/// A process's state letter and start time, from /proc/<pid>/stat (proc(5)).
pub fn stat(pid: i32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command's name, in parentheses, may hold spaces: after the last ).
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 of the line is the 20th after the name.
    Some((state, fields.get(19)?.parse().ok()?))
}

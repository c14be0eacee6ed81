//! The cgroup a process is in and the pids/memory/cpu limits that apply to it.
//!
//! The path comes from `/proc/self/cgroup`. The limits are read from the cgroup filesystem at
//! `/sys/fs/cgroup`: cgroup v2 (`<root>/<path>/pids.max`, `memory.max`, `cpu.max`, where the v2
//! root is `/sys/fs/cgroup` or, on hybrid hosts, `/sys/fs/cgroup/unified`) and cgroup v1
//! (`/sys/fs/cgroup/<controller>/<path>/pids.max`, `memory.limit_in_bytes`,
//! `cpu.cfs_quota_us` + `cpu.cfs_period_us`). A limit set on a parent cgroup applies too, so
//! the path is walked up to the root and the tightest limit wins.
//!
//! Values are reported as the v2 files write them: `"100"` pids, `"104857600"` bytes,
//! `"50000 100000"` (quota and period in µs). Unlimited is `null`. When `/sys/fs/cgroup` is not
//! reachable from inside (no /sys mounted), all three are `null` and `limits_source` says why.

use std::fs;
use std::path::{Path, PathBuf};

use crate::json::Json;

const CGROUP_FS: &str = "/sys/fs/cgroup";

/// One line of /proc/self/cgroup: `hierarchy:controllers:path`.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse(lines: &[String]) -> Vec<Line> {
    lines
        .iter()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _hierarchy = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(Line {
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// The path to report: the v2 (unified) one, else the pids controller's, else the first.
pub fn main_path(lines: &[Line]) -> Option<String> {
    lines
        .iter()
        .find(|l| l.controllers.is_empty())
        .or_else(|| {
            lines
                .iter()
                .find(|l| l.controllers.iter().any(|c| c == "pids"))
        })
        .or_else(|| lines.first())
        .map(|l| l.path.clone())
}

/// `{path, lines}` for the report.
pub fn report(raw: &[String]) -> Json {
    let lines = parse(raw);
    Json::obj().with("path", main_path(&lines)).with(
        "lines",
        raw.iter()
            .map(|l| Json::from(l.as_str()))
            .collect::<Vec<_>>(),
    )
}

/// The limits found and where they were looked for.
#[derive(Debug, Default, PartialEq)]
pub struct Limits {
    pub pids_max: Option<String>,
    pub memory_max: Option<String>,
    pub cpu_max: Option<String>,
    pub source: String,
}

impl Limits {
    pub fn json(&self) -> Json {
        Json::obj()
            .with("pids_max", self.pids_max.clone())
            .with("memory_max", self.memory_max.clone())
            .with("cpu_max", self.cpu_max.clone())
    }
}

/// Finds the limits for the cgroup lines `raw` (None when /proc/self/cgroup was unreadable).
pub fn limits(raw: Option<&[String]>) -> Limits {
    let Some(raw) = raw else {
        return Limits {
            source: "unknown: /proc/self/cgroup is not readable (is /proc mounted?)".into(),
            ..Limits::default()
        };
    };
    if !Path::new(CGROUP_FS).is_dir()
        || fs::read_dir(CGROUP_FS).map_or(true, |mut d| d.next().is_none())
    {
        return Limits {
            source: format!("unreachable: nothing is mounted at {CGROUP_FS} in here"),
            ..Limits::default()
        };
    }
    let lines = parse(raw);
    let mut out = Limits::default();
    let mut looked = Vec::new();

    // cgroup v2: the line with no controllers.
    if let (Some(line), Some(root)) = (lines.iter().find(|l| l.controllers.is_empty()), v2_root()) {
        if let Some(dir) = below(&root, &line.path) {
            looked.push(format!("v2 {}", dir.display()));
            out.pids_max = tightest(&root, &dir, |d| number(d, "pids.max"));
            out.memory_max = tightest(&root, &dir, |d| number(d, "memory.max"));
            out.cpu_max = tightest(&root, &dir, cpu_v2);
        }
    }
    // cgroup v1: one hierarchy per controller; only used for what v2 did not limit.
    for (controller, file) in [
        ("pids", "pids.max"),
        ("memory", "memory.limit_in_bytes"),
        ("cpu", ""),
    ] {
        let Some(line) = lines
            .iter()
            .find(|l| l.controllers.iter().any(|c| c == controller))
        else {
            continue;
        };
        let Some((root, dir)) = v1_dir(line, controller) else {
            continue;
        };
        looked.push(format!("v1 {}", dir.display()));
        let value = match controller {
            "cpu" => tightest(&root, &dir, cpu_v1),
            "memory" => tightest(&root, &dir, memory_v1),
            _ => tightest(&root, &dir, |d| number(d, file)),
        };
        let slot = match controller {
            "pids" => &mut out.pids_max,
            "memory" => &mut out.memory_max,
            _ => &mut out.cpu_max,
        };
        if slot.is_none() {
            *slot = value;
        }
    }
    out.source = if looked.is_empty() {
        format!("unreachable: this process's cgroups are not visible under {CGROUP_FS}")
    } else {
        format!("cgroup {}", looked.join(", "))
    };
    out
}

/// The cgroup v2 mount: /sys/fs/cgroup itself, or /sys/fs/cgroup/unified on hybrid hosts (the
/// layout as doctor, bench and the tests read it: `hoststate`).
fn v2_root() -> Option<PathBuf> {
    hoststate::cgroup2_root(hoststate::cgroup_layout())
}

/// The folder of a v1 controller's cgroup: the mount may be named after the controller or after
/// its whole group (`cpu,cpuacct`).
fn v1_dir(line: &Line, controller: &str) -> Option<(PathBuf, PathBuf)> {
    let joined = line.controllers.join(",");
    [controller.to_string(), joined]
        .into_iter()
        .map(|name| Path::new(CGROUP_FS).join(name))
        .filter(|root| root.is_dir())
        .find_map(|root| below(&root, &line.path).map(|dir| (root, dir)))
}

/// `root` + the cgroup path, if that folder exists. A path outside this cgroup namespace's view
/// (`/../..`) has no folder.
fn below(root: &Path, path: &str) -> Option<PathBuf> {
    if path.split('/').any(|p| p == "..") {
        return None;
    }
    let rel = path.trim_matches('/');
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    dir.is_dir().then_some(dir)
}

/// Walks from `dir` up to `root` and keeps the tightest limit `read` finds.
fn tightest(root: &Path, dir: &Path, read: impl Fn(&Path) -> Option<String>) -> Option<String> {
    let mut best: Option<String> = None;
    let mut here = Some(dir);
    while let Some(d) = here {
        if let Some(value) = read(d) {
            if best.as_ref().map_or(true, |b| weight(&value) < weight(b)) {
                best = Some(value);
            }
        }
        if d == root {
            break;
        }
        here = d.parent().filter(|p| p.starts_with(root));
    }
    best
}

/// How loose a limit is, to compare two: a number, or quota/period for cpu.
fn weight(value: &str) -> f64 {
    let mut parts = value.split(' ');
    let first: f64 = parts
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::MAX);
    match parts.next().and_then(|p| p.parse::<f64>().ok()) {
        Some(period) if period > 0.0 => first / period,
        _ => first,
    }
}

fn read_trim(dir: &Path, file: &str) -> Option<String> {
    fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// A file holding a number or `max`: `max` (unlimited) and a missing file are None.
fn number(dir: &Path, file: &str) -> Option<String> {
    read_trim(dir, file).filter(|v| v != "max" && v.parse::<u64>().is_ok())
}

/// v2 `cpu.max`: `max 100000` is unlimited.
fn cpu_v2(dir: &Path) -> Option<String> {
    read_trim(dir, "cpu.max").filter(|v| !v.starts_with("max"))
}

/// v1 memory: "unlimited" is a huge number (PAGE_COUNTER_MAX pages, rounded).
fn memory_v1(dir: &Path) -> Option<String> {
    let value = read_trim(dir, "memory.limit_in_bytes")?;
    let bytes: u64 = value.parse().ok()?;
    (bytes < 1 << 62).then_some(value)
}

/// v1 cpu: quota -1 is unlimited; reported in v2's `quota period` form.
fn cpu_v1(dir: &Path) -> Option<String> {
    let quota: i64 = read_trim(dir, "cpu.cfs_quota_us")?.parse().ok()?;
    let period = read_trim(dir, "cpu.cfs_period_us")?;
    (quota > 0).then(|| format!("{quota} {period}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_and_v2_lines() {
        let raw: Vec<String> = ["4:memory:/a/b", "2:cpu,cpuacct:/", "0::/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let lines = parse(&raw);
        assert_eq!(lines[1].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(main_path(&lines).as_deref(), Some("/x"));
        assert_eq!(main_path(&lines[..1]).as_deref(), Some("/a/b"));
    }

    #[test]
    fn tighter_limits_weigh_less() {
        assert!(weight("50000 100000") < weight("100000 100000"));
        assert!(weight("10") < weight("100"));
    }
}

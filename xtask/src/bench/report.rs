//! The bench's report: the table (with what each case runs, the step costs, `cargo xtask run`'s
//! overhead and the build times) and the same as JSON.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use super::cases::Case;
use super::measure::{median, ms, Sample, WARM_UP};

/// The case every ratio is taken against.
const REFERENCE: &str = "unshare";

/// Everything measured, printed as text or JSON.
pub struct Report {
    pub runs: usize,
    pub rootfs: PathBuf,
    pub root: bool,
    pub cases: Vec<Case>,
    pub skipped: Vec<(String, String)>,
    pub broken: Vec<(String, String)>,
    /// Medians of `cargo xtask run base1 -- true` and of the bare binary, ms.
    pub xtask_run: Option<(f64, f64)>,
    /// Clean build of the workspace, debug and release, seconds.
    pub build_time: Option<(f64, f64)>,
}

/// One row's numbers.
pub struct Row<'a> {
    pub case: &'a Case,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub ratio: Option<f64>,
    pub max_rss_kib: i64,
    pub user: f64,
    pub sys: f64,
}

impl Report {
    pub fn rows(&self) -> Vec<Row<'_>> {
        let reference = self.cases.iter().find(|c| c.name == REFERENCE);
        self.cases
            .iter()
            .filter(|c| !c.samples.is_empty())
            .map(|case| {
                let walls = case.walls_ms();
                // Ratio round by round (see `paired`).
                let ratio = reference.and_then(|r| self.paired(case, r, |a, b| a / b));
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

    /// (variant, its stage, median of the per-round differences in ms): what an option such as
    /// `--net veth` adds to its stage, paired round by round.
    fn variant_costs(&self) -> Vec<(&str, &str, f64)> {
        let mut out = Vec::new();
        for case in &self.cases {
            let Some(stage) = case.variant_of else {
                continue;
            };
            let Some(base) = self.cases.iter().find(|c| c.stage == Some(stage)) else {
                continue;
            };
            if let Some(d) = self.paired(case, base, |a, b| a - b) {
                out.push((case.name.as_str(), stage.name, d));
            }
        }
        out
    }

    /// The median over the rounds of `f(case's wall, other's wall)` in ms: each sample paired
    /// with the other case's of the same round; a round where either failed is left out.
    fn paired(&self, case: &Case, other: &Case, f: fn(f64, f64) -> f64) -> Option<f64> {
        let mut by_round = vec![None; self.runs];
        for s in &other.samples {
            by_round[s.round] = Some(ms(s.wall));
        }
        let values: Vec<f64> = case
            .samples
            .iter()
            .filter_map(|a| by_round[a.round].map(|b| f(ms(a.wall), b)))
            .collect();
        (!values.is_empty()).then(|| median(&values))
    }

    pub fn text(&self) -> String {
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
        // The first column as wide as the longest name (`capabilities`).
        let width = self.cases.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let _ = writeln!(
            w,
            "{:<width$} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9}",
            "case", "median", "min", "max", "×unshare", "peak RSS", "user", "sys", "binary"
        );
        for r in self.rows() {
            let _ = writeln!(
                w,
                "{:<width$} {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>9} {:>5.1} MiB {:>5.2} ms {:>5.2} ms {:>9}",
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
        for (variant, stage, d) in self.variant_costs() {
            let _ = writeln!(
                w,
                "  {variant:<8} {d:>+7.2} ms  (over {stage}, the median of the per-round differences)"
            );
        }
        if let Some((cargo, bare)) = self.xtask_run {
            let _ = writeln!(
                w,
                "\n`cargo xtask run base1 -- true` on a warm build: {cargo:.0} ms; \
                 the bare binary: {bare:.1} ms; cargo xtask adds {:.0} ms",
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

    pub fn json(&self) -> String {
        // Four decimals are plenty for milliseconds; NaN and infinities become null.
        let num = |x: f64| json!((x * 1e4).round() / 1e4);
        let cases: Vec<Value> = self
            .rows()
            .iter()
            .map(|r| {
                let kind = if r.case.stage.is_some() {
                    "stage"
                } else if r.case.variant_of.is_some() {
                    "variant"
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
            "variants": self
                .variant_costs()
                .iter()
                .map(|(v, s, d)| json!({"name": v, "stage": s, "extra_ms": num(*d)}))
                .collect::<Vec<_>>(),
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
    let layout = hoststate::cgroup_layout().describe();
    format!("Linux {}, {cpus} × {model}, cgroup {layout}", kernel.trim())
}

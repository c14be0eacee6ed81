//! `cargo xtask exercise <stage> --check`: your version of a stage against the real one.
//!
//! 1. Your version is built as you (a compile error is the compiler's own message, exit 1), the
//!    real stage too; then the rest runs as root, through sudo when you are not.
//! 2. In the check's sandbox (sandbox.rs), `<stage> run true`, once: a version that panics,
//!    fails or hangs (killed at 20 s, with all it started) stops the check there, with the
//!    panic's message or its last line.
//! 3. The stage's row of the isolation matrix, for your version and for the real stage:
//!    `cargo xtask matrix --json --prebuilt` (matrix.rs judges what the probe sees, and runs
//!    every attack), with a folder holding the one binary. Every property and every attack
//!    must come out as for the real stage: an attack must fail against yours exactly when it
//!    fails against the stage.
//! 4. The demos of the stage's notes (its own blocks, not the ones shown in another stage),
//!    compared with what the notes promise, as `tests/notes.rs` does; only once the row matches:
//!    the demos assume the isolation (one sends SIGTERM to PID 1, one writes in /etc).
//! 5. After every run, what it left on the host is removed and counts as a difference.
//!
//! Exit 0 only when nothing differs. The outcome is kept for `cargo xtask exercise`'s list.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use catalog::{Attack, Property, Stage};
use serde_json::Value;

use super::sandbox::{self, Ran, Sandbox};
use crate::{cli, rootfs, util};

/// How long the matrix may take for one stage (it kills a stage after 60 s itself).
const MATRIX_LIMIT: Duration = Duration::from_secs(150);

pub fn run(stage: &'static Stage, prebuilt: bool) -> Result<u8> {
    let dir = super::crate_dir(stage);
    if !dir.join("Cargo.toml").is_file() {
        bail!(
            "no exercise {} yet: `cargo xtask exercise {}` starts it",
            stage.name,
            stage.name
        );
    }
    let rootfs_dir = if prebuilt {
        rootfs::default_dir()
    } else {
        println!("exercise {}: building your version", stage.name);
        if let Err(err) = super::build(stage) {
            let line = "your version does not build: the compiler's message is above";
            println!("✗ {line}");
            eprintln!("({err:#})");
            super::record(stage, false, "does not build");
            return Ok(1);
        }
        util::build_stage(stage, false)?;
        rootfs::ensure()?
    };
    if !util::is_root() {
        eprintln!("exercise: running your version needs root: the rest through sudo");
        let keep = [
            rootfs::ENV_VAR,
            super::ENV_VAR,
            "DESDE_CERO_BIN_DIR",
            "CARGO_TARGET_DIR",
        ];
        let xtask = sandbox::xtask()?;
        let mut sudo = util::as_root(true, xtask, &["sudo"], &keep, Some(&rootfs_dir));
        sudo.args(["exercise", stage.name, "--check", "--prebuilt"]);
        return Err(sudo.exec())
            .context("cannot start sudo: run `cargo xtask exercise --check` as root");
    }
    let yours = super::binary(stage);
    if !yours.is_file() {
        bail!("your version is not built: no {}", yours.display());
    }
    let real = real_binary(stage)?;
    // Before any thread, for unshare(2).
    let scratch = super::target_dir().join(format!("check-{}", std::process::id()));
    let sandbox = Sandbox::enter(&rootfs_dir, &scratch.join("sandbox"))?;
    let outcome = judge(stage, &yours, &real, &sandbox, &scratch);
    drop(sandbox);
    let _ = fs::remove_dir_all(&scratch);
    let report = outcome?;
    print!("{}", report.text);
    super::record(stage, report.differences == 0, &report.summary);
    Ok(if report.differences == 0 { 0 } else { 1 })
}

/// The real stage's binary: in `$DESDE_CERO_BIN_DIR` when it is set, else cargo's.
fn real_binary(stage: &Stage) -> Result<PathBuf> {
    let bin = match std::env::var_os("DESDE_CERO_BIN_DIR") {
        Some(dir) => PathBuf::from(dir).join(stage.name),
        None => util::stage_binary(stage, false),
    };
    if !bin.is_file() {
        bail!("the real stage is not built: no {}", bin.display());
    }
    Ok(bin)
}

/// What the check found: the text to print, how many things differ, one line for the record.
struct Report {
    text: String,
    differences: usize,
    summary: String,
}

/// Lines of a report, each wrapped to 80 columns under its first word.
#[derive(Default)]
struct Lines {
    text: String,
    differences: usize,
}

impl Lines {
    fn heading(&mut self, text: &str) {
        self.text.push_str(&cli::wrap(text, cli::WIDTH, 2));
    }

    fn holds(&mut self, text: &str) {
        self.text
            .push_str(&cli::wrap(&format!("  ✓ {text}"), cli::WIDTH, 4));
    }

    fn differs(&mut self, text: &str) {
        self.differences += 1;
        self.text
            .push_str(&cli::wrap(&format!("  ✗ {text}"), cli::WIDTH, 4));
    }

    /// Lines shown as they are (a command's output, a panic's message), indented; a long one
    /// goes on under itself.
    fn verbatim(&mut self, text: &str) {
        for line in text.lines() {
            self.text
                .push_str(&cli::wrap(&format!("      {line}"), cli::WIDTH, 8));
        }
    }
}

fn judge(
    stage: &'static Stage,
    yours: &Path,
    real: &Path,
    sandbox: &Sandbox,
    scratch: &Path,
) -> Result<Report> {
    let mut out = Lines::default();
    out.heading(&format!(
        "exercise {} {}: your version ({}) against the real stage",
        stage.number(),
        stage.name,
        super::shown(&super::crate_dir(stage))
    ));
    // 2. Does it run at all?
    let mut smoke = Command::new(yours);
    smoke.args(["run", "true"]).env("DESDE_CERO_QUIET", "1");
    let ran = sandbox.run(&mut smoke)?;
    let left = sandbox.tidy();
    let failed = if ran.timed_out {
        Some(format!(
            "your version hangs: `{} run true` still ran after {} s; it was killed, with all it \
             started",
            stage.name,
            sandbox::time_limit().as_secs()
        ))
    } else if ran.code != 0 {
        Some(format!(
            "your version does not run: `{} run true` exited {}:",
            stage.name, ran.code
        ))
    } else {
        None
    };
    if let Some(failed) = failed {
        out.differs(&failed);
        out.verbatim(&why(&ran));
        leftovers(&mut out, &left);
        out.heading("once it runs, the check looks for what the stage adds:");
        for p in stage.adds {
            out.text
                .push_str(&cli::wrap(&format!("    {p}: {}", p.description()), 80, 6));
        }
        for a in new_stops(stage) {
            let line = format!("    attack {a} fails ({})", a.description());
            out.text.push_str(&cli::wrap(&line, 80, 6));
        }
        let summary = failed.trim_end_matches(':').to_string();
        return Ok(finish(stage, out, summary));
    }
    leftovers(&mut out, &left);

    // 3. The matrix's row, yours against the real stage's.
    let theirs = row(sandbox, stage, real, &scratch.join("real"))?;
    if let Some(err) = &theirs.error {
        bail!("the real stage gave the matrix no report here: {err}");
    }
    let mine = row(sandbox, stage, yours, &scratch.join("yours"))?;
    let left = sandbox.tidy();
    out.heading("isolation, as the probe sees it from inside:");
    match &mine.error {
        Some(err) => out.differs(&format!("the probe gave no report in your version: {err}")),
        None => compare(stage, &theirs, &mine, &mut out),
    }
    leftovers(&mut out, &left);

    // 4. The demos, once the isolation holds.
    let notes_path = Path::new("slides").join(stage.name).join("README.md");
    let text = fs::read_to_string(util::project_root().join(&notes_path))
        .with_context(|| format!("cannot read {}", notes_path.display()))?;
    let demos: Vec<notes::Demo> = notes::demos(&text)
        .map_err(|why| anyhow::anyhow!("{}: {why}", notes_path.display()))?
        .into_iter()
        .filter(|d| d.stage.is_none())
        .collect();
    out.heading(&format!("the demos of {}:", notes_path.display()));
    if out.differences > 0 {
        out.text.push_str(&cli::wrap(
            "    not run until everything above holds: they assume the stage's isolation \
             (one sends SIGTERM to PID 1, one writes in /etc)",
            cli::WIDTH,
            4,
        ));
    } else {
        for demo in &demos {
            let mut cmd = Command::new(yours);
            cmd.args(["run", "sh", "-c", &demo.command]);
            let ran = sandbox.run(&mut cmd)?;
            let left = sandbox.tidy();
            let shown = format!("`$ {}` (line {})", demo.command, demo.line);
            if ran.timed_out {
                out.differs(&format!(
                    "{shown}: still ran after {} s; killed",
                    sandbox::time_limit().as_secs()
                ));
            } else if ran.code != demo.exit {
                out.differs(&format!(
                    "{shown}: exited {}, the notes say {}",
                    ran.code, demo.exit
                ));
                out.verbatim(&why(&ran));
            } else {
                match notes::check_output(&demo.expected, &ran.stdout) {
                    Ok(()) => out.holds(&format!("`$ {}`", demo.command)),
                    Err(diff) => {
                        out.differs(&format!("{shown}: prints other than the notes"));
                        out.verbatim(&diff);
                    }
                }
            }
            leftovers(&mut out, &left);
        }
    }
    let summary = match out.differences {
        0 => "matches the real stage".to_string(),
        1 => "1 thing differs from the real stage".to_string(),
        n => format!("{n} things differ from the real stage"),
    };
    Ok(finish(stage, out, summary))
}

fn finish(stage: &Stage, mut out: Lines, summary: String) -> Report {
    let last = if out.differences == 0 {
        format!(
            "passing: your {} matches the real stage: its isolation, its attacks and its demos",
            stage.name
        )
    } else {
        format!(
            "not yet: {summary}. The hints are in your code; `cargo xtask exercise {} \
             --solution` shows the real step.",
            stage.name
        )
    };
    out.text.push('\n');
    out.text.push_str(&cli::wrap(&last, cli::WIDTH, 0));
    Report {
        text: out.text,
        differences: out.differences,
        summary,
    }
}

/// What a run left on the host, each a difference.
fn leftovers(out: &mut Lines, left: &[String]) {
    for line in left {
        out.differs(&format!("{line} (removed now)"));
    }
}

/// Why a run failed: the panics' messages, else its last lines on stderr.
fn why(ran: &Ran) -> String {
    let lines: Vec<&str> = ran.stderr.lines().collect();
    let mut panics = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some((_, at)) = line.split_once(" panicked at ") {
            let message = lines.get(i + 1).map_or("", |l| l.trim());
            let at = at.trim().trim_end_matches(':');
            // A panic of the standard library's own (one while unwinding) has no place of
            // the student's to show.
            match at.starts_with("/rustc/") {
                true => panics.push(format!("then: {message}")),
                false => panics.push(format!("panicked at {at}: {message}")),
            }
        }
    }
    if !panics.is_empty() {
        return panics.join("\n");
    }
    let last: Vec<&str> = lines
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .copied()
        .collect();
    match last.is_empty() {
        true => "(nothing on stderr)".to_string(),
        false => last.into_iter().rev().collect::<Vec<_>>().join("\n"),
    }
}

/// The attacks a stage stops that the stage before it does not.
fn new_stops(stage: &Stage) -> Vec<Attack> {
    let before: &[Attack] = catalog::previous(stage).map_or(&[], |s| s.stops);
    stage
        .stops
        .iter()
        .copied()
        .filter(|a| !before.contains(a))
        .collect()
}

/// One stage's row of the matrix.
struct Row {
    /// Why there is no report, when there is none.
    error: Option<String>,
    has: BTreeSet<Property>,
    stopped: BTreeSet<Attack>,
    /// The probe's line on each attack.
    details: BTreeMap<Attack, String>,
}

/// `cargo xtask matrix --json --prebuilt` with `binary` as the stage's, alone in `bin_dir`.
fn row(sandbox: &Sandbox, stage: &Stage, binary: &Path, bin_dir: &Path) -> Result<Row> {
    fs::create_dir_all(bin_dir)?;
    let link = bin_dir.join(stage.name);
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(binary, &link)
        .with_context(|| format!("cannot link {}", link.display()))?;
    let mut cmd = Command::new(sandbox::xtask()?);
    cmd.args(["matrix", "--json", "--prebuilt"])
        .env("DESDE_CERO_BIN_DIR", bin_dir);
    let ran = sandbox.run_within(&mut cmd, MATRIX_LIMIT)?;
    if ran.timed_out {
        bail!("the matrix still ran after {} s", MATRIX_LIMIT.as_secs());
    }
    let json: Value = serde_json::from_str(ran.stdout.trim())
        .map_err(|err| anyhow::anyhow!("the matrix printed no JSON ({err}): {}", why(&ran)))?;
    let found = json["stages"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == stage.name))
        .context("the matrix has no row for the stage")?;
    if found["status"] != "ok" {
        let err = found["error"].as_str().unwrap_or("no report").to_string();
        return Ok(Row {
            error: Some(err),
            has: BTreeSet::new(),
            stopped: BTreeSet::new(),
            details: BTreeMap::new(),
        });
    }
    let labels = |key: &str| -> Vec<String> {
        found[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let has = labels("observed");
    let stopped = labels("stops_observed");
    Ok(Row {
        error: None,
        has: Property::ALL
            .iter()
            .copied()
            .filter(|p| has.iter().any(|l| l == p.label()))
            .collect(),
        stopped: Attack::ALL
            .iter()
            .copied()
            .filter(|a| stopped.iter().any(|l| l == a.label()))
            .collect(),
        details: Attack::ALL
            .iter()
            .map(|a| {
                let detail = found["attacks"][a.label()]["detail"].as_str().unwrap_or("");
                (*a, detail.to_string())
            })
            .collect(),
    })
}

/// Your row against the real stage's: the stage's own properties and new attacks always
/// shown, the rest only where they differ.
fn compare(stage: &Stage, real: &Row, yours: &Row, out: &mut Lines) {
    let mut same = 0;
    for &p in Property::ALL {
        let (want, got) = (real.has.contains(&p), yours.has.contains(&p));
        match (want, got) {
            (true, false) => out.differs(&format!("{p}: {}", missing(p))),
            (false, true) => out.differs(&format!(
                "{p}: your version has it ({}), the real stage has not",
                p.description()
            )),
            (true, true) if stage.adds.contains(&p) => {
                out.holds(&format!("{p}: {}", p.description()))
            }
            _ => same += 1,
        }
    }
    let new = new_stops(stage);
    for &a in Attack::ALL {
        let (want, got) = (real.stopped.contains(&a), yours.stopped.contains(&a));
        let detail = yours.details.get(&a).map_or("", String::as_str);
        match (want, got) {
            (true, false) => out.differs(&format!(
                "attack {a} gets through: {} ({detail})",
                a.description()
            )),
            (false, true) => out.differs(&format!(
                "attack {a} fails against your version, and gets through the real stage \
                 ({detail})"
            )),
            (true, true) if new.contains(&a) => out.holds(&format!("attack {a} fails: {detail}")),
            _ => same += 1,
        }
    }
    if same > 0 {
        out.holds(&format!(
            "{same} more properties and attacks as in the real stage (cargo xtask matrix shows \
             them all)"
        ));
    }
}

/// What it means for the command that a property is missing, in plain words.
fn missing(p: Property) -> &'static str {
    match p {
        Property::UtsNs => {
            "the command shares the host's UTS namespace: the child has no UTS namespace of its \
             own"
        }
        Property::Hostname => {
            "the command still sees the host's hostname: nothing named the container `container`"
        }
        Property::PidNs => {
            "the command sees the host's processes: the child has no PID namespace of its own"
        }
        Property::Pid1 => {
            "the container's first process is not PID 1: it is numbered among the host's \
             processes"
        }
        Property::OwnRoot => {
            "the command's `/` is the host's: the child did not change its root to the \
             container's root filesystem"
        }
        Property::MountNs => {
            "the command shares the host's mount table: the child has no mount namespace of its \
             own"
        }
        Property::ProcIsolated => {
            "/proc inside does not list the container's processes alone: no procfs of the \
             container's own is mounted there"
        }
        Property::PidsLimit => {
            "no pids limit applies to the command: it is not in a group with its own pids.max"
        }
        Property::MemoryLimit => {
            "no memory limit applies to the command: it is not in a group with a memory limit \
             of its own"
        }
        Property::CpuLimit => {
            "no cpu limit applies to the command: it is not in a group with a cpu quota of its \
             own"
        }
        Property::IpcNs => {
            "the command sees the host's System V objects and POSIX queues: the child has no \
             IPC namespace of its own"
        }
        Property::NetNs => {
            "the command sees the host's network interfaces: the child has no network \
             namespace of its own"
        }
        Property::UserNs => {
            "the command is in the host's user namespace: the child has no user namespace of \
             its own"
        }
        Property::RootNotHostRoot => {
            "root inside is root on the host: no uid map makes it an ordinary user outside"
        }
        Property::CgroupNs => {
            "the command sees the host's cgroup tree: the child has no cgroup namespace of its \
             own"
        }
        Property::CapsReduced => {
            "root inside keeps every capability: the sets are not cut to docker's 14"
        }
        Property::NoNewPrivs => {
            "no_new_privs is not set: a setuid-root program could still give privileges back"
        }
        Property::HostRootUnreachable => {
            "the host's `/` can still be reached from inside: the double-chroot escape gets out"
        }
    }
}

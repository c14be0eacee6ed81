//! `cargo xtask slides [--lang en|es] [--out DIR] [--no-run]`: the talk as a slide deck that
//! cannot go stale, because it is made from what the rest of the repository checks.
//!
//! One HTML file (`index.html`), its CSS and JavaScript inline, nothing fetched: it opens from
//! disk in any current browser, offline, and a Content-Security-Policy meta (`default-src
//! 'none'`) makes sure no request can leave it. Per stage, from the catalog, the notes and the
//! code: its one idea, a picture of what isolates the process (each stage adds to it), its row
//! of the isolation matrix and the attacks it stops, the diff from the stage before (code
//! first: comment-only hunks folded, as `cargo xtask diff --code`), and its demos with the
//! output recorded now, from a real run inside the stage (when, and on what kernel, is said on
//! the slide). Then a closing slide with the whole matrix. The speaker notes are each stage's
//! README, in a speaker view (key `s`) the audience screen does not show.
//!
//! The page's own keys, its speaker view and its self-test (`#selftest`, which the test suite
//! runs in headless Chromium: `crates/testkit/tests/slides.rs`) are in `slides/deck.js`.
//!
//! No dependency of its own: it adds nothing to the build `cargo xtask run` starts with but
//! these few modules.

mod code;
mod demo;
mod highlight;
mod html;
mod isolation;
mod markdown;

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use catalog::Stage;
use notes::Demo;

use crate::diff;
use crate::plan::{self, Plan};
use crate::present::lang::{self, Lang};
use crate::util;
use crate::{cli, rootfs};

pub const CLI: cli::Command = cli::Command {
    name: "slides",
    about: "the talk as a slide deck: one HTML file, offline, demos recorded now",
    args: &[
        lang::FLAG,
        cli::option(
            "out",
            "DIR",
            "where to write index.html (default: target/slides/<lang>)",
        ),
        cli::flag(
            "no-run",
            "do not run the demos: show the output their notes promise",
        ),
        plan::ROUTE_FLAG,
        plan::STAGES_FLAG,
    ],
    rest: None,
    notes: "Open DIR/index.html in a browser (from disk: no server needed). Keys: right, \
            space or page down go on; left or page up back; Home, End; a stage's number then \
            Enter jumps to it; s opens the speaker view (notes, timer) in a second window; f \
            full screen. Print to PDF gives one slide per page.\n\n\
            With --route or --stages: those stages only, with the route's demos and code \
            pages; the speaker view shows each stage's script above its notes, and where the \
            talk stands against the plan (`pid · 12:40 of 45:00 · +1:10`).\n\n\
            The demos run inside their stages as `present` runs them (as root, through sudo \
            when you are not root), and their output is recorded in the deck.",
};

/// The widest a diff line is, in columns: the slides' 80, plus the diff's sign.
pub const DIFF_COLUMNS: usize = 81;

/// How long one demo may take before it is killed.
const DEMO_LIMIT: Duration = Duration::from_secs(60);

/// Everything the deck shows, gathered before any HTML is written.
pub struct Deck {
    pub lang: Lang,
    /// The route (or `--stages` list) the deck follows; `None`: every stage.
    pub plan: Option<Plan>,
    /// When the demos ran (UTC), on what kernel and machine; `None` with `--no-run`.
    pub recorded: Option<Recorded>,
    pub stages: Vec<Part>,
}

pub struct Recorded {
    pub when: String,
    pub kernel: String,
    pub arch: &'static str,
}

/// One stage's part of the deck.
pub struct Part {
    pub stage: &'static Stage,
    /// The stage's notes (README.md or README.es.md), Markdown.
    pub notes: String,
    /// The diff's heading (`What pid adds to uts: code +9 -0, comments +27 -0`).
    pub diff_heading: String,
    /// The diff from the stage before, code first (folded).
    pub diff: Vec<diff::FileDiff>,
    /// Whether the stage installs the syscall filter (it has the `seccomp.rs` step): the one
    /// layer of the picture that is no property of the catalog.
    pub filter: bool,
    pub demos: Vec<DemoRun>,
    /// How many pages of the diff are shown.
    pub code_pages: usize,
    /// The speaker's script (`## Script` of the notes), for a planned deck's speaker view.
    pub script: Vec<String>,
}

/// A demo of the notes and what it did when the deck was built.
pub struct DemoRun {
    pub demo: Demo,
    pub outcome: Outcome,
}

pub enum Outcome {
    /// It ran: its output lines in the order they came (`true`: from stderr, the stage's own
    /// teaching lines), its exit status, and whether it printed and exited as the notes say.
    Ran {
        lines: Vec<(bool, String)>,
        code: i32,
        as_promised: bool,
    },
    /// Not run (`--no-run`, or it could not start): the notes' own output is shown instead.
    NotRun(String),
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let args = CLI.parse(args)?;
    let lang = Lang::from_args(&args)?;
    let run = !args.flag("no-run");
    let out_dir = match args.value("out") {
        Some(dir) => PathBuf::from(dir),
        None => util::target_dir().join("slides").join(lang.code()),
    };
    let plan = Plan::from_args(&args)?;
    let root = util::project_root();
    let started = Instant::now();

    let mut parts = Vec::new();
    match &plan {
        None => {
            for stage in catalog::STAGES {
                parts.push(part(&root, stage, lang)?);
            }
        }
        Some(plan) => {
            for stop in &plan.stops {
                let mut part = part(&root, stop.stage, lang)?;
                part.demos = stop.keep(part.demos);
                part.code_pages = stop.code_pages;
                parts.push(part);
            }
        }
    }
    let recorded = if run {
        run_demos(&mut parts)?;
        Some(Recorded {
            when: util::utc_now(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "?".to_string()),
            arch: std::env::consts::ARCH,
        })
    } else {
        for demo in parts.iter_mut().flat_map(|p| p.demos.iter_mut()) {
            demo.outcome = Outcome::NotRun("--no-run".to_string());
        }
        None
    };
    let deck = Deck {
        lang,
        plan,
        recorded,
        stages: parts,
    };
    let page = html::render(&deck);
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let file = out_dir.join("index.html");
    std::fs::write(&file, page).with_context(|| format!("cannot write {}", file.display()))?;
    let unlike: Vec<String> = deck
        .stages
        .iter()
        .flat_map(|p| p.demos.iter().map(move |d| (p.stage, d)))
        .filter(|(_, d)| {
            matches!(
                d.outcome,
                Outcome::Ran {
                    as_promised: false,
                    ..
                }
            )
        })
        .map(|(s, d)| format!("{}: `{}`", s.name, d.demo.command))
        .collect();
    for demo in &unlike {
        eprintln!("warning: slides: {demo} did not print or exit as its notes say (shown so)");
    }
    println!(
        "slides: {} ({} stages, {:.0} s); open it in a browser",
        file.display(),
        deck.stages.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

/// Reads what one stage shows: notes, demos, diff.
fn part(root: &Path, stage: &'static Stage, lang: Lang) -> Result<Part> {
    let path = root.join("slides").join(stage.name).join(lang.notes_file());
    let notes = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the notes {}", path.display()))?;
    let demos = notes::demos(&notes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let previous = catalog::previous(stage);
    let counts = diff::stage_counts(root, previous, stage)?;
    let diff_heading = lang.diff_heading(stage.name, previous.map(|p| p.name), counts);
    let diff = diff::stages(root, previous, stage, true)?;
    let filter = diff::files(root, stage)?
        .iter()
        .any(|f| f.name == "seccomp.rs");
    Ok(Part {
        stage,
        script: plan::script(&notes),
        notes,
        diff_heading,
        diff,
        filter,
        code_pages: code::MAX_CODE_PAGES,
        demos: demos
            .into_iter()
            .map(|demo| DemoRun {
                demo,
                outcome: Outcome::NotRun(String::new()),
            })
            .collect(),
    })
}

/// Builds every stage a demo runs in, makes the root filesystem, and runs every demo.
fn run_demos(parts: &mut [Part]) -> Result<()> {
    // Every stage a demo runs in: the deck's own, and those its demos name.
    let mut binaries = Vec::new();
    for stage in catalog::STAGES {
        let used = parts.iter().any(|p| {
            p.stage.name == stage.name
                || p.demos
                    .iter()
                    .any(|d| d.demo.stage.as_deref() == Some(stage.name))
        });
        if used {
            binaries.push((stage.name, util::build_stage(stage, false)?));
        }
    }
    let rootfs = rootfs::ensure()?;
    let total: usize = parts.iter().map(|p| p.demos.len()).sum();
    let mut done = 0;
    for part in parts.iter_mut() {
        for run in part.demos.iter_mut() {
            done += 1;
            let stage = run
                .demo
                .stage
                .as_deref()
                .and_then(catalog::find)
                .unwrap_or(part.stage);
            let binary = &binaries
                .iter()
                .find(|(name, _)| *name == stage.name)
                .expect("every stage is built")
                .1;
            eprintln!(
                "slides: demo {done}/{total} in {}: {}",
                stage.name, run.demo.command
            );
            run.outcome = match record(stage, binary, &rootfs, &run.demo) {
                Ok(outcome) => outcome,
                Err(err) => Outcome::NotRun(format!("{err:#}")),
            };
        }
    }
    Ok(())
}

/// Runs one demo as `present` does (`<stage> run sh -c '<command>'`, through sudo when it needs
/// root and we are not), with stdin closed and a time limit, and records its output.
pub(crate) fn record(stage: &Stage, binary: &Path, rootfs: &Path, demo: &Demo) -> Result<Outcome> {
    // -n: never a password prompt in the middle of a build; it fails instead, and says so.
    let sudo = ["sudo", "-n"];
    let rootfs = stage.needs_rootfs.then_some(rootfs);
    let mut cmd = util::as_root(stage.needs_root, binary, &sudo, &[rootfs::ENV_VAR], rootfs);
    cmd.args(["run", "sh", "-c", &demo.command])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    // Each stream read line by line as it comes, stamped, so the two can be put back in the
    // order the audience would have seen them on a terminal.
    let stamp = |stream: Box<dyn Read + Send>, from_stderr: bool| {
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stream).split(b'\n') {
                let Ok(line) = line else { break };
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                lines.push((Instant::now(), from_stderr, text));
            }
            lines
        })
    };
    let out = stamp(Box::new(child.stdout.take().expect("piped")), false);
    let err = stamp(Box::new(child.stderr.take().expect("piped")), true);
    let deadline = Instant::now() + DEMO_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().context("cannot wait for the demo")? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().context("cannot wait for the demo")?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut lines = out.join().unwrap_or_default();
    lines.extend(err.join().unwrap_or_default());
    lines.sort_by_key(|(at, _, _)| *at);
    let code = crate::util::status_code(status);
    let stdout: String = lines
        .iter()
        .filter(|(_, from_stderr, _)| !from_stderr)
        .map(|(_, _, l)| format!("{l}\n"))
        .collect();
    let as_promised = code == demo.exit && notes::check_output(&demo.expected, &stdout).is_ok();
    if stage.needs_root && !util::is_root() && code == 1 && lines.iter().any(|l| is_sudo(&l.2)) {
        anyhow::bail!("not run: it needs root, and sudo asks for a password");
    }
    Ok(Outcome::Ran {
        lines: lines.into_iter().map(|(_, e, l)| (e, l)).collect(),
        code,
        as_promised,
    })
}

fn is_sudo(line: &str) -> bool {
    line.starts_with("sudo:")
}

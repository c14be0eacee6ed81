//! `cargo xtask present [STAGE] [--only] [--yes] [--route NAME | --stages LIST] [--rehearse]
//! [--lang LANG]`: step through the talk in one terminal.
//!
//! With a route of the catalog (`--route talk`, see `plan.rs` and `crates/catalog/src/
//! routes.rs`) or a list of stages (`--stages uts,pid,full`): only those stages and, of each,
//! the route's demos; above every prompt a line says where the talk stands against the plan
//! (`pid · 12:40 of 45:00 · +1:10`, see [`Timer`](screen::Timer)), and each stage opens with its
//! speaker's script, its whole notes one key away (`m`). `--rehearse` runs the route's demos
//! instead of the talk and says whether it is ready (`present/rehearsal.rs`). Without either,
//! every stage from STAGE, as below.
//!
//! For each stage from STAGE (default: the first) to the last, or STAGE alone with `--only`:
//! the title and the slide notes (`slides/<stage>/README.md`, or `README.es.md` in Spanish), the
//! diff from the stage before (code first: the hunks that change only comments are folded into
//! one line each, `f` shows them), then the notes' demo commands, each run live inside the stage
//! on a key press, on a cleared screen so its `$ command` line stays in view.
//!
//! Keys, one meaning each, are listed at every prompt (their words in `present/lang.rs`, what
//! each does in `present/screen.rs`). Ctrl-C at a prompt quits at once (status 130); during a
//! demo it is the demo's.
//!
//! Each demo runs as a shell runs a job: in its own process group, given the terminal, which
//! `present` takes back when the demo ends (see `present/terminal.rs`: from `pid` to `seccomp`, a
//! stage's init takes the terminal for itself; from `console` on, the container gets a terminal
//! of its own and the stage keeps ours, in raw mode, until it ends). The terminal is put in raw mode only while waiting for
//! a key, and left as it was found on every way out (quit, Ctrl-C, a demo that failed, an
//! error, a panic).
//!
//! Everything is fitted to the terminal's width (80 columns when it is none; `COLUMNS`
//! overrides): notes wrapped, long diff lines and commands broken with a marker, so the page
//! count is right. `--yes` runs the whole thing without a key press and without paging, demos
//! included (the test suite runs it so); it exits 1 if a demo ends with another status than
//! its notes promise. Its demos' output comes through `present` (`present/relay.rs`), so a
//! demo's last line and its runtime's next never share a line. Bold and the basic colours on
//! the terminal's own background, none at all off a terminal or with `NO_COLOR`.
//!
//! In English or in Spanish (`--lang en|es`; by default Spanish when the locale is, see
//! `present/lang.rs`): the notes, and every word `present` prints itself. The demos are the same
//! in both (`cargo xtask check` holds the two notes to it), so they print the same; the stages'
//! own teaching lines and the code's comments stay English.

pub mod lang;
mod rehearsal;
mod relay;
mod screen;
mod terminal;
mod text;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result};
use catalog::Stage;
use notes::Demo;

use crate::cli;
use crate::diff;
use crate::plan::{self, Plan};
use crate::rootfs;
use crate::util;
use lang::Lang;
use screen::{style, write_out, Offer, Screen, Timer};
use terminal::Key;
use text::Rendered;

pub const CLI: cli::Command = cli::Command {
    name: "present",
    about: "step through the talk: notes, diff, live demos",
    args: &[
        cli::optional("STAGE", "where to start (default: the first stage)"),
        cli::flag("only", "this stage only"),
        cli::flag(
            "yes",
            "no key presses: run straight through, demos included",
        ),
        plan::ROUTE_FLAG,
        plan::STAGES_FLAG,
        cli::flag(
            "rehearse",
            "with a route: run its demos first, say which fail or run over their time",
        ),
        lang::FLAG,
    ],
    rest: None,
    notes: "Keys, listed at every prompt: space or Enter goes on (next page, run the \
            demo, next step); s skips (the rest of the pages, or a demo); f folds or unfolds \
            a diff's comment-only changes; n goes to the next stage; b back one step; q \
            quits. Ctrl-C at a prompt quits (status 130); during a demo it is the demo's.\n\n\
            With --route or --stages: only those stages and demos, a line above every prompt \
            saying where the talk stands against the plan (`pid · 12:40 of 45:00 · +1:10`: \
            minutes late, or early with -), and each stage's speaker's script instead of its \
            notes (m shows the whole notes).\n\n\
            Text is fitted to the terminal's width (COLUMNS overrides; 80 off a terminal).",
};

/// The widest the notes are wrapped to, even on a wide terminal: long lines are hard to read.
const MAX_WIDTH: usize = 100;

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let args = CLI.parse(args)?;
    let yes = args.flag("yes");
    let only = args.flag("only");
    let lang = Lang::from_args(&args)?;
    let plan = Plan::from_args(&args)?;
    let rehearse = args.flag("rehearse");
    if plan.is_some() && (only || args.positional("STAGE").is_some()) {
        return Err(args.error("a STAGE or --only, or a --route or --stages: not both"));
    }
    let stages: Vec<&'static Stage> = match &plan {
        Some(plan) => plan.stops.iter().map(|s| s.stage).collect(),
        None => {
            let first = match args.positional("STAGE") {
                Some(name) => args.stage(name)?,
                None => &catalog::STAGES[0],
            };
            catalog::STAGES
                .iter()
                .filter(|s| s.number() == first.number() || (!only && s.number() > first.number()))
                .collect()
        }
    };
    if rehearse {
        let Some(plan) = plan else {
            return Err(args.error("--rehearse needs a --route or --stages"));
        };
        return rehearsal::rehearse(&plan, lang);
    }
    if !yes && !terminal::stdin_is_terminal() {
        return Err(args.error(
            "present waits for key presses on a terminal; use --yes to run it straight through",
        ));
    }

    // Everything the demos need is made before the talk starts, so it never stops for a build.
    let root = util::project_root();
    let mut talk = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let notes_path = root.join("slides").join(stage.name).join(lang.notes_file());
        let text = std::fs::read_to_string(&notes_path)
            .with_context(|| format!("cannot read the notes {}", notes_path.display()))?;
        let mut demos =
            notes::demos(&text).map_err(|e| anyhow::anyhow!("{}: {e}", notes_path.display()))?;
        if let Some(plan) = &plan {
            demos = plan.stops[i].keep(demos);
        }
        let binary = util::build_stage(stage, false)?;
        // A demo may run in another stage (```demo <stage>): built now too.
        for other in demos.iter().filter_map(|d| d.stage.as_deref()) {
            util::build_stage(catalog::find(other).expect("checked by notes"), false)?;
        }
        talk.push(Slide {
            stage,
            script: plan.as_ref().map(|_| plan::script(&text)),
            notes: text,
            demos,
            binary,
        });
    }
    let rootfs = if stages.iter().any(|s| s.needs_rootfs) {
        Some(rootfs::ensure()?)
    } else {
        None
    };

    let cols = diff::width_wanted().unwrap_or(80).max(20);
    let mut out = Screen {
        interactive: !yes,
        color: diff::color_wanted(),
        width: cols.clamp(20, MAX_WIDTH),
        cols,
        rows: terminal::rows().unwrap_or(24).max(10),
        used: 0,
        lang,
        timer: plan.map(Timer::new),
    };
    let _restore = (!yes).then(terminal::RawMode::save);
    present(&talk, &root, rootfs.as_deref(), &mut out)
}

/// One stage of the talk, ready to show.
struct Slide {
    stage: &'static Stage,
    /// With a plan: the speaker's script, shown instead of the notes until `m`.
    script: Option<Vec<String>>,
    notes: String,
    demos: Vec<Demo>,
    binary: PathBuf,
}

/// Where the presenter is: a stage's notes, its diff, one of its demos, or its end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    Notes(usize),
    Diff(usize),
    Demo(usize, usize),
    End(usize),
}

impl Step {
    fn stage(self) -> usize {
        match self {
            Step::Notes(i) | Step::Diff(i) | Step::Demo(i, _) | Step::End(i) => i,
        }
    }
}

fn present(talk: &[Slide], root: &Path, rootfs: Option<&Path>, out: &mut Screen) -> Result<u8> {
    let mut steps = Vec::new();
    for (i, slide) in talk.iter().enumerate() {
        steps.push(Step::Notes(i));
        steps.push(Step::Diff(i));
        steps.extend((0..slide.demos.len()).map(|d| Step::Demo(i, d)));
        steps.push(Step::End(i));
    }
    let mut failed: Vec<String> = Vec::new();
    let mut folded = true;
    let mut full_notes = false;
    let mut at = 0;
    while at < steps.len() {
        let step = steps[at];
        // The whole notes are asked for one stage at a time: the next opens with its script.
        if at > 0 && steps[at - 1].stage() != step.stage() {
            full_notes = false;
        }
        if let Some(timer) = &mut out.timer {
            timer.enter(step.stage());
        }
        // A planned talk's stage offers its whole notes on `m`, beside its script.
        let notes_key = talk[step.stage()].script.as_ref().map(|_| full_notes);
        let key = match step {
            Step::Notes(i) => match show_notes(&talk[i], full_notes, out)? {
                Some(key) => key,
                None => out.ask(&Offer {
                    notes: notes_key,
                    ..Offer::notes(out.lang)
                })?,
            },
            Step::Diff(i) => match show_diff(&talk[i], root, folded, out)? {
                Some(key) => key,
                None => out.ask(&Offer::diff(out.lang, folded, !talk[i].demos.is_empty()))?,
            },
            Step::Demo(i, d) => {
                let demo = &talk[i].demos[d];
                out.blank()?;
                for line in text::command_lines(&demo.command, out.width) {
                    write_out(&format!("{}\n", out.paint(style::BOLD, &line)))?;
                }
                let key = out.ask(&Offer::demo(out.lang))?;
                if key == Key::Go {
                    if let Some(problem) = run_demo(&talk[i], demo, rootfs, out)? {
                        failed.push(problem);
                    }
                }
                key
            }
            Step::End(i) => {
                if out.interactive {
                    out.blank()?;
                    let next = talk.get(i + 1).map(|s| s.stage.name);
                    out.ask(&Offer::end(out.lang, talk[i].stage.name, next))?
                } else {
                    Key::Go
                }
            }
        };
        match key {
            Key::Go | Key::Skip => at += 1,
            Key::Next => {
                at = steps
                    .iter()
                    .position(|s| *s == Step::Notes(step.stage() + 1))
                    .unwrap_or(steps.len())
            }
            // Back to the step before, not to a stage's end (a prompt with nothing on it).
            Key::Back => {
                at = steps[..at]
                    .iter()
                    .rposition(|s| !matches!(s, Step::End(_)))
                    .unwrap_or(at)
            }
            Key::Fold => folded = !folded,
            Key::Notes => {
                full_notes = !full_notes;
                at = steps[..=at]
                    .iter()
                    .rposition(|s| *s == Step::Notes(step.stage()))
                    .unwrap_or(at)
            }
            Key::Quit => break,
        }
    }
    if failed.is_empty() {
        return Ok(0);
    }
    for problem in &failed {
        eprintln!("error: present: {problem}");
    }
    Ok(1)
}

/// The title and the notes (with a plan, the script unless `full`), paged. `Some(key)`: a key
/// other than space at a page's end.
fn show_notes(slide: &Slide, full: bool, out: &mut Screen) -> Result<Option<Key>> {
    let stage = slide.stage;
    out.clear()?;
    let title = out.lang.title(stage, catalog::STAGES.len());
    let mut lines = vec![
        out.paint(style::BOLD, &title),
        "=".repeat(title.chars().count().min(out.width)),
    ];
    lines.extend(text::wrap(out.lang.summary(stage), out.width, ""));
    lines.push(String::new());
    match slide.script.as_ref().filter(|_| !full) {
        Some(script) => {
            let heading = plan::SCRIPT_HEADINGS[usize::from(out.lang == Lang::Es)];
            lines.push(out.paint(style::BOLD, heading));
            for said in script {
                let mut item = text::wrap(said, out.width, "  ");
                if let Some(first) = item.first_mut() {
                    first.replace_range(..2, "- ");
                }
                lines.extend(item);
            }
        }
        None => {
            for line in text::render_notes(&slide.notes, out.width) {
                lines.push(match line {
                    Rendered::Heading(text) => out.paint(style::BOLD, &text),
                    Rendered::Text(text) => text,
                });
            }
        }
    }
    let more = Offer {
        notes: slide.script.as_ref().map(|_| full),
        ..Offer::more(out.lang, None)
    };
    for line in lines {
        if let Some(key) = out.line(&line, Some(&more))? {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

/// The diff from the stage before, code first, paged. `Some(key)`: as for the notes.
fn show_diff(slide: &Slide, root: &Path, folded: bool, out: &mut Screen) -> Result<Option<Key>> {
    let previous = catalog::previous(slide.stage);
    let counts = diff::stage_counts(root, previous, slide.stage)?;
    let heading = out
        .lang
        .diff_heading(slide.stage.name, previous.map(|p| p.name), counts);
    out.clear()?;
    let look = diff::Look {
        color: out.color,
        width: Some(out.cols.min(MAX_WIDTH.max(out.width))),
        fold: folded,
    };
    let mut lines: Vec<String> = text::wrap(&heading, out.width, "")
        .iter()
        .map(|l| out.paint(style::BOLD, l))
        .collect();
    lines.extend(
        diff::stages_with(root, previous, slide.stage, &look)?
            .lines()
            .map(|line| out.lang.diff_line(line)),
    );
    let more = Offer::more(out.lang, Some(folded));
    for line in lines {
        if let Some(key) = out.line(&line, Some(&more))? {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

/// Runs one demo inside its stage, live; returns a complaint if it ended unlike its notes say.
fn run_demo(
    slide: &Slide,
    demo: &Demo,
    rootfs: Option<&Path>,
    out: &mut Screen,
) -> Result<Option<String>> {
    // The notes' own stage, or the one the demo's block names (```demo <stage>).
    let (stage, binary) = match demo.stage.as_deref().and_then(catalog::find) {
        Some(other) => (other, util::stage_binary(other, false)),
        None => (slide.stage, slide.binary.clone()),
    };
    let rootfs = rootfs.filter(|_| stage.needs_rootfs);
    let keep = [rootfs::ENV_VAR];
    let mut cmd = util::as_root(stage.needs_root, &binary, &["sudo"], &keep, rootfs);
    cmd.args(["run", "sh", "-c", &demo.command]);
    if !out.interactive {
        // Its output through us: the command's and its runtime's lines do not share a line.
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    } else {
        // A clean screen with the command on top: its output comes right below it.
        out.clear()?;
        if stage.name != slide.stage.name {
            write_out(&format!("(run in {})\n", stage.name))?;
        }
        for line in text::command_lines(&demo.command, out.width) {
            write_out(&format!("{}\n", out.paint(style::BOLD, &line)))?;
        }
    }
    let status = terminal::run_job(&mut cmd, out.interactive)
        .with_context(|| format!("cannot run the demo `{}`", demo.command))?;
    out.used = 0;
    let code = crate::util::status_code(status);
    if code == demo.exit {
        if code != 0 {
            out.line(&out.lang.exited(code), None)?;
        }
        return Ok(None);
    }
    let complaint = out
        .lang
        .complaint(stage.name, &demo.command, code, demo.exit, demo.line);
    let said = out.paint(style::BOLD, &out.lang.exited_unlike(code, demo.exit));
    out.line(&said, None)?;
    Ok(Some(complaint))
}

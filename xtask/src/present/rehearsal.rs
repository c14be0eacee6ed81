//! `cargo xtask present --route NAME --rehearse`: every demo of the route run once, before the
//! talk, as the deck records them (`slides::record`: inside its stage, stdin closed, output
//! captured, a time limit), each timed. It says which demo fails, prints or exits unlike its
//! notes, or runs over the plan's time, and then whether the route is ready: exit 0 when it is,
//! 1 when not.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::lang::Lang;
use crate::plan::{self, Plan};
use crate::slides::{self, Outcome};
use crate::{rootfs, util};

/// The longest a demo may run in the plan: what a room waits in silence.
pub const DEMO_SECONDS: u64 = 15;

pub fn rehearse(plan: &Plan, lang: Lang) -> Result<u8> {
    let root = util::project_root();
    // Everything built first, so the times are the demos' own.
    let mut stops = Vec::new();
    for stop in &plan.stops {
        let demos = stop.keep(plan::stage_demos(&root, stop.stage, lang.notes_file())?);
        util::build_stage(stop.stage, false)?;
        for other in demos.iter().filter_map(|d| d.stage.as_deref()) {
            util::build_stage(catalog::find(other).expect("checked by notes"), false)?;
        }
        stops.push((stop, demos));
    }
    let rootfs = rootfs::ensure()?;
    let started = Instant::now();
    let mut problems = Vec::new();
    let mut count = 0;
    for (stop, demos) in &stops {
        let mut spent = Duration::ZERO;
        for (n, demo) in demos.iter().enumerate() {
            count += 1;
            let stage = demo
                .stage
                .as_deref()
                .and_then(catalog::find)
                .unwrap_or(stop.stage);
            let binary = util::stage_binary(stage, false);
            let t = Instant::now();
            let outcome = slides::record(stage, &binary, &rootfs, demo);
            let took = t.elapsed();
            spent += took;
            // Named by its number in the notes, as the route names it.
            let number = stop.demos.get(n).map_or(n + 1, |&d| usize::from(d));
            let what = format!("{} demo {number}: `{}`", stop.stage.name, demo.command);
            let mut wrong = match outcome {
                Ok(Outcome::Ran {
                    as_promised: true, ..
                }) => None,
                Ok(Outcome::Ran { code, .. }) => Some(format!(
                    "printed or exited ({code}) unlike its notes (exit {})",
                    demo.exit
                )),
                Ok(Outcome::NotRun(why)) => Some(format!("not run: {why}")),
                Err(err) => Some(format!("not run: {err:#}")),
            };
            if wrong.is_none() && took > Duration::from_secs(DEMO_SECONDS) {
                wrong = Some(format!(
                    "ran {:.1} s, over the plan's {DEMO_SECONDS} s",
                    took.as_secs_f64()
                ));
            }
            let verdict = if wrong.is_some() { "FAIL" } else { "ok" };
            println!("{verdict:<5}{:>6.1} s  {what}", took.as_secs_f64());
            if let Some(wrong) = wrong {
                problems.push(format!("{what}: {wrong}"));
            }
        }
        // The demos leave at least half the stage's minutes for speaking.
        let planned = u64::from(stop.minutes) * 60;
        if spent.as_secs() * 2 > planned {
            problems.push(format!(
                "{}: its demos run {:.0} s, over half its {} minutes",
                stop.stage.name,
                spent.as_secs_f64(),
                stop.minutes
            ));
        }
    }
    for problem in &problems {
        println!("error: rehearse: {problem}");
    }
    let summary = format!(
        "rehearse: {}: {count} demos in {:.1} s, planned {} min",
        plan.flag(),
        started.elapsed().as_secs_f64(),
        plan.total() / 60
    );
    if problems.is_empty() {
        println!("{summary}: ready");
        Ok(0)
    } else {
        println!("{summary}: not ready, {} problem(s)", problems.len());
        Ok(1)
    }
}

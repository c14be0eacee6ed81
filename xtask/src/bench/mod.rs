//! `cargo xtask bench [--runs N] [--stages a,b,...] [--json FILE] [--install-peers]
//! [--build-time]`: every stage against the tools people use instead, side by side.
//!
//! Each case (every stage built in release, static for musl, and the peers that are installed:
//! `unshare`, `bwrap`, `crun`, `runc`) starts `/bin/true` of the same root filesystem, in
//! shuffled rounds after a warm-up. What is measured and why (the rounds, the ratio to
//! `unshare`, peak RSS from the forked warm-up rounds, CPU time, crun on a hybrid host) is in
//! docs/bench.md, "How it measures". Timings are only read, never asserted: `cargo xtask bench
//! --runs 3` is a smoke test. Stages that need root are skipped, loudly, without root.
//!
//! The parts: [`cases`] (what is timed: the stages and the peers, and how crun is started on a
//! hybrid host), [`measure`] (the rounds, one start of a case, `--profile`, the build times),
//! [`report`] (the table and the JSON).

mod cases;
mod docs;
mod measure;
mod report;

use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use catalog::Stage;

use crate::util;
use crate::{cli, rootfs};

pub const CLI: cli::Command = cli::Command {
    name: "bench",
    about: "time every stage against unshare, bwrap, crun and runc",
    args: &[
        cli::option("runs", "N", "rounds to measure (default: 50)"),
        cli::option(
            "stages",
            "A,B",
            "only these stages (names, aliases or numbers)",
        ),
        cli::option("json", "FILE", "also write the results as JSON to FILE"),
        cli::flag(
            "install-peers",
            "install the missing peers (unshare, bwrap, crun, runc) with apt",
        ),
        cli::flag("build-time", "also time a clean build of the workspace"),
        cli::option(
            "profile",
            "STAGE",
            "where one stage spends its time, from its teaching lines",
        ),
        cli::flag(
            "write-docs",
            "write this run (every stage and peer, as root, with --profile full) into \
             README.md, README.es.md and docs/bench.md",
        ),
    ],
    rest: None,
    notes: "Release builds (static, musl) start /bin/true from the same root filesystem, in \
            shuffled rounds; the median is reported. Stages that need root are skipped when not run as root.",
};

/// Rounds measured when `--runs` is not given.
const DEFAULT_RUNS: usize = 50;

#[derive(Debug, PartialEq)]
struct Options {
    runs: usize,
    stages: Vec<&'static Stage>,
    json: Option<PathBuf>,
    install_peers: bool,
    build_time: bool,
    profile: Option<&'static Stage>,
    write_docs: bool,
}

fn parse(args: Vec<OsString>) -> Result<Options> {
    let args = CLI.parse(args)?;
    let mut opts = Options {
        runs: DEFAULT_RUNS,
        stages: catalog::STAGES.iter().collect(),
        json: args.value("json").map(PathBuf::from),
        install_peers: args.flag("install-peers"),
        build_time: args.flag("build-time"),
        profile: None,
        write_docs: args.flag("write-docs"),
    };
    if let Some(text) = args.text("runs")? {
        opts.runs = match text.parse::<usize>() {
            Ok(n) if (1..=100_000).contains(&n) => n,
            _ => {
                return Err(args.error(format!(
                    "--runs wants a whole number from 1 to 100000, not {text:?}"
                )))
            }
        };
    }
    if let Some(text) = args.text("stages")? {
        let mut stages: Vec<&'static Stage> = Vec::new();
        for key in text.split(',').filter(|k| !k.is_empty()) {
            let stage = args.stage(std::ffi::OsStr::new(key.trim()))?;
            if !stages.iter().any(|s| s.name == stage.name) {
                stages.push(stage);
            }
        }
        // Talk order, whatever order they were given in: the step costs follow it.
        stages.sort_by_key(|s| s.number());
        opts.stages = stages;
    }
    if let Some(key) = args.value("profile") {
        opts.profile = Some(args.stage(key)?);
    }
    if opts.write_docs {
        // The files show every stage and where `full` spends its time.
        if opts.stages.len() != catalog::STAGES.len() {
            return Err(args.error("--write-docs wants every stage: leave out --stages"));
        }
        if opts.profile.is_some_and(|s| s.name != "full") {
            return Err(args.error("--write-docs profiles `full`: leave out --profile"));
        }
        opts.profile = catalog::find("full");
    }
    Ok(opts)
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let opts = parse(args)?;
    let root = util::is_root();
    if opts.write_docs && !root {
        bail!("--write-docs needs a run as root (every stage and peer): sudo -E cargo xtask bench --write-docs");
    }
    if opts.install_peers {
        cases::install_peers(root)?;
    }
    let rootfs_dir = rootfs::ensure()?;
    let rootfs_dir = rootfs_dir
        .canonicalize()
        .with_context(|| format!("cannot find the root filesystem {}", rootfs_dir.display()))?;
    let true_in_rootfs = rootfs_dir.join("bin/true");
    if !true_in_rootfs.exists() {
        bail!(
            "{} has no /bin/true: make it again with `cargo xtask rootfs --force`",
            rootfs_dir.display()
        );
    }
    if !root {
        let line = "bench: NOT ROOT: the stages that need root and the peers unshare, crun and \
                    runc are SKIPPED; run `sudo -E cargo xtask bench` for the whole table";
        let stars = "*".repeat(80);
        eprintln!("{stars}\n{line}\n{stars}");
    }

    let scratch = Scratch::new()?;
    let mut plan = cases::plan(&opts.stages, root, &rootfs_dir, &scratch.path)?;
    let log = scratch.path.join("stderr.log");
    let broken = measure::warm_up(&mut plan, &log)?;
    measure::rounds(&mut plan, opts.runs, &log)?;
    let cases::Plan { cases, skipped, .. } = plan;

    let xtask_run = if opts.stages.iter().any(|s| s.name == "base1") {
        Some(measure::time_xtask_run(
            &true_in_rootfs,
            opts.runs.clamp(3, 10),
        )?)
    } else {
        None
    };
    let build_time = if opts.build_time {
        Some(measure::time_clean_build()?)
    } else {
        None
    };

    let report = report::Report {
        runs: opts.runs,
        rootfs: rootfs_dir,
        root,
        cases,
        skipped,
        broken,
        xtask_run,
        build_time,
    };
    print!("{}", report.text());
    let mut profile = String::new();
    if let Some(stage) = opts.profile {
        if stage.needs_root && !root {
            eprintln!("bench: --profile {}: SKIPPED, it needs root", stage.name);
        } else {
            profile = measure::profile(stage, &report.rootfs, opts.runs.max(5))?;
            print!("{profile}");
        }
    }
    if let Some(path) = &opts.json {
        fs::write(path, report.json())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    // Our own cases must work every time; a peer's failures are reported, not fatal.
    let failed = !report.broken.is_empty()
        || report
            .cases
            .iter()
            .any(|c| !c.is_peer() && !c.failures.is_empty());
    if opts.write_docs {
        if failed {
            bail!("--write-docs: a stage failed in this run (above): nothing written");
        }
        let command = format!("cargo xtask bench --runs {} --write-docs", opts.runs);
        docs::write(&report, &command, &profile)?;
    }
    Ok(u8::from(failed))
}

/// A temporary folder of the bench (`$TMPDIR/desde-cero-bench-<pid>[-what]`), removed on drop.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new() -> Result<Scratch> {
        Scratch::at(std::env::temp_dir().join(format!("desde-cero-bench-{}", std::process::id())))
    }

    fn named(what: &str) -> Result<Scratch> {
        Scratch::at(
            std::env::temp_dir().join(format!("desde-cero-bench-{}-{what}", std::process::id())),
        )
    }

    fn at(path: PathBuf) -> Result<Scratch> {
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn defaults_and_options() {
        let opts = parse(vec![]).unwrap();
        assert_eq!(opts.runs, DEFAULT_RUNS);
        assert_eq!(opts.stages.len(), catalog::STAGES.len());
        let opts = parse(args(&[
            "--runs",
            "3",
            "--stages",
            "full,pid,1",
            "--json",
            "x",
        ]))
        .unwrap();
        assert_eq!(opts.runs, 3);
        let names: Vec<&str> = opts.stages.iter().map(|s| s.name).collect();
        assert_eq!(names, ["base1", "pid", "full"]);
        assert_eq!(opts.json, Some(PathBuf::from("x")));
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for bad in [
            args(&["--runs"]),
            args(&["--runs", "0"]),
            args(&["--runs", "x"]),
            args(&["--stages", "nope"]),
            args(&["--bogus"]),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.downcast_ref::<util::Usage>().is_some(), "{err:#}");
        }
    }
}

//! `cargo xtask matrix [--json] [--prebuilt]`: the isolation each stage really has, and the
//! attacks it really stops.
//!
//! For every stage of the catalog it runs the probe inside (`<stage> run <probe> --host-marker
//! <file>`), and the probe on the host, and turns the difference into one column of the table:
//! one row per [`catalog::Property`], `✓` where the stage has it and `·` where it does not.
//! Then it runs every attack inside (`<stage> run <probe> attack all ...`) with the bait a
//! careless runtime would leak ([`Bait`]): one row per [`catalog::Attack`], `✓` where the stage
//! stops it and `·` where it gets through. A cell that differs from the catalog (what the stage
//! adds, what it stops) is marked `!` and listed below the table, and the exit code is 1. So is
//! a stage whose crate does not exist yet.
//!
//! What the probe cannot see from inside (a plain `chroot` has no `/proc`, most stages no
//! `/sys/fs/cgroup`) is read from the host about the very same process: the probe's report is
//! held in a full pipe, so the probe is still alive, blocked in write(2), while the matrix reads
//! its `/proc/<pid>/ns`, `cgroup`, `root` and `status`. Then the pipe is drained.
//!
//! `--prebuilt` uses the binaries already built (in `$DESDE_CERO_BIN_DIR`, else the stages' build folder)
//! and the root filesystem as it is: that is how the test suite and the sudo re-run call it.

//!
//! The parts: `run.rs` (running the probe, with the bait of crates/bait; reading its process
//! from the host), `judge.rs` (what was seen against the catalog), `report.rs` (the
//! table and the JSON).

mod judge;
mod report;
mod run;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bait::Bait;
use catalog::Stage;

use crate::util;
use crate::{cli, rootfs};

use judge::{properties, Mismatch, Outcome, Row, Seen};
use run::{attacks, observe};

pub const CLI: cli::Command = cli::Command {
    name: "matrix",
    about: "the isolation each stage really has, observed by the probe",
    args: &[
        cli::flag(
            "json",
            "print the report as JSON (rows, columns, mismatches)",
        ),
        cli::flag(
            "prebuilt",
            "use the binaries already built ($DESDE_CERO_BIN_DIR, else target/<musl>/debug) and \
             the root filesystem as it is: nothing is built",
        ),
    ],
    rest: None,
    notes: "Exit 0 when every stage has exactly the isolation the catalog says, 1 otherwise. \
            The stages run as root (through sudo when you are not root).",
};

/// Where the probe is inside every root filesystem.
const PROBE_INSIDE: &str = "/usr/local/bin/probe";

/// How long one stage may take to report.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// The hostname every stage from `uts` on gives its container.
const HOSTNAME: &str = "container";

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let args = CLI.parse(args)?;
    let (json, prebuilt) = (args.flag("json"), args.flag("prebuilt"));
    let rootfs_dir = if prebuilt {
        rootfs::default_dir()
    } else {
        rootfs::ensure()?
    };
    let mut binaries: BTreeMap<&'static str, Result<PathBuf, String>> = BTreeMap::new();
    for stage in catalog::STAGES {
        binaries.insert(stage.name, binary(stage, prebuilt));
    }
    if !util::is_root() {
        // Every stage runs as root, so all rows are compared with the same host; reading
        // another root process's /proc/<pid>/ns needs root too. The builds above ran as the
        // user, so target/ stays theirs.
        eprintln!("matrix: the stages need root: running the rest through sudo");
        let exe = std::env::current_exe().context("cannot find the xtask's own binary")?;
        let keep = [rootfs::ENV_VAR, "DESDE_CERO_BIN_DIR"];
        let mut sudo = util::as_root(true, exe, &["sudo"], &keep, Some(&rootfs_dir));
        sudo.args(["matrix", "--prebuilt"]);
        if json {
            sudo.arg("--json");
        }
        return Err(sudo.exec())
            .context("cannot start sudo: run `cargo xtask matrix` as root, or install sudo");
    }
    let probe_on_host = rootfs_dir.join(PROBE_INSIDE.trim_start_matches('/'));
    if !probe_on_host.is_file() {
        bail!(
            "no probe at {}: run `cargo xtask rootfs` first",
            probe_on_host.display()
        );
    }
    let marker = Marker::create()?;
    let host = observe(None, &probe_on_host, &marker.0, &rootfs_dir)
        .context("cannot run the probe on the host")?;
    let folder = marker.0.parent().unwrap_or(Path::new("/"));
    let disks = [Path::new("/"), &std::env::temp_dir(), &rootfs_dir, folder];
    let bait = Bait::lay(&marker.0, &disks)
        .with_context(|| format!("cannot open {}", folder.display()))?;
    let mut rows = Vec::new();
    for stage in catalog::STAGES {
        let outcome = match binaries.remove(stage.name).unwrap_or(Err(String::new())) {
            Err(why) => Outcome::Missing(why),
            Ok(bin) => {
                let probe = if stage.needs_rootfs {
                    PathBuf::from(PROBE_INSIDE)
                } else {
                    // These stages keep the host's root: the probe is found by its host path.
                    probe_on_host.clone()
                };
                let seen = observe(Some(&bin), &probe, &marker.0, &rootfs_dir).and_then(|view| {
                    let attacks =
                        attacks(&bin, &probe, &bait, &rootfs_dir).context("the attacks")?;
                    Ok(Seen {
                        has: properties(&view, &host),
                        attacks,
                    })
                });
                match seen {
                    Ok(seen) => Outcome::Seen(seen),
                    Err(err) => Outcome::Failed(format!("{err:#}")),
                }
            }
        };
        rows.push(Row { stage, outcome });
    }
    let mismatches: Vec<Mismatch> = rows.iter().flat_map(Row::mismatches).collect();
    let all_seen = rows.iter().all(|r| matches!(r.outcome, Outcome::Seen(_)));
    if json {
        println!("{}", report::to_json(&rows, &mismatches, all_seen));
    } else {
        report::print_table(&rows, &mismatches);
    }
    Ok(if mismatches.is_empty() && all_seen {
        0
    } else {
        1
    })
}

/// A stage's binary: built now, or already built with `--prebuilt`; an error when its crate
/// does not exist yet or does not build.
fn binary(stage: &Stage, prebuilt: bool) -> Result<PathBuf, String> {
    let manifest = util::project_root()
        .join("slides")
        .join(stage.name)
        .join("Cargo.toml");
    if !manifest.is_file() {
        return Err("not built yet: no slides/".to_string() + stage.name);
    }
    if prebuilt {
        let dir = std::env::var_os("DESDE_CERO_BIN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| util::stage_dir(false));
        let bin = dir.join(stage.name);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("not built yet: no {}", bin.display()))
        };
    }
    util::build_stage(stage, false).map_err(|err| format!("does not build: {err:#}"))
}

/// A file only the host has: if a process sees it, it sees the host's root filesystem.
struct Marker(PathBuf);

impl Marker {
    fn create() -> Result<Marker> {
        // In target/, which no root filesystem has; named per run so two runs do not collide.
        let dir = util::target_dir();
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("desde-cero-matrix-marker-{}", std::process::id()));
        fs::write(&path, "the host's root filesystem\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Marker(path))
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_flags_are_usage_errors() {
        let err = main(vec!["--bogus".into()]).unwrap_err();
        assert!(err.downcast_ref::<util::Usage>().is_some());
    }
}

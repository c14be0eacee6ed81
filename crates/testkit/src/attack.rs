//! Running the probe's attacks (`probe attack <name>|all`) inside a stage, with the bait a
//! careless runtime would leak to its container: a file only the host has, a directory of the
//! host's open on descriptor 7 (`exec 7</tmp`), a variable in the runtime's environment, a key
//! in root's user keyring, a block device the host can open, and the sizes of the host's
//! filesystems, laid through crates/bait, as `cargo xtask matrix` lays it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::terminal::Terminal;

/// How one attack went: whether it got through, and the probe's one line on it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub succeeded: bool,
    pub detail: String,
}

/// The bait of crates/bait, laid around a marker file in the host's `/tmp`; the marker goes when
/// dropped.
pub struct Bait(bait::Bait);

impl Bait {
    pub fn lay() -> Bait {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let marker = PathBuf::from(format!(
            "/tmp/desde-cero-attack-marker-{}-{n}",
            std::process::id()
        ));
        fs::write(&marker, "the host's own file\n").expect("write the host marker");
        let disks = [Path::new("/"), Path::new("/tmp"), &crate::rootfs()];
        Bait(bait::Bait::lay(&marker, &disks).expect("open the host's /tmp"))
    }

    /// `<stage> run [stage_args...] <probe> attack <name> ...` with the bait, run to the end.
    pub fn run(&self, stage: &str, stage_args: &[&str], name: &str) -> crate::Run {
        let probe = crate::probe_path(stage);
        crate::run_cmd(&mut self.0.command(&crate::bin(stage), stage_args, &probe, name))
    }
}

impl std::ops::Deref for Bait {
    type Target = bait::Bait;
    fn deref(&self) -> &bait::Bait {
        &self.0
    }
}

impl Drop for Bait {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0.marker);
    }
}

/// Runs one attack inside `stage` (with `stage_args` before the command, e.g. `--rootless`).
/// `tty` runs on a real terminal ([`on_terminal`]).
pub fn attack(stage: &str, stage_args: &[&str], name: &str) -> Attempt {
    if name == "tty" {
        return on_terminal(stage, stage_args);
    }
    let bait = Bait::lay();
    let run = bait.run(stage, stage_args, name);
    run.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "probe attack {name} in {stage} printed no JSON ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    });
    assert_eq!(v["attack"], name, "{v}");
    attempt(&v)
}

/// Runs every attack inside `stage`, by name; `tty` again on a real terminal ([`on_terminal`]),
/// since with pipes there is no terminal to type into.
pub fn attacks(stage: &str, stage_args: &[&str]) -> BTreeMap<String, Attempt> {
    let bait = Bait::lay();
    let run = bait.run(stage, stage_args, "all");
    run.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "probe attack all in {stage} printed no JSON ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    });
    let mut all: BTreeMap<String, Attempt> = v
        .as_array()
        .expect("a list of attacks")
        .iter()
        .map(|a| (a["attack"].as_str().unwrap_or("?").to_string(), attempt(a)))
        .collect();
    if all.contains_key("tty") {
        all.insert("tty".to_string(), on_terminal(stage, stage_args));
    }
    all
}

/// The `tty` attack as a presenter meets it: the stage runs as a command of a shell on a real
/// terminal (a pseudo-terminal the test opens), and that shell goes on reading the terminal
/// once the container has ended. The probe types `touch MARKER.typed` into its terminal
/// (TIOCSTI); the attack gets through when the host's shell ran it. The terminal's settings
/// must be as they were, whatever the container did to its own.
pub fn on_terminal(stage: &str, stage_args: &[&str]) -> Attempt {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let _legacy = LegacyTiocsti::on();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let marker = format!("/tmp/desde-cero-tty-{}-{n}", std::process::id());
    let typed = PathBuf::from(format!("{marker}.typed"));
    let _ = fs::remove_file(&typed);
    let mut term = Terminal::open(&["sh", "-i"]);
    let line = format!(
        "{} run {} {} attack tty --host-marker {marker}",
        crate::bin(stage).display(),
        stage_args.join(" "),
        crate::probe_path(stage).display(),
    );
    let from = term.screen.len();
    let (code, settings) = term.run(&line);
    let shown = term.text_since(from);
    // The line typed inside, if any, is next in the terminal's input: the shell reads it now.
    let (after, _) = term.run("true");
    term.close();
    let ran = typed.exists();
    let _ = fs::remove_file(&typed);
    assert_eq!(code, 0, "{stage} on a terminal exited {code}:\n{shown}");
    assert_eq!(after, 0, "the shell after {stage}:\n{shown}");
    let report = shown
        .lines()
        .find_map(|l| l.find("{\"attack\"").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("probe attack tty in {stage} printed no JSON:\n{shown}"));
    let v: serde_json::Value = serde_json::from_str(report.trim())
        .unwrap_or_else(|e| panic!("probe attack tty in {stage}: {e}: {report}"));
    let probe = attempt(&v);
    Attempt {
        succeeded: ran || settings != "same",
        detail: format!(
            "{}; the host's shell {} it; the terminal's settings after: {settings}",
            probe.detail,
            if ran { "ran" } else { "did not run" }
        ),
    }
}

/// `dev.tty.legacy_tiocsti` on while a `tty` attack runs: the distributions' default, under
/// which TIOCSTI works (Linux 6.2 added the switch). Put back as it was when dropped.
struct LegacyTiocsti(Option<String>);

const LEGACY_TIOCSTI: &str = "/proc/sys/dev/tty/legacy_tiocsti";

impl LegacyTiocsti {
    fn on() -> LegacyTiocsti {
        match fs::read_to_string(LEGACY_TIOCSTI) {
            Ok(was) if was.trim() == "0" => {
                fs::write(LEGACY_TIOCSTI, "1").expect("turn dev.tty.legacy_tiocsti on");
                LegacyTiocsti(Some(was))
            }
            _ => LegacyTiocsti(None),
        }
    }
}

impl Drop for LegacyTiocsti {
    fn drop(&mut self) {
        if let Some(was) = &self.0 {
            let _ = fs::write(LEGACY_TIOCSTI, was.trim());
        }
    }
}

fn attempt(v: &serde_json::Value) -> Attempt {
    Attempt {
        succeeded: v["succeeded"]
            .as_bool()
            .unwrap_or_else(|| panic!("no `succeeded`: {v}")),
        detail: v["detail"].as_str().unwrap_or("").to_string(),
    }
}

//! `cargo xtask bench --runs 3` as a smoke test: it builds every stage in release, times each one
//! and each installed peer (unshare, bwrap, crun, runc) on `true`, and reports them all — a peer
//! that is not installed is named as skipped with its package — then exits 0 and leaves nothing
//! behind. No timing is asserted: the numbers are read from the benchmark, never tested.
//! With `--write-docs` (into copies of README.md, README.es.md and docs/bench.md) it rewrites
//! the text between each file's markers, and nothing else.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use testkit::Scratch;

/// The peers, the executable each one is, and the package that provides it.
const PEERS: [(&str, &str); 4] = [
    ("unshare", "util-linux"),
    ("bwrap", "bubblewrap"),
    ("crun", "crun"),
    ("runc", "runc"),
];

fn installed(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(Into::into))
        .any(|dir| Path::new(&dir).join(program).is_file())
}

#[test]
fn bench_times_every_stage_and_every_installed_peer() {
    testkit::container_test(smoke_test);
}

fn smoke_test() {
    let scratch = Scratch::new("bench-test");
    let json_path = scratch.path.join("bench.json");
    // Copies of the three files `--write-docs` rewrites.
    let docs = scratch.path.join("docs-root");
    let files = ["README.md", "README.es.md", "docs/bench.md"];
    for file in files {
        let to = docs.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(testkit::project_root().join(file), &to).unwrap();
    }
    let mut cmd = Command::new(testkit::xtask_bin());
    cmd.args(["bench", "--runs", "3", "--write-docs", "--json"])
        .arg(&json_path)
        .env("DESDE_CERO_DOCS_ROOT", &docs);
    // The release build of every stage comes first: minutes on a fresh 2-core machine.
    let run = testkit::run_cmd_within(&mut cmd, Duration::from_secs(900));
    run.expect_code(0);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&json_path).expect("the bench writes its --json file"),
    )
    .expect("the --json file is JSON");

    let measured: Vec<&str> = report["cases"]
        .as_array()
        .expect("a `cases` array")
        .iter()
        .filter(|c| c["median_ms"].is_number() && c["peak_rss_kib"].as_i64() > Some(0))
        .filter_map(|c| c["name"].as_str())
        .collect();
    let skipped: Vec<(&str, &str)> = report["skipped"]
        .as_array()
        .expect("a `skipped` array")
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    let row = |name: &str| {
        run.stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name))
    };

    assert!(measured.contains(&"exec"), "the baseline: {measured:?}");
    assert!(
        measured.contains(&"full+veth") && report["variants"][0]["extra_ms"].is_number(),
        "full --net veth, and what it adds to full: {measured:?} {}",
        report["variants"]
    );
    for name in catalog::names() {
        assert!(
            measured.contains(&name),
            "stage {name} measured, as root: {measured:?}\n{}",
            run.stdout
        );
        assert!(row(name), "a row for {name}:\n{}", run.stdout);
    }
    for (peer, package) in PEERS {
        assert!(row(peer), "a row for {peer}:\n{}", run.stdout);
        if installed(peer) {
            assert!(
                measured.contains(&peer),
                "{peer} is installed, so it is measured: skipped {skipped:?}\n{}",
                run.stdout
            );
        } else {
            let reason = skipped.iter().find(|(n, _)| *n == peer).map(|(_, r)| *r);
            assert!(
                reason.is_some_and(|r| r.contains(package)),
                "{peer} is not installed: skipped naming {package}, got {reason:?}"
            );
            testkit::require(false, &format!("{peer} is not installed (apt: {package})"));
        }
    }
    assert!(
        report["steps"].as_array().map(Vec::len) == Some(catalog::names().len() - 1),
        "a cost for every step: {}",
        report["steps"]
    );
    assert!(
        report["xtask_run"]["cargo_xtask_run_ms"].is_number(),
        "`cargo xtask run` timed: {}",
        report["xtask_run"]
    );
    assert!(
        report["failed"].as_array().is_some_and(Vec::is_empty),
        "no stage failed: {}",
        report["failed"]
    );
    for file in files {
        written_between_the_markers(
            &testkit::project_root().join(file),
            &docs.join(file),
            &report,
        );
    }
}

/// `new` is `old` but between `<!-- bench:begin -->` and `<!-- bench:end -->`, where this run
/// now is: the command, and `full`'s median as the JSON report has it.
fn written_between_the_markers(old: &Path, new: &Path, report: &Value) {
    let (old, new) = (
        std::fs::read_to_string(old).unwrap(),
        std::fs::read_to_string(new).unwrap(),
    );
    let split = |text: &str| -> (String, String, String) {
        let (before, rest) = text
            .split_once("<!-- bench:begin -->")
            .expect("a begin marker");
        let (inside, after) = rest
            .split_once("<!-- bench:end -->")
            .expect("an end marker");
        (before.into(), inside.into(), after.into())
    };
    let (old_before, _, old_after) = split(&old);
    let (before, inside, after) = split(&new);
    assert_eq!(
        (old_before, old_after),
        (before, after),
        "only the run changes"
    );
    assert!(
        inside.contains("cargo xtask bench --runs 3 --write-docs"),
        "the command: {inside}"
    );
    let full = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "full")
        .expect("full measured");
    let median = full["median_ms"].as_f64().unwrap();
    // The README's row `| `full` (…) | 4.56 ms | …`, or the whole table's `full  4.56 ms …`.
    let shown = inside
        .lines()
        .find_map(|line| {
            let rest = line
                .strip_prefix("| `full` ")
                .and_then(|r| r.split('|').nth(1))
                .or_else(|| line.strip_prefix("full "))?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .unwrap_or_else(|| panic!("no row for full: {inside}"));
    assert!(
        (shown - median).abs() < 0.006,
        "full's median: {shown} shown, {median} measured"
    );
}

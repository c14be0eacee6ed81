//! The isolation matrix is a test: `cargo xtask matrix` runs the probe inside every stage of the
//! catalog and compares what it sees with what the host sees. Each stage must have exactly the
//! properties the catalog says it has — its own step plus every earlier one — so a stage that
//! gains or loses one fails here, naming the cell (stage × property). And each stage must stop
//! exactly the attacks the catalog says it stops (`Stage::stops`), tried for real by the probe
//! with the bait a careless runtime leaks: a cell (stage × attack) that differs fails here, with
//! the probe's line on what happened.

use std::process::Command;

use serde_json::Value;
use testkit::LeakCheck;

#[test]
fn every_stage_has_exactly_the_isolation_the_catalog_promises() {
    if !testkit::require_root() {
        return;
    }
    let _g = testkit::serial();
    let leaks = LeakCheck::start();
    // --prebuilt: the binaries `cargo xtask test` built, and the root filesystem as it is (a
    // cargo inside `cargo test` could wait on cargo's own lock).
    let mut cmd = Command::new(testkit::xtask_bin());
    cmd.args(["matrix", "--json", "--prebuilt"]);
    let run = testkit::run_cmd(&mut cmd);
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "matrix printed no JSON ({e}), exit {}:\n{}\n{}",
            run.code, run.stdout, run.stderr
        )
    });

    let rows = report["stages"].as_array().expect("a `stages` array");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(
        names,
        catalog::names(),
        "the matrix's rows are the catalog's stages"
    );
    let columns: Vec<&str> = report["columns"]
        .as_array()
        .expect("a `columns` array")
        .iter()
        .filter_map(|c| c["label"].as_str())
        .collect();
    let labels: Vec<&str> = catalog::Property::ALL.iter().map(|p| p.label()).collect();
    assert_eq!(
        columns, labels,
        "the matrix's columns are the catalog's properties"
    );
    let attacks: Vec<&str> = report["attacks"]
        .as_array()
        .expect("an `attacks` array")
        .iter()
        .filter_map(|c| c["label"].as_str())
        .collect();
    let labels: Vec<&str> = catalog::Attack::ALL.iter().map(|a| a.label()).collect();
    assert_eq!(attacks, labels, "the matrix's attacks are the catalog's");

    let mut problems = Vec::new();
    for row in rows {
        let name = row["name"].as_str().unwrap_or("?");
        if row["status"] != "ok" {
            problems.push(format!("{name}: {} — {}", row["status"], row["error"]));
            continue;
        }
        // The catalog's expectation for this row, from the catalog itself (not from the xtask).
        let stage = catalog::find(name).expect("a catalog stage");
        let expected: Vec<&str> = catalog::expected(stage).iter().map(|p| p.label()).collect();
        let observed: Vec<&str> = row["observed"]
            .as_array()
            .expect("observed properties")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let stops: Vec<&str> = stage.stops.iter().map(|a| a.label()).collect();
        let stopped: Vec<&str> = row["stops_observed"]
            .as_array()
            .expect("stopped attacks")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for a in catalog::Attack::ALL {
            let (want, saw) = (stops.contains(&a.label()), stopped.contains(&a.label()));
            if want != saw {
                problems.push(format!(
                    "cell {name} × {}: the catalog says it {} it, the probe saw it {} ({}): {}",
                    a.label(),
                    if want { "stops" } else { "does not stop" },
                    if saw { "held" } else { "get through" },
                    a.description(),
                    row["attacks"][a.label()]["detail"]
                ));
            }
        }
        for p in catalog::Property::ALL {
            let (want, saw) = (expected.contains(&p.label()), observed.contains(&p.label()));
            if want != saw {
                problems.push(format!(
                    "cell {name} × {}: the catalog says {}, the probe saw {} ({})",
                    p.label(),
                    if want { "✓" } else { "·" },
                    if saw { "✓" } else { "·" },
                    p.description()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the matrix differs from the catalog:\n  {}\n--- stderr\n{}",
        problems.join("\n  "),
        run.stderr
    );
    assert_eq!(report["ok"], true);
    run.expect_code(0);
    leaks.assert_clean();
}

#[test]
fn matrix_refuses_unknown_arguments_with_exit_2() {
    let run = testkit::run_bin(&testkit::xtask_bin(), ["matrix", "--bogus"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr.trim_end(),
        "error: unknown flag `--bogus` (see `cargo xtask matrix --help`)"
    );
}

#[test]
fn the_table_fits_80_columns_and_keeps_every_cell() {
    if !testkit::require_root() {
        return;
    }
    let _g = testkit::serial();
    let leaks = LeakCheck::start();
    let mut cmd = Command::new(testkit::xtask_bin());
    cmd.args(["matrix", "--prebuilt"]);
    let run = testkit::run_cmd(&mut cmd);
    run.expect_code(0);
    let wide: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.chars().count() > 80)
        .collect();
    assert!(wide.is_empty(), "over 80 columns: {wide:#?}");
    // A column per stage (by number), and a key naming every stage.
    let header = run.stdout.lines().next().unwrap_or("");
    let numbers: Vec<String> = catalog::STAGES
        .iter()
        .map(|s| s.number().to_string())
        .collect();
    assert_eq!(
        header
            .split_whitespace()
            .take(numbers.len())
            .collect::<Vec<_>>(),
        numbers,
        "{header}"
    );
    // A row per property, then per attack: its label, a cell per stage, what it means (its
    // end continued on the lines below, indented, when it does not fit).
    let lines: Vec<&str> = run.stdout.lines().collect();
    let row_of = |label: &str, description: &str, want: Vec<&str>| {
        let at = lines
            .iter()
            .position(|l| l.split_whitespace().next() == Some(label))
            .unwrap_or_else(|| panic!("no row for {label}:\n{}", run.stdout));
        let row = lines[at];
        let cells: Vec<&str> = row
            .split_whitespace()
            .skip(1)
            .take(catalog::STAGES.len())
            .collect();
        assert_eq!(cells, want, "{label}");
        let mut text = row.to_string();
        for more in lines[at + 1..]
            .iter()
            .take_while(|l| l.starts_with("     "))
        {
            text.push(' ');
            text.push_str(more.trim());
        }
        assert!(text.ends_with(description), "{text}");
    };
    let mark = |yes: bool| if yes { "✓" } else { "·" };
    for p in catalog::Property::ALL {
        let want = catalog::STAGES
            .iter()
            .map(|s| mark(catalog::expected(s).contains(p)))
            .collect();
        row_of(p.label(), p.description(), want);
    }
    for a in catalog::Attack::ALL {
        let want = catalog::STAGES
            .iter()
            .map(|s| mark(s.stops.contains(a)))
            .collect();
        row_of(a.label(), a.description(), want);
    }
    for stage in catalog::STAGES {
        assert!(
            run.stdout
                .contains(&format!("{} {}", stage.number(), stage.name)),
            "{} missing from the key:\n{}",
            stage.name,
            run.stdout
        );
    }
    leaks.assert_clean();
}

//! The slide notes cannot drift from the code: every demo block of every stage's notes
//! (`slides/<stage>/README.md`, format in crates/notes) is run inside that stage, exactly as
//! `cargo xtask present` runs it (`<stage> run sh -c '<command>'`), and must print what the notes
//! show and exit with the status they promise. Stages come from the catalog, so a new stage's
//! notes are tested as soon as it is in the catalog.

use std::fs;

use catalog::Stage;
use notes::Demo;
use testkit::LeakCheck;

/// Runs one demo in its stage; `Err` says what differs.
fn run_demo(stage: &Stage, demo: &Demo) -> Result<(), String> {
    let place = format!(
        "slides/{}/README.md line {}: `$ {}`",
        stage.name, demo.line, demo.command
    );
    eprintln!("notes: {place}");
    // A block may name another stage to run in (```demo <stage>).
    let name = demo
        .stage
        .as_deref()
        .and_then(catalog::find)
        .map_or(stage.name, |s| s.name);
    let leaks = LeakCheck::start();
    let run = testkit::stage(name, ["sh", "-c", &demo.command]);
    // A leak fails this demo, named, and the other demos still run.
    if std::panic::catch_unwind(|| leaks.assert_clean()).is_err() {
        return Err(format!(
            "{place}: left something behind on the host (see above)"
        ));
    }
    if run.code != demo.exit {
        return Err(format!(
            "{place}: exited {}, the notes say {}\n--- stdout\n{}--- stderr\n{}",
            run.code, demo.exit, run.stdout, run.stderr
        ));
    }
    notes::check_output(&demo.expected, &run.stdout)
        .map_err(|why| format!("{place}: {why}\n--- stderr\n{}", run.stderr))
}

#[test]
fn every_demo_of_every_note_prints_what_the_note_says() {
    let root = testkit::is_root();
    if !root {
        // The stages that need no root still run; the others are a loud skip (a failure in CI).
        testkit::require_root();
    }
    let _serial = testkit::serial();
    let mut failures = Vec::new();
    let mut ran = 0;
    for stage in catalog::STAGES {
        let path = testkit::project_root()
            .join("slides")
            .join(stage.name)
            .join("README.md");
        let demos = match fs::read_to_string(&path).map(|text| notes::demos(&text)) {
            Err(err) => {
                failures.push(format!("{}: {err}", path.display()));
                continue;
            }
            Ok(Err(err)) => {
                failures.push(format!("{}: {err}", path.display()));
                continue;
            }
            Ok(Ok(demos)) => demos,
        };
        if demos.is_empty() {
            failures.push(format!("{}: no demo block", path.display()));
        }
        if stage.needs_root && !root {
            continue;
        }
        if !testkit::bin_dir().join(stage.name).exists() {
            failures.push(format!(
                "stage {} is not built: run the tests through `cargo xtask test`",
                stage.name
            ));
            continue;
        }
        for demo in &demos {
            ran += 1;
            if let Err(why) = run_demo(stage, demo) {
                failures.push(why);
            }
        }
    }
    eprintln!("ran {ran} demo command(s)");
    assert!(
        failures.is_empty(),
        "{} problem(s) with the slide notes:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The demo format's own rules hold on a real note: commands found, placeholders honoured.
#[test]
fn the_uts_note_promises_the_hostname_container() {
    let text = fs::read_to_string(testkit::project_root().join("slides/uts/README.md"))
        .expect("slides/uts/README.md");
    let demos = notes::demos(&text).expect("well-formed demo blocks");
    let hostname = demos
        .iter()
        .find(|d| d.command == "hostname")
        .expect("a `$ hostname` demo in the uts notes");
    assert_eq!(hostname.expected, vec!["container"]);
    assert!(notes::check_output(&hostname.expected, "container\n").is_ok());
    assert!(notes::check_output(&hostname.expected, "myhost\n").is_err());
}

//! Judging a VM run from what came back on the serial ports: the status lines of `/init`
//! (`booted`, `controllers ...`, `start NAME`, `exit NAME CODE`, `done`) and libtest's result
//! lines in the tests' output. Passed: every file exited 0, all of them reported, and the root
//! group offers cpu, memory and pids.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::Outcome;

/// What `/init` said on the status port.
#[derive(Default)]
pub struct Status {
    pub controllers: String,
    pub started: Vec<String>,
    pub exits: Vec<(String, i32)>,
    pub done: bool,
    pub timed_out: bool,
}

/// Reads the status lines (see the module's documentation).
pub fn parse_status(text: &str) -> Status {
    let mut st = Status::default();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("controllers ") {
            st.controllers = rest.to_string();
        } else if let Some(rest) = line.strip_prefix("start ") {
            st.started.push(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("exit ") {
            if let Some((name, code)) = rest.rsplit_once(' ') {
                st.exits
                    .push((name.to_string(), code.parse().unwrap_or(-1)));
            }
        } else if line == "done" {
            st.done = true;
        }
    }
    st
}

/// libtest's "test result: ok. 3 passed; 0 failed; 1 ignored; …" lines, added up.
fn count_results(output: &str) -> (u32, u32, u32) {
    let mut totals = (0, 0, 0);
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        for part in rest.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let n = |w: &[&str]| w.iter().find_map(|x| x.parse::<u32>().ok()).unwrap_or(0);
            if part.contains(" passed") {
                totals.0 += n(&words);
            } else if part.contains(" failed") {
                totals.1 += n(&words);
            } else if part.contains(" ignored") {
                totals.2 += n(&words);
            }
        }
    }
    totals
}

/// One VM run, as the verdict needs it.
pub struct Run<'a> {
    /// The test files that were to run.
    pub names: &'a [&'a str],
    pub run_dir: &'a Path,
    /// How it booted (`pvh`, `bzImage`) and with which accelerator.
    pub how: &'a str,
    pub accel: &'a str,
    pub boot_time: Duration,
    pub total: Duration,
    /// The time limit, in seconds.
    pub timeout: u64,
}

/// Passed or failed, with the one-line summary; on a failure the console's last lines are shown.
pub fn judge(st: &Status, run: &Run) -> Outcome {
    let Run {
        names,
        run_dir,
        how,
        accel,
        boot_time,
        total,
        timeout,
    } = *run;
    let output = fs::read_to_string(run_dir.join("output.log")).unwrap_or_default();
    let (passed, failed, ignored) = count_results(&output);
    let timing = format!(
        "boot {:.1} s ({}, {accel}), total {:.0} s",
        boot_time.as_secs_f64(),
        how,
        total.as_secs_f64()
    );
    let counts = format!("{passed} passed, {failed} failed, {ignored} ignored");
    let bad: Vec<String> = st
        .exits
        .iter()
        .filter(|(_, code)| *code != 0)
        .map(|(n, code)| format!("{n} (exit {code})"))
        .collect();
    let missing_ctl: Vec<&str> = ["cpu", "memory", "pids"]
        .into_iter()
        .filter(|c| !st.controllers.split_whitespace().any(|x| x == *c))
        .collect();
    let problem = if st.timed_out {
        Some(format!(
            "timed out after {timeout} s while running {} (DESDE_CERO_VM_TIMEOUT changes the limit)",
            st.started.last().map(String::as_str).unwrap_or("the boot")
        ))
    } else if !st.done {
        Some(format!(
            "the VM stopped before the tests finished (last started: {}); see {}",
            st.started.last().map(String::as_str).unwrap_or("none"),
            run_dir.join("console.log").display()
        ))
    } else if !bad.is_empty() {
        Some(format!("failing test files: {}", bad.join(", ")))
    } else if st.exits.len() != names.len() {
        Some(format!(
            "{} of {} test files reported",
            st.exits.len(),
            names.len()
        ))
    } else if !missing_ctl.is_empty() {
        Some(format!(
            "the VM's cgroup2 root lacks {} (controllers: {})",
            missing_ctl.join(", "),
            st.controllers
        ))
    } else {
        None
    };
    if problem.is_some() {
        let console = fs::read_to_string(run_dir.join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = console.lines().collect();
        let tail = &lines[lines.len().saturating_sub(25)..];
        if !tail.is_empty() {
            eprintln!("--- last lines of the VM's console\n{}", tail.join("\n"));
        }
    }
    let summary = format!(
        "{} test file(s): {counts}; cgroup2 controllers: {}; {timing}",
        names.len(),
        st.controllers
    );
    match problem {
        Some(p) => Outcome::Failed(format!("{p}; {summary}")),
        None => Outcome::Passed(summary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_results_are_added_up() {
        let out = "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured\n\
                   test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured\n";
        assert_eq!(count_results(out), (4, 2, 1));
    }

    #[test]
    fn status_lines_are_parsed() {
        let st = parse_status("booted\ncontrollers cpu memory pids\nstart vm\nexit vm 0\ndone\n");
        assert!(st.done);
        assert_eq!(st.exits, vec![("vm".to_string(), 0)]);
        assert_eq!(st.controllers, "cpu memory pids");
    }
}

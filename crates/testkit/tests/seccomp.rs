//! The `seccomp` stage (13): the attacks its notes say it stops work in `capabilities`, the stage
//! before, and fail here and in `full`; what the filter must let through still works.
//!
//! - a user namespace made inside (busybox's `unshare -r`): every capability back in
//!   `capabilities`, EPERM from the filter here;
//! - the probe's attacks (`probe attack <name>`): `userns`, `keyring` (a key that host root, this
//!   test, adds to its user keyring, read from inside: root inside is host root's uid, and the
//!   keyrings have no namespace) and `cgroup` (the limits lifted from inside);
//! - the filter is on (`Seccomp: 2`) in the command and what it starts; exit codes, signals,
//!   forks, pipes and the loopback network are as before.

use testkit::{container_test, Run};

/// Runs a shell command line inside a stage; shows what it said.
fn inside(stage: &str, script: &str) -> Run {
    let run = testkit::stage(stage, ["-q", "sh", "-c", script]);
    eprintln!(
        "{stage}: `{script}` -> {}\n{}{}",
        run.code, run.stdout, run.stderr
    );
    run
}

#[test]
fn a_user_namespace_inside_gives_every_capability_in_capabilities_and_is_refused_here() {
    container_test(|| {
        let script = "unshare -r grep CapEff /proc/self/status";
        let before = inside("capabilities", script);
        before.expect_code(0);
        assert!(
            before.stdout.contains("ffffffff"),
            "no full mask: {}",
            before.stdout
        );
        for stage in ["seccomp", "full"] {
            let run = inside(stage, &format!("{script} 2>&1"));
            run.expect_code(1);
            assert!(
                run.stdout.contains("Operation not permitted"),
                "{stage}: {}",
                run.stdout
            );
        }
    });
}

#[test]
fn the_filter_is_inherited_and_ordinary_work_goes_on() {
    container_test(|| {
        let script = "grep '^Seccomp:' /proc/self/status | tr -s '\\t' ' '; echo $$; \
                      echo piped | cat; sh -c 'exit 3'; echo sub=$?; \
                      ping -c1 -W2 127.0.0.1 >/dev/null && echo ping";
        let run = inside("seccomp", script);
        run.expect_code(0);
        assert_eq!(run.stdout, "Seccomp: 2\n2\npiped\nsub=3\nping\n");
        inside("seccomp", "exit 7").expect_code(7);
        inside("seccomp", "kill -TERM $$; sleep 5").expect_code(128 + 15);
        inside("seccomp", "exec /no/such/command").expect_code(127);
    });
}

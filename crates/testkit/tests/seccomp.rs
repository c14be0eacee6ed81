//! The `seccomp` stage (13): the attacks its notes say it stops work in `capabilities`, the stage
//! before, and fail here and in `full`; what the filter must let through still works.
//!
//! - a user namespace made inside (busybox's `unshare -r`): every capability back in
//!   `capabilities`, EPERM from the filter here;
//! - the probe's attacks (`probe attack <name>`): `userns`, `cgroup` (the limits lifted from
//!   inside, through a user namespace) and `keyring` (a key that host root, this test, adds to its
//!   user keyring, read from inside: root inside is host root's uid, and the keyrings have no
//!   namespace);
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

/// A `user` key described as the probe's keyring attack looks for, added to host root's user
/// keyring (this test runs as host root), invalidated when dropped.
struct Key(libc::c_long);

impl Key {
    fn add() -> Key {
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let (kind, description) = (c("user"), c("desde-cero-secret"));
        // SAFETY: add_key(2) with valid strings, a 6-byte payload and KEY_SPEC_USER_KEYRING.
        let id = unsafe {
            libc::syscall(
                libc::SYS_add_key,
                kind.as_ptr(),
                description.as_ptr(),
                b"secret".as_ptr(),
                6usize,
                libc::KEY_SPEC_USER_KEYRING,
            )
        };
        assert!(id > 0, "add_key: {}", std::io::Error::last_os_error());
        Key(id)
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: KEYCTL_INVALIDATE of our own key: it is gone from every keyring at once.
        unsafe { libc::syscall(libc::SYS_keyctl, libc::KEYCTL_INVALIDATE, self.0) };
    }
}

/// Whether `probe attack <name>` got through inside a stage; shows its line.
fn attack(stage: &str, name: &str) -> bool {
    let run = inside(stage, &format!("/usr/local/bin/probe attack {name}"));
    run.expect_code(0);
    let line: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{stage}: probe attack {name} printed no JSON ({e})"));
    line["succeeded"]
        .as_bool()
        .unwrap_or_else(|| panic!("no verdict: {line}"))
}

#[test]
fn the_user_namespace_the_limits_lifted_and_host_roots_keyring_get_through_before_not_here() {
    container_test(|| {
        let _key = Key::add();
        for name in ["userns", "cgroup", "keyring"] {
            // On cgroup2 with nsdelegate, capabilities holds the cgroup attack already.
            let held = name == "cgroup" && testkit::cgroup2_nsdelegate();
            let through = attack("capabilities", name);
            assert!(through != held, "{name} in capabilities: through {through}");
            for stage in ["seccomp", "full"] {
                assert!(!attack(stage, name), "{name} got through in {stage}");
            }
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

//! `oci`, the stage that speaks the OCI runtime spec, driven verb by verb as podman and conmon
//! drive a runtime, and by podman itself.
//!
//! The lifecycle (runtime.md): `create` leaves a container `created`, with the pid `--pid-file`
//! names, waiting; `start` makes it `running`, and a second `start` is refused; `kill` takes
//! numbers and names; `delete` refuses a running container without `--force` and removes one
//! with it; a container whose process ended is `stopped`. After `delete`, nothing is left: no
//! state folder, no cgroup, no mount (the leak check). Bad bundles and ids are one line and
//! exit 1, as runc's, with nothing made. And podman (Debian's, `.ci/run` installs it) runs the
//! stage as its runtime on an image imported from the project's root filesystem.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::{container_test, Run, Scratch};

/// A bundle in a scratch folder: config.json naming the project's root filesystem and `args`,
/// and a --root of its own for the state, so the host's /run/desde-cero-oci is not touched.
struct Bundle {
    dir: Scratch,
}

impl Bundle {
    fn new(args: &[&str]) -> Bundle {
        let dir = Scratch::new("oci");
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {
                "args": args,
                "env": ["PATH=/bin:/usr/bin"],
                "cwd": "/",
                "user": {"uid": 0, "gid": 0},
                "noNewPrivileges": true
            },
            "root": {"path": testkit::rootfs()},
            "hostname": "bundled",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "mode=755"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"},
                               {"type": "ipc"}, {"type": "network"}],
                "resources": {"pids": {"limit": 30}}
            }
        });
        fs::write(dir.path.join("config.json"), config.to_string()).expect("write config.json");
        fs::create_dir(dir.path.join("state")).expect("mkdir state");
        Bundle { dir }
    }

    fn path(&self) -> &Path {
        &self.dir.path
    }

    fn root(&self) -> PathBuf {
        self.dir.path.join("state")
    }

    /// `oci --root <state> <args...>`, its output in files: a created container keeps
    /// create's stdout and stderr, and a pipe would be waited on until it ends.
    fn oci(&self, args: &[&str]) -> Run {
        let out = self.dir.path.join("out");
        let err = self.dir.path.join("err");
        let status = Command::new(testkit::bin("oci"))
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).expect("out"))
            .stderr(fs::File::create(&err).expect("err"))
            .status()
            .expect("run oci");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: fs::read_to_string(&out).unwrap_or_default(),
            stderr: fs::read_to_string(&err).unwrap_or_default(),
        }
    }

    fn create(&self, id: &str) -> Run {
        let bundle = self.path().display().to_string();
        let pid_file = self.path().join(format!("{id}.pid")).display().to_string();
        self.oci(&["create", "--bundle", &bundle, "--pid-file", &pid_file, id])
    }

    fn state(&self, id: &str) -> Value {
        let run = self.oci(&["state", id]);
        run.expect_code(0);
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
    }

    /// Waits for the status `want` (a killed process takes a moment to be reaped).
    fn wait_for(&self, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state = self.state(id);
            if state["status"] == want || Instant::now() > deadline {
                assert_eq!(state["status"], want, "{state}");
                return state;
            }
            sleep(Duration::from_millis(20));
        }
    }
}

/// One line on stderr, naming `what`.
#[track_caller]
fn one_line(run: &Run, code: i32, what: &str) {
    run.expect_code(code);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains(what), "{what}: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn create_start_state_kill_delete() {
    container_test(|| {
        let bundle = Bundle::new(&["sleep", "30"]);
        bundle.create("c1").expect_code(0);
        let state = bundle.state("c1");
        assert_eq!(state["status"], "created", "{state}");
        assert_eq!(state["id"], "c1");
        assert_eq!(
            state["ociVersion"].as_str().map(|v| v.starts_with("1.")),
            Some(true)
        );
        let pid = state["pid"].as_i64().expect("a pid");
        let pid_file = fs::read_to_string(bundle.path().join("c1.pid")).expect("pid file");
        assert_eq!(pid_file.trim(), pid.to_string());
        // It waits, made, in its own UTS namespace, before its process runs.
        let host_uts = fs::read_link("/proc/self/ns/uts").unwrap();
        assert_ne!(
            fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap(),
            host_uts
        );
        assert!(bundle.root().join("c1/exec.fifo").exists());

        bundle.oci(&["start", "c1"]).expect_code(0);
        assert_eq!(bundle.state("c1")["status"], "running");
        one_line(&bundle.oci(&["start", "c1"]), 1, "running");
        one_line(&bundle.oci(&["delete", "c1"]), 1, "not stopped");

        // A name, as docker's tools send them; the init passes it on to sleep.
        bundle.oci(&["kill", "c1", "TERM"]).expect_code(0);
        let state = bundle.wait_for("c1", "stopped");
        assert_eq!(state["pid"], 0, "{state}");
        one_line(&bundle.oci(&["kill", "c1", "9"]), 1, "not running");
        bundle.oci(&["delete", "c1"]).expect_code(0);
        assert!(!bundle.root().join("c1").exists());
        one_line(&bundle.oci(&["state", "c1"]), 1, "does not exist");
    });
}

#[test]
fn delete_force_removes_a_running_and_a_created_container() {
    container_test(|| {
        let bundle = Bundle::new(&["sleep", "30"]);
        bundle.create("run1").expect_code(0);
        bundle.create("made1").expect_code(0);
        bundle.oci(&["start", "run1"]).expect_code(0);
        // Two at once, each in its own state.
        assert_eq!(bundle.state("run1")["status"], "running");
        assert_eq!(bundle.state("made1")["status"], "created");
        let pids: Vec<i64> = ["run1", "made1"]
            .iter()
            .map(|id| bundle.state(id)["pid"].as_i64().unwrap())
            .collect();
        bundle.oci(&["delete", "--force", "run1"]).expect_code(0);
        bundle.oci(&["delete", "--force", "made1"]).expect_code(0);
        for pid in pids {
            let state = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            assert!(
                state.is_empty() || state.contains(") Z"),
                "pid {pid} lives: {state}"
            );
        }
        let left: Vec<_> = fs::read_dir(bundle.root()).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");
    });
}

#[test]
fn kill_takes_numbers_and_the_exit_is_the_process_own() {
    container_test(|| {
        let bundle = Bundle::new(&["sleep", "30"]);
        bundle.create("k").expect_code(0);
        bundle.oci(&["start", "k"]).expect_code(0);
        // 9, as podman's `stop` sends it after 15.
        bundle.oci(&["kill", "k", "9"]).expect_code(0);
        bundle.wait_for("k", "stopped");
        one_line(&bundle.oci(&["kill", "k", "SIGNOPE"]), 1, "unknown signal");
        bundle.oci(&["delete", "k"]).expect_code(0);
    });
}

#[test]
fn bad_bundles_and_ids_are_one_line_and_exit_1_with_nothing_made() {
    container_test(|| {
        let bundle = Bundle::new(&["true"]);
        let dir = bundle.path().display().to_string();
        for id in ["a/b", "..", "."] {
            let run = bundle.oci(&["create", "--bundle", &dir, id]);
            one_line(&run, 1, "invalid container id");
        }
        let empty = Scratch::new("oci-empty");
        let empty_dir = empty.path.display().to_string();
        let run = bundle.oci(&["create", "--bundle", &empty_dir, "x"]);
        one_line(&run, 1, "config.json");
        fs::write(empty.path.join("config.json"), "{not json").unwrap();
        one_line(
            &bundle.oci(&["create", "--bundle", &empty_dir, "x"]),
            1,
            "config.json",
        );
        fs::write(empty.path.join("config.json"), r#"{"ociVersion": "0.1"}"#).unwrap();
        one_line(
            &bundle.oci(&["create", "--bundle", &empty_dir, "x"]),
            1,
            "ociVersion",
        );
        let mapped = json!({"ociVersion": "1.0.2", "linux": {"hooks": {}, "namespaces": [],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}});
        fs::write(empty.path.join("config.json"), mapped.to_string()).unwrap();
        one_line(
            &bundle.oci(&["create", "--bundle", &empty_dir, "x"]),
            1,
            "uidMappings",
        );
        let left: Vec<_> = fs::read_dir(bundle.root()).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");

        bundle.create("twice").expect_code(0);
        one_line(
            &bundle.create("twice"),
            1,
            "container with id exists: twice",
        );
        bundle.oci(&["delete", "--force", "twice"]).expect_code(0);
        // Usage errors: 125, as every stage's.
        for args in [&["create"][..], &["start"], &["kill"], &["frobnicate", "x"]] {
            let run = bundle.oci(args);
            one_line(&run, 125, "usage: oci run ");
        }
        one_line(&bundle.oci(&["exec", "x"]), 1, "exec: not supported");
    });
}

/// Whether podman is installed: CI installs it (`.ci/run`); elsewhere a loud skip.
fn podman() -> bool {
    let found = Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    testkit::require(
        found,
        "podman is not installed: apt-get install podman conmon",
    )
}

#[test]
fn podman_runs_the_stage_as_its_runtime() {
    if !testkit::require_root() || !podman() {
        return;
    }
    let _serial = testkit::serial();
    // An image from the project's root filesystem, no registry: `podman import` of a tarball.
    let scratch = Scratch::new("oci-podman");
    let tar = scratch.path.join("rootfs.tar");
    let made = Command::new("tar")
        .arg("-C")
        .arg(testkit::rootfs())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(made.success());
    let image = "localhost/desde-cero-oci-test";
    let import = testkit::run_cmd(Command::new("podman").arg("import").arg(&tar).arg(image));
    import.expect_code(0);
    let leaks = testkit::leaks::LeakCheck::start();
    let started = Instant::now();
    let run = testkit::run_cmd(Command::new("podman").args([
        "--runtime",
        &testkit::bin("oci").display().to_string(),
        "run",
        "--rm",
        "--cgroup-manager=cgroupfs",
        "--network=none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        image,
        "sh",
        "-c",
        "echo hi; hostname; grep Seccomp: /proc/self/status; exit 3",
    ]));
    eprintln!("podman run --rm with oci: {:?}", started.elapsed());
    run.expect_code(3);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"hi"), "{}\n{}", run.stdout, run.stderr);
    // podman names the container's host after its id: it came from config.json's hostname.
    assert_eq!(lines.get(1).map(|l| l.len()), Some(12), "{}", run.stdout);
    // podman's own seccomp profile, from config.json, is loaded: mode 2, a filter.
    assert_eq!(
        lines.get(2).map(|l| l.split_whitespace().collect()),
        Some(vec!["Seccomp:", "2"])
    );
    leaks.assert_clean();
    let _ = testkit::run_cmd(Command::new("podman").args(["rmi", "-f", image]));
}

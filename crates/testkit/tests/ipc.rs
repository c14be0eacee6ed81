//! The `ipc` stage (8): the container gets an IPC namespace of its own.
//!
//! A System V shared memory segment that the test makes on the host (`ipcmk -M 1024`, removed
//! with `ipcrm` however the test ends) is listed inside `cgroups`, the stage before, and not
//! inside `ipc`, whose list is empty. The IPC namespace link (its inode, as the probe reports
//! it) is the host's in `cgroups` and another one in `ipc`.

use std::process::Command;

use testkit::container_test;
use testkit::host_ns;
use testkit::ns;

/// A shared memory segment in the host's IPC namespace, removed when dropped.
struct Segment {
    id: String,
}

impl Segment {
    fn make() -> Segment {
        let out = Command::new("ipcmk")
            .args(["-M", "1024"])
            .output()
            .expect("run ipcmk (util-linux)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "ipcmk failed: {text}");
        // "Shared memory id: 32769"
        let id = text
            .rsplit(':')
            .next()
            .map(|id| id.trim().to_string())
            .filter(|id| id.parse::<u64>().is_ok())
            .unwrap_or_else(|| panic!("unexpected ipcmk output: {text}"));
        Segment { id }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        let _ = Command::new("ipcrm").args(["-m", &self.id]).status();
    }
}

/// The ids of the shared memory segments a stage's command sees: /proc/sysvipc/shm lists those
/// of the reader's IPC namespace, one a line after a header, the id in the second column.
fn segments_inside(stage: &str) -> Vec<String> {
    let run = testkit::stage(stage, ["cat", "/proc/sysvipc/shm"]);
    run.expect_code(0);
    run.stdout
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .map(str::to_string)
        .collect()
}

#[test]
fn ipc_has_its_own_ipc_namespace_and_cgroups_shares_the_hosts() {
    container_test(|| {
        let cgroups = testkit::probe("cgroups");
        assert_eq!(
            ns(&cgroups, "ipc"),
            host_ns("ipc"),
            "cgroups must share the host's IPC ns"
        );
        let ipc = testkit::probe("ipc");
        assert_ne!(
            ns(&ipc, "ipc"),
            host_ns("ipc"),
            "ipc must have its own IPC ns"
        );
    });
}

#[test]
fn a_segment_made_on_the_host_is_invisible_in_ipc_and_visible_in_cgroups() {
    container_test(|| {
        let segment = Segment::make();
        let before = segments_inside("cgroups");
        assert!(
            before.contains(&segment.id),
            "cgroups shares the host's IPC ns, so it must list segment {}: {before:?}",
            segment.id
        );
        let inside = segments_inside("ipc");
        assert!(
            inside.is_empty(),
            "a new IPC ns starts with no segments, ipc lists {inside:?}"
        );
        // The rest of ipc is cgroups': the same group, made and removed.
        let run = testkit::stage("ipc", ["cat", "/proc/self/cgroup"]);
        run.expect_code(0);
        assert!(run.stdout.contains("/desde-cero-"), "{}", run.stdout);
        assert!(run.stderr.contains("parent: rmdir "), "{}", run.stderr);
    });
}

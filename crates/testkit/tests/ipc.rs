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

/// A POSIX message queue in the host's IPC namespace, removed when dropped.
struct Queue {
    name: std::ffi::CString,
}

impl Queue {
    fn make() -> Queue {
        let name =
            std::ffi::CString::new(format!("/desde-cero-mq-{}", std::process::id())).unwrap();
        let flags = libc::O_CREAT | libc::O_RDWR;
        let null = std::ptr::null_mut::<libc::mq_attr>();
        // SAFETY: a NUL-terminated name, and a null attr (the defaults), as mq_open(3) allows.
        let fd = unsafe { libc::mq_open(name.as_ptr(), flags, 0o600, null) };
        assert!(fd >= 0, "mq_open: {}", std::io::Error::last_os_error());
        // SAFETY: the descriptor mq_open just returned; the queue stays until mq_unlink.
        unsafe { libc::mq_close(fd) };
        Queue { name }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: the NUL-terminated name the queue was made with.
        unsafe { libc::mq_unlink(self.name.as_ptr()) };
    }
}

/// `ipc` mounts the container's queues at /dev/mqueue, as docker does: from both sides, the
/// host's queue is listed by an mqueue filesystem mounted in the host's IPC namespace (in a
/// mount namespace of its own, so nothing is left mounted) and not by the container's.
#[test]
fn ipc_shows_its_own_message_queues_at_dev_mqueue() {
    container_test(|| {
        let queue = Queue::make();
        let name = queue
            .name
            .to_str()
            .unwrap()
            .trim_start_matches('/')
            .to_string();
        let script = "d=$(mktemp -d) && mount -t mqueue none \"$d\" && ls -A \"$d\"; \
                      umount \"$d\"; rmdir \"$d\"";
        let host = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", script])
            .output()
            .expect("run unshare (util-linux)");
        let host = String::from_utf8_lossy(&host.stdout);
        assert!(
            host.lines().any(|l| l == name),
            "the host's queues: {host:?}"
        );
        for stage in ["ipc", "full"] {
            let run = testkit::stage(
                stage,
                [
                    "sh",
                    "-c",
                    "grep -c ' /dev/mqueue mqueue ' \
                /proc/mounts; ls -A /dev/mqueue",
                ],
            );
            run.expect_code(0);
            assert_eq!(
                run.stdout.trim(),
                "1",
                "{stage}: {}{}",
                run.stdout,
                run.stderr
            );
        }
    });
}

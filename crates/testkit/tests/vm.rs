//! The cgroup v2 VM's self-check. `cargo xtask test` boots a small VM whose kernel mounts only
//! cgroup2 and runs some integration test files there again (see vm/README.md); this file proves
//! that the VM really is what those tests rely on: `/sys/fs/cgroup` is a cgroup2 filesystem with
//! no v1 hierarchy beside it, the controllers the cgroups stage needs are enabled for children,
//! a child group can be made, limited and removed, and the static binaries and root filesystem
//! were put in. On the host (`DESDE_CERO_IN_VM` unset) there is nothing to check: each test says
//! so and passes.

use std::fs;
use std::path::Path;

/// `CGROUP2_SUPER_MAGIC` from linux/magic.h.
const CGROUP2_MAGIC: i64 = 0x6367_7270;

fn in_the_vm(test: &str) -> bool {
    if testkit::in_vm() {
        return true;
    }
    eprintln!(
        "{test}: not in the cgroup v2 VM (DESDE_CERO_IN_VM unset), nothing to check here; \
         `cargo xtask test` runs this file inside the VM"
    );
    false
}

fn fs_magic(path: &str) -> i64 {
    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: statfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    assert_eq!(rc, 0, "statfs {path}: {}", std::io::Error::last_os_error());
    st.f_type as i64
}

fn words(path: &str) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_vm_has_only_a_cgroup2_hierarchy_with_the_needed_controllers() {
    if !in_the_vm("cgroup2 self-check") {
        return;
    }
    assert_eq!(
        fs_magic("/sys/fs/cgroup"),
        CGROUP2_MAGIC,
        "/sys/fs/cgroup is not a cgroup2 filesystem"
    );
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    let v1: Vec<&str> = mounts
        .lines()
        .filter(|l| l.split_whitespace().nth(2) == Some("cgroup"))
        .collect();
    assert!(v1.is_empty(), "cgroup v1 hierarchies in the VM: {v1:?}");

    let available = words("/sys/fs/cgroup/cgroup.controllers");
    let enabled = words("/sys/fs/cgroup/cgroup.subtree_control");
    for controller in ["cpu", "memory", "pids"] {
        assert!(
            available.iter().any(|c| c == controller),
            "{controller} missing from cgroup.controllers: {available:?}"
        );
        assert!(
            enabled.iter().any(|c| c == controller),
            "{controller} not enabled in the root's cgroup.subtree_control: {enabled:?}"
        );
    }
}

#[test]
fn a_child_group_can_be_made_limited_and_removed() {
    if !in_the_vm("child group self-check") {
        return;
    }
    let _g = testkit::serial();
    let leaks = testkit::LeakCheck::start();
    let dir = Path::new("/sys/fs/cgroup/desde-cero-vm-selfcheck");
    fs::create_dir(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    let result = std::panic::catch_unwind(|| {
        for file in [
            "pids.max",
            "memory.max",
            "cpu.max",
            "cgroup.kill",
            "memory.events",
        ] {
            assert!(dir.join(file).exists(), "a child group has no {file}");
        }
        fs::write(dir.join("pids.max"), "20").unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("pids.max")).unwrap().trim(),
            "20"
        );
    });
    fs::remove_dir(dir).unwrap_or_else(|e| panic!("rmdir {}: {e}", dir.display()));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    leaks.assert_clean();
}

#[test]
fn the_static_binaries_and_the_root_filesystem_are_in_the_vm() {
    if !in_the_vm("contents self-check") {
        return;
    }
    let rootfs = testkit::rootfs();
    assert!(
        rootfs.join("bin/sh").exists(),
        "no /bin/sh in {}",
        rootfs.display()
    );
    // The stages and the probe, built for musl: present and runnable without any library.
    let probe = testkit::bin("probe");
    let out = std::process::Command::new(&probe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", probe.display()));
    assert!(out.status.success(), "{} failed: {out:?}", probe.display());
    let first = catalog::STAGES[0].name;
    assert!(
        testkit::bin_dir().join(first).exists(),
        "stage {first} was not put into the VM's {}",
        testkit::bin_dir().display()
    );
}

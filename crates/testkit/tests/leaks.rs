//! The leak check itself: what a container could leave on the host — a mount, a cgroup folder of
//! the project, an overlay folder of `full` — is reported by `Snapshot::added_since`, and nothing
//! is reported once it is gone again.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use testkit::leaks::Snapshot;

#[test]
fn a_mount_a_cgroup_and_an_overlay_folder_are_seen_as_leaks() {
    if !testkit::require_root() {
        return;
    }
    let _g = testkit::serial();
    let before = Snapshot::take();
    let pid = std::process::id();
    let overlay = PathBuf::from(format!("/tmp/desde-cero-overlay-leaktest-{pid}"));
    fs::create_dir(&overlay).expect("make an overlay folder");
    let top = hoststate::mounts()
        .into_iter()
        .find(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .expect("a cgroup hierarchy is mounted")
        .mount_point;
    let group = top.join(format!("desde-cero-leaktest-{pid}"));
    fs::create_dir(&group).expect("make a cgroup");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "desde-cero-leaktest"])
        .arg(&overlay)
        .status()
        .expect("run mount")
        .success();

    let leaked = Snapshot::take().added_since(&before);

    let unmounted = Command::new("umount").arg(&overlay).status();
    let _ = fs::remove_dir(&group);
    let _ = fs::remove_dir(&overlay);
    assert!(mounted, "mount -t tmpfs failed");
    assert!(unmounted.is_ok_and(|s| s.success()), "umount failed");
    for want in [
        format!("mount: {} (tmpfs)", overlay.display()),
        format!("cgroup: {}", group.display()),
        format!("overlay folder: {}", overlay.display()),
    ] {
        assert!(leaked.contains(&want), "{want:?} not in {leaked:#?}");
    }
    assert_eq!(Snapshot::take().added_since(&before), Vec::<String>::new());
}

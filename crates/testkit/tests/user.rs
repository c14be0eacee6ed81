//! The `user` stage (10): a user namespace of its own, and a container without root.
//!
//! Run by an ordinary user that the test creates (`useradd`, then `runuser`; `userdel -r` removes
//! it however the test ends): `id` says 0 inside, the uid and gid maps are `0 <the user's id> 1`,
//! a file the container creates is the user's on the host, and the steps that need root on the
//! host (the cgroup, the veth pair) are skipped with a line each. Run by root: container root is
//! host id 700000000, not host root, also as the owner of the files it creates, and has none of
//! host root's supplementary groups. Either way the command is PID 2. `net`, the stage before,
//! shares the host's user namespace. A host whose user.max_user_namespaces is 0 (set here in a
//! throwaway user namespace, never on the host) gets a line naming the setting.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use testkit::container_test;
use testkit::ns;
use testkit::{host_ns, Scratch};

/// The host id the `user` stage maps container root to when root runs it.
const HOST_ID_OF_ROOT: u32 = 700_000_000;

/// A map file's text with its columns' padding squeezed: `0 1000 1`.
fn squeeze(map: &str) -> String {
    map.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs a command, retrying a few times when /etc/passwd is locked by someone else's useradd.
fn admin(args: &[&str]) -> bool {
    for _ in 0..20 {
        let status = Command::new(args[0])
            .args(&args[1..])
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", args[0]));
        // 10: "cannot lock /etc/passwd; try again later" (useradd and userdel agree on it).
        if status.code() != Some(10) {
            return status.success();
        }
        sleep(Duration::from_millis(100));
    }
    false
}

/// A throwaway user, removed with its home when dropped (also when the test fails).
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

impl User {
    fn create() -> User {
        let name = format!("dctest{}", std::process::id());
        assert!(
            admin(&["useradd", "--create-home", "--shell", "/bin/sh", &name]),
            "useradd {name} failed"
        );
        // From here on the user exists: the guard removes it whatever happens next.
        let mut user = User {
            name,
            uid: 0,
            gid: 0,
        };
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, &user.name])
                .output()
                .expect("run id");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("a numeric id")
        };
        let (uid, gid) = (id("-u"), id("-g"));
        assert_ne!(uid, 0, "useradd made a root user");
        (user.uid, user.gid) = (uid, gid);
        user
    }
}

impl Drop for User {
    fn drop(&mut self) {
        if !admin(&["userdel", "--remove", &self.name]) {
            eprintln!("warning: userdel --remove {} failed", self.name);
        }
    }
}

/// A copy of the root filesystem in `dir`, owned by `uid`:`gid`, that a container can write in.
fn own_rootfs(dir: &Path, uid: u32, gid: u32) -> PathBuf {
    let copy = dir.join("rootfs");
    let ok = Command::new("cp")
        .arg("-a")
        .arg(testkit::rootfs())
        .arg(&copy)
        .status()
        .expect("run cp")
        .success();
    assert!(ok, "cp -a of the root filesystem failed");
    let ok = Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(&copy)
        .status()
        .expect("run chown")
        .success();
    assert!(ok, "chown -R of the root filesystem copy failed");
    copy
}

/// The `user` binary, copied where any user may run it (the build folder may not be readable).
fn user_binary(dir: &Path) -> PathBuf {
    let copy = dir.join("user");
    std::fs::copy(testkit::bin("user"), &copy).expect("copy the user stage");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    copy
}

#[test]
fn user_has_its_own_user_namespace_and_net_shares_the_hosts() {
    container_test(|| {
        let net = testkit::probe("net");
        assert_eq!(
            ns(&net, "user"),
            host_ns("user"),
            "net must share the host's user ns"
        );
        assert_eq!(squeeze(net["uid_map"].as_str().unwrap()), "0 0 4294967295");
        let user = testkit::probe("user");
        assert_ne!(
            ns(&user, "user"),
            host_ns("user"),
            "user must have its own user ns"
        );
    });
}

#[test]
fn run_by_root_container_root_is_not_host_root() {
    container_test(|| {
        let report = testkit::probe("user");
        assert_eq!(report["uid"], 0, "{report}");
        assert_eq!(report["gid"], 0, "{report}");
        let mapped = format!("0 {HOST_ID_OF_ROOT} 1");
        assert_eq!(squeeze(report["uid_map"].as_str().unwrap()), mapped);
        assert_eq!(squeeze(report["gid_map"].as_str().unwrap()), mapped);

        // Host root's supplementary groups (group 0 among them) stay outside,
        // and nothing ran in the PID namespace before the command.
        let script = "grep Groups: /proc/self/status; echo $$";
        let run = testkit::stage("user", ["sh", "-c", script]);
        run.expect_code(0);
        let lines: Vec<String> = run.stdout.lines().map(squeeze).collect();
        assert_eq!(lines, ["Groups:", "2"], "{}", run.stderr);

        // What container root creates belongs to HOST_ID_OF_ROOT on the host.
        let scratch = Scratch::new("user-root");
        let rootfs = own_rootfs(&scratch.path, HOST_ID_OF_ROOT, HOST_ID_OF_ROOT);
        let mut cmd = Command::new(testkit::bin("user"));
        cmd.args(["run", "touch", "/made-by-container-root"])
            .env(testkit::ROOTFS_ENV, &rootfs);
        testkit::run_cmd(&mut cmd).expect_code(0);
        let made = std::fs::metadata(rootfs.join("made-by-container-root")).expect("the file");
        assert_eq!((made.uid(), made.gid()), (HOST_ID_OF_ROOT, HOST_ID_OF_ROOT));

        // And in the shared root filesystem, owned by host root, container root may not write.
        let run = testkit::stage("user", ["touch", "/etc/written-by-container-root"]);
        assert_ne!(run.code, 0, "container root wrote in a root-owned folder");
        assert!(!testkit::rootfs()
            .join("etc/written-by-container-root")
            .exists());
    });
}

#[test]
fn run_by_an_ordinary_user_it_is_root_inside_and_the_user_outside() {
    container_test(|| {
        let user = User::create();
        let scratch = Scratch::new("user-rootless");
        std::fs::set_permissions(&scratch.path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the scratch folder");
        let rootfs = own_rootfs(&scratch.path, user.uid, user.gid);
        let binary = user_binary(&scratch.path);
        let script = "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; \
                      touch /made-inside; hostname; echo $$";
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &user.name, "--", "env"])
            .arg(format!("{}={}", testkit::ROOTFS_ENV, rootfs.display()))
            .arg(&binary)
            .args(["run", "sh", "-c", script]);
        let run = testkit::run_cmd(&mut cmd);
        run.expect_code(0);
        let lines: Vec<String> = run.stdout.lines().map(squeeze).collect();
        let map = |id: u32| format!("0 {id} 1");
        assert_eq!(
            lines,
            ["0", "0", &map(user.uid), &map(user.gid), "container", "2"],
            "{}",
            run.stderr
        );
        let made = std::fs::metadata(rootfs.join("made-inside")).expect("the file made inside");
        assert_eq!((made.uid(), made.gid()), (user.uid, user.gid));
        // What needs root on the host is skipped, and said so; the cgroup too, where nothing is
        // delegated to the user (delegation.rs).
        for skipped in [
            "user: running WITHOUT cgroup limits",
            "parent: skipping the veth pair",
        ] {
            assert!(run.stderr.contains(skipped), "{}", run.stderr);
        }
        assert!(!run.stderr.contains("parent: cgroup"), "{}", run.stderr);
        assert!(!run.stderr.contains("ip link add"), "{}", run.stderr);
    });
}

#[test]
fn a_host_without_user_namespaces_is_named_in_one_line() {
    container_test(|| {
        // unshare -r: a throwaway user namespace, where user.max_user_namespaces is ours to set
        // (it is per namespace): the host's own setting is never touched.
        let script = r#"echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" run true"#;
        let mut cmd = Command::new("unshare");
        cmd.args(["--user", "--map-root-user", "sh", "-c", script])
            .arg(testkit::bin("user"));
        let run = testkit::run_cmd(&mut cmd);
        run.expect_code(125);
        // Not root on the host in there: the cgroup's line (nothing delegated) comes first, a
        // warning; the error is the one other line.
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("user:") && !l.contains("running WITHOUT cgroup limits"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", run.stderr);
        assert!(
            errors[0].contains("user.max_user_namespaces is 0")
                && errors[0].contains("sysctl -w user.max_user_namespaces="),
            "{}",
            run.stderr
        );
    });
}

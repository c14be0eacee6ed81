//! The `Vagrantfile` and `vagrant/provision.sh`, tested for real as far as a machine that cannot
//! boot a VM allows.
//!
//! - The Vagrantfile parses (`ruby -c`) and Vagrant accepts it: `vagrant validate
//!   --ignore-provider`, and `vagrant validate` against the libvirt provider's settings (Debian's
//!   `vagrant` and `vagrant-libvirt` packages). A copy without its provisioning script must be
//!   refused, which shows the validation bites. The VirtualBox, VMware and Parallels blocks are
//!   checked by syntax only: Debian packages none of those providers.
//! - The provisioning script runs here (Debian, the same family as the box's Ubuntu) as root, for a
//!   throwaway user made with `useradd -m`, on a copy of the repository in a ramfs in that user's
//!   home (standing in for the VM's shared folder, so the script sends cargo's output to the
//!   user's own disk as it does in the VM). It installs what is missing, rustup with the stable
//!   toolchain and the musl target downloaded from static.rust-lang.org, runs
//!   `cargo build --workspace` and `cargo xtask rootfs` as the user; then it runs a second time and
//!   must end with `changed: 0`. `userdel -r` removes the user and everything it made, and the
//!   test checks that nothing is left.
//!
//! Not covered, because no VM boots here: the box itself, a real vboxsf/hgfs/prl_fs shared folder
//! at /vagrant, the apt installs when the packages are already here (CI installs them first),
//! Ubuntu's AppArmor sysctl, arm64.
//! If static.rust-lang.org cannot be reached (or `DESDE_CERO_VAGRANT_TOOLCHAIN=reuse`), root's
//! rustup and toolchains are lent to the user read-only (bind mounts) instead of downloaded, and
//! the test says so: the download path is then not covered.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{project_root, LeakCheck, Run};

const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[test]
fn the_vagrantfile_parses_and_vagrant_validates_it() {
    let root = project_root();
    let script = root.join("vagrant/provision.sh");

    // The script the Vagrantfile names: there, executable, LF line endings, kept LF on Windows.
    let mode = fs::metadata(&script)
        .expect("vagrant/provision.sh")
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "vagrant/provision.sh is not executable");
    let text = fs::read_to_string(&script).unwrap();
    assert!(text.starts_with("#!/usr/bin/env bash\n") && !text.contains('\r'));
    let attributes = fs::read_to_string(root.join(".gitattributes")).unwrap_or_default();
    assert!(
        attributes
            .lines()
            .any(|l| l.starts_with("*.sh") && l.contains("eol=lf")),
        ".gitattributes must keep *.sh LF for Windows checkouts"
    );
    let vagrantfile = fs::read_to_string(root.join("Vagrantfile")).expect("Vagrantfile");
    assert!(vagrantfile.contains("path: \"vagrant/provision.sh\""));

    if !testkit::require(have("ruby"), "ruby is not installed (apt-get install ruby)") {
        return;
    }
    let run = run_limited(
        Command::new("ruby").arg("-c").arg(root.join("Vagrantfile")),
        Duration::from_secs(60),
    );
    run.expect_code(0);
    assert!(run.stdout.contains("Syntax OK"), "{run:?}");

    // Debian 12 packages Vagrant 2.3.4 and the libvirt plugin, so these run in CI. Without them
    // (another distribution) only the syntax above is checked, and the test says why.
    if !testkit::require(
        have("vagrant"),
        "vagrant is not installed (Debian: apt-get install vagrant vagrant-libvirt); \
         only `ruby -c Vagrantfile` was checked",
    ) {
        return;
    }
    let scratch = Scratch::new("vagrant-validate");
    let had_dotdir = root.join(".vagrant").exists();
    let run = run_limited(
        vagrant(&scratch, &root).args(["validate", "--ignore-provider"]),
        Duration::from_secs(120),
    );
    run.expect_code(0);
    assert!(run.stdout.contains("validated successfully"), "{run:?}");

    // The check bites: the same Vagrantfile without its script is refused.
    let alone = scratch.path.join("alone");
    fs::create_dir_all(&alone).unwrap();
    fs::copy(root.join("Vagrantfile"), alone.join("Vagrantfile")).unwrap();
    let run = run_limited(
        vagrant(&scratch, &alone).args(["validate", "--ignore-provider"]),
        Duration::from_secs(120),
    );
    assert_ne!(run.code, 0, "validate accepted a missing script: {run:?}");
    assert!(run.stderr.contains("vagrant/provision.sh"), "{run:?}");

    if testkit::require(
        deb_installed("vagrant-libvirt"),
        "vagrant-libvirt is not installed (apt-get install vagrant-libvirt): \
         the libvirt provider's settings were not validated",
    ) {
        let run = run_limited(
            vagrant(&scratch, &root)
                .env("VAGRANT_DEFAULT_PROVIDER", "libvirt")
                .arg("validate"),
            Duration::from_secs(120),
        );
        run.expect_code(0);
        assert!(run.stdout.contains("validated successfully"), "{run:?}");
    }
    assert!(
        had_dotdir || !root.join(".vagrant").exists(),
        "vagrant wrote .vagrant/ into the repository"
    );
}

#[test]
fn provisioning_runs_twice_and_the_second_run_changes_nothing() {
    if !testkit::require_root() {
        return;
    }
    if !testkit::require(
        have("apt-get") && have("dpkg-query") && have("runuser") && have("useradd"),
        "vagrant/provision.sh targets Debian and Ubuntu (apt-get, dpkg-query, runuser, useradd)",
    ) {
        return;
    }
    let _g = testkit::serial();
    let leaks = LeakCheck::start();
    let root = project_root();

    let mut user = Throwaway::create();
    // In the VM, /vagrant is the provider's shared folder (vboxsf, hgfs, prl_fs). A ramfs stands
    // in for it here: the script sees a filesystem that is not a local disk's, as it would there.
    let repo = user.shared_folder();
    copy_repository(&root, &user.name, &repo);

    let arch = std::env::consts::ARCH;
    let lend = std::env::var("DESDE_CERO_VAGRANT_TOOLCHAIN").is_ok_and(|v| v == "reuse");
    let reachable = !lend && rustup_reachable(arch);
    if !reachable {
        eprintln!(
            "\n*** vagrant.rs: {}: lending root's rustup and toolchains to the user read-only; \
             the rustup download is NOT tested ***\n",
            if lend {
                "DESDE_CERO_VAGRANT_TOOLCHAIN=reuse"
            } else {
                "static.rust-lang.org cannot be reached"
            }
        );
        user.lend_root_toolchain();
    }

    // First run: a fresh user, so at least the toolchain and the build are new.
    let first = provision(&root, &user.name, &repo);
    let changed = changed_count(&first);
    assert!(changed >= 1, "a fresh user got nothing new?\n{first:?}");
    if reachable {
        assert!(
            first
                .stdout
                .contains("[changed] installed rustup and the stable toolchain"),
            "{first:?}"
        );
    }
    assert!(
        repo.join("rootfs/build/bin/busybox").exists(),
        "no root filesystem made"
    );
    // Built off the shared folder, where the user's shells will look too.
    let target = user.home.join(".cache/desde-cero/target");
    assert!(
        target.join("debug/xtask").exists() && !repo.join("target").exists(),
        "the workspace was not built in {}",
        target.display()
    );
    let profile = fs::read_to_string(user.home.join(".profile")).unwrap_or_default();
    assert!(
        profile.contains("export CARGO_TARGET_DIR=\"$HOME/.cache/desde-cero/target\""),
        "~/.profile does not set CARGO_TARGET_DIR:\n{profile}"
    );

    // Second run: every step finds its work done.
    let second = provision(&root, &user.name, &repo);
    assert_eq!(
        changed_count(&second),
        0,
        "the second run changed something:\n{second:?}"
    );
    assert!(!second.stdout.contains("[changed]"), "{second:?}");
    assert!(
        !second.stderr.contains("Compiling "),
        "cargo rebuilt:\n{second:?}"
    );

    user.remove();
    leaks.assert_clean();
}

/// Runs the provisioning script as root for `user` on `repo`, with a clean environment (as Vagrant
/// runs it: no CARGO_HOME or RUSTUP_HOME from this test's cargo).
fn provision(root: &Path, user: &str, repo: &Path) -> Run {
    let mut cmd = Command::new(root.join("vagrant/provision.sh"));
    cmd.arg(repo)
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .env("LANG", "C.UTF-8")
        .env("DESDE_CERO_USER", user);
    let started = Instant::now();
    let run = run_limited(&mut cmd, Duration::from_secs(600));
    eprintln!(
        "vagrant/provision.sh took {:.0?}:\n{}",
        started.elapsed(),
        run.stdout
    );
    run.expect_code(0);
    run
}

/// The N of the script's last line, `changed: N`.
fn changed_count(run: &Run) -> u32 {
    let last = run.stdout.lines().last().unwrap_or("");
    last.strip_prefix("changed: ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the script did not end with `changed: N`:\n{run:?}"))
}

fn rustup_reachable(arch: &str) -> bool {
    let url =
        format!("https://static.rust-lang.org/rustup/dist/{arch}-unknown-linux-gnu/rustup-init");
    let run = run_limited(
        Command::new("curl").args(["-sfI", "--max-time", "15", &url]),
        Duration::from_secs(30),
    );
    run.code == 0
}

/// Copies the repository's files (tracked and untracked, not ignored: no target/, no rootfs
/// build) into `dest`, owned by `user`.
fn copy_repository(root: &Path, user: &str, dest: &Path) {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output();
    let files: Vec<PathBuf> = match listed {
        Ok(out) if out.status.success() => out
            .stdout
            .split(|&b| b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| PathBuf::from(String::from_utf8_lossy(name).into_owned()))
            .filter(|name| root.join(name).symlink_metadata().is_ok())
            .collect(),
        _ => walk(root, Path::new("")),
    };
    assert!(files.iter().any(|f| f == Path::new("Cargo.toml")));
    let mut list = Vec::new();
    for f in &files {
        list.extend_from_slice(f.as_os_str().as_encoded_bytes());
        list.push(0);
    }
    let mut cmd = Command::new("bash");
    cmd.args([
        "-c",
        r#"set -euo pipefail
           runuser -u "$2" -- mkdir -p "$3"
           tar -C "$1" --null -T - -cf - | runuser -u "$2" -- tar -xf - -C "$3""#,
        "copy",
    ])
    .arg(root)
    .arg(user)
    .arg(dest)
    .env_clear()
    .env("PATH", SYSTEM_PATH)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("bash");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&list).expect("write the file list");
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "copying the repository failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The repository's files without git: everything but build output and VM state.
fn walk(root: &Path, rel: &Path) -> Vec<PathBuf> {
    const SKIP: [&str; 5] = ["target", ".git", ".vagrant", "rootfs/build", "rootfs/cache"];
    let mut out = Vec::new();
    for entry in fs::read_dir(root.join(rel)).unwrap() {
        let entry = entry.unwrap();
        let path = rel.join(entry.file_name());
        let name = path.to_string_lossy();
        if SKIP.contains(&name.as_ref()) || name.starts_with("rootfs/.tmp-") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(root, &path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A user made for this test and removed with everything it owns (`userdel -r`), also when the
/// test fails halfway.
struct Throwaway {
    name: String,
    home: PathBuf,
    mounts: Vec<PathBuf>,
    removed: bool,
}

impl Throwaway {
    fn create() -> Throwaway {
        let name = format!("dcvagrant{}", std::process::id());
        let out = Command::new("useradd")
            .args(["-m", "-s", "/bin/bash", &name])
            .output()
            .expect("useradd");
        assert!(
            out.status.success(),
            "useradd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let passwd = fs::read_to_string("/etc/passwd").unwrap();
        let home = passwd
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.first() == Some(&name.as_str())).then(|| PathBuf::from(f[5]))
            })
            .expect("the new user's passwd entry");
        Throwaway {
            name,
            home,
            mounts: Vec::new(),
            removed: false,
        }
    }

    /// A ramfs in the user's home, owned by the user: a folder on a filesystem that is not a
    /// local disk's, as a VM's shared folder is.
    fn shared_folder(&mut self) -> PathBuf {
        let dir = self.home.join("shared");
        fs::create_dir(&dir).unwrap();
        run_limited(
            Command::new("mount")
                .args(["-t", "ramfs", "desde-cero-shared"])
                .arg(&dir),
            Duration::from_secs(30),
        )
        .expect_code(0);
        self.mounts.push(dir.clone());
        run_limited(
            Command::new("chown")
                .arg(format!("{0}:{0}", self.name))
                .arg(&dir),
            Duration::from_secs(30),
        )
        .expect_code(0);
        dir.join("repo")
    }

    /// Lends root's rustup (`~/.cargo/bin`) and `~/.rustup` to the user, read-only, where rustup
    /// looks for them: the provisioning script then finds rustup installed.
    fn lend_root_toolchain(&mut self) {
        let root_home = PathBuf::from("/root");
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| root_home.join(".cargo"));
        let rustup_home = std::env::var_os("RUSTUP_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| root_home.join(".rustup"));
        for (from, to) in [
            (cargo_home.join("bin"), self.home.join(".cargo/bin")),
            (rustup_home, self.home.join(".rustup")),
        ] {
            assert!(from.is_dir(), "no toolchain at {} to lend", from.display());
            let run = run_limited(
                Command::new("runuser")
                    .args(["-u", &self.name, "--", "mkdir", "-p"])
                    .arg(&to),
                Duration::from_secs(30),
            );
            run.expect_code(0);
            let run = run_limited(
                Command::new("mount")
                    .args(["--bind", "-o", "ro"])
                    .arg(&from)
                    .arg(&to),
                Duration::from_secs(30),
            );
            run.expect_code(0);
            self.mounts.push(to.clone());
            // Older util-linux ignores `ro` on the first bind: make sure.
            run_limited(
                Command::new("mount")
                    .args(["-o", "remount,bind,ro"])
                    .arg(&to),
                Duration::from_secs(30),
            )
            .expect_code(0);
        }
    }

    fn teardown(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        for to in self.mounts.drain(..).rev() {
            let out = Command::new("umount").arg(&to).output();
            if !out.is_ok_and(|o| o.status.success()) {
                errors.push(format!("cannot unmount {}", to.display()));
            }
        }
        // userdel refuses while the user has processes; the script's are all waited for.
        let out = Command::new("userdel").args(["-r", &self.name]).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                // Exit 12: the home could not be removed; say so but carry on to the checks.
                errors.push(format!(
                    "userdel -r {} failed: {}",
                    self.name,
                    String::from_utf8_lossy(&o.stderr)
                ))
            }
            Err(e) => errors.push(format!("userdel: {e}")),
        }
        self.removed = true;
        errors
    }

    /// Removes the user and asserts nothing of it is left.
    fn remove(mut self) {
        let errors = self.teardown();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(
            !self.home.exists(),
            "{} is still there",
            self.home.display()
        );
        for file in [
            "/etc/passwd",
            "/etc/group",
            "/etc/shadow",
            "/etc/subuid",
            "/etc/subgid",
        ] {
            let text = fs::read_to_string(file).unwrap_or_default();
            assert!(
                !text
                    .lines()
                    .any(|l| l.split(':').next() == Some(self.name.as_str())),
                "{} still names {}",
                file,
                self.name
            );
        }
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        if !self.removed {
            for error in self.teardown() {
                eprintln!("cleanup: {error}");
            }
        }
    }
}

/// A temporary folder removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(what: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("desde-cero-{what}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Scratch { path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// `vagrant` in `dir`, keeping all of Vagrant's own state in the scratch folder (not in ~ or the
/// repository) and asking the network nothing.
fn vagrant(scratch: &Scratch, dir: &Path) -> Command {
    let mut cmd = Command::new("vagrant");
    cmd.current_dir(dir)
        .env("VAGRANT_CWD", dir)
        .env("VAGRANT_HOME", scratch.path.join("home"))
        .env("VAGRANT_DOTFILE_PATH", scratch.path.join("dot"))
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .env("VAGRANT_NO_COLOR", "1")
        .env_remove("VAGRANT_DEFAULT_PROVIDER");
    cmd
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", "command -v \"$1\" >/dev/null", "sh", program])
        .env("PATH", SYSTEM_PATH)
        .status()
        .is_ok_and(|s| s.success())
}

fn deb_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| o.stdout == b"install ok installed")
}

/// Runs a command that may start many processes (bash, apt, cargo) in its own process group, with
/// a time limit after which the whole group is killed.
fn run_limited(cmd: &mut Command, limit: Duration) -> Run {
    use std::os::unix::process::ExitStatusExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            // SAFETY: kill has no memory-safety preconditions; -pid names the child's group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = child.wait();
            panic!("{:?} took longer than {limit:?}: killed", cmd.get_program());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => -1,
    };
    Run {
        code,
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    }
}

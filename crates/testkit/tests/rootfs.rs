//! `cargo xtask rootfs`: making the container's root filesystem, for real, into temporary folders.
//!
//! From the host's static busybox (offline), from a tarball the test makes, and from a `file://`
//! "download" checked by SHA-256; a tampered download and malicious tarballs (`..`, absolute
//! paths, symlinks out, hard links out) are refused and leave nothing behind, neither outside the
//! target nor half-made; a rerun does nothing unless `--force`; a folder the xtask did not make
//! is never replaced, nor one with something still mounted inside. A root filesystem gives a local
//! user nothing: a setuid-root copy of the probe from a tarball, run by a throwaway user (useradd,
//! runuser, userdel) by its host path, cannot even be reached, and once reached runs without
//! root's capabilities; a tarball's device nodes and fifos are never made; the alpine and dir
//! sources lose setuid/setgid bits, file capabilities and nodes too. The tests run the built xtask
//! binary with `--dest` (never the real `rootfs/build`) and `DESDE_CERO_PROBE` (the probe
//! `cargo xtask test` already built), so no cargo runs inside `cargo test`.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::{LeakCheck, Run, Scratch};

/// Runs `xtask rootfs <args...>` with `env`, the prebuilt probe, and none of the overrides the
/// caller did not ask for.
fn xtask(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(testkit::xtask_bin());
    cmd.arg("rootfs").args(args);
    for var in [
        "DESDE_CERO_BUSYBOX",
        "DESDE_CERO_ALPINE_URL",
        "DESDE_CERO_ALPINE_SHA256",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("DESDE_CERO_PROBE", prebuilt_probe());
    cmd.envs(env.iter().copied());
    testkit::run_cmd(&mut cmd)
}

/// The probe `cargo xtask test` put into the main root filesystem.
fn prebuilt_probe() -> PathBuf {
    testkit::rootfs().join("usr/local/bin/probe")
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// The temporary `.tmp-*` entries a run might have left in `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect()
}

fn has_static_busybox() -> bool {
    testkit::require(
        ["/bin/busybox", "/usr/bin/busybox"]
            .iter()
            .any(|p| Path::new(p).exists()),
        "needs a static busybox on the host: apt-get install busybox-static",
    )
}

fn has_curl() -> bool {
    testkit::require(
        Command::new("curl").arg("--version").output().is_ok(),
        "needs the curl command (the alpine source downloads with it): apt-get install curl",
    )
}

/// The one-line error the xtask printed (`error: ...`).
fn error_line(run: &Run) -> &str {
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line:\n{}", run.stderr);
    lines[0]
}

// ---- a hand-made tar writer, so the tests can make archives no tar tool would -------------

enum Entry<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str, u32, u32),
    Block(&'a str, u32, u32),
    Fifo(&'a str),
}

/// A ustar archive of `entries` (names under 100 bytes), every entry owned by 0:0.
fn tarball(entries: &[Entry]) -> Vec<u8> {
    fn field(h: &mut [u8], at: usize, len: usize, text: &str) {
        assert!(text.len() < len, "{text:?} too long for a ustar field");
        h[at..at + text.len()].copy_from_slice(text.as_bytes());
    }
    fn octal(h: &mut [u8], at: usize, len: usize, value: u64) {
        let text = format!("{value:0width$o}", width = len - 1);
        field(h, at, len, &text);
    }
    let mut out = Vec::new();
    for entry in entries {
        let (name, kind, link, data, mode, dev): (&str, u8, &str, &[u8], u32, (u32, u32)) =
            match *entry {
                Entry::File(name, data, mode) => (name, b'0', "", data, mode, (0, 0)),
                Entry::Dir(name) => (name, b'5', "", &[], 0o755, (0, 0)),
                Entry::Symlink(name, to) => (name, b'2', to, &[], 0o777, (0, 0)),
                Entry::Hardlink(name, to) => (name, b'1', to, &[], 0o644, (0, 0)),
                Entry::Char(name, major, minor) => (name, b'3', "", &[], 0o666, (major, minor)),
                Entry::Block(name, major, minor) => (name, b'4', "", &[], 0o666, (major, minor)),
                Entry::Fifo(name) => (name, b'6', "", &[], 0o666, (0, 0)),
            };
        let mut h = [0u8; 512];
        field(&mut h, 0, 100, name);
        octal(&mut h, 100, 8, mode.into());
        octal(&mut h, 108, 8, 0);
        octal(&mut h, 116, 8, 0);
        octal(&mut h, 124, 12, data.len() as u64);
        octal(&mut h, 136, 12, 1_700_000_000);
        h[148..156].fill(b' ');
        h[156] = kind;
        field(&mut h, 157, 100, link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        octal(&mut h, 329, 8, dev.0.into());
        octal(&mut h, 337, 8, dev.1.into());
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        field(&mut h, 148, 8, &format!("{sum:06o}\0"));
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

// ---- the tests ------------------------------------------------------------------------------

#[test]
fn busybox_makes_a_working_userland_offline_and_is_the_default() {
    if !has_static_busybox() {
        return;
    }
    let scratch = Scratch::new("rootfs-busybox");
    let dest = scratch.path.join("root");
    // No --from: the host has a static busybox, so that is what is used.
    let run = xtask(&["--dest", s(&dest)], &[]);
    run.expect_code(0);
    assert!(run.stderr.contains("from busybox /"), "{}", run.stderr);

    for dir in [
        "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "usr/bin", "usr/sbin",
    ] {
        assert!(dest.join(dir).is_dir(), "no /{dir}");
    }
    assert_eq!(
        fs::metadata(dest.join("tmp")).unwrap().permissions().mode() & 0o7777,
        0o1777
    );
    assert!(fs::metadata(dest.join("bin/busybox")).unwrap().is_file());
    for applet in ["bin/sh", "bin/ls", "bin/cat", "sbin/ip"] {
        assert_eq!(
            fs::read_link(dest.join(applet)).unwrap(),
            Path::new("/bin/busybox"),
            "{applet}"
        );
    }
    let read = |f: &str| fs::read_to_string(dest.join(f)).unwrap();
    assert!(read("etc/passwd").starts_with("root:x:0:0:"));
    assert!(read("etc/group").starts_with("root:x:0:"));
    assert_eq!(read("etc/hostname"), "container\n");
    assert!(read("etc/os-release").contains("ID=desde-cero"));
    assert_eq!(
        fs::read(dest.join("usr/local/bin/probe")).unwrap(),
        fs::read(prebuilt_probe()).unwrap(),
        "the probe is not in the root filesystem"
    );
    assert!(read(".desde-cero-rootfs").starts_with("busybox /"));
    assert!(leftovers(&scratch.path).is_empty());

    // It works as a root filesystem: busybox's sh runs in it with nothing from the host.
    if testkit::require_root() {
        let out = Command::new("chroot")
            .arg(&dest)
            .args([
                "/bin/sh",
                "-c",
                ". /etc/os-release; echo $ID; ls /usr/local/bin",
            ])
            .output()
            .expect("run chroot(8)");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "desde-cero\nprobe\n");
    }
}

#[test]
fn a_rerun_does_nothing_unless_forced() {
    if !has_static_busybox() {
        return;
    }
    let scratch = Scratch::new("rootfs-rerun");
    let dest = scratch.path.join("root");
    xtask(&["--from", "busybox", "--dest", s(&dest)], &[]).expect_code(0);
    let marker = dest.join(".desde-cero-rootfs");
    let before = fs::metadata(&marker).unwrap();
    fs::write(dest.join("canary"), "still here").unwrap();

    for args in [vec![], vec!["--from", "busybox"], vec!["--from", "alpine"]] {
        let mut args = args.clone();
        args.extend(["--dest", s(&dest)]);
        let run = xtask(&args, &[]);
        run.expect_code(0);
        assert!(
            run.stderr.contains("already exists, made from busybox")
                && run.stderr.contains("nothing to do"),
            "{}",
            run.stderr
        );
        assert!(
            dest.join("canary").exists(),
            "a rerun changed the root filesystem"
        );
        let after = fs::metadata(&marker).unwrap();
        assert_eq!((before.ino(), before.mtime()), (after.ino(), after.mtime()));
    }

    let run = xtask(&["--force", "--from", "busybox", "--dest", s(&dest)], &[]);
    run.expect_code(0);
    assert!(run.stderr.contains("made "), "{}", run.stderr);
    assert!(!dest.join("canary").exists(), "--force did not remake it");
    assert!(dest.join("bin/busybox").exists());
    assert!(leftovers(&scratch.path).is_empty());
}

#[test]
fn a_tarball_is_unpacked_with_links_modes_and_devices() {
    let scratch = Scratch::new("rootfs-tar");
    let archive = scratch.path.join("root.tar");
    fs::write(
        &archive,
        tarball(&[
            Entry::Dir("./"),
            Entry::Dir("bin/"),
            Entry::File("bin/tool", b"#!/bin/sh\necho tool\n", 0o750),
            Entry::Symlink("bin/sh", "/bin/tool"),
            Entry::Dir("usr/lib/"),
            // A relative link that stays inside may be followed.
            Entry::Symlink("lib", "usr/lib"),
            Entry::File("lib/libc.so", b"not really", 0o644),
            Entry::Hardlink("usr/lib/libc.hard", "usr/lib/libc.so"),
            Entry::File("etc/motd", b"hello\n", 0o600),
            Entry::Dir("dev/"),
            Entry::Char("dev/null", 1, 3),
        ]),
    )
    .unwrap();
    let dest = scratch.path.join("root");
    let run = xtask(&["--from", "tar", s(&archive), "--dest", s(&dest)], &[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(&format!(
            "from tarball {} (sha256 {})",
            archive.display(),
            sha256(&archive)
        )),
        "{}",
        run.stderr
    );

    let mode = |p: &str| {
        fs::symlink_metadata(dest.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("bin/tool"), 0o750);
    assert_eq!(mode("etc/motd"), 0o600);
    assert_eq!(
        fs::read_link(dest.join("bin/sh")).unwrap(),
        Path::new("/bin/tool")
    );
    assert_eq!(
        fs::read(dest.join("usr/lib/libc.so")).unwrap(),
        b"not really"
    );
    assert_eq!(
        fs::metadata(dest.join("usr/lib/libc.hard")).unwrap().ino(),
        fs::metadata(dest.join("usr/lib/libc.so")).unwrap().ino()
    );
    let null = dest.join("dev/null");
    if testkit::is_root() {
        let meta = fs::symlink_metadata(&null).unwrap();
        assert!(meta.file_type().is_char_device());
        assert_eq!(meta.rdev(), libc::makedev(1, 3));
    } else {
        assert!(!null.exists());
        assert!(
            run.stderr.contains("skipped 1 device node"),
            "{}",
            run.stderr
        );
    }
    assert!(dest.join("usr/local/bin/probe").is_file());
    assert!(leftovers(&scratch.path).is_empty());
}

#[test]
fn a_tar_made_by_the_tar_command_from_a_rootfs_round_trips() {
    if !has_static_busybox() {
        return;
    }
    let scratch = Scratch::new("rootfs-tar-gz");
    let first = scratch.path.join("first");
    xtask(&["--from", "busybox", "--dest", s(&first)], &[]).expect_code(0);
    // What `docker export` would give: the whole tree, here gzip-compressed.
    let archive = scratch.path.join("exported.tar.gz");
    let status = Command::new("tar")
        .args(["--numeric-owner", "-czf"])
        .arg(&archive)
        .arg("-C")
        .arg(&first)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let second = scratch.path.join("second");
    xtask(&["--from", "tar", s(&archive), "--dest", s(&second)], &[]).expect_code(0);
    assert_eq!(
        fs::read_link(second.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!(
        fs::read(second.join("bin/busybox")).unwrap(),
        fs::read(first.join("bin/busybox")).unwrap()
    );
    assert!(fs::read_to_string(second.join(".desde-cero-rootfs"))
        .unwrap()
        .starts_with("tarball "));
}

#[test]
fn malicious_tarballs_are_refused_and_write_nothing_outside() {
    let scratch = Scratch::new("rootfs-evil");
    let outside = scratch.path.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), "host data").unwrap();
    let outside_abs = format!("{}/pwned-abs", outside.display());
    let cases: Vec<(&str, Vec<Entry>, &str)> = vec![
        (
            "path traversal",
            vec![
                Entry::Dir("bin/"),
                Entry::File("../outside/pwned", b"x", 0o644),
            ],
            "`..` would leave the root filesystem",
        ),
        (
            "traversal in the middle",
            vec![Entry::File("bin/../../outside/pwned", b"x", 0o644)],
            "`..` would leave the root filesystem",
        ),
        (
            "absolute path",
            vec![Entry::File(&outside_abs, b"x", 0o644)],
            "an absolute path would leave the root filesystem",
        ),
        (
            "absolute symlink, then a file through it",
            vec![
                Entry::Symlink("etc", s(&outside)),
                Entry::File("etc/passwd", b"x", 0o644),
            ],
            "/etc is a symlink to",
        ),
        (
            "relative symlink climbing out, then a file through it",
            vec![
                Entry::Dir("a/"),
                Entry::Symlink("a/up", "../../outside"),
                Entry::File("a/up/pwned", b"x", 0o644),
            ],
            "/a/up is a symlink to ../../outside, which climbs out",
        ),
        (
            "hard link to a file outside",
            vec![Entry::Hardlink("stolen", "../outside/secret")],
            "`..` would leave the root filesystem",
        ),
    ];
    for (what, entries, expected) in cases {
        let archive = scratch.path.join("evil.tar");
        fs::write(&archive, tarball(&entries)).unwrap();
        let dest = scratch.path.join("root");
        let run = xtask(&["--from", "tar", s(&archive), "--dest", s(&dest)], &[]);
        run.expect_code(1);
        let line = error_line(&run);
        assert!(
            line.contains("refusing tarball entry") && line.contains(expected),
            "{what}: {line}"
        );
        assert!(
            !dest.exists(),
            "{what}: a half-made root filesystem was left"
        );
        assert!(
            leftovers(&scratch.path).is_empty(),
            "{what}: temporary files left"
        );
        let names: Vec<_> = fs::read_dir(&outside)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["secret"], "{what}: something was written outside");
        assert_eq!(
            fs::read_to_string(outside.join("secret")).unwrap(),
            "host data"
        );
    }

    // A symlink at the very path of a later file is replaced, never followed.
    let archive = scratch.path.join("replace.tar");
    let target = format!("{}/pwned-final", outside.display());
    fs::write(
        &archive,
        tarball(&[
            Entry::Symlink("x", &target),
            Entry::File("x", b"inside", 0o644),
        ]),
    )
    .unwrap();
    let dest = scratch.path.join("root");
    xtask(&["--from", "tar", s(&archive), "--dest", s(&dest)], &[]).expect_code(0);
    assert_eq!(fs::read(dest.join("x")).unwrap(), b"inside");
    assert!(
        !Path::new(&target).exists(),
        "the file went through the symlink"
    );
}

#[test]
fn a_tampered_download_is_rejected_before_unpacking_and_leaves_nothing() {
    if !has_curl() {
        return;
    }
    let scratch = Scratch::new("rootfs-sha");
    let good = scratch.path.join("minirootfs.tar");
    fs::write(
        &good,
        tarball(&[Entry::Dir("bin/"), Entry::File("bin/hello", b"hi\n", 0o755)]),
    )
    .unwrap();
    let pinned = sha256(&good);
    // Same size, one byte changed in the file's content.
    let mut bytes = fs::read(&good).unwrap();
    let at = bytes.windows(3).position(|w| w == b"hi\n").unwrap();
    bytes[at] = b'H';
    let tampered = scratch.path.join("tampered.tar");
    fs::write(&tampered, bytes).unwrap();

    let dest = scratch.path.join("root");
    let url = format!("file://{}", tampered.display());
    let env = [
        ("DESDE_CERO_ALPINE_URL", url.as_str()),
        ("DESDE_CERO_ALPINE_SHA256", pinned.as_str()),
    ];
    let run = xtask(&["--from", "alpine", "--dest", s(&dest)], &env);
    run.expect_code(1);
    let line = error_line(&run);
    assert!(
        line.contains("SHA-256 mismatch")
            && line.contains(&pinned)
            && line.contains("nothing was unpacked"),
        "{line}"
    );
    assert!(!dest.exists());
    let left: Vec<_> = fs::read_dir(&scratch.path)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left.len(),
        2,
        "something was left besides the two tarballs: {left:?}"
    );

    // The genuine file passes the same check and is unpacked.
    let url = format!("file://{}", good.display());
    let env = [
        ("DESDE_CERO_ALPINE_URL", url.as_str()),
        ("DESDE_CERO_ALPINE_SHA256", pinned.as_str()),
    ];
    let run = xtask(&["--from", "alpine", "--dest", s(&dest)], &env);
    run.expect_code(0);
    assert!(run.stderr.contains("SHA-256 verified"), "{}", run.stderr);
    assert_eq!(fs::read(dest.join("bin/hello")).unwrap(), b"hi\n");
    assert!(leftovers(&scratch.path).is_empty());

    // A URL without a checksum to check it against is not downloaded at all.
    let run = xtask(
        &["--from", "alpine", "--dest", s(&scratch.path.join("other"))],
        &[("DESDE_CERO_ALPINE_URL", url.as_str())],
    );
    run.expect_code(1);
    assert!(
        error_line(&run).contains("DESDE_CERO_ALPINE_SHA256"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_working_source_gives_one_error_with_the_three_fixes() {
    let scratch = Scratch::new("rootfs-none");
    let dest = scratch.path.join("root");
    let missing = format!("file://{}/no-such.tar.gz", scratch.path.display());
    let run = xtask(
        &["--dest", s(&dest)],
        &[
            ("DESDE_CERO_BUSYBOX", ""),
            ("DESDE_CERO_ALPINE_URL", missing.as_str()),
            ("DESDE_CERO_ALPINE_SHA256", &"0".repeat(64)),
        ],
    );
    run.expect_code(1);
    let line = error_line(&run);
    for fix in ["busybox-static", "allow the download", "--from tar FILE"] {
        assert!(line.contains(fix), "missing {fix:?}: {line}");
    }
    assert!(!dest.exists());
    assert!(leftovers(&scratch.path).is_empty());

    // Asked for explicitly, a missing or dynamic busybox is named as such.
    let run = xtask(
        &["--from", "busybox", "--dest", s(&dest)],
        &[("DESDE_CERO_BUSYBOX", "")],
    );
    run.expect_code(1);
    assert!(error_line(&run).contains("apt-get install busybox-static"));
    let run = xtask(
        &["--from", "busybox", "--dest", s(&dest)],
        &[("DESDE_CERO_BUSYBOX", "/bin/ls")], // dynamically linked on every distro we know
    );
    run.expect_code(1);
    assert!(
        error_line(&run).contains("dynamically linked"),
        "{}",
        run.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["--from"],
        vec!["--from", "debian"],
        vec!["--from", "tar"],
        vec!["--dest"],
        vec!["--bogus"],
    ] {
        let run = xtask(&args, &[]);
        run.expect_code(2);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(
            error_line(&run).contains("(see `cargo xtask rootfs --help`)"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_source_that_does_not_exist_fails_even_when_there_is_nothing_to_make() {
    if !has_static_busybox() {
        return;
    }
    let scratch = Scratch::new("rootfs-nope");
    let dest = scratch.path.join("root");
    xtask(&["--from", "busybox", "--dest", s(&dest)], &[]).expect_code(0);
    let nope = scratch.path.join("nope.tar");
    let run = xtask(&["--from", "tar", s(&nope), "--dest", s(&dest)], &[]);
    run.expect_code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_eq!(
        error_line(&run),
        format!("error: no such file: {}", nope.display())
    );
    let run = xtask(&["--from", "dir", s(&nope), "--dest", s(&dest)], &[]);
    run.expect_code(1);
    assert_eq!(
        error_line(&run),
        format!("error: no such folder: {}", nope.display())
    );
    let run = xtask(
        &["--from", "tar", s(&scratch.path), "--dest", s(&dest)],
        &[],
    );
    run.expect_code(1);
    assert!(
        error_line(&run).ends_with("is not a file"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_file_that_is_not_a_tarball_is_never_echoed() {
    let scratch = Scratch::new("rootfs-secret");
    // Shaped like /etc/shadow: its first 512 bytes make a tar header whose numeric fields are
    // not numbers, which the tar crate's own message quotes.
    let mut secret = String::new();
    for user in [
        "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail",
    ] {
        secret.push_str(&format!(
            "{user}:$6$s3cr3t$hashhashhash:20228:0:99999:7:::\n"
        ));
    }
    let file = scratch.path.join("shadow");
    fs::write(&file, &secret).unwrap();
    let dest = scratch.path.join("root");
    let run = xtask(&["--from", "tar", s(&file), "--dest", s(&dest)], &[]);
    run.expect_code(1);
    let line = error_line(&run);
    assert!(line.contains("is not a tar archive"), "{}", run.stderr);
    for piece in ["s3cr3t", "99999", "daemon", "hashhash"] {
        assert!(
            !run.stderr.contains(piece),
            "{piece:?} echoed: {}",
            run.stderr
        );
    }
    assert!(!dest.exists());
    assert!(leftovers(&scratch.path).is_empty());
}

#[test]
fn an_offline_download_says_why_in_one_line_and_points_to_busybox() {
    let scratch = Scratch::new("rootfs-offline");
    let dest = scratch.path.join("root");
    // `.invalid` never resolves (RFC 2606): the same as a machine without DNS.
    let env = [
        (
            "DESDE_CERO_ALPINE_URL",
            "https://dl-cdn.desde-cero.invalid/alpine.tar.gz",
        ),
        ("DESDE_CERO_ALPINE_SHA256", &"0".repeat(64)),
        ("https_proxy", ""),
        ("HTTPS_PROXY", ""),
        ("all_proxy", ""),
    ];
    let started = std::time::Instant::now();
    let run = xtask(&["--from", "alpine", "--dest", s(&dest)], &env);
    run.expect_code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let line = error_line(&run);
    assert!(
        line.contains("cannot resolve dl-cdn.desde-cero.invalid"),
        "{line}"
    );
    assert!(line.contains("--from busybox"), "{line}");
    assert!(!line.contains("timeout") && !line.contains('#'), "{line}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(!dest.exists());
    assert!(leftovers(&scratch.path).is_empty());
}

#[test]
fn missing_device_nodes_are_pointed_out_once_with_the_fix() {
    // As an ordinary user without sudo, the nodes cannot be made: `rootfs` says so, and the
    // demos after it do not say it again.
    if !testkit::require_root() {
        return;
    }
    let scratch = Scratch::new("rootfs-nodev");
    fs::set_permissions(&scratch.path, fs::Permissions::from_mode(0o777)).unwrap();
    let copy = |from: &Path, to: &str| {
        let to = scratch.path.join(to);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(from, &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
        to
    };
    // Copies, so that `nobody` can read them wherever the repository is.
    let xtask_bin = copy(&testkit::xtask_bin(), "xtask");
    let probe = copy(&prebuilt_probe(), "probe");
    // `run user` builds with `$CARGO` (here: true) and starts target/<musl>/debug/user (here:
    // true): only what the xtask itself does is under test.
    let truth = Path::new("/bin/true");
    let musl = format!("{}-unknown-linux-musl", std::env::consts::ARCH);
    copy(truth, &format!("target/{musl}/debug/user"));
    let tarball_path = scratch.path.join("root.tar");
    fs::write(
        &tarball_path,
        tarball(&[Entry::Dir("bin/"), Entry::File("bin/sh", b"#!\n", 0o755)]),
    )
    .unwrap();
    let dest = scratch.path.join("root");
    let empty = scratch.path.join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    let target = scratch.path.join("target");
    Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&target)
        .status()
        .unwrap();
    let nobody = |args: &[&str]| {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(&xtask_bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", &empty)
            .env("HOME", &scratch.path)
            .env("CARGO", truth)
            .env("CARGO_TARGET_DIR", &target)
            .env("DESDE_CERO_PROBE", &probe)
            .env("DESDE_CERO_ROOTFS", &dest)
            .current_dir(&scratch.path)
            .uid(65534)
            .gid(65534);
        testkit::run_cmd(&mut cmd)
    };
    let made = nobody(&["rootfs", "--from", "tar", s(&tarball_path)]);
    made.expect_code(0);
    let notes: Vec<&str> = made
        .stderr
        .lines()
        .filter(|l| l.contains("/dev has no"))
        .collect();
    assert_eq!(notes.len(), 1, "{}", made.stderr);
    assert!(
        notes[0].contains("there is no sudo")
            && notes[0].contains("`cargo xtask rootfs` adds them"),
        "{}",
        notes[0]
    );
    for _ in 0..2 {
        let run = nobody(&["run", "user", "--", "true"]);
        run.expect_code(0);
        assert!(
            !run.stderr.contains("/dev has no"),
            "said again: {}",
            run.stderr
        );
    }
    // Asked for explicitly, it is said again.
    let again = nobody(&["rootfs"]);
    again.expect_code(0);
    assert!(again.stderr.contains("/dev has no"), "{}", again.stderr);
}

#[test]
fn a_folder_the_xtask_did_not_make_is_never_replaced() {
    let scratch = Scratch::new("rootfs-foreign");
    let dest = scratch.path.join("mine");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("precious"), "keep me").unwrap();
    let run = xtask(&["--force", "--dest", s(&dest)], &[]);
    run.expect_code(1);
    assert!(error_line(&run).contains("was not made by `cargo xtask rootfs`"));
    assert_eq!(
        fs::read_to_string(dest.join("precious")).unwrap(),
        "keep me"
    );
}

#[test]
fn dir_uses_a_folder_in_place_and_force_only_drops_the_link() {
    if !has_static_busybox() {
        return;
    }
    let scratch = Scratch::new("rootfs-dir");
    let theirs = scratch.path.join("theirs");
    xtask(&["--from", "busybox", "--dest", s(&theirs)], &[]).expect_code(0);
    fs::remove_file(theirs.join(".desde-cero-rootfs")).unwrap();
    fs::remove_file(theirs.join("usr/local/bin/probe")).unwrap();

    let dest = scratch.path.join("build");
    let run = xtask(&["--from", "dir", s(&theirs), "--dest", s(&dest)], &[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(&format!("folder {}", theirs.display())),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read_link(&dest).unwrap(), theirs);
    assert!(
        theirs.join("usr/local/bin/probe").is_file(),
        "no probe added"
    );

    let run = xtask(&["--force", "--from", "busybox", "--dest", s(&dest)], &[]);
    run.expect_code(0);
    assert!(fs::symlink_metadata(&dest).unwrap().is_dir());
    assert!(
        theirs.join("bin/busybox").is_file(),
        "--force touched the folder behind the link"
    );

    // Used in place (`--dest` is the folder itself), it is never removed, not even by --force.
    fs::remove_file(theirs.join(".desde-cero-rootfs")).unwrap();
    let run = xtask(&["--from", "dir", s(&theirs), "--dest", s(&theirs)], &[]);
    run.expect_code(0);
    assert!(run.stderr.contains("in place"), "{}", run.stderr);
    let run = xtask(&["--force", "--dest", s(&theirs)], &[]);
    run.expect_code(1);
    assert!(
        error_line(&run).contains("never removes it"),
        "{}",
        run.stderr
    );
    assert!(theirs.join("bin/busybox").is_file());
}

#[test]
fn leftovers_of_a_killed_run_are_removed_by_the_next() {
    if !has_static_busybox() {
        return;
    }
    let scratch = Scratch::new("rootfs-stale");
    // A run whose process is gone (this one has exited) left its temporary folder.
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let stale = scratch.path.join(format!(".tmp-root-{pid}"));
    fs::create_dir_all(stale.join("bin")).unwrap();
    let run = xtask(&["--dest", s(&scratch.path.join("root"))], &[]);
    run.expect_code(0);
    assert!(!stale.exists(), "{}", run.stderr);
    assert!(
        run.stderr.contains("left by an interrupted run"),
        "{}",
        run.stderr
    );
}

#[test]
fn force_refuses_while_something_is_mounted_inside() {
    if !has_static_busybox() || !testkit::require_root() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let scratch = Scratch::new("rootfs-mounted");
    let dest = scratch.path.join("root");
    xtask(&["--from", "busybox", "--dest", s(&dest)], &[]).expect_code(0);
    let proc_dir = dest.join("proc");
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "desde-cero-test"])
        .arg(&proc_dir)
        .status()
        .unwrap();
    assert!(status.success());
    let run = xtask(&["--force", "--dest", s(&dest)], &[]);
    let unmounted = Command::new("umount").arg(&proc_dir).status().unwrap();
    assert!(unmounted.success());
    run.expect_code(1);
    assert!(
        error_line(&run).contains("is still mounted"),
        "{}",
        run.stderr
    );
    assert!(
        dest.join("bin/busybox").exists(),
        "the old root filesystem was touched"
    );
    leaks.assert_clean();
}

// ---- what a local unprivileged user can get from a root filesystem the xtask made -----------

/// Runs an admin command (useradd, userdel), retrying while another one holds /etc/passwd's lock.
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
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// A throwaway local user without any privilege, removed with its home when dropped (also when
/// the test fails).
struct LocalUser {
    name: String,
    gid: u32,
}

impl LocalUser {
    fn create(tag: &str) -> LocalUser {
        let name = format!("dc{tag}{}", std::process::id());
        assert!(
            admin(&["useradd", "--create-home", "--shell", "/bin/sh", &name]),
            "useradd {name} failed"
        );
        let mut user = LocalUser { name, gid: 0 };
        let out = Command::new("id")
            .args(["-g", &user.name])
            .output()
            .unwrap();
        user.gid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        user
    }

    /// Runs `program args` as this user on the host, as a login would, with no privilege.
    fn run(&self, program: &Path, args: &[&str]) -> Run {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &self.name, "--"]).arg(program).args(args);
        testkit::run_cmd(&mut cmd)
    }

    /// The effective capabilities the probe at `path` has when this user runs it: root's when it
    /// runs with euid 0 (a setuid-root file), none otherwise. `Err` when the user cannot run it.
    fn caps_of(&self, path: &Path) -> Result<String, String> {
        let run = self.run(path, &["--compact"]);
        let report: serde_json::Value = serde_json::from_str(&run.stdout)
            .map_err(|_| format!("exit {}: {}", run.code, run.stderr.trim()))?;
        Ok(report["caps"]["effective"]
            .as_str()
            .unwrap_or_else(|| panic!("no caps in the probe's report: {report}"))
            .to_string())
    }
}

impl Drop for LocalUser {
    fn drop(&mut self) {
        if !admin(&["userdel", "--remove", &self.name]) {
            eprintln!("warning: userdel --remove {} failed", self.name);
        }
    }
}

const NO_CAPS: &str = "0000000000000000";

/// The permission bits, setuid, setgid and sticky included, of what is at `path` (not followed).
fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The host id the `user` stage (and `full --rootless`) maps container root to when root runs it.
const HOST_ID_OF_ROOT: u32 = 700_000_000;

#[test]
fn a_setuid_root_binary_in_a_tarball_gives_a_local_user_nothing() {
    // The attack of issue 15: a tarball holds setuid copies of a static binary (the probe); a
    // local user runs one by its path on the host and gets euid 0.
    testkit::container_test(|| {
        let scratch = Scratch::new("rootfs-setuid");
        let probe = fs::read(prebuilt_probe()).unwrap();
        let archive = scratch.path.join("setuid.tar");
        let copies = ["bin/rootshell", "bin/groupshell", "bin/both"];
        fs::write(
            &archive,
            tarball(&[
                Entry::Dir("bin/"),
                Entry::Dir("proc/"),
                Entry::File(copies[0], &probe, 0o4755),
                Entry::File(copies[1], &probe, 0o2755),
                Entry::File(copies[2], &probe, 0o6755),
            ]),
        )
        .unwrap();
        // As `rootfs/build` is made in `rootfs/`: a folder that holds the root filesystem.
        let holder = scratch.path.join("rootfs");
        let dest = holder.join("build");
        let run = xtask(&["--from", "tar", s(&archive), "--dest", s(&dest)], &[]);
        run.expect_code(0);

        let user = LocalUser::create("suid");
        // The witness first: a setuid-root copy of the probe that only this user may run gives
        // it root's capabilities, so the attack works wherever nothing stops it.
        let control = scratch.path.join("control-probe");
        fs::write(&control, &probe).unwrap();
        std::os::unix::fs::chown(&control, Some(0), Some(user.gid)).unwrap();
        fs::set_permissions(&control, fs::Permissions::from_mode(0o4750)).unwrap();
        let caps = user.caps_of(&control);
        fs::remove_file(&control).unwrap();
        let caps = caps.expect("the user runs the control copy");
        if !testkit::require(
            caps != NO_CAPS,
            "the temporary folder's filesystem ignores setuid bits (nosuid): nothing to attack",
        ) {
            return;
        }

        // The folder holding the root filesystem lets no other user in: the user cannot even
        // see the files, let alone run them.
        let target = dest.join(copies[0]);
        let reach = user.run(Path::new("/bin/ls"), &["-l", s(&target)]);
        assert_ne!(reach.code, 0, "the user reached it: {}", reach.stdout);
        assert!(user.caps_of(&target).is_err(), "the user ran {target:?}");

        // Where a user can reach it anyway (the folder opened by hand), every copy runs with
        // the user's own rights, and says so in one line.
        let closed = fs::metadata(&holder).unwrap();
        fs::set_permissions(&holder, fs::Permissions::from_mode(0o755)).unwrap();
        for copy in copies {
            let caps = user.caps_of(&dest.join(copy)).expect("the user runs it");
            assert_eq!(caps, NO_CAPS, "/{copy} gave the user capabilities");
            assert_eq!(mode_of(&dest.join(copy)), 0o755, "/{copy}");
        }
        let said: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains("setuid/setgid"))
            .collect();
        assert_eq!(said.len(), 1, "one summary line:\n{}", run.stderr);
        assert!(said[0].contains(" 3 file(s)"), "{}", said[0]);

        // Closed, it is the owner's and container root's: the `user` stage, whose container
        // root is host id 700000000 when root runs it, still gets in through the group.
        assert_eq!(closed.permissions().mode() & 0o7777, 0o710);
        assert_eq!(closed.gid(), HOST_ID_OF_ROOT);
        fs::set_permissions(&holder, closed.permissions()).unwrap();
        let mut cmd = Command::new(testkit::bin("user"));
        cmd.args(["run", "-q", "/bin/rootshell", "--compact"])
            .env(testkit::ROOTFS_ENV, &dest);
        let inside = testkit::run_cmd(&mut cmd);
        inside.expect_code(0);
        assert!(inside.stdout.contains("\"uid_map\""), "{}", inside.stdout);
    });
}

#[test]
fn device_nodes_and_fifos_in_a_tarball_are_never_made() {
    let scratch = Scratch::new("rootfs-nodes");
    let archive = scratch.path.join("nodes.tar");
    fs::write(
        &archive,
        tarball(&[
            Entry::Dir("dev/"),
            // The host's first disk, /dev/mem and a fifo: root's on the host, then anyone's.
            Entry::Block("dev/sda", 8, 0),
            Entry::Char("dev/mem", 1, 1),
            Entry::Fifo("dev/initctl"),
            Entry::Block("home/disk", 8, 1),
        ]),
    )
    .unwrap();
    let dest = scratch.path.join("root");
    let run = xtask(&["--from", "tar", s(&archive), "--dest", s(&dest)], &[]);
    run.expect_code(0);
    for made in ["dev/sda", "dev/mem", "dev/initctl", "home/disk"] {
        assert!(
            fs::symlink_metadata(dest.join(made)).is_err(),
            "/{made} was made:\n{}",
            run.stderr
        );
    }
    let said: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("skipped 4 device node"))
        .collect();
    assert_eq!(said.len(), 1, "{}", run.stderr);
}

/// Sets `path`'s file capabilities to `value`, or with `None` asks for their size: what
/// lsetxattr(2) or lgetxattr(2) returns (-1 when there are none).
fn xattr(path: &Path, value: Option<&[u8]>) -> isize {
    let c_path = std::ffi::CString::new(s(path)).unwrap();
    let name = c"security.capability";
    // SAFETY: valid NUL-terminated strings; the buffer is `value`'s own, or null with size 0.
    unsafe {
        match value {
            Some(v) => libc::lsetxattr(
                c_path.as_ptr(),
                name.as_ptr(),
                v.as_ptr().cast(),
                v.len(),
                0,
            ) as isize,
            None => libc::lgetxattr(c_path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0),
        }
    }
}

#[test]
fn the_alpine_and_dir_sources_follow_the_same_rules() {
    if !testkit::require_root() {
        return;
    }
    let scratch = Scratch::new("rootfs-rules");
    // alpine: Alpine's own minirootfs holds a setuid-root /bin/bbsuid.
    let archive = scratch.path.join("minirootfs.tar");
    fs::write(
        &archive,
        tarball(&[
            Entry::Dir("bin/"),
            Entry::File("bin/bbsuid", b"#!\n", 0o4111),
            Entry::Block("dev/sda", 8, 0),
        ]),
    )
    .unwrap();
    let url = format!("file://{}", archive.display());
    let sha = sha256(&archive);
    let env = [
        ("DESDE_CERO_ALPINE_URL", url.as_str()),
        ("DESDE_CERO_ALPINE_SHA256", sha.as_str()),
    ];
    let dest = scratch.path.join("alpine");
    let run = xtask(&["--from", "alpine", "--dest", s(&dest)], &env);
    run.expect_code(0);
    assert_eq!(mode_of(&dest.join("bin/bbsuid")), 0o111, "{}", run.stderr);
    assert!(fs::symlink_metadata(dest.join("dev/sda")).is_err());

    // dir: a folder of the user's own, used in place, loses the same things.
    let theirs = scratch.path.join("theirs");
    fs::create_dir_all(theirs.join("bin")).unwrap();
    fs::create_dir_all(theirs.join("dev")).unwrap();
    let su = theirs.join("bin/su");
    fs::write(&su, b"#!\n").unwrap();
    fs::set_permissions(&su, fs::Permissions::from_mode(0o4755)).unwrap();
    let sgid = theirs.join("bin/wall");
    fs::write(&sgid, b"#!\n").unwrap();
    fs::set_permissions(&sgid, fs::Permissions::from_mode(0o2755)).unwrap();
    for (node, kind) in [
        ("dev/sda", "b 8 0"),
        ("dev/null", "c 1 3"),
        ("dev/fifo", "p"),
    ] {
        let mut cmd = Command::new("mknod");
        cmd.arg(theirs.join(node)).args(kind.split(' '));
        assert!(cmd.status().unwrap().success(), "mknod {node}");
    }
    // A file capability gives what a setuid bit would, one capability at a time: here
    // CAP_NET_RAW, effective (struct vfs_cap_data, revision 2, in capabilities(7)).
    let ping = theirs.join("bin/ping");
    fs::write(&ping, b"#!\n").unwrap();
    let mut cap = Vec::new();
    for word in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
        cap.extend_from_slice(&word.to_le_bytes());
    }
    assert_eq!(xattr(&ping, Some(&cap)), 0, "setting a file capability");
    let link = scratch.path.join("build");
    let run = xtask(&["--from", "dir", s(&theirs), "--dest", s(&link)], &[]);
    run.expect_code(0);
    assert_eq!(mode_of(&su), 0o755, "{}", run.stderr);
    assert_eq!(mode_of(&sgid), 0o755, "{}", run.stderr);
    assert_eq!(xattr(&ping, None), -1, "the file capability is still there");
    assert!(fs::symlink_metadata(theirs.join("dev/sda")).is_err());
    assert!(fs::symlink_metadata(theirs.join("dev/fifo")).is_err());
    // The project's own nodes (see devices.rs) stay: the host's /dev has the same, for anyone.
    assert!(fs::symlink_metadata(theirs.join("dev/null"))
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(
        run.stderr
            .contains("cleared the setuid/setgid bits or file capabilities of 3"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_folder_holding_it_is_closed_to_other_users() {
    if !has_static_busybox() {
        return;
    }
    let scratch = Scratch::new("rootfs-holder");
    // A folder the xtask makes to hold the root filesystem is closed from the start.
    let holder = scratch.path.join("made");
    let dest = holder.join("root");
    let run = xtask(&["--from", "busybox", "--dest", s(&dest)], &[]);
    run.expect_code(0);
    let closed = fs::metadata(&holder).unwrap();
    assert_eq!(closed.permissions().mode() & 0o007, 0, "{}", run.stderr);
    if testkit::is_root() {
        assert_eq!(closed.permissions().mode() & 0o7777, 0o710);
        assert_eq!(closed.gid(), HOST_ID_OF_ROOT);
    }
    // A folder of someone else's, shared with others (sticky, like /tmp), is never changed:
    // it is pointed out.
    let shared = scratch.path.join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let run = xtask(
        &["--from", "busybox", "--dest", s(&shared.join("root"))],
        &[],
    );
    run.expect_code(0);
    assert_eq!(mode_of(&shared), 0o1777);
    assert!(
        run.stderr
            .contains("other users can reach the root filesystem"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_dev_symlink_out_of_the_tarball_never_reaches_the_hosts_files() {
    // Issue 30: a tarball whose `dev` is a symlink to a host folder (absolute, or relative and
    // climbing out): making the six device nodes used to delete the host's files named null,
    // zero, full, random, urandom and tty there and put 0666 device nodes in their place, at
    // the import and again at every `rootfs --dest` and `run`. Now nothing is made there.
    if !testkit::require_root() {
        return;
    }
    let scratch = Scratch::new("rootfs-devlink");
    let outside = scratch.path.join("outside");
    fs::create_dir(&outside).unwrap();
    let names = ["null", "zero", "full", "random", "urandom", "tty", "other"];
    for name in names {
        fs::write(outside.join(name), format!("host file {name}\n")).unwrap();
    }
    let outside_abs = s(&outside).to_string();
    for (what, target) in [
        ("absolute", outside_abs.as_str()),
        ("relative", "../outside"),
    ] {
        let archive = scratch.path.join("devlink.tar");
        let entries = [
            Entry::Dir("bin/"),
            Entry::File("bin/sh", b"#!/bin/true\n", 0o755),
            Entry::Symlink("dev", target),
        ];
        fs::write(&archive, tarball(&entries)).unwrap();
        let dest = scratch.path.join("root");
        let _ = fs::remove_dir_all(&dest);
        let made = xtask(&["--from", "tar", s(&archive), "--dest", s(&dest)], &[]);
        eprintln!("{what}: {}", made.stderr.trim_end());
        made.expect_code(0);
        // Again, as `rootfs --dest` and `run` check the nodes of an existing root filesystem.
        let again = xtask(&["--dest", s(&dest)], &[]);
        again.expect_code(0);
        for name in names {
            let path = outside.join(name);
            let meta = fs::symlink_metadata(&path).unwrap();
            assert!(
                meta.is_file(),
                "{what}: the host's {name} was replaced: {:?}",
                meta.file_type()
            );
            assert_eq!(
                fs::read_to_string(&path).unwrap(),
                format!("host file {name}\n"),
                "{what}: the host's {name} was changed"
            );
        }
        assert!(
            made.stderr.contains("made no device node") && made.stderr.contains("symlink"),
            "{what}: not said: {}",
            made.stderr
        );
        let entries = fs::read_dir(&outside).unwrap().count();
        assert_eq!(
            entries,
            names.len(),
            "{what}: something was made on the host"
        );
        assert!(
            fs::symlink_metadata(dest.join("dev")).unwrap().is_symlink(),
            "{what}: dev is still the tarball's symlink"
        );
    }
}

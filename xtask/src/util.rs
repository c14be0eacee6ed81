//! Small helpers every subcommand shares: where the project is, how to call cargo, how errors
//! become exit codes, and how a stage is found and built.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};
use catalog::Stage;

use crate::cli;

/// Exit code of a usage error (unknown command, stage or flag; missing argument).
pub const EXIT_USAGE: u8 = 2;

/// A usage error: printed as one line with a hint to the command's `--help`, exits 2.
#[derive(Debug)]
pub struct Usage {
    pub msg: String,
    /// The command whose `--help` the hint names (`None`: `cargo xtask help`).
    pub command: Option<&'static str>,
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.command {
            Some(name) => write!(f, "{} (see `cargo xtask {name} --help`)", self.msg),
            None => write!(f, "{} (see `cargo xtask help`)", self.msg),
        }
    }
}

impl std::error::Error for Usage {}

/// A usage error not tied to one command's declaration (see [`crate::cli`] for those).
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage {
        msg: msg.into(),
        command: None,
    }
    .into()
}

/// Turns a subcommand's result into the process's exit code: `--help` goes to stdout (exit 0),
/// an error is one line on stderr, `error: ...` (exit 2 for a usage error, else 1).
pub fn finish(result: Result<u8>) -> ExitCode {
    let err = match result {
        Ok(code) => return ExitCode::from(code),
        Err(err) => err,
    };
    if let Some(help) = err.downcast_ref::<cli::Help>() {
        println!("{help}");
        return ExitCode::SUCCESS;
    }
    // Not eprintln!: with stderr closed there is no one left to tell.
    let _ = writeln!(io::stderr(), "error: {err:#}");
    if err.downcast_ref::<Usage>().is_some() {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::FAILURE
    }
}

static PIPE_CLOSED: AtomicBool = AtomicBool::new(false);

/// `println!` and `eprintln!` panic when the reader has gone (`cargo xtask list | head -1`:
/// Rust ignores SIGPIPE, so the write fails with EPIPE). From this call on, that one panic
/// prints nothing and only marks [`pipe_closed`]: `main` then exits quietly, after the stack
/// has unwound (so temporary files are still removed). Every other panic is reported as usual.
/// One hook instead of a writer at every print: a `println!` added later is covered too.
pub fn quiet_on_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        let epipe = format!("(os error {})", libc::EPIPE);
        if msg.starts_with("failed printing to std") && msg.ends_with(&epipe) {
            PIPE_CLOSED.store(true, Ordering::Relaxed);
            if cfg!(panic = "abort") {
                std::process::exit(0);
            }
            return;
        }
        report(info);
    }));
}

/// Whether a print failed because stdout or stderr was closed (see [`quiet_on_closed_pipe`]).
pub fn pipe_closed() -> bool {
    PIPE_CLOSED.load(Ordering::Relaxed)
}

/// The workspace's top folder.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one folder below the workspace root")
        .to_path_buf()
}

/// Cargo's target folder (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => project_root().join(dir),
        None => project_root().join("target"),
    }
}

/// A `cargo` command, the same cargo that runs this xtask.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Runs a command to completion, its output going where the caller set it (by default where
/// ours goes); a non-zero exit is an error naming the command. The one way the xtask runs a
/// command that must succeed, with [`output_checked`].
pub fn run_checked(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// [`run_checked`] with stdout and stderr captured: the output, or an error naming the command
/// and quoting the last line of its stderr.
pub fn output_checked(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        match stderr.lines().rfind(|l| !l.trim().is_empty()) {
            Some(last) => bail!("{cmd:?} failed with {}: {}", out.status, last.trim()),
            None => bail!("{cmd:?} failed with {}", out.status),
        }
    }
    Ok(out)
}

/// Finds a stage by name, alias or number, or gives the list and a did-you-mean.
pub fn stage(key: &str) -> Result<&'static Stage> {
    if let Some(stage) = catalog::find(key) {
        return Ok(stage);
    }
    let hint = match catalog::suggest(key) {
        Some(name) => format!(" (did you mean `{name}`?)"),
        None => String::new(),
    };
    Err(usage(format!(
        "unknown stage {key:?}{hint}; valid stages: {} (or 1-{})",
        catalog::names().join(", "),
        catalog::STAGES.len()
    )))
}

/// The target every stage (and the probe) is built for: static musl, e.g.
/// `x86_64-unknown-linux-musl`. A static binary has no dynamic loader to run and no shared
/// library to map: `full` reaches its first line in 0.3 ms instead of 1.2 ms (`cargo xtask
/// bench --profile full`), and the VM runs the very same files.
pub fn musl_target() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}

/// Where cargo puts the stages' binaries: `target/<musl target>/{debug,release}`.
pub fn stage_dir(release: bool) -> PathBuf {
    target_dir()
        .join(musl_target())
        .join(if release { "release" } else { "debug" })
}

/// Builds one stage (static, for [`musl_target`]) as the invoking user and returns its
/// binary's path.
pub fn build_stage(stage: &Stage, release: bool) -> Result<PathBuf> {
    let binary = stage_binary(stage, release);
    let target = musl_target();
    add_rust_target(&target);
    let mut cmd = cargo();
    cmd.args(["build", "--package", stage.name, "--target", &target]);
    if release {
        cmd.arg("--release");
    }
    cargo_build(&mut cmd, &format!("stage `{}`", stage.name), &binary)
        .with_context(|| format!("cannot build stage {}", stage.name))?;
    Ok(binary)
}

/// Runs a `cargo build`, showing cargo's own lines (`Compiling ...`, `Downloaded ...`, warnings,
/// errors) as they come, but not its closing `Finished` line: a build with work to do shows its
/// progress, and a build with nothing to do prints nothing. (`--quiet` would hide both.) When
/// `artifact` does not exist yet, one line first says that this first build takes a while.
pub fn cargo_build(cmd: &mut Command, what: &str, artifact: &Path) -> Result<()> {
    let colour = io::stderr().is_terminal();
    cargo_build_to(cmd, what, artifact, colour, &mut io::stderr())
}

/// [`cargo_build`], writing what it shows to `out`.
fn cargo_build_to(
    cmd: &mut Command,
    what: &str,
    artifact: &Path,
    colour: bool,
    out: &mut dyn Write,
) -> Result<()> {
    // Writes to `out` are best effort: a closed stderr must not stop the build.
    if !artifact.exists() {
        let _ = writeln!(
            out,
            "xtask: first build of {what} (with its dependencies: up to a minute)"
        );
    }
    cmd.arg(if colour {
        "--color=always"
    } else {
        "--color=never"
    })
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if let Some(stderr) = child.stderr.take() {
        for line in io::BufReader::new(stderr).split(b'\n') {
            let Ok(line) = line else { break };
            if !is_finished_line(&line) {
                let _ = out.write_all(&line);
                let _ = out.write_all(b"\n");
                let _ = out.flush();
            }
        }
    }
    let status = child.wait().context("cannot wait for cargo")?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Whether a line of cargo's stderr is its `Finished ...` summary (colours removed).
fn is_finished_line(line: &[u8]) -> bool {
    let mut text = Vec::new();
    let mut bytes = line.iter();
    while let Some(&b) = bytes.next() {
        if b == 0x1b {
            // An ANSI colour sequence: ESC [ digits ; ... letter.
            for &b in bytes.by_ref() {
                if b.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            text.push(b);
        }
    }
    String::from_utf8_lossy(&text)
        .trim_start()
        .starts_with("Finished ")
}

/// Finds an executable on `PATH`, then in the system's own folders (an ordinary user's `PATH`
/// often lacks `/sbin`, where `ip` is). The one place the xtask looks for a program.
pub fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Whether `note` has not been shown before on this machine (for this target folder): true the
/// first time, then false. For advice that cannot change from one run to the next, so it is
/// not repeated at every `cargo xtask run`.
pub fn first_time(note: &str) -> bool {
    let file = target_dir().join("xtask-notes-shown");
    let key = note.replace('\n', " ");
    let shown = std::fs::read_to_string(&file).unwrap_or_default();
    if shown.lines().any(|l| l == key) {
        return false;
    }
    let _ = std::fs::create_dir_all(target_dir());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
    {
        let _ = writeln!(f, "{key}");
    }
    true
}

/// Where cargo puts a stage's binary (see [`stage_dir`]).
pub fn stage_binary(stage: &Stage, release: bool) -> PathBuf {
    stage_dir(release).join(stage.name)
}

/// A fresh machine has rustup's host target only: add `target` first, saying so, so the first
/// `cargo xtask run` needs no manual step. Without rustup, cargo's own error names the missing
/// target.
pub fn add_rust_target(target: &str) {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let Ok(out) = installed else {
        return;
    };
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|line| line.trim() == target)
    {
        return;
    }
    eprintln!(
        "xtask: the stages and the probe are static binaries: adding the Rust target {target}"
    );
    let _ = Command::new("rustup")
        .args(["target", "add", target])
        .status();
}

/// A process's status as a shell reports it: its exit code, or 128+N when signal N killed it
/// (-1 when it is neither, which `wait` never gives for an ended process).
pub fn status_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        _ => -1,
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// How the xtask runs a stage, or itself again, as root, with the project's variables: `program`
/// itself when root is not `needed` or we are root, else through `sudo` (its name or path, and
/// its flags), which drops the environment: the variables named in `keep` are passed on. With
/// `rootfs`, the root filesystem is given in [`crate::rootfs::ENV_VAR`].
pub fn as_root<S: AsRef<OsStr>>(
    needed: bool,
    program: impl AsRef<OsStr>,
    sudo: &[S],
    keep: &[&str],
    rootfs: Option<&Path>,
) -> Command {
    root_command(needed && !is_root(), program, sudo, keep, rootfs)
}

fn root_command<S: AsRef<OsStr>>(
    through_sudo: bool,
    program: impl AsRef<OsStr>,
    sudo: &[S],
    keep: &[&str],
    rootfs: Option<&Path>,
) -> Command {
    let mut cmd = match sudo.split_first().filter(|_| through_sudo) {
        Some((sudo, flags)) => {
            let mut cmd = Command::new(sudo);
            cmd.args(flags)
                .arg(format!("--preserve-env={}", keep.join(",")))
                .arg("--")
                .arg(program);
            cmd
        }
        None => Command::new(program),
    };
    if let Some(dir) = rootfs {
        cmd.env(crate::rootfs::ENV_VAR, dir);
    }
    cmd
}

/// The size of the terminal on stdout, as (rows, columns); None off a terminal. Either may be
/// 0 when the terminal does not say.
pub fn terminal_size() -> Option<(usize, usize)> {
    // nix has no safe call for the terminal's size: the ioctl, through nix's typed wrapper.
    nix::ioctl_read_bad!(window_size, libc::TIOCGWINSZ, libc::winsize);
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer, which points to ours.
    let ok = unsafe { window_size(libc::STDOUT_FILENO, &mut size) }.is_ok();
    ok.then_some((usize::from(size.ws_row), usize::from(size.ws_col)))
}

/// Now, in UTC, as `2026-11-02 14:03 UTC` (no date library: days to a civil date, from Howard
/// Hinnant's `civil_from_days`).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// How a file's generated region is not there: a marker missing, or the end before the begin.
#[derive(Debug, PartialEq)]
pub enum Markers {
    Missing,
    Reversed,
}

/// `text` with its generated region (README's stage tables, the bench's run) made `want`: what
/// lies between the first `begin` and the first `end` marker, each kept on its line. `Ok(None)`
/// when it already reads `want` (blank lines around it aside): rust-analyzer's
/// `ensure_file_contents`, for part of a file; the caller writes, or says it is out of date.
pub fn between(
    text: &str,
    (begin, end): (&str, &str),
    want: &str,
) -> Result<Option<String>, Markers> {
    let (Some(start), Some(stop)) = (text.find(begin), text.find(end)) else {
        return Err(Markers::Missing);
    };
    let inside = start + begin.len();
    if stop < inside {
        return Err(Markers::Reversed);
    }
    Ok((text[inside..stop].trim() != want.trim())
        .then(|| format!("{}\n{want}{}", &text[..inside], &text[stop..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_root_goes_through_sudo_with_the_variables_kept() {
        let args = |cmd: &Command| -> Vec<String> {
            std::iter::once(cmd.get_program())
                .chain(cmd.get_args())
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        let keep = [crate::rootfs::ENV_VAR, "DESDE_CERO_BIN_DIR"];
        let dir = Path::new("/r");
        let cmd = root_command(true, "/bin/stage", &["sudo", "-n"], &keep, Some(dir));
        assert_eq!(
            args(&cmd),
            [
                "sudo",
                "-n",
                "--preserve-env=DESDE_CERO_ROOTFS,DESDE_CERO_BIN_DIR",
                "--",
                "/bin/stage"
            ]
        );
        let envs: Vec<_> = cmd.get_envs().collect();
        assert_eq!(
            envs,
            [(OsStr::new("DESDE_CERO_ROOTFS"), Some(dir.as_os_str()))]
        );
        let cmd = root_command(false, "/bin/stage", &["sudo"], &keep, None);
        assert_eq!(args(&cmd), ["/bin/stage"]);
        assert_eq!(cmd.get_envs().count(), 0);
        // No sudo to go through (none found): the program itself.
        let cmd = root_command(true, "/bin/stage", &[] as &[&str], &keep, None);
        assert_eq!(args(&cmd), ["/bin/stage"]);
    }

    #[test]
    fn only_the_text_between_the_markers_changes() {
        let old = "intro\n<b>\nold table\n<e>\noutro\n";
        let new = between(old, ("<b>", "<e>"), "new table\n")
            .unwrap()
            .unwrap();
        assert_eq!(new, "intro\n<b>\nnew table\n<e>\noutro\n");
        assert_eq!(between(&new, ("<b>", "<e>"), "new table\n"), Ok(None));
        assert_eq!(
            between("no markers", ("<b>", "<e>"), "x"),
            Err(Markers::Missing)
        );
        assert_eq!(
            between("<e><b>", ("<b>", "<e>"), "x"),
            Err(Markers::Reversed)
        );
    }

    #[test]
    fn the_date_is_a_date() {
        let now = utc_now();
        assert_eq!(now.len(), "2026-11-02 14:03 UTC".len(), "{now}");
        assert!(now.starts_with("20"), "{now}");
    }

    #[test]
    fn finished_lines_are_recognised_with_or_without_colour() {
        assert!(is_finished_line(
            b"    Finished `dev` profile [unoptimized + debuginfo] target(s) in 0.05s"
        ));
        assert!(is_finished_line(
            b"\x1b[1m\x1b[92m    Finished\x1b[0m `dev` profile in 0.05s"
        ));
        assert!(!is_finished_line(
            b"   Compiling pid v0.1.0 (/x/slides/pid)"
        ));
        assert!(!is_finished_line(b"error: could not compile `pid`"));
    }

    #[test]
    fn which_finds_executables_only() {
        let sh = which("sh").expect("a shell on PATH");
        assert!(sh.is_absolute(), "{}", sh.display());
        assert_eq!(which("no-such-program-desde-cero"), None);
        // /etc/passwd is a file, but not an executable one.
        assert_eq!(which("../etc/passwd"), None);
    }

    #[test]
    fn a_failed_command_is_named_with_its_last_line() {
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo out"]);
        assert_eq!(output_checked(&mut ok).unwrap().stdout, b"out\n");
        let mut bad = Command::new("sh");
        bad.args(["-c", "echo first >&2; echo 'the reason' >&2; exit 3"]);
        let err = format!("{:#}", output_checked(&mut bad).unwrap_err());
        assert!(err.contains("\"sh\""), "{err}");
        assert!(err.ends_with("exit status: 3: the reason"), "{err}");
        let err = format!(
            "{:#}",
            run_checked(&mut Command::new("/nonexistent")).unwrap_err()
        );
        assert!(err.starts_with("cannot start \"/nonexistent\""), "{err}");
    }

    /// A real build of a tiny crate: the first shows the one-line note and cargo's progress,
    /// the second (nothing to do) shows nothing at all.
    #[test]
    fn a_build_shows_progress_and_a_fresh_one_nothing() {
        let dir = std::env::temp_dir().join(format!("xtask-build-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
        let build = || {
            let mut cmd = cargo();
            cmd.arg("build")
                .arg("--manifest-path")
                .arg(dir.join("Cargo.toml"))
                .env("CARGO_TARGET_DIR", dir.join("target"));
            let mut out = Vec::new();
            let artifact = dir.join("target/debug/tiny");
            cargo_build_to(&mut cmd, "tiny", &artifact, false, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let first = build();
        let second = build();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(first.starts_with("xtask: first build of tiny"), "{first}");
        assert!(first.contains("Compiling tiny"), "{first}");
        assert!(!first.contains("Finished"), "{first}");
        assert_eq!(second, "");
    }
}

//! What the VM runs, from this host: the stages and the probe and testkit's integration tests
//! built statically for musl (and which of those tests to run), stripped of their debug
//! information; and a few host tools with the shared libraries `ldd` lists for them.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::{TARGET, VM_TESTS};
use crate::util;

/// Programs of this host that the stages and tests run (iproute2's `ip`, util-linux's `nsenter`,
/// `unshare`, `script`, `mount`, `umount`): copied into the VM's `/usr/local/bin` with the shared
/// libraries `ldd` names, so the VM behaves like a host rather than like busybox. Missing ones are
/// left out (busybox has `ip`, `nsenter`, `unshare`, `mount` and `umount` of its own).
const HOST_TOOLS: &[&str] = &["ip", "nsenter", "unshare", "script", "mount", "umount"];

/// `cargo build --target musl --bins` of the default members: every stage and the probe.
pub fn build_bins() -> Result<Vec<(String, PathBuf)>> {
    let mut cmd = util::cargo();
    cmd.args([
        "build",
        "--bins",
        "--target",
        TARGET,
        "--message-format=json-render-diagnostics",
    ]);
    let found = cargo_artifacts(&mut cmd, "bin")?;
    if found.is_empty() {
        bail!("cargo built no binaries for {TARGET}");
    }
    Ok(found)
}

/// `cargo test --no-run` of testkit's integration tests for musl: name and executable of each.
pub fn build_tests() -> Result<Vec<(String, PathBuf)>> {
    let mut cmd = util::cargo();
    cmd.args([
        "test",
        "--no-run",
        "--package",
        "testkit",
        "--target",
        TARGET,
        "--message-format=json-render-diagnostics",
    ]);
    cargo_artifacts(&mut cmd, "test")
}

/// Runs cargo with `--message-format=json` and collects (target name, executable) of every
/// artifact of the given kind.
fn cargo_artifacts(cmd: &mut Command, kind: &str) -> Result<Vec<(String, PathBuf)>> {
    let out = util::output_checked(cmd)?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| artifact(line, kind))
        .collect())
}

/// The target name and executable of one line of cargo's JSON, if it is an artifact of `kind`.
fn artifact(line: &str, kind: &str) -> Option<(String, PathBuf)> {
    let msg: serde_json::Value = serde_json::from_str(line).ok()?;
    if msg["reason"] != "compiler-artifact" || msg["target"]["kind"] != serde_json::json!([kind]) {
        return None;
    }
    let name = msg["target"]["name"].as_str()?;
    let exe = msg["executable"].as_str()?;
    Some((name.to_string(), PathBuf::from(exe)))
}

/// One test executable to run inside the VM, with its extra arguments.
#[derive(Clone)]
pub struct VmTest {
    pub name: String,
    pub exe: PathBuf,
    pub args: Vec<String>,
}

/// The test files to run: [`VM_TESTS`], or `DESDE_CERO_VM_TESTS`, among those built.
pub fn choose_tests(all: &[(String, PathBuf)]) -> Vec<VmTest> {
    // A listed file keeps its arguments when it is chosen by DESDE_CERO_VM_TESTS too.
    let with_args = |name: &str| {
        let args = VM_TESTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, args)| args.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default();
        (name.to_string(), args)
    };
    let wanted: Vec<(String, Vec<String>)> = match std::env::var("DESDE_CERO_VM_TESTS") {
        Ok(list) if list == "all" => all.iter().map(|(n, _)| with_args(n)).collect(),
        Ok(list) => list.split(',').map(|s| with_args(s.trim())).collect(),
        Err(_) => VM_TESTS.iter().map(|(n, _)| with_args(n)).collect(),
    };
    let mut chosen = Vec::new();
    let mut missing = Vec::new();
    for (name, args) in wanted {
        match all.iter().find(|(n, _)| *n == name) {
            Some((_, exe)) => chosen.push(VmTest {
                name,
                exe: exe.clone(),
                args,
            }),
            None => missing.push(name),
        }
    }
    if !missing.is_empty() {
        eprintln!(
            "vm: note: no test file {} in crates/testkit/tests (yet); not run in the VM",
            missing.join(", ")
        );
    }
    chosen
}

/// An executable without its debug information (much smaller, so the VM boots faster), or as it
/// is when there is no `strip`. The stripped copy goes to `scratch`.
pub fn stripped(exe: &Path, scratch: &Path) -> Result<Vec<u8>> {
    let copy = scratch.join(exe.file_name().unwrap_or(OsStr::new("exe")));
    let ok = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&copy)
        .arg(exe)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let from = if ok { &copy } else { exe };
    let data = fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    let _ = fs::remove_file(&copy);
    Ok(data)
}

/// Each of [`HOST_TOOLS`] found on this host: name, path, and the libraries it loads.
pub fn host_tools() -> Vec<(String, PathBuf, Vec<PathBuf>)> {
    let mut found = Vec::new();
    for name in HOST_TOOLS {
        let Some(path) = util::which(name) else {
            continue;
        };
        let Some(libs) = shared_libraries(&path) else {
            eprintln!(
                "vm: note: cannot list the libraries of {}; left out",
                path.display()
            );
            continue;
        };
        found.push((name.to_string(), path, libs));
    }
    found
}

/// The shared libraries (and the dynamic loader) `ldd` says a program loads; empty for a static
/// one, `None` when ldd cannot tell. (Not `output_checked`: ldd's failure on a static program is
/// an answer.)
fn shared_libraries(program: &Path) -> Option<Vec<PathBuf>> {
    let out = Command::new("ldd").arg(program).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return (text.contains("not a dynamic") || err.contains("not a dynamic")).then(Vec::new);
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let path = match words.as_slice() {
            [_, "=>", path, ..] if path.starts_with('/') => path,
            [path, ..] if path.starts_with('/') => path,
            [_, "=>", "not", "found", ..] => return None,
            _ => continue,
        };
        libs.push(PathBuf::from(path));
    }
    Some(libs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_found_and_unescaped() {
        let line = r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"vm"},"executable":"/a/b\"c"}"#;
        let (name, exe) = artifact(line, "test").unwrap();
        assert_eq!(name, "vm");
        assert_eq!(exe, PathBuf::from("/a/b\"c"));
        assert_eq!(artifact(line, "bin"), None);
        let no_exe = r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"vm"},"executable":null}"#;
        assert_eq!(artifact(no_exe, "test"), None);
        assert_eq!(
            artifact(r#"{"reason":"build-finished","success":true}"#, "test"),
            None
        );
    }
}

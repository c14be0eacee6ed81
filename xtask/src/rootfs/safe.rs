//! Writing inside a root filesystem without ever leaving it.
//!
//! A root filesystem from a tarball or from someone's folder is untrusted: any folder on the way
//! to a file may be a symlink, and the kernel resolves symlinks from the *host's* point of view.
//! A tarball holding `etc -> /etc` and then `etc/passwd` would, unpacked naively, overwrite the
//! host's `/etc/passwd`. So here a path inside the root is walked one component at a time: a
//! relative symlink that stays inside the root is followed by hand, anything else is refused,
//! and the last component is never followed (an existing entry there is replaced).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

/// How many symlinks one path may go through (the kernel's own limit is 40).
const MAX_LINKS: usize = 40;

/// Checks a path taken from an archive: relative and without `..`. Returns its components.
pub fn components(path: &Path) -> Result<Vec<OsString>> {
    let mut out = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name.to_owned()),
            Component::CurDir => {}
            Component::ParentDir => bail!("`..` would leave the root filesystem"),
            Component::RootDir | Component::Prefix(_) => {
                bail!("an absolute path would leave the root filesystem")
            }
        }
    }
    Ok(out)
}

fn shown(parts: &[OsString]) -> String {
    let mut s = String::new();
    for part in parts {
        s.push('/');
        s.push_str(&part.to_string_lossy());
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

fn on_disk(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(parts);
    path
}

/// Resolves the folder `dirs` below `root` as a process chrooted into `root` would see it,
/// creating missing folders (mode 0755). Relative symlinks on the way are followed as long as
/// they stay inside; an absolute symlink or one that climbs out is an error. Returns the folder's
/// real path on the host.
pub fn dir(root: &Path, dirs: &[OsString]) -> Result<PathBuf> {
    walk(root, dirs, true)?.context("folder vanished while it was made")
}

/// Opens the folder `dirs` below `root`, resolved as in [`dir`] (made when `create`; missing
/// gives `Ok(None)`), as a descriptor for the `*at` calls: what is done through it happens in
/// that very folder, whatever is renamed or linked on the way afterwards. The open itself
/// follows no symlink and stays beneath `root` (openat2(2), `RESOLVE_NO_SYMLINKS` and
/// `RESOLVE_BENEATH`), so a symlink put on the way since the walk is refused, not followed.
pub fn open_dir(root: &Path, dirs: &[OsString], create: bool) -> Result<Option<OwnedFd>> {
    use nix::fcntl::{open, openat2, OFlag, OpenHow, ResolveFlag};
    use nix::sys::stat::Mode;
    let Some(path) = walk(root, dirs, create)? else {
        return Ok(None);
    };
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    // `root` itself is followed: `--from dir` makes it a symlink to the folder.
    let top = open(root, flags, Mode::empty())
        .with_context(|| format!("cannot open {}", root.display()))?;
    let below = match path.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel,
        _ => Path::new("."),
    };
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH);
    let fd = openat2(&top, below, how)
        .with_context(|| format!("cannot open {} without following a symlink", path.display()))?;
    Ok(Some(fd))
}

/// The walk behind [`dir`]; with `create` false a missing folder gives `Ok(None)`.
fn walk(root: &Path, dirs: &[OsString], create: bool) -> Result<Option<PathBuf>> {
    let mut done: Vec<OsString> = Vec::new();
    let mut todo: VecDeque<OsString> = dirs.iter().cloned().collect();
    let mut links = 0;
    let mut last_link = String::new();
    while let Some(name) = todo.pop_front() {
        // `..` and `.` only come from symlink targets: `components` refuses them in entries.
        if name == ".." {
            if done.pop().is_none() {
                bail!("{last_link} climbs out of the root filesystem: refusing to follow it");
            }
            continue;
        }
        if name == "." {
            continue;
        }
        let path = on_disk(root, &done).join(&name);
        done.push(name);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Ok(None);
                }
                fs::create_dir(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                continue;
            }
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            continue;
        }
        let here = shown(&done);
        if !kind.is_symlink() {
            bail!("{here} is not a folder");
        }
        done.pop();
        links += 1;
        if links > MAX_LINKS {
            bail!("too many symlinks on the way through {here}");
        }
        let target = fs::read_link(&path)?;
        last_link = format!("{here} is a symlink to {}, which", target.display());
        if target.is_absolute() {
            bail!(
                "{here} is a symlink to {}, outside the root filesystem: refusing to follow it",
                target.display()
            );
        }
        let spliced: Vec<OsString> = target
            .components()
            .filter_map(|part| match part {
                Component::Normal(n) => Some(n.to_owned()),
                Component::ParentDir => Some(OsStr::new("..").to_owned()),
                _ => None,
            })
            .collect();
        for part in spliced.into_iter().rev() {
            todo.push_front(part);
        }
    }
    Ok(Some(on_disk(root, &done)))
}

/// Makes room for a new entry at `parts` below `root`: resolves its folder with [`dir`] and
/// removes whatever is at the last component (a file, a symlink, an empty folder) without
/// following it. Returns the path to create the entry at.
pub fn make_room(root: &Path, parts: &[OsString]) -> Result<PathBuf> {
    let Some((name, parents)) = parts.split_last() else {
        bail!("empty path");
    };
    let path = dir(root, parents)?.join(name);
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir(&path)
            .with_context(|| format!("{} is a folder that is not empty", shown(parts)))?,
        Ok(_) => {
            fs::remove_file(&path).with_context(|| format!("cannot replace {}", path.display()))?
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
    Ok(path)
}

/// Creates a new file at `path` (which [`make_room`] returned): never follows a symlink, never
/// reuses an existing file.
pub fn create(path: &Path, mode: u32) -> Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Writes `bytes` to the file `rel` (e.g. `etc/hostname`) inside `root`, replacing what is there.
/// The file is written under a temporary name and renamed, so it is never seen half-written.
pub fn write(root: &Path, rel: &str, bytes: &[u8], mode: u32) -> Result<PathBuf> {
    let parts = components(Path::new(rel))?;
    let Some(name) = parts.last() else {
        bail!("empty path");
    };
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let mut tmp_parts = parts.clone();
    *tmp_parts.last_mut().expect("not empty") = tmp_name;
    let tmp = make_room(root, &tmp_parts)?;
    let path = make_room(root, &parts)?;
    let mut file = create(&tmp, mode)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode)))
        .and_then(|()| fs::rename(&tmp, &path));
    if let Err(err) = written {
        let _ = fs::remove_file(&tmp);
        return Err(err).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(path)
}

/// Whether `rel` exists inside `root` as a regular file, resolved as in [`dir`] but without
/// creating anything. Anything odd on the way (a symlink out, a missing folder) counts as "no".
pub fn is_file(root: &Path, rel: &str) -> bool {
    let Ok(parts) = components(Path::new(rel)) else {
        return false;
    };
    let Some((name, parents)) = parts.split_last() else {
        return false;
    };
    match walk(root, parents, false) {
        Ok(Some(dir)) => fs::symlink_metadata(dir.join(name)).is_ok_and(|m| m.is_file()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> Vec<OsString> {
        components(Path::new(s)).unwrap()
    }

    #[test]
    fn archive_paths_must_stay_relative() {
        assert_eq!(parts("./a/b/"), parts("a/b"));
        assert!(components(Path::new("../x")).is_err());
        assert!(components(Path::new("a/../../x")).is_err());
        assert!(components(Path::new("/etc/passwd")).is_err());
    }
}

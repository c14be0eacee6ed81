//! Unpacking a root filesystem tarball (plain or gzip), safely.
//!
//! The `tar` crate reads the archive (headers, long names, PAX records); creating the files is
//! done here, through [`safe`], so that no entry can land outside the target folder: an entry
//! with `..` or an absolute path is refused, and so is one whose folder is reached through a
//! symlink pointing out. What would give a local user anything on the host is never made
//! (harmless.rs): setuid and setgid bits are cleared, device nodes and fifos are skipped.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek};
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use tar::EntryType;

use super::harmless::{self, Findings};
use super::{interrupted, safe};
use crate::util;

/// What an unpacking did, for the summary line.
#[derive(Debug, Default)]
pub struct Summary {
    pub entries: usize,
    /// Setuid and setgid bits cleared, device nodes and fifos skipped.
    pub taken: Findings,
    /// Entries of a kind a root filesystem has no use for (sockets, ...), skipped.
    pub skipped_other: Vec<String>,
}

/// Unpacks the tarball `file` (plain tar or gzip) into the existing folder `root`.
pub fn unpack(file: &Path, root: &Path) -> Result<Summary> {
    let reader = open(file)?;
    let mut archive = tar::Archive::new(reader);
    let as_root = util::is_root();
    let mut summary = Summary::default();
    // Folder permissions are set last: a read-only folder must stay writable while it fills.
    let mut folders: Vec<(PathBuf, u32)> = Vec::new();
    let entries = archive.entries().map_err(|err| unreadable(err, file, 0))?;
    for entry in entries {
        if interrupted() {
            bail!("interrupted");
        }
        let mut entry = entry.map_err(|err| unreadable(err, file, summary.entries))?;
        let name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&name).into_owned();
        one_entry(&mut entry, root, as_root, &mut summary, &mut folders)
            .with_context(|| format!("refusing tarball entry {name:?}"))?;
        summary.entries += 1;
    }
    for (path, mode) in folders.iter().rev() {
        // Only a folder still there as a folder: never chmod through a symlink.
        if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            fs::set_permissions(path, fs::Permissions::from_mode(*mode))
                .with_context(|| format!("cannot set the mode of {}", path.display()))?;
        }
    }
    Ok(summary)
}

/// Why a tarball cannot be read, without the tar crate's own words: they can quote the bytes it
/// failed to parse, and a file that is not a tarball (a password file, a key) must never be
/// echoed. An error of the operating system (its text is the system's, not the file's) is kept.
fn unreadable(err: io::Error, file: &Path, entries: usize) -> anyhow::Error {
    if err.raw_os_error().is_some() {
        return anyhow!(err).context(format!("cannot read {}", file.display()));
    }
    if entries == 0 {
        anyhow!(
            "{} is not a tar archive (plain or gzip): its first block is not a tar header",
            file.display()
        )
    } else {
        anyhow!(
            "{} is corrupt: entry {} is not a valid tar header",
            file.display(),
            entries + 1
        )
    }
}

/// Opens a tarball, gunzipping it when it starts with gzip's magic bytes. Other compressions
/// get a one-line hint instead of a confusing "not a tar archive".
fn open(file: &Path) -> Result<Box<dyn Read>> {
    let mut f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut magic = [0u8; 6];
    let mut got = 0;
    while got < magic.len() {
        match f.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    f.rewind()?;
    let magic = &magic[..got];
    let hint = |tool: &str| {
        anyhow!(
            "{} is {tool}-compressed: decompress it first (`{tool} -dk FILE`) and pass the .tar",
            file.display()
        )
    };
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(
            f,
        ))))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Err(hint("xz"))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(hint("zstd"))
    } else if magic.starts_with(b"BZh") {
        Err(hint("bzip2"))
    } else {
        Ok(Box::new(BufReader::new(f)))
    }
}

fn one_entry<R: Read>(
    entry: &mut tar::Entry<R>,
    root: &Path,
    as_root: bool,
    summary: &mut Summary,
    folders: &mut Vec<(PathBuf, u32)>,
) -> Result<()> {
    let path = entry.path()?.into_owned();
    let parts = safe::components(&path)?;
    if parts.is_empty() {
        return Ok(()); // `./` itself: the root folder already exists.
    }
    let header = entry.header();
    let kind = header.entry_type();
    // No setuid or setgid bit: run by its host path, a setuid-root file of the tarball's would
    // make any local user root. (Only files and folders get a mode of the tarball's.)
    let (mode, privileged) = harmless::without_privileges(header.mode().unwrap_or(0o644) & 0o7777);
    let mut cleared = || {
        if privileged {
            summary.taken.privileged.push(path.display().to_string());
        }
    };
    let owner = (header.uid().ok(), header.gid().ok());
    let mtime = header.mtime().ok();
    let chown = |at: &Path| -> Result<()> {
        if let (true, Some(uid), Some(gid)) = (as_root, owner.0, owner.1) {
            lchown(at, Some(uid as u32), Some(gid as u32))
                .with_context(|| format!("cannot chown {}", at.display()))?;
        }
        Ok(())
    };
    match kind {
        EntryType::Directory => {
            let at = safe::dir(root, &parts)?;
            chown(&at)?;
            folders.push((at, mode));
            cleared();
        }
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            let at = safe::make_room(root, &parts)?;
            let mut file = safe::create(&at, 0o600)?;
            io::copy(entry, &mut file).with_context(|| format!("cannot write {}", at.display()))?;
            if let Some(secs) = mtime {
                let _ = file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
            }
            drop(file);
            chown(&at)?;
            fs::set_permissions(&at, fs::Permissions::from_mode(mode))?;
            cleared();
        }
        EntryType::Symlink => {
            let target = entry.link_name()?.context("symlink without a target")?;
            let at = safe::make_room(root, &parts)?;
            // Making a link is harmless wherever it points: only following one is checked.
            symlink(&target, &at).with_context(|| format!("cannot create {}", at.display()))?;
            chown(&at)?;
        }
        EntryType::Link => {
            let target = entry.link_name()?.context("hard link without a target")?;
            let target_parts = safe::components(&target)
                .with_context(|| format!("its hard link target {}", target.display()))?;
            let (name, parents) = target_parts
                .split_last()
                .context("hard link to the root folder")?;
            let source = safe::dir(root, parents)?.join(name);
            let at = safe::make_room(root, &parts)?;
            // linkat without AT_SYMLINK_FOLLOW: links the entry itself, never what it points to.
            fs::hard_link(&source, &at)
                .with_context(|| format!("cannot link {} to {}", at.display(), source.display()))?;
        }
        // A device node of the tarball's would give whoever may open it on the host that
        // device (the disk, /dev/mem); a fifo, a channel to whatever reads it. Never made: the
        // root filesystem gets the project's own /dev nodes (devices.rs).
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            summary.taken.nodes.push(path.display().to_string());
        }
        EntryType::XGlobalHeader | EntryType::XHeader => {}
        other => summary
            .skipped_other
            .push(format!("{} ({other:?})", path.display())),
    }
    Ok(())
}

//! `cargo xtask rootfs [--from SOURCE] [--force] [--dest DIR]`: make the container's root
//! filesystem (see rootfs/README.md).
//!
//! Sources: `busybox` (the host's static busybox, offline), `alpine` (the pinned Alpine
//! minirootfs, downloaded and checked against its SHA-256), `tar FILE` (any root filesystem
//! tarball, e.g. from `docker export`), `dir DIR` (an existing folder, used as it is). Without
//! `--from`, busybox if the host has a static one, else alpine, else one error naming the fixes.
//!
//! Nothing half-made is ever left at the destination: the root filesystem is made in a temporary
//! sibling folder (`.tmp-<name>-<pid>`), the marker file is written last, and only then is the
//! folder renamed into place. A run that is interrupted or fails removes its temporary files;
//! one that was killed leaves them to the next run, which removes them.
//!
//! Every root filesystem the xtask makes gets the probe at `/usr/local/bin/probe`, and gives a
//! local user nothing (harmless.rs): no setuid or setgid bit, no device node but the project's
//! own, in a folder closed to other users.

mod alpine;
mod busybox;
mod devices;
mod harmless;
mod place;
mod probe;
mod safe;
mod unpack;

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::{cli, util};
use place::{
    interrupted, mounted_below, put_in_place, remove_stale, remove_tree, CatchSignals, Temp,
};

/// The one documented place the stages read the root filesystem's path from. The xtask also
/// makes (and looks for) the root filesystem there when it is set.
pub const ENV_VAR: &str = "DESDE_CERO_ROOTFS";

/// A file that marks a finished root filesystem (written last, so a half-made one has none).
/// Its first line says where the root filesystem came from.
const MARKER: &str = ".desde-cero-rootfs";

pub const CLI: cli::Command = cli::Command {
    name: "rootfs",
    about: "make the container's root filesystem",
    args: &[
        cli::option(
            "from",
            "SOURCE",
            "busybox (the host's static busybox, offline), alpine (the pinned Alpine \
             minirootfs, downloaded and checked), tar FILE (a tarball, e.g. from `docker \
             export`) or dir DIR (a folder, used as it is); default: busybox, else alpine",
        ),
        cli::optional(
            "FILE|DIR",
            "the tarball of `--from tar`, the folder of `--from dir`",
        ),
        cli::flag("force", "remake it even if one exists"),
        cli::option(
            "dest",
            "DIR",
            "where to make it (default: $DESDE_CERO_ROOTFS, else rootfs/build)",
        ),
    ],
    rest: None,
    notes: "Nothing half-made is left behind: it is made in a temporary folder and renamed into \
            place. See rootfs/README.md.",
};

/// Where the root filesystem is: `$DESDE_CERO_ROOTFS` when set, else `rootfs/build`.
pub fn default_dir() -> PathBuf {
    match std::env::var_os(ENV_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => util::project_root().join("rootfs").join("build"),
    }
}

/// Returns the root filesystem's folder, making it first if there is none, and refreshing its
/// probe when the freshly built probe differs from the one inside.
pub fn ensure() -> Result<PathBuf> {
    let dir = default_dir();
    if made_from(&dir).is_some() {
        // A stale or missing probe only makes the probe's report stale: say so, do not stop a
        // demo that may not even use it.
        devices::ensure(&dir, devices::Tell::Once);
        close_holder_once(&dir);
        match probe::build().and_then(|probe| probe::install(&dir, &probe)) {
            Ok(true) => eprintln!("rootfs: refreshed /{} in {}", probe::INSIDE, dir.display()),
            Ok(false) => {}
            Err(err) => {
                let line = format!(
                    "rootfs: note: cannot refresh /{} in {} ({err:#}): only `cargo xtask \
                     matrix` and the tests use it; `cargo xtask rootfs` as the folder's owner \
                     refreshes it",
                    probe::INSIDE,
                    dir.display()
                );
                if util::first_time(&line) {
                    eprintln!("{line} (said once)");
                }
            }
        }
        return Ok(dir);
    }
    if std::env::var_os(ENV_VAR).is_some_and(|d| !d.is_empty()) && dir.is_dir() {
        eprintln!(
            "rootfs: using {ENV_VAR}={} as it is (not made by `cargo xtask rootfs`)",
            dir.display()
        );
        return Ok(dir);
    }
    eprintln!(
        "rootfs: no root filesystem at {} yet: making one",
        dir.display()
    );
    make(&dir, None, false)?;
    Ok(dir)
}

/// Where a root filesystem comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Busybox,
    Alpine,
    Tar(PathBuf),
    Dir(PathBuf),
}

#[derive(Debug, PartialEq)]
struct Options {
    from: Option<Source>,
    force: bool,
    dest: Option<PathBuf>,
}

fn parse(args: Vec<OsString>) -> Result<Options> {
    let args = CLI.parse(args)?;
    let path = args.positional("FILE|DIR").map(PathBuf::from);
    let from = match (args.text("from")?, path) {
        (None, None) => None,
        (Some("busybox"), None) => Some(Source::Busybox),
        (Some("alpine"), None) => Some(Source::Alpine),
        (Some("tar"), Some(file)) => Some(Source::Tar(file)),
        (Some("dir"), Some(dir)) => Some(Source::Dir(dir)),
        (Some("tar"), None) => return Err(args.error("`--from tar` needs a FILE")),
        (Some("dir"), None) => return Err(args.error("`--from dir` needs a DIR")),
        (Some(what @ ("busybox" | "alpine")), Some(path)) => {
            return Err(args.error(format!(
                "`--from {what}` takes no path, but {} was given",
                path.display()
            )));
        }
        (None, Some(path)) => {
            return Err(args.error(format!(
                "{} was given without `--from tar` or `--from dir`",
                path.display()
            )));
        }
        (Some(other), _) => {
            return Err(args.error(format!(
                "unknown source {other:?}: busybox, alpine, tar FILE or dir DIR"
            )));
        }
    };
    Ok(Options {
        from,
        force: args.flag("force"),
        dest: args.value("dest").map(PathBuf::from),
    })
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let opts = parse(args)?;
    // A source that cannot work is an error even when there is nothing to make.
    match &opts.from {
        Some(Source::Tar(file)) => check_exists(file, "file", |m| m.is_file())?,
        Some(Source::Dir(dir)) => check_exists(dir, "folder", |m| m.is_dir())?,
        _ => {}
    }
    let dest = opts.dest.unwrap_or_else(default_dir);
    make(&dest, opts.from, opts.force)?;
    Ok(0)
}

/// Fails with one line unless `path` exists and is a `what`.
fn check_exists(path: &Path, what: &str, is: impl Fn(&fs::Metadata) -> bool) -> Result<()> {
    match fs::metadata(path) {
        Ok(meta) if is(&meta) => Ok(()),
        Ok(_) => bail!("{} is not a {what}", path.display()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            bail!("no such {what}: {}", path.display())
        }
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The first line of a finished root filesystem's marker: where it came from.
fn made_from(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join(MARKER)).ok()?;
    Some(text.lines().next().unwrap_or("").to_string())
}

/// Makes the root filesystem at `dest` from `from` (or the first source that works).
fn make(dest: &Path, from: Option<Source>, force: bool) -> Result<()> {
    let dest =
        std::path::absolute(dest).with_context(|| format!("bad destination {}", dest.display()))?;
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        bail!("bad destination {}", dest.display());
    };
    let name = name.to_string_lossy().into_owned();

    if let (false, Some(origin)) = (force, made_from(&dest)) {
        let shown = match fs::read_link(&dest) {
            Ok(target) => format!("{} (-> {})", dest.display(), target.display()),
            Err(_) => dest.display().to_string(),
        };
        eprintln!(
            "rootfs: {shown} already exists, made from {origin}: nothing to do (--force remakes it)"
        );
        if let Some(from) = &from {
            eprintln!("rootfs: (--from {} was not used)", describe(from));
        }
        let open = harmless::prepare_holder(parent)?;
        // A container of the early stages writes here as the host's root: a setuid file it
        // made goes now.
        harmless::sweep(&dest)?.tell("removed");
        devices::ensure(&dest, devices::Tell::Always);
        let probe = probe::build()?;
        if probe::install(&dest, &probe)? {
            eprintln!("rootfs: refreshed /{} (it had changed)", probe::INSIDE);
        }
        open.iter().for_each(|note| eprintln!("{note}"));
        return Ok(());
    }
    // `--from dir` naming the destination itself uses it in place: nothing is replaced.
    let in_place = match &from {
        Some(Source::Dir(dir)) => fs::canonicalize(dir)
            .ok()
            .is_some_and(|d| fs::canonicalize(&dest).is_ok_and(|dest| dest == d)),
        _ => false,
    };
    if !in_place {
        check_replaceable(&dest)?;
    }
    // Fail before any download when the probe cannot be built.
    let probe = probe::build()?;
    // Closed to other users before anything is made in it (or a note when it is not ours).
    let open = harmless::prepare_holder(parent)?;
    remove_stale(parent, &name);
    let _signals = CatchSignals::new();
    let tmp = Temp(Some(
        parent.join(format!(".tmp-{name}-{}", std::process::id())),
    ));
    let tmp_path = tmp.path().to_path_buf();

    let origin = match from {
        Some(Source::Dir(dir)) => {
            use_dir(&dir, &dest, &probe, tmp)?;
            open.iter().for_each(|note| eprintln!("{note}"));
            return Ok(());
        }
        Some(source) => fill(&source, &tmp_path)?,
        None => fill_auto(&tmp_path)?,
    };
    // Whatever the source, nothing in it may give a local user anything (a tarball's entries
    // were already made so: this finds nothing new there).
    harmless::sweep(&tmp_path)?.tell("removed");
    if probe::install(&tmp_path, &probe)? {
        eprintln!("rootfs: installed the probe at /{}", probe::INSIDE);
    }
    safe::write(&tmp_path, MARKER, format!("{origin}\n").as_bytes(), 0o644)?;
    put_in_place(tmp, &dest)?;
    eprintln!("rootfs: made {} from {origin}", dest.display());
    // Once in place, so that a note about missing device nodes names the real folder.
    devices::ensure(&dest, devices::Tell::Always);
    open.iter().for_each(|note| eprintln!("{note}"));
    Ok(())
}

/// Before a demo: the folder holding an existing root filesystem is closed to other users (one
/// made before the xtask did so). A failure or an open folder is said once, and stops nothing.
fn close_holder_once(dir: &Path) {
    let note = match harmless::holder_of(dir).and_then(|h| harmless::prepare_holder(&h)) {
        Ok(note) => note,
        Err(err) => Some(format!(
            "rootfs: note: cannot close the folder holding {} to other users: {err:#}",
            dir.display()
        )),
    };
    if let Some(note) = note {
        if util::first_time(&note) {
            eprintln!("{note} (said once)");
        }
    }
}

fn describe(source: &Source) -> String {
    match source {
        Source::Busybox => "busybox".into(),
        Source::Alpine => "alpine".into(),
        Source::Tar(f) => format!("tar {}", f.display()),
        Source::Dir(d) => format!("dir {}", d.display()),
    }
}

/// Fills the temporary folder `tmp` from one source; returns a line saying where it came from.
fn fill(source: &Source, tmp: &Path) -> Result<String> {
    match source {
        Source::Busybox => match busybox::find() {
            busybox::Found::Static(path) => from_busybox(&path, tmp),
            busybox::Found::Dynamic(path) => bail!(
                "{} is dynamically linked, so it cannot run inside the container: \
                 install a static one (Debian/Ubuntu: `apt-get install busybox-static`)",
                path.display()
            ),
            busybox::Found::None => bail!(
                "no busybox on this host: install a static one \
                 (Debian/Ubuntu: `apt-get install busybox-static`)"
            ),
        },
        Source::Alpine => from_alpine(tmp).map_err(|err| {
            if err.chain().any(|e| e.is::<alpine::Network>()) {
                anyhow!("{err:#}; without a network, use `cargo xtask rootfs --from busybox`")
            } else {
                err
            }
        }),
        Source::Tar(file) => {
            let file = std::path::absolute(file)?;
            if !file.is_file() {
                bail!("no tarball at {}", file.display());
            }
            let sha = alpine::sha256(&file)?;
            eprintln!("rootfs: unpacking {}", file.display());
            unpack_into(&file, tmp)?;
            Ok(format!("tarball {} (sha256 {sha})", file.display()))
        }
        Source::Dir(_) => unreachable!("handled by use_dir"),
    }
}

/// No `--from`: busybox if the host has a static one, else the Alpine download, else one error
/// with the three ways out.
fn fill_auto(tmp: &Path) -> Result<String> {
    let why_not_busybox = match busybox::find() {
        busybox::Found::Static(path) => return from_busybox(&path, tmp),
        busybox::Found::Dynamic(path) => format!("{} is not statically linked", path.display()),
        busybox::Found::None => "no busybox on this host".to_string(),
    };
    eprintln!("rootfs: {why_not_busybox}: trying the Alpine download instead");
    match from_alpine(tmp) {
        Ok(origin) => Ok(origin),
        Err(err) if interrupted() => Err(err),
        Err(err) => {
            // The Alpine attempt may have left a half-filled folder: start the error clean.
            let _ = remove_tree(tmp);
            bail!(
                "no source for a root filesystem works here ({why_not_busybox}; alpine: {err:#}). \
                 Fix one: install a static busybox (`apt-get install busybox-static`), allow the \
                 download from dl-cdn.alpinelinux.org, or pass a tarball \
                 (`cargo xtask rootfs --from tar FILE`, e.g. from `docker export`)"
            )
        }
    }
}

fn from_busybox(busybox: &Path, tmp: &Path) -> Result<String> {
    let version = busybox::version(busybox);
    eprintln!("rootfs: using {} ({version})", busybox.display());
    fs::create_dir(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let links = busybox::build(tmp, busybox)?;
    Ok(format!(
        "busybox {} ({version}, {links} applet links)",
        busybox.display()
    ))
}

fn from_alpine(tmp: &Path) -> Result<String> {
    let pin = alpine::pin()?;
    let mut download = tmp.as_os_str().to_owned();
    download.push(".tar.gz");
    let download = Temp(Some(PathBuf::from(download)));
    alpine::download(&pin, download.path())?;
    unpack_into(download.path(), tmp)?;
    Ok(format!("alpine {} (sha256 {})", pin.url, pin.sha256))
}

fn unpack_into(file: &Path, tmp: &Path) -> Result<()> {
    fs::create_dir(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    fs::set_permissions(tmp, fs::Permissions::from_mode(0o755))?;
    let summary =
        unpack::unpack(file, tmp).with_context(|| format!("cannot unpack {}", file.display()))?;
    summary.taken.tell("skipped");
    if !summary.skipped_other.is_empty() {
        eprintln!(
            "rootfs: note: skipped {} entrie(s) of no use in a root filesystem: {}",
            summary.skipped_other.len(),
            summary.skipped_other.join(" ")
        );
    }
    eprintln!("rootfs: unpacked {} entries", summary.entries);
    if !safe::is_file(tmp, "bin/sh") && fs::symlink_metadata(tmp.join("bin/sh")).is_err() {
        eprintln!("rootfs: note: this root filesystem has no /bin/sh");
    }
    Ok(())
}

/// `--from dir DIR`: the folder is used as it is, plus the probe and the marker. The destination
/// becomes a symlink to it (or is it).
fn use_dir(dir: &Path, dest: &Path, probe: &Path, tmp: Temp) -> Result<()> {
    let dir = fs::canonicalize(dir).with_context(|| format!("no folder at {}", dir.display()))?;
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    if fs::symlink_metadata(dir.join("bin/sh")).is_err() {
        eprintln!("rootfs: note: {} has no /bin/sh", dir.display());
    }
    // The same rules as for the other sources, applied to the folder itself.
    harmless::sweep(&dir)?.tell(&format!("removed from {}", dir.display()));
    // Reached by its own path too: the folder above it is the user's, only pointed out.
    if let Some(note) = harmless::prepare_holder(&harmless::holder_of(&dir)?)? {
        eprintln!("{note}");
    }
    if probe::install(&dir, probe)? {
        eprintln!(
            "rootfs: installed the probe at /{} in {}",
            probe::INSIDE,
            dir.display()
        );
    }
    let origin = match made_from(&dir) {
        // A root filesystem the xtask made elsewhere keeps its own marker (and stays removable
        // by a --force aimed at it).
        Some(earlier) => format!("folder {}, itself made from {earlier}", dir.display()),
        None => {
            let origin = format!("folder {}", dir.display());
            safe::write(&dir, MARKER, format!("{origin}\n").as_bytes(), 0o644)?;
            origin
        }
    };
    if fs::canonicalize(dest).is_ok_and(|d| d == dir) {
        eprintln!("rootfs: using {} in place, from {origin}", dest.display());
        return Ok(());
    }
    symlink(&dir, tmp.path()).with_context(|| format!("cannot create {}", tmp.path().display()))?;
    put_in_place(tmp, dest)?;
    eprintln!("rootfs: {} now points to {origin}", dest.display());
    Ok(())
}

/// The destination may be replaced only if it is missing, empty, a symlink (which `dir` made), or
/// a root filesystem this xtask made, and nothing is mounted below it.
fn check_replaceable(dest: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(dest) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", dest.display())),
    };
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if !meta.is_dir() {
        bail!(
            "{} exists and is not a folder: move it away",
            dest.display()
        );
    }
    if made_from(dest).is_some_and(|origin| origin.starts_with("folder ")) {
        bail!(
            "{} is a folder used in place (`--from dir`): the xtask never removes it; move it \
             away yourself, or choose another --dest",
            dest.display()
        );
    }
    let empty = fs::read_dir(dest)?.next().is_none();
    if !empty && made_from(dest).is_none() {
        bail!(
            "{} exists but was not made by `cargo xtask rootfs` (it has no {MARKER}): move it \
             away, choose another --dest, or use it as it is with `--from dir {}`",
            dest.display(),
            dest.display()
        );
    }
    if let Some(mount) = mounted_below(dest) {
        bail!(
            "{mount} is still mounted (left by a killed demo?): unmount it (`cargo xtask clean`) \
             before remaking the root filesystem"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_every_source() {
        let o = parse(args(&["--from", "tar", "x.tar", "--force", "--dest", "/d"])).unwrap();
        assert_eq!(o.from, Some(Source::Tar("x.tar".into())));
        assert!(o.force);
        assert_eq!(o.dest, Some(PathBuf::from("/d")));
        let o = parse(args(&["--from", "dir", "/srv/root"])).unwrap();
        assert_eq!(o.from, Some(Source::Dir("/srv/root".into())));
        assert_eq!(parse(args(&[])).unwrap().from, None);
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for bad in [
            args(&["--from"]),
            args(&["--from", "debian"]),
            args(&["--from", "tar"]),
            args(&["--bogus"]),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.downcast_ref::<util::Usage>().is_some(), "{err:#}");
        }
    }
}

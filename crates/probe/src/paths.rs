//! `probe paths PATH...`: what a process sees at each path, as docker's masked and read-only
//! paths are checked: whether it exists, whether it is a folder, how much can be read from it
//! (a folder's entries, a file's first bytes), and whether its mount is read-only.
//!
//! One object per path, in the order given: `{path, exists, dir, entries, bytes, read_only,
//! error}`. `entries` is null for a file and `bytes` for a folder; `bytes` counts at most
//! [`READ_AT_MOST`] (`/proc/kcore` is as large as the address space). `read_only` is statvfs(3)'s
//! `ST_RDONLY` for the mount the path is on. `error` is why something could not be read.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::json::Json;
use crate::procfs::describe;

/// How many bytes of a file are read, at most.
pub const READ_AT_MOST: u64 = 4096;

/// What can be seen at each path.
pub fn report(paths: &[String]) -> Json {
    Json::from(paths.iter().map(|p| one(Path::new(p))).collect::<Vec<_>>())
}

fn one(path: &Path) -> Json {
    let mut out = Json::obj().with("path", path.to_string_lossy().into_owned());
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) => {
            return out
                .with("exists", false)
                .with("dir", Json::Null)
                .with("entries", Json::Null)
                .with("bytes", Json::Null)
                .with("read_only", Json::Null)
                .with("error", describe(&err));
        }
    };
    out.push("exists", true);
    out.push("dir", meta.is_dir());
    let mut error = Json::Null;
    let (entries, bytes) = if meta.is_dir() {
        match fs::read_dir(path) {
            Ok(list) => (Json::from(list.count()), Json::Null),
            Err(err) => {
                error = describe(&err).into();
                (Json::Null, Json::Null)
            }
        }
    } else {
        let mut buf = Vec::new();
        let read = File::open(path).and_then(|f| f.take(READ_AT_MOST).read_to_end(&mut buf));
        match read {
            Ok(n) => (Json::Null, Json::from(n)),
            Err(err) => {
                error = describe(&err).into();
                (Json::Null, Json::Null)
            }
        }
    };
    out.push("entries", entries);
    out.push("bytes", bytes);
    out.push("read_only", read_only(path));
    out.with("error", error)
}

/// Whether the mount `path` is on is read-only (statvfs(3)'s `ST_RDONLY`), null if unknown.
fn read_only(path: &Path) -> Json {
    let Ok(name) = CString::new(path.as_os_str().as_bytes()) else {
        return Json::Null;
    };
    // SAFETY: `name` is a valid C string and `stat` a zeroed struct statvfs to fill.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(name.as_ptr(), &mut stat) } != 0 {
        return Json::Null;
    }
    (stat.f_flag & libc::ST_RDONLY != 0).into()
}

//! What `/proc` tells a process about itself: the mount table, its cgroup lines, its status
//! fields, its uid/gid maps, and how many processes it can see.
//!
//! Without `/proc` mounted (a plain `chroot` has none) every function here returns an error
//! saying so, and the report shows `null` for the field plus the reason under `errors`.

use std::fs;
use std::io;
use std::path::Path;

use crate::json::Json;

/// Whether a procfs is mounted at `/proc` (then `/proc/self` exists).
pub fn mounted() -> bool {
    Path::new("/proc/self").exists()
}

/// Reads a file under `/proc`, turning "no /proc here" into a clear message.
pub fn read(path: &str) -> Result<String, String> {
    if !mounted() {
        return Err("/proc is not mounted here".to_string());
    }
    fs::read_to_string(path).map_err(|e| format!("{path}: {}", describe(&e)))
}

/// An I/O error as `ENOENT (No such file or directory)`.
pub fn describe(err: &io::Error) -> String {
    let text = err.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    match err.raw_os_error().and_then(errno_name) {
        Some(name) => format!("{name} ({text})"),
        None => text,
    }
}

fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EACCES => "EACCES",
        libc::EEXIST => "EEXIST",
        libc::ENOTDIR => "ENOTDIR",
        libc::EINVAL => "EINVAL",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::EBUSY => "EBUSY",
        libc::ENOKEY => "ENOKEY",
        libc::EBADF => "EBADF",
        libc::ENODEV => "ENODEV",
        libc::ENXIO => "ENXIO",
        libc::ENOSPC => "ENOSPC",
        libc::ETXTBSY => "ETXTBSY",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => return None,
    })
}

/// How many processes `/proc` lists (its numeric entries). An empty `/proc` folder (nothing
/// mounted on it, as after a plain chroot) lists none: 0.
pub fn pid_count() -> Result<u64, String> {
    let entries = fs::read_dir("/proc").map_err(|e| format!("/proc: {}", describe(&e)))?;
    Ok(entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
        })
        .count() as u64)
}

/// The mount table as this process sees it: `[{mountpoint, fstype, options}]`.
pub fn mounts() -> Result<Json, String> {
    let table = read("/proc/self/mounts")?;
    let list = table
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let _source = fields.next()?;
            let point = fields.next()?;
            let fstype = fields.next()?;
            let options = fields.next()?;
            Some(
                Json::obj()
                    .with("mountpoint", unescape(point))
                    .with("fstype", unescape(fstype))
                    .with("options", unescape(options)),
            )
        })
        .collect::<Vec<_>>();
    Ok(Json::Arr(list))
}

/// The mount table writes space, tab, newline and backslash as octal escapes (`\040`).
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|s| u8::from_str_radix(s, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The lines of `/proc/self/cgroup`, e.g. `0::/desde-cero/123` (v2) or `4:memory:/x` (v1).
pub fn cgroup_lines() -> Result<Vec<String>, String> {
    Ok(read("/proc/self/cgroup")?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// One field of `/proc/self/status`, e.g. `CapEff` → `000001ffffffffff`.
pub fn status_field(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mount_fields() {
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("/x\\"), "/x\\");
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tprobe\nCapEff:\t0000000000000000\nUid:\t0\t0\t0\t0\n";
        assert_eq!(
            status_field(s, "CapEff").as_deref(),
            Some("0000000000000000")
        );
        assert_eq!(status_field(s, "CapBnd"), None);
    }
}

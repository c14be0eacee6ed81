//! What a container of this project can leave behind on the host, read from the host itself:
//! the mount table (`/proc/self/mountinfo`), the project's cgroup folders in every hierarchy,
//! the `full` stage's overlay folders in `/tmp`, and the network links (among them the veths the
//! `net`, `user` and `full` stages name `dc<pid>h` and `dc<pid>c`).
//!
//! It also says which cgroup layout the host has ([`cgroup_layout`]): v2, hybrid or v1, the one
//! answer `cargo xtask doctor` and `bench`, the probe and the tests agree on.
//!
//! It only lists; it changes nothing. The leak check of the tests (`testkit::leaks`) compares two
//! listings, `cargo xtask clean` removes what it lists, `cargo xtask rootfs` refuses to replace a
//! root filesystem something is still mounted in.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The name every cgroup folder of the project starts with (`desde-cero-<runtime pid>`).
pub const CGROUP_PREFIX: &str = "desde-cero";
/// The `full` stage's overlay folders: this prefix, then the runtime's pid.
pub const OVERLAY_PREFIX: &str = "desde-cero-overlay-";
/// The stages with a network name their veth ends `dc<runtime pid>h` (host) and `dc<runtime pid>c`.
pub const VETH_PREFIX: &str = "dc";

/// One line of `/proc/self/mountinfo`, see proc(5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted, with the table's octal escapes (`\040`) undone.
    pub mount_point: PathBuf,
    /// Optional fields: `shared:N`, `master:N`, ...
    pub optional: Vec<String>,
    pub fstype: String,
    pub super_options: String,
}

/// The mount table of this process's mount namespace, in mount order (empty if unreadable).
pub fn mounts() -> Vec<Mount> {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// Parses a mountinfo table; lines without the `-` separator are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

/// One mountinfo line: `id parent major:minor root mount-point options [optional...] - fstype
/// source super-options`.
pub fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields.iter().position(|f| *f == "-")?;
    Some(Mount {
        mount_point: unescape(fields.get(4)?),
        optional: fields.get(6..sep)?.iter().map(|s| s.to_string()).collect(),
        fstype: fields.get(sep + 1)?.to_string(),
        super_options: fields.get(sep + 3).unwrap_or(&"").to_string(),
    })
}

/// Undoes mount tables' octal escapes (space, tab, newline and backslash are `\040` etc.).
pub fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) if bytes[i] == b'\\' => {
                out.push(
                    d.iter()
                        .fold(0u8, |n, b| n.wrapping_mul(8).wrapping_add(b - b'0')),
                );
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

/// Where the cgroup hierarchies are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How a host mounts its cgroups, read from what is mounted at [`CGROUP_ROOT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupLayout {
    /// cgroup2 at `/sys/fs/cgroup`: one unified tree.
    V2,
    /// v1 hierarchies below `/sys/fs/cgroup`, plus a cgroup2 tree at `/sys/fs/cgroup/unified`
    /// (systemd's "hybrid" mode).
    Hybrid,
    /// v1 hierarchies only, one per controller (or group of controllers) below `/sys/fs/cgroup`.
    V1,
    /// No cgroup is mounted at or below `/sys/fs/cgroup` (or the mount table is unreadable).
    None,
}

impl CgroupLayout {
    /// How doctor and bench name it (`cgroups: v2 (unified)`).
    pub fn describe(self) -> &'static str {
        match self {
            CgroupLayout::V2 => "v2 (unified)",
            CgroupLayout::Hybrid => "hybrid (v1 controllers, plus a cgroup2 mount)",
            CgroupLayout::V1 => "v1 (legacy)",
            CgroupLayout::None => "none mounted at /sys/fs/cgroup",
        }
    }
}

/// This host's cgroup layout (as this process's mount namespace sees it).
pub fn cgroup_layout() -> CgroupLayout {
    cgroup_layout_of(&mounts())
}

/// The cgroup layout a mount table shows. Of several mounts on one point, the last one (the
/// one on top) counts.
pub fn cgroup_layout_of(mounts: &[Mount]) -> CgroupLayout {
    let root = Path::new(CGROUP_ROOT);
    let on = |point: &Path| {
        mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == point)
            .map(|m| m.fstype.as_str())
    };
    if on(root) == Some("cgroup2") {
        CgroupLayout::V2
    } else if on(&root.join("unified")) == Some("cgroup2") {
        CgroupLayout::Hybrid
    } else if mounts
        .iter()
        .any(|m| m.fstype == "cgroup" && m.mount_point.starts_with(root))
    {
        CgroupLayout::V1
    } else {
        CgroupLayout::None
    }
}

/// Where the cgroup2 tree is: `/sys/fs/cgroup` (v2) or `/sys/fs/cgroup/unified` (hybrid).
pub fn cgroup2_root(layout: CgroupLayout) -> Option<PathBuf> {
    match layout {
        CgroupLayout::V2 => Some(PathBuf::from(CGROUP_ROOT)),
        CgroupLayout::Hybrid => Some(Path::new(CGROUP_ROOT).join("unified")),
        CgroupLayout::V1 | CgroupLayout::None => None,
    }
}

/// The first mount point at `dir` or below it (`dir` as given; canonicalize it first).
pub fn mounted_below<'a>(mounts: &'a [Mount], dir: &Path) -> Option<&'a Mount> {
    mounts.iter().find(|m| m.mount_point.starts_with(dir))
}

/// Every cgroup folder named `desde-cero…` and every folder below one, in every hierarchy (each
/// `cgroup` and `cgroup2` mount of `mounts`), deepest first.
pub fn cgroups(mounts: &[Mount]) -> Vec<PathBuf> {
    let mut found = BTreeSet::new();
    let tops: BTreeSet<&Path> = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .map(|m| m.mount_point.as_path())
        .collect();
    for top in tops {
        walk(top, 0, false, &mut found);
    }
    let mut dirs: Vec<PathBuf> = found.into_iter().collect();
    dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    dirs
}

fn walk(dir: &Path, depth: usize, inside: bool, found: &mut BTreeSet<PathBuf>) {
    if depth > 12 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        let ours = inside
            || entry
                .file_name()
                .to_string_lossy()
                .starts_with(CGROUP_PREFIX);
        if ours {
            found.insert(path.clone());
        }
        walk(&path, depth + 1, ours, found);
    }
}

/// The `full` stage's overlay folders, in `/tmp` and in `$TMPDIR` (if that differs), sorted.
pub fn overlays() -> Vec<PathBuf> {
    let mut dirs = BTreeSet::new();
    for tmp in [PathBuf::from("/tmp"), std::env::temp_dir()] {
        let Ok(entries) = fs::read_dir(&tmp) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(OVERLAY_PREFIX)
            {
                dirs.insert(entry.path());
            }
        }
    }
    dirs.into_iter().collect()
}

/// The network links of this process's network namespace, sorted.
pub fn links() -> Vec<String> {
    let Ok(entries) = fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    found
}

/// Whether a link's name is one the stages give their veths: `dc`, digits, then `h` or `c`.
pub fn is_project_link(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(VETH_PREFIX) else {
        return false;
    };
    let digits = rest.trim_end_matches(['h', 'c']);
    rest.len() == digits.len() + 1
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The links named like the stages' veth ends that are veths, sorted.
pub fn veths() -> Vec<String> {
    links()
        .into_iter()
        .filter(|name| is_project_link(name) && is_veth(name))
        .collect()
}

/// A veth's driver says so in its uevent-less sysfs entry only through ethtool, so ask the
/// link's `iflink` instead: a veth's peer is another link, so `iflink` differs from `ifindex`.
fn is_veth(name: &str) -> bool {
    let read = |f: &str| fs::read_to_string(format!("/sys/class/net/{name}/{f}")).ok();
    let virtual_dev = fs::canonicalize(format!("/sys/class/net/{name}"))
        .is_ok_and(|p| p.starts_with("/sys/devices/virtual/net"));
    virtual_dev && read("iflink") != read("ifindex")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_with_optional_fields() {
        let m = parse_mountinfo_line(
            "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue",
        )
        .unwrap();
        assert_eq!(m.mount_point, PathBuf::from("/mnt/parent"));
        assert_eq!(m.optional, ["master:1", "shared:2"]);
        assert_eq!(m.fstype, "ext3");
        assert_eq!(m.super_options, "rw,errors=continue");
    }

    #[test]
    fn a_line_without_optional_fields() {
        let m = parse_mountinfo_line(
            "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
        )
        .unwrap();
        assert!(m.optional.is_empty());
        assert_eq!(m.fstype, "cgroup2");
        assert_eq!(m.super_options, "rw");
    }

    #[test]
    fn the_separator_is_required() {
        assert_eq!(
            parse_mountinfo_line("41 31 0:38 / /x rw cgroup2 cgroup2 rw"),
            None
        );
        assert_eq!(parse_mountinfo_line(""), None);
        assert_eq!(parse_mountinfo_line("1 2 - ext4"), None);
        let table = "bad line\n22 1 0:1 / /a rw - tmpfs tmpfs rw\n";
        assert_eq!(parse_mountinfo(table).len(), 1);
    }

    #[test]
    fn escaped_spaces_are_undone() {
        let m = parse_mountinfo_line(
            r"50 22 0:44 / /tmp/a\040b\011c\134d rw shared:5 - tmpfs x\040y rw",
        )
        .unwrap();
        assert_eq!(m.mount_point, PathBuf::from("/tmp/a b\tc\\d"));
        assert_eq!(m.optional, ["shared:5"]);
        assert_eq!(unescape("/plain"), PathBuf::from("/plain"));
        // A backslash not followed by three octal digits stays as it is.
        assert_eq!(unescape(r"/a\9b\04"), PathBuf::from(r"/a\9b\04"));
    }

    #[test]
    fn mounts_below_a_folder() {
        let table = parse_mountinfo(
            "1 0 0:1 / / rw - ext4 /dev/sda rw\n\
             2 1 0:2 / /srv/rootfs-old rw - tmpfs t rw\n\
             3 1 0:3 / /srv/rootfs/proc rw - proc proc rw\n",
        );
        let found = mounted_below(&table, Path::new("/srv/rootfs")).unwrap();
        assert_eq!(found.mount_point, PathBuf::from("/srv/rootfs/proc"));
        assert_eq!(mounted_below(&table, Path::new("/srv/other")), None);
    }

    #[test]
    fn cgroup_layouts() {
        let layout = |table: &str| cgroup_layout_of(&parse_mountinfo(table));
        let v2 = "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let v1 = "30 1 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n\
                  31 30 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        let unified = "32 30 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        assert_eq!(layout(v2), CgroupLayout::V2);
        assert_eq!(layout(v1), CgroupLayout::V1);
        assert_eq!(layout(&format!("{v1}{unified}")), CgroupLayout::Hybrid);
        assert_eq!(
            layout("1 0 0:1 / / rw - ext4 /dev/sda rw\n"),
            CgroupLayout::None
        );
        // A cgroup2 tree mounted over the tmpfs (bench's private namespace for crun): v2.
        let over = "40 30 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(layout(&format!("{v1}{unified}{over}")), CgroupLayout::V2);
        assert_eq!(
            cgroup2_root(CgroupLayout::Hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(cgroup2_root(CgroupLayout::V1), None);
    }

    #[test]
    fn this_hosts_cgroup_layout_is_known() {
        let layout = cgroup_layout();
        let v2_files = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let hybrid_files = Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists();
        match layout {
            CgroupLayout::V2 => assert!(v2_files),
            CgroupLayout::Hybrid => assert!(!v2_files && hybrid_files),
            CgroupLayout::V1 | CgroupLayout::None => assert!(!v2_files && !hybrid_files),
        }
    }

    #[test]
    fn veth_names() {
        assert!(is_project_link("dc123h"));
        assert!(is_project_link("dc4c"));
        for other in [
            "dc", "dch", "dc12", "dc12x", "dc1hh", "eth0", "xdc1h", "dc1a2h",
        ] {
            assert!(!is_project_link(other), "{other}");
        }
    }

    #[test]
    fn this_hosts_table_has_a_root() {
        assert!(mounts().iter().any(|m| m.mount_point == Path::new("/")));
    }
}

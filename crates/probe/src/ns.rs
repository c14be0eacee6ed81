//! The namespaces a process is in: the inode number of each `/proc/self/ns/<kind>` link. Two
//! processes are in the same namespace exactly when these numbers are equal, which is how the
//! tests tell "own UTS namespace" from "the host's".

use std::fs;
use std::os::unix::fs::MetadataExt;

use crate::json::Json;
use crate::procfs;

/// The kinds the report lists, in its order.
pub const KINDS: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts", "time"];

/// `{cgroup: inode, ipc: inode, ...}`; a kind this kernel lacks is `null`.
pub fn inodes() -> Result<Json, String> {
    if !procfs::mounted() {
        return Err("/proc is not mounted here, so /proc/self/ns cannot be read".to_string());
    }
    let mut out = Json::obj();
    for kind in KINDS {
        // stat (not lstat): the link leads to the namespace's own inode in nsfs.
        let inode = fs::metadata(format!("/proc/self/ns/{kind}"))
            .ok()
            .map(|m| m.ino());
        out.push(kind, inode);
    }
    Ok(out)
}

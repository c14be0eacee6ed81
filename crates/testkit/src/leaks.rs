//! The leak check every integration test shares: the host's mount table, this project's cgroups,
//! the network links and the `full` stage's overlay folders in `/tmp` (all listed by `hoststate`,
//! as `cargo xtask clean` lists them), and this process's children, are read before a test and
//! compared after it.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A snapshot of what a container could leave behind on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub mounts: BTreeSet<String>,
    pub cgroups: BTreeSet<String>,
    pub links: BTreeSet<String>,
    pub children: BTreeSet<String>,
    /// The `full` stage's overlay folders (`/tmp/desde-cero-overlay-<pid>`).
    pub overlays: BTreeSet<String>,
}

impl Snapshot {
    pub fn take() -> Snapshot {
        let mounts = hoststate::mounts();
        let shown = |p: PathBuf| p.display().to_string();
        Snapshot {
            cgroups: hoststate::cgroups(&mounts).into_iter().map(shown).collect(),
            mounts: mounts
                .into_iter()
                .map(|m| format!("{} ({})", m.mount_point.display(), m.fstype))
                .collect(),
            links: hoststate::links().into_iter().collect(),
            children: children(),
            overlays: hoststate::overlays().into_iter().map(shown).collect(),
        }
    }

    /// What is in `self` but not in `before`, one line per item; empty when nothing leaked.
    pub fn added_since(&self, before: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (what, now, then) in [
            ("mount", &self.mounts, &before.mounts),
            ("cgroup", &self.cgroups, &before.cgroups),
            ("link", &self.links, &before.links),
            ("child process", &self.children, &before.children),
            ("overlay folder", &self.overlays, &before.overlays),
        ] {
            out.extend(now.difference(then).map(|item| format!("{what}: {item}")));
        }
        out
    }
}

/// Take one at the start of a test; call [`LeakCheck::assert_clean`] at its end.
pub struct LeakCheck {
    before: Snapshot,
}

impl LeakCheck {
    pub fn start() -> LeakCheck {
        LeakCheck {
            before: Snapshot::take(),
        }
    }

    /// Fails the test if anything was added to the host. Waits a moment first: the kernel tears a
    /// namespace down asynchronously (a veth vanishes shortly after its namespace's last process).
    #[track_caller]
    pub fn assert_clean(self) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let leaked = Snapshot::take().added_since(&self.before);
            if leaked.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!("left behind on the host:\n  {}", leaked.join("\n  "));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// This process's live children and their descendants (pid and name).
fn children() -> BTreeSet<String> {
    let me = std::process::id().to_string();
    let mut parents: BTreeSet<String> = BTreeSet::from([me]);
    let mut found = BTreeSet::new();
    // A few passes pick up grandchildren whose parents were found in an earlier pass.
    for _ in 0..4 {
        let Ok(entries) = fs::read_dir("/proc") else {
            break;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ')'.
            let Some((head, tail)) = stat.rsplit_once(')') else {
                continue;
            };
            let comm = head.split_once('(').map(|x| x.1).unwrap_or("");
            let ppid = tail.split_whitespace().nth(1).unwrap_or("");
            if parents.contains(ppid) && !parents.contains(&name) {
                parents.insert(name.clone());
                found.insert(format!("{name} ({comm})"));
            }
        }
    }
    found
}

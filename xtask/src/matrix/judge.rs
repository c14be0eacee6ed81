//! Judging what was seen: the properties a probe's view shows against the host's, and each
//! stage's row against what the catalog says.

use std::collections::{BTreeMap, BTreeSet};

use catalog::{Attack, Property, Stage};
use serde_json::Value;

use super::run::View;
use super::HOSTNAME;

/// Which properties a probe's view shows, compared with the host's view.
pub(super) fn properties(inside: &View, host: &View) -> BTreeSet<Property> {
    let r = &inside.report;
    let h = &host.report;
    let mut has = BTreeSet::new();
    let ns = |v: &View, kind: &str| {
        at(&v.report, &["ns", kind])
            .and_then(Value::as_u64)
            .or_else(|| v.ns.get(kind).copied())
    };
    let own_ns = |kind: &str| {
        let (a, b) = (ns(inside, kind), ns(host, kind));
        a.is_some() && b.is_some() && a != b
    };
    for (property, kind) in [
        (Property::UtsNs, "uts"),
        (Property::PidNs, "pid"),
        (Property::MountNs, "mnt"),
        (Property::IpcNs, "ipc"),
        (Property::NetNs, "net"),
        (Property::UserNs, "user"),
        (Property::CgroupNs, "cgroup"),
    ] {
        if own_ns(kind) {
            has.insert(property);
        }
    }
    if at(r, &["hostname"]).and_then(Value::as_str) == Some(HOSTNAME) {
        has.insert(Property::Hostname);
    }
    if at(r, &["pid"]).and_then(Value::as_u64) == Some(1)
        || at(r, &["ppid"]).and_then(Value::as_u64) == Some(1)
    {
        has.insert(Property::Pid1);
    }
    if inside.root != host.root {
        has.insert(Property::OwnRoot);
    }
    // The host's /proc lists every process of the machine, kernel threads included; the
    // container's lists its init and the probe.
    if let (Some(n), Some(all)) = (
        at(r, &["proc_pids"]).and_then(Value::as_u64),
        at(h, &["proc_pids"]).and_then(Value::as_u64),
    ) {
        if n >= 1 && n * 2 < all {
            has.insert(Property::ProcIsolated);
        }
    }
    for (property, key, controller) in [
        (Property::PidsLimit, "pids_max", "pids"),
        (Property::MemoryLimit, "memory_max", "memory"),
        (Property::CpuLimit, "cpu_max", "cpu"),
    ] {
        if limited(inside, host, key, controller) {
            has.insert(property);
        }
    }
    let uid_map = |v: &View| {
        at(&v.report, &["uid_map"])
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| v.uid_map.clone())
    };
    if host_uid_of_root(&uid_map(inside)).is_some_and(|uid| uid != 0) {
        has.insert(Property::RootNotHostRoot);
    }
    let mask = |v: &View, key: &str, status_key: &str| {
        at(&v.report, &["caps", key])
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| status_field(&v.status, status_key))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
    };
    let reduced = |key: &str, status_key: &str| match (
        mask(inside, key, status_key),
        mask(host, key, status_key),
    ) {
        (Some(a), Some(b)) => a & !b == 0 && a != b,
        _ => false,
    };
    if reduced("effective", "CapEff") && reduced("bounding", "CapBnd") {
        has.insert(Property::CapsReduced);
    }
    let nnp = |v: &View| {
        at(&v.report, &["no_new_privs"])
            .and_then(Value::as_bool)
            .or_else(|| status_field(&v.status, "NoNewPrivs").map(|s| s == "1"))
    };
    if nnp(inside) == Some(true) && nnp(host) != Some(true) {
        has.insert(Property::NoNewPrivs);
    }
    // Unreachable only when the escape was really tried and failed: when it could not even be
    // tried (the probe says why under `errors`), nothing is proven.
    if at(r, &["host_root_reachable"]).and_then(Value::as_bool) == Some(false)
        && at(r, &["errors", "host_root_reachable"]).is_none()
    {
        has.insert(Property::HostRootUnreachable);
    }
    has
}

/// Whether a limit of `controller` applies inside and not on the host. The probe's own report
/// decides when it could read the limits; when it could not (no `/sys/fs/cgroup` inside), the
/// process's group as the host sees it: another group than the host's, with its own limit.
fn limited(inside: &View, host: &View, key: &str, controller: &str) -> bool {
    let reachable = |v: &View| {
        !at(&v.report, &["limits_source"])
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with("unreachable") || s.starts_with("unknown"))
    };
    let value = |v: &View| {
        at(&v.report, &["limits", key])
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if reachable(inside) {
        let own = value(inside);
        return own.is_some() && own != value(host);
    }
    match (inside.groups.get(controller), host.groups.get(controller)) {
        (Some((dir, limited)), Some((host_dir, _))) => dir != host_dir && *limited,
        _ => false,
    }
}

/// The host uid that uid 0 inside maps to, from a uid_map's text.
fn host_uid_of_root(map: &str) -> Option<u64> {
    map.lines().find_map(|line| {
        let f: Vec<u64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        match f[..] {
            [inside, outside, count] if inside == 0 && count > 0 => Some(outside),
            _ => None,
        }
    })
}

fn status_field(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// What happened to one stage.
pub(super) enum Outcome {
    /// Its crate does not exist yet, or does not build.
    Missing(String),
    /// It ran, but the probe's report could not be had.
    Failed(String),
    /// What was observed.
    Seen(Seen),
}

/// What the probe observed inside one stage.
pub(super) struct Seen {
    /// The properties it has.
    pub(super) has: BTreeSet<Property>,
    /// Every attack: whether it got through, and the probe's one line on it.
    pub(super) attacks: BTreeMap<Attack, (bool, String)>,
}

impl Seen {
    pub(super) fn stopped(&self) -> BTreeSet<Attack> {
        self.attacks
            .iter()
            .filter(|(_, (through, _))| !through)
            .map(|(a, _)| *a)
            .collect()
    }
}

pub(super) struct Row {
    pub(super) stage: &'static Stage,
    pub(super) outcome: Outcome,
}

/// A row of the table: a property, or an attack.
#[derive(Clone, Copy)]
pub(super) enum Cell {
    Property(Property),
    Attack(Attack),
}

impl Cell {
    pub(super) fn label(self) -> &'static str {
        match self {
            Cell::Property(p) => p.label(),
            Cell::Attack(a) => a.label(),
        }
    }

    pub(super) fn description(self) -> &'static str {
        match self {
            Cell::Property(p) => p.description(),
            Cell::Attack(a) => a.description(),
        }
    }
}

pub(super) struct Mismatch {
    pub(super) stage: &'static str,
    pub(super) cell: Cell,
    pub(super) expected: bool,
    /// The probe's line on an attack.
    pub(super) detail: Option<String>,
}

impl Row {
    pub(super) fn expected(&self) -> BTreeSet<Property> {
        catalog::expected(self.stage).into_iter().collect()
    }

    pub(super) fn expected_stops(&self) -> BTreeSet<Attack> {
        self.stage.stops.iter().copied().collect()
    }

    pub(super) fn mismatches(&self) -> Vec<Mismatch> {
        let Outcome::Seen(seen) = &self.outcome else {
            return Vec::new();
        };
        let expected = self.expected();
        let properties = Property::ALL
            .iter()
            .filter(|p| expected.contains(p) != seen.has.contains(p))
            .map(|&property| Mismatch {
                stage: self.stage.name,
                cell: Cell::Property(property),
                expected: expected.contains(&property),
                detail: None,
            });
        let (stops, stopped) = (self.expected_stops(), seen.stopped());
        let attacks = Attack::ALL
            .iter()
            .filter(|a| stops.contains(a) != stopped.contains(a))
            .map(|&attack| Mismatch {
                stage: self.stage.name,
                cell: Cell::Attack(attack),
                expected: stops.contains(&attack),
                detail: seen.attacks.get(&attack).map(|(_, d)| d.clone()),
            });
        properties.chain(attacks).collect()
    }

    /// Whether the stage has the property or stops the attack: observed (`None` without a
    /// report), and what the catalog says.
    pub(super) fn cell(&self, cell: Cell) -> (Option<bool>, bool) {
        let seen = match &self.outcome {
            Outcome::Seen(seen) => Some(seen),
            _ => None,
        };
        match cell {
            Cell::Property(p) => (
                seen.map(|s| s.has.contains(&p)),
                self.expected().contains(&p),
            ),
            Cell::Attack(a) => (
                seen.map(|s| s.stopped().contains(&a)),
                self.stage.stops.contains(&a),
            ),
        }
    }
}

/// The value at a path of object keys.
fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_probe_prints() {
        let v: Value = serde_json::from_str(
            r#"  {"a":{"b":[1,-2.5e3,"x\"\u00e9"],"n":null},"t":true,"big":18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(at(&v, &["t"]).and_then(Value::as_bool), Some(true));
        assert_eq!(at(&v, &["big"]).and_then(Value::as_u64), Some(u64::MAX));
        assert_eq!(at(&v, &["a", "n"]), Some(&Value::Null));
        let Some(Value::Array(items)) = at(&v, &["a", "b"]) else {
            panic!("no array");
        };
        assert_eq!(items[2].as_str(), Some("x\"é"));
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"abc", "[1] 2", "nul"] {
            assert!(
                serde_json::from_str::<Value>(bad).is_err(),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn root_mapping() {
        assert_eq!(
            host_uid_of_root("         0          0 4294967295\n"),
            Some(0)
        );
        assert_eq!(host_uid_of_root("0 100000 65536\n"), Some(100000));
        assert_eq!(host_uid_of_root(""), None);
    }
}

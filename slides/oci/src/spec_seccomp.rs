//! linux.seccomp, the caller's profile (podman passes its whole default
//! profile in config.json): loaded as it is, not replaced by the seccomp
//! stage's. A profile gives each listed syscall an action, and the rest
//! `defaultAction`; a seccompiler filter has two actions, so the profile
//! becomes one filter per action, stacked: for each syscall the kernel
//! takes the strictest of their answers (seccomp(2), "RETURN VALUE").

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp,
    SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};
use serde_json::Value;
use skeleton::Result;

use crate::spec::bad;

/// The profile's filters, ready to install; none without a profile.
pub fn compile(profile: &Value) -> Result<Vec<BpfProgram>> {
    if profile.is_null() {
        return Ok(Vec::new());
    }
    let errno = profile["defaultErrnoRet"].as_u64();
    let default = action(profile["defaultAction"].as_str(), errno)?;
    // The rules of each action: a syscall's rules, any of which matches;
    // none at all matches it whatever its arguments.
    let mut by_action: Vec<(SeccompAction, BTreeMap<i64, Vec<SeccompRule>>)> =
        Vec::new();
    let all = profile["syscalls"].as_array().cloned().unwrap_or_default();
    for entry in &all {
        let errno = entry["errnoRet"].as_u64();
        let act = action(entry["action"].as_str(), errno)?;
        if act == default {
            continue;
        }
        let rule = rule(&entry["args"])?;
        let at = match by_action.iter().position(|(a, _)| *a == act) {
            Some(at) => at,
            None => {
                by_action.push((act, BTreeMap::new()));
                by_action.len() - 1
            }
        };
        let names = entry["names"].as_array().cloned().unwrap_or_default();
        // A name this architecture has not is left out, as libseccomp does.
        let numbers = names
            .iter()
            .filter_map(|n| skeleton::syscall_number(n.as_str()?));
        for number in numbers {
            let rules = by_action[at].1.entry(number).or_insert_with(|| {
                rule.clone().map_or(Vec::new(), |r| vec![r])
            });
            match &rule {
                // Any arguments: the syscall matches unconditionally.
                None => rules.clear(),
                Some(r) if !rules.is_empty() => rules.push(r.clone()),
                Some(_) => {}
            }
        }
    }
    let mut filters = Vec::new();
    // A profile that allows by default is a deny list: x32's numbers, the
    // same calls by other numbers, are refused too (the seccomp stage's
    // filter for them, seccomp.rs).
    if default == SeccompAction::Allow {
        let x32 = crate::seccomp::x32_refused()
            .map_err(|err| bad(format!("linux.seccomp: {err}")))?;
        filters.push(x32);
    }
    for (act, rules) in by_action {
        // The allowed ones in the filter whose default is the profile's;
        // every other action in a filter that allows the rest.
        let (mismatch, matched) = match act {
            SeccompAction::Allow => (default.clone(), act),
            _ => (SeccompAction::Allow, act),
        };
        let filter =
            SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64)
                .and_then(BpfProgram::try_from)
                .map_err(|err| bad(format!("linux.seccomp: {err}")))?;
        filters.push(filter);
    }
    Ok(filters)
}

/// In the child, last: each filter, in the order made.
pub fn install(filters: &[BpfProgram]) -> Result<()> {
    for filter in filters {
        seccompiler::apply_filter(filter)
            .map_err(|err| bad(format!("seccomp: {err}")))?;
    }
    Ok(())
}

fn action(name: Option<&str>, errno: Option<u64>) -> Result<SeccompAction> {
    // EPERM, the spec's default errno.
    let errno = errno.unwrap_or(1) as u32;
    Ok(match name.unwrap_or("") {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_TRACE" => SeccompAction::Trace(errno),
        other => {
            let why = format!("linux.seccomp action {other:?}");
            return Err(bad(format!("{why}: not supported by this runtime")));
        }
    })
}

/// An entry's `args`, all of which must hold; None when it has none.
fn rule(args: &Value) -> Result<Option<SeccompRule>> {
    let args = args.as_array().cloned().unwrap_or_default();
    if args.is_empty() {
        return Ok(None);
    }
    let mut conditions = Vec::new();
    for arg in &args {
        let index = arg["index"].as_u64().unwrap_or(0) as u8;
        let value = arg["value"].as_u64().unwrap_or(0);
        let two = arg["valueTwo"].as_u64().unwrap_or(0);
        let (op, value) = match arg["op"].as_str().unwrap_or("") {
            "SCMP_CMP_EQ" => (SeccompCmpOp::Eq, value),
            "SCMP_CMP_NE" => (SeccompCmpOp::Ne, value),
            "SCMP_CMP_LT" => (SeccompCmpOp::Lt, value),
            "SCMP_CMP_LE" => (SeccompCmpOp::Le, value),
            "SCMP_CMP_GT" => (SeccompCmpOp::Gt, value),
            "SCMP_CMP_GE" => (SeccompCmpOp::Ge, value),
            // value is the mask, valueTwo what the masked bits must be.
            "SCMP_CMP_MASKED_EQ" => (SeccompCmpOp::MaskedEq(value), two),
            other => return Err(bad(format!("linux.seccomp op {other:?}"))),
        };
        let len = SeccompCmpArgLen::Qword;
        let condition = SeccompCondition::new(index, len, op, value)
            .map_err(|err| bad(format!("linux.seccomp: {err}")))?;
        conditions.push(condition);
    }
    SeccompRule::new(conditions)
        .map(Some)
        .map_err(|err| bad(format!("linux.seccomp: {err}")))
}

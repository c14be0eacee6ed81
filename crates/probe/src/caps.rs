//! The capability sets, as 16-digit hex masks like `/proc/self/status` shows them
//! (`000001ffffffffff` is every capability of a recent kernel, `0000000000000000` none).
//!
//! Read from `/proc/self/status` when /proc is mounted; otherwise asked from the kernel
//! directly (capget(2) and PR_CAPBSET_READ), so the answer is the same with or without /proc.

use crate::json::Json;
use crate::procfs;

/// `{effective, permitted, bounding, source, inheritable, ambient}`; the last two from
/// `/proc/self/status` only (null without /proc).
pub fn report() -> Result<Json, String> {
    if let Ok(status) = procfs::read("/proc/self/status") {
        let field = |key| procfs::status_field(&status, key);
        if let (Some(eff), Some(prm), Some(bnd)) =
            (field("CapEff"), field("CapPrm"), field("CapBnd"))
        {
            return Ok(sets(eff, prm, bnd, "/proc/self/status")
                .with("inheritable", field("CapInh"))
                .with("ambient", field("CapAmb")));
        }
    }
    let (eff, prm) = capget()?;
    let bnd = bounding();
    Ok(sets(
        hex(eff),
        hex(prm),
        hex(bnd),
        "capget(2) and prctl(PR_CAPBSET_READ)",
    )
    .with("inheritable", Json::Null)
    .with("ambient", Json::Null))
}

fn sets(eff: String, prm: String, bnd: String, source: &str) -> Json {
    Json::obj()
        .with("effective", eff)
        .with("permitted", prm)
        .with("bounding", bnd)
        .with("source", source)
}

fn hex(mask: u64) -> String {
    format!("{mask:016x}")
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The effective and permitted sets of this thread.
pub fn capget() -> Result<(u64, u64), String> {
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are valid for the kernel to read and write, laid out as in
    // <linux/capability.h> (version 3 uses two data structs).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(format!("capget: {}", std::io::Error::last_os_error()));
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok((
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
    ))
}

/// The bounding set: each capability asked one by one until the kernel says it knows no more.
fn bounding() -> u64 {
    let mut mask = 0u64;
    for cap in 0..64 {
        // SAFETY: PR_CAPBSET_READ takes no pointers.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        match rc {
            1 => mask |= 1 << cap,
            0 => {}
            _ => break, // EINVAL: past the last capability
        }
    }
    mask
}

//! A syscall filter with the semantics of docker's default seccomp profile
//! (moby's profiles/seccomp/default.json), written as the list of what it
//! refuses to a container with docker's 14 capabilities. Docker's profile
//! allows over 300 calls by name and refuses the rest; a deny list makes the
//! same point in a slide, at a price: a call a later kernel adds gets through.

use std::collections::BTreeMap;

use nix::libc::{self, c_long};
use seccompiler::SeccompCmpArgLen::Dword;
use seccompiler::SeccompCmpOp::{MaskedEq, Ne};
use seccompiler::{sock_filter, BackendError, BpfProgram, SeccompAction};
use seccompiler::{SeccompCmpOp::Eq, SeccompCondition};
use seccompiler::{SeccompFilter, SeccompRule, TargetArch};
use skeleton::{say, Failure, Result, EXIT_RUNTIME};

/// A filter, or why seccompiler could not build it.
type Built<T = BpfProgram> = std::result::Result<T, BackendError>;

/// Refused whole, with EPERM, as docker refuses them (they need a capability
/// we dropped, or it refuses them to everyone).
const REFUSED: &[c_long] = &[
    // Namespaces: a new user namespace gives back every capability, inside
    // it, and with them a cgroup v1 pids limit could be raised (the attack of
    // the stage before); setns joins another's.
    libc::SYS_unshare,
    libc::SYS_setns,
    // Mounts, through the old call and the new mount API.
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    // Keyrings belong to a user namespace (Linux 5.3), and root here shares
    // the host's: uid 0's user keyring is host root's.
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    // The whole machine: modules, a new kernel, reboot, swap, the clock,
    // accounting, quotas, the kernel's log, I/O ports, names (the hostname is
    // set before the filter), and calls that are gone or never were.
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_syslog,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_vhangup,
    libc::SYS_lookup_dcookie,
    libc::SYS_nfsservctl,
    libc::SYS_uselib,
    libc::SYS_ustat,
    libc::SYS_sysfs,
    libc::SYS__sysctl,
    // Large kernel surfaces behind many container escapes: eBPF, perf
    // events, userfaultfd, io_uring (refused since docker 25), fanotify.
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_fanotify_init,
    // Other processes' memory and descriptors. (Docker allows ptrace and
    // process_vm_* since kernel 4.8; we refuse them too: nothing here needs
    // them.)
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_process_madvise,
    libc::SYS_kcmp,
    libc::SYS_pidfd_getfd,
    // Files by handle: open_by_handle_at opens any file of a mounted
    // filesystem, past our root ("shocker"). (Docker allows the harmless
    // name_to_handle_at.)
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    // NUMA memory placement (docker: with CAP_SYS_NICE only).
    libc::SYS_mbind,
    libc::SYS_get_mempolicy,
    libc::SYS_set_mempolicy,
    libc::SYS_set_mempolicy_home_node,
    libc::SYS_migrate_pages,
    libc::SYS_move_pages,
];

/// clone(2)'s namespace flags: refused when any is set, as docker does.
const CLONE_NEW: [libc::c_int; 7] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

/// The bit that marks an x32 call's number (asm/unistd.h: __X32_SYSCALL_BIT).
const X32_BIT: u32 = 0x4000_0000;

/// personality(2) values docker allows: Linux, 32-bit Linux, each with
/// UNAME26, and the query. Others turn on old emulations (kernel code few
/// run) or turn off address randomization (ADDR_NO_RANDOMIZE).
const PERSONALITIES: [u64; 5] = [0, 8, 0x20000, 0x20008, 0xffff_ffff];

/// Installs the filter: from here on, for this process and every child and
/// program it starts, the kernel runs it before each system call.
pub fn install_filter() -> Result<()> {
    let fail = |err: String| Failure {
        code: EXIT_RUNTIME,
        message: format!("seccomp: {err} — see seccomp(2)"),
    };
    // Three filters, each a seccomp(2) call; the kernel runs them all, and
    // the strictest answer wins.
    for built in [refused(), x32_refused(), clone3_refused()] {
        let program = built.map_err(|err| fail(err.to_string()))?;
        seccompiler::apply_filter(&program)
            .map_err(|err| fail(err.to_string()))?;
    }
    say!("child: syscall filter on: docker's refusals (seccomp-bpf)");
    Ok(())
}

/// The main filter: EPERM for REFUSED, clone with a namespace flag,
/// personality with another value, and sockets of the VM family AF_VSOCK.
/// It starts with the architecture check seccompiler adds: a call made with
/// another architecture's numbers (int 0x80, i386's) kills the process.
fn refused() -> Built {
    let arg0 = |op, value| SeccompCondition::new(0, Dword, op, value);
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        REFUSED.iter().map(|&call| (call, vec![])).collect();
    let clone = CLONE_NEW.map(|flag| {
        let flag = flag as u64;
        SeccompRule::new(vec![arg0(MaskedEq(flag), flag)?])
    });
    rules.insert(libc::SYS_clone, clone.into_iter().collect::<Built<_>>()?);
    let other = PERSONALITIES.map(|value| arg0(Ne, value));
    let other = other.into_iter().collect::<Built<_>>()?;
    rules.insert(libc::SYS_personality, vec![SeccompRule::new(other)?]);
    let vsock = arg0(Eq, libc::AF_VSOCK as u64)?;
    rules.insert(libc::SYS_socket, vec![SeccompRule::new(vec![vsock])?]);
    let eperm = SeccompAction::Errno(libc::EPERM as u32);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        eperm,
        TargetArch::x86_64,
    )?;
    filter.try_into()
}

/// clone3(2) takes its flags in memory, which a seccomp filter cannot read:
/// docker answers ENOSYS, "no such call", and libc falls back to clone(2),
/// whose flags the main filter checks.
fn clone3_refused() -> Built {
    let enosys = SeccompAction::Errno(libc::ENOSYS as u32);
    let calls = [(libc::SYS_clone3, vec![])].into();
    let filter = SeccompFilter::new(
        calls,
        SeccompAction::Allow,
        enosys,
        TargetArch::x86_64,
    )?;
    filter.try_into()
}

/// The x32 ABI numbers the same calls with bit 30 set, under the same
/// architecture: a deny list must refuse them all (EPERM, as docker's allow
/// list does), or keyctl would get through as 0x40000000 + 250 on a kernel
/// with x32. seccompiler matches numbers one by one, so these four BPF
/// instructions are written by hand: load the number; if >= 0x40000000
/// return ERRNO.
fn x32_refused() -> Built {
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    Ok(vec![
        op(0x20, 0, 0, 0),                       // ld [nr]
        op(0x35, 0, 1, X32_BIT),                 // jge x32, next, skip 1
        op(0x06, 0, 0, eperm),                   // ret ERRNO(EPERM)
        op(0x06, 0, 0, libc::SECCOMP_RET_ALLOW), // ret ALLOW
    ])
}

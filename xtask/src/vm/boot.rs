//! Booting the VM with qemu: which accelerator, which ways to boot (the ELF `vmlinux` through
//! PVH with qboot, then the bzImage with the default firmware), and one boot watched until it
//! ends, its test output shown live.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::kernel::Kernel;
use super::verdict::{parse_status, Status};

/// qemu's minimal firmware: boots an ELF kernel through PVH with almost no firmware time.
const QBOOT: &str = "/usr/share/qemu/qboot.rom";

/// The kernel command line: serial console, no cgroup v1 at all, and no reboot loop on a panic.
const CMDLINE: &str = "console=ttyS0 panic=-1 cgroup_no_v1=all rdinit=/init quiet";

/// Without a sign of life from /init in this time the boot is taken as failed.
const BOOT_LIMIT: Duration = Duration::from_secs(90);

/// KVM when it is a real one; TCG (software emulation) otherwise. `DESDE_CERO_VM_ACCEL` forces.
/// With the reason: (accelerator, why).
pub fn accel() -> (&'static str, &'static str) {
    match std::env::var("DESDE_CERO_VM_ACCEL").as_deref() {
        Ok("kvm") => return ("kvm", "DESDE_CERO_VM_ACCEL"),
        Ok("tcg") => return ("tcg", "DESDE_CERO_VM_ACCEL"),
        _ => {}
    }
    if Path::new("/sys/module/kvm_pvm").exists() {
        // kvm_pvm runs only specially built guest kernels: Debian's hangs early.
        return ("tcg", "/dev/kvm is kvm_pvm");
    }
    match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => ("kvm", "/dev/kvm"),
        Err(_) => ("tcg", "no usable /dev/kvm"),
    }
}

/// One way to boot: the kernel file and the firmware.
pub struct Boot {
    pub how: &'static str,
    kernel: PathBuf,
    bios: Option<PathBuf>,
}

/// The ways to boot, fastest first: PVH (the ELF `vmlinux` with qboot), then the bzImage.
/// `DESDE_CERO_VM_BOOT=bzimage` skips the fast path (to test the fallback, or if it hangs).
pub fn ways(kernel: &Kernel) -> Vec<Boot> {
    let force_bzimage = std::env::var("DESDE_CERO_VM_BOOT").is_ok_and(|v| v == "bzimage");
    let mut boots = Vec::new();
    if let (Some(vmlinux), false) = (&kernel.vmlinux, force_bzimage) {
        if Path::new(QBOOT).exists() {
            boots.push(Boot {
                how: "pvh",
                kernel: vmlinux.clone(),
                bios: Some(PathBuf::from(QBOOT)),
            });
        }
    }
    boots.push(Boot {
        how: "bzImage",
        kernel: kernel.vmlinuz.clone(),
        bios: None,
    });
    boots
}

pub enum VmEnd {
    /// /init never said it was up.
    NoBoot(String),
    /// /init ran: how long the boot took and the status lines it wrote.
    Ran { boot_time: Duration, status: Status },
}

/// Boots the VM once and waits for it to end (or for `deadline`), showing the tests' output
/// (`output.log`, the second serial port) as it comes.
pub fn boot_vm(
    qemu: &Path,
    boot: &Boot,
    accel: &str,
    initramfs: &Path,
    run_dir: &Path,
    deadline: Instant,
) -> Result<VmEnd> {
    let console = run_dir.join("console.log");
    let output = run_dir.join("output.log");
    let status = run_dir.join("status.log");
    for f in [&console, &output, &status] {
        fs::write(f, b"")?;
    }
    let mut cmd = Command::new(qemu);
    cmd.args(["-accel", accel]);
    if accel == "kvm" {
        cmd.args(["-cpu", "host"]);
    }
    cmd.args(["-m", "1024", "-smp", "2", "-nodefaults", "-no-user-config"])
        .args(["-display", "none", "-no-reboot"])
        .arg("-serial")
        .arg(serial_file(&console))
        .arg("-serial")
        .arg(serial_file(&output))
        .arg("-serial")
        .arg(serial_file(&status))
        .arg("-kernel")
        .arg(&boot.kernel)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", CMDLINE]);
    if let Some(bios) = &boot.bios {
        cmd.arg("-bios").arg(bios);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", qemu.display()))?;
    let mut stderr = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut shown = 0usize;
    let mut boot_time = None;
    let mut timed_out = false;
    let exit = loop {
        if let Some(exit) = child.try_wait()? {
            break Some(exit);
        }
        if boot_time.is_none() && fs::read_to_string(&status)?.contains("booted") {
            boot_time = Some(started.elapsed());
        }
        if boot_time.is_none() && started.elapsed() > BOOT_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        shown += show_new(&output, shown)?;
        std::thread::sleep(Duration::from_millis(100));
    };
    show_new(&output, shown)?;
    let qemu_err = stderr_reader.join().unwrap_or_default();
    let status_text = fs::read_to_string(&status)?;
    if boot_time.is_none() && status_text.contains("booted") {
        boot_time = Some(started.elapsed());
    }
    let Some(boot_time) = boot_time else {
        let why = match exit {
            Some(code) => format!(
                "qemu exited with {code} before /init ran{}",
                first_line(&qemu_err)
            ),
            None if timed_out => "timed out (DESDE_CERO_VM_TIMEOUT)".to_string(),
            None => format!("no sign of /init after {} s", BOOT_LIMIT.as_secs()),
        };
        return Ok(VmEnd::NoBoot(why));
    };
    let mut st = parse_status(&status_text);
    st.timed_out = timed_out;
    if !qemu_err.trim().is_empty() {
        eprintln!("vm: qemu said: {}", qemu_err.trim());
    }
    Ok(VmEnd::Ran {
        boot_time,
        status: st,
    })
}

fn first_line(text: &str) -> String {
    match text.lines().find(|l| !l.trim().is_empty()) {
        Some(line) => format!(": {}", line.trim()),
        None => String::new(),
    }
}

fn serial_file(path: &Path) -> OsString {
    let mut arg = OsString::from("file:");
    arg.push(path);
    arg
}

/// Prints what was added to a file since `from` bytes; returns how many bytes it printed.
fn show_new(path: &Path, from: usize) -> Result<usize> {
    let data = fs::read(path)?;
    if data.len() <= from {
        return Ok(0);
    }
    let text: Vec<u8> = data[from..]
        .iter()
        .copied()
        .filter(|&b| b != b'\r')
        .collect();
    let mut out = std::io::stdout().lock();
    out.write_all(&text)?;
    out.flush()?;
    Ok(data.len() - from)
}

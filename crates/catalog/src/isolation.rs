//! The isolation properties and the attack classes, each described once: a row of
//! [`PROPERTIES`] or [`ATTACKS`] holds every word the matrix, the deck and the READMEs say of it.

use std::fmt;

/// An isolation property a process inside a container can have, as the probe observes it: the
/// columns of `cargo xtask matrix`, described in [`PROPERTIES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    UtsNs,
    Hostname,
    PidNs,
    Pid1,
    OwnRoot,
    MountNs,
    ProcIsolated,
    PidsLimit,
    MemoryLimit,
    CpuLimit,
    IpcNs,
    NetNs,
    UserNs,
    RootNotHostRoot,
    CgroupNs,
    CapsReduced,
    NoNewPrivs,
    HostRootUnreachable,
}

/// What is said of a property.
#[derive(Debug)]
pub struct AboutProperty {
    pub property: Property,
    /// Its column label (at most 9 characters, so the matrix fits 80 columns... nearly).
    pub label: &'static str,
    /// What it means, in one line, in English and in Spanish.
    pub description: &'static str,
    pub description_es: &'static str,
    /// Its chip in the deck's picture of a stage, in English and in Spanish.
    pub chip: &'static str,
    pub chip_es: &'static str,
}

/// Every property, in the order of the enum and of the matrix's columns.
pub const PROPERTIES: &[AboutProperty] = &[
    AboutProperty {
        property: Property::UtsNs,
        label: "uts",
        description: "own UTS namespace",
        description_es: "namespace UTS propio",
        chip: "uts",
        chip_es: "uts",
    },
    AboutProperty {
        property: Property::Hostname,
        label: "hostname",
        description: "hostname is `container`",
        description_es: "el hostname es `container`",
        chip: "hostname: container",
        chip_es: "hostname: container",
    },
    AboutProperty {
        property: Property::PidNs,
        label: "pid",
        description: "own PID namespace",
        description_es: "namespace PID propio",
        chip: "pid",
        chip_es: "pid",
    },
    AboutProperty {
        property: Property::Pid1,
        label: "pid1",
        description: "the container's first process is PID 1",
        description_es: "el primer proceso del contenedor es el PID 1",
        chip: "PID 1",
        chip_es: "PID 1",
    },
    AboutProperty {
        property: Property::OwnRoot,
        label: "root",
        description: "own root filesystem",
        description_es: "raíz propia",
        chip: "own root (chroot)",
        chip_es: "raíz propia (chroot)",
    },
    AboutProperty {
        property: Property::MountNs,
        label: "mnt",
        description: "own mount namespace",
        description_es: "namespace de montaje propio",
        chip: "mnt",
        chip_es: "mnt",
    },
    AboutProperty {
        property: Property::ProcIsolated,
        label: "proc",
        description: "/proc lists only the container's processes",
        description_es: "/proc lista solo los procesos del contenedor",
        chip: "own /proc",
        chip_es: "/proc propio",
    },
    AboutProperty {
        property: Property::PidsLimit,
        label: "pids",
        description: "a pids limit applies",
        description_es: "un límite de procesos",
        chip: "pids",
        chip_es: "pids",
    },
    AboutProperty {
        property: Property::MemoryLimit,
        label: "mem",
        description: "a memory limit applies",
        description_es: "un límite de memoria",
        chip: "memory",
        chip_es: "memoria",
    },
    AboutProperty {
        property: Property::CpuLimit,
        label: "cpu",
        description: "a cpu limit applies",
        description_es: "un límite de CPU",
        chip: "cpu",
        chip_es: "cpu",
    },
    AboutProperty {
        property: Property::IpcNs,
        label: "ipc",
        description: "own IPC namespace",
        description_es: "namespace IPC propio",
        chip: "ipc",
        chip_es: "ipc",
    },
    AboutProperty {
        property: Property::NetNs,
        label: "net",
        description: "own network namespace",
        description_es: "namespace de red propio",
        chip: "net",
        chip_es: "net",
    },
    AboutProperty {
        property: Property::UserNs,
        label: "user",
        description: "own user namespace",
        description_es: "namespace de usuario propio",
        chip: "user",
        chip_es: "user",
    },
    // uid 0 inside maps to an unprivileged uid outside.
    AboutProperty {
        property: Property::RootNotHostRoot,
        label: "!hostroot",
        description: "container root is not host root",
        description_es: "root del contenedor no es root del host",
        chip: "root ≠ host root",
        chip_es: "root ≠ root del host",
    },
    AboutProperty {
        property: Property::CgroupNs,
        label: "cgroupns",
        description: "own cgroup namespace",
        description_es: "namespace de cgroup propio",
        chip: "cgroup",
        chip_es: "cgroup",
    },
    // The effective and the bounding sets.
    AboutProperty {
        property: Property::CapsReduced,
        label: "caps",
        description: "capabilities reduced",
        description_es: "capabilities reducidas",
        chip: "fewer capabilities",
        chip_es: "menos capabilities",
    },
    AboutProperty {
        property: Property::NoNewPrivs,
        label: "nnp",
        description: "no_new_privs is set",
        description_es: "no_new_privs activado",
        chip: "no_new_privs",
        chip_es: "no_new_privs",
    },
    // Not even by the chroot escape.
    AboutProperty {
        property: Property::HostRootUnreachable,
        label: "noescape",
        description: "the host's root is unreachable",
        description_es: "la raíz del host es inalcanzable",
        chip: "host root unreachable",
        chip_es: "raíz del host inalcanzable",
    },
];

/// An attack class: something a process inside a container tries against the host, which the
/// probe carries (`probe attack <label>`): the attack rows of `cargo xtask matrix`, described
/// in [`ATTACKS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attack {
    Escape,
    ProcSys,
    Mount,
    Setuid,
    Device,
    UserNs,
    Cgroup,
    Keyring,
    HostFd,
    Environ,
    Disk,
    Route,
    Tty,
}

/// What is said of an attack.
#[derive(Debug)]
pub struct AboutAttack {
    pub attack: Attack,
    /// Its name for `probe attack <name>` and its matrix label (at most 8 characters).
    pub label: &'static str,
    /// What it does when it gets through, in one short line (it fits the matrix), in English
    /// and in Spanish.
    pub description: &'static str,
    pub description_es: &'static str,
}

/// Every attack, in the order of the enum and of the matrix's rows.
pub const ATTACKS: &[AboutAttack] = &[
    AboutAttack {
        attack: Attack::Escape,
        label: "escape",
        description: "a chroot escape reaches the host's /",
        description_es: "un escape de chroot llega a la / del host",
    },
    // A write-open of /proc/sys, /proc/sysrq-trigger or /sys succeeds.
    AboutAttack {
        attack: Attack::ProcSys,
        label: "procsys",
        description: "can write /proc/sys, sysrq or /sys",
        description_es: "escribe /proc/sys, sysrq o /sys",
    },
    // A tmpfs, or `/` remounted read-write.
    AboutAttack {
        attack: Attack::Mount,
        label: "mount",
        description: "mounts a filesystem",
        description_es: "monta un sistema de archivos",
    },
    AboutAttack {
        attack: Attack::Setuid,
        label: "setuid",
        description: "a setuid-root file gives nobody caps",
        description_es: "un archivo setuid-root da capabilities a nobody",
    },
    AboutAttack {
        attack: Attack::Device,
        label: "device",
        description: "opens a host disk made by mknod",
        description_es: "abre un disco del host hecho con mknod",
    },
    AboutAttack {
        attack: Attack::UserNs,
        label: "userns",
        description: "a user namespace with every cap",
        description_es: "un namespace de usuario con todas las capabilities",
    },
    // Or none holds it. A group made below does not count: its parent's limit holds it.
    AboutAttack {
        attack: Attack::Cgroup,
        label: "cgroup",
        description: "raises or escapes its pids limit",
        description_es: "crea un cgroup o levanta un límite",
    },
    AboutAttack {
        attack: Attack::Keyring,
        label: "keyring",
        description: "reads host root's keyring",
        description_es: "lee el keyring de root del host",
    },
    // A descriptor inherited from the host.
    AboutAttack {
        attack: Attack::HostFd,
        label: "hostfd",
        description: "a host fd reaches the host's files",
        description_es: "un descriptor de archivo del host llega a sus archivos",
    },
    // The init's environment shows a variable the host set.
    AboutAttack {
        attack: Attack::Environ,
        label: "environ",
        description: "sees the host's environment",
        description_es: "ve el entorno del host",
    },
    // Writes to `/` are unbounded.
    AboutAttack {
        attack: Attack::Disk,
        label: "disk",
        description: "writes land on the host's disk",
        description_es: "las escrituras caen en el disco del host",
    },
    // A Router Advertisement sent on the veth is taken by the host's end, or the container is
    // in the host's network namespace with CAP_NET_ADMIN.
    AboutAttack {
        attack: Attack::Route,
        label: "route",
        description: "changes the host's IPv6 routes",
        description_es: "cambia las rutas IPv6 del host",
    },
    // TIOCSTI: the text is read outside the container.
    AboutAttack {
        attack: Attack::Tty,
        label: "tty",
        description: "types into the host's terminal",
        description_es: "escribe en la terminal del host",
    },
];

/// The enum values of a table, in its order (a table's row `i` describes the value `i`: see the
/// checks below).
macro_rules! column {
    ($table:ident . $field:ident, $first:expr) => {{
        let mut all = [$first; $table.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = $table[i].$field;
            assert!(all[i] as usize == i, "a row out of the enum's order");
            i += 1;
        }
        all
    }};
}

impl Property {
    /// Every property, in the order of the matrix's columns.
    pub const ALL: &'static [Property] = &column!(PROPERTIES.property, Property::UtsNs);

    /// Its row of [`PROPERTIES`].
    pub fn about(self) -> &'static AboutProperty {
        &PROPERTIES[self as usize]
    }

    pub fn label(self) -> &'static str {
        self.about().label
    }

    pub fn description(self) -> &'static str {
        self.about().description
    }
}

impl Attack {
    /// Every attack, in the order of the matrix's rows.
    pub const ALL: &'static [Attack] = &column!(ATTACKS.attack, Attack::Escape);

    /// Its row of [`ATTACKS`].
    pub fn about(self) -> &'static AboutAttack {
        &ATTACKS[self as usize]
    }

    pub fn label(self) -> &'static str {
        self.about().label
    }

    pub fn description(self) -> &'static str {
        self.about().description
    }

    /// Finds an attack by its label.
    pub fn find(label: &str) -> Option<Attack> {
        Attack::ALL.iter().copied().find(|a| a.label() == label)
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_has_its_row() {
        // A variant added without its row would be out of range here (the rows' order is
        // checked when ALL is built).
        assert_eq!(
            Property::ALL.len(),
            Property::HostRootUnreachable as usize + 1
        );
        assert_eq!(Attack::ALL.len(), Attack::Tty as usize + 1);
    }
}

//! The one catalog of the talk's stages.
//!
//! Order, names, aliases, numbers, one-line descriptions and the isolation each stage adds live
//! here and nowhere else: the xtask, the tests and the README table are checked against this
//! table. Adding a stage means one entry here plus one crate under `slides/`.

mod exercise;
mod isolation;
mod routes;

pub use exercise::{Budget, Cut, DEFAULT_DIFF_BUDGET};
pub use isolation::{AboutAttack, AboutProperty, Attack, Property, ATTACKS, PROPERTIES};
pub use routes::{course_stop, route, Route, Stop, ROUTES};

/// One stage of the talk: one slide crate under `slides/<name>/`.
#[derive(Debug, PartialEq, Eq)]
pub struct Stage {
    /// Crate, package, binary and folder name.
    pub name: &'static str,
    /// Other names it answers to (the original talk's folder names).
    pub aliases: &'static [&'static str],
    /// What this stage adds over the previous one, in one line.
    pub summary: &'static str,
    /// The same line in Spanish, for `cargo xtask list --lang es`, `present --lang es` and
    /// README.es.md's table.
    pub summary_es: &'static str,
    /// The isolation properties this stage adds (the previous stages' ones are kept).
    pub adds: &'static [Property],
    /// Whether it needs root on the host (the xtask runs it through sudo when the user is not).
    pub needs_root: bool,
    /// Whether it runs the command inside the project's root filesystem.
    pub needs_rootfs: bool,
    /// Its exercise (`cargo xtask exercise <stage>`): what is taken out of a copy of the stage
    /// for a student to write again, its new step. Empty for the stages before `uts`.
    pub exercise: &'static [Cut],
    /// Properties of earlier stages this stage does not keep by default, and why.
    pub drops: &'static [Property],
    /// Why it drops them (empty when it drops nothing).
    pub drops_why: &'static str,
    /// A larger diff from the stage before than [`DEFAULT_DIFF_BUDGET`] allows, and why.
    pub budget: Option<Budget>,
    /// Every attack this stage stops, measured by the probe: the complete set, not only the new
    /// ones (a stage that drops an isolation, as `full` drops the user namespace, can reopen
    /// attacks an earlier stage stopped).
    pub stops: &'static [Attack],
    /// The Go talk's equivalent, in lines: Liz Rice's final `main.go` (97 lines) cut to this
    /// stage's steps, blank lines and comments included; None past the talk's last slide.
    pub go_lines: Option<usize>,
    /// Steps of the stage before that this one takes out because it does them better, each
    /// with the step that replaces it: `cargo xtask check` refuses any other step taken out.
    pub replaces: &'static [Replaced],
}

/// A step a stage takes out of the one before, and what does it now.
#[derive(Debug, PartialEq, Eq)]
pub struct Replaced {
    /// The step as `main.rs` calls it (`chroot::change_root`), a flag or a `mod` line.
    pub step: &'static str,
    /// What does it now, and why it is better.
    pub by: &'static str,
}

impl Stage {
    /// What an entry of [`STAGES`] leaves out: no aliases, no exercise, nothing dropped, the
    /// default diff budget, no attack stopped (`..Stage::PLAIN`).
    pub const PLAIN: Stage = Stage {
        name: "",
        aliases: &[],
        summary: "",
        summary_es: "",
        adds: &[],
        needs_root: false,
        needs_rootfs: false,
        exercise: &[],
        drops: &[],
        drops_why: "",
        budget: None,
        stops: &[],
        go_lines: None,
        replaces: &[],
    };

    /// Its position in the talk, from 1: where it stands in [`STAGES`], not stored.
    pub fn number(&self) -> u8 {
        let at = STAGES.iter().position(|s| s.name == self.name);
        at.map_or(0, |i| i as u8 + 1)
    }

    /// How many lines of code its diff from the stage before may change.
    pub fn diff_budget(&self) -> usize {
        self.budget
            .as_ref()
            .map_or(DEFAULT_DIFF_BUDGET, |b| b.code_lines)
    }
}

/// The stages, in talk order.
pub const STAGES: &[Stage] = &[
    Stage {
        name: "base1",
        summary: "runs a command as a child process",
        summary_es: "ejecuta un comando como proceso hijo",
        adds: &[],
        needs_root: false,
        needs_rootfs: false,
        go_lines: Some(34),
        ..Stage::PLAIN
    },
    Stage {
        name: "base2",
        aliases: &["parentchild"],
        summary: "re-executes itself as a child, which becomes the command",
        summary_es: "se vuelve a ejecutar como proceso hijo, que se convierte en el comando",
        adds: &[],
        needs_root: false,
        needs_rootfs: false,
        go_lines: Some(47),
        ..Stage::PLAIN
    },
    Stage {
        name: "uts",
        aliases: &["utsnamespace"],
        summary: "new UTS namespace: its own hostname",
        summary_es: "namespace UTS nuevo: su propio hostname",
        adds: &[Property::UtsNs, Property::Hostname],
        needs_root: true,
        needs_rootfs: false,
        exercise: &[
            Cut::Line {
                file: "main.rs",
                function: "run",
                line: "let flags = CloneFlags::CLONE_NEWUTS;",
                placeholder: "let flags = CloneFlags::empty();",
                hint: "the clone(2) flag that gives the child a UTS namespace of its own: \
                       uts_namespaces(7)",
                hint_es: "la flag de clone(2) que le da al hijo un namespace UTS propio: \
                          uts_namespaces(7)",
            },
            Cut::Body {
                file: "clone.rs",
                function: "clone",
                hint: "make the child process in the new namespaces of `flags`, running \
                       `in_child` on a stack of STACK_SIZE bytes and sending us SIGCHLD when \
                       it ends: clone(2), in nix::sched; a failure as skeleton::failure",
                hint_es: "crea el proceso hijo en los namespaces nuevos de `flags`, que corra \
                          `in_child` en una pila de STACK_SIZE bytes y nos mande SIGCHLD al \
                          terminar: clone(2), en nix::sched; un error, como skeleton::failure",
            },
            Cut::Body {
                file: "hostname.rs",
                function: "set_hostname",
                hint: "name the container `name`: sethostname(2), in nix::unistd; a failure \
                       as skeleton::failure",
                hint_es: "llama `name` al contenedor: sethostname(2), en nix::unistd; un error, \
                          como skeleton::failure",
            },
        ],
        go_lines: Some(52),
        ..Stage::PLAIN
    },
    Stage {
        name: "pid",
        aliases: &["pidnamespace"],
        summary: "new PID namespace: the container's init is PID 1",
        summary_es: "namespace PID nuevo: el init del contenedor es el PID 1",
        adds: &[Property::PidNs, Property::Pid1],
        needs_root: true,
        needs_rootfs: false,
        exercise: &[
            Cut::Line {
                file: "main.rs",
                function: "run",
                line: "flags |= CloneFlags::CLONE_NEWPID;",
                placeholder: "flags |= CloneFlags::empty();",
                hint: "the clone(2) flag that makes the child PID 1 of a PID namespace of its \
                       own: pid_namespaces(7)",
                hint_es: "la flag de clone(2) que hace del hijo el PID 1 de un namespace PID \
                          propio: pid_namespaces(7)",
            },
            Cut::Body {
                file: "init.rs",
                function: "supervise",
                hint: "PID 1's duties, until the command ends: take each blocked signal with \
                       sigwait(3) and pass it on to the command with kill(2); on SIGCHLD reap \
                       every ended child (the orphans too) with waitpid(2), without blocking \
                       and until none is left (signal(7): standard signals do not queue); \
                       when the command is among them, return its status as \
                       skeleton::exit_code gives it",
                hint_es: "los deberes del PID 1 hasta que el comando termine: toma cada señal \
                          bloqueada con sigwait(3) y reenvíasela al comando con kill(2); con \
                          SIGCHLD recoge a cada hijo terminado (también los huérfanos) con \
                          waitpid(2), sin bloquear y hasta que no quede ninguno (signal(7): las \
                          señales estándar no se encolan); cuando el comando esté entre ellos, \
                          devuelve su estado como lo da skeleton::exit_code",
            },
        ],
        budget: Some(Budget {
            code_lines: 53,
            why: "one idea, PID 1's duties (init.rs): start the command, pass signals on, \
                  reap every orphan, exit with the command's status",
        }),
        replaces: &[Replaced {
            step: "Command::new",
            by: "init::init: the command becomes the init's child, not the init",
        }],
        go_lines: Some(52),
        ..Stage::PLAIN
    },
    Stage {
        name: "chroot",
        summary: "chroot into the container's root filesystem",
        summary_es: "chroot al sistema de archivos raíz del contenedor",
        adds: &[Property::OwnRoot],
        needs_root: true,
        needs_rootfs: true,
        exercise: &[Cut::Body {
            file: "chroot.rs",
            function: "change_root",
            hint: "make skeleton::rootfs() our `/`, and go there: chroot(2) and chdir(2), in \
                   nix::unistd",
            hint_es: "haz de skeleton::rootfs() nuestra `/`, y ve ahí: chroot(2) y chdir(2), en \
                      nix::unistd",
        }],
        // A chrooted process may not make a user namespace (user_namespaces(7)): from chroot
        // until pivot_root, the `userns` attack meets that rule, not a hardening step.
        stops: &[Attack::UserNs],
        go_lines: Some(59),
        ..Stage::PLAIN
    },
    Stage {
        name: "procfs",
        aliases: &["mntnamespace", "procmnt", "mount", "mnt"],
        summary: "new mount namespace, private mounts and a fresh /proc",
        summary_es: "namespace de montaje nuevo, montajes privados y un /proc propio",
        adds: &[Property::MountNs, Property::ProcIsolated],
        needs_root: true,
        needs_rootfs: true,
        exercise: &[
            Cut::Line {
                file: "main.rs",
                function: "run",
                line: "flags |= CloneFlags::CLONE_NEWNS;",
                placeholder: "flags |= CloneFlags::empty();",
                hint: "the clone(2) flag that gives the child a mount table of its own: \
                       mount_namespaces(7)",
                hint_es: "la flag de clone(2) que le da al hijo una tabla de montajes propia: \
                          mount_namespaces(7)",
            },
            Cut::Body {
                file: "mounts.rs",
                function: "make_mounts_private",
                hint: "keep what we mount from reaching the host: mount_namespaces(7), \
                       \"Shared subtrees\"; mount(2) on `/`, for every mount below it",
                hint_es: "que lo que montemos no llegue al host: mount_namespaces(7), \"Shared \
                          subtrees\"; mount(2) sobre `/`, para cada montaje debajo de ella",
            },
            Cut::Body {
                file: "procfs.rs",
                function: "mount_proc",
                hint: "a procfs of our own at /proc (we are chrooted already): proc(5), \
                       mount(2), in nix::mount",
                hint_es: "un procfs propio en /proc (ya hicimos chroot): proc(5), mount(2), en \
                          nix::mount",
            },
        ],
        // Chrooted: no user namespace may be made (see chroot's stops).
        stops: &[Attack::UserNs],
        go_lines: Some(65),
        ..Stage::PLAIN
    },
    Stage {
        name: "cgroups",
        aliases: &["cgroup"],
        summary: "a cgroup of its own: pids, memory and cpu limits",
        summary_es: "un cgroup propio: límites de procesos, memoria y CPU",
        adds: &[
            Property::PidsLimit,
            Property::MemoryLimit,
            Property::CpuLimit,
        ],
        needs_root: true,
        needs_rootfs: true,
        exercise: &[
            Cut::Body {
                file: "cgroups.rs",
                function: "write_limits",
                hint: "the group's three limits, each only when `base` enables its \
                       controller for its children (`has`): cgroups(7) and the kernel's \
                       admin-guide/cgroup-v2.rst, \"Controllers\": pids, memory (with no \
                       swap) and cpu (its quota in each CPU_PERIOD_US); support's `write` \
                       writes one and returns it as the teaching line shows it, and that line \
                       says them all",
                hint_es: "los tres límites del grupo, cada uno solo si `base` habilita su \
                          controlador para sus hijos (`has`): cgroups(7) y \
                          admin-guide/cgroup-v2.rst del kernel, \"Controllers\": pids, memory \
                          (sin swap) y cpu (su cuota en cada CPU_PERIOD_US); `write` de support \
                          escribe uno y lo devuelve como lo muestra la línea didáctica, y esa \
                          línea los dice todos",
            },
            Cut::Body {
                file: "cgroups.rs",
                function: "join",
                hint: "have the child `spawn` starts born in the group: clone3(2), \
                       CLONE_INTO_CGROUP with the group's open folder, which support's \
                       clone3 makes; Spawn's clone_with takes the call that makes the child; \
                       v1 trees have no folder to give: cgroups_v1.rs has their step",
                hint_es: "que el hijo que arranca `spawn` nazca dentro del grupo: clone3(2), \
                          CLONE_INTO_CGROUP con la carpeta abierta del grupo, que hace el \
                          clone3 de support; clone_with del Spawn recibe la llamada que crea al \
                          hijo; los árboles v1 no tienen carpeta que dar: cgroups_v1.rs tiene su \
                          paso",
            },
        ],
        budget: Some(Budget {
            code_lines: 400,
            why: "one idea, a group with limits: the lesson in one screen (cgroups.rs: \
                  make it, write three limits, have the child born in it by clone3 with \
                  CLONE_INTO_CGROUP, remove it); what it stands on after it (where the group \
                  goes, errors, the OOM report, the clone3 call itself: cgroups_support.rs) \
                  and, set apart, v1 and hybrid hosts (cgroups_v1.rs)",
        }),
        // Chrooted: no user namespace may be made (see chroot's stops).
        stops: &[Attack::UserNs],
        go_lines: Some(97),
        ..Stage::PLAIN
    },
    Stage {
        name: "ipc",
        aliases: &["ipcnamespace"],
        summary: "new IPC namespace: its own System V objects and POSIX queues",
        summary_es: "namespace IPC nuevo: sus propios objetos System V y colas POSIX",
        adds: &[Property::IpcNs],
        needs_root: true,
        needs_rootfs: true,
        exercise: &[
            Cut::Line {
                file: "main.rs",
                function: "run",
                line: "flags |= CloneFlags::CLONE_NEWIPC;",
                placeholder: "flags |= CloneFlags::empty();",
                hint: "the clone(2) flag that gives the child System V IPC objects and POSIX \
                   message queues of its own: ipc_namespaces(7)",
                hint_es:
                    "la flag de clone(2) que le da al hijo objetos IPC de System V y colas de \
                      mensajes POSIX propios: ipc_namespaces(7)",
            },
            Cut::Body {
                file: "mqueue.rs",
                function: "mount_mqueue",
                hint:
                    "the container's POSIX queues as files at <root>/dev/mqueue, the folder made \
                   when missing, nothing there to run or to open as a device: mq_overview(7), \
                   mount(2) (nix::mount), mkdir(2)",
                hint_es: "las colas POSIX del contenedor como archivos en <root>/dev/mqueue, la \
                      carpeta creada si falta, nada ahí que ejecutar ni que abrir como \
                      dispositivo: mq_overview(7), mount(2) (nix::mount), mkdir(2)",
            },
        ],
        // Chrooted: no user namespace may be made (see chroot's stops).
        stops: &[Attack::UserNs],
        ..Stage::PLAIN
    },
    Stage {
        name: "net",
        aliases: &["netnamespace", "network"],
        summary: "new network namespace: lo plus a veth link to the host",
        summary_es: "namespace de red nuevo: lo y un enlace veth al host",
        adds: &[Property::NetNs],
        needs_root: true,
        needs_rootfs: true,
        exercise: &[
            Cut::Line {
                file: "main.rs",
                function: "run",
                line: "flags |= CloneFlags::CLONE_NEWNET;",
                placeholder: "flags |= CloneFlags::empty();",
                hint: "the clone(2) flag that gives the child a network stack of its own: \
                       network_namespaces(7)",
                hint_es: "la flag de clone(2) que le da al hijo una pila de red propia: \
                          network_namespaces(7)",
            },
            Cut::Body {
                file: "veth.rs",
                function: "connect",
                hint: "a veth pair, dc<our pid>h on the host with the subnet's .1 and \
                       dc<our pid>c in the child's network namespace with its .2, each with \
                       its /30 and up: veth(4), ip-link(8), ip-address(8), rtnetlink(7); \
                       netlink.rs sends what ip would; the Veth returned, connected, cleans up",
                hint_es: "un par veth, dc<nuestro pid>h en el host con la .1 de la subred y \
                          dc<nuestro pid>c en el namespace de red del hijo con su .2, cada uno \
                          con su /30 y levantado: veth(4), ip-link(8), ip-address(8), \
                          rtnetlink(7); netlink.rs envía lo que enviaría ip; el Veth devuelto, \
                          conectado, limpia al final",
            },
        ],
        budget: Some(Budget {
            code_lines: 415,
            why: "one idea, a cable into the new network namespace (veth.rs, first in the \
                  diff): the pair, each end addressed and up, the host's with no IPv6; what \
                  it stands on comes after it: the rtnetlink requests, each printed as its \
                  ip command (netlink.rs), a free /30 (addressing.rs), lo up (lo.rs)",
        }),
        // Chrooted: no user namespace may be made (see chroot's stops).
        // Before net the container is in the host's network namespace, its
        // routes its own to change; from net on, the host's end of the cable
        // takes no Router Advertisement (veth.rs).
        stops: &[Attack::UserNs, Attack::Route],
        ..Stage::PLAIN
    },
    Stage {
        name: "user",
        aliases: &["usernamespace", "rootless"],
        summary: "new user namespace: root inside, an ordinary user outside",
        summary_es: "namespace de usuario nuevo: root adentro, un usuario común afuera",
        adds: &[Property::UserNs, Property::RootNotHostRoot],
        needs_root: false,
        needs_rootfs: true,
        exercise: &[
            Cut::Line {
                file: "main.rs",
                function: "run",
                line: "flags |= CloneFlags::CLONE_NEWUSER;",
                placeholder: "flags |= CloneFlags::empty();",
                hint: "the clone(2) flag that gives the child a user namespace of its own, \
                       which owns the others: user_namespaces(7)",
                hint_es: "la flag de clone(2) que le da al hijo un namespace de usuario propio, \
                          dueño de los demás: user_namespaces(7)",
            },
            Cut::Body {
                file: "userns.rs",
                function: "map_ids",
                hint: "write the child's /proc/<pid>/uid_map, setgroups and gid_map: 0 inside \
                       is HOST_ID_OF_ROOT outside when host_root, else our own ids: \
                       user_namespaces(7), \"User and group ID mappings\"; `write` helps",
                hint_es: "escribe /proc/<pid>/uid_map, setgroups y gid_map del hijo: el 0 de \
                          adentro es HOST_ID_OF_ROOT afuera si host_root, si no nuestros propios \
                          ids: user_namespaces(7), \"User and group ID mappings\"; `write` ayuda",
            },
        ],
        budget: Some(Budget {
            code_lines: 310,
            why: "uid and gid maps written by the parent while the child is held \
                  (userns.rs), the child's setresuid to 0 before it re-executes, the veth \
                  pair an ordinary user skips, and, run by root, the clone made with \
                  euid 700000000, which then owns the namespace (its per-user counts); \
                  rootless limits: the cgroup made in a group delegated to the user, as \
                  podman does, else none, said (cgroups_delegated.rs, 160 lines)",
        }),
        replaces: &[Replaced {
            step: "Cgroup::create",
            by: "userns::cgroup: the same group as root; without root, one in a group \
                 delegated to the user (cgroups_delegated.rs), or none, said, not skipped",
        }],
        stops: &[
            // Root inside is nobody outside: the kernel's settings, a setuid-root file, device
            // nodes, cgroups and root's keyring are out of its reach; and it is chrooted.
            Attack::ProcSys,
            Attack::Setuid,
            Attack::Device,
            Attack::UserNs,
            Attack::Cgroup,
            Attack::Keyring,
            Attack::Route,
        ],
        ..Stage::PLAIN
    },
    Stage {
        name: "pivot",
        aliases: &["pivot_root", "pivotroot"],
        summary: "the root filesystem done right: pivot_root, minimal /dev, masked /proc",
        summary_es:
            "el sistema de archivos raíz bien hecho: pivot_root, /dev mínimo, /proc enmascarado",
        adds: &[Property::HostRootUnreachable],
        needs_root: true,
        needs_rootfs: true,
        exercise: &[
            Cut::Body {
                file: "rootfs.rs",
                function: "mount_sys",
                hint: "a sysfs at <root>/sys that can be read, not changed: sysfs(5), the \
                       flags of mount(2); mount_fs and NOTHING_TO_RUN are here to help",
                hint_es: "un sysfs en <root>/sys que se pueda leer pero no cambiar: sysfs(5), \
                          las flags de mount(2); mount_fs y NOTHING_TO_RUN están aquí para \
                          ayudar",
            },
            Cut::Body {
                file: "rootfs.rs",
                function: "pivot_root",
                hint: "make `root` the root of our mount namespace, and detach the host's: \
                       pivot_root(2) (its NOTES), umount2(2), chdir(2)",
                hint_es: "haz de `root` la raíz de nuestro namespace de montaje, y desprende la \
                          del host: pivot_root(2) (sus NOTES), umount2(2), chdir(2)",
            },
        ],
        drops: &[Property::UserNs, Property::RootNotHostRoot],
        drops_why: "from here on the user namespace is opt-in (`--rootless`), as with docker \
                    run by root: root inside is host root (the shared root filesystem's files \
                    stay root's to change), and each hardening stage makes that root harmless",
        budget: Some(Budget {
            code_lines: 210,
            why: "one idea, the root filesystem done right (rootfs.rs): a bind mount, a \
                  tmpfs /dev with six nodes and devpts, docker's masked and read-only paths, \
                  /tmp, no mount on a symlink, pivot_root and the old root detached; and \
                  user's namespace kept, opt-in (--rootless, 8 lines)",
        }),
        replaces: &[
            Replaced {
                step: "chroot::change_root",
                by: "rootfs::pivot_root: the host's / unmounted, not only out of sight",
            },
            Replaced {
                step: "mod chroot",
                by: "rootfs.rs",
            },
            Replaced {
                step: "procfs::mount_proc",
                by: "rootfs::mount_proc: /proc mounted under the new root, its files that \
                     act on the machine masked",
            },
            Replaced {
                step: "mod procfs",
                by: "rootfs.rs",
            },
        ],
        stops: &[Attack::Escape, Attack::ProcSys, Attack::Route],
        ..Stage::PLAIN
    },
    Stage {
        name: "capabilities",
        aliases: &["caps"],
        summary: "root keeps only docker's 14 capabilities, and no_new_privs",
        summary_es: "root se queda solo con las 14 capabilities de docker, y no_new_privs",
        adds: &[Property::CapsReduced, Property::NoNewPrivs],
        needs_root: true,
        needs_rootfs: true,
        exercise: &[
            Cut::Body {
                file: "capabilities.rs",
                function: "drop_capabilities",
                hint: "keep only KEPT, in every capability set, the bounding set first: \
                       capabilities(7); the caps crate reads, drops, clears and sets them",
                hint_es: "quédate solo con KEPT, en cada conjunto de capabilities, primero el \
                          conjunto límite (bounding): capabilities(7); el crate caps las lee, \
                          las quita, las borra y las fija",
            },
            Cut::Body {
                file: "capabilities.rs",
                function: "set_no_new_privs",
                hint: "no execve(2) from here on may grant privileges: prctl(2), in \
                       nix::sys::prctl",
                hint_es: "que ningún execve(2) de aquí en adelante pueda dar privilegios: \
                          prctl(2), en nix::sys::prctl",
            },
        ],
        drops: &[Property::UserNs, Property::RootNotHostRoot],
        drops_why: "root inside is host root, as with docker run by root, with fewer \
                    capabilities",
        budget: Some(Budget {
            code_lines: 55,
            why: "docker's 14 capabilities named one a line (capabilities.rs), each set cut \
                  in the order the kernel requires, and no_new_privs",
        }),
        stops: &[
            Attack::Escape,
            Attack::ProcSys,
            Attack::Mount,
            Attack::Setuid,
            Attack::Device,
            Attack::Route,
        ],
        ..Stage::PLAIN
    },
    Stage {
        name: "seccomp",
        aliases: &["syscalls", "filter"],
        summary: "a syscall filter as docker's default: no new namespace, keyring or mount",
        summary_es: "un filtro de llamadas al sistema como el de docker: sin namespaces nuevos, \
                     keyrings ni montajes",
        adds: &[],
        needs_root: true,
        needs_rootfs: true,
        exercise: &[
            Cut::Body {
                file: "seccomp.rs",
                function: "refused",
                hint: "the main filter, built with seccompiler (SeccompFilter, SeccompRule, \
                       SeccompCondition) for x86_64: EPERM for every call of REFUSED, for \
                       clone(2) when its flags hold any of CLONE_NEW, for personality(2) with \
                       a value not in PERSONALITIES and for socket(2) of the AF_VSOCK family; \
                       every other call allowed: seccomp(2)",
                hint_es: "el filtro principal, hecho con seccompiler (SeccompFilter, \
                          SeccompRule, SeccompCondition) para x86_64: EPERM para cada llamada de \
                          REFUSED, para clone(2) cuando sus flags tienen alguna de CLONE_NEW, \
                          para personality(2) con un valor que no esté en PERSONALITIES y para \
                          socket(2) de la familia AF_VSOCK; cualquier otra llamada, permitida: \
                          seccomp(2)",
            },
            Cut::Body {
                file: "seccomp.rs",
                function: "install_filter",
                hint: "load the three filters built below (refused, x32_refused, \
                       clone3_refused): seccomp(2); seccompiler::apply_filter",
                hint_es: "carga los tres filtros que se construyen abajo (refused, x32_refused, \
                          clone3_refused): seccomp(2); seccompiler::apply_filter",
            },
        ],
        drops: &[Property::UserNs, Property::RootNotHostRoot],
        drops_why: "root inside is host root, as with docker run by root, with fewer \
                    capabilities and a syscall filter",
        budget: Some(Budget {
            code_lines: 150,
            why: "the filter (seccomp.rs) lists the ~60 calls docker's default profile refuses, \
                  one a line, grouped by what they reach; rules for clone's namespace flags \
                  and personality; clone3 (ENOSYS) and x32 numbers in filters of their own",
        }),
        stops: &[
            Attack::Escape,
            Attack::ProcSys,
            Attack::Mount,
            Attack::Setuid,
            Attack::Device,
            Attack::UserNs,
            Attack::Cgroup,
            Attack::Keyring,
            Attack::Route,
        ],
        ..Stage::PLAIN
    },
    Stage {
        name: "console",
        aliases: &["tty", "pty", "terminal"],
        summary: "a terminal of its own: a pseudo-terminal the runtime relays",
        summary_es: "una terminal propia: una pseudoterminal que el runtime retransmite",
        adds: &[],
        needs_root: true,
        needs_rootfs: true,
        exercise: &[Cut::Body {
            file: "console.rs",
            function: "open",
            hint: "when stdin, stdout or stderr is a terminal (std's IsTerminal), a new \
                   pseudo-terminal: posix_openpt(3) and unlockpt(3) in nix::pty, its far end \
                   by TIOCGPTPEER (ioctl_tty(2)), with our window's size (copy_window_size)",
            hint_es: "cuando stdin, stdout o stderr es una terminal (IsTerminal de std), una \
                      pseudoterminal nueva: posix_openpt(3) y unlockpt(3) en nix::pty, su otro \
                      extremo con TIOCGPTPEER (ioctl_tty(2)), con el tamaño de nuestra ventana \
                      (copy_window_size)",
        }],
        drops: &[Property::UserNs, Property::RootNotHostRoot],
        drops_why: "root inside is host root, as with docker run by root, with fewer \
                    capabilities, a syscall filter and a terminal of its own",
        budget: Some(Budget {
            code_lines: 215,
            why: "one idea, the console (console.rs): a pseudo-terminal opened, the child's \
                  session and controlling terminal, our terminal raw and put back, and the \
                  thread that copies bytes both ways and passes window sizes on",
        }),
        stops: &[
            Attack::Escape,
            Attack::ProcSys,
            Attack::Mount,
            Attack::Setuid,
            Attack::Device,
            Attack::UserNs,
            Attack::Cgroup,
            Attack::Keyring,
            Attack::Tty,
            Attack::Route,
        ],
        ..Stage::PLAIN
    },
    Stage {
        name: "full",
        aliases: &["containers", "container"],
        summary: "everything, hardened: pivot_root, overlay, cgroup ns, capabilities, no_new_privs",
        summary_es: "todo, endurecido: pivot_root, overlay, namespace de cgroup, capabilities, \
                     no_new_privs",
        adds: &[Property::CgroupNs],
        needs_root: true,
        needs_rootfs: true,
        exercise: &[
            Cut::Body {
                file: "overlay.rs",
                function: "mount",
                hint: "a copy-on-write root on options.rootfs: the root filesystem opened \
                       first (what is mounted next hides its path), a tmpfs of options.disk \
                       bytes on it with folders `upper` and `work`, then an overlay on the \
                       same folder whose lower layer is the opened root filesystem \
                       (userxattr when rootless): tmpfs(5), the kernel's \
                       filesystems/overlayfs.rst, mount(2); mount_fs helps; return the new \
                       root",
                hint_es: "una raíz de copia en escritura (copy-on-write) en options.rootfs: \
                          primero se abre el sistema de archivos raíz (lo que se monte después \
                          tapa su ruta), encima un tmpfs de options.disk bytes con las carpetas \
                          `upper` y `work`, y luego un overlay en la misma carpeta cuya capa \
                          inferior es el sistema de archivos raíz abierto (userxattr si es \
                          rootless): tmpfs(5), filesystems/overlayfs.rst del kernel, mount(2); \
                          mount_fs ayuda; devuelve la nueva raíz",
            },
            Cut::Body {
                file: "cgroup_ns.rs",
                function: "unshare_cgroup",
                hint: "a cgroup namespace of our own, rooted at the group the parent moved us \
                       into: cgroup_namespaces(7), unshare(2)",
                hint_es: "un namespace de cgroup propio, con raíz en el grupo al que el padre \
                          nos movió: cgroup_namespaces(7), unshare(2)",
            },
            Cut::Body {
                file: "main.rs",
                function: "close_inherited_descriptors",
                hint: "close every descriptor above 2 that the host left open: close_range(2) \
                       (nix has no call for it: libc::syscall)",
                hint_es: "cierra cada descriptor por encima del 2 que el host dejó abierto: \
                          close_range(2) (nix no tiene esa llamada: libc::syscall)",
            },
            Cut::Body {
                file: "main.rs",
                function: "become_root_clean",
                hint: "become root of our user namespace (userns.rs), then keep only the \
                       variables KEPT names: environ(7), std::env",
                hint_es: "vuélvete root de nuestro namespace de usuario (userns.rs), y luego \
                          conserva solo las variables que nombra KEPT: environ(7), std::env",
            },
        ],
        drops: &[Property::UserNs, Property::RootNotHostRoot],
        drops_why:
            "the user namespace is opt-in (`full run --rootless`), as with docker or podman \
                    run by root: inside one, the shared root filesystem's files (owned by host \
                    root) could not be changed, not even in the copy-on-write overlay",
        budget: Some(Budget {
            code_lines: 615,
            why: "one idea, every step together, as a runtime runs them: the earlier \
                  stages' steps included, the user namespace back as --rootless \
                  (userns.rs), and what a runtime adds, each in a file of its own shown in \
                  the story's order: the overlay (overlay.rs), the cgroup namespace \
                  (cgroup_ns.rs), and the options with their defaults last (options.rs)",
        }),
        replaces: &[Replaced {
            step: "userns::as_root",
            by: "userns::cgroup: full skips nothing without root, it refuses (--net veth) \
                 or uses a delegated cgroup (a limit asked for and not applied: refused)",
        }],
        stops: &[
            Attack::Escape,
            Attack::ProcSys,
            Attack::Mount,
            Attack::Setuid,
            Attack::Device,
            Attack::UserNs,
            Attack::Cgroup,
            Attack::Keyring,
            Attack::HostFd,
            Attack::Environ,
            Attack::Disk,
            Attack::Tty,
            Attack::Route,
        ],
        ..Stage::PLAIN
    },
];

/// Finds a stage by name, alias or number (`"4"`, `"pid"`, `"pidnamespace"`).
pub fn find(key: &str) -> Option<&'static Stage> {
    let key = key.trim();
    if let Ok(n) = key.parse::<u8>() {
        return usize::from(n).checked_sub(1).and_then(|i| STAGES.get(i));
    }
    let key = key.to_ascii_lowercase();
    STAGES
        .iter()
        .find(|s| s.name == key || s.aliases.contains(&key.as_str()))
}

/// The stage before `stage` in the talk, if any.
pub fn previous(stage: &Stage) -> Option<&'static Stage> {
    usize::from(stage.number())
        .checked_sub(2)
        .and_then(|i| STAGES.get(i))
}

/// Every property a stage has by default: its own plus those of every stage before it, less
/// the ones it drops.
pub fn expected(stage: &Stage) -> Vec<Property> {
    let mut props: Vec<Property> = STAGES
        .iter()
        .filter(|s| s.number() <= stage.number())
        .flat_map(|s| s.adds.iter().copied())
        .filter(|p| !stage.drops.contains(p))
        .collect();
    props.sort();
    props.dedup();
    props
}

/// The closest stage name or alias to a mistyped `key`, for a did-you-mean hint.
pub fn suggest(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    STAGES
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
        .map(|name| (distance(&key, name), name))
        .filter(|(d, name)| *d <= 2.max(name.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// Every valid stage name, in talk order, for an error message.
pub fn names() -> Vec<&'static str> {
    STAGES.iter().map(|s| s.name).collect()
}

/// Levenshtein distance, small and allocation-light: stage names are short.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique() {
        let mut all: Vec<&str> = STAGES
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "a name or alias is used twice");
    }

    #[test]
    fn find_by_name_alias_and_number() {
        assert_eq!(find("pidnamespace").map(|s| s.name), Some("pid"));
        assert_eq!(find("utsnamespace").map(|s| s.name), Some("uts"));
        assert_eq!(find("4").map(|s| s.name), Some("pid"));
        let last = STAGES.len() as u8;
        assert_eq!(find("full").map(|s| s.number()), Some(last));
        assert_eq!(find("nope"), None);
        assert_eq!(find("0"), None);
    }

    #[test]
    fn suggestions_for_typos() {
        assert_eq!(suggest("pidnamespce"), Some("pidnamespace"));
        assert_eq!(suggest("chrot"), Some("chroot"));
        assert_eq!(suggest("zzzzzzzzzzzz"), None);
    }

    #[test]
    fn every_stage_from_uts_on_has_an_exercise_with_hints() {
        for s in STAGES {
            let from_uts = s.number() >= find("uts").unwrap().number();
            assert_eq!(!s.exercise.is_empty(), from_uts, "{}", s.name);
            for cut in s.exercise {
                assert!(cut.file().ends_with(".rs"), "{}: {cut:?}", s.name);
                assert!(!cut.function().is_empty());
                // A hint names what to look up, in both languages: a man page, `name(N)`.
                for hint in [cut.hint(), cut.hint_es()] {
                    let man_page = hint
                        .as_bytes()
                        .windows(3)
                        .any(|w| w[0] == b'(' && w[1].is_ascii_digit() && w[2] == b')');
                    assert!(man_page, "{}: {cut:?}", s.name);
                }
            }
        }
    }

    #[test]
    fn expectations_accumulate() {
        let full = find("full").unwrap();
        assert_eq!(expected(full).len() + full.drops.len(), Property::ALL.len());
        assert!(!expected(find("user").unwrap()).is_empty());
        assert!(expected(find("base2").unwrap()).is_empty());
        assert!(expected(find("pid").unwrap()).contains(&Property::UtsNs));
    }
}

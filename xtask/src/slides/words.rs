//! Every word the deck shows itself, in English and in Spanish. The stages' titles, summaries,
//! notes and diff headings come from the catalog, the notes and `present/lang.rs`.

use catalog::{Attack, Property};

use crate::present::lang::Lang;

pub struct Words {
    pub html_lang: &'static str,
    pub talk: &'static str,
    pub subtitle: &'static str,
    pub keys: &'static str,
    pub isolates: &'static str,
    pub stops: &'static str,
    pub gets_through: &'static str,
    pub new: &'static str,
    pub dropped: &'static str,
    pub code: &'static str,
    pub continued: &'static str,
    pub demo: &'static str,
    pub as_promised: &'static str,
    pub unlike_notes: &'static str,
    pub not_run: &'static str,
    pub run_in: &'static str,
    pub more_lines: &'static str,
    pub not_shown: &'static str,
    pub whole_matrix: &'static str,
    pub attacks: &'static str,
    pub isolation: &'static str,
    pub layers: [&'static str; 6],
    pub speaker: &'static str,
    pub now: &'static str,
    pub next: &'static str,
    pub elapsed: &'static str,
    pub speaker_keys: &'static str,
    pub popup_blocked: &'static str,
    pub the_end: &'static str,
    pub recorded: &'static str,
    pub not_recorded: &'static str,
    pub new_file: &'static str,
    pub removed_file: &'static str,
}

pub const EN: Words = Words {
    html_lang: "en",
    talk: "Containers from scratch, in Rust",
    subtitle: "a Linux container built one isolation step at a time",
    keys: "→ space: next · ← back · 7 Enter: stage 7 · s: speaker view · f: full screen",
    isolates: "What isolates it",
    stops: "Attacks it stops",
    gets_through: "gets through",
    new: "new",
    dropped: "dropped",
    code: "The code",
    continued: "continued",
    demo: "Demo",
    as_promised: "as the notes promise",
    unlike_notes: "unlike the notes",
    not_run: "not run: the notes' output",
    run_in: "run in",
    more_lines: "more lines",
    not_shown: "Also in this step, not shown here",
    whole_matrix: "The whole matrix",
    attacks: "Attacks stopped",
    isolation: "Isolation",
    layers: [
        "namespaces",
        "cgroup limits",
        "root filesystem",
        "privileges",
        "syscall filter",
        "the command",
    ],
    speaker: "Speaker view",
    now: "Now",
    next: "Next",
    elapsed: "elapsed",
    speaker_keys: "keys as in the deck · t: timer to 0 · p: pause",
    popup_blocked: "the browser blocked the speaker window: allow pop-ups for this file",
    the_end: "the end",
    recorded: "demos recorded",
    not_recorded: "demos not run: the output their notes promise",
    new_file: "new file",
    removed_file: "removed",
};

pub const ES: Words = Words {
    html_lang: "es",
    talk: "Contenedores desde cero, en Rust",
    subtitle: "un contenedor de Linux, un paso de aislamiento a la vez",
    keys: "→ espacio: sigue · ← atrás · 7 Enter: etapa 7 · s: vista del orador · f: pantalla \
           completa",
    isolates: "Lo que lo aísla",
    stops: "Ataques que detiene",
    gets_through: "pasa",
    new: "nuevo",
    dropped: "se pierde",
    code: "El código",
    continued: "sigue",
    demo: "Demo",
    as_promised: "como prometen las notas",
    unlike_notes: "distinto de las notas",
    not_run: "sin ejecutar: la salida de las notas",
    run_in: "ejecutado en",
    more_lines: "líneas más",
    not_shown: "También en este paso, no mostrado aquí",
    whole_matrix: "La matriz completa",
    attacks: "Ataques detenidos",
    isolation: "Aislamiento",
    layers: [
        "namespaces",
        "límites del cgroup",
        "sistema de archivos raíz",
        "privilegios",
        "filtro de llamadas al sistema",
        "el comando",
    ],
    speaker: "Vista del orador",
    now: "Ahora",
    next: "Sigue",
    elapsed: "transcurrido",
    speaker_keys: "las teclas de las diapositivas · t: reloj a 0 · p: pausa",
    popup_blocked: "el navegador bloqueó la ventana del orador: permite ventanas emergentes \
                    para este archivo",
    the_end: "fin",
    recorded: "demos grabados",
    not_recorded: "demos sin ejecutar: la salida que prometen sus notas",
    new_file: "archivo nuevo",
    removed_file: "borrado",
};

pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Es => &ES,
    }
}

/// A property's one-line meaning: the catalog's in English.
pub fn property(lang: Lang, p: Property) -> &'static str {
    if lang == Lang::En {
        return p.description();
    }
    match p {
        Property::UtsNs => "namespace UTS propio",
        Property::Hostname => "el hostname es `container`",
        Property::PidNs => "namespace PID propio",
        Property::Pid1 => "el primer proceso del contenedor es el PID 1",
        Property::OwnRoot => "raíz propia",
        Property::MountNs => "namespace de montaje propio",
        Property::ProcIsolated => "/proc lista solo los procesos del contenedor",
        Property::PidsLimit => "un límite de procesos",
        Property::MemoryLimit => "un límite de memoria",
        Property::CpuLimit => "un límite de CPU",
        Property::IpcNs => "namespace IPC propio",
        Property::NetNs => "namespace de red propio",
        Property::UserNs => "namespace de usuario propio",
        Property::RootNotHostRoot => "root del contenedor no es root del host",
        Property::CgroupNs => "namespace de cgroup propio",
        Property::CapsReduced => "capabilities reducidas",
        Property::NoNewPrivs => "no_new_privs activado",
        Property::HostRootUnreachable => "la raíz del host es inalcanzable",
    }
}

/// What an attack does when it gets through: the catalog's in English.
pub fn attack(lang: Lang, a: Attack) -> &'static str {
    if lang == Lang::En {
        return a.description();
    }
    match a {
        Attack::Escape => "un escape de chroot llega a la / del host",
        Attack::ProcSys => "escribe /proc/sys, sysrq o /sys",
        Attack::Mount => "monta un sistema de archivos",
        Attack::Setuid => "un archivo setuid-root da capabilities a nobody",
        Attack::Device => "abre un disco del host hecho con mknod",
        Attack::UserNs => "un namespace de usuario con todas las capabilities",
        Attack::Cgroup => "crea un cgroup o levanta un límite",
        Attack::Keyring => "lee el keyring de root del host",
        Attack::HostFd => "un descriptor de archivo del host llega a sus archivos",
        Attack::Environ => "ve el entorno del host",
        Attack::Disk => "las escrituras caen en el disco del host",
        Attack::Route => "cambia las rutas IPv6 del host",
        Attack::Tty => "escribe en la terminal del host",
    }
}

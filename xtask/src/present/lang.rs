//! The talk's two languages: which one (`--lang en|es`, else the locale), which notes file, and
//! every word `present`, `list`, `bench` and the deck say themselves, in each.
//!
//! The locale is read as a C program reads it for its messages: the first of `LC_ALL`,
//! `LC_MESSAGES` and `LANG` that is set and not empty; `es`, or `es_` followed by a country
//! (`es_MX.UTF-8`, `es_AR`), is Spanish, anything else English.

use catalog::{Attack, Property, Stage};

use crate::cli;
use crate::diff::Counts;

/// A language of the talk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Es,
}

/// The `--lang` flag, declared once for every command that takes it.
pub const FLAG: cli::Arg = cli::option(
    "lang",
    "LANG",
    "en or es (default: es when the locale is Spanish, e.g. LANG=es_MX.UTF-8, else en)",
);

impl Lang {
    /// Every language, English first.
    pub const ALL: &'static [Lang] = &[Lang::En, Lang::Es];

    /// As typed after `--lang`.
    pub fn code(self) -> &'static str {
        self.pick("en", "es")
    }

    /// `--lang` if given (a usage error when it is neither `en` nor `es`), else the locale's.
    pub fn from_args(args: &cli::Args) -> anyhow::Result<Lang> {
        let Some(code) = args.text("lang")? else {
            return Ok(Lang::from_locale(|name| std::env::var(name).ok()));
        };
        Lang::ALL
            .iter()
            .copied()
            .find(|l| l.code() == code.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                let codes: Vec<&str> = Lang::ALL.iter().map(|l| l.code()).collect();
                args.error(format!(
                    "unknown language {code:?}; the languages: {}",
                    codes.join(", ")
                ))
            })
    }

    /// The language of the locale, read through `var` (the environment, or a test's).
    pub fn from_locale(var: impl Fn(&str) -> Option<String>) -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|name| var(name))
            .find(|value| !value.is_empty())
            .unwrap_or_default();
        if locale == "es" || locale.starts_with("es_") || locale.starts_with("es.") {
            Lang::Es
        } else {
            Lang::En
        }
    }

    /// A stage's notes file, in its folder: `README.md` or `README.es.md`.
    pub fn notes_file(self) -> &'static str {
        self.pick("README.md", "README.es.md")
    }

    /// `en` or `es`, whichever is in this language.
    pub fn pick<T>(self, en: T, es: T) -> T {
        match self {
            Lang::En => en,
            Lang::Es => es,
        }
    }

    /// A stage's one-line summary, from the catalog.
    pub fn summary(self, stage: &Stage) -> &'static str {
        self.pick(stage.summary, stage.summary_es)
    }

    /// A property's one-line meaning, from the catalog.
    pub fn property(self, p: Property) -> &'static str {
        self.pick(p.about().description, p.about().description_es)
    }

    /// A property's chip in the deck's picture, from the catalog.
    pub fn chip(self, p: Property) -> &'static str {
        self.pick(p.about().chip, p.about().chip_es)
    }

    /// What an attack does when it gets through, from the catalog.
    pub fn attack(self, a: Attack) -> &'static str {
        self.pick(a.about().description, a.about().description_es)
    }

    /// `Stage 4 of 13 — pid`.
    pub fn title(self, stage: &Stage, of: usize) -> String {
        let (n, name) = (stage.number(), stage.name);
        match self {
            Lang::En => format!("Stage {n} of {of} — {name}"),
            Lang::Es => format!("Etapa {n} de {of} — {name}"),
        }
    }

    /// The heading of a stage's diff from the one before (`prev`): code and comments, added
    /// and removed; for the first stage, its lines of code and of comments.
    pub fn diff_heading(self, stage: &str, prev: Option<&str>, counts: Counts) -> String {
        let (ca, cr) = (counts.code_added, counts.code_removed);
        let (ma, mr) = (counts.comments_added, counts.comments_removed);
        match (self, prev) {
            (Lang::En, Some(prev)) => {
                format!("What {stage} adds to {prev}: code +{ca} -{cr}, comments +{ma} -{mr}")
            }
            (Lang::Es, Some(prev)) => format!(
                "Lo que {stage} agrega a {prev}: código +{ca} -{cr}, comentarios +{ma} -{mr}"
            ),
            (Lang::En, None) => {
                format!("The first stage, {stage}: {ca} lines of code, {ma} of comments")
            }
            (Lang::Es, None) => {
                format!("La primera etapa, {stage}: {ca} líneas de código, {ma} de comentarios")
            }
        }
    }

    /// A line of a diff, its fold marker (`… 3 comment lines folded`, from `diff.rs`) said in
    /// this language, in no more columns than the English.
    pub fn diff_line(self, line: &str) -> String {
        match self {
            Lang::En => line.to_string(),
            Lang::Es => line
                .replace("comment lines folded", "comentarios plegados")
                .replace("comment line folded", "comentario plegado"),
        }
    }

    /// A demo ended with the status its notes promise, not 0: `(exit 3)`.
    pub fn exited(self, code: i32) -> String {
        match self {
            Lang::En => format!("(exit {code})"),
            Lang::Es => format!("(salió con {code})"),
        }
    }

    /// A demo ended with another status than its notes promise, on screen.
    pub fn exited_unlike(self, code: i32, expected: i32) -> String {
        match self {
            Lang::En => format!("(exit {code}, the notes expect {expected})"),
            Lang::Es => format!("(salió con {code}, las notas esperan {expected})"),
        }
    }

    /// The same, at the end of the talk, with where the demo is written.
    pub fn complaint(
        self,
        stage: &str,
        command: &str,
        code: i32,
        expected: i32,
        line: usize,
    ) -> String {
        let file = format!("slides/{stage}/{}", self.notes_file());
        match self {
            Lang::En => format!(
                "{stage}: `{command}` exited {code}, the notes expect {expected} ({file} \
                 line {line})"
            ),
            Lang::Es => format!(
                "{stage}: `{command}` salió con {code}, las notas esperan {expected} ({file} \
                 línea {line})"
            ),
        }
    }

    /// Its words.
    pub fn words(self) -> &'static Words {
        self.pick(&EN, &ES)
    }
}

/// Every word `present`, `list` and the deck say themselves, in one language.
pub struct Words {
    pub space: &'static str,
    pub more: &'static str,
    pub the_code: &'static str,
    pub the_demos: &'static str,
    pub go_on: &'static str,
    pub run: &'static str,
    /// Before the next stage's name, at the end of a stage.
    pub next: &'static str,
    pub the_end: &'static str,
    /// Before a stage's name, at its end.
    pub end_of: &'static str,
    pub skip: &'static str,
    pub show_comments: &'static str,
    pub fold_comments: &'static str,
    pub next_stage: &'static str,
    pub back: &'static str,
    pub quit: &'static str,
    /// The `m` key of a route's stage: the whole notes, or the script again.
    pub full_notes: &'static str,
    pub script: &'static str,
    /// `list`'s column headings and the word before a stage's aliases.
    pub stage: &'static str,
    pub what_it_adds: &'static str,
    pub also: &'static str,
    /// The deck's own words (`cargo xtask slides`); its stages' come from the catalog and the
    /// notes.
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
    pub next_up: &'static str,
    pub elapsed: &'static str,
    /// Between the time spent and the plan's: `12:40 of 45:00`.
    pub of: &'static str,
    pub speaker_keys: &'static str,
    pub popup_blocked: &'static str,
    pub recorded: &'static str,
    pub not_recorded: &'static str,
    pub new_file: &'static str,
    pub removed_file: &'static str,
}

const EN: Words = Words {
    space: "space",
    more: "more",
    the_code: "the code",
    the_demos: "the demos",
    go_on: "go on",
    run: "run",
    next: "next:",
    the_end: "the end",
    end_of: "end of",
    skip: "skip",
    show_comments: "show comments",
    fold_comments: "fold comments",
    next_stage: "next stage",
    back: "back",
    quit: "quit",
    full_notes: "notes",
    script: "script",
    stage: "stage",
    what_it_adds: "what it adds",
    also: "also:",
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
    next_up: "Next",
    elapsed: "elapsed",
    of: "of",
    speaker_keys: "keys as in the deck · t: timer to 0 · p: pause",
    popup_blocked: "the browser blocked the speaker window: allow pop-ups for this file",
    recorded: "demos recorded",
    not_recorded: "demos not run: the output their notes promise",
    new_file: "new file",
    removed_file: "removed",
};

const ES: Words = Words {
    space: "espacio",
    more: "más",
    the_code: "el código",
    the_demos: "los demos",
    go_on: "seguir",
    run: "ejecutar",
    next: "sigue:",
    the_end: "fin",
    end_of: "fin de",
    skip: "saltar",
    // Short: the longest prompt has to fit 80 columns.
    show_comments: "comentarios",
    fold_comments: "plegar",
    next_stage: "siguiente",
    back: "atrás",
    quit: "salir",
    full_notes: "notas",
    script: "guion",
    stage: "etapa",
    what_it_adds: "qué agrega",
    also: "alias:",
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
    next_up: "Sigue",
    elapsed: "transcurrido",
    of: "de",
    speaker_keys: "las teclas de las diapositivas · t: reloj a 0 · p: pausa",
    popup_blocked: "el navegador bloqueó la ventana del orador: permite ventanas emergentes \
                    para este archivo",
    recorded: "demos grabados",
    not_recorded: "demos sin ejecutar: la salida que prometen sus notas",
    new_file: "archivo nuevo",
    removed_file: "borrado",
};

#[cfg(test)]
mod tests {
    use super::*;

    fn locale(pairs: &[(&str, &str)]) -> Lang {
        Lang::from_locale(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn the_locale_picks_the_language() {
        assert_eq!(locale(&[]), Lang::En);
        assert_eq!(locale(&[("LANG", "es_MX.UTF-8")]), Lang::Es);
        assert_eq!(locale(&[("LANG", "es")]), Lang::Es);
        assert_eq!(locale(&[("LANG", "en_US.UTF-8")]), Lang::En);
        assert_eq!(locale(&[("LANG", "C.UTF-8")]), Lang::En);
        // LC_ALL first, then LC_MESSAGES, then LANG; an empty one does not count.
        assert_eq!(
            locale(&[("LC_ALL", "C"), ("LANG", "es_AR.UTF-8")]),
            Lang::En
        );
        assert_eq!(
            locale(&[
                ("LC_ALL", ""),
                ("LC_MESSAGES", "es_CL.UTF-8"),
                ("LANG", "en_US")
            ]),
            Lang::Es
        );
        // Estonian is not Spanish.
        assert_eq!(locale(&[("LANG", "et_EE.UTF-8")]), Lang::En);
        assert_eq!(locale(&[("LANG", "esperanto")]), Lang::En);
    }

    #[test]
    fn the_fold_marker_is_no_wider_in_spanish() {
        for n in ["1 comment line folded", "3 comment lines folded"] {
            let es = Lang::Es.diff_line(n);
            assert_ne!(es, n);
            assert!(es.len() <= n.len(), "{es}");
        }
    }
}

//! The talk's two languages: which one (`--lang en|es`, else the locale), which notes file, and
//! every word `present` and `list` print themselves, in each.
//!
//! The locale is read as a C program reads it for its messages: the first of `LC_ALL`,
//! `LC_MESSAGES` and `LANG` that is set and not empty; `es`, or `es_` followed by a country
//! (`es_MX.UTF-8`, `es_AR`), is Spanish, anything else English.

use catalog::Stage;

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
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
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
        match self {
            Lang::En => "README.md",
            Lang::Es => "README.es.md",
        }
    }

    /// A stage's one-line summary, from the catalog.
    pub fn summary(self, stage: &Stage) -> &'static str {
        match self {
            Lang::En => stage.summary,
            Lang::Es => stage.summary_es,
        }
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

    /// The words of the prompts.
    pub fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::Es => &ES,
        }
    }
}

/// The words of `present`'s prompts and of `list`'s header, in one language.
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
    /// `list`'s column headings and the word before a stage's aliases.
    pub stage: &'static str,
    pub what_it_adds: &'static str,
    pub also: &'static str,
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
    stage: "stage",
    what_it_adds: "what it adds",
    also: "also:",
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
    stage: "etapa",
    what_it_adds: "qué agrega",
    also: "alias:",
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

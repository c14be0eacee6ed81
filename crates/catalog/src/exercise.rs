//! A stage's exercise and the size of its diff: what `cargo xtask exercise` cuts out, and how
//! much `cargo xtask check` lets a stage change.

/// A piece of a stage's new step that its exercise takes out of a copy of the stage, with what
/// to look up to write it again: a man page, the flag or the call, never the answer; in English
/// (`hint`) and in Spanish (`hint_es`, for `cargo xtask exercise --lang es`).
#[derive(Debug, PartialEq, Eq)]
pub enum Cut {
    /// The body of `function` in `file` (under the stage's `src/`), replaced by `todo!(hint)`.
    Body {
        file: &'static str,
        function: &'static str,
        hint: &'static str,
        hint_es: &'static str,
    },
    /// The statement `line` of `function`, with the comment just above it, replaced by
    /// `placeholder` under the hint as a comment: a clone flag, which is one line of `run`.
    Line {
        file: &'static str,
        function: &'static str,
        line: &'static str,
        placeholder: &'static str,
        hint: &'static str,
        hint_es: &'static str,
    },
}

impl Cut {
    /// The file it is in, under the stage's `src/`.
    pub fn file(&self) -> &'static str {
        match self {
            Cut::Body { file, .. } | Cut::Line { file, .. } => file,
        }
    }

    /// The function it is in.
    pub fn function(&self) -> &'static str {
        match self {
            Cut::Body { function, .. } | Cut::Line { function, .. } => function,
        }
    }

    /// What to look up.
    pub fn hint(&self) -> &'static str {
        match self {
            Cut::Body { hint, .. } | Cut::Line { hint, .. } => hint,
        }
    }

    /// What to look up, in Spanish.
    pub fn hint_es(&self) -> &'static str {
        match self {
            Cut::Body { hint_es, .. } | Cut::Line { hint_es, .. } => hint_es,
        }
    }
}

/// How many lines of code (comments and blank lines apart) a stage's diff from the one before
/// may change, added plus removed: one idea is a clone flag, a syscall or two and their errors.
pub const DEFAULT_DIFF_BUDGET: usize = 40;

/// A stage allowed a larger diff than [`DEFAULT_DIFF_BUDGET`], with the reason.
#[derive(Debug, PartialEq, Eq)]
pub struct Budget {
    /// Lines of code changed, added plus removed.
    pub code_lines: usize,
    /// Why this one idea needs more.
    pub why: &'static str,
}

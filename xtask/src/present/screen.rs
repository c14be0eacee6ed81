//! What fits the screen, the pauses between screenfuls, and the prompts.

use std::io::{self, Write};

use anyhow::Result;

use std::time::{Duration, Instant};

use super::lang::{Lang, Words};
use super::terminal::{self, Key};
use crate::diff::columns;
use crate::plan::Plan;

pub mod style {
    pub const BOLD: &str = "\x1b[1m";
    pub const CYAN: &str = "\x1b[36m";
    pub const RESET: &str = "\x1b[0m";
}

/// The terminal the talk is shown on: what fits, and the pauses between screenfuls.
pub struct Screen {
    /// Waiting for keys (not `--yes`).
    pub interactive: bool,
    pub color: bool,
    /// Columns the talk's text is fitted to.
    pub width: usize,
    /// Columns of the terminal, at least `width` (a line's height on screen).
    pub cols: usize,
    pub rows: usize,
    /// Rows printed since the last key press.
    pub used: usize,
    /// The language of the talk, and so of the prompts.
    pub lang: Lang,
    /// With a route (or `--stages`): where the talk stands against its plan, on a line of its
    /// own above every prompt.
    pub timer: Option<Timer>,
}

/// The clock of a planned talk: when it began, and when each of its stages was first shown.
pub struct Timer {
    pub plan: Plan,
    started: Instant,
    /// The stage shown now, and when each stage was first entered (from the start).
    at: usize,
    entered: Vec<Option<Duration>>,
}

impl Timer {
    pub fn new(plan: Plan) -> Timer {
        let entered = vec![None; plan.stops.len()];
        Timer {
            plan,
            started: Instant::now(),
            at: 0,
            entered,
        }
    }

    /// The talk is at stage `i` now (the first time counts).
    pub fn enter(&mut self, i: usize) {
        self.at = i;
        let now = self.started.elapsed();
        self.entered[i].get_or_insert(now);
    }

    /// `pid · 12:40 of 45:00 · +1:10`.
    pub fn line(&self, lang: Lang) -> String {
        let elapsed = self.started.elapsed();
        let entered = self.entered[self.at].unwrap_or(elapsed);
        self.plan
            .standing(self.at, elapsed, entered, lang.words().of)
    }
}

/// The keys a prompt offers: space always (with what it does here), `q` always, and these.
pub struct Offer {
    /// The words the prompt says it with.
    pub words: &'static Words,
    /// Said first, before the keys.
    pub title: String,
    /// What space (or Enter) does here: "more", "run", "the code".
    pub go: String,
    pub skip: bool,
    /// `Some(folded)`: `f` folds or unfolds comments; says which.
    pub fold: Option<bool>,
    pub next: bool,
    pub back: bool,
    /// `Some(full)`: `m` shows the whole notes (or, when `full`, the script again).
    pub notes: Option<bool>,
}

impl Offer {
    fn new(words: &'static Words, go: &str) -> Offer {
        Offer {
            words,
            title: String::new(),
            go: go.to_string(),
            skip: false,
            fold: None,
            next: true,
            back: true,
            notes: None,
        }
    }

    /// At the end of a page that goes on: the rest of this step's pages can be skipped.
    pub fn more(lang: Lang, fold: Option<bool>) -> Offer {
        let words = lang.words();
        Offer {
            skip: true,
            fold,
            ..Offer::new(words, words.more)
        }
    }

    /// After a stage's notes.
    pub fn notes(lang: Lang) -> Offer {
        Offer::new(lang.words(), lang.words().the_code)
    }

    /// After a diff; `folded`: whether its comment-only changes are folded now.
    pub fn diff(lang: Lang, folded: bool, demos: bool) -> Offer {
        let words = lang.words();
        Offer {
            fold: Some(folded),
            ..Offer::new(words, if demos { words.the_demos } else { words.go_on })
        }
    }

    /// Before a demo runs: space runs it, `s` skips it.
    pub fn demo(lang: Lang) -> Offer {
        Offer {
            skip: true,
            ..Offer::new(lang.words(), lang.words().run)
        }
    }

    /// At the end of a stage.
    pub fn end(lang: Lang, stage: &str, next: Option<&str>) -> Offer {
        let words = lang.words();
        let go = match next {
            Some(next) => format!("{} {next}", words.next),
            None => words.the_end.to_string(),
        };
        Offer {
            title: format!("{} {stage} —", words.end_of),
            next: false,
            ..Offer::new(words, &go)
        }
    }

    /// The prompt, one short line: `[space] run  [s] skip  [n] next stage  [b] back  [q] quit`.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if !self.title.is_empty() {
            parts.push(self.title.clone());
        }
        let w = self.words;
        parts.push(format!("[{}] {}", w.space, self.go));
        if self.skip {
            parts.push(format!("[s] {}", w.skip));
        }
        match self.fold {
            Some(true) => parts.push(format!("[f] {}", w.show_comments)),
            Some(false) => parts.push(format!("[f] {}", w.fold_comments)),
            None => {}
        }
        match self.notes {
            Some(false) => parts.push(format!("[m] {}", w.full_notes)),
            Some(true) => parts.push(format!("[m] {}", w.script)),
            None => {}
        }
        if self.next {
            parts.push(format!("[n] {}", w.next_stage));
        }
        if self.back {
            parts.push(format!("[b] {}", w.back));
        }
        parts.push(format!("[q] {}", w.quit));
        parts.join("  ")
    }

    pub fn keys(&self) -> Vec<Key> {
        let mut keys = vec![Key::Go, Key::Quit];
        for (on, key) in [
            (self.skip, Key::Skip),
            (self.fold.is_some(), Key::Fold),
            (self.notes.is_some(), Key::Notes),
            (self.next, Key::Next),
            (self.back, Key::Back),
        ] {
            if on {
                keys.push(key);
            }
        }
        keys
    }
}

impl Screen {
    pub fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{}", style::RESET)
        } else {
            text.to_string()
        }
    }

    pub fn clear(&mut self) -> Result<()> {
        if self.interactive {
            write_out("\x1b[H\x1b[2J")?;
        } else {
            write_out("\n")?;
        }
        self.used = 0;
        Ok(())
    }

    pub fn blank(&mut self) -> Result<Option<Key>> {
        self.line("", None)
    }

    /// Prints one line (already fitted to the width); on a full screen, waits for a key first,
    /// offering `more` (the keys of the step being shown). `Some(key)`: the presenter pressed
    /// another key than space, which ends this step's pages.
    pub fn line(&mut self, text: &str, more: Option<&Offer>) -> Result<Option<Key>> {
        let height = columns(text).max(1).div_ceil(self.cols.max(1));
        // The prompt's row, and the timer's above it.
        let kept = 1 + usize::from(self.timer.is_some());
        if self.interactive && self.used + height >= self.rows.saturating_sub(kept) {
            let default = Offer::more(self.lang, None);
            let key = self.ask(more.unwrap_or(&default))?;
            if key != Key::Go {
                return Ok(Some(key));
            }
        }
        write_out(&format!("{text}\n"))?;
        self.used += height;
        Ok(None)
    }

    /// Shows a prompt and waits for one of its keys (`--yes`: goes on at once).
    pub fn ask(&mut self, offer: &Offer) -> Result<Key> {
        if !self.interactive {
            return Ok(Key::Go);
        }
        terminal::raw()?;
        if let Some(timer) = &self.timer {
            write_out(&format!(
                "{}\r\n",
                self.paint(style::BOLD, &timer.line(self.lang))
            ))?;
        }
        write_out(&self.paint(style::CYAN, &offer.line()))?;
        let key = terminal::read_key(&offer.keys())?;
        // Erase the prompt (and the timer), so the screen shows the talk only.
        write_out("\r\x1b[2K")?;
        if self.timer.is_some() {
            write_out("\x1b[1A\x1b[2K")?;
        }
        self.used = 0;
        Ok(key)
    }
}

/// Writes to stdout and flushes. When the reader has gone (`present --yes | head`), the talk
/// ends quietly: the terminal put back, status 0.
pub fn write_out(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
            terminal::restore();
            std::process::exit(0)
        }
        Err(err) => Err(anyhow::Error::new(err).context("cannot write to stdout")),
        Ok(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prompt_fits_80_columns() {
        let longest = catalog::STAGES
            .iter()
            .map(|s| s.name)
            .max_by_key(|n| n.len())
            .unwrap();
        let mut offers = Vec::new();
        for &lang in Lang::ALL {
            offers.extend([
                Offer::notes(lang),
                Offer::demo(lang),
                Offer::end(lang, longest, Some(longest)),
                Offer::end(lang, longest, None),
                Offer::more(lang, None),
                Offer {
                    notes: Some(false),
                    ..Offer::more(lang, None)
                },
                Offer {
                    notes: Some(true),
                    ..Offer::notes(lang)
                },
            ]);
            for fold in [true, false] {
                offers.push(Offer::more(lang, Some(fold)));
                offers.push(Offer::diff(lang, fold, true));
                offers.push(Offer::diff(lang, fold, false));
            }
        }
        for offer in offers {
            // Characters, not bytes: an accented letter takes one column of the terminal.
            let shown = offer.line().chars().count();
            assert!(shown < 80, "{}", offer.line());
            // Every key the line names is a key the prompt takes, and the other way round.
            let keys = offer.keys();
            assert_eq!(offer.line().contains("[s]"), keys.contains(&Key::Skip));
            assert_eq!(offer.line().contains("[f]"), keys.contains(&Key::Fold));
            assert_eq!(offer.line().contains("[n]"), keys.contains(&Key::Next));
            assert_eq!(offer.line().contains("[b]"), keys.contains(&Key::Back));
            assert_eq!(offer.line().contains("[m]"), keys.contains(&Key::Notes));
        }
    }
}

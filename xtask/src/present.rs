//! `cargo xtask present [STAGE] [--only] [--yes]`: step through the talk in one terminal.
//!
//! For each stage from STAGE (default: the first) to the last, or STAGE alone with `--only`:
//! the title and the slide notes (`slides/<stage>/README.md`, wrapped to the terminal), the diff
//! from the stage before, then the notes' demo commands, each run live inside the stage on a key
//! press. Keys: Enter (or space) runs a demo / goes on, `s` skips a demo (on notes or a diff: the
//! rest of the stage), `b` goes back one step, `q` (or Ctrl-D) quits, and so does Ctrl-C from any
//! prompt, a "more" one included (status 130); Ctrl-C while a demo runs is the demo's. Long pages
//! pause every screenful. The terminal is put in raw mode only while waiting for a key, and
//! restored on every way out (quit, error, panic, Ctrl-C).
//!
//! `--yes` runs the whole thing without a key press and without paging, demos included (the test
//! suite runs it so); it exits 1 if a demo ends with another status than its notes promise.
//! Output suits an 80×24 terminal and a projector: bold and the basic colours on the terminal's
//! own background, none at all off a terminal or with `NO_COLOR`.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use catalog::notes::{self, Demo};
use catalog::Stage;

use crate::diff;
use crate::rootfs;
use crate::util::{self, usage};

const USAGE: &str = "usage: cargo xtask present [STAGE] [--only] [--yes]";

/// The widest the notes are wrapped to, even on a wide terminal: long lines are hard to read.
const MAX_WIDTH: usize = 100;

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let mut yes = false;
    let mut only = false;
    let mut start: Option<&Stage> = None;
    for arg in &args {
        match util::utf8(arg)? {
            "--yes" | "-y" => yes = true,
            "--only" => only = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(0);
            }
            flag if flag.starts_with('-') => {
                return Err(usage(format!("unknown flag {flag:?}\n{USAGE}")))
            }
            name if start.is_none() => start = Some(util::stage(name)?),
            extra => return Err(usage(format!("unexpected argument {extra:?}\n{USAGE}"))),
        }
    }
    let first = start.unwrap_or(&catalog::STAGES[0]);
    let stages: Vec<&'static Stage> = catalog::STAGES
        .iter()
        .filter(|s| s.number == first.number || (!only && s.number > first.number))
        .collect();
    if !yes && !stdin_is_terminal() {
        return Err(usage(format!(
            "present waits for key presses on a terminal; use --yes to run it straight through\n{USAGE}"
        )));
    }

    // Everything the demos need is made before the talk starts, so it never stops for a build.
    let root = util::project_root();
    let mut talk = Vec::new();
    for stage in &stages {
        let notes_path = root.join("slides").join(stage.name).join("README.md");
        let text = std::fs::read_to_string(&notes_path)
            .with_context(|| format!("cannot read the notes {}", notes_path.display()))?;
        let demos =
            notes::demos(&text).map_err(|e| anyhow::anyhow!("{}: {e}", notes_path.display()))?;
        let binary = util::build_stage(stage, false)?;
        talk.push(Slide {
            stage,
            notes: text,
            demos,
            binary,
        });
    }
    let rootfs = if stages.iter().any(|s| s.needs_rootfs) {
        Some(rootfs::ensure()?)
    } else {
        None
    };

    let (cols, rows) = terminal_size();
    let mut out = Screen {
        interactive: !yes,
        color: diff::color_wanted(),
        width: cols.clamp(40, MAX_WIDTH),
        rows: rows.max(10),
        used: 0,
    };
    let _restore = (!yes).then(RawMode::save);
    present(&talk, &root, rootfs.as_deref(), &mut out)
}

/// One stage of the talk, ready to show.
struct Slide {
    stage: &'static Stage,
    notes: String,
    demos: Vec<Demo>,
    binary: PathBuf,
}

/// Where the presenter is: a stage's notes, its diff, one of its demos, or its end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    Notes(usize),
    Diff(usize),
    Demo(usize, usize),
    End(usize),
}

/// What the presenter pressed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Key {
    Go,
    Skip,
    Back,
    Quit,
}

fn present(talk: &[Slide], root: &Path, rootfs: Option<&Path>, out: &mut Screen) -> Result<u8> {
    let mut steps = Vec::new();
    for (i, slide) in talk.iter().enumerate() {
        steps.push(Step::Notes(i));
        steps.push(Step::Diff(i));
        steps.extend((0..slide.demos.len()).map(|d| Step::Demo(i, d)));
        steps.push(Step::End(i));
    }
    let mut failed: Vec<String> = Vec::new();
    let mut at = 0;
    while at < steps.len() {
        let step = steps[at];
        let key = match step {
            Step::Notes(i) => {
                show_notes(&talk[i], out)?;
                out.ask("[Enter] the code  [s] skip stage  [b] back  [q] quit")?
            }
            Step::Diff(i) => {
                show_diff(&talk[i], root, out)?;
                out.ask("[Enter] the demo  [s] skip stage  [b] back  [q] quit")?
            }
            Step::Demo(i, d) => {
                let demo = &talk[i].demos[d];
                out.blank()?;
                out.line(&out.paint(style::BOLD, &format!("$ {}", demo.command)))?;
                let key = out.ask("[Enter] run  [s] skip  [b] back  [q] quit")?;
                if key == Key::Go {
                    if let Some(problem) = run_demo(&talk[i], demo, rootfs, out)? {
                        failed.push(problem);
                    }
                }
                key
            }
            Step::End(i) => {
                let next = talk.get(i + 1).map_or("end of the talk".to_string(), |s| {
                    format!("next: {}", s.stage.name)
                });
                if out.interactive {
                    out.blank()?;
                    out.ask(&format!(
                        "end of {} — [Enter] {next}  [b] back  [q] quit",
                        talk[i].stage.name
                    ))?
                } else {
                    Key::Go
                }
            }
        };
        match key {
            Key::Go => at += 1,
            Key::Skip => {
                at = match step {
                    // On notes or a diff, skip the rest of the stage.
                    Step::Notes(i) | Step::Diff(i) => steps
                        .iter()
                        .position(|s| *s == Step::Notes(i + 1))
                        .unwrap_or(steps.len()),
                    _ => at + 1,
                }
            }
            Key::Back => at = at.saturating_sub(1),
            Key::Quit => break,
        }
    }
    if failed.is_empty() {
        return Ok(0);
    }
    for problem in &failed {
        eprintln!("xtask: present: {problem}");
    }
    Ok(1)
}

fn show_notes(slide: &Slide, out: &mut Screen) -> Result<()> {
    let stage = slide.stage;
    out.clear()?;
    let title = format!(
        "Stage {} of {} — {}",
        stage.number,
        catalog::STAGES.len(),
        stage.name
    );
    out.line(&out.paint(style::BOLD, &title))?;
    out.line(&"=".repeat(title.chars().count().min(out.width)))?;
    for line in wrap(stage.summary, out.width, "") {
        out.line(&line)?;
    }
    out.blank()?;
    for line in render_notes(&slide.notes, out.width) {
        let line = match line {
            Rendered::Heading(text) => out.paint(style::BOLD, &text),
            Rendered::Text(text) => text,
        };
        if !out.line(&line)? {
            break;
        }
    }
    Ok(())
}

fn show_diff(slide: &Slide, root: &Path, out: &mut Screen) -> Result<()> {
    let previous = catalog::previous(slide.stage);
    let new = diff::source(root, slide.stage)?;
    let old = match previous {
        Some(prev) => diff::source(root, prev)?,
        None => String::new(),
    };
    let counts = diff::counts(&old, &new);
    let heading = match previous {
        Some(prev) => format!(
            "What {} adds to {}: code +{} -{}, comments +{} -{}",
            slide.stage.name,
            prev.name,
            counts.code_added,
            counts.code_removed,
            counts.comments_added,
            counts.comments_removed
        ),
        None => format!(
            "The first stage, {}: {} lines of code, {} of comments",
            slide.stage.name, counts.code_added, counts.comments_added
        ),
    };
    out.blank()?;
    out.line(&out.paint(style::BOLD, &heading))?;
    let text = diff::stages(root, previous, slide.stage, out.color)?;
    for line in text.lines() {
        if !out.line(line)? {
            break;
        }
    }
    Ok(())
}

/// Runs one demo inside its stage, live; returns a complaint if it ended unlike its notes say.
fn run_demo(
    slide: &Slide,
    demo: &Demo,
    rootfs: Option<&Path>,
    out: &mut Screen,
) -> Result<Option<String>> {
    let stage = slide.stage;
    let mut cmd = if stage.needs_root && !util::is_root() {
        let mut sudo = Command::new("sudo");
        sudo.arg(format!("--preserve-env={}", rootfs::ENV_VAR))
            .arg("--")
            .arg(&slide.binary);
        sudo
    } else {
        Command::new(&slide.binary)
    };
    if let (true, Some(dir)) = (stage.needs_rootfs, rootfs) {
        cmd.env(rootfs::ENV_VAR, dir);
    }
    cmd.args(["run", "sh", "-c", &demo.command]);
    if !out.interactive {
        cmd.stdin(Stdio::null());
    }
    io::stdout().flush()?;
    // Ctrl-C during a demo is for the demo: the stage forwards it to the command, and this
    // process ignores it meanwhile. The child gets the default action back before it execs.
    // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            Ok(())
        });
    }
    let _ignore = IgnoreInterrupts::new();
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", slide.binary.display()))?;
    drop(_ignore);
    out.used = 0;
    let code = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        _ => -1,
    };
    if code == demo.exit {
        if code != 0 {
            out.line(&format!("(exit {code})"))?;
        }
        return Ok(None);
    }
    let complaint = format!(
        "{}: `{}` exited {code}, the notes expect {} (slides/{}/README.md line {})",
        stage.name, demo.command, demo.exit, stage.name, demo.line
    );
    out.line(&out.paint(
        style::BOLD,
        &format!("(exit {code}, the notes expect {})", demo.exit),
    ))?;
    Ok(Some(complaint))
}

/// Ignores SIGINT and SIGQUIT in this process while it lives.
struct IgnoreInterrupts;

impl IgnoreInterrupts {
    fn new() -> IgnoreInterrupts {
        // SAFETY: changing a signal's disposition to SIG_IGN has no memory-safety preconditions.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGQUIT, libc::SIG_IGN);
        }
        IgnoreInterrupts
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
        }
    }
}

mod style {
    pub const BOLD: &str = "\x1b[1m";
    pub const CYAN: &str = "\x1b[36m";
    pub const RESET: &str = "\x1b[0m";
}

/// The terminal the talk is shown on: what fits, and the pauses between screenfuls.
struct Screen {
    interactive: bool,
    color: bool,
    width: usize,
    rows: usize,
    /// Rows printed since the last key press.
    used: usize,
}

impl Screen {
    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{}", style::RESET)
        } else {
            text.to_string()
        }
    }

    fn clear(&mut self) -> Result<()> {
        if self.interactive {
            print!("\x1b[H\x1b[2J");
        } else {
            println!();
        }
        self.used = 0;
        Ok(())
    }

    fn blank(&mut self) -> Result<bool> {
        self.line("")
    }

    /// Prints one line; on a full screen, waits for a key first. `false`: the presenter asked
    /// to stop this page.
    fn line(&mut self, text: &str) -> Result<bool> {
        let height = visible_len(text).max(1).div_ceil(self.width.max(1));
        if self.interactive && self.used + height >= self.rows - 1 {
            let key = self.ask("-- more: [Enter] next page  [q] end of page --")?;
            if key == Key::Quit || key == Key::Skip {
                return Ok(false);
            }
        }
        println!("{text}");
        self.used += height;
        Ok(true)
    }

    /// Shows a prompt and waits for a key (`--yes`: goes on at once).
    fn ask(&mut self, prompt: &str) -> Result<Key> {
        if !self.interactive {
            return Ok(Key::Go);
        }
        print!("{}", self.paint(style::CYAN, prompt));
        io::stdout().flush()?;
        let key = read_key()?;
        // Erase the prompt, so the screen shows the talk only.
        print!("\r\x1b[2K");
        io::stdout().flush()?;
        self.used = 0;
        Ok(key)
    }
}

/// Characters a line takes on screen, colour escapes left out.
fn visible_len(text: &str) -> usize {
    let mut len = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, '\t') => len += 8 - len % 8,
            (false, _) => len += 1,
        }
    }
    len
}

/// One line of rendered notes.
#[derive(Debug, PartialEq)]
enum Rendered {
    Heading(String),
    Text(String),
}

/// The notes as plain terminal text: the `#` title dropped (the slide title replaces it),
/// headings set apart, paragraphs and list items wrapped to `width`, links shown by their text,
/// code blocks kept as they are, and of demo blocks only the commands (they run live after the
/// diff, where their output shows).
fn render_notes(markdown: &str, width: usize) -> Vec<Rendered> {
    let mut lines = Vec::new();
    let mut paragraph = String::new();
    let mut indent = "";
    let mut fence: Option<(String, bool)> = None;
    let flush = |paragraph: &mut String, indent: &str, lines: &mut Vec<Rendered>| {
        if !paragraph.is_empty() {
            let first = indent.replace("  ", "- ");
            for (i, line) in wrap(&strip_links(paragraph), width, indent)
                .into_iter()
                .enumerate()
            {
                let line = if i == 0 && !indent.is_empty() {
                    format!("{first}{}", &line[indent.len()..])
                } else {
                    line
                };
                lines.push(Rendered::Text(line));
            }
            paragraph.clear();
        }
    };
    for raw in markdown.lines() {
        let line = raw.trim_end();
        if let Some((ticks, is_demo)) = &fence {
            if line.trim_start().starts_with(ticks.as_str())
                && line.trim().trim_matches('`').is_empty()
            {
                lines.push(Rendered::Text(String::new()));
                fence = None;
            } else if !is_demo {
                lines.push(Rendered::Text(format!("    {line}")));
            } else if line.starts_with("$ ") {
                // Of a demo, only the command: its output comes live, after the diff.
                lines.push(Rendered::Text(format!("    {line}")));
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            flush(&mut paragraph, indent, &mut lines);
            let ticks_len = trimmed.len() - trimmed.trim_start_matches('`').len();
            let is_demo = trimmed[ticks_len..].trim() == notes::FENCE_INFO;
            fence = Some((trimmed[..ticks_len].to_string(), is_demo));
            continue;
        }
        if line.is_empty() {
            flush(&mut paragraph, indent, &mut lines);
            if lines
                .last()
                .is_some_and(|l| *l != Rendered::Text(String::new()))
            {
                lines.push(Rendered::Text(String::new()));
            }
            continue;
        }
        if let Some(heading) = line.strip_prefix('#') {
            flush(&mut paragraph, indent, &mut lines);
            if !heading.starts_with('#') {
                continue; // the title
            }
            lines.push(Rendered::Heading(
                heading.trim_start_matches('#').trim().to_string(),
            ));
            continue;
        }
        if trimmed.starts_with('|') {
            flush(&mut paragraph, indent, &mut lines);
            lines.push(Rendered::Text(line.to_string()));
            continue;
        }
        if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            flush(&mut paragraph, indent, &mut lines);
            indent = "  ";
            paragraph.push_str(item);
            continue;
        }
        if !paragraph.is_empty() {
            paragraph.push(' ');
        } else {
            indent = "";
        }
        paragraph.push_str(trimmed);
    }
    flush(&mut paragraph, indent, &mut lines);
    while lines.last() == Some(&Rendered::Text(String::new())) {
        lines.pop();
    }
    lines
}

/// `[text](url)` → `text`.
fn strip_links(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find("](") else { break };
        let Some(end) = after[close + 2..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&after[..close]);
        rest = &after[close + 2 + end + 1..];
    }
    out.push_str(rest);
    out
}

/// Greedy word wrap; every line starts with `indent`. A `code span` that fits a line stays on one;
/// a word (or span) longer than the width gets a line of its own.
fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::from(indent);
    for word in words(text, width.saturating_sub(indent.len())) {
        let len = line.chars().count();
        if len > indent.len() && len + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut line, String::from(indent)));
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if line.len() > indent.len() {
        lines.push(line);
    }
    lines
}

/// The words of `text`, a `code span` with spaces counting as one word when it is at most
/// `longest` characters long.
fn words(text: &str, longest: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut span: Vec<&str> = Vec::new();
    for word in text.split_whitespace() {
        let ticks = word.matches('`').count();
        if span.is_empty() && ticks % 2 == 0 {
            out.push(word.to_string());
            continue;
        }
        span.push(word);
        if span.len() > 1 && ticks % 2 == 1 {
            let joined = span.join(" ");
            if joined.chars().count() <= longest {
                out.push(joined);
            } else {
                out.extend(span.iter().map(|w| w.to_string()));
            }
            span.clear();
        }
    }
    out.extend(span.iter().map(|w| w.to_string()));
    out
}

fn stdin_is_terminal() -> bool {
    // SAFETY: isatty only inspects a file descriptor number.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// Columns and rows of the terminal on stdout, or 80×24 when it is none.
fn terminal_size() -> (usize, usize) {
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass, and nothing else.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 && size.ws_row > 0 {
        (usize::from(size.ws_col), usize::from(size.ws_row))
    } else {
        (80, 24)
    }
}

/// The terminal's settings from before the talk, for every way out to put back.
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);

/// Saves the terminal's settings and restores them when dropped, and on a panic.
struct RawMode;

impl RawMode {
    fn save() -> RawMode {
        // SAFETY: tcgetattr fills the termios we pass.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } == 0 {
            *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = Some(saved);
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        }
        RawMode
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

fn restore() {
    if let Some(saved) = *SAVED.lock().unwrap_or_else(|p| p.into_inner()) {
        // SAFETY: tcsetattr reads the termios we pass.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSAFLUSH, &saved) };
    }
}

/// Reads one key with the terminal in raw mode (no line buffering, no echo, and Ctrl-C as a key,
/// so it cannot kill us with the terminal left raw), then puts the terminal back.
fn read_key() -> Result<Key> {
    let saved = (*SAVED.lock().unwrap_or_else(|p| p.into_inner())).context("no terminal saved")?;
    let mut raw = saved;
    raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
    raw.c_cc[libc::VMIN] = 1;
    raw.c_cc[libc::VTIME] = 0;
    // SAFETY: tcsetattr reads the termios we pass.
    if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSAFLUSH, &raw) } != 0 {
        bail!(
            "cannot set the terminal to raw mode: {}",
            io::Error::last_os_error()
        );
    }
    let key = loop {
        let mut byte = [0u8; 1];
        match io::stdin().read(&mut byte) {
            Ok(0) => break Key::Quit,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                restore();
                return Err(err).context("cannot read a key");
            }
        }
        match byte[0] {
            b'\r' | b'\n' | b' ' => break Key::Go,
            b's' | b'S' => break Key::Skip,
            b'b' | b'B' => break Key::Back,
            // q, Ctrl-D.
            b'q' | b'Q' | 4 => break Key::Quit,
            // Ctrl-C leaves at once, from any prompt, the terminal put back first, with the
            // status of a shell interrupted by SIGINT.
            3 => {
                restore();
                println!();
                std::process::exit(130);
            }
            // Anything else (arrow keys' escape sequences included) is ignored.
            _ => {}
        }
    };
    restore();
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_to_the_width() {
        let lines = wrap("one two three four five six", 10, "");
        assert_eq!(lines, vec!["one two", "three four", "five six"]);
        assert!(wrap("a b c", 10, "  ").iter().all(|l| l.starts_with("  ")));
        assert_eq!(wrap("xx `ip link`", 10, ""), vec!["xx", "`ip link`"]);
        assert_eq!(wrap("xx `a b c d e f`", 8, ""), vec!["xx `a b", "c d e f`"]);
        assert_eq!(
            wrap("unbreakablewordhere x", 5, ""),
            vec!["unbreakablewordhere", "x"]
        );
    }

    #[test]
    fn renders_notes_without_title_links_or_demos() {
        let md = "# Stage 1 — x\n\nSee [clone(2)](https://man7.org/x) and\nmore.\n\n## Demo\n\n```demo\n$ true\nexpected\n```\n\n- an item that is long enough to wrap around\n";
        let lines = render_notes(md, 20);
        assert!(!lines.contains(&Rendered::Text("    expected".into())));
        assert_eq!(lines[0], Rendered::Text("See clone(2) and".into()));
        assert_eq!(lines[1], Rendered::Text("more.".into()));
        assert!(lines.contains(&Rendered::Heading("Demo".into())));
        assert!(lines.contains(&Rendered::Text("    $ true".into())));
        // A list item wraps with a hanging indent.
        let tail = &lines[lines.len() - 3..];
        assert_eq!(
            tail,
            ["- an item that is", "  long enough to", "  wrap around"]
                .map(|t| Rendered::Text(t.into()))
        );
    }

    #[test]
    fn visible_length_skips_colours() {
        assert_eq!(visible_len("\x1b[1;32m+abc\x1b[0m"), 4);
    }
}

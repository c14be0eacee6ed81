//! `cargo xtask present` on a real terminal, driven as a presenter drives it: an interactive
//! bash on a pseudo-terminal of 80×24 that this test opens itself (openpty, then setsid and
//! TIOCSCTTY in the child, so bash is a session leader with job control, as in a terminal
//! emulator), runs `xtask present` as a foreground job, and the test presses space at every
//! prompt, through every stage and every live demo, start to end, reading the screen.
//!
//! It fails when bash reports the job stopped (a demo kept the terminal and `present` got
//! SIGTTOU or SIGTTIN), when `present` cannot set raw mode, when nothing new shows for too long
//! (a hang), or when the terminal is not left as it was found (`stty -g` before and after).
//! The other tests here press `q`, Ctrl-C at a prompt, and Ctrl-C as a demo starts, and give
//! one stage in Spanish (`--lang es`). bash runs in the C locale, so the talk is English unless
//! `--lang` says otherwise.

use std::process::Command;
use std::time::{Duration, Instant};

use testkit::terminal::{Terminal, QUIET_LIMIT};
use testkit::LeakCheck;

/// The shell `present` runs under, as on a presenter's terminal.
const BASH: [&str; 4] = ["bash", "--norc", "--noprofile", "-i"];

/// `present`'s own steps on the shared terminal.
trait Present {
    fn start_present(&mut self, args: &str) -> usize;
    fn next_prompt(&mut self, from: usize) -> Option<String>;
}

impl Present for Terminal {
    /// Runs `present ARGS` as a foreground job of bash; returns the byte where its output
    /// starts ([`Terminal::finish`] waits for its end).
    fn start_present(&mut self, args: &str) -> usize {
        let xtask = testkit::xtask_bin();
        self.start(&format!("{} present {args}", xtask.display()))
    }

    /// Waits for the next prompt of `present` after byte `from`: a line of keys ending in
    /// `[q] quit` (or any `[q]` key), shown and then nothing more, since it waits for a key.
    /// `None`: the shell's prompt came back instead (the talk has ended).
    fn next_prompt(&mut self, from: usize) -> Option<String> {
        let mut last_news = Instant::now();
        loop {
            let text = self.text_since(from);
            self.check(&text, "a prompt");
            if text.contains("@status=") {
                return None;
            }
            if self.read_some(Duration::from_millis(100)) {
                last_news = Instant::now();
                continue;
            }
            // Quiet for a moment: if the last line is a prompt, present waits for a key (it
            // sets raw mode before it prints one, so a key typed now is not lost).
            let tail = text.rsplit(['\n', '\r']).find(|l| !l.trim().is_empty());
            if let Some(prompt) = tail.filter(|l| l.contains("[q]")) {
                return Some(prompt.trim().to_string());
            }
            if last_news.elapsed() > QUIET_LIMIT {
                self.fail(&format!("hang: no prompt for {QUIET_LIMIT:?}"));
            }
        }
    }
}

fn ready() -> bool {
    testkit::require_root()
        && testkit::require(
            Command::new("bash").arg("--version").output().is_ok(),
            "bash is not installed",
        )
}

#[test]
fn present_runs_the_whole_talk_on_a_terminal() {
    if !ready() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let mut term = Terminal::open(&BASH);
    let from = term.start_present("");
    let mut prompts = 0;
    let mut at = from;
    while let Some(prompt) = term.next_prompt(at) {
        prompts += 1;
        assert!(prompts < 2000, "no end after {prompts} prompts: {prompt}");
        at = term.screen.len();
        term.press(b" ");
    }
    let shown = term.text_since(from);
    let (code, tty) = term.finish(from);
    term.close();
    leaks.assert_clean();
    assert_eq!(code, 0, "present exited {code}:\n{shown}");
    assert_eq!(tty, "same", "present left the terminal's settings changed");
    // Every stage was shown, with every demo of its notes, and the demos ran.
    for stage in catalog::STAGES {
        let title = format!("Stage {} of {}", stage.number(), catalog::STAGES.len());
        assert!(shown.contains(&title), "no {title:?} on the terminal");
    }
    assert!(
        shown.lines().any(|l| l.trim() == "container"),
        "the uts demo's `hostname` did not print the container's name:\n{shown}"
    );
}

#[test]
fn present_quits_on_q_and_on_ctrl_c_leaving_the_terminal_as_found() {
    if !ready() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let mut term = Terminal::open(&BASH);
    // q at the first prompt: the talk ends, status 0.
    let from = term.start_present("pid --only");
    term.next_prompt(from).expect("a first prompt");
    term.press(b"q");
    assert_eq!(term.finish(from), (0, "same".to_string()), "q");

    // Ctrl-C at a prompt: status 130, as a shell interrupted by SIGINT.
    let from = term.start_present("pid --only");
    term.next_prompt(from).expect("a first prompt");
    term.press(b"\x03");
    assert_eq!(term.finish(from), (130, "same".to_string()), "Ctrl-C");
    term.close();
    leaks.assert_clean();
}

#[test]
fn ctrl_c_as_a_demo_starts_leaves_the_terminal_as_found() {
    if !ready() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let mut term = Terminal::open(&BASH);
    let from = term.start_present("pid --only");
    // Space up to the first demo's prompt, then run it and press Ctrl-C at once: it reaches the
    // demo (whose stage forwards it to the command) or, if the demo was quicker, the next
    // prompt (which quits, status 130). Either way nothing stops and the terminal is as it was.
    let mut at = from;
    loop {
        let prompt = term.next_prompt(at).expect("the talk ended before a demo");
        at = term.screen.len();
        if prompt.contains("run") {
            break;
        }
        term.press(b" ");
    }
    term.press(b" \x03");
    if term.next_prompt(at).is_some() {
        term.press(b"q");
    }
    let (code, tty) = term.finish(from);
    term.close();
    leaks.assert_clean();
    assert_eq!(tty, "same");
    assert!([0, 1, 130].contains(&code), "present exited {code}");
}

#[test]
fn present_in_spanish_on_a_terminal() {
    if !ready() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let mut term = Terminal::open(&BASH);
    let from = term.start_present("pid --only --lang es");
    let mut prompts = Vec::new();
    let mut at = from;
    while let Some(prompt) = term.next_prompt(at) {
        assert!(prompts.len() < 200, "no end after 200 prompts: {prompt}");
        prompts.push(prompt);
        at = term.screen.len();
        term.press(b" ");
    }
    let shown = term.text_since(from);
    let (code, tty) = term.finish(from);
    term.close();
    leaks.assert_clean();
    assert_eq!(code, 0, "present exited {code}:\n{shown}");
    assert_eq!(tty, "same", "present left the terminal's settings changed");
    assert!(shown.contains("Etapa 4 de"), "{shown}");
    // Every prompt in Spanish, on one line of the 80-column terminal.
    for prompt in &prompts {
        assert!(
            prompt.contains("[espacio]") && prompt.ends_with("[q] salir"),
            "{prompt}"
        );
        assert!(prompt.chars().count() < 80, "{prompt}");
    }
    assert!(
        prompts.iter().any(|p| p.contains("ejecutar")),
        "{prompts:?}"
    );
    assert!(
        prompts.iter().any(|p| p.starts_with("fin de pid")),
        "{prompts:?}"
    );
    // The demos ran, and printed what they print in English: the shell is PID 2, its parent 1.
    assert!(shown.lines().any(|l| l.trim() == "2 1"), "{shown}");
}

/// `present --yes` on a terminal, where a demo's output and its stage's teaching lines (stderr)
/// share the screen: no line is wider than the terminal. A demo whose output does not end in a
/// newline (pivot's `ls /dev | tr '\n' ' '`) once had the runtime's next line,
/// `parent: ip address delete …`, glued to it: 118 columns.
#[test]
fn present_yes_on_a_terminal_keeps_each_line_within_it() {
    if !ready() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let mut term = Terminal::open(&BASH);
    let from = term.start_present("--yes");
    let (code, _) = term.finish(from);
    // From the line after the one typed, which the shell echoed.
    let typed = term.text_since(from);
    let shown = typed
        .split_once('\n')
        .map_or("", |(_, rest)| rest)
        .to_string();
    term.close();
    leaks.assert_clean();
    assert_eq!(code, 0, "present exited {code}:\n{shown}");
    let wide: Vec<&str> = shown
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| l.chars().count() > 80)
        .collect();
    assert!(
        wide.is_empty(),
        "wider than the terminal:\n{}",
        wide.join("\n")
    );
}

/// The timer line `present --route` shows above a prompt (`pid · 12:40 of 45:00 · +1:10`):
/// the stage, the time spent, the plan's whole and how late; `None` for any other line.
fn timer_line(line: &str, total: &str) -> Option<String> {
    let parts: Vec<&str> = line.trim().split(" · ").collect();
    let [stage, clock, late] = parts[..] else {
        return None;
    };
    let time = |t: &str| {
        t.split_once(':').is_some_and(|(m, s)| {
            m.parse::<u32>().is_ok() && s.len() == 2 && s.parse::<u32>().is_ok()
        })
    };
    let (spent, whole) = clock.split_once(" of ")?;
    let signed = late.strip_prefix(['+', '-'])?;
    (time(spent) && whole == total && time(signed)).then(|| stage.to_string())
}

/// A route walked as a presenter walks it: the `original` route (the Go talk's seven stages,
/// with their demos), space at every prompt, `m` once for the whole notes. Above every prompt,
/// the line that says where the talk stands against the plan; each stage opens with its
/// script; only the route's stages and demos are shown.
#[test]
fn present_walks_a_route_with_its_timer_and_script() {
    if !ready() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let route = catalog::route("original").expect("the original route");
    let mut term = Terminal::open(&BASH);
    let from = term.start_present("--route original");
    let mut prompts = Vec::new();
    let mut at = from;
    let mut pressed_m = false;
    while let Some(prompt) = term.next_prompt(at) {
        assert!(prompts.len() < 500, "no end after 500 prompts: {prompt}");
        // The line above the prompt.
        let shown = term.text_since(at);
        let lines: Vec<&str> = shown
            .split(['\n', '\r'])
            .filter(|l| !l.trim().is_empty())
            .collect();
        let above = lines.iter().rev().nth(1).copied().unwrap_or("");
        let stage = timer_line(above, "30:00");
        assert!(
            stage.is_some(),
            "no timer line above the prompt {prompt:?}: {above:?}"
        );
        prompts.push((stage.unwrap(), prompt.clone()));
        at = term.screen.len();
        if !pressed_m && prompt.contains("[m] notes") {
            pressed_m = true;
            term.press(b"m");
        } else {
            term.press(b" ");
        }
    }
    let shown = term.text_since(from);
    let (code, tty) = term.finish(from);
    term.close();
    leaks.assert_clean();
    assert_eq!(code, 0, "present exited {code}:\n{shown}");
    assert_eq!(tty, "same", "present left the terminal's settings changed");
    assert!(pressed_m, "no prompt offered the whole notes ([m] notes)");
    // The whole notes after `m`: base1's first section; and each stage's script.
    assert!(
        shown.contains("What the audience should see"),
        "`m` did not show the notes"
    );
    assert!(
        shown.matches("\nScript").count() >= route.stops.len(),
        "{shown}"
    );
    // The route's stages, in order, each named by its timer line; no other stage.
    let mut seen: Vec<String> = prompts.iter().map(|(s, _)| s.clone()).collect();
    seen.dedup();
    let want: Vec<&str> = route.stops.iter().map(|s| s.stage).collect();
    assert_eq!(seen, want);
    assert!(
        !shown.contains("Stage 8 of"),
        "a stage off the route was shown"
    );
    // cgroups' fork bomb is on the route; its 10 MiB demo is not.
    assert!(shown.contains("seq 30"), "{shown}");
    assert!(
        !shown.contains("10 * mib"),
        "a demo off the route was shown"
    );
}

/// `present --route original --rehearse`: every demo of the route run once, each on a line of
/// its own with its time, and the verdict: ready, exit 0.
#[test]
fn present_rehearses_a_route() {
    if !testkit::require_root() {
        return;
    }
    let _serial = testkit::serial();
    let leaks = LeakCheck::start();
    let route = catalog::route("original").expect("the original route");
    let mut cmd = Command::new(testkit::xtask_bin());
    cmd.args(["present", "--route", "original", "--rehearse"]);
    let run = testkit::run_cmd_within(&mut cmd, Duration::from_secs(300));
    leaks.assert_clean();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let demos: usize = route.stops.iter().map(|s| s.demos.len()).sum();
    let ok = run.stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(ok, demos, "{}", run.stdout);
    assert!(
        run.stdout.contains("rehearse: --route original: ") && run.stdout.contains(": ready"),
        "{}",
        run.stdout
    );
}

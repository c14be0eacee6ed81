//! The `console` stage on a real terminal (a pseudo-terminal the test opens, with a shell on it,
//! as a presenter's): the container gets a terminal of its own, and nothing it does to that
//! terminal outlives it. The TIOCSTI attack itself is `tests/attacks.rs`'s `tty`; here, what else
//! a process can do to a terminal it holds (its settings), and what must keep working through
//! the relay: an interactive shell, Ctrl-C, Ctrl-Z and job control, the window's size, exit
//! codes, and pipes that stay pipes.

use testkit::container_test;
use testkit::terminal::Terminal;

/// The stages with a console, and the one before them, which hands over its own terminal.
const CONSOLES: [(&str, &str); 3] = [("console", ""), ("full", ""), ("full", "--rootless")];

fn stage_line(stage: &str, args: &str, command: &str) -> String {
    format!("{} run -q {args} {command}", testkit::bin(stage).display())
}

#[test]
fn a_setting_changed_inside_does_not_outlive_the_container() {
    container_test(|| {
        let mut term = Terminal::open(&["sh", "-i"]);
        // The stage before: the container changes our terminal, for good.
        let line = stage_line("seccomp", "", "stty -echo -icanon");
        assert_eq!(term.run(&line), (0, "changed".to_string()), "seccomp");
        term.run("stty echo icanon");
        for (stage, args) in CONSOLES {
            let line = stage_line(stage, args, "stty -echo -icanon");
            let (code, settings) = term.run(&line);
            assert_eq!(code, 0, "{stage} {args}");
            assert_eq!(settings, "same", "{stage} {args} left the terminal changed");
        }
        term.close();
    });
}

#[test]
fn an_interactive_shell_inside_keeps_ctrl_c_ctrl_z_the_window_and_its_status() {
    container_test(|| {
        for (stage, args) in CONSOLES {
            let mut term = Terminal::open(&["sh", "-i"]);
            let from = term.start(&stage_line(stage, args, "sh"));
            term.wait_for(from, "the container's prompt", |t| {
                t.contains("[container]")
            });
            let at = term.screen.len();
            // A terminal of its own, the size of ours.
            term.press(b"[ -t 0 ] && [ -t 1 ] && echo \"tty=\"$(stty size)\n");
            term.wait_for(at, "the size", |t| t.contains("tty=24 80"));
            // Ctrl-C stops the command in the foreground, not the shell.
            let at = term.screen.len();
            term.press(b"sleep 30\n");
            term.wait_for(at, "sleep to start", |t| t.contains("sleep 30"));
            std::thread::sleep(std::time::Duration::from_millis(300));
            term.press(b"\x03echo after-\"ctrl-c\"\n");
            term.wait_for(at, "Ctrl-C", |t| t.contains("after-ctrl-c"));
            // Ctrl-Z stops it; job control resumes and ends it.
            term.stops_expected = true;
            let at = term.screen.len();
            term.press(b"sleep 31\n");
            term.wait_for(at, "sleep to start", |t| t.contains("sleep 31"));
            std::thread::sleep(std::time::Duration::from_millis(300));
            term.press(b"\x1a");
            term.wait_for(at, "Ctrl-Z", |t| t.contains("Stoppe"));
            let at = term.screen.len();
            term.press(b"kill -9 %1; wait; echo \"killed=\"$?\n");
            term.wait_for(at, "the job's end", |t| t.contains("killed="));
            // Our window resized: the size inside follows (SIGWINCH, TIOCSWINSZ).
            term.resize(30, 100);
            std::thread::sleep(std::time::Duration::from_millis(300));
            let at = term.screen.len();
            term.press(b"echo \"size=\"$(stty size)\n");
            term.wait_for(at, "the new size", |t| t.contains("size=30 100"));
            term.press(b"exit 3\n");
            let (code, settings) = term.finish(from);
            assert_eq!(code, 3, "{stage} {args}: the shell's status");
            assert_eq!(settings, "same", "{stage} {args}: our terminal as it was");
            term.close();
        }
    });
}

#[test]
fn without_a_terminal_pipes_stay_pipes() {
    container_test(|| {
        for (stage, args) in CONSOLES {
            let mut run: Vec<&str> = args.split_whitespace().collect();
            run.extend(["sh", "-c", "[ -t 0 ] || [ -t 1 ] || [ -t 2 ] || echo pipes"]);
            let out = testkit::stage(stage, &run);
            out.expect_code(0);
            assert_eq!(out.stdout.trim(), "pipes", "{stage} {args}: {}", out.stderr);
        }
    });
}

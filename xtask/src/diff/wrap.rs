//! Fitting a line to a width: its columns on screen (colour escapes left out) and breaking it
//! at a space, each further line marked with [`CONTINUED`]. The diff and `present` share these.

/// Where a wrapped line goes on.
pub const CONTINUED: &str = "↪ ";

/// Columns a line takes, colour escapes left out. Counted in bytes, a little more than the
/// characters when there are accents or dashes: a line that fits so fits on any terminal, and
/// tools that count bytes (mawk's `length`) agree.
pub fn columns(text: &str) -> usize {
    let mut len = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, '\t') => len += 8 - len % 8,
            (false, c) => len += c.len_utf8(),
        }
    }
    len
}

/// Breaks a line (without escapes) into lines of at most `width` [`columns`]: at the last
/// space that leaves a useful piece, else anywhere. Each line after the first starts with
/// `lead` and [`CONTINUED`].
pub fn break_line(text: &str, width: usize, lead: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest = text.to_string();
    let lead = format!("{lead}{CONTINUED}");
    // A lead too long for the width would leave no room: keep the marker only.
    let lead = if columns(&lead) + 10 > width {
        CONTINUED.to_string()
    } else {
        lead
    };
    let mut first = true;
    loop {
        let prefix = if first { "" } else { lead.as_str() };
        let room = width.saturating_sub(columns(prefix)).max(1);
        if columns(&rest) <= room {
            lines.push(format!("{prefix}{rest}"));
            return lines;
        }
        // The longest head of `rest` that fits, on a character boundary.
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            if columns(&rest[..i + c.len_utf8()]) > room {
                break;
            }
            end = i + c.len_utf8();
        }
        let end = end.max(rest.chars().next().map_or(1, char::len_utf8));
        // Break after a space in the right part of the head, so words stay whole.
        let start = rest.len() - rest.trim_start().len();
        let cut = match rest[..end].rfind(' ') {
            Some(space) if space > start && space >= end / 2 => space + 1,
            _ => end,
        };
        lines.push(format!("{prefix}{}", rest[..cut].trim_end()));
        rest = rest[cut..].trim_start().to_string();
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_break_at_a_space_with_a_marker() {
        let line = format!("+    let x = {};", "word ".repeat(30));
        let lines = break_line(&line, 40, "+    ");
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| columns(l) <= 40), "{lines:?}");
        assert!(
            lines[1..].iter().all(|l| l.starts_with("+    ↪ ")),
            "{lines:?}"
        );
        let mut joined = lines[0].clone();
        for l in &lines[1..] {
            joined.push(' ');
            joined.push_str(l.strip_prefix("+    ↪ ").unwrap());
        }
        let words = |t: &str| t.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(words(&joined), words(&line), "nothing lost");
        // No space to break at: cut anywhere, nothing lost.
        let long = "x".repeat(100);
        let lines = break_line(&long, 30, "");
        assert!(lines.iter().all(|l| columns(l) <= 30), "{lines:?}");
        assert_eq!(
            lines.concat().replace(CONTINUED, "").chars().count(),
            100,
            "{lines:?}"
        );
        assert_eq!(break_line("short", 30, ""), vec!["short"]);
    }

    #[test]
    fn columns_count_bytes_and_skip_colours() {
        assert_eq!(columns("\x1b[1;32m+abc\x1b[0m"), 4);
        assert_eq!(columns("a — b"), 7);
    }
}

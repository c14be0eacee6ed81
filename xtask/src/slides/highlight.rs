//! Rust, highlighted for the code pages: one line at a time, each token a `<span>` of its class.

use std::fmt::Write as _;

use super::html::esc;

/// Rust keywords the highlighter marks.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while",
];

/// One line of Rust, highlighted: keywords, types, macros, strings, chars, numbers,
/// attributes and comments, each a `<span>` of its class. Line by line: a string that goes on
/// to the next line is coloured as code there (rare in the slides, and harmless).
pub fn highlight(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::new();
    let span = |out: &mut String, class: &str, text: &[char]| {
        let text: String = text.iter().collect();
        let _ = write!(out, "<span class=\"{class}\">{}</span>", esc(&text));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            span(&mut out, "c", &chars[i..]);
            break;
        }
        let raw = c == 'r' && matches!(next, Some('"' | '#'));
        if c == '"' || (c == 'b' && next == Some('"')) || raw {
            let mut j = i + 1;
            if raw {
                let hashes = chars[j..].iter().take_while(|&&h| h == '#').count();
                j += hashes + 1;
                let close: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat('#').take(hashes))
                    .collect();
                while j < chars.len() && !chars[j..].starts_with(&close) {
                    j += 1;
                }
                j = (j + close.len()).min(chars.len());
            } else {
                if c == 'b' {
                    j += 1;
                }
                while j < chars.len() {
                    match chars[j] {
                        '\\' => j += 2,
                        '"' => {
                            j += 1;
                            break;
                        }
                        _ => j += 1,
                    }
                }
                j = j.min(chars.len());
            }
            span(&mut out, "s", &chars[i..j]);
            i = j;
            continue;
        }
        if c == '\'' {
            // A char literal ('a', '\n', '\u{1F600}'), else a lifetime ('a, 'static).
            let end = if next == Some('\\') {
                // The escaped character itself may be a quote: look past it.
                chars
                    .get(i + 3..)
                    .and_then(|rest| rest.iter().position(|&x| x == '\''))
                    .map(|p| i + 3 + p + 1)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            if let Some(end) = end {
                span(&mut out, "s", &chars[i..end]);
                i = end;
            } else {
                let j = i
                    + 1
                    + chars[i + 1..]
                        .iter()
                        .take_while(|x| x.is_alphanumeric() || **x == '_')
                        .count();
                span(&mut out, "l", &chars[i..j]);
                i = j;
            }
            continue;
        }
        if c == '#' && matches!(next, Some('[' | '!')) {
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                match chars[j] {
                    '[' => depth += 1,
                    ']' => {
                        depth -= 1;
                        if depth == 0 {
                            j += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            span(&mut out, "a", &chars[i..j.min(chars.len())]);
            i = j.min(chars.len());
            continue;
        }
        if c.is_ascii_digit() {
            let j = i + chars[i..]
                .iter()
                .take_while(|x| x.is_ascii_alphanumeric() || **x == '_')
                .count();
            span(&mut out, "n", &chars[i..j]);
            i = j;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let j = i + chars[i..]
                .iter()
                .take_while(|x| x.is_alphanumeric() || **x == '_')
                .count();
            let word: String = chars[i..j].iter().collect();
            if chars.get(j) == Some(&'!') && chars.get(j + 1) != Some(&'=') {
                span(&mut out, "m", &chars[i..=j]);
                i = j + 1;
                continue;
            }
            if KEYWORDS.contains(&word.as_str()) {
                span(&mut out, "k", &chars[i..j]);
            } else if c.is_uppercase() {
                span(&mut out, "t", &chars[i..j]);
            } else {
                out.push_str(&esc(&word));
            }
            i = j;
            continue;
        }
        out.push_str(&esc(&c.to_string()));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighting_marks_and_escapes() {
        let h = highlight("let x = \"a<b\"; // why & how");
        assert!(h.contains("<span class=\"k\">let</span>"), "{h}");
        assert!(
            h.contains("<span class=\"s\">&quot;a&lt;b&quot;</span>"),
            "{h}"
        );
        assert!(
            h.contains("<span class=\"c\">// why &amp; how</span>"),
            "{h}"
        );
        let h = highlight("fn f<'a>(c: char) -> bool { c == '\\'' || println!(\"x\") }");
        assert!(h.contains("<span class=\"l\">&#39;a</span>"), "{h}");
        assert!(
            h.contains("<span class=\"s\">&#39;\\&#39;&#39;</span>"),
            "{h}"
        );
        assert!(h.contains("<span class=\"m\">println!</span>"), "{h}");
        assert!(highlight("#[path = \"x\"]").starts_with("<span class=\"a\">"));
    }
}

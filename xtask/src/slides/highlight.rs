//! Rust, highlighted for the code pages: one line at a time, each token (crate::lex) a `<span>`
//! of its class.

use std::fmt::Write as _;

use super::html::esc;
use crate::lex::{tokens, Token};

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
    let mut out = String::new();
    for (token, range) in tokens(code) {
        let text = &code[range];
        let class = match token {
            Token::Comment => "c",
            Token::Str | Token::Char => "s",
            Token::Lifetime => "l",
            Token::Attribute => "a",
            Token::Number => "n",
            Token::Macro => "m",
            Token::Word if KEYWORDS.contains(&text) => "k",
            Token::Word if text.starts_with(char::is_uppercase) => "t",
            Token::Word | Token::Other => {
                out.push_str(&esc(text));
                continue;
            }
        };
        let _ = write!(out, "<span class=\"{class}\">{}</span>", esc(text));
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

//! A light lexer of Rust, enough for the slides: comments, strings, character literals,
//! lifetimes, attributes, numbers and words, each found whole, so a `}` in a string or a
//! comment is never taken for code. The deck highlights with it (slides/highlight.rs) and the
//! exercises find a function's braces with it (exercise/cut.rs).

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Token {
    /// `// ...` to the end of the line, or `/* ... */` (they nest).
    Comment,
    /// `"..."`, `b"..."`, `r#"..."#`: up to the end of the text when not closed.
    Str,
    /// `'a'`, `'\n'`, `'\''`.
    Char,
    /// `'a`, `'static`.
    Lifetime,
    /// `#[...]` or `#![...]`, brackets matched.
    Attribute,
    Number,
    /// An identifier or a keyword.
    Word,
    /// A word and its `!`: `println!`.
    Macro,
    /// One character of anything else: punctuation, spaces.
    Other,
}

/// The tokens of `source`, in order, each with the bytes it takes.
pub fn tokens(source: &str) -> Vec<(Token, Range<usize>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < source.len() {
        let (token, end) = token_at(source, at);
        out.push((token, at..end));
        at = end;
    }
    out
}

/// The token that starts at byte `i` (a character boundary), and where it ends.
fn token_at(src: &str, i: usize) -> (Token, usize) {
    let b = src.as_bytes();
    let rest = &src[i..];
    let c = rest.chars().next().unwrap_or_default();
    let next = b.get(i + 1).copied();
    let word_end = |from: usize| {
        src[from..]
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .map_or(src.len(), |n| from + n)
    };
    if rest.starts_with("//") {
        return (Token::Comment, rest.find('\n').map_or(src.len(), |n| i + n));
    }
    if rest.starts_with("/*") {
        return (Token::Comment, block_comment_end(b, i));
    }
    let hashes = b[i + 1..].iter().take_while(|&&h| h == b'#').count();
    if c == 'r' && b.get(i + 1 + hashes) == Some(&b'"') {
        let close = format!("\"{}", "#".repeat(hashes));
        let start = i + 2 + hashes;
        let end = src[start..].find(&close);
        return (
            Token::Str,
            end.map_or(src.len(), |n| start + n + close.len()),
        );
    }
    if c == '"' || (c == 'b' && next == Some(b'"')) {
        let mut j = i + 1 + usize::from(c == 'b');
        while let Some(c) = src.get(j..).and_then(|r| r.chars().next()) {
            j += c.len_utf8();
            match c {
                // The escaped character, whatever it is, does not end the string.
                '\\' => j += src[j..].chars().next().map_or(0, char::len_utf8),
                '"' => break,
                _ => {}
            }
        }
        return (Token::Str, j);
    }
    if c == '\'' {
        let end = if next == Some(b'\\') {
            // The escaped character itself may be a quote: look past it.
            src.get(i + 3..)
                .and_then(|r| r.find('\''))
                .map(|n| i + 3 + n + 1)
        } else {
            let len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
            (b.get(i + 1 + len) == Some(&b'\'')).then_some(i + 2 + len)
        };
        return match end {
            Some(end) => (Token::Char, end),
            None => (Token::Lifetime, word_end(i + 1)),
        };
    }
    if c == '#' && matches!(next, Some(b'[' | b'!')) {
        return (Token::Attribute, attribute_end(b, i));
    }
    if c.is_ascii_digit() {
        let end = rest.find(|c: char| !c.is_ascii_alphanumeric() && c != '_');
        return (Token::Number, end.map_or(src.len(), |n| i + n));
    }
    if c.is_alphabetic() || c == '_' {
        let j = word_end(i);
        if b.get(j) == Some(&b'!') && b.get(j + 1) != Some(&b'=') {
            return (Token::Macro, j + 1);
        }
        return (Token::Word, j);
    }
    (Token::Other, i + c.len_utf8())
}

/// Where the block comment that opens at `i` closes: block comments nest in Rust.
fn block_comment_end(b: &[u8], i: usize) -> usize {
    let (mut depth, mut j) = (0, i);
    while j < b.len() {
        if b[j..].starts_with(b"/*") {
            (depth, j) = (depth + 1, j + 2);
        } else if b[j..].starts_with(b"*/") {
            (depth, j) = (depth - 1, j + 2);
            if depth == 0 {
                break;
            }
        } else {
            j += 1;
        }
    }
    j.min(b.len())
}

/// Where the attribute that opens at `i` (`#[` or `#![`) ends: after its matching `]`.
fn attribute_end(b: &[u8], i: usize) -> usize {
    let mut depth = 0;
    for (j, &c) in b.iter().enumerate().skip(i) {
        match c {
            b'[' => depth += 1,
            b']' if depth == 1 => return j + 1,
            b']' => depth -= 1,
            _ => {}
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_in_strings_chars_and_comments_are_not_code() {
        let src = "let s = \"}\\\"\"; let c = '\\''; f::<'a>(r#\"{\"#); /* { /* } */ */ x!(1) // }";
        let kinds: Vec<(Token, &str)> = tokens(src)
            .into_iter()
            .filter(|(t, _)| *t != Token::Other)
            .map(|(t, r)| (t, &src[r]))
            .collect();
        use Token::*;
        assert_eq!(
            kinds,
            [
                (Word, "let"),
                (Word, "s"),
                (Str, "\"}\\\"\""),
                (Word, "let"),
                (Word, "c"),
                (Char, "'\\''"),
                (Word, "f"),
                (Lifetime, "'a"),
                (Str, "r#\"{\"#"),
                (Comment, "/* { /* } */ */"),
                (Macro, "x!"),
                (Number, "1"),
                (Comment, "// }"),
            ]
        );
    }
}

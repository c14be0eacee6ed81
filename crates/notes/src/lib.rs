//! The talk's Markdown read once, in blocks: `present` prints the notes, the deck's speaker view
//! shows them, `check` compares the two languages and the tests run the demos ([`demos`]), all
//! from one reading of where a fence opens and closes. Not in the catalog: every slide builds it.
//!
//! Only the Markdown the notes use: `#` headings, paragraphs, `- ` or `* ` list items, table
//! rows and fenced code (closed by as many backticks or more).

mod demo;

use demo::demo_fence;
pub use demo::{check_output, demos, Demo};

/// A block of Markdown.
#[derive(Debug, PartialEq)]
pub enum Block<'a> {
    /// `#`s and a space at the start of a line: the level, the text, the 1-based line.
    Heading {
        level: usize,
        text: &'a str,
        line: usize,
    },
    /// Lines of text, trimmed and joined by spaces.
    Paragraph(String),
    /// A list item without its marker, with the lines that go on it.
    Item(String),
    /// A table row, as written (trailing spaces aside).
    Row(&'a str),
    /// A blank line: the end of a list.
    Blank,
    Code(Code<'a>),
}

/// A fenced code block, its lines as written.
#[derive(Debug, PartialEq)]
pub struct Code<'a> {
    /// The opening fence line and its 1-based number.
    pub open: &'a str,
    pub line: usize,
    pub lines: Vec<&'a str>,
    /// The closing fence line; `None` when the block runs to the end of the file.
    pub close: Option<&'a str>,
}

impl Code<'_> {
    /// [`demo_fence`] of the info string: whether it is a demo block, and of which stage.
    pub fn demo(&self) -> Option<Option<&str>> {
        let open = self.open.trim();
        demo_fence(open.trim_start_matches('`'))
    }
}

/// The blocks of `markdown`, in order.
pub fn blocks(markdown: &str) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let block = if ticks >= 3 {
            let fence = &trimmed[..ticks];
            let mut code = Code {
                open: raw,
                line: i + 1,
                lines: Vec::new(),
                close: None,
            };
            for (_, raw) in lines.by_ref() {
                let trimmed = raw.trim();
                if trimmed.starts_with(fence) && trimmed.trim_matches('`').is_empty() {
                    code.close = Some(raw);
                    break;
                }
                code.lines.push(raw);
            }
            Block::Code(code)
        } else if hashes > 0 && raw[hashes..].starts_with(' ') {
            Block::Heading {
                level: hashes,
                text: raw[hashes..].trim(),
                line: i + 1,
            }
        } else if line.is_empty() {
            Block::Blank
        } else if trimmed.starts_with('|') {
            Block::Row(line)
        } else if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            Block::Item(item.to_string())
        } else if let Some(Block::Paragraph(text) | Block::Item(text)) = blocks.last_mut() {
            text.push(' ');
            text.push_str(trimmed);
            continue;
        } else {
            Block::Paragraph(trimmed.to_string())
        };
        blocks.push(block);
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_notes() {
        let md = "# T\n\nOne\n  two.\n- a\n  b\n* c\n| x |\n````sh\n```\n````\n## S\n```demo\n$ ls";
        let blocks = blocks(md);
        let heading = |b: &Block<'static>| match *b {
            Block::Heading { level, text, line } => Some((level, text, line)),
            _ => None,
        };
        assert_eq!(heading(&blocks[0]), Some((1, "T", 1)));
        let (one, a, c) = ("One two.".into(), "a b".into(), "c".into());
        let middle = [Block::Paragraph(one), Block::Item(a), Block::Item(c)];
        assert_eq!(
            (&blocks[1], &blocks[2..5], &blocks[5]),
            (&Block::Blank, &middle[..], &Block::Row("| x |"))
        );
        let Block::Code(code) = &blocks[6] else {
            panic!("{blocks:?}")
        };
        assert_eq!(
            (&code.lines[..], code.close, code.demo()),
            (&["```"][..], Some("````"), None)
        );
        assert_eq!(heading(&blocks[7]), Some((2, "S", 12)));
        let Block::Code(demo) = &blocks[8] else {
            panic!("{blocks:?}")
        };
        assert_eq!((demo.demo(), demo.close), (Some(None), None));
    }
}

//! The talk's Markdown read once: a stage's notes (`slides/<stage>/README.md`) and the READMEs,
//! as blocks. `cargo xtask present` prints them, the deck's speaker view shows them, `check`
//! compares the two languages' and the tests run their demos ([`demos`]): one reading of
//! where a fence opens and closes, so they cannot disagree. Outside the catalog, which every
//! slide compiles.
//!
//! Only the Markdown the notes use: `#` headings, paragraphs, `- ` or `* ` list items, table
//! rows and fenced code. A line that goes on a paragraph or a list item joins it; a fence closes
//! at a line of as many backticks or more.

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
        let md =
            "# T\n\nOne\n  two.\n- a\n  b\n* c\n| x |\n````sh\n```\n````\n## S `x`\n```demo\n$ ls";
        let blocks = blocks(md);
        assert_eq!(
            blocks[..6],
            [
                Block::Heading {
                    level: 1,
                    text: "T",
                    line: 1
                },
                Block::Blank,
                Block::Paragraph("One two.".into()),
                Block::Item("a b".into()),
                Block::Item("c".into()),
                Block::Row("| x |"),
            ]
        );
        let Block::Code(code) = &blocks[6] else {
            panic!("{blocks:?}")
        };
        assert_eq!(
            (code.line, &code.lines[..], code.close),
            (9, &["```"][..], Some("````"))
        );
        assert_eq!(code.demo(), None);
        assert!(matches!(
            blocks[7],
            Block::Heading {
                level: 2,
                text: "S `x`",
                line: 12
            }
        ));
        let Block::Code(demo) = &blocks[8] else {
            panic!("{blocks:?}")
        };
        assert_eq!((demo.demo(), demo.close), (Some(None), None));
    }
}

//! The talk in Spanish held to the English one's shape: every stage's `README.es.md` and the top
//! README.es.md, with the same sections and the same code blocks as their English files, and
//! README.es.md's stage table the catalog's in Spanish.

use std::fs;
use std::path::Path;

use anyhow::Result;
use notes::Block;

use super::{ensure_table, table};

/// The README in Spanish; its stage table has the same markers as README.md's.
const README_ES: &str = "README.es.md";

/// The last section of README.es.md, the one README.md has not got.
const GLOSSARY: &str = "\n## Glosario\n";

/// The Spanish beside the English, each pair held to the same shape: every stage's notes
/// (`README.es.md` beside `README.md`) and the README. A pair has the same sections (the same
/// headings, by level, in the same order) and the same code, byte for byte, in the same sections:
/// a demo is written once, in the English notes, and copied; a command is not translated. The
/// Spanish notes' title is `# Etapa <number> — <name>: …`. The two READMEs link to each other in
/// their first lines, show the same `cargo xtask` commands, and carry the same stage table, the
/// Spanish one with the catalog's Spanish summaries (`--fix` writes it), and README.es.md ends
/// with one more section, `## Glosario`. A missing README.md of a stage is the notes rule's to
/// report.
pub(super) fn languages(root: &Path, fix: bool) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for stage in catalog::STAGES {
        let dir = Path::new("slides").join(stage.name);
        let (en_path, es_path) = (dir.join("README.md"), dir.join(README_ES));
        let Ok(en) = fs::read_to_string(root.join(&en_path)) else {
            continue;
        };
        let Ok(es) = fs::read_to_string(root.join(&es_path)) else {
            problems.push(format!(
                "{}: missing: the notes of {} are in English only",
                es_path.display(),
                stage.name
            ));
            continue;
        };
        let title = format!("# Etapa {} — {}:", stage.number(), stage.name);
        if !es.lines().next().unwrap_or("").starts_with(&title) {
            problems.push(format!(
                "{}: the first line should start with `{title}`",
                es_path.display()
            ));
        }
        problems.extend(same_shape(&en_path, &en, &es_path, &es));
    }

    let (en_path, es_path) = (Path::new("README.md"), Path::new(README_ES));
    let Ok(es) = fs::read_to_string(root.join(es_path)) else {
        problems.push(format!("{README_ES}: missing: the README in Spanish"));
        return Ok(problems);
    };
    let Ok(en) = fs::read_to_string(root.join(en_path)) else {
        return Ok(problems); // reported by `readme`
    };
    for (path, text, other) in [(en_path, &en, README_ES), (es_path, &es, "README.md")] {
        let top: String = text.lines().take(5).collect::<Vec<_>>().join("\n");
        if !top.contains(&format!("]({other})")) {
            problems.push(format!(
                "{}: no link to {other} in its first 5 lines",
                path.display()
            ));
        }
    }
    // The Spanish README ends with a glossary of the talk's words, a section of its own.
    let Some((body, _)) = es.rsplit_once(GLOSSARY) else {
        problems.push(format!(
            "{README_ES}: no `{}` section at its end",
            GLOSSARY.trim()
        ));
        return Ok(problems);
    };
    problems.extend(same_shape(en_path, &en, es_path, body));
    let (en_commands, es_commands) = (commands(&en), commands(&es));
    for missing in en_commands.iter().filter(|c| !es_commands.contains(c)) {
        problems.push(format!(
            "{README_ES}: no `{missing}`, which README.md shows"
        ));
    }
    for extra in es_commands.iter().filter(|c| !en_commands.contains(c)) {
        problems.push(format!("{README_ES}: `{extra}` is not in README.md"));
    }
    problems.extend(ensure_table(root, README_ES, &es, &table_es(root), fix)?);
    Ok(problems)
}

/// README.es.md's stage table: README.md's, with the headings and the summaries in Spanish.
pub fn table_es(root: &Path) -> String {
    fn heading(cell: &str) -> &str {
        match cell {
            "stage" => "etapa",
            "aliases" => "alias",
            "story" => "historia",
            "to read (Go)" => "para leer (Go)",
            "diff: code / comments" => "diff: código / comentarios",
            "what it adds" => "qué agrega",
            other => other,
        }
    }
    let mut out = String::new();
    for (i, line) in table(root).lines().enumerate() {
        if i == 0 {
            let cells: Vec<&str> = line
                .split(" | ")
                .map(|c| c.trim_matches('|').trim())
                .collect();
            let cells: Vec<&str> = cells.into_iter().map(heading).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
            continue;
        }
        let stage = catalog::STAGES
            .iter()
            .find(|s| line.starts_with(&format!("| {} | `{}` |", s.number(), s.name)));
        let row = stage.and_then(|s| {
            let en = format!(" {} |", s.summary.replace('|', "\\|"));
            let es = format!(" {} |", s.summary_es.replace('|', "\\|"));
            line.strip_suffix(&en).map(|start| format!("{start}{es}"))
        });
        out.push_str(row.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// What a Markdown file is made of, for comparing two languages: its headings (line, level) and
/// its fenced blocks (line, the section they are in, the whole block).
#[derive(Default)]
struct Shape {
    headings: Vec<(usize, usize)>,
    blocks: Vec<(usize, usize, String)>,
}

fn shape(markdown: &str) -> Shape {
    let mut shape = Shape::default();
    for block in notes::blocks(markdown) {
        match block {
            Block::Heading { level, line, .. } => shape.headings.push((line, level)),
            Block::Code(code) if code.close.is_some() => {
                let lines = [code.open].into_iter().chain(code.lines).chain(code.close);
                let text = lines.map(|l| format!("{l}\n")).collect();
                shape.blocks.push((code.line, shape.headings.len(), text));
            }
            _ => {}
        }
    }
    shape
}

/// The sections and the code of two languages' files, compared: one line per difference.
fn same_shape(en_path: &Path, en: &str, es_path: &Path, es: &str) -> Vec<String> {
    let (a, b) = (shape(en), shape(es));
    let (en_name, es_name) = (en_path.display(), es_path.display());
    let mut problems = Vec::new();
    let levels = |s: &Shape| s.headings.iter().map(|h| h.1).collect::<Vec<_>>();
    if levels(&a) != levels(&b) {
        let at = a
            .headings
            .iter()
            .zip(&b.headings)
            .position(|(x, y)| x.1 != y.1)
            .unwrap_or(a.headings.len().min(b.headings.len()));
        let line = b.headings.get(at).map_or(es.lines().count(), |h| h.0);
        problems.push(format!(
            "{es_name}: line {line}: the sections differ from {en_name}'s from its heading {} on \
             ({} headings, {en_name} has {})",
            at + 1,
            b.headings.len(),
            a.headings.len()
        ));
    }
    if a.blocks.len() != b.blocks.len() {
        problems.push(format!(
            "{es_name}: {} code blocks, {en_name} has {}: a demo or command is in both, the same",
            b.blocks.len(),
            a.blocks.len()
        ));
    }
    for ((en_line, en_section, en_block), (es_line, es_section, es_block)) in
        a.blocks.iter().zip(&b.blocks)
    {
        if en_block != es_block {
            problems.push(format!(
                "{es_name}: line {es_line}: the block differs from {en_name}'s at line {en_line} \
                 (code is not translated: copy it)"
            ));
        } else if en_section != es_section {
            problems.push(format!(
                "{es_name}: line {es_line}: the block is in section {es_section}, in {en_name} \
                 in section {en_section}"
            ));
        }
    }
    problems
}

/// The `cargo xtask` commands a README shows in `code spans` (outside its fenced blocks, which
/// [`same_shape`] compares), each once, in order.
fn commands(markdown: &str) -> Vec<String> {
    let blocks = notes::blocks(markdown);
    let prose: Vec<&str> = blocks
        .iter()
        .filter_map(|block| match block {
            Block::Heading { text, .. } | Block::Row(text) => Some(*text),
            Block::Paragraph(text) | Block::Item(text) => Some(text.as_str()),
            Block::Blank | Block::Code(_) => None,
        })
        .collect();
    let prose = prose.join(" ");
    let mut out: Vec<String> = Vec::new();
    for (i, span) in prose.split('`').enumerate() {
        let span = span.split_whitespace().collect::<Vec<_>>().join(" ");
        if i % 2 == 1 && span.starts_with("cargo xtask") && !out.contains(&span) {
            out.push(span);
        }
    }
    out
}

//! The matrix as a table that fits 80 columns, or as JSON.

use std::collections::BTreeSet;

use catalog::{Attack, Property};
use serde_json::{json, Value};

use super::judge::{Cell, Mismatch, Outcome, Row};
use crate::cli;

fn mark(has: bool) -> &'static str {
    if has {
        "✓"
    } else {
        "·"
    }
}

/// The table, turned so it fits 80 columns: a row per property, then a row per attack, a
/// column per stage (by number, named in the key below), then what the row means (continued
/// on the next line, under itself, when it does not fit).
pub(super) fn print_table(rows: &[Row], mismatches: &[Mismatch]) {
    let label_width = Property::ALL
        .iter()
        .map(|p| p.label().len())
        .chain(Attack::ALL.iter().map(|a| a.label().len()))
        .max()
        .unwrap_or(8);
    let mut header = format!("{:<label_width$}", "");
    for row in rows {
        header.push_str(&format!(" {}", row.stage.number()));
    }
    println!("{header}  (stages, by number)");
    let line = |cell: Cell| {
        let mut line = format!("{:<label_width$}", cell.label());
        for row in rows {
            // Each cell is as wide as its column's number plus the space before it.
            let width = row.stage.number().to_string().len() + 1;
            let text = match row.cell(cell) {
                (Some(has), expected) => {
                    format!("{}{}", if has != expected { "!" } else { "" }, mark(has))
                }
                (None, _) => "?".to_string(),
            };
            line.push_str(&format!("{text:>width$}"));
        }
        let indent = line.chars().count() + 2;
        print!(
            "{}",
            cli::wrap(
                &format!("{line}  {}", cell.description()),
                cli::WIDTH,
                indent
            )
        );
    };
    for p in Property::ALL {
        line(Cell::Property(*p));
    }
    println!("attacks: ✓ the stage stops it   · it gets through");
    for a in Attack::ALL {
        line(Cell::Attack(*a));
    }
    // The key, "stages: 1 base1, 2 base2, ...", never breaking a number from its name.
    let mut key = String::from("stages:");
    let mut used = key.len();
    for (i, row) in rows.iter().enumerate() {
        let comma = if i + 1 < rows.len() { "," } else { "" };
        let entry = format!("{} {}{comma}", row.stage.number(), row.stage.name);
        if used + 1 + entry.len() > cli::WIDTH {
            key.push_str("\n       ");
            used = 7;
        }
        key.push(' ');
        key.push_str(&entry);
        used += 1 + entry.len();
    }
    println!("\n{key}");
    println!("✓ has it   · does not   ! differs from what the catalog says   ? no report");
    for stage in catalog::STAGES.iter().filter(|s| !s.drops.is_empty()) {
        let dropped: Vec<&str> = stage.drops.iter().map(|p| p.label()).collect();
        let note = format!(
            "{} leaves out {} of the stages before it: {}",
            stage.name,
            dropped.join(", "),
            stage.drops_why
        );
        print!("\n{}", cli::wrap(&note, cli::WIDTH, 0));
    }
    if !mismatches.is_empty() {
        println!();
        for m in mismatches {
            let detail = m
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            let line = format!(
                "mismatch: {} × {}: the catalog says {} ({}), the probe saw {}{detail}",
                m.stage,
                m.cell.label(),
                mark(m.expected),
                m.cell.description(),
                mark(!m.expected)
            );
            print!("{}", cli::wrap(&line, cli::WIDTH, 4));
        }
    }
    let incomplete: Vec<&Row> = rows
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Seen(_)))
        .collect();
    if !incomplete.is_empty() {
        println!();
    }
    for row in incomplete {
        let why = match &row.outcome {
            Outcome::Missing(why) => why.clone(),
            Outcome::Failed(why) => format!("failed: {why}"),
            Outcome::Seen(_) => continue,
        };
        let line = format!(
            "no report from {} {}: {why}",
            row.stage.number(),
            row.stage.name
        );
        print!("{}", cli::wrap(&line, cli::WIDTH, 4));
    }
}

pub(super) fn to_json(rows: &[Row], mismatches: &[Mismatch], all_seen: bool) -> String {
    let labels = |set: &BTreeSet<Property>| -> Vec<&str> {
        Property::ALL
            .iter()
            .filter(|p| set.contains(p))
            .map(|p| p.label())
            .collect()
    };
    let attack_labels = |set: &BTreeSet<Attack>| -> Vec<&str> {
        Attack::ALL
            .iter()
            .filter(|a| set.contains(a))
            .map(|a| a.label())
            .collect()
    };
    let columns: Vec<Value> = Property::ALL
        .iter()
        .map(|p| json!({"label": p.label(), "description": p.description()}))
        .collect();
    let attack_columns: Vec<Value> = Attack::ALL
        .iter()
        .map(|a| json!({"label": a.label(), "description": a.description()}))
        .collect();
    let stages: Vec<Value> = rows
        .iter()
        .map(|row| {
            let (status, error, observed, stopped, attacks) = match &row.outcome {
                Outcome::Missing(why) => (
                    "not built yet",
                    json!(why),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                ),
                Outcome::Failed(why) => {
                    ("failed", json!(why), Value::Null, Value::Null, Value::Null)
                }
                Outcome::Seen(seen) => {
                    let attacks: serde_json::Map<String, Value> = seen
                        .attacks
                        .iter()
                        .map(|(a, (through, detail))| {
                            let v = json!({"succeeded": through, "detail": detail});
                            (a.label().to_string(), v)
                        })
                        .collect();
                    (
                        "ok",
                        Value::Null,
                        json!(labels(&seen.has)),
                        json!(attack_labels(&seen.stopped())),
                        Value::Object(attacks),
                    )
                }
            };
            let wrong = |attack: bool| -> Vec<&str> {
                row.mismatches()
                    .iter()
                    .filter(|m| matches!(m.cell, Cell::Attack(_)) == attack)
                    .map(|m| m.cell.label())
                    .collect()
            };
            json!({
                "number": row.stage.number(),
                "name": row.stage.name,
                "status": status,
                "error": error,
                "expected": labels(&row.expected()),
                "observed": observed,
                "mismatches": wrong(false),
                "stops_expected": attack_labels(&row.expected_stops()),
                "stops_observed": stopped,
                "attack_mismatches": wrong(true),
                "attacks": attacks,
                "drops": labels(&row.stage.drops.iter().copied().collect()),
                "drops_why": row.stage.drops_why,
            })
        })
        .collect();
    let cells: Vec<Value> = mismatches
        .iter()
        .map(|m| {
            let kind = match m.cell {
                Cell::Property(_) => "property",
                Cell::Attack(_) => "attack",
            };
            json!({
                "stage": m.stage,
                kind: m.cell.label(),
                "expected": m.expected,
                "observed": !m.expected,
                "detail": m.detail,
            })
        })
        .collect();
    json!({
        "ok": mismatches.is_empty() && all_seen,
        "columns": columns,
        "attacks": attack_columns,
        "stages": stages,
        "mismatches": cells,
    })
    .to_string()
}

//! A tiny JSON writer: the probe must stay a small static binary with no dependency but libc,
//! so there is no serde here. Objects keep their keys in the order they were added, which keeps
//! the report's layout stable from one run to the next.

use std::fmt::Write;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// An empty object, to be filled with [`Json::with`].
    pub fn obj() -> Json {
        Json::Obj(Vec::new())
    }

    /// Adds a key to an object (builder style). On a non-object it does nothing.
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Json {
        self.push(key, value);
        self
    }

    /// Adds a key to an object. On a non-object it does nothing.
    pub fn push(&mut self, key: &str, value: impl Into<Json>) {
        if let Json::Obj(fields) = self {
            fields.push((key.to_string(), value.into()));
        }
    }

    /// The value as text: compact on one line, or indented by two spaces when `pretty`.
    pub fn render(&self, pretty: bool) -> String {
        let mut out = String::new();
        self.write(&mut out, pretty, 0);
        out
    }

    fn write(&self, out: &mut String, pretty: bool, depth: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                // Short lists of plain values stay on one line even when pretty.
                let flat = items
                    .iter()
                    .all(|i| !matches!(i, Json::Arr(_) | Json::Obj(_)));
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                        if pretty && flat {
                            out.push(' ');
                        }
                    }
                    if pretty && !flat {
                        newline(out, depth + 1);
                    }
                    item.write(out, pretty, depth + 1);
                }
                if pretty && !flat && !items.is_empty() {
                    newline(out, depth);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if pretty {
                        newline(out, depth + 1);
                    }
                    write_str(out, key);
                    out.push(':');
                    if pretty {
                        out.push(' ');
                    }
                    value.write(out, pretty, depth + 1);
                }
                if pretty && !fields.is_empty() {
                    newline(out, depth);
                }
                out.push('}');
            }
        }
    }
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Writes a JSON string literal, escaping what JSON requires.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Json {
        Json::Int(n)
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Json {
        // Inode numbers and counts fit; anything larger would not be exact in most JSON readers
        // anyway, so it becomes a string rather than a wrong number.
        i64::try_from(n).map_or_else(|_| Json::Str(n.to_string()), Json::Int)
    }
}

impl From<u32> for Json {
    fn from(n: u32) -> Json {
        Json::Int(n.into())
    }
}

impl From<i32> for Json {
    fn from(n: i32) -> Json {
        Json::Int(n.into())
    }
}

impl From<usize> for Json {
    fn from(n: usize) -> Json {
        Json::from(n as u64)
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}

impl From<Vec<Json>> for Json {
    fn from(items: Vec<Json>) -> Json {
        Json::Arr(items)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(value: Option<T>) -> Json {
        value.map_or(Json::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_orders() {
        let v = Json::obj()
            .with("b", "quote \" back \\ nl \n ctl \u{1}")
            .with("a", vec![Json::from(1i64), Json::Null, Json::from(true)])
            .with("big", u64::MAX);
        assert_eq!(
            v.render(false),
            r#"{"b":"quote \" back \\ nl \n ctl \u0001","a":[1,null,true],"big":"18446744073709551615"}"#
        );
    }

    #[test]
    fn pretty_is_the_same_value() {
        let v = Json::obj()
            .with(
                "x",
                Json::obj().with("y", vec![Json::obj().with("z", 1i64)]),
            )
            .with("e", Json::obj())
            .with("l", Vec::<Json>::new());
        let pretty = v.render(true);
        assert!(pretty.contains("\n  \"x\": {"));
        let squeezed: String = pretty
            .lines()
            .map(|l| l.trim_start().replace(": ", ":"))
            .collect();
        assert_eq!(squeezed, v.render(false));
    }
}

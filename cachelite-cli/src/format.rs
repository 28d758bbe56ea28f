//! Plain-text output: aligned tables and safe cells.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

/// Renders rows under a header, columns padded to their widest cell. The
/// last column is not padded, so lines carry no trailing spaces.
pub(crate) fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 == N {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// A key or value as one table cell: control characters escaped so a
/// hostile key cannot break the layout or drive the terminal, long text
/// shortened with an ellipsis.
pub(crate) fn cell(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count >= max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A value as `get` prints it: a string's raw text, any other JSON compact.
pub(crate) fn plain_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A remaining TTL for humans: `59.998s`, `12m 3s`, `2h 5m`, `3d 4h`.
pub(crate) fn human_ttl(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{:.3}s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m {}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d {}h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// A byte count for humans.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A rate in `[0, 1]` as a percentage.
pub(crate) fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_without_trailing_spaces() {
        let t = table(
            ["KEY", "TTL"],
            &[
                ["a".to_string(), "-".to_string()],
                ["longer".to_string(), "1s".to_string()],
            ],
        );
        assert_eq!(t, "KEY     TTL\na       -\nlonger  1s\n");
    }

    #[test]
    fn cell_escapes_control_characters_and_truncates() {
        assert_eq!(cell("a\nb\x1b", 10), "a\\nb\\u{1b}");
        assert_eq!(cell("abcdef", 3), "abc…");
    }

    #[test]
    fn human_units() {
        assert_eq!(human_ttl(Duration::from_millis(1500)), "1.500s");
        assert_eq!(human_ttl(Duration::from_secs(3725)), "1h 2m");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(percent(0.5), "50.0%");
    }
}

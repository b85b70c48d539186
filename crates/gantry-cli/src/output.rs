//! Human output: aligned tables, relative times, status colours on a terminal only; and the
//! `--json` path, which prints the API's own objects unchanged.
//!
//! Human output shows server text through [`crate::safe`]: [`table`] escapes every cell itself;
//! other lines escape their values where they print them.

use crate::safe;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::io::IsTerminal;

/// Prints a value as pretty JSON on stdout, exactly as encoded: the `--json` path.
pub fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => say!("{s}"),
        Err(e) => eprintln!("error: cannot encode JSON: {e}"),
    }
}

/// Prints a JSON document for people (`gantry config get` without `--json`): pretty JSON whose
/// terminal controls are written as JSON `\uXXXX` escapes, so it is still the same document.
pub fn json_document<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => say!("{}", safe::terminal_safe_json(&s)),
        Err(e) => eprintln!("error: cannot encode JSON: {e}"),
    }
}

/// Whether stdout is a terminal that wants colour (`NO_COLOR` turns it off).
pub fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// A status word, coloured on a terminal.
pub fn status(s: &str) -> String {
    if !color() {
        return s.to_owned();
    }
    let code = match s {
        "active" => "32",
        "expired" => "33",
        "revoked" => "31",
        _ => return s.to_owned(),
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

fn visible_len(s: &str) -> usize {
    // Skip ANSI colour sequences when measuring.
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// Prints rows under headers, columns aligned. Every cell is escaped with
/// [`safe::terminal_safe`] (cells hold server text); then a `STATUS` column's words are
/// coloured with [`status`].
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let status_column = headers.iter().position(|h| *h == "STATUS");
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, cell)| {
                    let cell = safe::terminal_safe(cell);
                    if Some(i) == status_column {
                        status(&cell)
                    } else {
                        cell.into_owned()
                    }
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(visible_len(cell));
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i].saturating_sub(visible_len(cell)) + 2;
                out.push_str(&" ".repeat(pad));
            }
        }
        say!("{}", out.trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

/// "in 89 days", "3 hours ago", "just now" — relative to `now`.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let future = secs > 0;
    let a = secs.unsigned_abs();
    if a < 45 {
        return "just now".into();
    }
    let (n, unit) = if a < 90 * 60 {
        ((a + 30) / 60, "minute")
    } else if a < 36 * 3600 {
        ((a + 1800) / 3600, "hour")
    } else if a < 700 * 86_400 {
        ((a + 43_200) / 86_400, "day")
    } else {
        ((a + 182 * 86_400) / (365 * 86_400), "year")
    };
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// Parses an API timestamp.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A relative rendering of an optional API timestamp, or `none_text`.
pub fn when(s: Option<&str>, none_text: &str) -> String {
    match s.and_then(parse_time) {
        Some(t) => relative(t, Utc::now()),
        None => none_text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn relative_times_read_like_people_write_them() {
        let now = Utc::now();
        assert_eq!(
            relative(now + Duration::days(89) + Duration::hours(1), now),
            "in 89 days"
        );
        assert_eq!(relative(now - Duration::hours(3), now), "3 hours ago");
        assert_eq!(relative(now - Duration::seconds(5), now), "just now");
        assert_eq!(relative(now + Duration::minutes(1), now), "in 1 minute");
        assert_eq!(relative(now + Duration::days(365 * 20), now), "in 20 years");
    }

    #[test]
    fn colour_codes_do_not_count_towards_width() {
        assert_eq!(visible_len("\x1b[32mactive\x1b[0m"), 6);
    }
}

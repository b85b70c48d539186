//! Terminal safety for human output. Text the server sends (names, descriptions, labels,
//! release messages, env values, config documents, emails, error messages, audit fields) is
//! printed with its control characters made visible, so none of it can recolour the terminal,
//! set its title, move the cursor, rewrite the line (CR), ring the bell, or reorder what is
//! shown around it (bidi overrides). `--json` output never passes through here: it stays
//! exactly what the API said.
//!
//! Escaped: the C0 controls U+0000–U+001F (ESC, BEL, CR, and LF and TAB too: every field is
//! printed on one line), DEL U+007F, the C1 controls U+0080–U+009F, and the Unicode
//! bidirectional controls U+061C, U+200E, U+200F, U+202A–U+202E and U+2066–U+2069.
//!
//! The form is Rust's: `\xNN` (two lowercase hex digits) below U+0080, `\u{N}` (lowercase hex,
//! no padding) from there on, so ESC is `\x1b`, LF `\x0a`, the C1 CSI `\u{9b}` and RLO
//! `\u{202e}`. Everything else, backslashes and non-ASCII letters included, is printed as is:
//! the result is for reading, not for parsing back (that is what `--json` is for).
//!
//! A JSON document printed for people (`gantry config get`) uses JSON's own `\uXXXX` instead
//! (see [`terminal_safe_json`]), so it stays valid JSON with the same value.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is escaped before it reaches a terminal.
pub fn is_escaped(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `s` with every [`is_escaped`] character written as `\xNN` or `\u{N}`; borrowed (no copy)
/// when there is none, which is nearly always. For one-line fields: table cells, `key: value`
/// lines, messages.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    escape(s, |_| false, push_rust_escape)
}

/// A JSON text from `serde_json` made safe for a terminal: every [`is_escaped`] character but
/// the layout's newlines is written as JSON's `\uXXXX`. serde_json already escapes C0 controls
/// inside strings, and outside strings its output holds nothing but ASCII punctuation, digits,
/// letters, spaces and newlines, so what is left to escape (DEL, C1, bidi controls) sits inside
/// strings, where `\uXXXX` is legal: the result parses to the same value.
pub fn terminal_safe_json(json: &str) -> Cow<'_, str> {
    escape(json, |c| c == '\n', push_json_escape)
}

fn escape(s: &str, keep: fn(char) -> bool, push: fn(&mut String, char)) -> Cow<'_, str> {
    let needs = |c: char| is_escaped(c) && !keep(c);
    let Some(first) = s.find(needs) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if needs(c) {
            push(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn push_rust_escape(out: &mut String, c: char) {
    let n = u32::from(c);
    // Writing to a String cannot fail.
    let _ = if n < 0x80 {
        write!(out, "\\x{n:02x}")
    } else {
        write!(out, "\\u{{{n:x}}}")
    };
}

fn push_json_escape(out: &mut String, c: char) {
    // Every escaped character is in the Basic Multilingual Plane: four digits suffice.
    let _ = write!(out, "\\u{:04x}", u32::from(c));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_borrowed(s: &str) -> bool {
        matches!(terminal_safe(s), Cow::Borrowed(b) if std::ptr::eq(b, s))
    }

    #[test]
    fn an_ansi_colour_sequence_is_shown_not_obeyed() {
        assert_eq!(terminal_safe("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
        // An OSC title change ended by BEL.
        assert_eq!(terminal_safe("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
    }

    #[test]
    fn bel_cr_del_and_other_c0_controls_are_escaped() {
        assert_eq!(terminal_safe("ding\x07"), "ding\\x07");
        assert_eq!(terminal_safe("safe\rEVIL"), "safe\\x0dEVIL");
        assert_eq!(terminal_safe("a\x7fb"), "a\\x7fb");
        assert_eq!(terminal_safe("\0"), "\\x00");
        assert_eq!(terminal_safe("\x1f"), "\\x1f");
        // One-line fields: newlines and tabs would break a table or forge a line.
        assert_eq!(terminal_safe("one\ntwo\tthree"), "one\\x0atwo\\x09three");
    }

    #[test]
    fn c1_controls_are_escaped_and_the_next_character_is_not() {
        assert_eq!(terminal_safe("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(terminal_safe("\u{80}\u{9f}"), "\\u{80}\\u{9f}");
        // U+00A0 (no-break space) is the first character past C1: printable.
        assert!(is_borrowed("a\u{a0}b"));
    }

    #[test]
    fn bidi_controls_are_escaped() {
        assert_eq!(
            terminal_safe("invoice\u{202e}fdp.exe"),
            "invoice\\u{202e}fdp.exe"
        );
        for c in [
            '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
            '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            let s = c.to_string();
            assert_eq!(
                terminal_safe(&s),
                format!("\\u{{{:x}}}", u32::from(c)),
                "U+{:04X}",
                u32::from(c)
            );
        }
        // Neighbours of the ranges are left alone (zero-width joiner, ellipsis, word joiner).
        assert!(is_borrowed("a\u{200d}b\u{2026}c\u{2060}d"));
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(is_borrowed(""));
        assert!(is_borrowed("shiny happy token"));
        assert!(is_borrowed("C:\\path\\x1b is only a backslash"));
        assert!(is_borrowed("tok_0123 gtd_abcdefgh… 2026-01-01T00:00:00Z"));
    }

    #[test]
    fn letters_and_emoji_beyond_ascii_are_unchanged() {
        assert!(is_borrowed("café é naïve"));
        assert!(is_borrowed("日本語 Ελληνικά עברית العربية"));
        assert!(is_borrowed("🚀 deploy 👍🏽 👨‍👩‍👧"));
        assert_eq!(terminal_safe("é\x1bé🚀"), "é\\x1bé🚀");
    }

    #[test]
    fn a_json_document_stays_valid_json_with_the_same_value() {
        let value = serde_json::json!({
            "motd": "\x1b[5mblink\x07\r\n",
            "rlo": "a\u{202e}b",
            "del": "\x7f",
            "csi": "\u{9b}",
            "key\u{2066}": ["é", "🚀"],
        });
        let pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
        let safe = terminal_safe_json(&pretty);
        assert!(!safe.chars().any(|c| is_escaped(c) && c != '\n'), "{safe}");
        assert!(safe.contains("\\u202e") && safe.contains("\\u007f") && safe.contains("\\u009b"));
        let back: Option<serde_json::Value> = serde_json::from_str(&safe).ok();
        assert_eq!(back, Some(value));
        // Nothing to escape: the very same text.
        let plain = "{\n  \"replicas\": 3\n}";
        assert!(matches!(terminal_safe_json(plain), Cow::Borrowed(b) if std::ptr::eq(b, plain)));
    }
}

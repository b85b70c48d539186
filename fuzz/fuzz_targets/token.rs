//! The token parser and checksum, and the scanner that finds tokens in text: no input panics,
//! and whatever parses is a token of the documented shape whose checksum holds.
#![no_main]

use gantry_core::token::{checksum, find_tokens, PlainToken};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = PlainToken::parse(text) {
        let raw = t.expose_secret();
        assert_eq!(raw.len(), 40);
        assert!(raw.starts_with(t.display_prefix()));
        let (random, sum) = raw[4..].split_at(30);
        assert_eq!(checksum(random), sum);
        // Parsing is a fixed point, and the hash is a pure function of the value.
        let again = PlainToken::parse(raw).expect("a parsed token parses again");
        assert_eq!(again.hash(), t.hash());
    }
    for (offset, found) in find_tokens(text) {
        assert!(text[offset..].starts_with(found.expose_secret()));
    }
});

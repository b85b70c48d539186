//! Durations (`90d`, `1d12h`), grace periods and rate limits (`30/1m`): no input panics or
//! overflows, and a parsed duration survives formatting and parsing again.
#![no_main]

use gantry_core::expiry::{format_duration, parse_duration, parse_grace};
use gantry_core::ratelimit::Limit;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(d) = parse_duration(text) {
        if !d.is_zero() {
            assert_eq!(parse_duration(&format_duration(d)), Some(d), "{text:?}");
        }
    }
    let _ = parse_grace(text);
    if let Some(l) = Limit::parse(text) {
        assert_eq!(Limit::parse(&l.to_string()), Some(l), "{text:?}");
    }
});

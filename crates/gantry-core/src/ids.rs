//! Opaque, prefixed identifiers (`usr_…`, `org_…`, `app_…`, `tok_…`, `alr_…`).

use rand::rngs::OsRng;
use rand::Rng;

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A new random id with `prefix` (e.g. `"tok"`): 16 base36 characters, ~82 bits.
pub fn new_id(prefix: &str) -> String {
    let mut rng = OsRng;
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    id.push('_');
    for _ in 0..16 {
        id.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
    }
    id
}

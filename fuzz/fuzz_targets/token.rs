//! Feeds arbitrary text to token verification. No input may panic, and none
//! may verify, because random bytes cannot carry a valid HMAC of the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::secret::RawToken;
use shared::token::{Keyring, encode_key_entry};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ring) = Keyring::parse(&encode_key_entry("fuzz", &[42u8; 32])) else {
        return;
    };
    let result = ring.verify(&RawToken::new(text), 1_000);
    assert!(result.is_err(), "unsigned input verified: {text:?}");
});

//! RFC 8785 canonical JSON of the runtime data clients send (what the
//! report data binds): never a panic, and canonical text is a fixed point
//! (parsed and canonicalized again, it is the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_token::jcs::canonicalize;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(canonical) = canonicalize(&value) else {
        return;
    };
    let again: serde_json::Value = serde_json::from_str(&canonical).expect("canonical JSON parses");
    assert_eq!(
        canonicalize(&again).expect("canonical JSON canonicalizes"),
        canonical
    );
});

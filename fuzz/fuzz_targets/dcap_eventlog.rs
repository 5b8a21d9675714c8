//! TDX CCEL table and TCG2 event log parsing and RTMR replay. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tdx_eventlog::parse_ccel(data);
    if let Ok(l) = tdx_eventlog::parse(data) {
        let _ = l.replay_rtmrs();
        let _ = l.claims();
    }
});

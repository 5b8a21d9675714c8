//! DCAP quote parsing, inspection, claims and full verification against a fixed
//! real collateral bundle. Nothing may panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tee_dcap::{Collateral, Verifier};

fn verifier() -> &'static Option<Verifier> {
    static V: OnceLock<Option<Verifier>> = OnceLock::new();
    V.get_or_init(|| {
        let bag =
            mamori_testvectors::read("dcap-collateral/collateral-tdx-b0c06f-2025-06-dcapqvl.json")?;
        Collateral::from_inputs([bag]).ok().map(Verifier::new)
    })
}

// 2025-06-20T00:00:00Z, inside the bundle's windows.
const NOW: i64 = 1_750_377_600;

fuzz_target!(|data: &[u8]| {
    let _ = tee_dcap::detect(data);
    if let Ok(i) = tee_dcap::inspect(data) {
        let _ = i.describe();
        let _ = i.to_json();
    }
    if let Some(v) = verifier() {
        if let Ok(vq) = v.verify(data, NOW) {
            let _ = vq.describe();
            let _ = vq.claims_json();
        }
    }
});

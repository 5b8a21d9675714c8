//! Parsing of SNP evidence as users hold it: container extraction (bare
//! binary/hex/base64, Azure HCL report, Azure/Trustee JSON, dstack wrapper),
//! strict report parsing, claims and the human rendering. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_snp::{extract, inspect, Container, Product, Report, SnpClaims};

fn exercise(report: &Report<'_>, container: &str, encoding: &str) {
    let claims = SnpClaims::new(report, None, None);
    let _ = inspect::render(report, &claims, container, encoding);
    let _ = claims.to_json();
    // Every product layout (a v2 report does not name its product).
    for p in Product::ALL {
        let c = SnpClaims::new(report, Some(p), None);
        let _ = inspect::render(report, &c, container, encoding);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = extract(data) {
        if let Ok(r) = Report::parse(&ev.report) {
            exercise(&r, ev.container.name(), ev.encoding.as_str());
            if let Container::AzureHcl(h) = &ev.container {
                let _ = h.binding_holds(r.report_data());
            }
        }
        if let Container::AzureHcl(h) = &ev.container {
            let _ = h.runtime_json();
            let _ = h.runtime_data_digest();
        }
    }
    if let Ok(r) = Report::parse(data) {
        exercise(&r, "report", "raw");
    }
});

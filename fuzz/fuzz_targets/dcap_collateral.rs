//! Collateral recognition and parsing: PCS JSON bodies, combined collateral JSON,
//! PEM/DER certificates and CRLs, PCK SGX extensions. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tee_dcap::Collateral::from_inputs([data]);
    let _ = tee_dcap::pcs::TcbInfo::from_body(data);
    let _ = tee_dcap::pcs::QeIdentity::from_body(data);
    let _ = tee_dcap::pck::PckExtensions::parse(data);
});

//! Helpers shared by the integration tests: read vectors in place and decode the
//! text encodings some of them use (hex with or without `0x`, JSON wrappers).
#![allow(dead_code)]

use base64::Engine as _;
use tee_dcap::Collateral;

/// Reads a vector; `None` when the vectors folder is absent.
pub fn read(rel: &str) -> Option<Vec<u8>> {
    mamori_testvectors::read(rel)
}

/// Decodes the quote bytes from a vector file (raw, hex text, or the JSON wrappers
/// used by dstack, Azure SGX samples and Azure TDX vTPM evidence).
pub fn quote_bytes(rel: &str) -> Option<Vec<u8>> {
    let raw = read(rel)?;
    let text = String::from_utf8_lossy(&raw);
    let t = text.trim();
    if rel.ends_with(".hex") {
        let t = t.strip_prefix("0x").unwrap_or(t);
        return Some(hex::decode(t).expect("hex vector"));
    }
    if rel.ends_with(".json") {
        let v: serde_json::Value = serde_json::from_str(t).expect("json vector");
        if let Some(q) = v.get("quote").and_then(|x| x.as_str()) {
            return Some(hex::decode(q).expect("hex quote"));
        }
        if let Some(q) = v.get("QuoteHex").and_then(|x| x.as_str()) {
            return Some(hex::decode(q).expect("hex quote"));
        }
        if let Some(q) = v.get("td_quote") {
            if let Some(s) = q.as_str() {
                return Some(
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(s.trim_end_matches('='))
                        .expect("base64url quote"),
                );
            }
            if let Some(a) = q.as_array() {
                return Some(a.iter().map(|x| x.as_u64().expect("byte") as u8).collect());
            }
        }
        panic!("no quote in {rel}");
    }
    Some(raw)
}

/// Builds a bag from collateral vector paths.
pub fn bag(files: &[&str]) -> Option<Collateral> {
    let mut inputs = Vec::new();
    for f in files {
        inputs.push(read(f)?);
    }
    Some(Collateral::from_inputs(inputs).expect("collateral recognised"))
}

/// RFC 3339 → unix seconds.
pub fn at(s: &str) -> i64 {
    tee_dcap::pcs::parse_time(s).expect("time")
}

/// TCB signing chain (needed next to raw PCS bodies).
pub const TCB_CHAIN: &str = "derived/dcap-collateral/intel-tcb-signing-chain-derived.pem";

/// The Intel SGX TCB Signing certificate as issued 2018-05-21 (valid until
/// 2025-05-21); same key and serial as the 2025 re-issue in the vectors folder. A
/// public Intel certificate, needed to verify 2023 collateral *as of 2023* (the
/// re-issued certificate is not yet valid then). Only the 2025 issue is in the
/// vectors folder.
pub const TCB_SIGNING_2018_PEM: &str = "-----BEGIN CERTIFICATE-----
MIICizCCAjKgAwIBAgIUfjiC1ftVKUpASY5FhAPpFJG99FUwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNTAxMFoXDTI1MDUyMTEwNTAxMFowbDEeMBwG
A1UEAwwVSW50ZWwgU0dYIFRDQiBTaWduaW5nMRowGAYDVQQKDBFJbnRlbCBDb3Jw
b3JhdGlvbjEUMBIGA1UEBwwLU2FudGEgQ2xhcmExCzAJBgNVBAgMAkNBMQswCQYD
VQQGEwJVUzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABENFG8xzydWRfK92bmGv
P+mAh91PEyV7Jh6FGJd5ndE9aBH7R3E4A7ubrlh/zN3C4xvpoouGlirMba+W2lju
ypajgbUwgbIwHwYDVR0jBBgwFoAUImUM1lqdNInzg7SVUr9QGzknBqwwUgYDVR0f
BEswSTBHoEWgQ4ZBaHR0cHM6Ly9jZXJ0aWZpY2F0ZXMudHJ1c3RlZHNlcnZpY2Vz
LmludGVsLmNvbS9JbnRlbFNHWFJvb3RDQS5kZXIwHQYDVR0OBBYEFH44gtX7VSlK
QEmORYQD6RSRvfRVMA4GA1UdDwEB/wQEAwIGwDAMBgNVHRMBAf8EAjAAMAoGCCqG
SM49BAMCA0cAMEQCIB9C8wOAN/ImxDtGACV246KcqjagZOR0kyctyBrsGGJVAiAj
ftbrNGsGU8YH211dRiYNoPPu19Zp/ze8JmhujB0oBw==
-----END CERTIFICATE-----
";

//! SNP evidence as users hold it: a bare report (binary, hex or base64
//! text), an Azure confidential-VM "HCL report" (the report plus the
//! runtime-data JSON it binds), the Azure/Trustee evidence JSON around an HCL
//! report, the KBS protocol's evidence JSON, or dstack's SCALE-encoded
//! attestation wrapper.

use crate::report::REPORT_LEN;
use aws_lc_rs::digest;
use mamori_verifier::{decode_text, Encoding};
use mamori_x509::Certificate;
use thiserror::Error;

/// Why bytes are not recognisable SNP evidence.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ContainerError {
    #[error(
        "not SNP evidence: {len} bytes, neither a {REPORT_LEN}-byte report nor a known container"
    )]
    Unrecognised { len: usize },
    #[error("HCL report: {field} at offset {offset:#x}: {reason}")]
    Hcl {
        field: &'static str,
        offset: usize,
        reason: String,
    },
    #[error("evidence JSON: {0}")]
    Json(String),
}

/// Where the report came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Container {
    /// The report alone.
    Bare,
    /// Azure HCL report: REPORT_DATA binds a hash of `runtime_data`.
    AzureHcl(HclReport),
    /// dstack's versioned attestation (report at offset 4).
    Dstack,
    /// The KBS protocol's SNP evidence JSON, rebuilt into the report bytes.
    KbsJson,
}

impl Container {
    pub fn name(&self) -> &'static str {
        match self {
            Container::Bare => "report",
            Container::AzureHcl(_) => "azure-hcl",
            Container::Dstack => "dstack",
            Container::KbsJson => "kbs-json",
        }
    }
}

/// The parts of an Azure HCL report beyond the SNP report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HclReport {
    /// The runtime data (a JSON document) exactly as carried.
    pub runtime_data: Vec<u8>,
    /// HASH_TYPE of the runtime-data header: 1 SHA-256, 2 SHA-384, 3 SHA-512.
    pub hash_type: u32,
}

impl HclReport {
    /// The digest of the runtime data that REPORT_DATA must start with.
    pub fn runtime_data_digest(&self) -> Option<Vec<u8>> {
        let alg = match self.hash_type {
            1 => &digest::SHA256,
            2 => &digest::SHA384,
            3 => &digest::SHA512,
            _ => return None,
        };
        Some(digest::digest(alg, &self.runtime_data).as_ref().to_vec())
    }

    /// Checks REPORT_DATA[0..n] = hash(runtime data).
    pub fn binding_holds(&self, report_data: &[u8]) -> bool {
        match self.runtime_data_digest() {
            Some(d) => report_data.get(..d.len()) == Some(d.as_slice()),
            None => false,
        }
    }

    /// The runtime data parsed as JSON (e.g. the `HCLAkPub` key), if it is.
    pub fn runtime_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.runtime_data).ok()
    }
}

/// Evidence unwrapped down to the report.
#[derive(Clone, Debug)]
pub struct SnpEvidence {
    pub report: Vec<u8>,
    pub container: Container,
    pub encoding: Encoding,
    /// Certificates that travelled with the evidence (e.g. Azure's VCEK).
    pub certificates: Vec<Certificate>,
}

const HCL_MAGIC: &[u8; 4] = b"HCLA";
const HCL_REPORT_OFFSET: usize = 0x20;
const HCL_RUNTIME_HEADER: usize = 0x4C0;
const HCL_RUNTIME_DATA: usize = HCL_RUNTIME_HEADER + 0x14;
const HCL_REQUEST_TYPE_SNP: u32 = 2;

fn le32(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}

/// Parses an Azure HCL report (IGVM attestation report format).
pub fn parse_hcl(b: &[u8]) -> Result<(Vec<u8>, HclReport), ContainerError> {
    let err = |field, offset, reason: String| ContainerError::Hcl {
        field,
        offset,
        reason,
    };
    if b.get(..4) != Some(HCL_MAGIC.as_slice()) {
        return Err(err("SIGNATURE", 0, "missing HCLA magic".into()));
    }
    let version = le32(b, 4).ok_or_else(|| err("VERSION", 4, "truncated".into()))?;
    // Version 2 (newer paravisors) keeps the layout of version 1.
    if !(1..=2).contains(&version) {
        return Err(err("VERSION", 4, format!("unsupported version {version}")));
    }
    let request_type =
        le32(b, 0x0C).ok_or_else(|| err("REQUEST_TYPE", 0x0C, "truncated".into()))?;
    let report_type = le32(b, HCL_RUNTIME_HEADER + 8)
        .ok_or_else(|| err("REPORT_TYPE", HCL_RUNTIME_HEADER + 8, "truncated".into()))?;
    if request_type != HCL_REQUEST_TYPE_SNP || report_type != HCL_REQUEST_TYPE_SNP {
        return Err(err(
            "REPORT_TYPE",
            HCL_RUNTIME_HEADER + 8,
            format!(
                "report type {report_type} is not SEV-SNP (2); TDX HCL reports are DCAP evidence"
            ),
        ));
    }
    let report = b
        .get(HCL_REPORT_OFFSET..HCL_REPORT_OFFSET + REPORT_LEN)
        .ok_or_else(|| err("HW_REPORT", HCL_REPORT_OFFSET, "truncated".into()))?
        .to_vec();
    let data_size = le32(b, HCL_RUNTIME_HEADER)
        .ok_or_else(|| err("DATA_SIZE", HCL_RUNTIME_HEADER, "truncated".into()))?;
    let hash_type = le32(b, HCL_RUNTIME_HEADER + 12)
        .ok_or_else(|| err("HASH_TYPE", HCL_RUNTIME_HEADER + 12, "truncated".into()))?;
    if !(1..=3).contains(&hash_type) {
        return Err(err(
            "HASH_TYPE",
            HCL_RUNTIME_HEADER + 12,
            format!("unknown hash type {hash_type}"),
        ));
    }
    let var_size = le32(b, HCL_RUNTIME_HEADER + 16).ok_or_else(|| {
        err(
            "VARIABLE_DATA_SIZE",
            HCL_RUNTIME_HEADER + 16,
            "truncated".into(),
        )
    })?;
    let var_len = usize::try_from(var_size).unwrap_or(usize::MAX);
    if u64::from(data_size) != u64::from(var_size) + 0x14 {
        return Err(err(
            "DATA_SIZE",
            HCL_RUNTIME_HEADER,
            format!("{data_size} does not equal header (20) + variable data ({var_size})"),
        ));
    }
    let end = HCL_RUNTIME_DATA.checked_add(var_len).ok_or_else(|| {
        err(
            "VARIABLE_DATA_SIZE",
            HCL_RUNTIME_HEADER + 16,
            "overflow".into(),
        )
    })?;
    let runtime_data = b
        .get(HCL_RUNTIME_DATA..end)
        .ok_or_else(|| {
            err(
                "VARIABLE_DATA",
                HCL_RUNTIME_DATA,
                format!("{var_size} bytes declared, fewer present"),
            )
        })?
        .to_vec();
    // The header's REPORT_SIZE covers the header, the hardware report and
    // the runtime data: it must agree with what the sizes above say.
    let declared = le32(b, 8).ok_or_else(|| err("REPORT_SIZE", 8, "truncated".into()))?;
    if usize::try_from(declared).ok() != Some(end) {
        return Err(err(
            "REPORT_SIZE",
            8,
            format!("{declared} does not equal the end of the runtime data ({end})"),
        ));
    }
    // Azure pads the buffer with zeros; anything else after it is garbage.
    if let Some(pos) = b
        .get(end..)
        .unwrap_or_default()
        .iter()
        .position(|x| *x != 0)
    {
        return Err(err(
            "TRAILER",
            end + pos,
            "non-zero bytes after the runtime data".into(),
        ));
    }
    Ok((
        report,
        HclReport {
            runtime_data,
            hash_type,
        },
    ))
}

/// dstack prefixes the report with a SCALE enum tag, a kind byte and a
/// compact-encoded length (two-byte mode) that must equal the report size.
fn dstack_report(b: &[u8]) -> Option<&[u8]> {
    let prefix = b.get(..4)?;
    let compact = u16::from_le_bytes([prefix[2], prefix[3]]);
    if prefix[0] != 0 || compact & 0b11 != 0b01 || usize::from(compact >> 2) != REPORT_LEN {
        return None;
    }
    b.get(4..4 + REPORT_LEN)
}

fn json_bytes(v: &serde_json::Value, what: &str) -> Result<Vec<u8>, ContainerError> {
    match v {
        serde_json::Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| ContainerError::Json(format!("{what}: not a byte array")))
            })
            .collect(),
        serde_json::Value::String(s) => {
            let (bytes, enc) = decode_text(s.as_bytes());
            if enc == Encoding::Raw {
                return Err(ContainerError::Json(format!("{what}: not hex or base64")));
            }
            Ok(bytes)
        }
        _ => Err(ContainerError::Json(format!(
            "{what}: unexpected JSON type"
        ))),
    }
}

fn json_certificates(v: &serde_json::Value) -> Result<Vec<Certificate>, ContainerError> {
    let raw = match v {
        serde_json::Value::String(s) if s.contains("-----BEGIN") => s.as_bytes().to_vec(),
        serde_json::Value::String(s) => match decode_text(s.as_bytes()) {
            (bytes, Encoding::Base64 | Encoding::Hex) => bytes,
            _ => {
                return Err(ContainerError::Json(
                    "vcek: not PEM, base64 or hex DER".into(),
                ))
            }
        },
        other => json_bytes(other, "vcek")?,
    };
    match mamori_x509::split_blobs(&raw) {
        Ok(Some(blobs)) => Ok(blobs
            .into_iter()
            .filter_map(|b| match b {
                mamori_x509::Blob::Certificate(c) => Some(*c),
                mamori_x509::Blob::Crl(_) => None,
            })
            .collect()),
        Ok(None) => Err(ContainerError::Json("vcek: not a certificate".into())),
        Err(e) => Err(ContainerError::Json(format!("vcek: {e}"))),
    }
}

/// Whether bytes look like SNP evidence this module understands (for TEE
/// auto-detection; the real checks happen in [`extract`]).
pub fn looks_like_snp(bytes: &[u8]) -> bool {
    extract(bytes).is_ok()
}

fn is_json(input: &[u8]) -> bool {
    input.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Unwraps evidence down to the 1184-byte report.
pub fn extract(input: &[u8]) -> Result<SnpEvidence, ContainerError> {
    if is_json(input) {
        return extract_json(input);
    }
    let (bytes, encoding) = decode_text(input);
    unwrap_binary(bytes, encoding)
}

/// [`extract`] for bytes already decoded from text (or received as bytes):
/// they are not taken for hex or base64 again.
pub fn extract_decoded(bytes: Vec<u8>) -> Result<SnpEvidence, ContainerError> {
    if is_json(&bytes) {
        return extract_json(&bytes);
    }
    unwrap_binary(bytes, Encoding::Raw)
}

fn unwrap_binary(bytes: Vec<u8>, encoding: Encoding) -> Result<SnpEvidence, ContainerError> {
    // A container's magic wins over the length: a truncated HCL report must
    // be refused as one, not read as a bare report.
    if bytes.len() == REPORT_LEN && !bytes.starts_with(HCL_MAGIC) {
        return Ok(SnpEvidence {
            report: bytes,
            container: Container::Bare,
            encoding,
            certificates: Vec::new(),
        });
    }
    if bytes.starts_with(HCL_MAGIC) {
        let (report, hcl) = parse_hcl(&bytes)?;
        return Ok(SnpEvidence {
            report,
            container: Container::AzureHcl(hcl),
            encoding,
            certificates: Vec::new(),
        });
    }
    if let Some(r) = dstack_report(&bytes) {
        return Ok(SnpEvidence {
            report: r.to_vec(),
            container: Container::Dstack,
            encoding,
            certificates: Vec::new(),
        });
    }
    Err(ContainerError::Unrecognised { len: bytes.len() })
}

/// Azure confidential-VM evidence JSON (as Trustee's az-snp-vtpm attester
/// sends it): `report` (HCL report bytes, as a byte array or base64url) and
/// `vcek` (PEM or base64 DER). The vTPM quote in it is not SNP evidence and is
/// ignored here.
fn extract_json(input: &[u8]) -> Result<SnpEvidence, ContainerError> {
    let v: serde_json::Value =
        serde_json::from_slice(input).map_err(|e| ContainerError::Json(e.to_string()))?;
    // The Confidential Containers guest form (KBS `primary_evidence`):
    // the `sev` crate's serde report and the host's certificate table.
    if let Some(r) = v.get("attestation_report") {
        let report =
            crate::sev_json::report_bytes(r).map_err(|e| ContainerError::Json(e.to_string()))?;
        let chain =
            crate::sev_json::cert_chain(v.get("cert_chain").unwrap_or(&serde_json::Value::Null))
                .map_err(|e| ContainerError::Json(e.to_string()))?;
        let mut certificates = Vec::new();
        for (kind, der) in chain {
            if kind == "CRL" || kind == "OTHER" || kind == "Empty" {
                continue;
            }
            certificates.push(
                Certificate::from_der(&der)
                    .map_err(|e| ContainerError::Json(format!("cert_chain {kind}: {e}")))?,
            );
        }
        return Ok(SnpEvidence {
            report,
            container: Container::KbsJson,
            encoding: Encoding::Raw,
            certificates,
        });
    }
    // Trustee's evidence format v0 says "report", v1 "hcl_report".
    let report = v
        .get("hcl_report")
        .or_else(|| v.get("report"))
        .ok_or_else(|| ContainerError::Json("no \"report\" or \"hcl_report\" member".into()))?;
    let bytes = json_bytes(report, "report")?;
    let mut ev = extract(&bytes)?;
    ev.encoding = Encoding::Raw;
    if let Some(vcek) = v.get("vcek") {
        ev.certificates = json_certificates(vcek)?;
    }
    Ok(ev)
}

//! Zero-copy view over the 1184 bytes of an ATTESTATION_REPORT (SEV-SNP
//! firmware ABI, report versions 2–5). Parsing checks the version, the length,
//! the signature algorithm and that every reserved byte is zero, so a
//! [`Report`] is known to be well formed; nothing is copied or re-encoded.

use crate::types::{
    FirmwareVersion, GuestPolicy, PlatformInfo, Product, SigningKey, TcbVersion, POLICY_MBZ,
    POLICY_RESERVED_ONE,
};
use thiserror::Error;

/// Size of an attestation report.
pub const REPORT_LEN: usize = 0x4A0;
/// The signature covers bytes `[0, SIGNED_LEN)`.
pub const SIGNED_LEN: usize = 0x2A0;
/// Report versions this parser knows.
pub const SUPPORTED_VERSIONS: [u32; 4] = [2, 3, 4, 5];
/// SIGNATURE_ALGO value for ECDSA P-384 with SHA-384.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Why bytes are not a well-formed attestation report.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    #[error("report is {0} bytes, expected exactly {REPORT_LEN}")]
    Length(usize),
    #[error("unsupported report version {0} (field VERSION at offset 0x0; supported: 2, 3, 4, 5)")]
    Version(u32),
    #[error("unsupported signature algorithm {0} (field SIGNATURE_ALGO at offset 0x34; only 1 = ECDSA P-384/SHA-384)")]
    SignatureAlgorithm(u32),
    #[error("reserved field {field} at offset {offset:#x} is not zero")]
    Reserved { field: &'static str, offset: usize },
    #[error("field {field} at offset {offset:#x}: {reason}")]
    Field {
        field: &'static str,
        offset: usize,
        reason: String,
    },
}

/// A well-formed report, borrowed from the bytes received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report<'a> {
    bytes: &'a [u8; REPORT_LEN],
}

fn u32_at(b: &[u8; REPORT_LEN], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8; REPORT_LEN], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// Reserved ranges as (field name, start, end), by version.
fn reserved_ranges(version: u32) -> Vec<(&'static str, usize, usize)> {
    let mut v = vec![
        ("RESERVED (after KEY_INFO)", 0x4C, 0x50),
        ("RESERVED (after CURRENT_MAJOR)", 0x1EB, 0x1EC),
        ("RESERVED (after COMMITTED_MAJOR)", 0x1EF, 0x1F0),
        ("SIGNATURE reserved", 0x2A0 + 0x90, REPORT_LEN),
    ];
    if version >= 3 {
        v.push(("RESERVED (after CPUID_STEP)", 0x18B, 0x1A0));
    } else {
        v.push(("RESERVED (CPUID fields, v2)", 0x188, 0x1A0));
    }
    // v4+ (firmware for Turin onward) carries LAUNCH_MIT_VECTOR and
    // CURRENT_MIT_VECTOR at 0x1F8/0x200; before that the area is reserved.
    if version >= 4 {
        v.push(("RESERVED (after CURRENT_MIT_VECTOR)", 0x208, SIGNED_LEN));
    } else {
        v.push(("RESERVED (after LAUNCH_TCB)", 0x1F8, SIGNED_LEN));
    }
    v
}

impl<'a> Report<'a> {
    /// Parses exactly one report: no shorter, no longer.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let bytes: &'a [u8; REPORT_LEN] = bytes
            .try_into()
            .map_err(|_| ParseError::Length(bytes.len()))?;
        let version = u32_at(bytes, 0);
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(ParseError::Version(version));
        }
        let algo = u32_at(bytes, 0x34);
        if algo != SIG_ALGO_ECDSA_P384_SHA384 {
            return Err(ParseError::SignatureAlgorithm(algo));
        }
        for (field, start, end) in reserved_ranges(version) {
            if let Some(pos) = bytes[start..end].iter().position(|b| *b != 0) {
                return Err(ParseError::Reserved {
                    field,
                    offset: start + pos,
                });
            }
        }
        let policy = u64_at(bytes, 0x08);
        if policy & POLICY_RESERVED_ONE == 0 {
            return Err(ParseError::Field {
                field: "POLICY",
                offset: 0x08,
                reason: "reserved bit 17 must be 1".into(),
            });
        }
        if policy & POLICY_MBZ != 0 {
            return Err(ParseError::Field {
                field: "POLICY",
                offset: 0x08,
                reason: format!("reserved bits 26-63 set ({policy:#x})"),
            });
        }
        let key_info = u32_at(bytes, 0x48);
        if key_info >> 5 != 0 {
            return Err(ParseError::Field {
                field: "KEY_INFO",
                offset: 0x48,
                reason: format!("reserved bits 5-31 set ({key_info:#x})"),
            });
        }
        let signing = (key_info >> 2) & 7;
        if !matches!(signing, 0 | 1 | 7) {
            return Err(ParseError::Field {
                field: "KEY_INFO.SIGNING_KEY",
                offset: 0x48,
                reason: format!("reserved value {signing}"),
            });
        }
        let report = Report { bytes };
        // R and S are 72-byte little-endian fields; P-384 scalars fit in 48.
        for (name, off) in [("SIGNATURE.R", 0x2A0), ("SIGNATURE.S", 0x2E8)] {
            if let Some(pos) = bytes[off + 48..off + 72].iter().position(|b| *b != 0) {
                return Err(ParseError::Field {
                    field: name,
                    offset: off + 48 + pos,
                    reason: "value exceeds 384 bits".into(),
                });
            }
        }
        Ok(report)
    }

    /// The exact bytes received.
    pub fn as_bytes(&self) -> &'a [u8; REPORT_LEN] {
        self.bytes
    }
    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> &'a [u8] {
        &self.bytes[..SIGNED_LEN]
    }
    pub fn version(&self) -> u32 {
        u32_at(self.bytes, 0x00)
    }
    pub fn guest_svn(&self) -> u32 {
        u32_at(self.bytes, 0x04)
    }
    pub fn policy_raw(&self) -> u64 {
        u64_at(self.bytes, 0x08)
    }
    pub fn policy(&self) -> GuestPolicy {
        GuestPolicy::from_raw(self.policy_raw())
    }
    pub fn family_id(&self) -> &'a [u8] {
        &self.bytes[0x10..0x20]
    }
    pub fn image_id(&self) -> &'a [u8] {
        &self.bytes[0x20..0x30]
    }
    pub fn vmpl(&self) -> u32 {
        u32_at(self.bytes, 0x30)
    }
    pub fn signature_algo(&self) -> u32 {
        u32_at(self.bytes, 0x34)
    }
    pub fn current_tcb(&self) -> TcbVersion {
        TcbVersion(u64_at(self.bytes, 0x38))
    }
    pub fn platform_info_raw(&self) -> u64 {
        u64_at(self.bytes, 0x40)
    }
    pub fn platform_info(&self) -> PlatformInfo {
        PlatformInfo::from_raw(self.platform_info_raw())
    }
    pub fn key_info(&self) -> u32 {
        u32_at(self.bytes, 0x48)
    }
    pub fn author_key_en(&self) -> bool {
        self.key_info() & 1 != 0
    }
    pub fn mask_chip_key(&self) -> bool {
        self.key_info() & 2 != 0
    }
    pub fn signing_key(&self) -> SigningKey {
        match (self.key_info() >> 2) & 7 {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            // parse() admits only 0, 1 and 7.
            _ => SigningKey::None,
        }
    }
    pub fn report_data(&self) -> &'a [u8] {
        &self.bytes[0x50..0x90]
    }
    pub fn measurement(&self) -> &'a [u8] {
        &self.bytes[0x90..0xC0]
    }
    pub fn host_data(&self) -> &'a [u8] {
        &self.bytes[0xC0..0xE0]
    }
    pub fn id_key_digest(&self) -> &'a [u8] {
        &self.bytes[0xE0..0x110]
    }
    pub fn author_key_digest(&self) -> &'a [u8] {
        &self.bytes[0x110..0x140]
    }
    pub fn report_id(&self) -> &'a [u8] {
        &self.bytes[0x140..0x160]
    }
    pub fn report_id_ma(&self) -> &'a [u8] {
        &self.bytes[0x160..0x180]
    }
    pub fn reported_tcb(&self) -> TcbVersion {
        TcbVersion(u64_at(self.bytes, 0x180))
    }
    /// CPUID family (base + extended), model and stepping; v3 and later.
    pub fn cpuid(&self) -> Option<(u8, u8, u8)> {
        (self.version() >= 3).then(|| (self.bytes[0x188], self.bytes[0x189], self.bytes[0x18A]))
    }
    /// The product named by the CPUID fields (v3+), if recognised.
    pub fn cpuid_product(&self) -> Option<Product> {
        self.cpuid().and_then(|(f, m, _)| Product::from_cpuid(f, m))
    }
    pub fn chip_id(&self) -> &'a [u8] {
        &self.bytes[0x1A0..0x1E0]
    }
    pub fn committed_tcb(&self) -> TcbVersion {
        TcbVersion(u64_at(self.bytes, 0x1E0))
    }
    pub fn current_version(&self) -> FirmwareVersion {
        FirmwareVersion {
            build: self.bytes[0x1E8],
            minor: self.bytes[0x1E9],
            major: self.bytes[0x1EA],
        }
    }
    pub fn committed_version(&self) -> FirmwareVersion {
        FirmwareVersion {
            build: self.bytes[0x1EC],
            minor: self.bytes[0x1ED],
            major: self.bytes[0x1EE],
        }
    }
    pub fn launch_tcb(&self) -> TcbVersion {
        TcbVersion(u64_at(self.bytes, 0x1F0))
    }
    /// Verified mitigation vector at launch (v4+).
    pub fn launch_mit_vector(&self) -> Option<u64> {
        (self.version() >= 4).then(|| u64_at(self.bytes, 0x1F8))
    }
    /// Current verified mitigation vector (v4+).
    pub fn current_mit_vector(&self) -> Option<u64> {
        (self.version() >= 4).then(|| u64_at(self.bytes, 0x200))
    }
    /// The signature as big-endian r‖s (96 bytes), ready for a fixed-size
    /// ECDSA P-384 verifier.
    pub fn signature_fixed(&self) -> [u8; 96] {
        let mut out = [0u8; 96];
        for (i, b) in self.bytes[0x2A0..0x2A0 + 48].iter().enumerate() {
            out[47 - i] = *b;
        }
        for (i, b) in self.bytes[0x2E8..0x2E8 + 48].iter().enumerate() {
            out[95 - i] = *b;
        }
        out
    }
}

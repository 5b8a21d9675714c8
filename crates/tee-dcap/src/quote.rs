//! Zero-copy parsing of DCAP ECDSA quotes v3, v4 and v5.
//!
//! Layouts (all integers little-endian):
//!
//! * header, 48 bytes: version u16 @0, attestation key type u16 @2, TEE type u32 @4
//!   (v3: reserved, zero), QE SVN u16 @8, PCE SVN u16 @10, QE vendor id [16] @12,
//!   user data [20] @28.
//! * v3/v4: body at 48 (SGX enclave report 384 bytes, or TD 1.0 report 584 bytes for
//!   TEE type 0x81); v5: body type u16 @48, body size u32 @50, body at 54
//!   (type 1 SGX 384, type 2 TD 1.0 584, type 3 TD 1.5 648).
//! * then signature data length u32 and signature data: ECDSA signature [64],
//!   attestation key [64], then
//!   - v3: QE report [384], QE report signature [64], QE auth data (u16 size + data),
//!     certification data (u16 type 5 + u32 size + PEM PCK chain);
//!   - v4/v5: certification data type 6 (u16 type + u32 size) holding the QE report,
//!     its signature, QE auth data and the inner certification data type 5.
//!
//! The quote signature covers every byte from offset 0 up to the signature data
//! length field, exactly as received.

use crate::error::QuoteError;

/// TEE type of an SGX quote.
pub const TEE_TYPE_SGX: u32 = 0x0000_0000;
/// TEE type of a TDX quote.
pub const TEE_TYPE_TDX: u32 = 0x0000_0081;
/// Attestation key type ECDSA-256-with-P-256.
pub const ATT_KEY_TYPE_ECDSA_P256: u16 = 2;
/// Size of the quote header.
pub const HEADER_LEN: usize = 48;
/// Size of an SGX enclave report body.
pub const SGX_REPORT_LEN: usize = 384;
/// Size of a TD 1.0 report body.
pub const TD10_REPORT_LEN: usize = 584;
/// Size of a TD 1.5 report body.
pub const TD15_REPORT_LEN: usize = 648;
/// Intel's QE vendor id.
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];

/// Bounds-checked little-endian reader that reports offsets relative to the quote start.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }
    pub(crate) fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], QuoteError> {
        let end = self.pos.checked_add(n);
        match end.and_then(|e| self.buf.get(self.pos..e)) {
            Some(s) => {
                self.pos = self.pos.saturating_add(n);
                Ok(s)
            }
            None => Err(QuoteError::Truncated {
                field,
                offset: self.offset(),
                need: n,
                have: self.remaining(),
            }),
        }
    }
    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<&'a [u8; N], QuoteError> {
        let s = self.take(N, field)?;
        s.try_into().map_err(|_| QuoteError::Truncated {
            field,
            offset: self.offset(),
            need: N,
            have: s.len(),
        })
    }
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, QuoteError> {
        Ok(u16::from_le_bytes(*self.array::<2>(field)?))
    }
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, QuoteError> {
        Ok(u32::from_le_bytes(*self.array::<4>(field)?))
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        s
    }
}

fn usize_from(v: u32) -> usize {
    // u32 always fits usize on the 32/64-bit targets we build for; saturate otherwise.
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Quote header (48 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// Quote version (3, 4 or 5).
    pub version: u16,
    /// Attestation key type (2 = ECDSA P-256).
    pub att_key_type: u16,
    /// TEE type: 0 = SGX, 0x81 = TDX.
    pub tee_type: u32,
    /// QE SVN (v3), reserved in v4/v5 (reported as found).
    pub qe_svn: u16,
    /// PCE SVN (v3), reserved in v4/v5 (reported as found).
    pub pce_svn: u16,
    /// QE vendor id.
    pub qe_vendor_id: &'a [u8; 16],
    /// User data (first 16 bytes: platform identifier chosen by the QE).
    pub user_data: &'a [u8; 20],
    /// The raw 48 bytes.
    pub raw: &'a [u8; 48],
}

/// SGX enclave report body (384 bytes); also the layout of the QE report.
#[derive(Debug, Clone, Copy)]
pub struct EnclaveReport<'a> {
    /// CPUSVN.
    pub cpu_svn: &'a [u8; 16],
    /// MISCSELECT.
    pub misc_select: u32,
    /// ISV extended product id.
    pub isv_ext_prod_id: &'a [u8; 16],
    /// ATTRIBUTES (flags u64 LE, then XFRM u64 LE).
    pub attributes: &'a [u8; 16],
    /// MRENCLAVE.
    pub mr_enclave: &'a [u8; 32],
    /// MRSIGNER.
    pub mr_signer: &'a [u8; 32],
    /// CONFIGID.
    pub config_id: &'a [u8; 64],
    /// ISVPRODID.
    pub isv_prod_id: u16,
    /// ISVSVN.
    pub isv_svn: u16,
    /// CONFIGSVN.
    pub config_svn: u16,
    /// ISV family id.
    pub isv_family_id: &'a [u8; 16],
    /// REPORT_DATA.
    pub report_data: &'a [u8; 64],
    /// The raw 384 bytes.
    pub raw: &'a [u8; 384],
}

impl<'a> EnclaveReport<'a> {
    /// Parses 384 bytes at `base` (for offsets in errors).
    pub(crate) fn parse(raw: &'a [u8; 384], base: usize) -> Result<Self, QuoteError> {
        let mut r = Reader::new(raw, base);
        let cpu_svn = r.array::<16>("cpu_svn")?;
        let misc_select = r.u32("misc_select")?;
        reserved(&mut r, 12, "reserved1")?;
        let isv_ext_prod_id = r.array::<16>("isv_ext_prod_id")?;
        let attributes = r.array::<16>("attributes")?;
        let mr_enclave = r.array::<32>("mr_enclave")?;
        reserved(&mut r, 32, "reserved2")?;
        let mr_signer = r.array::<32>("mr_signer")?;
        reserved(&mut r, 32, "reserved3")?;
        let config_id = r.array::<64>("config_id")?;
        let isv_prod_id = r.u16("isv_prod_id")?;
        let isv_svn = r.u16("isv_svn")?;
        let config_svn = r.u16("config_svn")?;
        reserved(&mut r, 42, "reserved4")?;
        let isv_family_id = r.array::<16>("isv_family_id")?;
        let report_data = r.array::<64>("report_data")?;
        Ok(EnclaveReport {
            cpu_svn,
            misc_select,
            isv_ext_prod_id,
            attributes,
            mr_enclave,
            mr_signer,
            config_id,
            isv_prod_id,
            isv_svn,
            config_svn,
            isv_family_id,
            report_data,
            raw,
        })
    }

    /// ATTRIBUTES.DEBUG (bit 1 of the flags).
    pub fn debug(&self) -> bool {
        self.attributes[0] & 0x02 != 0
    }
}

/// TD report body: TD 1.0 (584 bytes) or TD 1.5 (648 bytes, adds TEE_TCB_SVN2 and MRSERVICETD).
#[derive(Debug, Clone, Copy)]
pub struct TdReport<'a> {
    /// TEE_TCB_SVN.
    pub tee_tcb_svn: &'a [u8; 16],
    /// MRSEAM.
    pub mr_seam: &'a [u8; 48],
    /// MRSIGNERSEAM.
    pub mr_signer_seam: &'a [u8; 48],
    /// SEAMATTRIBUTES.
    pub seam_attributes: &'a [u8; 8],
    /// TDATTRIBUTES.
    pub td_attributes: &'a [u8; 8],
    /// XFAM.
    pub xfam: &'a [u8; 8],
    /// MRTD.
    pub mr_td: &'a [u8; 48],
    /// MRCONFIGID.
    pub mr_config_id: &'a [u8; 48],
    /// MROWNER.
    pub mr_owner: &'a [u8; 48],
    /// MROWNERCONFIG.
    pub mr_owner_config: &'a [u8; 48],
    /// RTMR0..3.
    pub rtmr: [&'a [u8; 48]; 4],
    /// REPORTDATA.
    pub report_data: &'a [u8; 64],
    /// TD 1.5 only: TEE_TCB_SVN2.
    pub tee_tcb_svn2: Option<&'a [u8; 16]>,
    /// TD 1.5 only: MRSERVICETD.
    pub mr_servicetd: Option<&'a [u8; 48]>,
    /// The raw body bytes.
    pub raw: &'a [u8],
}

impl<'a> TdReport<'a> {
    fn parse(raw: &'a [u8], td15: bool, base: usize) -> Result<Self, QuoteError> {
        let mut r = Reader::new(raw, base);
        let tee_tcb_svn = r.array::<16>("tee_tcb_svn")?;
        let mr_seam = r.array::<48>("mr_seam")?;
        let mr_signer_seam = r.array::<48>("mr_signer_seam")?;
        let seam_attributes = r.array::<8>("seam_attributes")?;
        let td_attributes = r.array::<8>("td_attributes")?;
        let xfam = r.array::<8>("xfam")?;
        let mr_td = r.array::<48>("mr_td")?;
        let mr_config_id = r.array::<48>("mr_config_id")?;
        let mr_owner = r.array::<48>("mr_owner")?;
        let mr_owner_config = r.array::<48>("mr_owner_config")?;
        let rtmr = [
            r.array::<48>("rtmr0")?,
            r.array::<48>("rtmr1")?,
            r.array::<48>("rtmr2")?,
            r.array::<48>("rtmr3")?,
        ];
        let report_data = r.array::<64>("report_data")?;
        let (tee_tcb_svn2, mr_servicetd) = if td15 {
            (
                Some(r.array::<16>("tee_tcb_svn2")?),
                Some(r.array::<48>("mr_servicetd")?),
            )
        } else {
            (None, None)
        };
        Ok(TdReport {
            tee_tcb_svn,
            mr_seam,
            mr_signer_seam,
            seam_attributes,
            td_attributes,
            xfam,
            mr_td,
            mr_config_id,
            mr_owner,
            mr_owner_config,
            rtmr,
            report_data,
            tee_tcb_svn2,
            mr_servicetd,
            raw,
        })
    }

    /// TDATTRIBUTES.DEBUG (bit 0).
    pub fn debug(&self) -> bool {
        self.td_attributes[0] & 0x01 != 0
    }
}

/// Quote body.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// SGX enclave report.
    Sgx(EnclaveReport<'a>),
    /// TD 1.0 report.
    Td10(TdReport<'a>),
    /// TD 1.5 report (v5 body type 3).
    Td15(TdReport<'a>),
}

impl<'a> Body<'a> {
    /// Short name: `sgx`, `td10`, `td15`.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Sgx(_) => "sgx",
            Body::Td10(_) => "td10",
            Body::Td15(_) => "td15",
        }
    }
    /// The TD report, for TDX bodies.
    pub fn td(&self) -> Option<&TdReport<'a>> {
        match self {
            Body::Td10(t) | Body::Td15(t) => Some(t),
            Body::Sgx(_) => None,
        }
    }
    /// The enclave report, for SGX bodies.
    pub fn sgx(&self) -> Option<&EnclaveReport<'a>> {
        match self {
            Body::Sgx(e) => Some(e),
            _ => None,
        }
    }
    /// REPORT_DATA of the body.
    pub fn report_data(&self) -> &'a [u8; 64] {
        match self {
            Body::Sgx(e) => e.report_data,
            Body::Td10(t) | Body::Td15(t) => t.report_data,
        }
    }
}

/// QE report certification data: the QE report, its PCK signature, QE authentication
/// data and the PCK certificate chain.
#[derive(Debug, Clone, Copy)]
pub struct QeCertification<'a> {
    /// QE report (384 bytes, enclave report layout).
    pub qe_report: EnclaveReport<'a>,
    /// ECDSA P-256 signature (r||s) over the QE report by the PCK key.
    pub qe_report_signature: &'a [u8; 64],
    /// QE authentication data.
    pub qe_auth_data: &'a [u8],
    /// PEM PCK certificate chain (leaf first), trailing NULs removed.
    pub pck_chain_pem: &'a [u8],
    /// Offset of the PEM chain in the quote.
    pub pck_chain_offset: usize,
}

/// Quote signature data (ECDSA P-256).
#[derive(Debug, Clone, Copy)]
pub struct SignatureData<'a> {
    /// Quote signature (r||s) over header+body.
    pub signature: &'a [u8; 64],
    /// Attestation public key (x||y).
    pub attestation_key: &'a [u8; 64],
    /// QE certification data.
    pub qe: QeCertification<'a>,
    /// Outer certification data type: 5 (v3) or 6 (v4/v5).
    pub cert_data_type: u16,
}

/// A parsed quote borrowing the received bytes.
#[derive(Debug, Clone, Copy)]
pub struct Quote<'a> {
    /// Header.
    pub header: Header<'a>,
    /// v5 body type (1, 2, 3); `None` for v3/v4.
    pub body_type: Option<u16>,
    /// Body.
    pub body: Body<'a>,
    /// Signature data.
    pub signature: SignatureData<'a>,
    /// Bytes covered by the quote signature (header [+ body descriptor] + body).
    pub signed: &'a [u8],
    /// The whole quote without padding.
    pub raw: &'a [u8],
    /// Number of zero bytes that followed the quote in the input (tolerated).
    pub padding: usize,
}

impl<'a> Quote<'a> {
    /// Parses a quote. Zero padding after the quote is tolerated and reported in
    /// `padding`; any other trailing byte is an error.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, QuoteError> {
        let mut r = Reader::new(bytes, 0);
        let hraw = r.array::<48>("header")?;
        let mut h = Reader::new(hraw, 0);
        let version = h.u16("version")?;
        let att_key_type = h.u16("att_key_type")?;
        let tee_type = h.u32("tee_type")?;
        let qe_svn = h.u16("qe_svn")?;
        let pce_svn = h.u16("pce_svn")?;
        let qe_vendor_id = h.array::<16>("qe_vendor_id")?;
        let user_data = h.array::<20>("user_data")?;
        if !(3..=5).contains(&version) {
            return Err(QuoteError::UnsupportedVersion(version));
        }
        if att_key_type != ATT_KEY_TYPE_ECDSA_P256 {
            return Err(QuoteError::UnsupportedAttestationKeyType(att_key_type));
        }
        let tee_ok = match version {
            3 => tee_type == TEE_TYPE_SGX,
            _ => tee_type == TEE_TYPE_SGX || tee_type == TEE_TYPE_TDX,
        };
        if !tee_ok {
            return Err(QuoteError::UnsupportedTeeType { tee_type, version });
        }
        let header = Header {
            version,
            att_key_type,
            tee_type,
            qe_svn,
            pce_svn,
            qe_vendor_id,
            user_data,
            raw: hraw,
        };

        let (body_type, body) = if version == 5 {
            let body_type = r.u16("body_type")?;
            let size_off = r.offset();
            let size = r.u32("body_size")?;
            let (expected, ok) = match body_type {
                1 => (SGX_REPORT_LEN, tee_type == TEE_TYPE_SGX),
                2 => (TD10_REPORT_LEN, tee_type == TEE_TYPE_TDX),
                3 => (TD15_REPORT_LEN, tee_type == TEE_TYPE_TDX),
                _ => (0, false),
            };
            if !ok {
                return Err(QuoteError::UnsupportedBodyType {
                    body_type,
                    tee_type,
                });
            }
            if usize_from(size) != expected {
                let _ = size_off;
                return Err(QuoteError::BodySizeMismatch {
                    body_type,
                    size,
                    expected,
                });
            }
            let base = r.offset();
            let raw = r.take(expected, "body")?;
            let body = match body_type {
                1 => Body::Sgx(EnclaveReport::parse(
                    raw.try_into().map_err(|_| truncated("body", base))?,
                    base,
                )?),
                2 => Body::Td10(TdReport::parse(raw, false, base)?),
                _ => Body::Td15(TdReport::parse(raw, true, base)?),
            };
            (Some(body_type), body)
        } else {
            let base = r.offset();
            if tee_type == TEE_TYPE_TDX {
                let raw = r.take(TD10_REPORT_LEN, "body")?;
                (None, Body::Td10(TdReport::parse(raw, false, base)?))
            } else {
                let raw = r.array::<384>("body")?;
                (None, Body::Sgx(EnclaveReport::parse(raw, base)?))
            }
        };
        let signed_len = r.offset();
        let signed = bytes.get(..signed_len).ok_or(truncated("body", 0))?;

        let sig_len_off = r.offset();
        let sig_len = usize_from(r.u32("signature_data_len")?);
        if sig_len > r.remaining() {
            return Err(QuoteError::LengthMismatch {
                field: "signature_data_len",
                offset: sig_len_off,
                declared: sig_len,
                available: r.remaining(),
            });
        }
        let sig_base = r.offset();
        let sig_bytes = r.take(sig_len, "signature_data")?;
        let end = r.offset();
        let trailing = r.rest();
        if trailing.iter().any(|b| *b != 0) {
            return Err(QuoteError::TrailingBytes {
                offset: end,
                count: trailing.len(),
            });
        }
        let signature = parse_signature_data(sig_bytes, sig_base, version, sig_len_off)?;
        Ok(Quote {
            header,
            body_type,
            body,
            signature,
            signed,
            raw: bytes.get(..end).unwrap_or(bytes),
            padding: trailing.len(),
        })
    }

    /// `true` for a TDX quote.
    pub fn is_tdx(&self) -> bool {
        self.header.tee_type == TEE_TYPE_TDX
    }
}

fn reserved(r: &mut Reader<'_>, n: usize, field: &'static str) -> Result<(), QuoteError> {
    let offset = r.offset();
    if r.take(n, field)?.iter().any(|b| *b != 0) {
        return Err(QuoteError::ReservedNotZero { field, offset });
    }
    Ok(())
}

fn truncated(field: &'static str, offset: usize) -> QuoteError {
    QuoteError::Truncated {
        field,
        offset,
        need: 0,
        have: 0,
    }
}

fn parse_signature_data(
    bytes: &[u8],
    base: usize,
    version: u16,
    len_off: usize,
) -> Result<SignatureData<'_>, QuoteError> {
    let mut r = Reader::new(bytes, base);
    let signature = r.array::<64>("quote_signature")?;
    let attestation_key = r.array::<64>("attestation_key")?;
    let (qe, cert_data_type) = if version == 3 {
        (parse_qe_cert(&mut r)?, 5)
    } else {
        let type_off = r.offset();
        let t = r.u16("certification_data_type")?;
        if t != 6 {
            return Err(QuoteError::UnsupportedCertificationDataType {
                cert_type: t,
                offset: type_off,
                expected: "6 (QE report certification data)",
            });
        }
        let size_off = r.offset();
        let size = usize_from(r.u32("certification_data_size")?);
        if size != r.remaining() {
            return Err(QuoteError::LengthMismatch {
                field: "certification_data_size (type 6)",
                offset: size_off,
                declared: size,
                available: r.remaining(),
            });
        }
        let inner_base = r.offset();
        let inner = r.take(size, "certification_data")?;
        let mut ir = Reader::new(inner, inner_base);
        (parse_qe_cert(&mut ir)?, 6)
    };
    if r.remaining() != 0 {
        return Err(QuoteError::LengthMismatch {
            field: "signature_data_len",
            offset: len_off,
            declared: bytes.len(),
            available: bytes.len().saturating_sub(r.remaining()),
        });
    }
    Ok(SignatureData {
        signature,
        attestation_key,
        qe,
        cert_data_type,
    })
}

/// Parses QE report, its signature, QE auth data and certification data type 5,
/// which must end exactly at the end of `r`.
fn parse_qe_cert<'a>(r: &mut Reader<'a>) -> Result<QeCertification<'a>, QuoteError> {
    let qe_base = r.offset();
    let qe_raw = r.array::<384>("qe_report")?;
    let qe_report = EnclaveReport::parse(qe_raw, qe_base)?;
    let qe_report_signature = r.array::<64>("qe_report_signature")?;
    let auth_len_off = r.offset();
    let auth_len = usize::from(r.u16("qe_auth_data_size")?);
    if auth_len > r.remaining() {
        return Err(QuoteError::LengthMismatch {
            field: "qe_auth_data_size",
            offset: auth_len_off,
            declared: auth_len,
            available: r.remaining(),
        });
    }
    let qe_auth_data = r.take(auth_len, "qe_auth_data")?;
    let type_off = r.offset();
    let t = r.u16("certification_data_type")?;
    if t != 5 {
        return Err(QuoteError::UnsupportedCertificationDataType {
            cert_type: t,
            offset: type_off,
            expected: "5 (PCK certificate chain)",
        });
    }
    let size_off = r.offset();
    let size = usize_from(r.u32("certification_data_size")?);
    if size != r.remaining() {
        return Err(QuoteError::LengthMismatch {
            field: "certification_data_size (type 5)",
            offset: size_off,
            declared: size,
            available: r.remaining(),
        });
    }
    let pck_chain_offset = r.offset();
    let pem = r.take(size, "pck_cert_chain")?;
    // The QE writes the PEM chain with a terminating NUL; tolerate NUL padding only.
    let trimmed_len = pem
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |p| p.saturating_add(1));
    let pck_chain_pem = pem.get(..trimmed_len).unwrap_or(&[]);
    Ok(QeCertification {
        qe_report,
        qe_report_signature,
        qe_auth_data,
        pck_chain_pem,
        pck_chain_offset,
    })
}

/// What wrapped the quote in the input, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    /// A bare quote (possibly followed by zero padding).
    Raw,
    /// Open Enclave evidence header (16 bytes: version 1, type 2, quote size u64).
    OpenEnclave,
}

/// Strips a recognised container (currently the 16-byte Open Enclave header) and
/// returns the quote bytes.
pub fn unwrap_container(bytes: &[u8]) -> (&[u8], Container) {
    if let (Some(v), Some(t), Some(sz), Some(rest)) = (
        bytes.get(0..4),
        bytes.get(4..8),
        bytes.get(8..16),
        bytes.get(16..),
    ) {
        let size = sz
            .try_into()
            .ok()
            .map(u64::from_le_bytes)
            .and_then(|s| usize::try_from(s).ok());
        if v == [1, 0, 0, 0] && t == [2, 0, 0, 0] && size.is_some_and(|s| s > 0 && s <= rest.len())
        {
            if let Some(q) = size.and_then(|s| rest.get(..s)) {
                if rest
                    .get(q.len()..)
                    .is_some_and(|p| p.iter().all(|b| *b == 0))
                {
                    return (q, Container::OpenEnclave);
                }
            }
        }
    }
    (bytes, Container::Raw)
}

/// `true` when `bytes` (raw, possibly zero-padded or inside an Open Enclave header)
/// is a DCAP quote this crate can parse.
pub fn detect(bytes: &[u8]) -> bool {
    let (q, _) = unwrap_container(bytes);
    Quote::parse(q).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_offsets_and_never_overreads() {
        let b = [1u8, 0, 2, 0, 0, 0];
        let mut r = Reader::new(&b, 100);
        assert_eq!(r.u16("a"), Ok(1));
        assert_eq!(r.u32("b"), Ok(2));
        assert_eq!(
            r.u16("c"),
            Err(QuoteError::Truncated {
                field: "c",
                offset: 106,
                need: 2,
                have: 0
            })
        );
        assert!(r.take(usize::MAX, "huge").is_err());
    }

    #[test]
    fn short_and_unknown_headers_are_errors() {
        assert!(matches!(
            Quote::parse(&[]),
            Err(QuoteError::Truncated {
                field: "header",
                ..
            })
        ));
        let mut h = [0u8; 48];
        h[0] = 2;
        assert_eq!(
            Quote::parse(&h).err(),
            Some(QuoteError::UnsupportedVersion(2))
        );
        h[0] = 3;
        h[2] = 2;
        h[4] = 0x81;
        assert!(matches!(
            Quote::parse(&h),
            Err(QuoteError::UnsupportedTeeType { version: 3, .. })
        ));
        h[4] = 0;
        assert!(matches!(
            Quote::parse(&h),
            Err(QuoteError::Truncated { field: "body", .. })
        ));
        let mut v5 = [0u8; 54];
        v5[0] = 5;
        v5[2] = 2;
        v5[4] = 0x81;
        v5[48] = 1; // SGX body type in a TDX quote
        assert!(matches!(
            Quote::parse(&v5),
            Err(QuoteError::UnsupportedBodyType { .. })
        ));
        v5[48] = 3;
        v5[50] = 0x48; // 584 instead of 648
        v5[51] = 0x02;
        assert!(matches!(
            Quote::parse(&v5),
            Err(QuoteError::BodySizeMismatch { .. })
        ));
    }

    #[test]
    fn open_enclave_header_needs_exact_size() {
        let mut b = vec![1, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&[9, 9, 9, 9]);
        assert_eq!(unwrap_container(&b), (&b[16..], Container::OpenEnclave));
        b.push(1);
        assert_eq!(unwrap_container(&b).1, Container::Raw);
        assert!(!detect(&b));
    }
}

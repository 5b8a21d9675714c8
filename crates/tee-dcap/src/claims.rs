//! Typed claims, turned into JSON only at the policy boundary. Byte fields are lower-case hex.

use serde::Serialize;

use crate::pck::{PckExtensions, SgxType};
use crate::pcs::TcbStatus;
use crate::quote::{Body, Quote};

/// Measurement-like byte string serialised as lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl HexBytes {
    /// From a slice.
    pub fn from_slice(b: &[u8]) -> Self {
        HexBytes(b.to_vec())
    }
    /// Lower-case hex text.
    pub fn hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl Serialize for HexBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl core::fmt::Display for HexBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.hex())
    }
}

/// 48-byte SHA-384 measurement (MRTD, RTMRs, MRSEAM, …).
pub type Measurement = HexBytes;

/// Claims from a TD report body.
#[derive(Debug, Clone, Serialize)]
pub struct TdxClaims {
    /// MRTD.
    pub mr_td: Measurement,
    /// RTMR0.
    pub rtmr0: Measurement,
    /// RTMR1.
    pub rtmr1: Measurement,
    /// RTMR2.
    pub rtmr2: Measurement,
    /// RTMR3.
    pub rtmr3: Measurement,
    /// MRSEAM.
    pub mr_seam: Measurement,
    /// MRSIGNERSEAM.
    pub mr_signer_seam: Measurement,
    /// SEAMATTRIBUTES.
    pub seam_attributes: HexBytes,
    /// TDATTRIBUTES (8 bytes, report order).
    pub td_attributes: HexBytes,
    /// Names of the TDATTRIBUTES bits set (`debug`, `sept_ve_disable`, `pks`, `kl`, `perfmon`).
    pub td_attributes_flags: Vec<&'static str>,
    /// XFAM.
    pub xfam: HexBytes,
    /// MRCONFIGID.
    pub mr_config_id: HexBytes,
    /// MROWNER.
    pub mr_owner: HexBytes,
    /// MROWNERCONFIG.
    pub mr_owner_config: HexBytes,
    /// TEE_TCB_SVN.
    pub tee_tcb_svn: HexBytes,
    /// TD 1.5: TEE_TCB_SVN2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tee_tcb_svn2: Option<HexBytes>,
    /// TD 1.5: MRSERVICETD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mr_servicetd: Option<Measurement>,
}

/// Claims from an SGX enclave report body.
#[derive(Debug, Clone, Serialize)]
pub struct SgxClaims {
    /// MRENCLAVE.
    pub mr_enclave: HexBytes,
    /// MRSIGNER.
    pub mr_signer: HexBytes,
    /// ISVPRODID.
    pub isv_prod_id: u16,
    /// ISVSVN.
    pub isv_svn: u16,
    /// ATTRIBUTES (16 bytes, report order).
    pub attributes: HexBytes,
    /// CONFIGID.
    pub config_id: HexBytes,
    /// CONFIGSVN.
    pub config_svn: u16,
    /// CPUSVN (of the enclave report).
    pub cpu_svn: HexBytes,
    /// MISCSELECT (4 bytes, report order).
    pub misc_select: HexBytes,
}

/// Claims that come from the quote bytes alone (before any verification).
#[derive(Debug, Clone, Serialize)]
pub struct QuoteClaims {
    /// `tdx` or `sgx`.
    pub tee: &'static str,
    /// Quote version.
    pub quote_version: u16,
    /// `sgx`, `td10` or `td15`.
    pub body_type: &'static str,
    /// Debug bit of TDATTRIBUTES / ATTRIBUTES.
    pub debug: bool,
    /// REPORT_DATA.
    pub report_data: HexBytes,
    /// TDX body claims.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub tdx: Option<TdxClaims>,
    /// SGX body claims.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub sgx: Option<SgxClaims>,
}

const TD_ATTR_BITS: [(u32, &str); 5] = [
    (0, "debug"),
    (28, "sept_ve_disable"),
    (30, "pks"),
    (31, "kl"),
    (63, "perfmon"),
];

impl QuoteClaims {
    /// Extracts the body claims of a parsed quote.
    pub fn from_quote(q: &Quote<'_>) -> Self {
        let h = HexBytes::from_slice;
        match &q.body {
            Body::Sgx(e) => QuoteClaims {
                tee: "sgx",
                quote_version: q.header.version,
                body_type: q.body.kind(),
                debug: e.debug(),
                report_data: h(e.report_data),
                tdx: None,
                sgx: Some(SgxClaims {
                    mr_enclave: h(e.mr_enclave),
                    mr_signer: h(e.mr_signer),
                    isv_prod_id: e.isv_prod_id,
                    isv_svn: e.isv_svn,
                    attributes: h(e.attributes),
                    config_id: h(e.config_id),
                    config_svn: e.config_svn,
                    cpu_svn: h(e.cpu_svn),
                    misc_select: h(&e.misc_select.to_le_bytes()),
                }),
            },
            Body::Td10(t) | Body::Td15(t) => {
                let attrs = u64::from_le_bytes(*t.td_attributes);
                QuoteClaims {
                    tee: "tdx",
                    quote_version: q.header.version,
                    body_type: q.body.kind(),
                    debug: t.debug(),
                    report_data: h(t.report_data),
                    sgx: None,
                    tdx: Some(TdxClaims {
                        mr_td: h(t.mr_td),
                        rtmr0: h(t.rtmr[0]),
                        rtmr1: h(t.rtmr[1]),
                        rtmr2: h(t.rtmr[2]),
                        rtmr3: h(t.rtmr[3]),
                        mr_seam: h(t.mr_seam),
                        mr_signer_seam: h(t.mr_signer_seam),
                        seam_attributes: h(t.seam_attributes),
                        td_attributes: h(t.td_attributes),
                        td_attributes_flags: TD_ATTR_BITS
                            .iter()
                            .filter(|(bit, _)| attrs.checked_shr(*bit).unwrap_or(0) & 1 == 1)
                            .map(|(_, n)| *n)
                            .collect(),
                        xfam: h(t.xfam),
                        mr_config_id: h(t.mr_config_id),
                        mr_owner: h(t.mr_owner),
                        mr_owner_config: h(t.mr_owner_config),
                        tee_tcb_svn: h(t.tee_tcb_svn),
                        tee_tcb_svn2: t.tee_tcb_svn2.map(|x| h(x)),
                        mr_servicetd: t.mr_servicetd.map(|x| h(x)),
                    }),
                }
            }
        }
    }
}

/// Platform claims from the PCK certificate.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformClaims {
    /// FMSPC.
    pub fmspc: HexBytes,
    /// PCE-ID.
    pub pce_id: HexBytes,
    /// PCESVN from the PCK certificate.
    pub pce_svn: u16,
    /// CPUSVN from the PCK certificate.
    pub pck_cpu_svn: HexBytes,
    /// SGX TCB components from the PCK certificate.
    pub sgx_tcb_components: Vec<u8>,
    /// SGX type.
    pub sgx_type: SgxType,
    /// PCK issuer: `platform` or `processor`.
    pub pck_ca: &'static str,
}

impl PlatformClaims {
    pub(crate) fn new(e: &PckExtensions, pck_ca: &'static str) -> Self {
        PlatformClaims {
            fmspc: HexBytes::from_slice(&e.fmspc),
            pce_id: HexBytes::from_slice(&e.pce_id),
            pce_svn: e.pce_svn,
            pck_cpu_svn: HexBytes::from_slice(&e.cpu_svn),
            sgx_tcb_components: e.tcb_components.to_vec(),
            sgx_type: e.sgx_type,
            pck_ca,
        }
    }
}

/// TCB appraisal claims (inputs for policy, not verdicts).
#[derive(Debug, Clone, Serialize)]
pub struct TcbClaims {
    /// Overall status: platform level converged with the TDX module and QE statuses.
    pub tcb_status: TcbStatus,
    /// Advisory IDs of the platform level, TDX module level and QE level (deduplicated).
    pub advisory_ids: Vec<String>,
    /// tcbDate of the matched platform level.
    pub tcb_date: String,
    /// Status of the matched platform TCB level alone.
    pub platform_tcb_status: TcbStatus,
    /// Status of the TDX module identity level, when evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tdx_module_tcb_status: Option<TcbStatus>,
    /// TDX module identity used (`TDX_03`, …), when evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tdx_module_identity: Option<String>,
    /// QE identity TCB status.
    pub qe_tcb_status: TcbStatus,
    /// tcbDate of the QE identity level.
    pub qe_tcb_date: String,
    /// tcbEvaluationDataNumber of the TCB info.
    pub tcb_evaluation_data_number: u32,
}

/// Which collateral was used.
#[derive(Debug, Clone, Serialize)]
pub struct CollateralClaims {
    /// TCB info issueDate (RFC 3339).
    pub tcb_info_issue_date: String,
    /// TCB info nextUpdate.
    pub tcb_info_next_update: String,
    /// QE identity issueDate.
    pub qe_identity_issue_date: String,
    /// QE identity nextUpdate.
    pub qe_identity_next_update: String,
    /// PCK CRL checked.
    pub pck_crl_checked: bool,
    /// Root CA CRL checked.
    pub root_ca_crl_checked: bool,
}

/// All claims of a verified quote.
#[derive(Debug, Clone, Serialize)]
pub struct Claims {
    /// From the quote body.
    #[serde(flatten)]
    pub quote: QuoteClaims,
    /// From the PCK certificate.
    #[serde(flatten)]
    pub platform: PlatformClaims,
    /// TCB appraisal.
    #[serde(flatten)]
    pub tcb: TcbClaims,
    /// QE report ISVSVN.
    pub qe_svn: u16,
    /// Collateral used.
    pub collateral: CollateralClaims,
    /// Zero bytes after the quote that were tolerated.
    pub padding: usize,
}

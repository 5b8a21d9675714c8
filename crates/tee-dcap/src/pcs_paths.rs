//! Names of the Intel PCS (and PCCS, which serves the same paths) resources
//! a quote needs: its platform's TCB info (by FMSPC, for TDX or SGX), the
//! quoting enclave's identity, and the CRL of the CA that issued its PCK
//! certificate (Intel PCS API v4).
//!
//! Pure: this names what to fetch; fetching, caching and retrying live
//! above. What is fetched is verified like configured collateral: signed
//! by the TCB signing key under the pinned root, over the bytes served.

use crate::certs::parse_pem_chain;
use crate::error::{DcapError, QuoteError};
use crate::pck::PckExtensions;
use crate::quote::{unwrap_container, Quote};

/// The response header with a TCB info's issuer chain (URL-encoded PEM,
/// the TCB signing certificate then the root).
pub const TCB_INFO_ISSUER_CHAIN: &str = "TCB-Info-Issuer-Chain";
/// The response header with a QE identity's issuer chain.
pub const QE_IDENTITY_ISSUER_CHAIN: &str = "SGX-Enclave-Identity-Issuer-Chain";
/// The response header with a PCK CRL's issuer chain (the PCK CA, root).
pub const PCK_CRL_ISSUER_CHAIN: &str = "SGX-PCK-CRL-Issuer-Chain";

/// What a quote's verification needs from PCS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollateralNeeds {
    /// A TDX quote (else SGX).
    pub tdx: bool,
    /// The platform's FMSPC, from the PCK certificate.
    pub fmspc: [u8; 6],
    /// `platform` or `processor`: the CA that issued the PCK certificate.
    pub pck_ca: Option<&'static str>,
}

impl CollateralNeeds {
    /// Reads them from a quote (its PCK certificate chain).
    ///
    /// # Errors
    /// The quote or its PCK chain does not parse, or the PCK certificate
    /// has no SGX extensions.
    pub fn of_quote(quote_bytes: &[u8]) -> Result<Self, DcapError> {
        let (bytes, _) = unwrap_container(quote_bytes);
        let q = Quote::parse(bytes)?;
        let chain = parse_pem_chain(q.signature.qe.pck_chain_pem).map_err(|reason| {
            DcapError::Quote(QuoteError::BadPckChain {
                offset: q.signature.qe.pck_chain_offset,
                reason,
            })
        })?;
        let leaf = chain
            .first()
            .ok_or_else(|| DcapError::PckExtension("the PCK certificate chain is empty".into()))?;
        let ext_der = leaf.sgx_extension.as_ref().ok_or_else(|| {
            DcapError::PckExtension("SGX extensions (1.2.840.113741.1.13.1) missing".into())
        })?;
        let ext = PckExtensions::parse(ext_der).map_err(DcapError::PckExtension)?;
        let pck_ca = chain.get(1).and_then(|ca| match ca.subject_cn.as_str() {
            "Intel SGX PCK Platform CA" => Some("platform"),
            "Intel SGX PCK Processor CA" => Some("processor"),
            _ => None,
        });
        Ok(CollateralNeeds {
            tdx: q.is_tdx(),
            fmspc: ext.fmspc,
            pck_ca,
        })
    }

    fn family(&self) -> &'static str {
        if self.tdx {
            "tdx"
        } else {
            "sgx"
        }
    }

    /// `{tdx|sgx}/certification/v4/tcb?fmspc=…` (FMSPC in upper-case hex).
    pub fn tcb_info_path(&self) -> String {
        format!(
            "{}/certification/v4/tcb?fmspc={}",
            self.family(),
            hex::encode_upper(self.fmspc)
        )
    }

    /// `{tdx|sgx}/certification/v4/qe/identity`: TD_QE for TDX, QE for SGX.
    pub fn qe_identity_path(&self) -> String {
        format!("{}/certification/v4/qe/identity", self.family())
    }

    /// `sgx/certification/v4/pckcrl?ca=…&encoding=der`, when the PCK
    /// certificate's issuer is one of Intel's two PCK CAs.
    pub fn pck_crl_path(&self) -> Option<String> {
        self.pck_ca
            .map(|ca| format!("sgx/certification/v4/pckcrl?ca={ca}&encoding=der"))
    }
}

/// The PEM text of a URL-encoded issuer-chain header (`%XX` escapes, `+`
/// kept: PEM base64 uses it literally).
///
/// # Errors
/// A `%` not followed by two hex digits, or text that is not UTF-8.
pub fn decode_issuer_chain(header: &str) -> Result<String, String> {
    let bytes = header.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad %-escape at offset {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the issuer chain is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_follow_the_pcs_v4_api() {
        let n = CollateralNeeds {
            tdx: true,
            fmspc: [0x00, 0x80, 0x6f, 0x05, 0x00, 0x00],
            pck_ca: Some("platform"),
        };
        assert_eq!(
            n.tcb_info_path(),
            "tdx/certification/v4/tcb?fmspc=00806F050000"
        );
        assert_eq!(n.qe_identity_path(), "tdx/certification/v4/qe/identity");
        assert_eq!(
            n.pck_crl_path().unwrap(),
            "sgx/certification/v4/pckcrl?ca=platform&encoding=der"
        );
        let sgx = CollateralNeeds {
            tdx: false,
            pck_ca: None,
            ..n
        };
        assert_eq!(
            sgx.tcb_info_path(),
            "sgx/certification/v4/tcb?fmspc=00806F050000"
        );
        assert_eq!(sgx.pck_crl_path(), None);
    }

    #[test]
    fn issuer_chain_headers_are_url_decoded() {
        assert_eq!(
            decode_issuer_chain("-----BEGIN%20CERTIFICATE-----%0AMII+x/y=%0A").unwrap(),
            "-----BEGIN CERTIFICATE-----\nMII+x/y=\n"
        );
        assert!(decode_issuer_chain("%4").is_err());
        assert!(decode_issuer_chain("%zz").is_err());
        assert!(decode_issuer_chain("%ff").is_err());
    }
}

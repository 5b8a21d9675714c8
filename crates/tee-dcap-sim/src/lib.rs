//! A simulated Intel DCAP platform for tests and development: a generated PKI
//! shaped like Intel's (root CA → PCK Platform CA → PCK certificate with the
//! SGX extensions; root → TCB Signing), PCS collateral signed by it (TCB info
//! for TDX and SGX, TD_QE and QE identities, both CRLs) valid around a chosen
//! time, and TDX v4 / SGX v3 quotes carrying the report data a test chooses.
//!
//! Nothing here is trusted by default: a verifier accepts these quotes only
//! when told to trust [`DcapSim::root_der`] (`tee_dcap::Verifier::with_trust_anchor`,
//! or `[dcap] trust_anchors` in the server's configuration). The names say
//! "Intel" only because the verifier classifies PCK CAs by common name.
#![forbid(unsafe_code)]

pub mod pki;

use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use pki::{
    crl, isv_tcb_level, qe_identity, raw_signer, sign, signed_body, tcb_info, tcb_level, Hierarchy,
};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Why the simulation could not be built.
#[derive(Debug, thiserror::Error)]
#[error("DCAP simulation: {0}")]
pub struct SimError(String);

fn err(e: impl std::fmt::Display) -> SimError {
    SimError(e.to_string())
}

/// FMSPC of the simulated platform.
pub const FMSPC: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
/// MRSIGNER of the simulated quoting enclaves.
pub const QE_MRSIGNER: [u8; 32] = [0xdc; 32];

/// What the platform's collateral says about it.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Collateral is issued one day before this time (unix seconds) and is
    /// valid for `validity_secs` after it.
    pub now: i64,
    /// How long the collateral (TCB info, QE identities, CRLs) stays fresh.
    pub validity_secs: i64,
    /// The TCB status of the platform's only TCB level (`UpToDate`,
    /// `SWHardeningNeeded`, `OutOfDate`, …).
    pub tcb_status: String,
    /// Serials the root CA CRL revokes (2 is the PCK Platform CA, 3 the
    /// TCB Signing certificate).
    pub root_crl_revokes: Vec<u64>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            now: 1_800_000_000,
            validity_secs: 30 * 86_400,
            tcb_status: "UpToDate".into(),
            root_crl_revokes: Vec::new(),
        }
    }
}

/// What a TD quote says.
#[derive(Clone, Debug)]
pub struct TdOptions {
    pub report_data: [u8; 64],
    pub mr_td: [u8; 48],
    pub rtmr: [[u8; 48]; 4],
    pub mr_config_id: [u8; 48],
    pub debug: bool,
}

impl Default for TdOptions {
    fn default() -> Self {
        TdOptions {
            report_data: [0; 64],
            mr_td: [0x5a; 48],
            rtmr: [[0; 48]; 4],
            mr_config_id: [0; 48],
            debug: false,
        }
    }
}

/// What an SGX quote says.
#[derive(Clone, Debug)]
pub struct EnclaveOptions {
    pub report_data: [u8; 64],
    pub mr_enclave: [u8; 32],
    pub mr_signer: [u8; 32],
    pub isv_prod_id: u16,
    pub isv_svn: u16,
    pub config_id: [u8; 64],
    pub debug: bool,
}

impl Default for EnclaveOptions {
    fn default() -> Self {
        EnclaveOptions {
            report_data: [0; 64],
            mr_enclave: [0xe1; 32],
            mr_signer: [0x51; 32],
            isv_prod_id: 1,
            isv_svn: 1,
            config_id: [0; 64],
            debug: false,
        }
    }
}

/// A generated platform: its PKI, collateral and keys.
pub struct DcapSim {
    root_der: Vec<u8>,
    root_pem: String,
    pck_chain_pem: String,
    pck_key: EcdsaKeyPair,
    att_key: EcdsaKeyPair,
    collateral: Vec<(String, Vec<u8>)>,
    /// The root and its key, for more root CA CRLs ([`DcapSim::root_crl`]).
    root: rcgen::Certificate,
    root_key: rcgen::KeyPair,
}

fn at(t: i64) -> Result<OffsetDateTime, SimError> {
    OffsetDateTime::from_unix_timestamp(t).map_err(err)
}

fn rfc3339(t: i64) -> Result<String, SimError> {
    at(t)?.format(&Rfc3339).map_err(err)
}

const PCK_COMPONENTS: [u8; 16] = [7; 16];
const PCE_SVN: u16 = 11;
const QE_ISV_SVN: u16 = 8;
const TEE_TCB_SVN: [u8; 16] = [3, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const TCB_DATE: &str = "2024-03-01T00:00:00Z";

impl DcapSim {
    /// Generates a new hierarchy and its collateral.
    pub fn generate(o: &SimOptions) -> Result<Self, SimError> {
        let h = Hierarchy::generate(PCK_COMPONENTS, PCE_SVN, FMSPC)?;
        let from_t = o.now.saturating_sub(86_400);
        let to_t = o.now.saturating_add(o.validity_secs);
        let (from, to) = (rfc3339(from_t)?, rfc3339(to_t)?);
        let tcb_signer = raw_signer(&h.tcb_key)?;
        let adv: &[&str] = if o.tcb_status == "UpToDate" {
            &[]
        } else {
            &["INTEL-SA-00000"]
        };
        let sgx_level =
            |tdx: Option<[u8; 16]>| tcb_level([1; 16], PCE_SVN, tdx, TCB_DATE, &o.tcb_status, adv);
        let module_level = isv_tcb_level(3, TCB_DATE, "UpToDate", &[]);
        let tdx_info = tcb_info(
            FMSPC,
            &from,
            &to,
            Some(&module_level),
            &sgx_level(Some([0; 16])),
        );
        let sgx_info = tcb_info(FMSPC, &from, &to, None, &sgx_level(None));
        let qe_level = isv_tcb_level(QE_ISV_SVN, "2024-03-13T00:00:00Z", "UpToDate", &[]);
        let qe_id = |id, prod_id| qe_identity(id, prod_id, QE_MRSIGNER, &from, &to, &qe_level);
        let collateral = vec![
            (
                "tcbinfo-tdx.json".to_string(),
                signed_body(&tcb_signer, "tcbInfo", &tdx_info)?,
            ),
            (
                "tcbinfo-sgx.json".to_string(),
                signed_body(&tcb_signer, "tcbInfo", &sgx_info)?,
            ),
            (
                "qeid-tdqe.json".to_string(),
                signed_body(&tcb_signer, "enclaveIdentity", &qe_id("TD_QE", 2))?,
            ),
            (
                "qeid-qe.json".to_string(),
                signed_body(&tcb_signer, "enclaveIdentity", &qe_id("QE", 1))?,
            ),
            ("tcb-signing.pem".to_string(), h.tcb.pem().into_bytes()),
            ("pck-platform-ca.der".to_string(), h.ca.der().to_vec()),
            (
                "pckcrl.der".to_string(),
                crl(&h.ca, &h.ca_key, at(from_t)?, at(to_t)?, &[])?,
            ),
            (
                "rootcrl.der".to_string(),
                crl(
                    &h.root,
                    &h.root_key,
                    at(from_t)?,
                    at(to_t)?,
                    &o.root_crl_revokes,
                )?,
            ),
        ];
        Ok(DcapSim {
            root_der: h.root.der().to_vec(),
            root_pem: h.root.pem(),
            pck_chain_pem: h.pck_chain_pem(),
            pck_key: raw_signer(&h.pck_key)?,
            att_key: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(err)?,
            collateral,
            root: h.root,
            root_key: h.root_key,
        })
    }

    /// Another root CA CRL of this hierarchy, in force over
    /// `this_update..next_update` (Unix seconds) and revoking `revoked`
    /// serials (an older or newer one than the collateral's).
    pub fn root_crl(
        &self,
        this_update: i64,
        next_update: i64,
        revoked: &[u64],
    ) -> Result<Vec<u8>, SimError> {
        crl(
            &self.root,
            &self.root_key,
            at(this_update)?,
            at(next_update)?,
            revoked,
        )
    }

    /// The simulated root CA (DER), to trust explicitly.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The simulated root CA (PEM), for `[dcap] trust_anchors`.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// Collateral files: (suggested file name, bytes).
    pub fn collateral(&self) -> &[(String, Vec<u8>)] {
        &self.collateral
    }

    /// Writes the collateral files and `root.pem` into `dir`; returns the
    /// collateral directory's and the root's paths.
    pub fn write_to(
        &self,
        dir: &std::path::Path,
    ) -> std::io::Result<(std::path::PathBuf, std::path::PathBuf)> {
        let c = dir.join("dcap-collateral");
        std::fs::create_dir_all(&c)?;
        for (name, bytes) in &self.collateral {
            std::fs::write(c.join(name), bytes)?;
        }
        let root = dir.join("dcap-root.pem");
        std::fs::write(&root, &self.root_pem)?;
        Ok((c, root))
    }

    /// A TDX quote v4 (TD 1.0 body).
    pub fn tdx_quote(&self, td: &TdOptions) -> Result<Vec<u8>, SimError> {
        let mut body = vec![0u8; 584];
        put(&mut body, 0, &TEE_TCB_SVN);
        // TDATTRIBUTES bit 0 is DEBUG; bit 28 (SEPT_VE_DISABLE) as a real TD sets it.
        let attrs: u64 = (1 << 28) | u64::from(td.debug);
        put(&mut body, 120, &attrs.to_le_bytes());
        put(&mut body, 136, &td.mr_td);
        put(&mut body, 184, &td.mr_config_id);
        for (i, r) in td.rtmr.iter().enumerate() {
            put(&mut body, 328 + 48 * i, r);
        }
        put(&mut body, 520, &td.report_data);
        self.quote(4, 0x81, 2, &body)
    }

    /// An SGX quote v3.
    pub fn sgx_quote(&self, e: &EnclaveOptions) -> Result<Vec<u8>, SimError> {
        let mut body = vec![0u8; 384];
        put(&mut body, 0, &PCK_COMPONENTS);
        // ATTRIBUTES flags: INIT (bit 0), DEBUG (bit 1), MODE64BIT (bit 2).
        let flags: u64 = 0x05 | if e.debug { 0x02 } else { 0 };
        put(&mut body, 48, &flags.to_le_bytes());
        put(&mut body, 56, &0xe7u64.to_le_bytes());
        put(&mut body, 64, &e.mr_enclave);
        put(&mut body, 128, &e.mr_signer);
        put(&mut body, 192, &e.config_id);
        put(&mut body, 256, &e.isv_prod_id.to_le_bytes());
        put(&mut body, 258, &e.isv_svn.to_le_bytes());
        put(&mut body, 320, &e.report_data);
        self.quote(3, 0, 1, &body)
    }

    fn quote(
        &self,
        version: u16,
        tee_type: u32,
        qe_prod_id: u16,
        body: &[u8],
    ) -> Result<Vec<u8>, SimError> {
        let mut header = Vec::with_capacity(48);
        header.extend_from_slice(&version.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&tee_type.to_le_bytes());
        header.extend_from_slice(&[0; 4]);
        header.extend_from_slice(&tee_dcap::quote::INTEL_QE_VENDOR_ID);
        header.extend_from_slice(&[0; 20]);
        let att_pub = self
            .att_key
            .public_key()
            .as_ref()
            .get(1..)
            .unwrap_or_default()
            .to_vec();
        let mut signed = header;
        signed.extend_from_slice(body);
        let quote_sig = sign(&self.att_key, &signed)?;

        let auth = [0x17u8; 32];
        let mut qe = vec![0u8; 384];
        put(&mut qe, 48, &[0x11]); // ATTRIBUTES: INIT | PROVISIONKEY
        put(&mut qe, 128, &QE_MRSIGNER);
        put(&mut qe, 256, &qe_prod_id.to_le_bytes());
        put(&mut qe, 258, &QE_ISV_SVN.to_le_bytes());
        let mut bind = att_pub.clone();
        bind.extend_from_slice(&auth);
        put(&mut qe, 320, &tee_dcap::certs::sha256(&bind));
        let qe_sig = sign(&self.pck_key, &qe)?;
        let pem = self.pck_chain_pem.as_bytes();
        let mut qe_cert = qe;
        qe_cert.extend_from_slice(&qe_sig);
        qe_cert.extend_from_slice(&(auth.len() as u16).to_le_bytes());
        qe_cert.extend_from_slice(&auth);
        qe_cert.extend_from_slice(&5u16.to_le_bytes());
        qe_cert.extend_from_slice(&len32(pem.len() + 1)?);
        qe_cert.extend_from_slice(pem);
        qe_cert.push(0);
        let mut sig_data = quote_sig;
        sig_data.extend_from_slice(&att_pub);
        if version == 3 {
            sig_data.extend_from_slice(&qe_cert);
        } else {
            sig_data.extend_from_slice(&6u16.to_le_bytes());
            sig_data.extend_from_slice(&len32(qe_cert.len())?);
            sig_data.extend_from_slice(&qe_cert);
        }
        let mut quote = signed;
        quote.extend_from_slice(&len32(sig_data.len())?);
        quote.extend_from_slice(&sig_data);
        Ok(quote)
    }
}

fn len32(n: usize) -> Result<[u8; 4], SimError> {
    Ok(u32::try_from(n).map_err(err)?.to_le_bytes())
}

fn put(buf: &mut [u8], at: usize, v: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + v.len()) {
        dst.copy_from_slice(v);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tee_dcap::{Collateral, TcbStatus, Verifier, VerifyOptions};

    fn verifier(sim: &DcapSim) -> Verifier {
        let bag = Collateral::from_inputs(sim.collateral().iter().map(|(_, b)| b)).unwrap();
        Verifier::with_trust_anchor(bag, sim.root_der(), VerifyOptions { require_crls: true })
            .unwrap()
    }

    #[test]
    fn tdx_and_sgx_quotes_verify_with_the_chosen_values() {
        let o = SimOptions::default();
        let sim = DcapSim::generate(&o).unwrap();
        let v = verifier(&sim);
        let td = TdOptions {
            report_data: [0x42; 64],
            ..TdOptions::default()
        };
        let q = v.verify(&sim.tdx_quote(&td).unwrap(), o.now).unwrap();
        assert_eq!(q.claims.quote.tee, "tdx");
        assert_eq!(q.claims.quote.report_data.0, vec![0x42; 64]);
        assert_eq!(q.claims.tcb.tcb_status, TcbStatus::UpToDate);
        assert!(!q.claims.quote.debug);
        let e = EnclaveOptions {
            report_data: [0x24; 64],
            debug: true,
            ..EnclaveOptions::default()
        };
        let q = v.verify(&sim.sgx_quote(&e).unwrap(), o.now).unwrap();
        assert_eq!(q.claims.quote.tee, "sgx");
        assert!(q.claims.quote.debug);
        assert_eq!(q.claims.quote.report_data.0, vec![0x24; 64]);
        // Stale after the validity window; untrusted without the anchor.
        assert!(v
            .verify(&sim.tdx_quote(&td).unwrap(), o.now + 40 * 86_400)
            .is_err());
        let bag = Collateral::from_inputs(sim.collateral().iter().map(|(_, b)| b)).unwrap();
        assert!(Verifier::new(bag)
            .verify(&sim.tdx_quote(&td).unwrap(), o.now)
            .is_err());
    }

    #[test]
    fn tcb_status_is_configurable() {
        let o = SimOptions {
            tcb_status: "SWHardeningNeeded".into(),
            ..SimOptions::default()
        };
        let sim = DcapSim::generate(&o).unwrap();
        let q = verifier(&sim)
            .verify(&sim.tdx_quote(&TdOptions::default()).unwrap(), o.now)
            .unwrap();
        assert_eq!(q.claims.tcb.tcb_status, TcbStatus::SWHardeningNeeded);
        assert_eq!(
            q.claims.tcb.advisory_ids,
            vec!["INTEL-SA-00000".to_string()]
        );
    }
}

//! Offline verification of a DCAP quote against a collateral bag at a given time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

use crate::certs::{
    fmt_time, intel_root, parse_pem_chain, sha256, validate_chain, Cert, Crl, SigMemo,
};
use crate::claims::{Claims, CollateralClaims, PlatformClaims, QuoteClaims, TcbClaims};
use crate::collateral::{Collateral, QeIdentityItem, TcbInfoItem};
use crate::error::{DcapError, Item, QuoteError};
use crate::pck::PckExtensions;
use crate::pcs::{QeIdentity, TcbInfo, TcbInfoId};
use crate::quote::{unwrap_container, Container, Quote};
use crate::tcb;

/// Verification options.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Require the PCK CRL and the root CA CRL (default: checked when present).
    pub require_crls: bool,
}

/// Successful signature memo (object fingerprint, signer fingerprint).
#[derive(Default)]
struct Memo {
    ok: RwLock<HashSet<([u8; 32], [u8; 32])>>,
}

/// Signatures remembered at most: PCK chains come with quotes, so senders
/// choose what is remembered. A full memo makes room for one entry.
const MAX_MEMO: usize = 16_384;

impl SigMemo for Memo {
    fn check(&self, object: [u8; 32], signer: [u8; 32], verify: &dyn Fn() -> bool) -> bool {
        if self.ok.read().is_ok_and(|s| s.contains(&(object, signer))) {
            return true;
        }
        let r = verify();
        if r {
            if let Ok(mut s) = self.ok.write() {
                if s.len() >= MAX_MEMO {
                    if let Some(k) = s.iter().next().copied() {
                        s.remove(&k);
                    }
                }
                s.insert((object, signer));
            }
        }
        r
    }
}

/// A parsed PCK chain from a quote (time-independent part, cached by PEM bytes).
struct PckEntry {
    chain: Vec<Arc<Cert>>,
    ext: PckExtensions,
    summaries: Vec<CertSummary>,
}

/// A verifier bound to one collateral bag and trust anchor; caches parsed PCK chains
/// and successful signature checks, so repeated quotes from known platforms cost two
/// ECDSA verifications. Time-dependent checks are repeated on every call.
pub struct Verifier {
    collateral: Collateral,
    root: Arc<Cert>,
    options: VerifyOptions,
    memo: Memo,
    pck_cache: RwLock<HashMap<Vec<u8>, Arc<PckEntry>>>,
}

const PCK_CACHE_MAX: usize = 4096;

impl Verifier {
    /// Verifier with the pinned Intel SGX Root CA.
    pub fn new(collateral: Collateral) -> Self {
        Self::with_options(collateral, VerifyOptions::default())
    }

    /// Verifier with options and the pinned Intel SGX Root CA.
    pub fn with_options(collateral: Collateral, options: VerifyOptions) -> Self {
        Verifier {
            collateral,
            root: intel_root(),
            options,
            memo: Memo::default(),
            pck_cache: RwLock::new(HashMap::new()),
        }
    }

    /// Verifier trusting another root (private PKIs and test hierarchies). The root must
    /// be a self-signed ECDSA P-256 CA certificate (DER).
    pub fn with_trust_anchor(
        collateral: Collateral,
        root_der: &[u8],
        options: VerifyOptions,
    ) -> Result<Self, DcapError> {
        let root = Cert::from_der(root_der).map_err(|reason| DcapError::Chain {
            item: Item::Certificate,
            reason,
        })?;
        if !root.is_signed_by(&root) {
            return Err(DcapError::Chain {
                item: Item::Certificate,
                reason: "trust anchor is not self-signed".into(),
            });
        }
        Ok(Verifier {
            collateral,
            root,
            options,
            memo: Memo::default(),
            pck_cache: RwLock::new(HashMap::new()),
        })
    }

    /// The collateral bag.
    pub fn collateral(&self) -> &Collateral {
        &self.collateral
    }

    fn pck_entry(&self, q: &Quote<'_>) -> Result<Arc<PckEntry>, DcapError> {
        let pem = q.signature.qe.pck_chain_pem;
        if let Some(e) = self.pck_cache.read().ok().and_then(|m| m.get(pem).cloned()) {
            return Ok(e);
        }
        let chain = parse_pem_chain(pem).map_err(|reason| {
            DcapError::Quote(QuoteError::BadPckChain {
                offset: q.signature.qe.pck_chain_offset,
                reason,
            })
        })?;
        let leaf = chain.first().ok_or_else(|| DcapError::Chain {
            item: Item::PckChain,
            reason: "empty PCK chain".into(),
        })?;
        let ext_der = leaf.sgx_extension.as_ref().ok_or_else(|| {
            DcapError::PckExtension("SGX extensions (1.2.840.113741.1.13.1) missing".into())
        })?;
        let ext = PckExtensions::parse(ext_der).map_err(DcapError::PckExtension)?;
        let summaries = summarize(&chain);
        let entry = Arc::new(PckEntry {
            chain,
            ext,
            summaries,
        });
        if let Ok(mut m) = self.pck_cache.write() {
            // One entry makes room: the key is the sender's PEM, and
            // clearing all would let one request slow every platform's next.
            if m.len() >= PCK_CACHE_MAX {
                if let Some(k) = m.keys().next().cloned() {
                    m.remove(&k);
                }
            }
            m.insert(pem.to_vec(), entry.clone());
        }
        Ok(entry)
    }

    /// Picks the CRL issued by `issuer` (by name) that is current at `now`; if none is
    /// current, the newest one (whose validation then reports it stale).
    fn pick_crl(&self, issuer: &Cert, now: i64) -> Option<&Arc<Crl>> {
        let mut cands: Vec<&Arc<Crl>> = self
            .collateral
            .crls
            .iter()
            .filter(|c| c.issued_by_name(issuer))
            .collect();
        cands.sort_by_key(|c| core::cmp::Reverse(c.this_update));
        cands
            .iter()
            .find(|c| c.this_update <= now && c.next_update.is_some_and(|n| now <= n))
            .or(cands.first())
            .copied()
    }

    /// Validates the TCB signing certificate for a signed object; returns it.
    fn tcb_signer(
        &self,
        item: Item,
        object_fp: [u8; 32],
        signed: &[u8],
        sig: &[u8],
        now: i64,
    ) -> Result<Arc<Cert>, DcapError> {
        let mut any = false;
        let mut chain_err = None;
        for c in self
            .collateral
            .certs
            .iter()
            .filter(|c| !c.is_ca && c.sgx_extension.is_none())
        {
            any = true;
            if self
                .memo
                .check(object_fp, c.fp, &|| c.verify_fixed(signed, sig))
            {
                // Intel re-issues the TCB signing certificate with the same key: use the
                // first issue whose chain is valid at `now`.
                match validate_chain(
                    core::slice::from_ref(c),
                    &self.root,
                    Item::TcbSigningChain,
                    now,
                    &self.memo,
                ) {
                    Ok(()) => return Ok(c.clone()),
                    Err(e) => chain_err = Some(e),
                }
            }
        }
        if let Some(e) = chain_err {
            return Err(e);
        }
        if !any {
            return Err(DcapError::MissingCollateral(
                "Intel SGX TCB Signing certificate (TCB info / QE identity issuer chain)".into(),
            ));
        }
        Err(DcapError::CollateralSignature { item })
    }

    fn check_window(item: Item, now: i64, from: i64, to: i64) -> Result<(), DcapError> {
        if now < from || now > to {
            return Err(DcapError::Stale {
                item,
                now: fmt_time(now),
                not_before: fmt_time(from),
                not_after: fmt_time(to),
            });
        }
        Ok(())
    }

    fn pick_tcb_info(
        &self,
        id: TcbInfoId,
        fmspc: &[u8; 6],
        now: i64,
    ) -> Result<&TcbInfoItem, DcapError> {
        let mut cands: Vec<&TcbInfoItem> = self
            .collateral
            .tcb_infos
            .iter()
            .filter(|t| t.info.id == id && t.info.fmspc == *fmspc)
            .collect();
        if cands.is_empty() {
            let others: Vec<String> = self
                .collateral
                .tcb_infos
                .iter()
                .map(|t| format!("{:?}/{}", t.info.id, hex::encode(t.info.fmspc)))
                .collect();
            if others.is_empty() {
                return Err(DcapError::MissingCollateral(format!(
                    "TCB info for {id:?} FMSPC {}",
                    hex::encode(fmspc)
                )));
            }
            return Err(DcapError::CollateralMismatch {
                item: Item::TcbInfo,
                reason: format!(
                    "no TCB info for {id:?} FMSPC {} (have {})",
                    hex::encode(fmspc),
                    others.join(", ")
                ),
            });
        }
        cands.sort_by_key(|t| {
            core::cmp::Reverse((t.info.tcb_evaluation_data_number, t.info.issue_date))
        });
        cands
            .iter()
            .find(|t| t.info.issue_date <= now && now <= t.info.next_update)
            .or(cands.first())
            .copied()
            .ok_or_else(|| DcapError::MissingCollateral("TCB info".into()))
    }

    fn pick_qe_identity(&self, id: &str, now: i64) -> Result<&QeIdentityItem, DcapError> {
        let mut cands: Vec<&QeIdentityItem> = self
            .collateral
            .qe_identities
            .iter()
            .filter(|q| q.identity.id == id)
            .collect();
        cands.sort_by_key(|t| {
            core::cmp::Reverse((t.identity.tcb_evaluation_data_number, t.identity.issue_date))
        });
        cands
            .iter()
            .find(|t| t.identity.issue_date <= now && now <= t.identity.next_update)
            .or(cands.first())
            .copied()
            .ok_or_else(|| DcapError::MissingCollateral(format!("{id} identity (enclaveIdentity)")))
    }

    /// Verifies a quote (raw bytes; zero padding and an Open Enclave header are
    /// accepted) at `now` (unix seconds).
    pub fn verify(&self, quote_bytes: &[u8], now: i64) -> Result<VerifiedQuote, DcapError> {
        let (qbytes, container) = unwrap_container(quote_bytes);
        let q = Quote::parse(qbytes)?;

        // 1. Quote signature by the attestation key over the received header+body.
        let mut point = [0u8; 65];
        point[0] = 4;
        if let Some(dst) = point.get_mut(1..) {
            dst.copy_from_slice(q.signature.attestation_key);
        }
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(q.signed, q.signature.signature)
            .map_err(|_| DcapError::QuoteSignature)?;

        // 2. PCK chain to the pinned root, validity at now.
        let pck = self.pck_entry(&q)?;
        validate_chain(&pck.chain, &self.root, Item::PckChain, now, &self.memo)?;
        let leaf = pck.chain.first().ok_or_else(|| DcapError::Chain {
            item: Item::PckChain,
            reason: "empty PCK chain".into(),
        })?;
        let pck_ca = pck.chain.get(1).cloned().ok_or_else(|| DcapError::Chain {
            item: Item::PckChain,
            reason: "PCK chain has no intermediate CA".into(),
        })?;
        let pck_ca_kind = match pck_ca.subject_cn.as_str() {
            "Intel SGX PCK Platform CA" => "platform",
            "Intel SGX PCK Processor CA" => "processor",
            _ => "other",
        };

        // 3. QE report signed by the PCK key, and bound to the attestation key.
        let qe = &q.signature.qe;
        if !leaf.verify_fixed(qe.qe_report.raw, qe.qe_report_signature) {
            return Err(DcapError::QeReportSignature);
        }
        let mut bind = Vec::with_capacity(64usize.saturating_add(qe.qe_auth_data.len()));
        bind.extend_from_slice(q.signature.attestation_key);
        bind.extend_from_slice(qe.qe_auth_data);
        let digest = sha256(&bind);
        let rd = qe.qe_report.report_data;
        if rd.get(..32) != Some(digest.as_slice())
            || rd.get(32..).is_some_and(|z| z.iter().any(|b| *b != 0))
        {
            return Err(DcapError::QeReportBinding);
        }

        // 4. Revocation (CRLs when present; required with `require_crls`).
        let mut root_crl_checked = false;
        if let Some(crl) = self.pick_crl(&self.root, now) {
            crl.validate(&self.root, Item::RootCaCrl, now, &self.memo)?;
            for c in pck.chain.iter().skip(1) {
                if crl.revokes(c) {
                    return Err(revoked(Item::PckChain, c, Item::RootCaCrl));
                }
            }
            root_crl_checked = true;
        } else if self.options.require_crls {
            return Err(DcapError::MissingCollateral("root CA CRL".into()));
        }
        let mut pck_crl_checked = false;
        if let Some(crl) = self.pick_crl(&pck_ca, now) {
            crl.validate(&pck_ca, Item::PckCrl, now, &self.memo)?;
            if crl.revokes(leaf) {
                return Err(revoked(Item::PckChain, leaf, Item::PckCrl));
            }
            pck_crl_checked = true;
        } else if self.options.require_crls {
            return Err(DcapError::MissingCollateral(format!(
                "PCK CRL issued by {}",
                pck_ca.subject
            )));
        }

        // 5. TCB info: signature over the served bytes, chain, freshness, binding to the PCK.
        let tee_id = if q.is_tdx() {
            TcbInfoId::Tdx
        } else {
            TcbInfoId::Sgx
        };
        let ti_item = self.pick_tcb_info(tee_id, &pck.ext.fmspc, now)?;
        let ti: &TcbInfo = &ti_item.info;
        let signer = self.tcb_signer(
            Item::TcbInfo,
            ti_item.fp,
            &ti.signed_bytes,
            &ti.signature,
            now,
        )?;
        Self::check_window(Item::TcbInfo, now, ti.issue_date, ti.next_update)?;
        if ti.pce_id != pck.ext.pce_id {
            return Err(DcapError::CollateralMismatch {
                item: Item::TcbInfo,
                reason: format!(
                    "pceId {} != PCK PCE-ID {}",
                    hex::encode(ti.pce_id),
                    hex::encode(pck.ext.pce_id)
                ),
            });
        }

        // 6. QE identity.
        let qe_id_name = if q.is_tdx() { "TD_QE" } else { "QE" };
        let qi_item = self.pick_qe_identity(qe_id_name, now)?;
        let qi: &QeIdentity = &qi_item.identity;
        let qsigner = self.tcb_signer(
            Item::QeIdentity,
            qi_item.fp,
            &qi.signed_bytes,
            &qi.signature,
            now,
        )?;
        Self::check_window(Item::QeIdentity, now, qi.issue_date, qi.next_update)?;
        if let Some(crl) = self.pick_crl(&self.root, now) {
            for s in [&signer, &qsigner] {
                if crl.revokes(s) {
                    return Err(revoked(Item::TcbSigningChain, s, Item::RootCaCrl));
                }
            }
        }
        let qr = &qe.qe_report;
        let id_err = |field| DcapError::QeIdentityMismatch {
            field,
            id: qi.id.clone(),
        };
        if qr.mr_signer != &qi.mr_signer {
            return Err(id_err("MRSIGNER"));
        }
        if qr.isv_prod_id != qi.isv_prod_id {
            return Err(id_err("ISVPRODID"));
        }
        let misc = qr.misc_select.to_le_bytes();
        if misc
            .iter()
            .zip(qi.miscselect_mask.iter())
            .zip(qi.miscselect.iter())
            .any(|((v, m), e)| v & m != e & m)
        {
            return Err(id_err("MISCSELECT"));
        }
        if qr
            .attributes
            .iter()
            .zip(qi.attributes_mask.iter())
            .zip(qi.attributes.iter())
            .any(|((v, m), e)| v & m != e & m)
        {
            return Err(id_err("ATTRIBUTES"));
        }
        let qe_level = tcb::match_isv_level(&qi.tcb_levels, qr.isv_svn, "QE identity")?;

        // 7. TCB levels.
        let td = q.body.td();
        let platform = tcb::match_platform_level(
            ti,
            &pck.ext.tcb_components,
            pck.ext.pce_svn,
            td.map(|t| t.tee_tcb_svn),
        )?;
        let mut status = platform.status;
        let mut advisory_ids: Vec<String> = platform.advisory_ids.clone();
        let mut module_status = None;
        let mut module_id = None;
        if let Some(t) = td {
            if let Some(m) =
                tcb::check_tdx_module(ti, t.tee_tcb_svn, t.mr_signer_seam, t.seam_attributes)?
            {
                if let Some(l) = &m.level {
                    status = tcb::converge(status, l.status);
                    module_status = Some(l.status);
                    advisory_ids.extend(l.advisory_ids.iter().cloned());
                }
                if !m.id.is_empty() {
                    module_id = Some(m.id);
                }
            }
        }
        status = tcb::converge(status, qe_level.status);
        advisory_ids.extend(qe_level.advisory_ids.iter().cloned());
        let mut seen = HashSet::new();
        advisory_ids.retain(|a| seen.insert(a.clone()));

        let claims = Claims {
            quote: QuoteClaims::from_quote(&q),
            platform: PlatformClaims::new(&pck.ext, pck_ca_kind),
            tcb: TcbClaims {
                tcb_status: status,
                advisory_ids,
                tcb_date: platform.tcb_date.clone(),
                platform_tcb_status: platform.status,
                tdx_module_tcb_status: module_status,
                tdx_module_identity: module_id,
                qe_tcb_status: qe_level.status,
                qe_tcb_date: qe_level.tcb_date.clone(),
                tcb_evaluation_data_number: ti.tcb_evaluation_data_number,
            },
            qe_svn: qr.isv_svn,
            collateral: CollateralClaims {
                tcb_info_issue_date: fmt_time(ti.issue_date),
                tcb_info_next_update: fmt_time(ti.next_update),
                qe_identity_issue_date: fmt_time(qi.issue_date),
                qe_identity_next_update: fmt_time(qi.next_update),
                pck_crl_checked,
                root_ca_crl_checked: root_crl_checked,
            },
            padding: q.padding,
        };
        Ok(VerifiedQuote {
            claims,
            info: QuoteInfo::new(
                &q,
                container,
                Some((
                    pck.summaries.clone(),
                    Some(PlatformClaims::new(&pck.ext, pck_ca_kind)),
                )),
            ),
        })
    }
}

fn revoked(item: Item, c: &Cert, crl: Item) -> DcapError {
    DcapError::Revoked {
        item,
        serial: hex::encode(&c.serial),
        subject: c.subject.clone(),
        crl,
    }
}

/// Facts about a quote's envelope for humans (`mamori inspect`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuoteInfo {
    /// Container stripped before parsing.
    pub container: Container,
    /// Quote version.
    pub version: u16,
    /// TEE type value.
    pub tee_type: u32,
    /// Attestation key type.
    pub att_key_type: u16,
    /// Header QE SVN.
    pub header_qe_svn: u16,
    /// Header PCE SVN.
    pub header_pce_svn: u16,
    /// QE vendor id (hex).
    pub qe_vendor_id: String,
    /// User data (hex).
    pub user_data: String,
    /// Quote length (without padding).
    pub quote_len: usize,
    /// Zero padding after the quote.
    pub padding: usize,
    /// Certification data type (5 or 6).
    pub cert_data_type: u16,
    /// Quote signature (hex r||s).
    pub signature: String,
    /// Attestation key (hex x||y).
    pub attestation_key: String,
    /// QE report MRENCLAVE.
    pub qe_mr_enclave: String,
    /// QE report MRSIGNER.
    pub qe_mr_signer: String,
    /// QE report ISVPRODID.
    pub qe_isv_prod_id: u16,
    /// QE report ISVSVN.
    pub qe_isv_svn: u16,
    /// QE authentication data length.
    pub qe_auth_data_len: usize,
    /// PCK certificates (leaf first): subject, issuer, serial, validity.
    pub pck_chain: Vec<CertSummary>,
    /// PCK extensions, when the leaf could be decoded.
    pub pck: Option<PlatformClaims>,
}

/// One certificate for humans.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertSummary {
    /// Subject.
    pub subject: String,
    /// Issuer.
    pub issuer: String,
    /// Serial (hex).
    pub serial: String,
    /// notBefore (RFC 3339).
    pub not_before: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
}

fn summarize(chain: &[Arc<Cert>]) -> Vec<CertSummary> {
    chain
        .iter()
        .map(|c| CertSummary {
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            serial: hex::encode(&c.serial),
            not_before: fmt_time(c.not_before),
            not_after: fmt_time(c.not_after),
        })
        .collect()
}

type PckFacts = (Vec<CertSummary>, Option<PlatformClaims>);

impl QuoteInfo {
    fn new(q: &Quote<'_>, container: Container, pck_facts: Option<PckFacts>) -> Self {
        let (pck_chain, pck) = pck_facts.unwrap_or_else(|| {
            let chain = parse_pem_chain(q.signature.qe.pck_chain_pem).unwrap_or_default();
            let pck = chain.first().and_then(|l| {
                let ext = PckExtensions::parse(l.sgx_extension.as_deref()?).ok()?;
                let kind = match chain.get(1).map(|c| c.subject_cn.as_str()) {
                    Some("Intel SGX PCK Platform CA") => "platform",
                    Some("Intel SGX PCK Processor CA") => "processor",
                    _ => "other",
                };
                Some(PlatformClaims::new(&ext, kind))
            });
            (summarize(&chain), pck)
        });
        let qe = &q.signature.qe;
        QuoteInfo {
            container,
            version: q.header.version,
            tee_type: q.header.tee_type,
            att_key_type: q.header.att_key_type,
            header_qe_svn: q.header.qe_svn,
            header_pce_svn: q.header.pce_svn,
            qe_vendor_id: hex::encode(q.header.qe_vendor_id),
            user_data: hex::encode(q.header.user_data),
            quote_len: q.raw.len(),
            padding: q.padding,
            cert_data_type: q.signature.cert_data_type,
            signature: hex::encode(q.signature.signature),
            attestation_key: hex::encode(q.signature.attestation_key),
            qe_mr_enclave: hex::encode(qe.qe_report.mr_enclave),
            qe_mr_signer: hex::encode(qe.qe_report.mr_signer),
            qe_isv_prod_id: qe.qe_report.isv_prod_id,
            qe_isv_svn: qe.qe_report.isv_svn,
            qe_auth_data_len: qe.qe_auth_data.len(),
            pck_chain,
            pck,
        }
    }
}

/// A verified quote: typed claims plus envelope facts.
#[derive(Debug, Clone)]
pub struct VerifiedQuote {
    /// Claims for policy.
    pub claims: Claims,
    /// Envelope facts for humans.
    pub info: QuoteInfo,
}

impl VerifiedQuote {
    /// Claims as JSON (the names documented in [`Claims`]).
    pub fn claims_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.claims).unwrap_or(serde_json::Value::Null)
    }
    /// Human-readable description.
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

/// A parsed, *unverified* quote for `mamori inspect`.
#[derive(Debug, Clone)]
pub struct InspectedQuote {
    /// Body claims (unverified).
    pub claims: QuoteClaims,
    /// Envelope facts.
    pub info: QuoteInfo,
}

impl InspectedQuote {
    /// JSON: `{"quote": {...envelope...}, "claims": {...}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "quote": self.info, "claims": self.claims })
    }
    /// Human-readable description.
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

/// Parses a quote without verifying anything (for inspection).
pub fn inspect(bytes: &[u8]) -> Result<InspectedQuote, DcapError> {
    let (qbytes, container) = unwrap_container(bytes);
    let q = Quote::parse(qbytes)?;
    Ok(InspectedQuote {
        claims: QuoteClaims::from_quote(&q),
        info: QuoteInfo::new(&q, container, None),
    })
}

/// Verifies a quote against a collateral bag at `now` (unix seconds), trusting the
/// pinned Intel SGX Root CA. For many quotes, keep a [`Verifier`] instead.
pub fn verify(
    quote_bytes: &[u8],
    collateral: &Collateral,
    now: i64,
) -> Result<VerifiedQuote, DcapError> {
    Verifier::new(collateral.clone()).verify(quote_bytes, now)
}

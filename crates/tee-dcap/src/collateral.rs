//! The collateral bag: everything a user holds for offline DCAP verification,
//! recognised by content from a list of inputs.
//!
//! Recognised inputs:
//! * certificates: PEM (one or more `CERTIFICATE` blocks) or DER;
//! * CRLs: DER, PEM (`X509 CRL`), or hex text of the DER;
//! * Intel PCS JSON bodies as served: `{"tcbInfo":…,"signature":…}`,
//!   `{"enclaveIdentity":…,"signature":…}` (and `tcbEvaluationDataNumbers`, which is
//!   recognised and not used);
//! * combined collateral JSON (PCCS-style / dcap-qvl `QuoteCollateralV3`): an object
//!   with keys such as `tcb_info`, `tcb_info_signature`, `tcb_info_issuer_chain`,
//!   `qe_identity`, `qe_identity_signature`, `qe_identity_issuer_chain`, `pck_crl`,
//!   `pck_crl_issuer_chain`, `root_ca_crl` (any case, `_`/`-` ignored; chains may be
//!   URL-encoded as in PCS response headers; CRLs hex, PEM or base64).

use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;

use crate::certs::{pem_blocks, sha256, Cert, Crl};
use crate::error::{CollateralError, Item};
use crate::pcs::{QeIdentity, TcbInfo};

/// A TCB info with a precomputed fingerprint of its signed bytes + signature.
#[derive(Debug, Clone)]
pub struct TcbInfoItem {
    /// Parsed TCB info.
    pub info: Arc<TcbInfo>,
    /// SHA-256 over signed bytes and signature (memo key).
    pub fp: [u8; 32],
}

/// A QE identity with a precomputed fingerprint.
#[derive(Debug, Clone)]
pub struct QeIdentityItem {
    /// Parsed identity.
    pub identity: Arc<QeIdentity>,
    /// SHA-256 over signed bytes and signature (memo key).
    pub fp: [u8; 32],
}

/// What one input was recognised as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recognised {
    /// N certificates.
    Certificates(usize),
    /// A CRL.
    Crl,
    /// A TCB info body.
    TcbInfo,
    /// A QE identity body.
    QeIdentity,
    /// TCB evaluation data numbers (not used for verification).
    TcbEvaluationDataNumbers,
    /// Combined collateral JSON; lists the items found.
    Combined(Vec<&'static str>),
}

/// Offline DCAP collateral.
#[derive(Debug, Clone, Default)]
pub struct Collateral {
    /// TCB infos.
    pub tcb_infos: Vec<TcbInfoItem>,
    /// QE identities.
    pub qe_identities: Vec<QeIdentityItem>,
    /// All certificates seen (TCB signing, PCK CAs, roots).
    pub certs: Vec<Arc<Cert>>,
    /// All CRLs seen.
    pub crls: Vec<Arc<Crl>>,
}

fn fp2(a: &[u8], b: &[u8]) -> [u8; 32] {
    let mut v = Vec::with_capacity(a.len().saturating_add(b.len()).saturating_add(8));
    v.extend_from_slice(&u64::try_from(a.len()).unwrap_or(u64::MAX).to_le_bytes());
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    sha256(&v)
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace() && *c != 0);
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace() && *c != 0);
    match (start, end) {
        (Some(s), Some(e)) if s <= e => b.get(s..=e).unwrap_or(&[]),
        _ => &[],
    }
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(b)
}

fn is_hex_text(b: &[u8]) -> bool {
    !b.is_empty() && b.len() & 1 == 0 && b.iter().all(|c| c.is_ascii_hexdigit())
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            if let Some(h) = b.get(i.saturating_add(1)..i.saturating_add(3)) {
                if let Some(v) = core::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(v);
                    i = i.saturating_add(3);
                    continue;
                }
            }
        }
        out.push(c);
        i = i.saturating_add(1);
    }
    out
}

impl Collateral {
    /// An empty bag.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a bag from input files' bytes, recognising each by content.
    pub fn from_inputs<I, B>(inputs: I) -> Result<Self, CollateralError>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        let mut c = Collateral::new();
        for (i, b) in inputs.into_iter().enumerate() {
            c.add_input(i, b.as_ref())?;
        }
        Ok(c)
    }

    /// Adds one input (its position `index` is used in error messages).
    pub fn add_input(&mut self, index: usize, bytes: &[u8]) -> Result<Recognised, CollateralError> {
        let t = trim_ascii(strip_bom(bytes));
        let unrec = |reason: &str| CollateralError::Unrecognised {
            index,
            reason: reason.to_string(),
        };
        if t.first() == Some(&b'{') {
            let v: Value = serde_json::from_slice(t).map_err(|e| unrec(&format!("JSON: {e}")))?;
            let obj = v
                .as_object()
                .ok_or_else(|| unrec("JSON is not an object"))?;
            if obj.contains_key("tcbInfo") {
                self.push_tcb_info(TcbInfo::from_body(t)?);
                return Ok(Recognised::TcbInfo);
            }
            if obj.contains_key("enclaveIdentity") {
                self.push_qe_identity(QeIdentity::from_body(t)?);
                return Ok(Recognised::QeIdentity);
            }
            if obj.contains_key("tcbEvaluationDataNumbers") {
                return Ok(Recognised::TcbEvaluationDataNumbers);
            }
            let found = self.add_combined(obj)?;
            if found.is_empty() {
                return Err(unrec("JSON object has no DCAP collateral keys"));
            }
            return Ok(Recognised::Combined(found));
        }
        if t.windows(11).any(|w| w == b"-----BEGIN ") {
            let certs = pem_blocks(t, "CERTIFICATE").map_err(|e| unrec(&e))?;
            let crls = pem_blocks(t, "X509 CRL").map_err(|e| unrec(&e))?;
            if certs.is_empty() && crls.is_empty() {
                return Err(unrec("PEM without CERTIFICATE or X509 CRL blocks"));
            }
            let n = certs.len();
            for d in certs {
                self.push_cert_der(&d)?;
            }
            for d in &crls {
                self.push_crl_der(d)?;
            }
            return Ok(if n > 0 {
                Recognised::Certificates(n)
            } else {
                Recognised::Crl
            });
        }
        let der_owned;
        let der: &[u8] = if is_hex_text(t) {
            der_owned = hex::decode(t).map_err(|_| unrec("bad hex"))?;
            &der_owned
        } else {
            bytes
        };
        if der.first() == Some(&0x30) {
            if let Ok(c) = Cert::from_der(der) {
                self.certs.push(c);
                return Ok(Recognised::Certificates(1));
            }
            if let Ok(c) = Crl::from_der(der) {
                self.crls.push(Arc::new(c));
                return Ok(Recognised::Crl);
            }
            return Err(unrec("DER is neither a certificate nor a CRL"));
        }
        Err(unrec("not JSON, PEM, DER or hex"))
    }

    fn push_tcb_info(&mut self, info: TcbInfo) {
        let fp = fp2(&info.signed_bytes, &info.signature);
        if !self.tcb_infos.iter().any(|t| t.fp == fp) {
            self.tcb_infos.push(TcbInfoItem {
                info: Arc::new(info),
                fp,
            });
        }
    }

    fn push_qe_identity(&mut self, id: QeIdentity) {
        let fp = fp2(&id.signed_bytes, &id.signature);
        if !self.qe_identities.iter().any(|t| t.fp == fp) {
            self.qe_identities.push(QeIdentityItem {
                identity: Arc::new(id),
                fp,
            });
        }
    }

    fn push_cert_der(&mut self, der: &[u8]) -> Result<(), CollateralError> {
        let c = Cert::from_der(der).map_err(|reason| CollateralError::Malformed {
            item: Item::Certificate,
            reason,
        })?;
        if !self.certs.iter().any(|x| x.fp == c.fp) {
            self.certs.push(c);
        }
        Ok(())
    }

    fn push_crl_der(&mut self, der: &[u8]) -> Result<(), CollateralError> {
        let c = Crl::from_der(der).map_err(|reason| CollateralError::Malformed {
            item: Item::PckCrl,
            reason,
        })?;
        if !self.crls.iter().any(|x| x.fp == c.fp) {
            self.crls.push(Arc::new(c));
        }
        Ok(())
    }

    fn push_chain_text(&mut self, text: &[u8], item: Item) -> Result<(), CollateralError> {
        let decoded;
        let text = if !text.windows(10).any(|w| w == b"-----BEGIN") {
            decoded = percent_decode(core::str::from_utf8(text).unwrap_or(""));
            decoded.as_slice()
        } else {
            text
        };
        let blocks = pem_blocks(text, "CERTIFICATE")
            .map_err(|reason| CollateralError::Malformed { item, reason })?;
        if blocks.is_empty() {
            return Err(CollateralError::Malformed {
                item,
                reason: "issuer chain has no certificate".into(),
            });
        }
        for d in blocks {
            self.push_cert_der(&d)?;
        }
        Ok(())
    }

    fn crl_bytes(v: &Value, item: Item) -> Result<Vec<u8>, CollateralError> {
        let bad = |reason: &str| CollateralError::Malformed {
            item,
            reason: reason.to_string(),
        };
        let raw = value_bytes(v).ok_or_else(|| bad("not a string or byte array"))?;
        if raw.first() == Some(&0x30) {
            return Ok(raw);
        }
        let t = trim_ascii(&raw);
        if t.windows(10).any(|w| w == b"-----BEGIN") {
            let blocks = pem_blocks(t, "X509 CRL").map_err(|e| bad(&e))?;
            return blocks
                .into_iter()
                .next()
                .ok_or_else(|| bad("no X509 CRL block"));
        }
        if is_hex_text(t) {
            return hex::decode(t).map_err(|_| bad("bad hex"));
        }
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .map_err(|_| bad("CRL is neither DER, PEM, hex nor base64"))
    }

    fn add_combined(
        &mut self,
        obj: &serde_json::Map<String, Value>,
    ) -> Result<Vec<&'static str>, CollateralError> {
        let get = |name: &str| {
            obj.iter()
                .find(|(k, _)| {
                    k.chars()
                        .filter(|c| *c != '_' && *c != '-')
                        .collect::<String>()
                        .eq_ignore_ascii_case(name)
                })
                .map(|(_, v)| v)
        };
        let item = Item::CombinedCollateral;
        let bad = |reason: String| CollateralError::Malformed { item, reason };
        let mut found = Vec::new();
        for (key, it) in [
            ("tcbinfoissuerchain", Item::TcbSigningChain),
            ("qeidentityissuerchain", Item::TcbSigningChain),
            ("pckcrlissuerchain", Item::PckChain),
            ("pckcertificatechain", Item::PckChain),
        ] {
            if let Some(v) = get(key) {
                let text = value_bytes(v).ok_or_else(|| bad(format!("{key} is not text")))?;
                self.push_chain_text(&text, it)?;
                found.push(match key {
                    "tcbinfoissuerchain" => "tcb_info_issuer_chain",
                    "qeidentityissuerchain" => "qe_identity_issuer_chain",
                    "pckcrlissuerchain" => "pck_crl_issuer_chain",
                    _ => "pck_certificate_chain",
                });
            }
        }
        for (key, it, name) in [
            ("rootcacrl", Item::RootCaCrl, "root_ca_crl"),
            ("rootcrl", Item::RootCaCrl, "root_ca_crl"),
            ("pckcrl", Item::PckCrl, "pck_crl"),
        ] {
            if let Some(v) = get(key) {
                let der = Self::crl_bytes(v, it)?;
                let c = Crl::from_der(&der)
                    .map_err(|reason| CollateralError::Malformed { item: it, reason })?;
                if !self.crls.iter().any(|x| x.fp == c.fp) {
                    self.crls.push(Arc::new(c));
                }
                found.push(name);
            }
        }
        if let Some(v) = get("tcbinfo") {
            let text = value_bytes(v).ok_or_else(|| bad("tcb_info is not text".into()))?;
            let info = if is_body(&text, "tcbInfo") {
                TcbInfo::from_body(&text)?
            } else {
                let sig = get("tcbinfosignature")
                    .and_then(sig_bytes)
                    .ok_or_else(|| bad("tcb_info_signature missing or not 64 bytes".into()))?;
                TcbInfo::from_signed(&text, &sig)?
            };
            self.push_tcb_info(info);
            found.push("tcb_info");
        }
        if let Some(v) = get("qeidentity") {
            let text = value_bytes(v).ok_or_else(|| bad("qe_identity is not text".into()))?;
            let id = if is_body(&text, "enclaveIdentity") {
                QeIdentity::from_body(&text)?
            } else {
                let sig = get("qeidentitysignature")
                    .and_then(sig_bytes)
                    .ok_or_else(|| bad("qe_identity_signature missing or not 64 bytes".into()))?;
                QeIdentity::from_signed(&text, &sig)?
            };
            self.push_qe_identity(id);
            found.push("qe_identity");
        }
        Ok(found)
    }

    /// Certificates whose subject common name is `cn`.
    pub fn certs_named<'a>(&'a self, cn: &'a str) -> impl Iterator<Item = &'a Arc<Cert>> + 'a {
        self.certs.iter().filter(move |c| c.subject_cn == cn)
    }
}

/// `true` when `text` is a JSON object with a top-level `key`.
fn is_body(text: &[u8], key: &str) -> bool {
    serde_json::from_slice::<serde_json::Map<String, Value>>(text)
        .is_ok_and(|m| m.contains_key(key))
}

/// A JSON string's UTF-8 bytes, or a byte array.
fn value_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect(),
        _ => None,
    }
}

fn sig_bytes(v: &Value) -> Option<Vec<u8>> {
    let b = value_bytes(v)?;
    let out = if v.is_array() {
        b
    } else if is_hex_text(trim_ascii(&b)) {
        hex::decode(trim_ascii(&b)).ok()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(trim_ascii(&b))
            .ok()?
    };
    (out.len() == 64).then_some(out)
}

//! Evidence as guests send it, verified into claims. The verification
//! itself is the pure TEE crates'; this module decodes the wire shapes (the
//! KBS protocol's and Mamori's own), caches validated certificate chains and
//! reports what the evidence binds (report data, host data).

use crate::error::ServiceError;
use aws_lc_rs::digest::{digest, SHA256};
use base64::Engine;
use mamori_policy::{Document, PolicyError};
use mamori_token::RawJson;
use mamori_verifier::{decode_text, Encoding, UnixTime};
use mamori_x509::{Certificate, Crl};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tee_snp::kds::{KdsError, VcekId};
use tee_snp::{EndorsementInfo, Report, SnpError, TrustStore, VerifiedSigner};

/// Evidence that verified: the claims for appraisal and what it binds.
#[derive(Clone, Debug)]
pub struct VerifiedEvidence {
    pub tee: &'static str,
    pub claims: Claims,
    /// REPORT_DATA (or the TEE's equivalent) exactly as signed.
    pub report_data: Vec<u8>,
    /// SNP HOST_DATA, for init-data binding.
    pub host_data: Option<Vec<u8>>,
}

/// The claims of verified evidence. SEV-SNP's stay typed: the appraisal
/// policy's input and the token's annotated evidence are made straight from
/// the struct, without a serde_json tree in between that would be built
/// only to be converted and serialized (see [`mamori_token::RawJson`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Claims {
    Snp(Box<tee_snp::SnpClaims>),
    Json(Value),
}

impl Claims {
    /// The claims as JSON (what the appraisal policy reads as
    /// `input.claims`).
    pub fn to_json(&self) -> Value {
        match self {
            Claims::Snp(c) => c.to_json(),
            Claims::Json(v) => v.clone(),
        }
    }

    /// The claims converted for the policy engine.
    pub fn document(&self) -> Result<Document, PolicyError> {
        match self {
            Claims::Snp(c) => Document::from_serialize(c.as_ref()),
            Claims::Json(v) => Document::from_json(v),
        }
    }

    /// The launch measurement, for the audit record of an attestation.
    pub fn measurement(&self) -> Option<Value> {
        match self {
            Claims::Snp(c) => Some(Value::String(c.measurement.clone())),
            Claims::Json(v) => v.get("measurement").cloned(),
        }
    }

    /// The token's annotated evidence: these claims with `extra` members
    /// added (an existing member of that name is replaced), as JSON text.
    /// Claims that are not an object are kept as they are. Consumes the
    /// claims: JSON claims (TDX's carry the event log) are not copied.
    pub fn annotated(self, extra: &[(&str, &Value)]) -> Result<RawJson, serde_json::Error> {
        match self {
            Claims::Snp(c) => RawJson::new(&WithMembers {
                claims: c.as_ref(),
                extra: Members(extra),
            }),
            Claims::Json(Value::Object(mut m)) => {
                for (k, v) in extra {
                    m.insert((*k).to_owned(), (*v).clone());
                }
                RawJson::new(&m)
            }
            Claims::Json(other) => RawJson::new(&other),
        }
    }
}

/// SNP claims followed by `extra` members whose names are not among the
/// struct's, serialized as one object.
#[derive(serde::Serialize)]
struct WithMembers<'a> {
    #[serde(flatten)]
    claims: &'a tee_snp::SnpClaims,
    #[serde(flatten)]
    extra: Members<'a>,
}

struct Members<'a>(&'a [(&'a str, &'a Value)]);

impl serde::Serialize for Members<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Validated SEV-SNP endorsement-key chains, keyed by SHA-256 of the leaf
/// certificate's DER and, for certificates sent as text (PEM, base64), also
/// by SHA-256 of that text: a known VCEK costs one signature check, and its
/// PEM is not even decoded again.
pub struct SnpVerifier {
    trust: TrustStore,
    /// AMD CRLs from the configuration (`[snp] crls`).
    configured: Vec<Crl>,
    /// The CRLs applied to every chain: the configured ones and those
    /// fetched from AMD's KDS, the newest per issuer. Replaced whole.
    crls: RwLock<Arc<CrlSet>>,
    /// Shared, not cloned per request: a signer holds its chain's subjects
    /// and parsed key.
    /// Each with the generation of the CRL set it was checked against: an
    /// entry of another generation is not used (a chain validated while
    /// new CRLs were installed may be filed after the caches were cleared).
    signers: RwLock<HashMap<[u8; 32], Filed>>,
    /// The same chains by the VCEK they certify (chip and TCB), for
    /// reports that come without certificates: a VCEK validated once,
    /// sent by a guest or fetched from AMD's KDS, serves them all.
    by_vcek: RwLock<HashMap<VcekId, Filed>>,
}

/// A validated chain and the generation of the CRL set it was checked
/// against.
type Filed = (Arc<VerifiedSigner>, u64);

/// CRLs applied together. A cached chain was checked against them when it
/// was validated, and stands for no longer than the earliest of their
/// nextUpdate times: then it is validated again (and refused while a CRL
/// is stale).
struct CrlSet {
    crls: Vec<Crl>,
    current_until: Option<UnixTime>,
    generation: u64,
}

impl CrlSet {
    fn new(crls: Vec<Crl>, generation: u64) -> Self {
        let current_until = crls
            .iter()
            .map(|c| c.next_update().unwrap_or(UnixTime(i64::MIN)))
            .min();
        CrlSet {
            crls,
            current_until,
            generation,
        }
    }

    fn current_at(&self, now: UnixTime) -> bool {
        self.current_until.is_none_or(|until| now <= until)
    }
}

/// Why SEV-SNP evidence did not verify.
#[derive(Debug)]
pub enum SnpFailure {
    Rejected(ServiceError),
    /// No endorsement key came with the report and none known here
    /// certifies it: the VCEKs that may have (to fetch from AMD's KDS), or
    /// why none can be named, and the report's REPORT_DATA, so that the
    /// binding can be checked before anything is fetched.
    NoEndorsementKey {
        vcek: Result<Vec<VcekId>, KdsError>,
        report_data: Vec<u8>,
    },
}

impl From<ServiceError> for SnpFailure {
    fn from(e: ServiceError) -> Self {
        SnpFailure::Rejected(e)
    }
}

impl From<SnpFailure> for ServiceError {
    fn from(f: SnpFailure) -> Self {
        match f {
            SnpFailure::Rejected(e) => e,
            SnpFailure::NoEndorsementKey { vcek, .. } => rejected(
                "endorsement-key",
                match vcek {
                    Err(why) => format!("no VCEK or VLEK came with the report, and {why}"),
                    Ok(_) => "no VCEK came with the report, and fetching it from AMD's KDS is off (set [snp] kds_url)".into(),
                },
            ),
        }
    }
}

/// Bound on cached chains: one per VCEK/VLEK (chip and TCB) in the fleet.
const MAX_CACHED_SIGNERS: usize = 65_536;
/// Most certificates one piece of SNP evidence may carry (a VCEK or VLEK
/// chain is three; the report's own certificate table adds a few), and
/// most distinct endorsement keys tried per report (a guest may send its
/// VCEK and its VLEK): each costs a chain validation or a P-384
/// verification, so an unauthenticated request cannot buy hundreds.
const MAX_CERTIFICATES: usize = 16;
const MAX_ENDORSEMENT_CANDIDATES: usize = 2;

/// The cache key of a certificate sent as text; domain-separated from the
/// DER keys.
fn text_key(text: &str) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&SHA256);
    ctx.update(b"mamori certificate text\0");
    ctx.update(text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A certificate as received: its DER and, when it came as text, the text's
/// cache key.
struct ReceivedCert {
    der: Vec<u8>,
    text_key: Option<[u8; 32]>,
}

pub(crate) fn sha256(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, b).as_ref());
    out
}

pub(crate) fn bad(msg: impl Into<String>) -> ServiceError {
    ServiceError::BadRequest(msg.into())
}

pub(crate) fn rejected(check: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::EvidenceRejected {
        check,
        message: message.into(),
    }
}

impl SnpVerifier {
    pub fn new(trust: TrustStore) -> Self {
        Self::with_crls(trust, Vec::new())
    }

    /// A verifier that applies `crls` to every chain.
    pub fn with_crls(trust: TrustStore, crls: Vec<Crl>) -> Self {
        SnpVerifier {
            trust,
            crls: RwLock::new(Arc::new(CrlSet::new(crls.clone(), 0))),
            configured: crls,
            signers: RwLock::new(HashMap::new()),
            by_vcek: RwLock::new(HashMap::new()),
        }
    }

    fn crl_set(&self) -> Arc<CrlSet> {
        self.crls.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `crl` is issued and signed by a trusted root of `product`
    /// (`ARK-{product}`), as the CRL KDS serves for that product is: a
    /// fetched CRL is applied only then (one signed by anyone else would
    /// make every chain under its issuer fail, and another product's would
    /// stand in for this one's).
    pub fn is_product_root_crl(&self, crl: &Crl, product: tee_snp::Product) -> bool {
        let root = format!("ARK-{}", product.amd_name());
        self.trust
            .anchor_certificates()
            .iter()
            .filter(|c| c.subject_raw() == crl.issuer_raw())
            .filter(|c| c.subject_cn() == Some(root.as_str()))
            .any(|c| crl.verify_signed_by(c).is_ok())
    }

    /// Applies `fetched` CRLs (one per product, replacing those installed
    /// before) together with the configured ones, which always apply, and
    /// retires every validated chain: each is validated again against the
    /// new set when next used.
    pub fn install_fetched_crls(&self, fetched: Vec<Crl>) {
        let mut set = self.crls.write().unwrap_or_else(|p| p.into_inner());
        let all = self.configured.iter().cloned().chain(fetched).collect();
        *set = Arc::new(CrlSet::new(all, set.generation.wrapping_add(1)));
        drop(set);
        self.signers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.by_vcek
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// A cached chain for `key`, unless the CRLs it was checked against may
    /// no longer be current.
    fn cached(&self, key: &[u8; 32], now: UnixTime) -> Option<Arc<VerifiedSigner>> {
        let crls = self.crl_set();
        if !crls.current_at(now) {
            return None;
        }
        let m = self.signers.read().ok()?;
        m.get(key)
            .filter(|(_, generation)| *generation == crls.generation)
            .map(|(s, _)| s.clone())
    }

    /// Decodes and verifies SNP evidence in either wire shape:
    /// the KBS `{"attestation_report": {...}, "cert_chain": [...]}` or
    /// Mamori's `{"report": "<base64|hex>", "certificates": ["<PEM|base64 DER>"]}`,
    /// with `fetched` (DER certificates from AMD's KDS) besides what the
    /// evidence carries.
    pub fn verify(
        &self,
        evidence: &Value,
        fetched: &[Vec<u8>],
        now: UnixTime,
    ) -> Result<VerifiedEvidence, SnpFailure> {
        let (report, certs) = if let Some(r) = evidence.get("attestation_report") {
            let bytes = tee_snp::sev_json::report_bytes(r).map_err(|e| bad(e.to_string()))?;
            let chain =
                tee_snp::sev_json::cert_chain(evidence.get("cert_chain").unwrap_or(&Value::Null))
                    .map_err(|e| bad(e.to_string()))?;
            (
                bytes,
                chain
                    .into_iter()
                    .map(|(_, der)| ReceivedCert {
                        der,
                        text_key: None,
                    })
                    .collect::<Vec<_>>(),
            )
        } else if let Some(Value::String(r)) = evidence.get("report") {
            let (raw, _) = decode_text(r.as_bytes());
            let ev = tee_snp::extract_decoded(raw).map_err(|e| bad(format!("report: {e}")))?;
            let mut texts = Vec::new();
            if let Some(Value::Array(list)) = evidence.get("certificates") {
                if list.len() > MAX_CERTIFICATES {
                    return Err(bad(format!(
                        "certificates: {} given, at most {MAX_CERTIFICATES} accepted",
                        list.len()
                    ))
                    .into());
                }
                for (i, c) in list.iter().enumerate() {
                    let s = c
                        .as_str()
                        .ok_or_else(|| bad(format!("certificates[{i}]: not a string")))?;
                    texts.push(s);
                }
            }
            // A certificate text seen before: its chain is cached under it.
            if let Some(v) = self.verify_with_cached_text(&ev.report, &texts, now)? {
                return Ok(v);
            }
            let mut certs: Vec<ReceivedCert> = ev
                .certificates
                .iter()
                .map(|c| ReceivedCert {
                    der: c.der().to_vec(),
                    text_key: None,
                })
                .collect();
            for (i, s) in texts.into_iter().enumerate() {
                let ders = cert_ders(s).map_err(|e| bad(format!("certificates[{i}]: {e}")))?;
                let key = text_key(s);
                certs.extend(ders.into_iter().map(|der| ReceivedCert {
                    der,
                    text_key: Some(key),
                }));
            }
            (ev.report, certs)
        } else {
            return Err(bad(
                "snp evidence: expected {\"attestation_report\", \"cert_chain\"} or {\"report\", \"certificates\"}",
            )
            .into());
        };
        if certs.len() > MAX_CERTIFICATES {
            return Err(bad(format!(
                "{} certificates given, at most {MAX_CERTIFICATES} accepted",
                certs.len()
            ))
            .into());
        }
        let mut certs = certs;
        certs.extend(fetched.iter().map(|der| ReceivedCert {
            der: der.clone(),
            text_key: None,
        }));
        let parsed =
            Report::parse(&report).map_err(|e| rejected("parse", format!("report: {e}")))?;
        let verified = self.verify_report(parsed, &certs, now)?;
        Ok(Self::evidence(parsed, &verified))
    }

    /// Verifies with a chain cached under one of the certificate texts, if
    /// any is; `None` when none is cached or none verifies the report (the
    /// full path then decides, and reports the error).
    fn verify_with_cached_text(
        &self,
        report: &[u8],
        texts: &[&str],
        now: UnixTime,
    ) -> Result<Option<VerifiedEvidence>, ServiceError> {
        let mut parsed = None;
        // One at a time: the endorsement key usually comes first, and
        // the texts after it need not be hashed.
        for text in texts {
            let key = text_key(text);
            let Some(signer) = self.cached(&key, now) else {
                continue;
            };
            let report = match parsed {
                Some(r) => r,
                None => *parsed.insert(
                    Report::parse(report).map_err(|e| rejected("parse", format!("report: {e}")))?,
                ),
            };
            if let Ok(verified) = signer.verify_report(report, now) {
                return Ok(Some(Self::evidence(report, &verified)));
            }
        }
        Ok(None)
    }

    fn evidence(parsed: Report<'_>, verified: &tee_snp::VerifiedReport<'_>) -> VerifiedEvidence {
        let claims = verified.claims();
        VerifiedEvidence {
            tee: "snp",
            claims: Claims::Snp(Box::new(claims)),
            report_data: parsed.report_data().to_vec(),
            host_data: Some(parsed.host_data().to_vec()),
        }
    }

    fn verify_report<'a>(
        &self,
        report: Report<'a>,
        received: &[ReceivedCert],
        now: UnixTime,
    ) -> Result<tee_snp::VerifiedReport<'a>, SnpFailure> {
        let mut last: Option<SnpError> = None;
        // Each certificate once, however often it was sent, with the hash
        // its chain is cached under.
        let mut seen = std::collections::HashSet::new();
        let received: Vec<([u8; 32], &ReceivedCert)> = received
            .iter()
            .map(|c| (sha256(&c.der), c))
            .filter(|(key, _)| seen.insert(*key))
            .collect();
        // Cached chains first: no certificate parsing on the hot path.
        for (key, _) in &received {
            if let Some(signer) = self.cached(key, now) {
                match signer.verify_report(report, now) {
                    Ok(v) => return Ok(v),
                    Err(e) => last = Some(e),
                }
            }
        }
        // Parsed in order, and kept paired with what was received: a
        // certificate that does not parse is skipped, not misattributed.
        let parsed: Vec<(&([u8; 32], &ReceivedCert), Certificate)> = received
            .iter()
            .filter_map(|r| Certificate::from_der(&r.1.der).ok().map(|c| (r, c)))
            .collect();
        let certs: Vec<Certificate> = parsed.iter().map(|(_, c)| c.clone()).collect();
        let candidates: Vec<_> = parsed
            .iter()
            .filter(|(_, cert)| EndorsementInfo::is_endorsement_key(cert))
            .take(MAX_ENDORSEMENT_CANDIDATES)
            .collect();
        if candidates.is_empty() && last.is_none() {
            return self.verify_by_vcek(report, now);
        }
        for ((der_key, received), cert) in candidates {
            let crls = self.crl_set();
            let signer = match VerifiedSigner::validate(cert, &certs, &crls.crls, &self.trust, now)
            {
                Ok(s) => s,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let outcome = signer.verify_report(report, now);
            if outcome.is_ok() {
                let signer = Arc::new(signer);
                if let Ok(mut m) = self.signers.write() {
                    // Room is made an entry at a time (one per key added):
                    // clearing all would let one request make every
                    // attester's next one slow.
                    let adding = 1 + usize::from(received.text_key.is_some());
                    while m.len() + adding > MAX_CACHED_SIGNERS {
                        let Some(k) = m.keys().next().copied() else {
                            break;
                        };
                        m.remove(&k);
                    }
                    m.insert(*der_key, (signer.clone(), crls.generation));
                    if let Some(key) = received.text_key {
                        m.insert(key, (signer.clone(), crls.generation));
                    }
                }
                self.remember_vcek(&signer, crls.generation);
            }
            match outcome {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or(SnpError::NoEndorsementKey {
            wanted: match report.signing_key() {
                tee_snp::SigningKey::Vlek => "VLEK",
                _ => "VCEK",
            },
        });
        Err(rejected(e.check(), e.to_string()).into())
    }

    /// A report that came without an endorsement key: verified with a
    /// VCEK validated before for its chip and TCB, or refused naming the
    /// VCEKs to fetch.
    fn verify_by_vcek<'a>(
        &self,
        report: Report<'a>,
        now: UnixTime,
    ) -> Result<tee_snp::VerifiedReport<'a>, SnpFailure> {
        let vcek = VcekId::candidates(&report);
        let crls = self.crl_set();
        if let Ok(ids) = &vcek {
            if crls.current_at(now) {
                let known: Vec<Arc<VerifiedSigner>> = {
                    let m = self.by_vcek.read().unwrap_or_else(|p| p.into_inner());
                    ids.iter()
                        .filter_map(|id| m.get(id))
                        .filter(|(_, generation)| *generation == crls.generation)
                        .map(|(s, _)| s.clone())
                        .collect()
                };
                let mut last = None;
                for signer in known {
                    match signer.verify_report(report, now) {
                        Ok(v) => return Ok(v),
                        Err(e) => last = Some(e),
                    }
                }
                if let Some(e) = last {
                    return Err(rejected(e.check(), e.to_string()).into());
                }
            }
        }
        Err(SnpFailure::NoEndorsementKey {
            vcek,
            report_data: report.report_data().to_vec(),
        })
    }

    /// Files a validated VCEK under the chip and TCB it certifies.
    fn remember_vcek(&self, signer: &Arc<VerifiedSigner>, generation: u64) {
        let Some(id) = VcekId::of_certificate(signer.info()) else {
            return;
        };
        let mut m = self.by_vcek.write().unwrap_or_else(|p| p.into_inner());
        while m.len() >= MAX_CACHED_SIGNERS {
            let Some(k) = m.keys().next().cloned() else {
                break;
            };
            m.remove(&k);
        }
        m.insert(id, (signer.clone(), generation));
    }
}

/// DER certificates from PEM text or base64/hex DER. Only the armour is
/// removed here: certificates are parsed on a cache miss, not per request.
fn cert_ders(s: &str) -> Result<Vec<Vec<u8>>, String> {
    if s.contains("-----BEGIN") {
        let mut out = Vec::new();
        for pem in x509_parser::pem::Pem::iter_from_buffer(s.as_bytes()) {
            let pem = pem.map_err(|e| format!("PEM: {e}"))?;
            if pem.label == "CERTIFICATE" {
                out.push(pem.contents);
            }
        }
        return Ok(out);
    }
    match decode_text(s.as_bytes()) {
        (b, Encoding::Base64 | Encoding::Hex) => Ok(vec![b]),
        _ => Err("not PEM, base64 or hex".into()),
    }
}

/// The KBS `sample` TEE: `{"svn": "1", "report_data": "<base64>"}`. It is
/// not signed by anything, so it proves nothing about hardware; it exists so
/// that the protocol can be exercised without a TEE.
pub fn verify_sample(evidence: &Value) -> Result<VerifiedEvidence, ServiceError> {
    let obj = evidence
        .as_object()
        .ok_or_else(|| bad("sample evidence: not an object"))?;
    let rd = obj
        .get("report_data")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("sample evidence: report_data missing"))?;
    let report_data = base64::engine::general_purpose::STANDARD
        .decode(rd)
        .map_err(|e| bad(format!("sample evidence: report_data is not base64: {e}")))?;
    let svn = obj.get("svn").cloned().unwrap_or(Value::Null);
    Ok(VerifiedEvidence {
        tee: "sample",
        claims: Claims::Json(json!({
            "svn": svn,
            "report_data": hex::encode(&report_data),
            "debug": false,
            "hardware_signed": false,
        })),
        report_data,
        host_data: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tee_sim::{ReportOptions, SimChainOptions, SnpSimChain};

    const NOW: UnixTime = UnixTime(1_800_000_000);

    /// Verification with nothing fetched, failures as the service reports
    /// them.
    trait Check {
        fn check(&self, ev: &Value, now: UnixTime) -> Result<VerifiedEvidence, ServiceError>;
    }

    impl Check for SnpVerifier {
        fn check(&self, ev: &Value, now: UnixTime) -> Result<VerifiedEvidence, ServiceError> {
            self.verify(ev, &[], now).map_err(Into::into)
        }
    }

    fn verifier(chains: &[&SnpSimChain]) -> SnpVerifier {
        let mut trust = TrustStore::amd();
        for c in chains {
            let ark = Certificate::from_der(c.ark_der()).unwrap();
            trust = trust.with_anchor(ark);
        }
        SnpVerifier::new(trust)
    }

    fn evidence(chain: &SnpSimChain, measurement: u8, certs: Vec<String>) -> Value {
        let report = chain
            .report(&ReportOptions {
                measurement: [measurement; 48],
                ..ReportOptions::default()
            })
            .unwrap();
        json!({
            "report": base64::engine::general_purpose::STANDARD.encode(report),
            "certificates": certs,
        })
    }

    fn pem_chain(c: &SnpSimChain) -> Vec<String> {
        vec![c.vcek_pem(), c.ask_pem()]
    }

    #[test]
    fn snp_claims_convert_and_serialize_as_their_json_does() {
        let a = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let claims = verifier(&[&a])
            .check(&evidence(&a, 7, pem_chain(&a)), NOW)
            .unwrap()
            .claims;
        assert!(matches!(claims, Claims::Snp(_)));
        let json = claims.to_json();
        assert_eq!(json["measurement"], "07".repeat(48));
        assert_eq!(claims.measurement(), Some(json["measurement"].clone()));
        assert_eq!(
            claims.document().unwrap(),
            Document::from_json(&json).unwrap()
        );
        let rd = json!({"nonce": "n", "tee-pubkey": {"kty": "EC", "crv": "P-256"}});
        let init = json!({"a": [1, 2.5, null]});
        let annotated = claims
            .clone()
            .annotated(&[("runtime_data_claims", &rd), ("init_data_claims", &init)])
            .unwrap();
        let mut expected = json.clone();
        expected["runtime_data_claims"] = rd;
        expected["init_data_claims"] = init;
        assert_eq!(annotated.to_value().unwrap(), expected);
        assert_eq!(
            claims.annotated(&[]).unwrap().to_value().unwrap(),
            json,
            "nothing added"
        );
    }

    #[test]
    fn a_certificate_text_seen_before_verifies_the_same_way() {
        let a = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let v = verifier(&[&a]);
        let ev = evidence(&a, 1, pem_chain(&a));
        let first = v.check(&ev, NOW).unwrap();
        assert!(v
            .signers
            .read()
            .unwrap()
            .contains_key(&text_key(&a.vcek_pem())));
        let second = v.check(&ev, NOW).unwrap();
        assert_eq!(first.claims, second.claims);
        assert_eq!(first.report_data, second.report_data);
        let other = v.check(&evidence(&a, 2, pem_chain(&a)), NOW).unwrap();
        assert_ne!(first.claims, other.claims);
    }

    #[test]
    fn a_cached_certificate_text_does_not_vouch_for_another_chips_report() {
        let a = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let b = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let v = verifier(&[&a, &b]);
        v.check(&evidence(&a, 1, pem_chain(&a)), NOW).unwrap();
        // B's report with A's (cached) certificates: refused by the
        // signature check, on the cached path and on the full one.
        let mut forged = evidence(&b, 1, pem_chain(&a));
        assert!(matches!(
            v.check(&forged, NOW),
            Err(ServiceError::EvidenceRejected { .. })
        ));
        // With its own chain it verifies.
        forged["certificates"] = json!(pem_chain(&b));
        v.check(&forged, NOW).unwrap();
    }

    /// A report without certificates names the VCEK to fetch; verified
    /// with what was fetched, its chip and TCB are then known, and the next
    /// report from that chip needs nothing fetched. Another chip's fetched
    /// VCEK does not verify it.
    #[test]
    fn a_report_without_certificates_names_its_vcek_and_is_then_known() {
        let a = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let b = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let v = verifier(&[&a, &b]);
        let bare = evidence(&a, 1, vec![]);
        let Err(SnpFailure::NoEndorsementKey { vcek, report_data }) = v.verify(&bare, &[], NOW)
        else {
            panic!("expected the VCEK to be named");
        };
        assert_eq!(report_data, vec![0; 64]);
        let ids = vcek.unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].hwid, a.chip_id().to_vec());
        assert!(ids[0].path().starts_with("vcek/v1/Milan/"));
        // Without the service's fetcher, the refusal says how to fix it.
        let e = v.check(&bare, NOW).unwrap_err();
        assert!(e.to_string().contains("kds_url"), "{e}");
        // Another chip's chain does not verify it.
        let wrong = [
            b.vcek_der().to_vec(),
            b.ask_der().to_vec(),
            b.ark_der().to_vec(),
        ];
        assert!(matches!(
            v.verify(&bare, &wrong, NOW),
            Err(SnpFailure::Rejected(ServiceError::EvidenceRejected { .. }))
        ));
        let fetched = [
            a.vcek_der().to_vec(),
            a.ask_der().to_vec(),
            a.ark_der().to_vec(),
        ];
        v.verify(&bare, &fetched, NOW).unwrap();
        // Known now: another report of that chip verifies with nothing.
        v.check(&evidence(&a, 2, vec![]), NOW).unwrap();
        // A known chip's signer does not vouch for a forged report.
        let mut tampered = base64::engine::general_purpose::STANDARD
            .decode(bare["report"].as_str().unwrap())
            .unwrap();
        tampered[0x90] ^= 1; // MEASUREMENT
        let forged = json!({"report": base64::engine::general_purpose::STANDARD.encode(&tampered)});
        assert!(matches!(
            v.verify(&forged, &[], NOW),
            Err(SnpFailure::Rejected(ServiceError::EvidenceRejected { .. }))
        ));
    }

    /// A chain validated against an older CRL set and filed after new
    /// CRLs were installed (a validation racing the install) is not used.
    #[test]
    fn chains_filed_under_older_crls_are_not_used() {
        let a = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let v = verifier(&[&a]);
        v.check(&evidence(&a, 1, pem_chain(&a)), NOW).unwrap();
        let key = sha256(a.vcek_der());
        let filed = v.signers.read().unwrap().get(&key).cloned().unwrap();
        assert!(v.cached(&key, NOW).is_some());
        v.install_fetched_crls(Vec::new());
        assert!(v.cached(&key, NOW).is_none());
        // Filed late, under the old generation: still not used.
        v.signers.write().unwrap().insert(key, filed);
        assert!(v.cached(&key, NOW).is_none());
        // Validated again, it is filed under the current one.
        v.check(&evidence(&a, 1, pem_chain(&a)), NOW).unwrap();
        assert!(v.cached(&key, NOW).is_some());
    }

    /// VLEKs and masked chip ids cannot be looked up: refused, saying that
    /// the key must come with the evidence.
    #[test]
    fn vlek_and_masked_reports_cannot_be_looked_up() {
        let vlek = SnpSimChain::generate(SimChainOptions {
            signing_key: tee_snp::SigningKey::Vlek,
            ..SimChainOptions::default()
        })
        .unwrap();
        let v = verifier(&[&vlek]);
        let e = v.check(&evidence(&vlek, 1, vec![]), NOW).unwrap_err();
        assert!(e.to_string().contains("does not publish"), "{e}");
        let a = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let v = verifier(&[&a]);
        let masked = a
            .report(&ReportOptions {
                mask_chip_id: true,
                ..ReportOptions::default()
            })
            .unwrap();
        let ev = json!({"report": base64::engine::general_purpose::STANDARD.encode(masked)});
        let Err(SnpFailure::NoEndorsementKey { vcek, .. }) = v.verify(&ev, &[], NOW) else {
            panic!("expected a refusal naming no VCEK");
        };
        assert_eq!(vcek, Err(KdsError::ChipIdMasked));
    }

    #[test]
    fn a_certificate_that_does_not_parse_does_not_shift_the_others() {
        let a = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let v = verifier(&[&a]);
        let junk = base64::engine::general_purpose::STANDARD.encode([0x30, 0x03, 1, 2, 3]);
        let mut certs = vec![junk];
        certs.extend(pem_chain(&a));
        v.check(&evidence(&a, 1, certs), NOW).unwrap();
        // The chain was cached under the VCEK's own DER and text.
        let m = v.signers.read().unwrap();
        assert!(m.contains_key(&sha256(a.vcek_der())));
        assert!(m.contains_key(&text_key(&a.vcek_pem())));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn endorsement_keys_are_tried_once_each_and_a_few_at_most() {
        let a = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let b = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let v = verifier(&[&a, &b]);
        // More certificates than any chain needs: refused before any is
        // parsed or validated.
        let many = vec![b.vcek_pem(); MAX_CERTIFICATES + 1];
        assert!(matches!(
            v.check(&evidence(&a, 1, many), NOW),
            Err(ServiceError::BadRequest(m)) if m.contains("at most")
        ));
        // The same (wrong) endorsement key repeated is validated once, and
        // does not push the right one out of the candidates.
        let mut certs = vec![b.vcek_pem(); MAX_ENDORSEMENT_CANDIDATES + 2];
        certs.extend(pem_chain(&a));
        v.check(&evidence(&a, 1, certs), NOW).unwrap();
        // Different wrong endorsement keys beyond the cap: the right one
        // after them is not reached.
        let c = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let others = [&b, &c];
        assert_eq!(others.len(), MAX_ENDORSEMENT_CANDIDATES);
        let fresh = verifier(&[&a]);
        let mut certs: Vec<String> = others.iter().map(|o| o.vcek_pem()).collect();
        certs.extend(pem_chain(&a));
        assert!(fresh.check(&evidence(&a, 1, certs), NOW).is_err());
    }

    #[test]
    fn configured_crls_refuse_revoked_chains_and_bound_cached_ones() {
        let a = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let trust = || TrustStore::amd().with_anchor(Certificate::from_der(a.ark_der()).unwrap());
        let crl = |serials: &[u64], next: i64| {
            Crl::from_der(&a.crl(true, serials, NOW.0 - 3_600, next).unwrap()).unwrap()
        };
        let ev = evidence(&a, 1, pem_chain(&a));
        // The ASK's CRL lists the VCEK: refused.
        let revoked = SnpVerifier::with_crls(
            trust(),
            vec![crl(&[tee_sim::snp::VCEK_SERIAL], NOW.0 + 3_600)],
        );
        assert!(matches!(
            revoked.check(&ev, NOW),
            Err(ServiceError::EvidenceRejected { .. })
        ));
        // Other serials listed: accepted and cached, until the CRL's
        // nextUpdate; after it the chain is validated again, and refused
        // while no current CRL is installed.
        let current = SnpVerifier::with_crls(trust(), vec![crl(&[77], NOW.0 + 60)]);
        current.check(&ev, NOW).unwrap();
        current.check(&ev, UnixTime(NOW.0 + 60)).unwrap();
        assert!(matches!(
            current.check(&ev, UnixTime(NOW.0 + 61)),
            Err(ServiceError::EvidenceRejected { .. })
        ));
    }
}

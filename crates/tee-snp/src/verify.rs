//! Verification of a report: the endorsement key's certificate path to a
//! trusted ARK at `now`, then the report's signature and its bindings to the
//! certificate (signer kind, product, REPORTED_TCB, CHIP_ID).

use crate::endorsement::{EndorsementError, EndorsementInfo};
use crate::report::{ParseError, Report};
use crate::trust::TrustStore;
use crate::types::{Product, SigningKey};
use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P384_SHA384_FIXED};
use mamori_x509::{validate_path, Certificate, ChainError, Crl, UnixTime};
use thiserror::Error;

/// Why a report was rejected. [`SnpError::check`] names the failed check.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SnpError {
    #[error("report: {0}")]
    Parse(#[from] ParseError),
    #[error("endorsement key: {0}")]
    Endorsement(#[from] EndorsementError),
    #[error("endorsement key: no {wanted} certificate among the collateral (supply it with --collateral)")]
    NoEndorsementKey { wanted: &'static str },
    #[error("certificate chain: {0}")]
    Chain(#[from] ChainError),
    #[error("certificate chain: {what}: expected {expected}, found {found}")]
    ChainShape {
        what: &'static str,
        expected: String,
        found: String,
    },
    #[error("product: the report is from {report} (CPUID) but the {key} is for {certificate}")]
    ProductMismatch {
        report: Product,
        certificate: Product,
        key: &'static str,
    },
    #[error("product: unknown CPUID family {family:#x} model {model:#x} (field CPUID_FAM_ID/CPUID_MOD_ID at 0x188)")]
    UnknownCpuid { family: u8, model: u8 },
    #[error("signing key: the report is not signed (KEY_INFO.SIGNING_KEY = 7)")]
    NotSigned,
    #[error("signing key: the report says it was signed by the {report} but the certificate is a {certificate}")]
    SignerKind {
        report: &'static str,
        certificate: &'static str,
    },
    #[error("report signature: does not verify with the {key} ({subject})")]
    Signature { key: &'static str, subject: String },
    #[error("TCB binding: REPORTED_TCB.{component} is {report} but the {key} was issued for {certificate}")]
    Tcb {
        component: &'static str,
        report: u8,
        certificate: u8,
        key: &'static str,
    },
    #[error("TCB binding: REPORTED_TCB has non-zero reserved bytes ({raw:#018x})")]
    TcbReserved { raw: u64 },
    #[error("chip binding: CHIP_ID (offset 0x1a0) does not equal the VCEK's hwID")]
    ChipId,
    #[error("chip binding: MASK_CHIP_KEY is set but CHIP_ID (offset 0x1a0) is not zero")]
    MaskedChipIdNotZero,
    #[error("validity: the {key} is valid {not_before}..{not_after}, not at {now}")]
    SignerValidity {
        key: &'static str,
        not_before: UnixTime,
        not_after: UnixTime,
        now: UnixTime,
    },
    #[error("container: {0}")]
    Container(String),
}

impl SnpError {
    /// A short, stable name of the check that failed.
    pub fn check(&self) -> &'static str {
        match self {
            SnpError::Parse(_) => "parse",
            SnpError::Endorsement(_) | SnpError::NoEndorsementKey { .. } => "endorsement-key",
            SnpError::Chain(ChainError::Revoked { .. }) => "revocation",
            SnpError::Chain(ChainError::Expired { .. } | ChainError::NotYetValid { .. }) => {
                "certificate-validity"
            }
            SnpError::Chain(_) | SnpError::ChainShape { .. } => "certificate-chain",
            SnpError::ProductMismatch { .. } | SnpError::UnknownCpuid { .. } => "product",
            SnpError::NotSigned | SnpError::SignerKind { .. } => "signing-key",
            SnpError::Signature { .. } => "signature",
            SnpError::Tcb { .. } | SnpError::TcbReserved { .. } => "tcb-binding",
            SnpError::ChipId | SnpError::MaskedChipIdNotZero => "chip-id-binding",
            SnpError::SignerValidity { .. } => "certificate-validity",
            SnpError::Container(_) => "container",
        }
    }
}

fn key_name(k: SigningKey) -> &'static str {
    match k {
        SigningKey::Vcek => "VCEK",
        SigningKey::Vlek => "VLEK",
        SigningKey::None => "no key",
    }
}

/// A VCEK or VLEK whose certificate path to a trusted ARK was validated.
/// Holding one proves the chain checks ran; reports are then verified with
/// its cached, parsed public key (the hot path: one P-384 verification).
#[derive(Clone)]
pub struct VerifiedSigner {
    info: EndorsementInfo,
    subject: String,
    key: ParsedPublicKey,
    not_before: UnixTime,
    not_after: UnixTime,
    anchor_pinned: bool,
    chain_subjects: Vec<String>,
}

impl std::fmt::Debug for VerifiedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedSigner")
            .field("info", &self.info)
            .field("chain", &self.chain_subjects)
            .finish_non_exhaustive()
    }
}

impl VerifiedSigner {
    /// Validates `leaf` (a VCEK or VLEK) to a root in `trust` at `now`, using
    /// `pool` and the trust store's intermediates, and `crls` for revocation.
    pub fn validate(
        leaf: &Certificate,
        pool: &[Certificate],
        crls: &[Crl],
        trust: &TrustStore,
        now: UnixTime,
    ) -> Result<Self, SnpError> {
        let info = EndorsementInfo::from_certificate(leaf)?;
        let mut all: Vec<Certificate> = pool.to_vec();
        all.extend(trust.intermediates().iter().cloned());
        let anchors = trust.anchor_certificates();
        let path = validate_path(leaf, &all, &anchors, crls, now)?;
        let certs = path.certificates();
        let name = info.product.amd_name();
        let expected_ca = match info.kind {
            SigningKey::Vlek => format!("SEV-VLEK-{name}"),
            _ => format!("SEV-{name}"),
        };
        let [_, ca, root] = certs else {
            return Err(SnpError::ChainShape {
                what: "path length",
                expected: "3 (VCEK/VLEK, ASK/ASVK, ARK)".into(),
                found: certs.len().to_string(),
            });
        };
        if ca.subject_cn() != Some(expected_ca.as_str()) {
            return Err(SnpError::ChainShape {
                what: "signing key",
                expected: expected_ca,
                found: ca.subject_cn().unwrap_or("(no CN)").to_owned(),
            });
        }
        let expected_root = format!("ARK-{name}");
        if root.subject_cn() != Some(expected_root.as_str()) {
            return Err(SnpError::ChainShape {
                what: "root",
                expected: expected_root,
                found: root.subject_cn().unwrap_or("(no CN)").to_owned(),
            });
        }
        let anchor = trust.anchor_for(root);
        if let Some(a) = anchor {
            if a.product.is_some_and(|p| p != info.product) {
                return Err(SnpError::ChainShape {
                    what: "root product",
                    expected: info.product.to_string(),
                    found: a.product.map(|p| p.to_string()).unwrap_or_default(),
                });
            }
        }
        let key = ParsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &leaf.public_key().bytes)
            .map_err(|_| EndorsementError::KeyType)?;
        Ok(Self {
            subject: leaf.subject().to_owned(),
            key,
            not_before: path.not_before(),
            not_after: path.not_after(),
            anchor_pinned: anchor.is_some_and(|a| a.pinned),
            chain_subjects: certs.iter().map(|c| c.subject().to_owned()).collect(),
            info,
        })
    }

    pub fn info(&self) -> &EndorsementInfo {
        &self.info
    }
    /// Whether the root is one of AMD's pinned ARKs (not an explicit anchor).
    pub fn anchor_pinned(&self) -> bool {
        self.anchor_pinned
    }
    /// Subjects of the validated path, leaf first.
    pub fn chain(&self) -> &[String] {
        &self.chain_subjects
    }
    /// When the validated path stops being valid.
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }

    /// Parses and verifies one report against this signer at `now`.
    pub fn verify<'a>(
        &self,
        bytes: &'a [u8],
        now: UnixTime,
    ) -> Result<VerifiedReport<'a>, SnpError> {
        let report = Report::parse(bytes)?;
        self.verify_report(report, now)
    }

    /// Verifies an already parsed report against this signer at `now`.
    pub fn verify_report<'a>(
        &self,
        report: Report<'a>,
        now: UnixTime,
    ) -> Result<VerifiedReport<'a>, SnpError> {
        let key = key_name(self.info.kind);
        if now < self.not_before || now > self.not_after {
            return Err(SnpError::SignerValidity {
                key,
                not_before: self.not_before,
                not_after: self.not_after,
                now,
            });
        }
        match report.signing_key() {
            SigningKey::None => return Err(SnpError::NotSigned),
            k if k != self.info.kind => {
                return Err(SnpError::SignerKind {
                    report: key_name(k),
                    certificate: key,
                })
            }
            _ => {}
        }
        let product = self.info.product;
        if let Some((family, model, _)) = report.cpuid() {
            match Product::from_cpuid(family, model) {
                Some(p) if p == product => {}
                Some(p) => {
                    return Err(SnpError::ProductMismatch {
                        report: p,
                        certificate: product,
                        key,
                    })
                }
                None => return Err(SnpError::UnknownCpuid { family, model }),
            }
        }
        // The signature first: bindings of an unsigned report mean nothing.
        let sig = report.signature_fixed();
        self.key
            .verify_sig(report.signed_bytes(), &sig)
            .map_err(|_| SnpError::Signature {
                key,
                subject: self.subject.clone(),
            })?;
        let tcb = report.reported_tcb();
        if tcb.reserved_bytes(product) != 0 {
            return Err(SnpError::TcbReserved { raw: tcb.0 });
        }
        let c = tcb.components(product);
        let i = &self.info;
        let mut pairs = vec![
            ("bootloader", c.bootloader, i.bl_spl),
            ("tee", c.tee, i.tee_spl),
            ("snp", c.snp, i.snp_spl),
            ("microcode", c.microcode, i.ucode_spl),
        ];
        if let (Some(r), Some(v)) = (c.fmc, i.fmc_spl) {
            pairs.push(("fmc", r, v));
        }
        for (component, report_v, cert_v) in pairs {
            if report_v != cert_v {
                return Err(SnpError::Tcb {
                    component,
                    report: report_v,
                    certificate: cert_v,
                    key,
                });
            }
        }
        let chip = report.chip_id();
        if report.mask_chip_key() {
            if chip.iter().any(|b| *b != 0) {
                return Err(SnpError::MaskedChipIdNotZero);
            }
        } else if let Some(hwid) = &i.hwid {
            // Turin VCEKs carry the first 8 bytes of the chip id.
            if chip.get(..hwid.len()) != Some(hwid.as_slice()) {
                return Err(SnpError::ChipId);
            }
        }
        Ok(VerifiedReport {
            report,
            product,
            signer: self.info.kind,
            anchor_pinned: self.anchor_pinned,
        })
    }
}

/// A report whose signature and bindings verified. Only
/// [`VerifiedSigner::verify`] makes one.
#[derive(Clone, Copy, Debug)]
pub struct VerifiedReport<'a> {
    report: Report<'a>,
    product: Product,
    signer: SigningKey,
    anchor_pinned: bool,
}

impl<'a> VerifiedReport<'a> {
    pub fn report(&self) -> &Report<'a> {
        &self.report
    }
    pub fn product(&self) -> Product {
        self.product
    }
    pub fn signer(&self) -> SigningKey {
        self.signer
    }
    /// False when the root was an explicitly named (e.g. development) anchor.
    pub fn anchor_pinned(&self) -> bool {
        self.anchor_pinned
    }
    pub fn claims(&self) -> crate::claims::SnpClaims {
        crate::claims::SnpClaims::new(&self.report, Some(self.product), Some(self.signer))
    }
}

/// Verifies `bytes` (exactly one report) with the endorsement keys found in
/// `certificates` (a VCEK or VLEK matching the report's signing key, plus any
/// intermediates), to a root in `trust`, at `now`.
pub fn verify_report<'a>(
    bytes: &'a [u8],
    certificates: &[Certificate],
    crls: &[Crl],
    trust: &TrustStore,
    now: UnixTime,
) -> Result<VerifiedReport<'a>, SnpError> {
    let report = Report::parse(bytes)?;
    let wanted = report.signing_key();
    if wanted == SigningKey::None {
        return Err(SnpError::NotSigned);
    }
    let candidates: Vec<(&Certificate, EndorsementInfo)> = certificates
        .iter()
        .filter(|c| EndorsementInfo::is_endorsement_key(c))
        .map(|c| EndorsementInfo::from_certificate(c).map(|i| (c, i)))
        .collect::<Result<_, _>>()?;
    let mut last = None;
    for (cert, info) in candidates.into_iter().filter(|(_, i)| i.kind == wanted) {
        // Prefer the certificate issued for this chip: skip VCEKs whose hwID
        // cannot match, so that the error names the real problem.
        if let (Some(h), false) = (&info.hwid, report.mask_chip_key()) {
            if report.chip_id().get(..h.len()) != Some(h.as_slice()) {
                last.get_or_insert(SnpError::ChipId);
                continue;
            }
        }
        let attempt = VerifiedSigner::validate(cert, certificates, crls, trust, now)
            .and_then(|s| s.verify_report(report, now).map(|v| (s, v)));
        match attempt {
            Ok((_, v)) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(SnpError::NoEndorsementKey {
        wanted: key_name(wanted),
    }))
}

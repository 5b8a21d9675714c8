use crate::{Certificate, ChainError, Crl, UnixTime};

/// Longest path we build; attestation PKIs are three or four deep.
const MAX_DEPTH: usize = 8;

/// A certificate path that was validated at `now`: leaf first, trust anchor
/// last. Only [`validate_path`] makes one, so holding it proves the checks ran.
#[derive(Clone, Debug)]
pub struct ValidatedPath {
    certs: Vec<Certificate>,
    now: UnixTime,
}

impl ValidatedPath {
    pub fn leaf(&self) -> &Certificate {
        // Invariant: a path always holds at least the leaf.
        &self.certs[0]
    }
    pub fn anchor(&self) -> &Certificate {
        &self.certs[self.certs.len() - 1]
    }
    pub fn certificates(&self) -> &[Certificate] {
        &self.certs
    }
    /// The instant the path was validated at.
    pub fn checked_at(&self) -> UnixTime {
        self.now
    }
    /// The earliest notAfter on the path: when the validation stops holding.
    pub fn not_after(&self) -> UnixTime {
        self.certs
            .iter()
            .map(Certificate::not_after)
            .min()
            .unwrap_or(self.now)
    }
    /// The latest notBefore on the path.
    pub fn not_before(&self) -> UnixTime {
        self.certs
            .iter()
            .map(Certificate::not_before)
            .max()
            .unwrap_or(self.now)
    }
}

fn check_validity(index: usize, c: &Certificate, now: UnixTime) -> Result<(), ChainError> {
    if now < c.not_before() {
        return Err(ChainError::NotYetValid {
            index,
            subject: c.subject().to_owned(),
            not_before: c.not_before(),
            now,
        });
    }
    if now > c.not_after() {
        return Err(ChainError::Expired {
            index,
            subject: c.subject().to_owned(),
            not_after: c.not_after(),
            now,
        });
    }
    Ok(())
}

/// Builds and validates the path from `leaf` to one of `anchors` at `now`.
///
/// `pool` holds intermediates (and possibly roots) that came with the
/// evidence; a root in the pool is only accepted if it is byte-identical to
/// an anchor. Every certificate on the path, the anchor included, must be
/// within its validity at `now`; issuers must be CAs. For each link, the CRLs
/// in `crls` issued by the issuer are checked (signature, freshness, serial).
pub fn validate_path(
    leaf: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    crls: &[Crl],
    now: UnixTime,
) -> Result<ValidatedPath, ChainError> {
    let mut path = vec![leaf.clone()];
    check_validity(0, leaf, now)?;
    loop {
        let index = path.len() - 1;
        let current = &path[index];
        if anchors.iter().any(|a| a.der() == current.der()) {
            break;
        }
        if path.len() >= MAX_DEPTH {
            return Err(ChainError::TooLong(MAX_DEPTH));
        }
        let issuer = find_issuer(index, current, pool, anchors)?;
        if issuer.is_ca() != Some(true) {
            return Err(ChainError::NotCa {
                index,
                subject: issuer.subject().to_owned(),
            });
        }
        if issuer.key_usage().is_some_and(|ku| !ku.key_cert_sign) {
            return Err(ChainError::NotCertSigner {
                index,
                subject: issuer.subject().to_owned(),
            });
        }
        // The CAs between this issuer and the leaf, self-issued ones not
        // counted (RFC 5280 4.2.1.9).
        let below = path[1..].iter().filter(|c| !c.is_self_issued()).count();
        if let Some(max) = issuer.path_len_constraint() {
            if below > max as usize {
                return Err(ChainError::PathLength {
                    index,
                    subject: issuer.subject().to_owned(),
                    max,
                    found: below,
                });
            }
        }
        check_validity(index + 1, &issuer, now)?;
        path.push(issuer);
    }
    check_crls(&path, crls, now)?;
    Ok(ValidatedPath { certs: path, now })
}

fn find_issuer(
    index: usize,
    child: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
) -> Result<Certificate, ChainError> {
    let mut last_err = None;
    // Anchors first: a pinned root needs no copy in the evidence.
    for cand in anchors.iter().chain(pool) {
        if cand.subject_raw() != child.issuer_raw() || cand.der() == child.der() {
            continue;
        }
        match child.verify_signed_by(cand) {
            Ok(()) => {
                let trusted = anchors.iter().any(|a| a.der() == cand.der());
                if !trusted && cand.is_self_issued() {
                    return Err(ChainError::UntrustedRoot {
                        subject: cand.subject().to_owned(),
                    });
                }
                return Ok(cand.clone());
            }
            Err(source) => {
                last_err = Some(ChainError::Signature {
                    index,
                    subject: child.subject().to_owned(),
                    issuer: cand.subject().to_owned(),
                    source,
                })
            }
        }
    }
    Err(last_err.unwrap_or_else(|| ChainError::IssuerNotFound {
        index,
        subject: child.subject().to_owned(),
        issuer: child.issuer().to_owned(),
    }))
}

fn check_crls(path: &[Certificate], crls: &[Crl], now: UnixTime) -> Result<(), ChainError> {
    for (index, pair) in path.windows(2).enumerate() {
        let (cert, issuer) = (&pair[0], &pair[1]);
        for crl in crls
            .iter()
            .filter(|c| c.issuer_raw() == issuer.subject_raw())
        {
            if issuer.key_usage().is_some_and(|ku| !ku.crl_sign) {
                return Err(ChainError::NotCrlSigner {
                    issuer: issuer.subject().to_owned(),
                });
            }
            crl.verify_signed_by(issuer)
                .map_err(|source| ChainError::CrlSignature {
                    issuer: issuer.subject().to_owned(),
                    source,
                })?;
            if crl.this_update() > now {
                return Err(ChainError::CrlNotYetValid {
                    issuer: issuer.subject().to_owned(),
                    this_update: crl.this_update(),
                    now,
                });
            }
            // Without nextUpdate an old CRL could be replayed for ever, from
            // before the certificate was revoked.
            let next = crl
                .next_update()
                .ok_or_else(|| ChainError::CrlWithoutNextUpdate {
                    issuer: issuer.subject().to_owned(),
                })?;
            if next < now {
                return Err(ChainError::StaleCrl {
                    issuer: issuer.subject().to_owned(),
                    next_update: next,
                    now,
                });
            }
            if crl.is_revoked(cert) {
                return Err(ChainError::Revoked {
                    index,
                    subject: cert.subject().to_owned(),
                    issuer: issuer.subject().to_owned(),
                    serial: hex_string(cert.serial()),
                });
            }
        }
    }
    Ok(())
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

//! The development chain end to end through the real verifier, and the CRL
//! logic that no real vector exercises (AMD's CRLs are not in the vectors).
#![allow(clippy::unwrap_used)]

use mamori_x509::{Certificate, ChainError, Crl, UnixTime};
use std::sync::OnceLock;
use tee_sim::snp::{SimTcb, ASK_SERIAL, POLICY_DEBUG, VCEK_SERIAL};
use tee_sim::{ReportOptions, SimChainOptions, SnpSimChain};
use tee_snp::{verify_report, Product, SigningKey, SnpError, TrustStore};

const NOW: UnixTime = UnixTime(1_764_547_200); // 2025-12-01

fn milan() -> &'static SnpSimChain {
    static C: OnceLock<SnpSimChain> = OnceLock::new();
    C.get_or_init(|| SnpSimChain::generate(SimChainOptions::default()).unwrap())
}

fn cert(der: &[u8]) -> Certificate {
    Certificate::from_der(der).unwrap()
}

fn trust(chain: &SnpSimChain) -> TrustStore {
    TrustStore::amd().with_anchor(cert(chain.ark_der()))
}

fn pool(chain: &SnpSimChain) -> Vec<Certificate> {
    vec![cert(chain.vcek_der()), cert(chain.ask_der())]
}

fn report(chain: &SnpSimChain, f: impl FnOnce(&mut ReportOptions)) -> Vec<u8> {
    let mut o = ReportOptions {
        measurement: [0x11; 48],
        report_data: [0x22; 64],
        ..ReportOptions::default()
    };
    f(&mut o);
    chain.report(&o).unwrap()
}

fn verify(chain: &SnpSimChain, bytes: &[u8], crls: &[Crl]) -> Result<(), SnpError> {
    verify_report(bytes, &pool(chain), crls, &trust(chain), NOW).map(|_| ())
}

#[test]
fn simulated_report_verifies_with_its_root_named() {
    let c = milan();
    let bytes = report(c, |_| {});
    let v = verify_report(&bytes, &pool(c), &[], &trust(c), NOW).unwrap();
    let claims = v.claims();
    assert_eq!(claims.measurement, "11".repeat(48));
    assert_eq!(claims.report_data, "22".repeat(64));
    assert_eq!(claims.product, Some(Product::Milan));
    assert!(!claims.policy.debug);
    assert!(!v.anchor_pinned());
    assert_eq!(claims.reported_tcb.snp, SimTcb::default().snp);
}

#[test]
fn simulated_report_is_refused_without_its_root() {
    let c = milan();
    let bytes = report(c, |_| {});
    let e = verify_report(&bytes, &pool(c), &[], &TrustStore::amd(), NOW).unwrap_err();
    assert!(
        matches!(
            e,
            SnpError::Chain(ChainError::UntrustedRoot { .. })
                | SnpError::Chain(ChainError::IssuerNotFound { .. })
        ),
        "{e}"
    );
    // Supplying the root as collateral does not make it trusted either.
    let mut with_root = pool(c);
    with_root.push(cert(c.ark_der()));
    let e = verify_report(&bytes, &with_root, &[], &TrustStore::amd(), NOW).unwrap_err();
    assert!(
        matches!(e, SnpError::Chain(ChainError::UntrustedRoot { .. })),
        "{e}"
    );
}

#[test]
fn debug_policy_is_reported() {
    let c = milan();
    let bytes = report(c, |o| o.policy |= POLICY_DEBUG);
    let v = verify_report(&bytes, &pool(c), &[], &trust(c), NOW).unwrap();
    assert!(v.claims().policy.debug);
}

#[test]
fn version_five_and_masked_chip_id_verify() {
    let c = milan();
    let bytes = report(c, |o| {
        o.version = 5;
        o.mask_chip_id = true;
    });
    let v = verify_report(&bytes, &pool(c), &[], &trust(c), NOW).unwrap();
    let claims = v.claims();
    assert_eq!(claims.version, 5);
    assert!(claims.mask_chip_key);
    assert_eq!(claims.chip_id, "00".repeat(64));
    assert_eq!(claims.launch_mit_vector.as_deref(), Some("0x0"));
}

#[test]
fn turin_layout_and_vlek_chains_verify() {
    for (product, signing_key) in [
        (Product::Turin, SigningKey::Vcek),
        (Product::Genoa, SigningKey::Vlek),
    ] {
        let c = SnpSimChain::generate(SimChainOptions {
            product,
            signing_key,
            tcb: SimTcb {
                fmc: 3,
                ..SimTcb::default()
            },
            ..SimChainOptions::default()
        })
        .unwrap();
        let bytes = report(&c, |_| {});
        let v = verify_report(&bytes, &pool(&c), &[], &trust(&c), NOW).unwrap();
        let claims = v.claims();
        assert_eq!(claims.product, Some(product));
        assert_eq!(claims.signing_key, signing_key);
        if product == Product::Turin {
            assert_eq!(claims.reported_tcb.fmc, Some(3));
        }
    }
}

#[test]
fn expiry_is_enforced() {
    let c = milan();
    let bytes = report(c, |_| {});
    let late = UnixTime(c.options().not_after + 1);
    let e = verify_report(&bytes, &pool(c), &[], &trust(c), late).unwrap_err();
    assert_eq!(e.check(), "certificate-validity", "{e}");
    let early = UnixTime(c.options().not_before - 1);
    let e = verify_report(&bytes, &pool(c), &[], &trust(c), early).unwrap_err();
    assert_eq!(e.check(), "certificate-validity", "{e}");
}

fn crl(c: &SnpSimChain, by_ask: bool, serials: &[u64]) -> Crl {
    let der = c
        .crl(by_ask, serials, NOW.0 - 86_400, NOW.0 + 86_400)
        .unwrap();
    Crl::from_der(&der).unwrap()
}

#[test]
fn crl_of_the_ark_revokes_the_ask() {
    let c = milan();
    let bytes = report(c, |_| {});
    let e = verify(c, &bytes, &[crl(c, false, &[ASK_SERIAL])]).unwrap_err();
    assert_eq!(e.check(), "revocation", "{e}");
    assert!(
        matches!(e, SnpError::Chain(ChainError::Revoked { index: 1, .. })),
        "{e}"
    );
}

#[test]
fn crl_of_the_ask_revokes_the_vcek() {
    let c = milan();
    let bytes = report(c, |_| {});
    let e = verify(c, &bytes, &[crl(c, true, &[VCEK_SERIAL])]).unwrap_err();
    assert!(
        matches!(e, SnpError::Chain(ChainError::Revoked { index: 0, .. })),
        "{e}"
    );
}

#[test]
fn crl_listing_other_serials_passes() {
    let c = milan();
    let bytes = report(c, |_| {});
    verify(c, &bytes, &[crl(c, false, &[77, 78]), crl(c, true, &[])]).unwrap();
}

#[test]
fn stale_and_future_crls_are_refused() {
    let c = milan();
    let bytes = report(c, |_| {});
    let stale = Crl::from_der(&c.crl(false, &[], NOW.0 - 100, NOW.0 - 10).unwrap()).unwrap();
    let e = verify(c, &bytes, &[stale]).unwrap_err();
    assert!(
        matches!(e, SnpError::Chain(ChainError::StaleCrl { .. })),
        "{e}"
    );
    // No nextUpdate: nothing says when it stops being current, so an old
    // one could be replayed for ever.
    let open_ended = Crl::from_der(&c.crl_with(false, &[], NOW.0 - 100, None).unwrap()).unwrap();
    let e = verify(c, &bytes, &[open_ended]).unwrap_err();
    assert!(
        matches!(e, SnpError::Chain(ChainError::CrlWithoutNextUpdate { .. })),
        "{e:?}"
    );
    let future = Crl::from_der(&c.crl(false, &[], NOW.0 + 10, NOW.0 + 100).unwrap()).unwrap();
    let e = verify(c, &bytes, &[future]).unwrap_err();
    assert!(
        matches!(e, SnpError::Chain(ChainError::CrlNotYetValid { .. })),
        "{e}"
    );
}

#[test]
fn crl_signed_by_another_key_is_refused() {
    let c = milan();
    // Same names, other keys: a forged CRL for this chain's ARK.
    let other = SnpSimChain::generate(SimChainOptions::default()).unwrap();
    let bytes = report(c, |_| {});
    let forged = crl(&other, false, &[]);
    let e = verify(c, &bytes, &[forged]).unwrap_err();
    assert!(
        matches!(e, SnpError::Chain(ChainError::CrlSignature { .. })),
        "{e}"
    );
}

#[test]
fn another_chains_vcek_does_not_verify_the_report() {
    let c = milan();
    let other = SnpSimChain::generate(SimChainOptions::default()).unwrap();
    let bytes = report(c, |_| {});
    let mut certs = pool(&other);
    certs.extend(pool(c).into_iter().skip(1));
    let trust = trust(c).with_anchor(cert(other.ark_der()));
    let e = verify_report(&bytes, &certs, &[], &trust, NOW).unwrap_err();
    assert_eq!(e.check(), "chip-id-binding", "{e}");
}

#[test]
fn export_and_import_keep_the_platform() {
    let c = milan();
    let blobs = c.export().unwrap();
    let get = |n: &str| blobs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
    let back = SnpSimChain::import(&get).unwrap();
    assert_eq!(back.ark_der(), c.ark_der());
    assert_eq!(back.chip_id(), c.chip_id());
    let bytes = report(&back, |_| {});
    verify(c, &bytes, &[]).unwrap();
}

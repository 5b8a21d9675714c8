//! Path validation honours what a CA certificate says about its own key:
//! keyUsage (keyCertSign for certificates, cRLSign for CRLs) and
//! basicConstraints' pathLenConstraint (RFC 5280 4.2.1.3, 4.2.1.9).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mamori_x509::{validate_path, Certificate, ChainError, Crl, UnixTime};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber,
};

/// 2030-01-01, inside every certificate's validity below.
const NOW: UnixTime = UnixTime(1_893_456_000);

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn params(cn: &str, ca: Option<BasicConstraints>, usages: &[KeyUsagePurpose]) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2040, 1, 1);
    p.serial_number = Some(SerialNumber::from(cn.len() as u64 + 7));
    p.is_ca = match ca {
        Some(bc) => IsCa::Ca(bc),
        None => IsCa::ExplicitNoCa,
    };
    p.key_usages = usages.to_vec();
    p
}

const CA_USAGES: &[KeyUsagePurpose] = &[KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];

fn root(constraint: BasicConstraints) -> Ca {
    let key = KeyPair::generate().unwrap();
    let cert = params("Root", Some(constraint), CA_USAGES)
        .self_signed(&key)
        .unwrap();
    Ca { cert, key }
}

fn issued(p: CertificateParams, by: &Ca) -> Ca {
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &by.cert, &by.key).unwrap();
    Ca { cert, key }
}

fn der(c: &Ca) -> Certificate {
    Certificate::from_der(c.cert.der()).unwrap()
}

fn leaf(by: &Ca) -> Certificate {
    der(&issued(
        params("Leaf", None, &[KeyUsagePurpose::DigitalSignature]),
        by,
    ))
}

#[test]
fn an_issuer_whose_key_usage_excludes_certificate_signing_is_refused() {
    let r = root(BasicConstraints::Unconstrained);
    let ok = issued(
        params("Int", Some(BasicConstraints::Unconstrained), CA_USAGES),
        &r,
    );
    let anchors = [der(&r)];
    validate_path(&leaf(&ok), &[der(&ok)], &anchors, &[], NOW).expect("a CA that may sign");
    let signer_only = issued(
        params(
            "Int",
            Some(BasicConstraints::Unconstrained),
            &[KeyUsagePurpose::DigitalSignature],
        ),
        &r,
    );
    match validate_path(
        &leaf(&signer_only),
        &[der(&signer_only)],
        &anchors,
        &[],
        NOW,
    ) {
        Err(ChainError::NotCertSigner { index: 0, subject }) => assert!(subject.contains("Int")),
        other => panic!("{other:?}"),
    }
    // Without a keyUsage extension nothing is restricted.
    let unrestricted = issued(
        params("Int", Some(BasicConstraints::Unconstrained), &[]),
        &r,
    );
    validate_path(
        &leaf(&unrestricted),
        &[der(&unrestricted)],
        &anchors,
        &[],
        NOW,
    )
    .expect("no keyUsage: no restriction");
}

#[test]
fn a_path_longer_than_a_path_length_constraint_allows_is_refused() {
    // Root (pathLen 1) -> A -> B -> leaf: two intermediates below the root.
    let r = root(BasicConstraints::Constrained(1));
    let a = issued(
        params("A", Some(BasicConstraints::Unconstrained), CA_USAGES),
        &r,
    );
    let b = issued(
        params("B", Some(BasicConstraints::Unconstrained), CA_USAGES),
        &a,
    );
    let pool = [der(&a), der(&b)];
    match validate_path(&leaf(&b), &pool, &[der(&r)], &[], NOW) {
        Err(ChainError::PathLength {
            index: 2,
            max: 1,
            found: 2,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // One intermediate is allowed.
    validate_path(&leaf(&a), &pool, &[der(&r)], &[], NOW).expect("within the constraint");
    // An intermediate with pathLen 0 may issue only end entities (AMD's
    // ASKs are such CAs).
    let r = root(BasicConstraints::Unconstrained);
    let a = issued(
        params("A", Some(BasicConstraints::Constrained(0)), CA_USAGES),
        &r,
    );
    let b = issued(
        params("B", Some(BasicConstraints::Unconstrained), CA_USAGES),
        &a,
    );
    let pool = [der(&a), der(&b)];
    validate_path(&leaf(&a), &pool, &[der(&r)], &[], NOW).expect("a leaf under A");
    assert!(matches!(
        validate_path(&leaf(&b), &pool, &[der(&r)], &[], NOW),
        Err(ChainError::PathLength {
            index: 1,
            max: 0,
            found: 1,
            ..
        })
    ));
}

#[test]
fn a_crl_from_an_issuer_that_may_not_sign_crls_is_refused() {
    let r = root(BasicConstraints::Unconstrained);
    // The same key and name twice: one certificate allows CRL signing (rcgen
    // signs the CRL with it), the one on the path does not.
    let key = KeyPair::generate().unwrap();
    let p = |usages: &[KeyUsagePurpose]| {
        params("Int", Some(BasicConstraints::Unconstrained), usages)
            .signed_by(&key, &r.cert, &r.key)
            .unwrap()
    };
    let may_sign_crls = p(CA_USAGES);
    let may_not = p(&[KeyUsagePurpose::KeyCertSign]);
    let crl = CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2029, 12, 1),
        next_update: rcgen::date_time_ymd(2030, 2, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&may_sign_crls, &key)
    .unwrap();
    let crls = [Crl::from_der(crl.der()).unwrap()];
    let int = Ca {
        cert: may_sign_crls,
        key,
    };
    let l = leaf(&int);
    let anchors = [der(&r)];
    validate_path(&l, &[der(&int)], &anchors, &crls, NOW).expect("a CRL signer");
    let path_int = Certificate::from_der(may_not.der()).unwrap();
    match validate_path(&l, &[path_int], &anchors, &crls, NOW) {
        Err(ChainError::NotCrlSigner { issuer }) => assert!(issuer.contains("Int")),
        other => panic!("{other:?}"),
    }
}

//! Trust anchors for SNP: AMD's root keys (ARK) for each product, pinned in
//! the binary, plus the AMD signing keys (ASK for VCEKs, ASVK for VLEKs) that
//! AMD publishes for each product, so that a report and its VCEK suffice for
//! offline verification. Only the ARKs are trusted; ASK/ASVK are ordinary
//! intermediates that must verify under a pinned ARK like any supplied one.

use crate::types::Product;
use mamori_x509::Certificate;
use std::sync::OnceLock;

const PEMS: [(Product, &str, &str, &str); 3] = [
    (
        Product::Milan,
        include_str!("amd-certs/ark-milan.pem"),
        include_str!("amd-certs/ask-milan.pem"),
        include_str!("amd-certs/asvk-milan.pem"),
    ),
    (
        Product::Genoa,
        include_str!("amd-certs/ark-genoa.pem"),
        include_str!("amd-certs/ask-genoa.pem"),
        include_str!("amd-certs/asvk-genoa.pem"),
    ),
    (
        Product::Turin,
        include_str!("amd-certs/ark-turin.pem"),
        include_str!("amd-certs/ask-turin.pem"),
        include_str!("amd-certs/asvk-turin.pem"),
    ),
];

fn pem_cert(pem: &str) -> Option<Certificate> {
    match mamori_x509::split_blobs(pem.as_bytes()) {
        Ok(Some(blobs)) => blobs.into_iter().find_map(|b| match b {
            mamori_x509::Blob::Certificate(c) => Some(*c),
            mamori_x509::Blob::Crl(_) => None,
        }),
        _ => None,
    }
}

/// One trusted root and the product it serves (`None` for a root named
/// explicitly by the operator, e.g. a development root).
#[derive(Clone, Debug)]
pub struct Anchor {
    pub certificate: Certificate,
    pub product: Option<Product>,
    pub pinned: bool,
}

/// The roots a verification trusts and the intermediates it may use.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    anchors: Vec<Anchor>,
    intermediates: Vec<Certificate>,
}

fn amd() -> &'static TrustStore {
    static AMD: OnceLock<TrustStore> = OnceLock::new();
    AMD.get_or_init(|| {
        let mut t = TrustStore::default();
        for (product, ark, ask, asvk) in PEMS {
            // The PEMs are compiled in and covered by tests; a parse failure
            // would drop that product's root, never trust something else.
            if let Some(c) = pem_cert(ark) {
                t.anchors.push(Anchor {
                    certificate: c,
                    product: Some(product),
                    pinned: true,
                });
            }
            t.intermediates.extend(pem_cert(ask));
            t.intermediates.extend(pem_cert(asvk));
        }
        t
    })
}

impl TrustStore {
    /// AMD's pinned roots for Milan, Genoa and Turin.
    pub fn amd() -> Self {
        amd().clone()
    }

    /// Trusts nothing until anchors are added.
    pub fn empty() -> Self {
        Self::default()
    }

    /// AMD's pinned root (and signing keys) of one product only.
    pub fn amd_product(product: Product) -> Self {
        let all = amd();
        let name = product.amd_name();
        TrustStore {
            anchors: all
                .anchors
                .iter()
                .filter(|a| a.product == Some(product))
                .cloned()
                .collect(),
            intermediates: all
                .intermediates
                .iter()
                .filter(|c| {
                    c.subject_cn().is_some_and(|cn| {
                        cn == format!("SEV-{name}") || cn == format!("SEV-VLEK-{name}")
                    })
                })
                .cloned()
                .collect(),
        }
    }

    /// Trusts `root` in addition (an operator's explicit choice, e.g. the
    /// development root of `mamori sim snp`). A root identical to a pinned
    /// one keeps its pinned status.
    pub fn with_anchor(mut self, root: Certificate) -> Self {
        if !self
            .anchors
            .iter()
            .any(|a| a.certificate.der() == root.der())
        {
            let product = root
                .subject_cn()
                .and_then(|cn| cn.strip_prefix("ARK-"))
                .and_then(Product::from_product_name);
            self.anchors.push(Anchor {
                certificate: root,
                product,
                pinned: false,
            });
        }
        self
    }

    pub fn anchors(&self) -> &[Anchor] {
        &self.anchors
    }

    pub fn anchor_certificates(&self) -> Vec<Certificate> {
        self.anchors.iter().map(|a| a.certificate.clone()).collect()
    }

    pub fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }

    /// The anchor entry for a certificate, if it is one.
    pub fn anchor_for(&self, cert: &Certificate) -> Option<&Anchor> {
        self.anchors
            .iter()
            .find(|a| a.certificate.der() == cert.der())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pinned_root_and_signing_key_parses() {
        let t = TrustStore::amd();
        assert_eq!(t.anchors().len(), 3);
        assert_eq!(t.intermediates().len(), 6);
        for a in t.anchors() {
            let c = &a.certificate;
            assert!(c.is_self_issued());
            c.verify_signed_by(c).expect("ARK self-signature");
            let p = a.product.expect("product");
            assert_eq!(
                c.subject_cn(),
                Some(format!("ARK-{}", p.amd_name()).as_str())
            );
        }
        for i in t.intermediates() {
            let ok = t
                .anchors()
                .iter()
                .any(|a| i.verify_signed_by(&a.certificate).is_ok());
            assert!(ok, "{} not signed by a pinned ARK", i.subject());
        }
    }

    #[test]
    fn product_store_holds_one_root() {
        let t = TrustStore::amd_product(Product::Genoa);
        assert_eq!(t.anchors().len(), 1);
        assert_eq!(t.intermediates().len(), 2);
    }
}

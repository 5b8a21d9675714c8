//! Names of AMD Key Distribution Service (KDS) resources: which VCEK signed a
//! report, and the paths under which KDS serves it, the product's signing
//! chain and its CRL (AMD publication 57230, "VCEK Certificate and KDS
//! Interface Specification", chapter 4).
//!
//! Pure: this module names what to fetch; fetching, caching and retrying
//! live above it. What is fetched is verified like any other certificate:
//! a VCEK from KDS is as untrusted as one sent by the guest.

use crate::endorsement::EndorsementInfo;
use crate::report::Report;
use crate::types::{Product, SigningKey, TcbVersion};
use std::fmt;

/// Why a report's VCEK cannot be named for KDS.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KdsError {
    /// VLEKs are issued to cloud providers and not published by KDS: the
    /// VLEK must come with the evidence.
    #[error("the report is signed with a {0}, which AMD's KDS does not publish; it must come with the evidence")]
    NotVcek(&'static str),
    /// With MASK_CHIP_ID set the report carries no chip id to look up.
    #[error("the report's CHIP_ID is masked (zero), so its VCEK cannot be looked up; it must come with the evidence")]
    ChipIdMasked,
    /// A v3+ report whose CPUID names no product KDS serves.
    #[error("CPUID family {family:#04x} model {model:#04x} names no product AMD's KDS serves")]
    UnknownProduct { family: u8, model: u8 },
}

/// One VCEK as KDS names it: product, hardware id and the TCB it was
/// derived for (a chip has one VCEK per TCB).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VcekId {
    pub product: Product,
    /// The chip id: 64 bytes, or its first 8 on Turin and later.
    pub hwid: Vec<u8>,
    pub tcb: TcbVersion,
}

impl VcekId {
    /// The VCEKs that may have signed `report`: its REPORTED_TCB (the TCB
    /// the signing key is derived from) on its chip. A v3+ report names its
    /// product through CPUID; a v2 report does not, so Milan and Genoa (the
    /// products that produce v2 reports) are both candidates, in that order.
    ///
    /// # Errors
    /// The report is signed with a VLEK or no key, its chip id is masked,
    /// or its CPUID names no known product.
    pub fn candidates(report: &Report<'_>) -> Result<Vec<VcekId>, KdsError> {
        match report.signing_key() {
            SigningKey::Vcek => {}
            SigningKey::Vlek => return Err(KdsError::NotVcek("VLEK")),
            SigningKey::None => return Err(KdsError::NotVcek("no key")),
        }
        if report.mask_chip_key() || report.chip_id().iter().all(|b| *b == 0) {
            return Err(KdsError::ChipIdMasked);
        }
        let products: Vec<Product> = match report.cpuid() {
            Some((family, model, _)) => vec![Product::from_cpuid(family, model)
                .ok_or(KdsError::UnknownProduct { family, model })?],
            None => vec![Product::Milan, Product::Genoa],
        };
        Ok(products
            .into_iter()
            .map(|product| VcekId {
                product,
                hwid: hwid_for(product, report.chip_id()).to_vec(),
                tcb: report.reported_tcb(),
            })
            .collect())
    }

    /// The VCEK a certificate is for, from its AMD extensions; `None` for
    /// a VLEK (no hardware id).
    pub fn of_certificate(info: &EndorsementInfo) -> Option<VcekId> {
        let hwid = info.hwid.as_ref()?;
        let mut raw = [0u8; 8];
        if info.product.has_fmc() {
            raw[0] = info.fmc_spl.unwrap_or(0);
            raw[1] = info.bl_spl;
            raw[2] = info.tee_spl;
            raw[3] = info.snp_spl;
        } else {
            raw[0] = info.bl_spl;
            raw[1] = info.tee_spl;
            raw[6] = info.snp_spl;
        }
        raw[7] = info.ucode_spl;
        Some(VcekId {
            product: info.product,
            hwid: hwid.clone(),
            tcb: TcbVersion(u64::from_le_bytes(raw)),
        })
    }

    /// Whether this names the same VCEK as `other`, comparing only the TCB
    /// components the product defines (reserved bytes are not in the URL).
    pub fn same_key(&self, other: &VcekId) -> bool {
        let spls = |id: &VcekId| {
            let c = id.tcb.components(id.product);
            (c.fmc, c.bootloader, c.tee, c.snp, c.microcode)
        };
        self.product == other.product && self.hwid == other.hwid && spls(self) == spls(other)
    }

    /// The KDS path (relative to the service's base URL) serving this VCEK
    /// as DER: `vcek/v1/{product}/{hwid}?…SPL=…`, the security patch levels
    /// as two-digit decimals, FMC first on products that have one.
    pub fn path(&self) -> String {
        let c = self.tcb.components(self.product);
        let fmc = c.fmc.map(|f| format!("fmcSPL={f:02}&")).unwrap_or_default();
        format!(
            "vcek/v1/{}/{}?{fmc}blSPL={:02}&teeSPL={:02}&snpSPL={:02}&ucodeSPL={:02}",
            self.product.amd_name(),
            hex::encode(&self.hwid),
            c.bootloader,
            c.tee,
            c.snp,
            c.microcode
        )
    }
}

impl fmt::Display for VcekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// The chip id as KDS indexes it: all 64 bytes, or the first 8 on products
/// with an 8-byte hwID (Turin and later).
fn hwid_for(product: Product, chip_id: &[u8]) -> &[u8] {
    if product.has_fmc() {
        chip_id.get(..8).unwrap_or(chip_id)
    } else {
        chip_id
    }
}

/// The KDS path of a product's VCEK signing chain: ASK then ARK, PEM.
pub fn cert_chain_path(product: Product) -> String {
    format!("vcek/v1/{}/cert_chain", product.amd_name())
}

/// The KDS path of the CRL (DER) the product's ARK signs, revoking ASKs.
pub fn crl_path(product: Product) -> String {
    format!("vcek/v1/{}/crl", product.amd_name())
}

/// The KDS path of the product's CRL for the VLEK hierarchy (ASVKs).
pub fn vlek_crl_path(product: Product) -> String {
    format!("vlek/v1/{}/crl", product.amd_name())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_follow_the_kds_interface() {
        let id = VcekId {
            product: Product::Milan,
            hwid: vec![0xab; 64],
            // BL 3, TEE 0, SNP 8, UCODE 115 (Milan layout).
            tcb: TcbVersion(u64::from_le_bytes([3, 0, 0, 0, 0, 0, 8, 115])),
        };
        assert_eq!(
            id.path(),
            format!(
                "vcek/v1/Milan/{}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115",
                "ab".repeat(64)
            )
        );
        let turin = VcekId {
            product: Product::Turin,
            hwid: vec![0x1e; 8],
            // FMC 1, BL 2, TEE 3, SNP 4, UCODE 9 (Turin layout).
            tcb: TcbVersion(u64::from_le_bytes([1, 2, 3, 4, 0, 0, 0, 9])),
        };
        assert_eq!(
            turin.path(),
            "vcek/v1/Turin/1e1e1e1e1e1e1e1e?fmcSPL=01&blSPL=02&teeSPL=03&snpSPL=04&ucodeSPL=09"
        );
        assert_eq!(cert_chain_path(Product::Genoa), "vcek/v1/Genoa/cert_chain");
        assert_eq!(crl_path(Product::Turin), "vcek/v1/Turin/crl");
        assert_eq!(vlek_crl_path(Product::Milan), "vlek/v1/Milan/crl");
    }

    #[test]
    fn reserved_tcb_bytes_do_not_change_the_key() {
        let a = VcekId {
            product: Product::Genoa,
            hwid: vec![1; 64],
            tcb: TcbVersion(u64::from_le_bytes([10, 0, 0, 0, 0, 0, 23, 84])),
        };
        let mut b = a.clone();
        b.tcb = TcbVersion(a.tcb.0 | 0x0000_0000_ff00_0000);
        assert!(a.same_key(&b));
        assert_eq!(a.path(), b.path());
        b.tcb = TcbVersion(a.tcb.0 + 1);
        assert!(!a.same_key(&b));
    }
}

//! The claims of a report, typed, with the stable JSON names that policies
//! and `mamori verify --json` use. Binary values are lower-case hex.

use crate::report::Report;
use crate::types::{GuestPolicy, PlatformInfo, Product, SigningKey, TcbComponents};
use serde::Serialize;

/// CPUID family/model/stepping of the chip (report v3+).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Cpuid {
    pub family: u8,
    pub model: u8,
    pub stepping: u8,
}

/// Everything a report states, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnpClaims {
    pub version: u32,
    pub guest_svn: u32,
    pub policy: GuestPolicy,
    pub family_id: String,
    pub image_id: String,
    pub vmpl: u32,
    pub signature_algo: u32,
    pub platform_info: PlatformInfo,
    pub author_key_en: bool,
    pub mask_chip_key: bool,
    /// `vcek`, `vlek` or `none`, as the report's KEY_INFO says.
    pub signing_key: SigningKey,
    pub report_data: String,
    pub measurement: String,
    pub host_data: String,
    pub id_key_digest: String,
    pub author_key_digest: String,
    pub report_id: String,
    pub report_id_ma: String,
    /// `milan`, `genoa` or `turin`; absent when not determinable (a v2
    /// report inspected without its VCEK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuid: Option<Cpuid>,
    pub chip_id: String,
    pub current_tcb: TcbComponents,
    pub reported_tcb: TcbComponents,
    pub committed_tcb: TcbComponents,
    pub launch_tcb: TcbComponents,
    /// Firmware version "major.minor.build".
    pub current_version: String,
    pub committed_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_mit_vector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_mit_vector: Option<String>,
}

impl SnpClaims {
    /// `product` and `signer` come from verification when known; otherwise
    /// from the report alone (CPUID for v3+, KEY_INFO for the signer).
    pub fn new(r: &Report<'_>, product: Option<Product>, signer: Option<SigningKey>) -> Self {
        let product = product.or_else(|| r.cpuid_product());
        // v2 reports exist only on Milan and Genoa, whose TCB layout is the
        // same; that layout is the right default when the product is unknown.
        let layout = product.unwrap_or(Product::Milan);
        let h = hex::encode;
        SnpClaims {
            version: r.version(),
            guest_svn: r.guest_svn(),
            policy: r.policy(),
            family_id: h(r.family_id()),
            image_id: h(r.image_id()),
            vmpl: r.vmpl(),
            signature_algo: r.signature_algo(),
            platform_info: r.platform_info(),
            author_key_en: r.author_key_en(),
            mask_chip_key: r.mask_chip_key(),
            signing_key: signer.unwrap_or(r.signing_key()),
            report_data: h(r.report_data()),
            measurement: h(r.measurement()),
            host_data: h(r.host_data()),
            id_key_digest: h(r.id_key_digest()),
            author_key_digest: h(r.author_key_digest()),
            report_id: h(r.report_id()),
            report_id_ma: h(r.report_id_ma()),
            product,
            cpuid: r.cpuid().map(|(family, model, stepping)| Cpuid {
                family,
                model,
                stepping,
            }),
            chip_id: h(r.chip_id()),
            current_tcb: r.current_tcb().components(layout),
            reported_tcb: r.reported_tcb().components(layout),
            committed_tcb: r.committed_tcb().components(layout),
            launch_tcb: r.launch_tcb().components(layout),
            current_version: r.current_version().to_string(),
            committed_version: r.committed_version().to_string(),
            launch_mit_vector: r.launch_mit_vector().map(|v| format!("{v:#x}")),
            current_mit_vector: r.current_mit_vector().map(|v| format!("{v:#x}")),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

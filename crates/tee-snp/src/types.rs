//! Decoded values of the SEV-SNP firmware ABI (report fields and bitfields).

use serde::Serialize;
use std::fmt;

/// The AMD EPYC product line whose keys sign the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    Milan,
    Genoa,
    Turin,
}

impl Product {
    pub const ALL: [Product; 3] = [Product::Milan, Product::Genoa, Product::Turin];

    pub fn as_str(self) -> &'static str {
        match self {
            Product::Milan => "milan",
            Product::Genoa => "genoa",
            Product::Turin => "turin",
        }
    }

    /// The name AMD uses in certificate subjects and KDS paths.
    pub fn amd_name(self) -> &'static str {
        match self {
            Product::Milan => "Milan",
            Product::Genoa => "Genoa",
            Product::Turin => "Turin",
        }
    }

    /// From CPUID family/model (report v3+). Models per AMD's product
    /// families: Milan 19h/00h–0Fh, Genoa (incl. Bergamo, Siena) 19h/10h–1Fh
    /// and A0h–AFh, Turin 1Ah/00h–1Fh.
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0f) => Some(Product::Milan),
            (0x19, 0x10..=0x1f) | (0x19, 0xa0..=0xaf) => Some(Product::Genoa),
            (0x1a, 0x00..=0x1f) => Some(Product::Turin),
            _ => None,
        }
    }

    /// From a VCEK/VLEK productName extension ("Milan-B0", "Genoa", …).
    pub fn from_product_name(name: &str) -> Option<Self> {
        let base = name.split('-').next().unwrap_or(name);
        Self::ALL.into_iter().find(|p| p.amd_name() == base)
    }

    /// Turin and later carry an FMC SPL and an 8-byte hwID.
    pub fn has_fmc(self) -> bool {
        matches!(self, Product::Turin)
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TCB_VERSION as its raw 64-bit value. Its byte layout depends on the
/// product, so the components are decoded with [`TcbVersion::components`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcbVersion(pub u64);

/// The security patch levels of one TCB_VERSION.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcbComponents {
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
    /// The raw value, hex, for policies that compare whole TCBs.
    pub raw: String,
}

impl TcbVersion {
    /// Milan/Genoa: BL, TEE, 4 reserved, SNP, UCODE.
    /// Turin: FMC, BL, TEE, SNP, 3 reserved, UCODE.
    pub fn components(self, product: Product) -> TcbComponents {
        let b = self.0.to_le_bytes();
        let raw = format!("{:016x}", self.0);
        if product.has_fmc() {
            TcbComponents {
                fmc: Some(b[0]),
                bootloader: b[1],
                tee: b[2],
                snp: b[3],
                microcode: b[7],
                raw,
            }
        } else {
            TcbComponents {
                fmc: None,
                bootloader: b[0],
                tee: b[1],
                snp: b[6],
                microcode: b[7],
                raw,
            }
        }
    }

    /// Bytes that the layout of `product` leaves reserved.
    pub fn reserved_bytes(self, product: Product) -> u64 {
        let mask: u64 = if product.has_fmc() {
            0x00ff_ffff_0000_0000
        } else {
            0x0000_ffff_ffff_0000
        };
        self.0 & mask
    }
}

/// The guest policy (ABI "GUEST_POLICY"), bit by bit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GuestPolicy {
    pub abi_minor: u8,
    pub abi_major: u8,
    pub smt: bool,
    pub migrate_ma: bool,
    pub debug: bool,
    pub single_socket: bool,
    pub cxl_allow: bool,
    pub mem_aes_256_xts: bool,
    pub rapl_dis: bool,
    pub ciphertext_hiding: bool,
    pub page_swap_disable: bool,
    /// The raw value, hex.
    pub raw: String,
}

/// Bit 17 of the policy is reserved and must be one.
pub const POLICY_RESERVED_ONE: u64 = 1 << 17;
/// Bits 26–63 are reserved, must be zero.
pub const POLICY_MBZ: u64 = !((1u64 << 26) - 1);

impl GuestPolicy {
    pub fn from_raw(v: u64) -> Self {
        let bit = |n: u32| v & (1u64 << n) != 0;
        let b = v.to_le_bytes();
        GuestPolicy {
            abi_minor: b[0],
            abi_major: b[1],
            smt: bit(16),
            migrate_ma: bit(18),
            debug: bit(19),
            single_socket: bit(20),
            cxl_allow: bit(21),
            mem_aes_256_xts: bit(22),
            rapl_dis: bit(23),
            ciphertext_hiding: bit(24),
            page_swap_disable: bit(25),
            raw: format!("{v:#x}"),
        }
    }
}

/// PLATFORM_INFO: facts about the host platform. New firmware defines new
/// bits here without a report version change, so unknown bits are reported
/// (in `raw`) rather than refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlatformInfo {
    pub smt_enabled: bool,
    pub tsme_enabled: bool,
    pub ecc_enabled: bool,
    pub rapl_disabled: bool,
    pub ciphertext_hiding_enabled: bool,
    pub alias_check_complete: bool,
    pub tio_enabled: bool,
    pub raw: String,
}

impl PlatformInfo {
    pub fn from_raw(v: u64) -> Self {
        let bit = |n: u32| v & (1u64 << n) != 0;
        PlatformInfo {
            smt_enabled: bit(0),
            tsme_enabled: bit(1),
            ecc_enabled: bit(2),
            rapl_disabled: bit(3),
            ciphertext_hiding_enabled: bit(4),
            alias_check_complete: bit(5),
            tio_enabled: bit(7),
            raw: format!("{v:#x}"),
        }
    }
}

/// Which key signed the report (bits 2–4 of the key-info word).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningKey {
    /// Versioned Chip Endorsement Key: per chip and TCB.
    Vcek,
    /// Versioned Loaded Endorsement Key: per cloud provider, loaded by AMD.
    Vlek,
    /// The report is not signed.
    None,
}

impl SigningKey {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningKey::Vcek => "vcek",
            SigningKey::Vlek => "vlek",
            SigningKey::None => "none",
        }
    }
}

/// A firmware version (major.minor.build).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmwareVersion {
    pub major: u8,
    pub minor: u8,
    pub build: u8,
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

//! vCPU identity: the CPUID signature QEMU puts in RDX at reset, and the
//! named QEMU CPU models it comes from.

use std::fmt;
use std::str::FromStr;

/// The 32-bit CPUID Fn0000_0001_EAX value (family/model/stepping), which
/// QEMU loads into RDX of every vCPU at reset and so is measured in the
/// VMSA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VcpuSignature(pub u32);

impl VcpuSignature {
    /// Encodes family, model and stepping as AMD's CPUID specification
    /// (#25481, Fn0000_0001_EAX) does: families above 0xF are split into a
    /// base family of 0xF plus an extended family, models into low and
    /// extended nibbles.
    pub const fn from_family_model_stepping(family: u32, model: u32, stepping: u32) -> Self {
        let (family_low, family_high) = if family > 0xf {
            (0xf, (family - 0xf) & 0xff)
        } else {
            (family, 0)
        };
        let model_low = model & 0xf;
        let model_high = (model >> 4) & 0xf;
        let stepping_low = stepping & 0xf;
        VcpuSignature(
            (family_high << 20)
                | (model_high << 16)
                | (family_low << 8)
                | (model_low << 4)
                | stepping_low,
        )
    }
}

impl fmt::Display for VcpuSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

macro_rules! vcpu_types {
    ($( $variant:ident = $name:literal : ($fam:literal, $model:literal, $step:literal) ),* $(,)?) => {
        /// The AMD EPYC CPU models of QEMU's built-in x86 definitions that
        /// an SEV guest can be given (the reference tool's `--vcpu-type`
        /// names, case-sensitive).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum VcpuType {
            $(
                #[doc = concat!("QEMU CPU model `", $name, "`.")]
                $variant,
            )*
        }

        impl VcpuType {
            /// Every known type, in the reference tool's order.
            pub const ALL: &'static [VcpuType] = &[$(VcpuType::$variant),*];

            /// QEMU's name for the model.
            pub const fn name(self) -> &'static str {
                match self { $(VcpuType::$variant => $name),* }
            }

            /// The CPUID signature the model reports.
            pub const fn signature(self) -> VcpuSignature {
                match self {
                    $(VcpuType::$variant =>
                        VcpuSignature::from_family_model_stepping($fam, $model, $step)),*
                }
            }
        }
    };
}

vcpu_types! {
    Epyc = "EPYC": (23, 1, 2),
    EpycV1 = "EPYC-v1": (23, 1, 2),
    EpycV2 = "EPYC-v2": (23, 1, 2),
    EpycIbpb = "EPYC-IBPB": (23, 1, 2),
    EpycV3 = "EPYC-v3": (23, 1, 2),
    EpycV4 = "EPYC-v4": (23, 1, 2),
    EpycRome = "EPYC-Rome": (23, 49, 0),
    EpycRomeV1 = "EPYC-Rome-v1": (23, 49, 0),
    EpycRomeV2 = "EPYC-Rome-v2": (23, 49, 0),
    EpycRomeV3 = "EPYC-Rome-v3": (23, 49, 0),
    EpycMilan = "EPYC-Milan": (25, 1, 1),
    EpycMilanV1 = "EPYC-Milan-v1": (25, 1, 1),
    EpycMilanV2 = "EPYC-Milan-v2": (25, 1, 1),
    EpycGenoa = "EPYC-Genoa": (25, 17, 0),
    EpycGenoaV1 = "EPYC-Genoa-v1": (25, 17, 0),
    EpycTurin = "EPYC-Turin": (26, 0, 0),
}

impl fmt::Display for VcpuType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown `--vcpu-type` name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown vCPU type '{0}' (known: {known})", known = known_names())]
pub struct UnknownVcpuType(pub String);

fn known_names() -> String {
    VcpuType::ALL
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for VcpuType {
    type Err = UnknownVcpuType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VcpuType::ALL
            .iter()
            .copied()
            .find(|t| t.name() == s)
            .ok_or_else(|| UnknownVcpuType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_signatures() {
        // Values a Milan/Genoa/Rome host reports in CPUID 1 EAX.
        assert_eq!(VcpuType::EpycMilan.signature(), VcpuSignature(0x00a0_0f11));
        assert_eq!(VcpuType::EpycGenoa.signature(), VcpuSignature(0x00a1_0f10));
        assert_eq!(VcpuType::EpycRome.signature(), VcpuSignature(0x0083_0f10));
        assert_eq!(VcpuType::EpycV4.signature(), VcpuSignature(0x0080_0f12));
        assert_eq!(VcpuType::EpycTurin.signature(), VcpuSignature(0x00b0_0f00));
        assert_eq!(
            VcpuSignature::from_family_model_stepping(6, 0x55, 7),
            VcpuSignature(0x0005_0657)
        );
    }

    #[test]
    fn names_parse_case_sensitively() {
        for t in VcpuType::ALL {
            assert_eq!(t.name().parse::<VcpuType>(), Ok(*t));
        }
        assert_eq!(VcpuType::ALL.len(), 16);
        let err = "epyc-milan".parse::<VcpuType>().expect_err("case matters");
        assert!(err.to_string().contains("EPYC-Milan"));
    }
}

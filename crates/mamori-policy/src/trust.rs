//! AR4SI trustworthiness claims, tiers and vectors (draft-ietf-rats-ar4si),
//! as carried by EAR (draft-ietf-rats-ear).
//!
//! Each claim is a signed 8-bit integer; its tier is given by value range:
//!
//! | tier            | values                      |
//! |-----------------|-----------------------------|
//! | none            | -1 ..= 1                    |
//! | affirming       | 2 ..= 31 and -32 ..= -2     |
//! | warning         | 32 ..= 95 and -96 ..= -33   |
//! | contraindicated | 96 ..= 127 and -128 ..= -97 |
//!
//! The appraisal status is the worst tier across the vector, with
//! none < affirming < warning < contraindicated.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The four trustworthiness tiers, ordered from least to most severe, so
/// `max` over a vector is its status.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TrustTier {
    #[default]
    None,
    Affirming,
    Warning,
    Contraindicated,
}

impl TrustTier {
    /// The tier of a claim value, by the AR4SI value ranges.
    pub const fn of(value: i8) -> TrustTier {
        match value {
            -1..=1 => TrustTier::None,
            2..=31 | -32..=-2 => TrustTier::Affirming,
            32..=95 | -96..=-33 => TrustTier::Warning,
            _ => TrustTier::Contraindicated,
        }
    }

    /// The EAR `ear.status` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrustTier::None => "none",
            TrustTier::Affirming => "affirming",
            TrustTier::Warning => "warning",
            TrustTier::Contraindicated => "contraindicated",
        }
    }
}

impl fmt::Display for TrustTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The eight AR4SI trustworthiness claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrustClaim {
    InstanceIdentity,
    Configuration,
    Executables,
    FileSystem,
    Hardware,
    RuntimeOpaque,
    StorageOpaque,
    SourcedData,
}

impl TrustClaim {
    /// All claims, in the order AR4SI lists them.
    pub const ALL: [TrustClaim; 8] = [
        TrustClaim::InstanceIdentity,
        TrustClaim::Configuration,
        TrustClaim::Executables,
        TrustClaim::FileSystem,
        TrustClaim::Hardware,
        TrustClaim::RuntimeOpaque,
        TrustClaim::StorageOpaque,
        TrustClaim::SourcedData,
    ];

    /// The JSON name used in EAR and in policy output.
    pub const fn name(self) -> &'static str {
        match self {
            TrustClaim::InstanceIdentity => "instance-identity",
            TrustClaim::Configuration => "configuration",
            TrustClaim::Executables => "executables",
            TrustClaim::FileSystem => "file-system",
            TrustClaim::Hardware => "hardware",
            TrustClaim::RuntimeOpaque => "runtime-opaque",
            TrustClaim::StorageOpaque => "storage-opaque",
            TrustClaim::SourcedData => "sourced-data",
        }
    }

    /// The claim with this JSON name.
    pub fn from_name(name: &str) -> Option<TrustClaim> {
        TrustClaim::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// An AR4SI trustworthiness vector. `None` = the claim was not evaluated
/// (it is then absent from the EAR vector).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TrustVector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_identity: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executables: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_system: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_opaque: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_opaque: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sourced_data: Option<i8>,
}

impl TrustVector {
    /// The value of one claim.
    pub const fn get(&self, claim: TrustClaim) -> Option<i8> {
        match claim {
            TrustClaim::InstanceIdentity => self.instance_identity,
            TrustClaim::Configuration => self.configuration,
            TrustClaim::Executables => self.executables,
            TrustClaim::FileSystem => self.file_system,
            TrustClaim::Hardware => self.hardware,
            TrustClaim::RuntimeOpaque => self.runtime_opaque,
            TrustClaim::StorageOpaque => self.storage_opaque,
            TrustClaim::SourcedData => self.sourced_data,
        }
    }

    /// Set (or clear) one claim.
    pub fn set(&mut self, claim: TrustClaim, value: Option<i8>) {
        let slot = match claim {
            TrustClaim::InstanceIdentity => &mut self.instance_identity,
            TrustClaim::Configuration => &mut self.configuration,
            TrustClaim::Executables => &mut self.executables,
            TrustClaim::FileSystem => &mut self.file_system,
            TrustClaim::Hardware => &mut self.hardware,
            TrustClaim::RuntimeOpaque => &mut self.runtime_opaque,
            TrustClaim::StorageOpaque => &mut self.storage_opaque,
            TrustClaim::SourcedData => &mut self.sourced_data,
        };
        *slot = value;
    }

    /// The claims that are present, in AR4SI order.
    pub fn iter(&self) -> impl Iterator<Item = (TrustClaim, i8)> + '_ {
        TrustClaim::ALL
            .into_iter()
            .filter_map(|c| self.get(c).map(|v| (c, v)))
    }

    /// The worst tier across the present claims; `None` when no claim is present.
    pub fn status(&self) -> TrustTier {
        self.iter()
            .map(|(_, v)| TrustTier::of(v))
            .max()
            .unwrap_or(TrustTier::None)
    }
}

//! EAR (EAT Attestation Result, draft-ietf-rats-ear) claims in the JSON
//! serialisation of the Veraison EAR profile `tag:github.com,2023:veraison/ear`,
//! which is the profile the Confidential Containers key broker and Veraison
//! emit and read. Claim names are dotted (`ear.status`, …) as in that profile.
//!
//! Mamori extensions (documented here, also in DESIGN/API docs):
//! - `ear.mamori.tee-pubkey` (per submodule): the TEE public key, as a public
//!   JWK, that the evidence bound into its report data. It is not put in
//!   Veraison's `ear.veraison.key-attestation.akpub`, because `akpub` is defined
//!   as binary data (a DER SubjectPublicKeyInfo), not a JWK; a reader expecting
//!   that format must not be handed a JWK under the same name.
//! - `jti` (top level, RFC 7519): unique token id, for audit and replay logs.
//!
//! Trustworthiness tiers follow draft-ietf-rats-ar4si ("Enumeration Encoding"):
//! each claim is a signed 8-bit integer and its tier is decided by range:
//!
//! | tier            | standard values | non-standard values |
//! |-----------------|-----------------|---------------------|
//! | none            | 0, 1, -1        |                     |
//! | affirming       | 2 ..= 31        | -32 ..= -2          |
//! | warning         | 32 ..= 95       | -96 ..= -33         |
//! | contraindicated | 96 ..= 127      | -128 ..= -97        |

use crate::jwk::Jwk;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The EAR profile Mamori issues (`eat_profile`).
pub const EAR_PROFILE: &str = "tag:github.com,2023:veraison/ear";

/// Standard AR4SI claim values that Mamori policies use most (draft-ietf-rats-ar4si).
pub mod ar4si {
    /// No assertion: the evidence is insufficient to conclude; equivalent to absent.
    pub const NO_CLAIM: i8 = 0;
    /// The evidence contains unexpected elements the verifier cannot parse.
    pub const UNEXPECTED_EVIDENCE: i8 = 1;
    /// A verifier malfunction occurred during appraisal.
    pub const VERIFIER_MALFUNCTION: i8 = -1;
    /// Lowest standard affirming value ("approved"/"genuine").
    pub const AFFIRMING: i8 = 2;
    /// Lowest standard warning value.
    pub const WARNING: i8 = 32;
    /// Lowest standard contraindicated value.
    pub const CONTRAINDICATED: i8 = 96;
    /// Cryptographic validation of the evidence failed.
    pub const CRYPTO_VALIDATION_FAILED: i8 = 99;
}

/// AR4SI trustworthiness tier; also the EAR `ear.status` value.
///
/// The derived order is severity: `None < Affirming < Warning <
/// Contraindicated`. "Worst" is the maximum. `None` ranks below `Affirming`
/// because AR4SI says no assertion must be treated like an absent claim: an
/// appraisal with affirming and "no claim" entries is affirming overall.
/// Whether an all-`None` result is acceptable is a policy decision (the default
/// Mamori resource policy requires `Affirming`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
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
    /// The tier of one AR4SI claim value, by the draft's value ranges.
    #[must_use]
    pub const fn from_claim(value: i8) -> Self {
        match value {
            -1..=1 => TrustTier::None,
            2..=31 | -32..=-2 => TrustTier::Affirming,
            32..=95 | -96..=-33 => TrustTier::Warning,
            96..=127 | -128..=-97 => TrustTier::Contraindicated,
        }
    }

    /// The lowest standard claim value of this tier (0, 2, 32, 96).
    #[must_use]
    pub const fn claim_value(self) -> i8 {
        match self {
            TrustTier::None => ar4si::NO_CLAIM,
            TrustTier::Affirming => ar4si::AFFIRMING,
            TrustTier::Warning => ar4si::WARNING,
            TrustTier::Contraindicated => ar4si::CONTRAINDICATED,
        }
    }

    /// The EAR JSON name (`none`, `affirming`, `warning`, `contraindicated`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TrustTier::None => "none",
            TrustTier::Affirming => "affirming",
            TrustTier::Warning => "warning",
            TrustTier::Contraindicated => "contraindicated",
        }
    }
}

impl std::fmt::Display for TrustTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One AR4SI trustworthiness claim name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// All eight claims in AR4SI order.
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

    /// The JSON member name in `ear.trustworthiness-vector`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
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

    /// Parses a JSON member name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        TrustClaim::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// An AR4SI trustworthiness vector. `None` = not evaluated (omitted in JSON).
/// Values outside `i8` are rejected when deserialising.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustVector {
    #[serde(
        rename = "instance-identity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_identity: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executables: Option<i8>,
    #[serde(
        rename = "file-system",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub file_system: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<i8>,
    #[serde(
        rename = "runtime-opaque",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_opaque: Option<i8>,
    #[serde(
        rename = "storage-opaque",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub storage_opaque: Option<i8>,
    #[serde(
        rename = "sourced-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sourced_data: Option<i8>,
}

impl TrustVector {
    /// The value of one claim.
    #[must_use]
    pub fn get(&self, claim: TrustClaim) -> Option<i8> {
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

    /// Sets (or with `None`, clears) one claim.
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

    /// The worst tier across the present claims; `None` for an empty vector.
    #[must_use]
    pub fn tier(&self) -> TrustTier {
        self.iter()
            .map(|(_, v)| TrustTier::from_claim(v))
            .max()
            .unwrap_or(TrustTier::None)
    }

    /// True when no claim is present (a valid "appraised, no claims" vector).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// `ear.verifier-id`: who produced the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierId {
    /// The verifier's developer, e.g. `https://mamori.dev`.
    pub developer: String,
    /// The verifier build, e.g. `mamori 0.1.0`.
    pub build: String,
}

/// The member of a submodule that carries the annotated evidence (the
/// serialized name of [`Submod::annotated_evidence`]).
pub const ANNOTATED_EVIDENCE: &str = "ear.veraison.annotated-evidence";

/// A JSON value kept as its text: the annotated evidence goes into a token
/// as the verifier serialized it once, and a token's claims hold it as one
/// string rather than a tree of values. For SEV-SNP that tree was about a
/// hundred allocations built only to be serialized into the token, and
/// dropped cold when the node's cache of minted claims let the entry go
/// (measured: about 4 % of an SNP flow's server CPU). Parsed again, through
/// serde_json, only where something reads inside it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<serde_json::value::RawValue>);

impl RawJson {
    /// `value` serialized as JSON text.
    ///
    /// # Errors
    /// What `serde_json` refuses to serialize (a map with non-string keys).
    pub fn new<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(RawJson)
    }

    /// The JSON text.
    #[must_use]
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The value, parsed.
    ///
    /// # Errors
    /// Never for text this type holds (it is valid JSON); the signature
    /// keeps callers free of panics all the same.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.get())
    }
}

/// Equal when the values are: the same members in another order, or with
/// other spacing, are the same evidence.
impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
            || matches!((self.to_value(), other.to_value()), (Ok(a), Ok(b)) if a == b)
    }
}

/// One appraisal (an entry of `submods`, e.g. `cpu0`, `gpu0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submod {
    /// `ear.status`: the overall tier of this appraisal.
    #[serde(rename = "ear.status")]
    pub status: TrustTier,
    /// `ear.trustworthiness-vector`.
    #[serde(
        rename = "ear.trustworthiness-vector",
        default,
        skip_serializing_if = "TrustVector::is_empty"
    )]
    pub trust_vector: TrustVector,
    /// `ear.appraisal-policy-id`: the policy (and version) that appraised.
    #[serde(
        rename = "ear.appraisal-policy-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub policy_id: Option<String>,
    /// `ear.veraison.annotated-evidence` ([`ANNOTATED_EVIDENCE`]): the TEE
    /// claims the policy saw.
    #[serde(
        rename = "ear.veraison.annotated-evidence",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub annotated_evidence: Option<RawJson>,
    /// `ear.veraison.policy-claims`: extra claims the policy produced.
    #[serde(
        rename = "ear.veraison.policy-claims",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub policy_claims: Option<serde_json::Value>,
    /// `ear.mamori.tee-pubkey` (Mamori extension): the TEE public key bound in
    /// this evidence's report data; secrets are released encrypted to it.
    #[serde(
        rename = "ear.mamori.tee-pubkey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tee_pubkey: Option<Jwk>,
}

impl Submod {
    /// A submodule whose status is the worst tier of `trust_vector`.
    #[must_use]
    pub fn from_vector(trust_vector: TrustVector) -> Self {
        Submod {
            status: trust_vector.tier(),
            trust_vector,
            policy_id: None,
            annotated_evidence: None,
            policy_claims: None,
            tee_pubkey: None,
        }
    }

    /// True when `status` is not better than the vector says (a policy may
    /// make the status worse than the vector, never better).
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        self.status >= self.trust_vector.tier()
    }
}

/// The claims set of an EAR JWT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarClaims {
    /// `eat_profile`; [`EAR_PROFILE`] for tokens Mamori issues.
    #[serde(rename = "eat_profile")]
    pub profile: String,
    /// Issued at (seconds since the Unix epoch).
    pub iat: i64,
    /// Expiry (seconds since the Unix epoch); required.
    pub exp: i64,
    /// Not before; optional. Mamori does not set it (tokens are valid from `iat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issuer; optional (EAR identifies the verifier by `ear.verifier-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Unique token id (RFC 7519 `jti`).
    pub jti: String,
    /// `ear.verifier-id`.
    #[serde(rename = "ear.verifier-id")]
    pub verifier_id: VerifierId,
    /// `eat_nonce`: the challenge nonce, when the flow had one.
    #[serde(rename = "eat_nonce", default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// One appraisal per attested component (`cpu0`, `gpu0`, …).
    pub submods: BTreeMap<String, Submod>,
}

impl EarClaims {
    /// The worst status over all submodules (`None` when there are none).
    #[must_use]
    pub fn overall_status(&self) -> TrustTier {
        self.submods
            .values()
            .map(|s| s.status)
            .max()
            .unwrap_or(TrustTier::None)
    }

    /// True when there is at least one submodule and every one is affirming
    /// (the default resource-release rule).
    #[must_use]
    pub fn all_affirming(&self) -> bool {
        !self.submods.is_empty()
            && self
                .submods
                .values()
                .all(|s| s.status == TrustTier::Affirming)
    }

    /// The bound TEE public key: from `cpu0` if it has one, else from the first
    /// submodule (in name order) that has one.
    #[must_use]
    pub fn tee_pubkey(&self) -> Option<&Jwk> {
        self.submods
            .get("cpu0")
            .and_then(|s| s.tee_pubkey.as_ref())
            .or_else(|| self.submods.values().find_map(|s| s.tee_pubkey.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotated_evidence_is_serialized_under_its_constant() {
        let mut s = Submod::from_vector(TrustVector::default());
        s.annotated_evidence = Some(RawJson::new(&serde_json::json!({"k": 1})).expect("raw"));
        let v = serde_json::to_value(&s).expect("serializes");
        assert_eq!(v[ANNOTATED_EVIDENCE], serde_json::json!({"k": 1}));
    }

    #[test]
    fn raw_json_goes_into_the_token_as_it_is_and_compares_by_value() {
        let text = r#"{"b": [1, 2.5], "a": {"x": null}}"#;
        let raw: RawJson = serde_json::from_str(text).expect("parses");
        assert_eq!(raw.get(), text, "kept byte for byte");
        assert_eq!(
            serde_json::to_string(&raw).expect("serializes"),
            text,
            "written as it is"
        );
        let reordered: RawJson =
            serde_json::from_str(r#"{"a":{"x":null},"b":[1,2.5]}"#).expect("parses");
        assert_eq!(raw, reordered);
        let other: RawJson =
            serde_json::from_str(r#"{"a":{"x":null},"b":[1,2.6]}"#).expect("parses");
        assert_ne!(raw, other);
        assert!(serde_json::from_str::<RawJson>(r#"{"a": }"#).is_err());
        assert_eq!(
            raw.to_value().expect("valid"),
            serde_json::json!({"a": {"x": null}, "b": [1, 2.5]})
        );
    }
}

//! Appraisal policies: TEE claims + reference values + key binding → an AR4SI
//! trustworthiness vector and the reasons behind it.

use crate::engine::{output, CompiledSource, Contract};
use crate::error::PolicyError;
use crate::trust::{TrustClaim, TrustTier, TrustVector};
use crate::value::{reasons, to_regorus, Document};
use crate::Limits;
use regorus::Value;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The package an appraisal policy must declare.
pub const APPRAISAL_PACKAGE: &str = "mamori.appraisal";
/// The rule that yields the trustworthiness vector (required).
pub const TRUST_VECTOR_RULE: &str = "trust_vector";
/// The rule that yields human-readable reasons (optional; shared with resource policies).
pub const REASONS_RULE: &str = "reasons";

const CONTRACT: Contract = Contract {
    package: APPRAISAL_PACKAGE,
    required: &[TRUST_VECTOR_RULE],
    optional: &[REASONS_RULE],
};

/// The input of an appraisal policy. Serialized, it is exactly the Rego
/// `input` document:
/// `{"tee", "claims", "reference", "binding", "init_data"?}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AppraisalInput {
    /// TEE kind as named by the KBS protocol: `snp`, `tdx`, `sample`, …
    pub tee: String,
    /// The claims as the verifier emits them (after cryptographic verification).
    pub claims: serde_json::Value,
    /// Reference values: name → allowed values. The caller passes only
    /// values that have not expired.
    #[serde(default)]
    pub reference: BTreeMap<String, Vec<serde_json::Value>>,
    /// What the service checked about the binding of the evidence to this session.
    #[serde(default)]
    pub binding: Binding,
    /// Init-data (KBS `init-data`), when the attester sent any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_data: Option<serde_json::Value>,
}

/// Binding facts established by the service before appraisal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// Report data equals the hash of the session nonce and the TEE public key.
    pub report_data_bound: bool,
    /// The init-data digest matched the evidence (e.g. SNP HOST_DATA), when checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_data_bound: Option<bool>,
    /// Further binding facts, passed through to the policy unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// What an appraisal policy concluded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppraisalOutcome {
    /// The AR4SI trustworthiness vector (absent claims were not evaluated).
    pub vector: TrustVector,
    /// The worst tier of `vector` (`none` for an empty vector).
    pub status: TrustTier,
    /// Why: which claim failed and how, in the policy's words.
    pub reasons: Vec<String>,
}

/// A compiled appraisal policy. Cheap to clone (shared), `Send + Sync`.
#[derive(Clone)]
pub struct AppraisalPolicy {
    inner: Arc<CompiledSource>,
}

impl std::fmt::Debug for AppraisalPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppraisalPolicy")
            .field("digest", &self.inner.digest)
            .finish_non_exhaustive()
    }
}

impl AppraisalPolicy {
    /// Compile with the default [`Limits`]. Refuses a policy that does not
    /// parse, declares another package, or lacks `trust_vector`.
    pub fn compile(source: &str) -> Result<AppraisalPolicy, PolicyError> {
        Self::compile_with_limits(source, Limits::default())
    }

    /// Compile with explicit limits.
    pub fn compile_with_limits(
        source: &str,
        limits: Limits,
    ) -> Result<AppraisalPolicy, PolicyError> {
        Ok(AppraisalPolicy {
            inner: Arc::new(CompiledSource::new(source, &CONTRACT, limits)?),
        })
    }

    /// SHA-256 of the source, lower-case hex: the policy's version id.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// The Rego source this policy was compiled from.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// Evaluate over a typed input.
    pub fn evaluate(&self, input: &AppraisalInput) -> Result<AppraisalOutcome, PolicyError> {
        let reference = reference_value(&input.reference)?;
        let claims = Document::from_json(&input.claims)?;
        self.evaluate_value(input_value(input, claims, reference)?)
    }

    /// Evaluate with reference values prepared beforehand; `input.reference`
    /// is not read. The request path uses this: reference values are the
    /// same for every request until they change or one expires, and
    /// converting hundreds of them per request would cost more than the
    /// evaluation.
    pub fn evaluate_prepared(
        &self,
        input: &AppraisalInput,
        reference: &PreparedReference,
    ) -> Result<AppraisalOutcome, PolicyError> {
        self.evaluate_document(input, Document::from_json(&input.claims)?, reference)
    }

    /// [`AppraisalPolicy::evaluate_prepared`] with the claims already
    /// converted (`input.claims` is not read): the caller keeps `claims`
    /// to build the token's document from ([`crate::ResourcePolicy::evaluate_document`]).
    pub fn evaluate_document(
        &self,
        input: &AppraisalInput,
        claims: Document,
        reference: &PreparedReference,
    ) -> Result<AppraisalOutcome, PolicyError> {
        self.evaluate_value(input_value(input, claims, reference.0.clone())?)
    }

    /// Evaluate over an input given as JSON (the dry-run endpoint's form). Any
    /// JSON is accepted: the policy decides what it needs.
    pub fn evaluate_json(
        &self,
        input: &serde_json::Value,
    ) -> Result<AppraisalOutcome, PolicyError> {
        self.evaluate_value(to_regorus(input)?)
    }

    /// Whether this policy runs on regorus's compiled (VM) form; `false`
    /// means the VM compiler did not take it and it runs on the interpreter.
    pub fn is_compiled(&self) -> bool {
        self.inner.prepared.is_compiled()
    }

    /// Diagnostics: evaluate on regorus's interpreter even when the policy
    /// has a compiled form (to compare the two). Not for the request path.
    #[doc(hidden)]
    pub fn evaluate_json_interpreted(
        &self,
        input: &serde_json::Value,
    ) -> Result<AppraisalOutcome, PolicyError> {
        let out = self.inner.prepared.eval_interpreted(to_regorus(input)?)?;
        self.read_output(&out)
    }

    fn evaluate_value(&self, input: Value) -> Result<AppraisalOutcome, PolicyError> {
        let out = self.inner.prepared.eval(input)?;
        self.read_output(&out)
    }

    fn read_output(&self, out: &Value) -> Result<AppraisalOutcome, PolicyError> {
        let l = &self.inner.limits;
        let field = |name: &str| output(out, name);
        let vector = trust_vector(field(TRUST_VECTOR_RULE))?;
        let reasons = reasons(field(REASONS_RULE), l.max_reasons, l.max_reason_len)?;
        Ok(AppraisalOutcome {
            status: vector.tier(),
            vector,
            reasons,
        })
    }
}

/// Reference values converted once for the policy engine. Cloning is
/// cheap (the engine's values are reference-counted).
#[derive(Clone, Debug)]
pub struct PreparedReference(Value);

impl PreparedReference {
    /// Name → allowed values, as [`AppraisalInput::reference`] holds them.
    pub fn new(reference: &BTreeMap<String, Vec<serde_json::Value>>) -> Result<Self, PolicyError> {
        Ok(PreparedReference(reference_value(reference)?))
    }
}

fn reference_value(
    reference: &BTreeMap<String, Vec<serde_json::Value>>,
) -> Result<Value, PolicyError> {
    let mut out = BTreeMap::new();
    for (name, values) in reference {
        out.insert(
            Value::from(name.as_str()),
            Value::from(
                values
                    .iter()
                    .map(to_regorus)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        );
    }
    Ok(Value::from(out))
}

fn input_value(
    input: &AppraisalInput,
    claims: Document,
    reference: Value,
) -> Result<Value, PolicyError> {
    let mut binding = BTreeMap::new();
    for (k, v) in &input.binding.extra {
        binding.insert(Value::from(k.as_str()), to_regorus(v)?);
    }
    binding.insert(
        Value::from("report_data_bound"),
        Value::from(input.binding.report_data_bound),
    );
    if let Some(b) = input.binding.init_data_bound {
        binding.insert(Value::from("init_data_bound"), Value::from(b));
    }
    let mut doc = BTreeMap::new();
    doc.insert(Value::from("tee"), Value::from(input.tee.as_str()));
    doc.insert(Value::from("claims"), claims.0);
    doc.insert(Value::from("reference"), reference);
    doc.insert(Value::from("binding"), Value::from(binding));
    if let Some(init) = &input.init_data {
        doc.insert(Value::from("init_data"), to_regorus(init)?);
    }
    Ok(Value::from(doc))
}

/// Read the `trust_vector` output strictly: an object whose keys are AR4SI
/// claim names and whose values are integers in -128..=127. An unknown key is
/// an error (a typo such as `instance_identity` would otherwise silently
/// drop a claim).
fn trust_vector(v: Option<&Value>) -> Result<TrustVector, PolicyError> {
    let o = match v {
        Some(Value::Object(o)) => o,
        None | Some(Value::Undefined) => {
            return Err(PolicyError::OutputShape {
                field: TRUST_VECTOR_RULE.into(),
                expected: "an object of AR4SI claims, but the rule is undefined for this input \
                           (give it a default)"
                    .into(),
            })
        }
        Some(_) => {
            return Err(PolicyError::OutputShape {
                field: TRUST_VECTOR_RULE.into(),
                expected: "an object of AR4SI claims".into(),
            })
        }
    };
    let mut vector = TrustVector::default();
    for (k, v) in o.iter() {
        let Value::String(name) = k else {
            return Err(PolicyError::OutputShape {
                field: format!("{TRUST_VECTOR_RULE}[{k}]"),
                expected: "a claim name (string key)".into(),
            });
        };
        let Some(claim) = TrustClaim::from_name(name) else {
            return Err(PolicyError::OutputShape {
                field: format!("{TRUST_VECTOR_RULE}.{name}"),
                expected: "one of the AR4SI claims instance-identity, configuration, \
                           executables, file-system, hardware, runtime-opaque, \
                           storage-opaque, sourced-data"
                    .into(),
            });
        };
        let value = match v {
            Value::Number(n) if n.is_integer() => n.as_i64().and_then(|i| i8::try_from(i).ok()),
            _ => None,
        };
        let Some(value) = value else {
            return Err(PolicyError::OutputShape {
                field: format!("{TRUST_VECTOR_RULE}.{name}"),
                expected: "an integer from -128 to 127".into(),
            });
        };
        vector.set(claim, Some(value));
    }
    Ok(vector)
}

//! Resource policies: a verified EAR token's claims + the requested resource
//! path → allow or deny, with optional reasons.

use crate::appraisal::REASONS_RULE;
use crate::engine::{output, CompiledSource, Contract};
use crate::error::PolicyError;
use crate::value::{object, reasons, to_regorus, Document};
use crate::Limits;
use regorus::Value;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The package a resource policy must declare.
pub const RESOURCE_PACKAGE: &str = "mamori.resource";
/// The rule that decides (required; anything but `true` denies).
pub const ALLOW_RULE: &str = "allow";

const CONTRACT: Contract = Contract {
    package: RESOURCE_PACKAGE,
    required: &[ALLOW_RULE],
    optional: &[REASONS_RULE],
};

/// The input of a resource policy. The Rego `input` document is
/// `{"token": <claims>, "resource": {"path": "repo/type/tag", "segments": ["repo","type","tag"]}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceInput {
    /// The verified EAR token's claims (`submods`, `ear.status`, …).
    pub token: serde_json::Value,
    /// The requested resource path, e.g. `default/disk-key/vm1`.
    pub resource: String,
}

fn resource_doc(token: Value, resource: &str) -> Value {
    let segments: Vec<Value> = resource.split('/').map(Value::from).collect();
    object([
        ("token", token),
        (
            "resource",
            object([
                ("path", Value::from(resource)),
                ("segments", Value::from(segments)),
            ]),
        ),
    ])
}

impl ResourceInput {
    /// The Rego `input` document this input stands for (what the dry-run
    /// endpoint can show).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "token": self.token,
            "resource": {
                "path": self.resource,
                "segments": self.resource.split('/').collect::<Vec<_>>(),
            },
        })
    }
}

/// A resource policy's decision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allow: bool,
    pub reasons: Vec<String>,
}

/// A compiled resource policy. Cheap to clone (shared), `Send + Sync`.
#[derive(Clone)]
pub struct ResourcePolicy {
    inner: Arc<CompiledSource>,
}

impl std::fmt::Debug for ResourcePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourcePolicy")
            .field("digest", &self.inner.digest)
            .finish_non_exhaustive()
    }
}

impl ResourcePolicy {
    /// Compile with the default [`Limits`]. Refuses a policy that does not
    /// parse, declares another package, or lacks `allow`.
    pub fn compile(source: &str) -> Result<ResourcePolicy, PolicyError> {
        Self::compile_with_limits(source, Limits::default())
    }

    /// Compile with explicit limits.
    pub fn compile_with_limits(
        source: &str,
        limits: Limits,
    ) -> Result<ResourcePolicy, PolicyError> {
        Ok(ResourcePolicy {
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

    /// Decide over a typed input.
    pub fn evaluate(&self, input: &ResourceInput) -> Result<Decision, PolicyError> {
        self.evaluate_value(resource_doc(to_regorus(&input.token)?, &input.resource))
    }

    /// [`ResourcePolicy::evaluate`] over a token already converted: the
    /// same decision as for `ResourceInput { token, resource }` when
    /// `token` is `Document::from_json(&token)`.
    pub fn evaluate_document(
        &self,
        token: &Document,
        resource: &str,
    ) -> Result<Decision, PolicyError> {
        self.evaluate_value(resource_doc(token.0.clone(), resource))
    }

    /// Decide over an input given as JSON (the dry-run endpoint's form).
    pub fn evaluate_json(&self, input: &serde_json::Value) -> Result<Decision, PolicyError> {
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
    ) -> Result<Decision, PolicyError> {
        let out = self.inner.prepared.eval_interpreted(to_regorus(input)?)?;
        self.read_output(&out)
    }

    fn evaluate_value(&self, input: Value) -> Result<Decision, PolicyError> {
        let out = self.inner.prepared.eval(input)?;
        self.read_output(&out)
    }

    fn read_output(&self, out: &Value) -> Result<Decision, PolicyError> {
        let field = |name: &str| output(out, name);
        // Undefined `allow` denies (what `default allow := false` says
        // explicitly); any other non-boolean is a broken policy, reported.
        let allow = match field(ALLOW_RULE) {
            None | Some(Value::Undefined) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(PolicyError::OutputShape {
                    field: ALLOW_RULE.into(),
                    expected: "a boolean".into(),
                })
            }
        };
        let l = &self.inner.limits;
        let reasons = reasons(field(REASONS_RULE), l.max_reasons, l.max_reason_len)?;
        Ok(Decision { allow, reasons })
    }
}

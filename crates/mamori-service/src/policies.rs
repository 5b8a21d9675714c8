//! Compiled policies and reference values, held in memory so that no
//! request parses Rego or reads them from the database. Reloaded after every
//! admin change (and periodically, for other nodes' changes).

use crate::error::ServiceError;
use mamori_policy::{defaults, AppraisalPolicy, PreparedReference, ResourcePolicy};
use mamori_store::{PolicyRecord, ReferenceValue, Store};
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

pub struct PolicySet {
    /// Stored appraisal policies: TEE kind (or `default`) → (id, policy).
    appraisal: HashMap<String, (String, AppraisalPolicy)>,
    /// The shipped defaults: TEE kind → (id, policy); `*` for other kinds.
    builtin: HashMap<String, (String, AppraisalPolicy)>,
    /// Resource path prefixes, longest first.
    resource: Vec<(String, ResourcePolicy)>,
    default_resource: ResourcePolicy,
    reference: Vec<ReferenceValue>,
    /// The reference values valid over a span of time, converted for the
    /// policy engine once rather than per request.
    prepared: RwLock<Option<PreparedSpan>>,
    /// Digest of what was loaded, to skip needless rebuilds.
    pub fingerprint: String,
}

/// What the store holds, and a summary of it that changes with it.
struct Stored {
    appraisal: Vec<PolicyRecord>,
    resource: Vec<PolicyRecord>,
    reference: Vec<ReferenceValue>,
    fingerprint: String,
}

impl Stored {
    async fn read(store: &Store) -> Result<Self, ServiceError> {
        let appraisal = store.list_policies("appraisal").await?;
        let resource = store.list_policies("resource").await?;
        let reference = store.list_reference_values().await?;
        // Everything a policy set is built from: the policies (by their
        // digests) and every field of every reference value, values
        // included — two changes within one second share `updated_at`.
        let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut field = |b: &[u8]| {
            h.update(&(b.len() as u64).to_be_bytes());
            h.update(b);
        };
        for p in appraisal.iter().chain(&resource) {
            field(p.kind.as_bytes());
            field(p.id.as_bytes());
            field(p.digest.as_bytes());
        }
        for r in &reference {
            field(r.name.as_bytes());
            field(&r.updated_at.to_be_bytes());
            field(format!("{:?}", r.expires_at).as_bytes());
            field(
                serde_json::to_string(&r.values)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?
                    .as_bytes(),
            );
        }
        let fingerprint = hex::encode(h.finish().as_ref());
        Ok(Stored {
            appraisal,
            resource,
            reference,
            fingerprint,
        })
    }
}

/// Prepared reference values and the times `[from, until)` over which the
/// set of unexpired values is the same.
struct PreparedSpan {
    from: i64,
    until: i64,
    values: PreparedReference,
}

fn policy_err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Policy(e.to_string())
}

impl PolicySet {
    pub async fn load(store: &Store) -> Result<Self, ServiceError> {
        Self::compile(Stored::read(store).await?)
    }

    /// As [`PolicySet::load`], but `None` when the stored policies and
    /// reference values are those `previous` was built from: the periodic
    /// reload then costs three reads and no Rego compilation.
    pub async fn load_if_changed(
        store: &Store,
        previous: &str,
    ) -> Result<Option<Self>, ServiceError> {
        let stored = Stored::read(store).await?;
        if stored.fingerprint == previous {
            return Ok(None);
        }
        Self::compile(stored).map(Some)
    }

    fn compile(stored: Stored) -> Result<Self, ServiceError> {
        let Stored {
            appraisal: stored_appraisal,
            resource: stored_resource,
            reference,
            fingerprint: fp,
        } = stored;
        let mut builtin = HashMap::new();
        for tee in ["snp", "tdx", "sgx", "sample", "*"] {
            let d = defaults::appraisal_for_tee(tee);
            builtin.insert(
                tee.to_owned(),
                (
                    d.id.to_owned(),
                    AppraisalPolicy::compile(d.source).map_err(policy_err)?,
                ),
            );
        }
        let mut appraisal = HashMap::new();
        for p in stored_appraisal {
            match AppraisalPolicy::compile(&p.source) {
                Ok(c) => {
                    let short = p.digest.get(..12).unwrap_or(&p.digest);
                    appraisal.insert(p.id.clone(), (format!("{}@{short}", p.id), c));
                }
                Err(e) => {
                    // Not ignored: a broader policy (the stored default or
                    // the built-in one) would then appraise what the
                    // operator meant this one for. Nothing is affirmed
                    // until the policy is fixed.
                    tracing::error!(policy = %p.id, error = %e, "stored appraisal policy does not compile; its TEE is appraised as contraindicated until it is replaced");
                    appraisal.insert(
                        p.id.clone(),
                        (format!("{}@broken", p.id), broken::appraisal(&p.id)?),
                    );
                }
            }
        }
        let mut resource = Vec::new();
        for p in stored_resource {
            match ResourcePolicy::compile(&p.source) {
                Ok(c) => resource.push((p.id.clone(), c)),
                Err(e) => {
                    // Not ignored: a shorter prefix's policy would then
                    // decide for these paths. Nothing is released under
                    // this prefix until the policy is fixed.
                    tracing::error!(policy = %p.id, error = %e, "stored resource policy does not compile; nothing under its prefix is released until it is replaced");
                    resource.push((p.id.clone(), broken::resource(&p.id)?));
                }
            }
        }
        resource.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        Ok(PolicySet {
            appraisal,
            builtin,
            resource,
            default_resource: defaults::resource_policy().map_err(policy_err)?,
            reference,
            prepared: RwLock::new(None),
            fingerprint: fp,
        })
    }

    /// The policy for a TEE kind: its own, else the stored `default`, else
    /// the shipped default for the kind. The `sample` TEE never falls back to
    /// a stored `default`: a policy written for hardware must not appraise
    /// unsigned evidence.
    pub fn appraisal(&self, tee: &str) -> Option<&(String, AppraisalPolicy)> {
        self.appraisal
            .get(tee)
            .or_else(|| {
                if tee == "sample" {
                    None
                } else {
                    self.appraisal.get("default")
                }
            })
            .or_else(|| self.builtin.get(tee))
            .or_else(|| self.builtin.get("*"))
    }

    /// The resource policy for `path`: the longest configured prefix that
    /// matches on a segment boundary, else the default.
    pub fn resource(&self, path: &str) -> (&str, &ResourcePolicy) {
        for (prefix, p) in &self.resource {
            let p_trim = prefix.trim_end_matches('/');
            if p_trim.is_empty()
                || path == p_trim
                || path
                    .strip_prefix(p_trim)
                    .is_some_and(|rest| rest.starts_with('/'))
            {
                return (prefix, p);
            }
        }
        (defaults::RESOURCE_POLICY_ID, &self.default_resource)
    }

    /// Reference values that have not expired at `now`.
    pub fn reference(&self, now: i64) -> BTreeMap<String, Vec<serde_json::Value>> {
        self.reference
            .iter()
            .filter(|r| r.expires_at.is_none_or(|e| e > now))
            .map(|r| (r.name.clone(), r.values.clone()))
            .collect()
    }

    /// [`PolicySet::reference`] prepared for the policy engine. Rebuilt only
    /// when a value expires (or the clock moves back before the span).
    pub fn prepared_reference(&self, now: i64) -> Result<PreparedReference, ServiceError> {
        if let Ok(p) = self.prepared.read() {
            if let Some(p) = p.as_ref().filter(|p| p.from <= now && now < p.until) {
                return Ok(p.values.clone());
            }
        }
        let values = PreparedReference::new(&self.reference(now)).map_err(policy_err)?;
        // The set stays the same until the next expiry after `now`.
        let until = self
            .reference
            .iter()
            .filter_map(|r| r.expires_at)
            .filter(|e| *e > now)
            .min()
            .unwrap_or(i64::MAX);
        // ...and has been since the last expiry at or before `now`, so
        // requests carrying a slightly older `now` reuse it too.
        let from = self
            .reference
            .iter()
            .filter_map(|r| r.expires_at)
            .filter(|e| *e <= now)
            .max()
            .unwrap_or(i64::MIN);
        if let Ok(mut p) = self.prepared.write() {
            *p = Some(PreparedSpan {
                from,
                until,
                values: values.clone(),
            });
        }
        Ok(values)
    }
}

/// Stand-ins for stored policies that no longer compile (an upload is
/// compiled before it is stored, so only an engine or contract change can
/// do this): they refuse everything and say why.
mod broken {
    use super::{policy_err, AppraisalPolicy, ResourcePolicy, ServiceError};

    /// A policy id as a Rego string literal (ids are checked on upload, but
    /// this must hold for whatever the database holds).
    fn literal(id: &str) -> String {
        serde_json::Value::from(id).to_string()
    }

    pub(super) fn appraisal(id: &str) -> Result<AppraisalPolicy, ServiceError> {
        AppraisalPolicy::compile(&format!(
            "package mamori.appraisal\nimport rego.v1\n\
             trust_vector := {{\"instance-identity\": 96, \"configuration\": 96, \"executables\": 96, \"hardware\": 96, \"runtime-opaque\": 96}}\n\
             reasons contains sprintf(\"the stored appraisal policy %s does not compile with this version of Mamori; replace it\", [{}])\n",
            literal(id)
        ))
        .map_err(policy_err)
    }

    pub(super) fn resource(id: &str) -> Result<ResourcePolicy, ServiceError> {
        ResourcePolicy::compile(&format!(
            "package mamori.resource\nimport rego.v1\n\
             default allow := false\n\
             reasons contains sprintf(\"the stored resource policy for %s does not compile with this version of Mamori; replace it\", [{}])\n",
            literal(id)
        ))
        .map_err(policy_err)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use mamori_policy::{AppraisalInput, Binding, ResourceInput};
    use serde_json::json;

    #[tokio::test]
    async fn a_stored_policy_that_no_longer_compiles_refuses_rather_than_falls_back() {
        let store = Store::open_in_memory().await.unwrap();
        let broken = |kind: &str, id: &str| PolicyRecord {
            kind: kind.into(),
            id: id.into(),
            source: "package mamori.resource\nthis is not Rego".into(),
            digest: "d".into(),
            updated_at: 1,
        };
        // A permissive policy for everything, and a broken one for a prefix.
        store
            .put_policy(&PolicyRecord {
                source: "package mamori.resource\nimport rego.v1\nallow := true\n".into(),
                ..broken("resource", "")
            })
            .await
            .unwrap();
        store
            .put_policy(&broken("resource", "secret"))
            .await
            .unwrap();
        store.put_policy(&broken("appraisal", "snp")).await.unwrap();
        let set = PolicySet::load(&store).await.unwrap();
        let token = json!({"submods": {"cpu0": {"ear.status": "affirming"}}});
        let decide = |path: &str| {
            set.resource(path)
                .1
                .evaluate(&ResourceInput {
                    token: token.clone(),
                    resource: path.into(),
                })
                .unwrap()
        };
        assert!(decide("public/k/1").allow);
        let d = decide("secret/k/1");
        assert!(!d.allow);
        assert!(d.reasons[0].contains("does not compile"), "{d:?}");
        let (id, policy) = set.appraisal("snp").unwrap();
        assert_eq!(id, "snp@broken");
        let input = AppraisalInput {
            tee: "snp".into(),
            claims: json!({}),
            reference: Default::default(),
            binding: Binding::default(),
            init_data: None,
        };
        let out = policy.evaluate(&input).unwrap();
        assert_eq!(out.status, mamori_policy::TrustTier::Contraindicated);
        assert!(out.reasons[0].contains("does not compile"), "{out:?}");
    }

    #[tokio::test]
    async fn a_change_of_values_within_the_same_second_is_loaded() {
        let store = Store::open_in_memory().await.unwrap();
        let value = |v: &str| ReferenceValue {
            name: "snp_launch_measurement".into(),
            values: vec![json!(v)],
            expires_at: None,
            updated_at: 100,
        };
        store.put_reference_value(&value("aa")).await.unwrap();
        let set = PolicySet::load(&store).await.unwrap();
        assert!(PolicySet::load_if_changed(&store, &set.fingerprint)
            .await
            .unwrap()
            .is_none());
        // Corrected (say, an image revoked) in the same second.
        store.put_reference_value(&value("bb")).await.unwrap();
        let set = PolicySet::load_if_changed(&store, &set.fingerprint)
            .await
            .unwrap()
            .expect("the new values are a change");
        assert_eq!(set.reference(100)["snp_launch_measurement"], [json!("bb")]);
    }

    #[tokio::test]
    async fn prepared_reference_values_follow_expiry() {
        let store = Store::open_in_memory().await.unwrap();
        let value = |name: &str, expires_at| ReferenceValue {
            name: name.into(),
            values: vec![json!(name)],
            expires_at,
            updated_at: 0,
        };
        store
            .put_reference_value(&value("until_100", Some(100)))
            .await
            .unwrap();
        store
            .put_reference_value(&value("forever", None))
            .await
            .unwrap();
        let set = PolicySet::load(&store).await.unwrap();
        // A policy that reports which reference names it sees.
        let policy = AppraisalPolicy::compile(
            "package mamori.appraisal\nimport rego.v1\ntrust_vector := {}\nreasons contains n if { some n, _ in input.reference }\n",
        )
        .unwrap();
        let input = AppraisalInput {
            tee: "sample".into(),
            claims: json!({}),
            reference: Default::default(),
            binding: Binding::default(),
            init_data: None,
        };
        let seen = |now| {
            let r = set.prepared_reference(now).unwrap();
            let mut names = policy.evaluate_prepared(&input, &r).unwrap().reasons;
            names.sort();
            names
        };
        assert_eq!(seen(50), ["forever", "until_100"]);
        assert_eq!(seen(99), ["forever", "until_100"]);
        assert_eq!(seen(100), ["forever"], "expired at 100");
        assert_eq!(seen(50), ["forever", "until_100"], "the clock moved back");
    }
}

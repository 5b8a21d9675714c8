//! The operator's side of the service: admin authentication, resources,
//! policies, reference values, signing-key rotation, dry runs, the audit
//! log and housekeeping. Every change is audited and reloaded.

use super::*;

impl Service {
    /// Checks an admin bearer token; returns the actor name for the audit log.
    pub fn authorize_admin(&self, token: &str, now: i64) -> Result<String, ServiceError> {
        admin::verify(token, &self.admin_keys, now).map(|id| format!("admin:{}", &id[..16]))
    }

    /// The audit entry of an admin change, committed with the change itself
    /// (the store's `*_recorded` writes).
    fn admin_entry(
        actor: &str,
        action: &str,
        subject: &str,
        detail: Value,
        now: i64,
    ) -> NewAuditEntry {
        NewAuditEntry {
            at: now,
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            outcome: "ok".to_owned(),
            detail: crate::request_id::audit_detail(detail),
        }
    }

    /// After an admin change committed: counted, and loaded on this node at
    /// once (other nodes load it on their periodic reload).
    async fn admin_done(&self, now: i64) -> Result<(), ServiceError> {
        self.metrics.admin_changes.fetch_add(1, Relaxed);
        self.reload(now).await
    }

    pub async fn set_resource(
        &self,
        actor: &str,
        path: &str,
        secret: &[u8],
        now: i64,
    ) -> Result<(), ServiceError> {
        check_path(path)?;
        if secret.len() > self.cfg.limits.max_resource_bytes {
            return Err(ServiceError::TooLarge(format!(
                "resource of {} bytes exceeds {}",
                secret.len(),
                self.cfg.limits.max_resource_bytes
            )));
        }
        let sealed = self
            .kek
            .seal(&format!("resource/{path}"), secret)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let digest = hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            secret,
        ));
        let entry = Self::admin_entry(
            actor,
            "resource.set",
            path,
            json!({"bytes": secret.len(), "sha256": digest}),
            now,
        );
        self.store
            .put_resource_recorded(path, &sealed, now, Some(entry))
            .await?;
        self.admin_done(now).await
    }

    pub async fn delete_resource(
        &self,
        actor: &str,
        path: &str,
        now: i64,
    ) -> Result<(), ServiceError> {
        check_path(path)?;
        let entry = Self::admin_entry(actor, "resource.delete", path, json!({}), now);
        if !self
            .store
            .delete_resource_recorded(path, Some(entry))
            .await?
        {
            return Err(ServiceError::NotFound(format!("resource {path}")));
        }
        self.admin_done(now).await
    }

    pub async fn list_resources(&self) -> Result<Vec<String>, ServiceError> {
        Ok(self.store.list_resources().await?)
    }

    /// Sets the resource policy of a path or path prefix (`` for every
    /// path).
    pub async fn set_resource_policy(
        &self,
        actor: &str,
        prefix: &str,
        source: &str,
        now: i64,
    ) -> Result<String, ServiceError> {
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            check_path(prefix)?;
        }
        self.store_policy(actor, PolicyKind::Resource, prefix, source, now)
            .await
    }

    /// Sets the appraisal policy used for a TEE kind (`default`: every kind
    /// without its own, except `sample`).
    pub async fn set_appraisal_policy(
        &self,
        actor: &str,
        tee: &str,
        source: &str,
        now: i64,
    ) -> Result<String, ServiceError> {
        const KINDS: [&str; 12] = [
            "default",
            "snp",
            "sample",
            "tdx",
            "sgx",
            "az-snp-vtpm",
            "az-tdx-vtpm",
            "nvidia",
            "tpm",
            "cca",
            "csv",
            "se",
        ];
        if !KINDS.contains(&tee) {
            return Err(ServiceError::UnknownTee(tee.into()));
        }
        self.store_policy(actor, PolicyKind::Appraisal, tee, source, now)
            .await
    }

    /// Compiles (refusing a policy that does not satisfy its contract),
    /// stores, audits and loads a policy; returns its digest.
    async fn store_policy(
        &self,
        actor: &str,
        kind: PolicyKind,
        id: &str,
        source: &str,
        now: i64,
    ) -> Result<String, ServiceError> {
        let compiled = mamori_policy::compile(kind, source)
            .map_err(|e| ServiceError::Policy(e.to_string()))?;
        let digest = compiled.digest().to_owned();
        let (kind_name, action) = match kind {
            PolicyKind::Resource => ("resource", "resource-policy.set"),
            PolicyKind::Appraisal => ("appraisal", "attestation-policy.set"),
        };
        let entry = Self::admin_entry(actor, action, id, json!({"digest": digest}), now);
        self.store
            .put_policy_recorded(
                &PolicyRecord {
                    kind: kind_name.into(),
                    id: id.to_owned(),
                    source: source.to_owned(),
                    digest: digest.clone(),
                    updated_at: now,
                },
                Some(entry),
            )
            .await?;
        self.admin_done(now).await?;
        Ok(digest)
    }

    pub async fn list_policies(&self, kind: &str) -> Result<Vec<PolicyRecord>, ServiceError> {
        Ok(self.store.list_policies(kind).await?)
    }

    pub async fn set_reference_value(
        &self,
        actor: &str,
        name: &str,
        values: Vec<Value>,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<(), ServiceError> {
        if name.is_empty()
            || name.len() > 128
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(ServiceError::BadRequest(format!(
                "reference value name {name:?}: expected [A-Za-z0-9._-]{{1,128}}"
            )));
        }
        if let Some(e) = expires_at {
            if e <= now {
                return Err(ServiceError::BadRequest(
                    "reference value expires in the past".into(),
                ));
            }
        }
        let entry = Self::admin_entry(
            actor,
            "reference-value.set",
            name,
            json!({"values": values, "expires_at": expires_at}),
            now,
        );
        self.store
            .put_reference_value_recorded(
                &ReferenceValue {
                    name: name.to_owned(),
                    values,
                    expires_at,
                    updated_at: now,
                },
                Some(entry),
            )
            .await?;
        self.admin_done(now).await
    }

    pub async fn list_reference_values(&self) -> Result<Vec<ReferenceValue>, ServiceError> {
        Ok(self.store.list_reference_values().await?)
    }

    pub async fn rotate_signing_key(&self, actor: &str, now: i64) -> Result<String, ServiceError> {
        let kid = self
            .rotate_key(actor, now, None)
            .await?
            .ok_or_else(|| ServiceError::Internal("the rotation was not made".into()))?;
        Ok(kid)
    }

    /// Rotates, unless an active key made after `unless_active_after`
    /// exists (`None`: unconditionally).
    async fn rotate_key(
        &self,
        actor: &str,
        now: i64,
        unless_active_after: Option<i64>,
    ) -> Result<Option<String>, ServiceError> {
        let record = |kid: &str| {
            Some(Self::admin_entry(
                actor,
                "signing-key.rotate",
                kid,
                json!({}),
                now,
            ))
        };
        let kid = keys::rotate(&self.store, &self.kek, now, record, unless_active_after).await?;
        if kid.is_some() {
            self.admin_done(now).await?;
        } else {
            // Another node rotated first: take its key up now rather than at
            // the next reload.
            self.reload(now).await?;
        }
        Ok(kid)
    }

    /// Rotates the signing key when it is older than the configured age.
    pub async fn rotate_if_due(&self, now: i64) -> Result<(), ServiceError> {
        let age = self.cfg.token.rotate_after_secs;
        let active = self.ring().active_created_at;
        if age > 0 && now - active >= age {
            // Every node finds the rotation due at about the same time; the
            // first one's key makes it not due for the others.
            self.rotate_key("system", now, Some(active)).await?;
        }
        Ok(())
    }

    /// Evaluates a policy (given, or the one in force) without side effects.
    pub fn dry_run(&self, req: DryRun, now: i64) -> Result<Value, ServiceError> {
        let set = self.policy_set();
        match req {
            DryRun::Appraisal {
                source,
                tee,
                mut input,
            } => {
                let policy = match source {
                    Some(s) => mamori_policy::AppraisalPolicy::compile(&s)
                        .map_err(|e| ServiceError::Policy(e.to_string()))?,
                    None => set
                        .appraisal(&tee)
                        .map(|(_, p)| p.clone())
                        .ok_or_else(|| ServiceError::UnknownTee(tee.clone()))?,
                };
                if let Value::Object(m) = &mut input {
                    m.entry("tee").or_insert(json!(tee));
                    m.entry("reference").or_insert(json!(set.reference(now)));
                }
                let out = policy
                    .evaluate_json(&input)
                    .map_err(|e| ServiceError::Policy(e.to_string()))?;
                serde_json::to_value(out).map_err(|e| ServiceError::Internal(e.to_string()))
            }
            DryRun::Resource {
                source,
                path,
                input,
            } => {
                let policy = match source {
                    Some(s) => mamori_policy::ResourcePolicy::compile(&s)
                        .map_err(|e| ServiceError::Policy(e.to_string()))?,
                    None => set.resource(&path).1.clone(),
                };
                let out = policy
                    .evaluate(&ResourceInput {
                        token: input,
                        resource: path,
                    })
                    .map_err(|e| ServiceError::Policy(e.to_string()))?;
                serde_json::to_value(out).map_err(|e| ServiceError::Internal(e.to_string()))
            }
        }
    }

    pub async fn audit_list(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<mamori_store::AuditEntry>, ServiceError> {
        Ok(self.store.list_audit(after, limit.clamp(1, 1000)).await?)
    }

    pub async fn audit_verify(&self) -> Result<mamori_store::AuditCheck, ServiceError> {
        Ok(self.store.verify_audit().await?)
    }

    /// From now on readiness fails: the server is shutting down, and a
    /// load balancer should send new requests elsewhere.
    pub fn begin_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Readiness: the store's writer thread answers within two seconds
    /// (and the server is not shutting down).
    ///
    /// One probe runs at a time and its answer stands for a second: anyone
    /// may call `/readyz`, and each probe queues a statement for the writer,
    /// which must not let callers fill the writer's queue (or, with a stuck
    /// writer, leave a statement behind per call).
    pub async fn ready(&self) -> Result<(), ServiceError> {
        if self.draining.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ServiceError::ShuttingDown);
        }
        let mut last = self.readiness.lock().await;
        let answer = match &*last {
            Some((at, answer)) if at.elapsed() < std::time::Duration::from_secs(1) => {
                answer.clone()
            }
            _ => {
                let answer = self
                    .store
                    .ping(std::time::Duration::from_secs(2))
                    .await
                    .map_err(|e| e.to_string());
                *last = Some((std::time::Instant::now(), answer.clone()));
                answer
            }
        };
        answer.map_err(|e| ServiceError::Store(mamori_store::StoreError::Unavailable(e)))
    }

    /// Sessions awaiting evidence, for `/metrics` (-1 when the store does
    /// not answer); the count also refreshes the open-session estimate.
    pub async fn open_sessions(&self, now: i64) -> i64 {
        self.count_open_sessions(now).await.unwrap_or(-1)
    }

    /// Periodic housekeeping: audit entries older than `[audit]
    /// retain_days`, oldest first, in transactions of at most 10,000
    /// removals (the writer serves requests between them) and at most ten
    /// of them per call, so that a large backlog is worked off over several
    /// housekeeping rounds instead of holding up the others. Returns the
    /// number removed.
    pub async fn prune_audit(&self, now: i64) -> Result<u64, ServiceError> {
        const STEP: u32 = 10_000;
        const STEPS_PER_CALL: usize = 10;
        let days = self.cfg.audit.retain_days;
        if days == 0 {
            return Ok(0);
        }
        let before = now.saturating_sub(i64::from(days) * 86_400);
        let mut total = 0;
        for _ in 0..STEPS_PER_CALL {
            let removed = self
                .store
                .prune_audit(
                    before,
                    STEP,
                    now,
                    "system".to_owned(),
                    move |removed, through| {
                        serde_json::json!({
                            "removed": removed,
                            "through": through,
                            "retain_days": days,
                        })
                        .to_string()
                    },
                )
                .await?;
            total += removed;
            if removed < u64::from(STEP) {
                break;
            }
        }
        Ok(total)
    }

    /// Periodic housekeeping: expired sessions and old evidence digests.
    pub async fn purge(&self, now: i64) -> Result<u64, ServiceError> {
        let keep = self
            .cfg
            .token
            .lifetime_secs
            .max(self.cfg.session.nonce_ttl_secs);
        Ok(self.store.purge(now - keep).await?)
    }
}

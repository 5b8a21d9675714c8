//! The PostgreSQL backend: the store's contract, and what sharing one
//! database between nodes adds to it (each `Store` opened on the same
//! schema stands for one `mamori serve` node).
#![allow(clippy::unwrap_used)]

mod common;

use common::session;
use mamori_store::testing::postgres_schema as schema;
use mamori_store::{
    Completion, NewAuditEntry, PolicyRecord, PostgresOptions, ReferenceValue, SigningKeyRecord,
    Store, StoreError,
};

fn entry(actor: &str, at: i64) -> NewAuditEntry {
    NewAuditEntry {
        at,
        actor: actor.into(),
        action: "attestation".into(),
        subject: "snp".into(),
        outcome: "ok".into(),
        detail: "{}".into(),
    }
}

#[tokio::test]
async fn a_session_started_on_one_node_completes_on_another() {
    let Some(db) = schema("handover").await else {
        return;
    };
    let a = Store::open_postgres(&db.options()).await.unwrap();
    let b = Store::open_postgres(&db.options()).await.unwrap();
    assert!(a.is_shared());
    a.insert_session(&session("s1", 1_000)).await.unwrap();
    assert_eq!(a.count_open_sessions(10).await.unwrap(), 1);
    // B has never seen it: it reads it from the database.
    let on_b = b.session_for_attest("s1").await.unwrap().unwrap();
    assert_eq!((on_b.nonce.as_str(), on_b.used), ("nonce-s1", false));
    let (c, record) = b
        .complete_session_audited("s1", 10, Some(("tok", 500)), entry("tee:s1", 10))
        .await
        .unwrap();
    assert_eq!(c, Completion::Done);
    assert_eq!(record.unwrap().seq, 1);
    // A cached the session unused when it made it; it must not answer from
    // that copy that the session has no token.
    let on_a = a.get_session("s1").await.unwrap().unwrap();
    assert!(on_a.used);
    assert_eq!(on_a.token.as_deref(), Some("tok"));
    // The nonce is spent for A as well.
    assert_eq!(
        a.complete_session("s1", 11, None).await.unwrap(),
        Completion::AlreadyUsed
    );
    assert_eq!(
        a.complete_session("nope", 11, None).await.unwrap(),
        Completion::Unknown
    );
    a.insert_session(&session("old", 20)).await.unwrap();
    assert_eq!(
        b.complete_session("old", 21, None).await.unwrap(),
        Completion::Expired
    );
    assert!(b.burn_session("burn-me").await.is_ok_and(|b| !b));
    a.insert_session(&session("burn-me", 1_000)).await.unwrap();
    assert!(b.burn_session("burn-me").await.unwrap());
    assert!(!a.burn_session("burn-me").await.unwrap());
    // Once "old" expired, every session is spent or dead.
    assert_eq!(a.count_open_sessions(25).await.unwrap(), 0);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_racing_for_one_nonce_have_one_winner() {
    let Some(db) = schema("race").await else {
        return;
    };
    // The third node's sessions default to SERIALIZABLE: the store runs
    // its transactions at READ COMMITTED regardless, so waiting writers
    // queue instead of failing.
    let nodes = [
        Store::open_postgres(&db.options()).await.unwrap(),
        Store::open_postgres(&db.options()).await.unwrap(),
        Store::open_postgres(&db.options_with("-c default_transaction_isolation=serializable"))
            .await
            .unwrap(),
    ];
    for round in 0..10 {
        let id = format!("race{round}");
        nodes[0].insert_session(&session(&id, 1_000)).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..9 {
            let (s, id) = (nodes[i % 3].clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                s.complete_session_audited(&id, 10, Some(("t", 99)), entry(&id, 10))
                    .await
                    .unwrap()
                    .0
            }));
        }
        let mut done = 0;
        for t in tasks {
            if t.await.unwrap() == Completion::Done {
                done += 1;
            }
        }
        assert_eq!(done, 1, "round {round}");
    }
    // One record per completed session, and a chain without forks.
    let check = nodes[1].verify_audit().await.unwrap();
    assert_eq!((check.entries, check.first_broken), (10, None));
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_two_nodes_make_one_chain() {
    let Some(db) = schema("chain").await else {
        return;
    };
    let a = Store::open_postgres(&db.options()).await.unwrap();
    let b = Store::open_postgres(&db.options()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            if i % 3 == 0 {
                s.append_audit_batch(&[entry(&format!("n{i}a"), i), entry(&format!("n{i}b"), i)])
                    .await
                    .unwrap()
                    .len()
            } else {
                s.append_audit(&entry(&format!("n{i}"), i)).await.unwrap();
                1
            }
        }));
    }
    let mut appended = 0;
    for t in tasks {
        appended += t.await.unwrap();
    }
    let check = a.verify_audit().await.unwrap();
    assert_eq!(check.entries, appended as u64);
    assert_eq!(check.first_broken, None);
    let all = b.list_audit(0, 1_000).await.unwrap();
    assert_eq!(all.len(), appended);
    assert!(all
        .windows(2)
        .all(|w| w[1].seq == w[0].seq + 1 && w[1].prev_hash == w[0].hash));
    // An edit behind the store's back breaks the chain at that entry.
    db.inject("UPDATE audit SET detail = '{\"forged\":1}' WHERE seq = 7")
        .await;
    let check = b.verify_audit().await.unwrap();
    assert_eq!(check.first_broken, Some(7));
    db.drop().await;
}

#[tokio::test]
async fn an_audited_change_commits_with_its_entry_or_not_at_all() {
    let Some(db) = schema("atomic").await else {
        return;
    };
    let s = Store::open_postgres(&db.options()).await.unwrap();
    let policy = |id: &str| PolicyRecord {
        kind: "resource".into(),
        id: id.into(),
        source: "package x".into(),
        digest: "d".into(),
        updated_at: 5,
    };
    s.put_policy_recorded(&policy("kept"), Some(entry("admin:k", 5)))
        .await
        .unwrap();
    db.inject(
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN \
           IF NEW.actor = 'admin:refused' THEN RAISE EXCEPTION 'injected'; END IF; \
           RETURN NEW; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER refuse BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .await;
    let err = s
        .put_policy_recorded(&policy("lost"), Some(entry("admin:refused", 6)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    let ids: Vec<_> = s
        .list_policies("resource")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ["kept"]);
    // The same for a completion: the nonce is not spent without its record.
    s.insert_session(&session("failing", 1_000)).await.unwrap();
    assert!(s
        .complete_session_audited("failing", 10, None, entry("admin:refused", 10))
        .await
        .is_err());
    assert!(!s.get_session("failing").await.unwrap().unwrap().used);
    // Deleting nothing records nothing.
    assert!(!s
        .delete_resource_recorded("none/such/thing", Some(entry("admin:k", 7)))
        .await
        .unwrap());
    assert_eq!(s.list_audit(0, 10).await.unwrap().len(), 1);
    db.drop().await;
}

#[tokio::test]
async fn resources_keys_and_reference_values_round_trip() {
    let Some(db) = schema("records").await else {
        return;
    };
    let a = Store::open_postgres(&db.options()).await.unwrap();
    let b = Store::open_postgres(&db.options()).await.unwrap();
    a.put_resource("repo/key/1", b"sealed-1", 1).await.unwrap();
    assert_eq!(
        b.get_resource("repo/key/1").await.unwrap().as_deref(),
        Some(&b"sealed-1"[..])
    );
    // B keeps its copy until told that others may have changed it.
    a.put_resource("repo/key/1", b"sealed-2", 2).await.unwrap();
    assert_eq!(
        a.get_resource("repo/key/1").await.unwrap().unwrap(),
        b"sealed-2"
    );
    assert_eq!(
        b.get_resource("repo/key/1").await.unwrap().unwrap(),
        b"sealed-1"
    );
    b.forget_cached_resources();
    assert_eq!(
        b.get_resource("repo/key/1").await.unwrap().unwrap(),
        b"sealed-2"
    );
    assert_eq!(b.list_resources().await.unwrap(), ["repo/key/1"]);
    assert!(a.delete_resource("repo/key/1").await.unwrap());
    assert_eq!(a.get_resource("repo/key/1").await.unwrap(), None);

    let rv = ReferenceValue {
        name: "snp.measurement".into(),
        values: vec![serde_json::json!("ab12"), serde_json::json!(7)],
        expires_at: Some(99),
        updated_at: 3,
    };
    a.put_reference_value(&rv).await.unwrap();
    assert_eq!(
        b.list_reference_values().await.unwrap(),
        std::slice::from_ref(&rv)
    );
    assert!(b.delete_reference_value(&rv.name).await.unwrap());
    assert!(a.list_reference_values().await.unwrap().is_empty());

    let key = |kid: &str, at: i64| SigningKeyRecord {
        kid: kid.into(),
        sealed: vec![1, 2, 3],
        public_jwk: "{}".into(),
        created_at: at,
        retired_at: None,
    };
    a.put_signing_key(&key("k1", 1)).await.unwrap();
    assert!(b
        .rotate_signing_key(&key("k2", 2), 50, Some(entry("system", 50)), None)
        .await
        .unwrap());
    // A second node finding the same rotation due (its active key is k1,
    // made at 1) leaves k2 standing.
    assert!(!a
        .rotate_signing_key(&key("k3", 3), 51, Some(entry("system", 51)), Some(1))
        .await
        .unwrap());
    let keys = a.list_signing_keys().await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.kid.as_str(), k.retired_at))
            .collect::<Vec<_>>(),
        [("k1", Some(50)), ("k2", None)]
    );
    assert_eq!(keys[0].sealed, [1, 2, 3]);
    // A kid is unique: a second key under the same kid is refused.
    assert!(a.put_signing_key(&key("k2", 3)).await.is_err());
    assert_eq!(a.drop_retired_keys(60).await.unwrap(), 1);
    assert_eq!(a.list_signing_keys().await.unwrap().len(), 1);
    assert!(a.delete_policy("resource", "none").await.is_ok_and(|d| !d));
    db.drop().await;
}

/// Collateral one node fetched is read by another; an older fetch never
/// replaces a newer one.
#[tokio::test]
async fn collateral_is_shared_and_keeps_the_newest_fetch() {
    let Some(db) = schema("collateral").await else {
        return;
    };
    let a = Store::open_postgres(&db.options()).await.unwrap();
    let b = Store::open_postgres(&db.options()).await.unwrap();
    assert_eq!(b.get_collateral("kds:x").await.unwrap(), None);
    a.put_collateral("kds:x", b"second", 20).await.unwrap();
    b.put_collateral("kds:x", b"first", 10).await.unwrap();
    let got = b.get_collateral("kds:x").await.unwrap().unwrap();
    assert_eq!((got.body.as_slice(), got.fetched_at), (&b"second"[..], 20));
    b.put_collateral("kds:x", b"third", 30).await.unwrap();
    let got = a.get_collateral("kds:x").await.unwrap().unwrap();
    assert_eq!((got.body.as_slice(), got.fetched_at), (&b"third"[..], 30));
    a.put_collateral("kds:vcek:a", b"old", 5).await.unwrap();
    a.put_collateral("kds:vcek:b", b"new", 50).await.unwrap();
    a.put_collateral("kds:vcekXa", b"other", 5).await.unwrap();
    assert_eq!(b.purge_collateral("kds:vcek:", 40).await.unwrap(), 1);
    assert_eq!(b.purge_collateral("kds:v_ek:", 100).await.unwrap(), 0);
    assert_eq!(a.get_collateral("kds:vcek:a").await.unwrap(), None);
    assert!(a.get_collateral("kds:vcekXa").await.unwrap().is_some());
}

#[tokio::test]
async fn purge_removes_dead_sessions_in_steps_and_keeps_live_tokens() {
    let Some(db) = schema("purge").await else {
        return;
    };
    let s = Store::open_postgres(&db.options()).await.unwrap();
    for i in 0..1_203 {
        s.insert_session(&session(&format!("s{i:05}"), 100 + (i % 7)))
            .await
            .unwrap();
    }
    // A used session whose token outlives its nonce stays until then.
    s.insert_session(&session("live", 100)).await.unwrap();
    s.complete_session("live", 50, Some(("tok", 10_000)))
        .await
        .unwrap();
    assert_eq!(s.purge(1_000).await.unwrap(), 1_203);
    // Read through another node, which has no copy of its own.
    let other = Store::open_postgres(&db.options()).await.unwrap();
    assert!(other.get_session("live").await.unwrap().is_some());
    assert!(other.get_session("s00000").await.unwrap().is_none());
    assert_eq!(s.purge(20_000).await.unwrap(), 1);
    assert!(other.get_session("live").await.unwrap().is_none());
    db.drop().await;
}

#[tokio::test]
async fn retention_removes_the_oldest_entries_and_the_chain_still_verifies() {
    let Some(db) = schema("retention").await else {
        return;
    };
    let s = Store::open_postgres(&db.options()).await.unwrap();
    for at in 1..=10 {
        s.append_audit(&entry("system", at)).await.unwrap();
    }
    let removed = s
        .prune_audit(6, 100, 20, "system".into(), |n, last| {
            format!("{{\"removed\":{n},\"through\":{last}}}")
        })
        .await
        .unwrap();
    assert_eq!(removed, 5);
    let check = s.verify_audit().await.unwrap();
    assert_eq!((check.starts_after, check.first_broken), (Some(5), None));
    assert_eq!(check.entries, 6, "five kept and the audit.prune entry");
    // A forged anchor is refused by retention and reported by verification.
    db.inject("UPDATE audit_anchor SET seq = 6").await;
    let err = s
        .prune_audit(100, 100, 30, "system".into(), |_, _| "{}".into())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(s.verify_audit().await.unwrap().first_broken.is_some());
    db.drop().await;
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_bad_settings_are_errors() {
    let Some(db) = schema("schema").await else {
        return;
    };
    // Several nodes starting together migrate once.
    let options = db.options();
    let (a, b) = tokio::join!(
        Store::open_postgres(&options),
        Store::open_postgres(&options)
    );
    a.unwrap()
        .ping(std::time::Duration::from_secs(5))
        .await
        .unwrap();
    b.unwrap();
    let steps = db
        .admin
        .query_one(
            &format!("SELECT COUNT(*) FROM \"{}\".mamori_schema", db.schema),
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    // One row per step (two so far), however many nodes started.
    assert_eq!(steps, 2, "the schema was migrated more than once");
    // A role that may only read and write the tables starts on the
    // migrated schema (it runs no DDL then).
    let role = format!("mamori_dml_{}", std::process::id());
    db.admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; \
             GRANT USAGE ON SCHEMA \"{s}\" TO {role}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{s}\" TO {role}",
            s = db.schema
        ))
        .await
        .unwrap();
    let limited = PostgresOptions {
        url: format!("{} user={role}", db.url()),
        ..db.options()
    };
    let started = async {
        let s = Store::open_postgres(&limited).await?;
        s.insert_session(&session("dml-only", 1_000)).await
    }
    .await;
    db.admin
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .await
        .unwrap();
    started.unwrap();
    db.inject("INSERT INTO mamori_schema (version) VALUES (99)")
        .await;
    let err = Store::open_postgres(&db.options()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Migration(ref m) if m.contains("99")),
        "{err}"
    );
    let bad = PostgresOptions {
        url: "postgres://[::1".into(),
        password: None,
        pool_size: 1,
        ca_pem: None,
        client_cert: None,
    };
    assert!(matches!(
        Store::open_postgres(&bad).await.unwrap_err(),
        StoreError::Config(_)
    ));
    // Nothing listens on port 1: an error, not a hang or a panic.
    let closed = PostgresOptions {
        url: "host=127.0.0.1 port=1 user=postgres connect_timeout=2".into(),
        password: None,
        pool_size: 1,
        ca_pem: None,
        client_cert: None,
    };
    assert!(Store::open_postgres(&closed).await.is_err());
    db.drop().await;
}

#[tokio::test]
async fn tls_connections_verify_the_servers_certificate() {
    let Some(db) = schema("tls").await else {
        return;
    };
    let row = db
        .admin
        .query_one(
            "SELECT current_setting('ssl'), current_setting('ssl_cert_file')",
            &[],
        )
        .await
        .unwrap();
    let (ssl, cert_file): (String, String) = (row.get(0), row.get(1));
    // Debian's default server certificate names localhost; another one
    // cannot be checked against a host name known here.
    let debian_default = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let pem = match std::fs::read(&cert_file) {
        Ok(pem)
            if ssl == "on"
                && cert_file == debian_default
                && std::env::var("MAMORI_TEST_POSTGRES").is_err() =>
        {
            pem
        }
        _ => {
            eprintln!("skipped: the server's certificate is not Debian's default one ({ssl}, {cert_file})");
            db.drop().await;
            return;
        }
    };
    let url = |mode: &str| {
        format!(
            "host=localhost port=5432 user=postgres dbname=test sslmode={mode} \
             options='-c search_path={}'",
            db.schema
        )
    };
    let options = |mode: &str, ca: Option<Vec<u8>>| PostgresOptions {
        url: url(mode),
        password: None,
        pool_size: 2,
        ca_pem: ca,
        client_cert: None,
    };
    // The server's certificate as its CA: TLS, verified.
    let s = Store::open_postgres(&options("require", Some(pem.clone())))
        .await
        .unwrap();
    assert_eq!(s.is_encrypted(), Some(true));
    s.insert_session(&session("over-tls", 1_000)).await.unwrap();
    // A CA with the default sslmode (prefer) is TLS too, never a fallback
    // to plain text.
    let s = Store::open_postgres(&options("prefer", Some(pem.clone())))
        .await
        .unwrap();
    assert_eq!(s.is_encrypted(), Some(true));
    // Required but not trusted: refused, never an unverified session.
    let err = Store::open_postgres(&options("require", None))
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // Plain when nothing asks for TLS, and said so.
    let plain = Store::open_postgres(&options("prefer", None))
        .await
        .unwrap();
    assert_eq!(plain.is_encrypted(), Some(false));
    // A CA with TLS switched off, or a CA file without certificates: errors.
    for bad in [
        options("disable", Some(pem)),
        options("require", Some(b"not a certificate".to_vec())),
    ] {
        assert!(matches!(
            Store::open_postgres(&bad).await.unwrap_err(),
            StoreError::Config(_)
        ));
    }
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audited_writes_commit_in_groups_and_a_bad_one_fails_alone() {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(db) = schema("groups").await else {
        return;
    };
    let s = Store::open_postgres(&db.options()).await.unwrap();
    for i in 0..40 {
        s.insert_session(&session(&format!("g{i:02}"), 1_000))
            .await
            .unwrap();
    }
    let stats = || {
        (
            s.write_stats().commits.load(Relaxed),
            s.write_stats().writes.load(Relaxed),
        )
    };
    // Many at once: fewer commits than writes.
    let before = stats();
    let appends: Vec<_> = (0..64)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.append_audit(&entry("release", 9)).await.unwrap() })
        })
        .collect();
    for t in appends {
        t.await.unwrap();
    }
    let (commits, writes) = (stats().0 - before.0, stats().1 - before.1);
    assert_eq!(writes, 64);
    assert!(
        commits < writes,
        "{commits} commits for {writes} writes: no grouping"
    );
    // One write of a group fails: only it.
    db.inject(
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN \
           IF NEW.actor = 'refused' THEN RAISE EXCEPTION 'injected'; END IF; \
           RETURN NEW; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER refuse BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..80 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let id = format!("g{:02}", i / 2);
                let actor = if i == 42 {
                    "refused".to_owned()
                } else {
                    format!("tee:{id}")
                };
                s.complete_session_audited(&id, 10, Some(("tok", 99)), entry(&actor, 10))
                    .await
                    .map(|(c, e)| (c == Completion::Done, e.is_some()))
            } else {
                s.append_audit(&entry("release", 10))
                    .await
                    .map(|_| (true, true))
            }
        }));
    }
    let mut failed = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(done) => assert_eq!(done, (true, true), "write {i}"),
            Err(e) => failed.push((i, e.to_string())),
        }
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, 42);
    assert!(failed[0].1.contains("injected"), "{failed:?}");
    // The refused completion left its nonce unspent; the 79 others are in
    // one unbroken chain.
    assert!(!s.get_session("g21").await.unwrap().unwrap().used);
    let check = s.verify_audit().await.unwrap();
    assert_eq!((check.entries, check.first_broken), (64 + 79, None));
    db.drop().await;
}

/// A node that holds the audit lock and stops answering (here: another
/// session holding it) makes the others' audited writes fail after the
/// lock timeout, not hang; once it is gone, they go on and the chain holds.
#[tokio::test]
async fn a_held_audit_lock_times_out_instead_of_hanging() {
    // `pg.rs`'s AUDIT_LOCK.
    const AUDIT_LOCK: i64 = 0x6d61_6d6f_7269_0002;
    let Some(db) = schema("lockwait").await else {
        return;
    };
    let s = Store::open_postgres(&db.options_with("-c lock_timeout=300"))
        .await
        .unwrap();
    s.insert_session(&session("waiting", 1_000)).await.unwrap();
    db.admin
        .execute("SELECT pg_advisory_lock($1)", &[&AUDIT_LOCK])
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let err = s
        .complete_session_audited("waiting", 10, Some(("tok", 99)), entry("tee:waiting", 10))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("lock timeout"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Nothing of it was stored: the nonce is still unspent.
    assert!(!s.get_session("waiting").await.unwrap().unwrap().used);
    db.admin
        .execute("SELECT pg_advisory_unlock($1)", &[&AUDIT_LOCK])
        .await
        .unwrap();
    let (c, e) = s
        .complete_session_audited("waiting", 10, Some(("tok", 99)), entry("tee:waiting", 10))
        .await
        .unwrap();
    assert_eq!((c, e.map(|e| e.seq)), (Completion::Done, Some(1)));
    assert_eq!(s.verify_audit().await.unwrap().first_broken, None);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_node_is_announced_to_the_others() {
    let Some(db) = schema("notify").await else {
        return;
    };
    let a = Store::open_postgres(&db.options()).await.unwrap();
    let b = Store::open_postgres(&db.options()).await.unwrap();
    let mut changes = b.changes().expect("a shared store announces changes");
    // The listening connection is set up in the background.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    changes.mark_unchanged();
    let within = std::time::Duration::from_secs(3);
    a.put_resource("repo/key/1", b"sealed", 1).await.unwrap();
    tokio::time::timeout(within, changes.changed())
        .await
        .expect("announced")
        .unwrap();
    // Sessions and audit entries are not announced: every attestation
    // would wake every node.
    changes.mark_unchanged();
    a.insert_session(&session("quiet", 1_000)).await.unwrap();
    a.append_audit(&entry("release", 2)).await.unwrap();
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), changes.changed())
            .await
            .is_err(),
        "a session or an audit entry woke the other nodes"
    );
    assert!(a.delete_reference_value("none").await.is_ok_and(|d| !d));
    a.put_policy_recorded(
        &PolicyRecord {
            kind: "resource".into(),
            id: "p".into(),
            source: "package x".into(),
            digest: "d".into(),
            updated_at: 3,
        },
        Some(entry("admin:k", 3)),
    )
    .await
    .unwrap();
    tokio::time::timeout(within, changes.changed())
        .await
        .expect("announced")
        .unwrap();
    // The listening connection is cut: it comes back, counts as a change
    // (announcements may have been missed meanwhile), and hears the next.
    changes.mark_unchanged();
    db.admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE query = 'LISTEN mamori_changes' AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap();
    tokio::time::timeout(within, changes.changed())
        .await
        .expect("the reconnect counts as a change")
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    changes.mark_unchanged();
    a.delete_resource("repo/key/1").await.unwrap();
    tokio::time::timeout(within, changes.changed())
        .await
        .expect("announced after the reconnect")
        .unwrap();
    assert!(Store::open_in_memory().await.unwrap().changes().is_none());
    db.drop().await;
}

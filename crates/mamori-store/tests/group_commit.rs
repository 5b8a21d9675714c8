//! The rusqlite store's write path: many writers share one transaction
//! (group commit), each write in its own savepoint, acknowledged only after
//! COMMIT; and the schema bookkeeping (PRAGMA user_version, adoption of a
//! database created by the earlier sqlx-based store).
#![allow(clippy::unwrap_used)]

mod common;

use common::{inject, session, TempDir};
use mamori_store::{
    AuditEntry, Completion, NewAuditEntry, PolicyRecord, SessionRecord, Store, StoreError,
    GENESIS_HASH,
};
use rusqlite::Connection;
use std::time::{Duration, Instant};

const NOW: i64 = 1_000;
/// The schema version this build writes (the last migration's number).
const LATEST_SCHEMA: i64 = 7;

const MIGRATION_1: &str = include_str!("../migrations/0001_init.sql");
const MIGRATION_2: &str = include_str!("../migrations/0002_session_evidence.sql");

/// The table sqlx's migrator keeps (sqlx 0.8, SQLite).
const SQLX_MIGRATIONS: &str = "CREATE TABLE _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);";

fn entry(i: usize, k: usize) -> NewAuditEntry {
    NewAuditEntry {
        at: NOW + i as i64,
        actor: format!("tee:{i}"),
        action: "attestation".into(),
        subject: format!("entry-{i}-{k}"),
        outcome: "ok".into(),
        detail: format!("{{\"k\":{k}}}"),
    }
}

fn sealed(i: usize) -> Vec<u8> {
    format!("sealed-{i}").into_bytes()
}

fn user_version(c: &Connection) -> i64 {
    c.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn has_table(c: &Connection, name: &str) -> bool {
    has_object(c, "table", name)
}

fn has_index(c: &Connection, name: &str) -> bool {
    has_object(c, "index", name)
}

fn has_object(c: &Connection, kind: &str, name: &str) -> bool {
    c.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = ?1 AND name = ?2",
        [kind, name],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

/// Checks that `entries` (in any order) are exactly seq 1..=n, each linked
/// to the one before, starting from the genesis hash.
fn assert_one_chain(entries: &mut [AuditEntry]) {
    entries.sort_by_key(|e| e.seq);
    let mut prev = GENESIS_HASH.to_owned();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(
            e.seq,
            i as i64 + 1,
            "audit seqs are 1..=n without gaps or repeats"
        );
        assert_eq!(e.prev_hash, prev, "entry {} links to the one before", e.seq);
        prev = e.hash.clone();
    }
}

/// Takes the database's write lock from another connection, so that the
/// store's writer thread blocks in `BEGIN IMMEDIATE` on the write queued
/// next; what is queued while it waits goes into one batch. The lock is
/// released `hold` later by a thread of its own.
fn hold_write_lock(path: &std::path::Path, hold: Duration) -> std::thread::JoinHandle<()> {
    let c = Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(hold);
        c.execute_batch("COMMIT").unwrap();
    })
}

// ---- group commit under load -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_writers_are_all_committed_and_survive_reopening() {
    const TASKS: usize = 500;
    const BATCH: usize = 8;
    let dir = TempDir::new("many-writers");
    let store = Store::open(&dir.db()).await.unwrap();

    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut audit = Vec::new();
            match i % 4 {
                0 => {
                    let id = format!("done-{i}");
                    s.insert_session(&session(&id, NOW + 100)).await.unwrap();
                    // Not in its final state: read from the database, on a
                    // reader connection, right after the acknowledgement.
                    let read = s.get_session(&id).await.unwrap();
                    assert_eq!(read.unwrap().nonce, format!("nonce-{id}"));
                    let tok = format!("tok-{i}");
                    let done = s
                        .complete_session(&id, NOW, Some((&tok, NOW + 500)))
                        .await
                        .unwrap();
                    assert_eq!(done, Completion::Done);
                }
                1 => audit.push(s.append_audit(&entry(i, 0)).await.unwrap()),
                2 => {
                    let path = format!("default/key/{i}");
                    s.put_resource(&path, &sealed(i), NOW).await.unwrap();
                    // Acknowledged means committed: another connection sees it.
                    assert_eq!(s.get_resource(&path).await.unwrap(), Some(sealed(i)));
                }
                _ => {
                    s.insert_session(&session(&format!("open-{i}"), NOW + 100))
                        .await
                        .unwrap();
                    let batch: Vec<_> = (0..BATCH).map(|k| entry(i, k)).collect();
                    let got = s.append_audit_batch(&batch).await.unwrap();
                    assert_eq!(got.len(), BATCH);
                    for w in got.windows(2) {
                        assert_eq!(w[1].seq, w[0].seq + 1, "one call's entries are consecutive");
                        assert_eq!(w[1].prev_hash, w[0].hash);
                    }
                    audit.extend(got);
                }
            }
            audit
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.extend(t.await.unwrap());
    }
    let expected_entries = TASKS / 4 * (1 + BATCH);
    assert_eq!(acknowledged.len(), expected_entries);
    assert_one_chain(&mut acknowledged);
    drop(store);

    // Everything acknowledged is in the file.
    let s = Store::open(&dir.db()).await.unwrap();
    let check = s.verify_audit().await.unwrap();
    assert_eq!(check.first_broken, None, "{:?}", check.reason);
    assert_eq!(check.entries, expected_entries as u64);
    assert_eq!(check.head, acknowledged.last().unwrap().hash);
    assert_eq!(
        s.list_audit(0, expected_entries as i64 + 10).await.unwrap(),
        acknowledged,
        "the stored chain is the one the writers were handed"
    );
    for i in 0..TASKS {
        match i % 4 {
            0 => {
                let r = s.get_session(&format!("done-{i}")).await.unwrap().unwrap();
                assert!(r.used);
                assert_eq!(r.token, Some(format!("tok-{i}")));
                assert_eq!(r.token_exp, Some(NOW + 500));
            }
            2 => assert_eq!(
                s.get_resource(&format!("default/key/{i}")).await.unwrap(),
                Some(sealed(i))
            ),
            3 => assert!(
                !s.get_session(&format!("open-{i}"))
                    .await
                    .unwrap()
                    .unwrap()
                    .used
            ),
            _ => {}
        }
    }
    assert_eq!(s.list_resources().await.unwrap().len(), TASKS / 4);
    assert_eq!(
        s.count_open_sessions(NOW).await.unwrap(),
        (TASKS / 4) as i64
    );
    drop(s);

    let c = Connection::open(dir.db()).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    assert_eq!(user_version(&c), LATEST_SCHEMA);
    let with_token: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM sessions WHERE used = 1 AND token IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(with_token, (TASKS / 4) as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_keep_one_audit_chain_under_load() {
    const PER_STORE: usize = 150;
    let dir = TempDir::new("two-stores");
    let a = Store::open(&dir.db()).await.unwrap();
    let b = Store::open(&dir.db()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..2 * PER_STORE {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.insert_session(&session(&format!("s-{i}"), NOW + 100))
                .await
                .unwrap();
            s.append_audit(&entry(i, 0)).await.unwrap()
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.push(t.await.unwrap());
    }
    assert_one_chain(&mut acknowledged);
    for s in [&a, &b] {
        let check = s.verify_audit().await.unwrap();
        assert_eq!(check.first_broken, None, "{:?}", check.reason);
        assert_eq!(check.entries, 2 * PER_STORE as u64);
        assert_eq!(
            s.count_open_sessions(NOW).await.unwrap(),
            2 * PER_STORE as i64
        );
    }
}

// ---- a failing write in a batch ------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_does_not_undo_the_others_in_its_batch() {
    let dir = TempDir::new("failing-write");
    let path = dir.db();
    let s = Store::open(&path).await.unwrap();
    for id in ["dup", "first", "replayer", "honest"] {
        s.insert_session(&session(id, NOW + 100)).await.unwrap();
    }
    assert_eq!(
        s.complete_session("first", NOW, Some(("tok-first", NOW + 500)))
            .await
            .unwrap(),
        Completion::Done
    );
    s.append_audit(&entry(0, 0)).await.unwrap();
    // An audit append that fails part-way (after two of its rows went in),
    // as a constraint violation on its third row would.
    inject(
        &path,
        "CREATE TRIGGER inject_abort BEFORE INSERT ON audit WHEN NEW.actor = 'inject-failure' \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    );
    let mut failing = entry(2, 2);
    failing.actor = "inject-failure".into();

    let release = hold_write_lock(&path, Duration::from_millis(500));
    let sentinel = {
        let s = s.clone();
        tokio::spawn(async move { s.put_resource("sentinel", b"x", NOW).await })
    };
    // The writer thread takes the sentinel and waits for the lock; what
    // follows is queued meanwhile, all in one poll, and committed together.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let dup = SessionRecord {
        nonce: "another-nonce".into(),
        ..session("dup", NOW + 100)
    };
    let new = session("new", NOW + 100);
    let (a1, a2, a3) = (
        entry(1, 0),
        [entry(2, 0), entry(2, 1), failing],
        entry(3, 0),
    );
    let (r_dup, r_new, r_replay, r_honest, r_audit1, r_audit_bad, r_audit3, r_res) = tokio::join!(
        s.insert_session(&dup),
        s.insert_session(&new),
        s.complete_session("first", NOW, Some(("tok-replayer", NOW + 500))),
        s.complete_session("honest", NOW, Some(("tok-honest", NOW + 500))),
        s.append_audit(&a1),
        s.append_audit_batch(&a2),
        s.append_audit(&a3),
        s.put_resource("default/key/batched", b"sealed", NOW),
    );
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "the writes were queued behind the held lock (one batch)"
    );
    release.join().unwrap();
    sentinel.await.unwrap().unwrap();

    assert!(
        matches!(&r_dup, Err(StoreError::Database(_))),
        "a duplicate session id is refused: {r_dup:?}"
    );
    r_new.unwrap();
    assert_eq!(r_replay.unwrap(), Completion::AlreadyUsed);
    assert_eq!(r_honest.unwrap(), Completion::Done);
    let e1 = r_audit1.unwrap();
    let bad = r_audit_bad.unwrap_err();
    assert!(bad.to_string().contains("injected failure"), "{bad}");
    let e3 = r_audit3.unwrap();
    assert_eq!((e1.seq, e3.seq), (2, 3), "the failed append took no seq");
    assert_eq!(e3.prev_hash, e1.hash);
    r_res.unwrap();
    drop(s);

    let s = Store::open(&path).await.unwrap();
    // The refused duplicate left the original alone.
    assert_eq!(
        s.get_session("dup").await.unwrap().unwrap().nonce,
        "nonce-dup"
    );
    assert!(!s.get_session("new").await.unwrap().unwrap().used);
    // The second completion of a spent session changed nothing.
    assert!(!s.get_session("replayer").await.unwrap().unwrap().used);
    let honest = s.get_session("honest").await.unwrap().unwrap();
    assert_eq!(honest.token.as_deref(), Some("tok-honest"));
    assert_eq!(
        s.get_session("first")
            .await
            .unwrap()
            .unwrap()
            .token
            .as_deref(),
        Some("tok-first")
    );
    assert_eq!(
        s.get_resource("sentinel").await.unwrap(),
        Some(b"x".to_vec())
    );
    assert_eq!(
        s.get_resource("default/key/batched").await.unwrap(),
        Some(b"sealed".to_vec())
    );
    let check = s.verify_audit().await.unwrap();
    assert_eq!(check.first_broken, None, "{:?}", check.reason);
    assert_eq!(check.entries, 3);
    let subjects: Vec<String> = s
        .list_audit(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.subject)
        .collect();
    assert_eq!(subjects, ["entry-0-0", "entry-1-0", "entry-3-0"]);
    drop(s);

    let c = Connection::open(&path).unwrap();
    let tokens: Vec<(String, Option<String>)> = c
        .prepare("SELECT id, token FROM sessions ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tokens,
        [
            ("dup".to_owned(), None),
            ("first".to_owned(), Some("tok-first".to_owned())),
            ("honest".to_owned(), Some("tok-honest".to_owned())),
            ("new".to_owned(), None),
            ("replayer".to_owned(), None),
        ]
    );
}

/// An error that makes SQLite roll back the whole transaction (SQLITE_FULL,
/// SQLITE_IOERR, SQLITE_NOMEM can; `RAISE(ROLLBACK)` always does) in the
/// middle of a batch. Whatever the store then does, what it reports must
/// match what is stored: a write reported failed must have left nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_aborting_error_mid_batch_does_not_misreport_the_rest() {
    let dir = TempDir::new("aborting-write");
    let path = dir.db();
    let s = Store::open(&path).await.unwrap();
    inject(
        &path,
        "CREATE TRIGGER inject_rollback BEFORE INSERT ON resources WHEN NEW.path = 'boom' \
         BEGIN SELECT RAISE(ROLLBACK, 'injected transaction abort'); END;",
    );
    let release = hold_write_lock(&path, Duration::from_millis(500));
    let sentinel = {
        let s = s.clone();
        tokio::spawn(async move { s.put_resource("sentinel", b"x", NOW).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (before, boom, after) = tokio::join!(
        s.put_resource("before", b"1", NOW),
        s.put_resource("boom", b"2", NOW),
        s.put_resource("after", b"3", NOW),
    );
    release.join().unwrap();
    sentinel.await.unwrap().unwrap();

    assert!(boom.is_err());
    assert_eq!(s.get_resource("boom").await.unwrap(), None);
    for (name, result) in [("before", &before), ("after", &after)] {
        let stored = s.get_resource(name).await.unwrap().is_some();
        assert_eq!(
            result.is_ok(),
            stored,
            "write {name:?} was reported {result:?} but is {}stored",
            if stored { "" } else { "not " }
        );
    }
}

/// The same with audit appends, which run in a savepoint: the failing
/// append must report its own error (not the savepoint's), and the chain
/// must hold exactly the appends reported committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_aborting_audit_append_reports_its_own_error_and_no_other() {
    let dir = TempDir::new("aborting-audit");
    let path = dir.db();
    let s = Store::open(&path).await.unwrap();
    inject(
        &path,
        "CREATE TRIGGER inject_rollback BEFORE INSERT ON audit WHEN NEW.actor = 'boom' \
         BEGIN SELECT RAISE(ROLLBACK, 'injected transaction abort'); END;",
    );
    let release = hold_write_lock(&path, Duration::from_millis(500));
    let sentinel = {
        let s = s.clone();
        tokio::spawn(async move { s.append_audit(&entry(0, 0)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut boom = entry(2, 0);
    boom.actor = "boom".into();
    let (e1, e3) = (entry(1, 0), entry(3, 0));
    let (r1, r_boom, r3) = tokio::join!(
        s.append_audit(&e1),
        s.append_audit(&boom),
        s.append_audit(&e3)
    );
    release.join().unwrap();
    sentinel.await.unwrap().unwrap();

    let err = r_boom.unwrap_err().to_string();
    let stored: Vec<String> = s
        .list_audit(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.subject)
        .collect();
    assert!(
        err.contains("injected transaction abort"),
        "the failing append reports its own error: {err}"
    );
    for (subject, result) in [("entry-1-0", &r1), ("entry-3-0", &r3)] {
        assert_eq!(
            result.is_ok(),
            stored.iter().any(|x| x == subject),
            "append {subject} was reported {result:?}; stored: {stored:?}"
        );
    }
    let check = s.verify_audit().await.unwrap();
    assert_eq!(check.first_broken, None, "{:?}", check.reason);
}

// ---- schema versions ------------------------------------------------------

/// A database as the sqlx-based store left it: both migrations applied and
/// recorded in `_sqlx_migrations`, `user_version` never set.
#[tokio::test]
async fn a_legacy_sqlx_database_is_adopted_with_its_rows() {
    let dir = TempDir::new("legacy-v2");
    let path = dir.db();
    {
        let c = Connection::open(&path).unwrap();
        let mode: String = c
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        c.execute_batch(MIGRATION_1).unwrap();
        c.execute_batch(MIGRATION_2).unwrap();
        c.execute_batch(SQLX_MIGRATIONS).unwrap();
        c.execute_batch(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES
                 (1, 'init', TRUE, X'00', 1), (2, 'session evidence', TRUE, X'00', 1);
             INSERT INTO sessions (id, tee, nonce, created_at, expires_at, used, token, token_exp, evidence) VALUES
                 ('legacy-done', 'snp', 'n1', 100, 2000, 1, 'legacy-token', 3000, 'legacy-evidence'),
                 ('legacy-open', 'snp', 'n2', 100, 2000, 0, NULL, NULL, NULL),
                 ('legacy-open2', 'snp', 'n3', 100, 2000, 0, NULL, NULL, NULL);
             INSERT INTO resources (path, sealed, updated_at) VALUES ('default/key/legacy', X'C0FFEE', 5);
             INSERT INTO policies (kind, id, source, digest, updated_at) VALUES ('appraisal', 'snp', 'package p', 'd', 6);
             INSERT INTO reference_values (name, vals, expires_at, updated_at) VALUES ('m', '[\"ab\"]', NULL, 7);
             INSERT INTO signing_keys (kid, sealed, public_jwk, created_at, retired_at) VALUES ('k1', X'01', '{}', 8, NULL);",
        )
        .unwrap();
        assert_eq!(user_version(&c), 0);
    }

    let s = Store::open(&path).await.unwrap();
    let done = s.get_session("legacy-done").await.unwrap().unwrap();
    assert!(done.used);
    assert_eq!(done.token.as_deref(), Some("legacy-token"));
    assert_eq!(
        s.get_resource("default/key/legacy").await.unwrap(),
        Some(vec![0xC0, 0xFF, 0xEE])
    );
    assert_eq!(
        s.list_policies("appraisal").await.unwrap(),
        [PolicyRecord {
            kind: "appraisal".into(),
            id: "snp".into(),
            source: "package p".into(),
            digest: "d".into(),
            updated_at: 6,
        }]
    );
    assert_eq!(
        s.list_reference_values().await.unwrap()[0].values,
        [serde_json::json!("ab")]
    );
    assert_eq!(s.list_signing_keys().await.unwrap()[0].kid, "k1");
    // The legacy evidence index is gone: sessions complete without it.
    assert!(!has_index(
        &Connection::open(&path).unwrap(),
        "sessions_evidence"
    ));
    assert_eq!(
        s.complete_session("legacy-open", NOW, None).await.unwrap(),
        Completion::Done
    );
    assert_eq!(
        s.complete_session("legacy-open2", NOW, Some(("t", 3000)))
            .await
            .unwrap(),
        Completion::Done
    );
    let first = s.append_audit(&entry(0, 0)).await.unwrap();
    assert_eq!((first.seq, first.prev_hash.as_str()), (1, GENESIS_HASH));
    drop(s);

    {
        let c = Connection::open(&path).unwrap();
        assert_eq!(user_version(&c), LATEST_SCHEMA);
        let legacy_rows: i64 = c
            .query_row("SELECT COUNT(*) FROM _sqlx_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(legacy_rows, 2);
    }
    // Opened again, now by its user_version.
    let s = Store::open(&path).await.unwrap();
    assert_eq!(s.verify_audit().await.unwrap().entries, 1);
    assert!(s.get_session("legacy-open2").await.unwrap().unwrap().used);
}

/// A database the sqlx-based store created before migration 2 existed.
#[tokio::test]
async fn a_legacy_database_at_version_1_gets_the_second_step() {
    let dir = TempDir::new("legacy-v1");
    let path = dir.db();
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(MIGRATION_1).unwrap();
        c.execute_batch(SQLX_MIGRATIONS).unwrap();
        c.execute_batch(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES
                 (1, 'init', TRUE, X'00', 1);
             INSERT INTO sessions (id, tee, nonce, created_at, expires_at, used) VALUES
                 ('old', 'snp', 'n1', 100, 2000, 0);
             INSERT INTO evidence_seen (digest, seen_at) VALUES ('d', 1);",
        )
        .unwrap();
    }
    let s = Store::open(&path).await.unwrap();
    assert_eq!(s.get_session("old").await.unwrap().unwrap().nonce, "n1");
    assert_eq!(
        s.complete_session("old", NOW, None).await.unwrap(),
        Completion::Done
    );
    drop(s);
    let c = Connection::open(&path).unwrap();
    assert_eq!(user_version(&c), LATEST_SCHEMA);
    assert!(!has_table(&c, "evidence_seen"));
    assert!(!has_index(&c, "sessions_evidence"));
    let used: bool = c
        .query_row("SELECT used FROM sessions WHERE id = 'old'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(used);
}

#[tokio::test]
async fn a_database_from_a_newer_schema_is_refused() {
    let dir = TempDir::new("newer");
    let path = dir.db();
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    match Store::open(&path).await {
        Err(StoreError::Migration(msg)) => assert!(msg.contains("99"), "{msg}"),
        other => panic!("expected a migration error, got {other:?}"),
    }
    let c = Connection::open(&path).unwrap();
    assert_eq!(user_version(&c), 99);
    assert!(
        !has_table(&c, "sessions"),
        "no schema step ran on a refused database"
    );
}

#[tokio::test]
async fn a_legacy_database_from_a_newer_schema_is_refused() {
    let dir = TempDir::new("legacy-newer");
    let path = dir.db();
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(MIGRATION_1).unwrap();
        c.execute_batch(MIGRATION_2).unwrap();
        c.execute_batch(SQLX_MIGRATIONS).unwrap();
        c.execute_batch(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES
                 (1, 'init', TRUE, X'00', 1), (2, 'session evidence', TRUE, X'00', 1),
                 (99, 'from the future', TRUE, X'00', 1);",
        )
        .unwrap();
    }
    assert!(matches!(
        Store::open(&path).await,
        Err(StoreError::Migration(_))
    ));
}

// ---- in-memory store -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_store_serves_many_tasks() {
    const TASKS: usize = 200;
    let s = Store::open_in_memory().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("m-{i}");
            s.insert_session(&session(&id, NOW + 100)).await.unwrap();
            assert!(!s.get_session(&id).await.unwrap().unwrap().used);
            let path = format!("default/mem/{i}");
            s.put_resource(&path, &sealed(i), NOW).await.unwrap();
            assert_eq!(s.get_resource(&path).await.unwrap(), Some(sealed(i)));
            let e = s.append_audit(&entry(i, 0)).await.unwrap();
            if i % 2 == 0 {
                let tok = format!("tok-{i}");
                assert_eq!(
                    s.complete_session(&id, NOW, Some((&tok, NOW + 500)))
                        .await
                        .unwrap(),
                    Completion::Done
                );
            }
            e
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.push(t.await.unwrap());
    }
    assert_one_chain(&mut acknowledged);
    let check = s.verify_audit().await.unwrap();
    assert_eq!(check.first_broken, None, "{:?}", check.reason);
    assert_eq!(check.entries, TASKS as u64);
    assert_eq!(s.list_resources().await.unwrap().len(), TASKS);
    assert_eq!(
        s.count_open_sessions(NOW).await.unwrap(),
        (TASKS / 2) as i64
    );
    // A spent session stays spent.
    assert_eq!(
        s.complete_session("m-0", NOW, None).await.unwrap(),
        Completion::AlreadyUsed
    );
}

// ---- checkpoints -----------------------------------------------------------

/// The writer never checkpoints (wal_autocheckpoint = 0): the background
/// thread must, or the log grows without bound. Once it has run, the
/// database file alone holds the committed rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_checkpoint_copies_commits_into_the_database_file() {
    const ROWS: usize = 50;
    let dir = TempDir::new("checkpoint");
    let s = Store::open(&dir.db()).await.unwrap();
    for i in 0..ROWS {
        s.put_resource(&format!("default/ckpt/{i}"), &sealed(i), NOW)
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut attempt = 0;
    let found = loop {
        attempt += 1;
        // The main file only, without its -wal: what a checkpoint wrote.
        let copy = dir.0.join(format!("copy-{attempt}.sqlite"));
        std::fs::copy(dir.db(), &copy).unwrap();
        let n = Connection::open(&copy).ok().and_then(|c| {
            c.query_row("SELECT COUNT(*) FROM resources", [], |r| r.get::<_, i64>(0))
                .ok()
        });
        if n == Some(ROWS as i64) || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(found, Some(ROWS as i64), "the log was checkpointed");
}

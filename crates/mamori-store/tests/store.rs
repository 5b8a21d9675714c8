#![allow(clippy::unwrap_used)]

mod common;

use common::{inject, session, TempDir};
use mamori_store::{Completion, NewAuditEntry, ReferenceValue, Store, StoreError};

#[tokio::test]
async fn concurrent_completion_has_one_winner() {
    let dir = TempDir::new("race");
    let s = Store::open(&dir.db()).await.unwrap();
    s.insert_session(&session("race", 1_000)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.complete_session("race", 10, None).await.unwrap()
        }));
    }
    let mut done = 0;
    for t in tasks {
        if t.await.unwrap() == Completion::Done {
            done += 1;
        }
    }
    assert_eq!(done, 1);
    assert_eq!(s.count_open_sessions(10).await.unwrap(), 0);
}

#[tokio::test]
async fn completing_a_session_is_single_use() {
    let s = Store::open_in_memory().await.unwrap();
    for id in ["a", "c"] {
        s.insert_session(&session(id, 200)).await.unwrap();
    }
    assert_eq!(
        s.complete_session("a", 100, Some(("tok", 300)))
            .await
            .unwrap(),
        Completion::Done
    );
    assert_eq!(
        s.get_session("a").await.unwrap().unwrap().token.as_deref(),
        Some("tok")
    );
    assert_eq!(
        s.complete_session("a", 100, None).await.unwrap(),
        Completion::AlreadyUsed
    );
    assert_eq!(
        s.get_session("a").await.unwrap().unwrap().token.as_deref(),
        Some("tok"),
        "a refused completion leaves the token alone"
    );
    assert_eq!(
        s.complete_session("c", 201, None).await.unwrap(),
        Completion::Expired
    );
    assert_eq!(
        s.complete_session("zz", 1, None).await.unwrap(),
        Completion::Unknown
    );
}

#[tokio::test]
async fn records_survive_reopening() {
    let dir = TempDir::new("reopen");
    let path = dir.db();
    {
        let s = Store::open(&path).await.unwrap();
        s.put_resource("default/key/1", b"sealed", 5).await.unwrap();
        s.put_reference_value(&ReferenceValue {
            name: "snp_launch_measurement".into(),
            values: vec![serde_json::json!("ab")],
            expires_at: Some(99),
            updated_at: 1,
        })
        .await
        .unwrap();
        s.close().await;
    }
    let s = Store::open(&path).await.unwrap();
    assert_eq!(
        s.get_resource("default/key/1").await.unwrap().unwrap(),
        b"sealed"
    );
    assert_eq!(
        s.list_reference_values().await.unwrap()[0].expires_at,
        Some(99)
    );
    assert!(s.delete_resource("default/key/1").await.unwrap());
    assert!(s.get_resource("default/key/1").await.unwrap().is_none());
}

#[tokio::test]
async fn two_nodes_share_sessions_through_the_database() {
    let dir = TempDir::new("nodes");
    let a = Store::open(&dir.db()).await.unwrap();
    let b = Store::open(&dir.db()).await.unwrap();
    a.insert_session(&session("s1", 1_000)).await.unwrap();
    // Node B attests the session node A created.
    let on_b = b.session_for_attest("s1").await.unwrap().unwrap();
    assert_eq!(on_b.nonce, "nonce-s1");
    assert_eq!(
        b.complete_session("s1", 10, Some(("tok", 500)))
            .await
            .unwrap(),
        Completion::Done
    );
    // Node A's local view is stale ("unused"), but spending the nonce
    // there fails, and the resource path reads the token from the database.
    assert!(!a.session_for_attest("s1").await.unwrap().unwrap().used);
    assert_eq!(
        a.complete_session("s1", 10, None).await.unwrap(),
        Completion::AlreadyUsed
    );
    let on_a = a.get_session("s1").await.unwrap().unwrap();
    assert!(on_a.used);
    assert_eq!(on_a.token.as_deref(), Some("tok"));
    // And the audit chain interleaves the nodes' appends without forking.
    for i in 0..5 {
        let (x, y) = (a.clone(), b.clone());
        let e = |n: &str| mamori_store::NewAuditEntry {
            at: i,
            actor: n.into(),
            action: "test".into(),
            subject: String::new(),
            outcome: "ok".into(),
            detail: "{}".into(),
        };
        let (ea, eb) = (e("a"), e("b"));
        let (r1, r2) = tokio::join!(x.append_audit(&ea), y.append_audit(&eb));
        r1.unwrap();
        r2.unwrap();
    }
    let check = a.verify_audit().await.unwrap();
    assert_eq!(check.entries, 10);
    assert!(check.first_broken.is_none());
}

#[tokio::test]
async fn a_completion_and_its_audit_record_commit_together() {
    let dir = TempDir::new("audited");
    let path = dir.db();
    let s = Store::open(&path).await.unwrap();
    let record = |actor: &str| mamori_store::NewAuditEntry {
        at: 10,
        actor: actor.into(),
        action: "attestation".into(),
        subject: String::new(),
        outcome: "ok".into(),
        detail: "{}".into(),
    };
    for id in ["ok", "failing"] {
        s.insert_session(&session(id, 1_000)).await.unwrap();
    }
    // Completed: the record is returned and in the chain.
    let (c, entry) = s
        .complete_session_audited("ok", 10, Some(("tok", 500)), record("tee:ok"))
        .await
        .unwrap();
    assert_eq!(c, Completion::Done);
    assert_eq!(entry.unwrap().seq, 1);
    // Not completed (the nonce is spent): no record.
    let (c, entry) = s
        .complete_session_audited("ok", 10, None, record("tee:again"))
        .await
        .unwrap();
    assert_eq!((c, entry), (Completion::AlreadyUsed, None));
    // The record cannot be written: the completion is undone with it.
    inject(
        &path,
        "CREATE TRIGGER refuse BEFORE INSERT ON audit WHEN NEW.actor = 'tee:failing' \
         BEGIN SELECT RAISE(ABORT, 'injected'); END;",
    );
    assert!(s
        .complete_session_audited("failing", 10, None, record("tee:failing"))
        .await
        .is_err());
    let failing = s.get_session("failing").await.unwrap().unwrap();
    assert!(!failing.used, "the nonce is not spent without its record");
    let entries = s.list_audit(0, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, "tee:ok");
    assert!(s.verify_audit().await.unwrap().first_broken.is_none());
}

#[tokio::test]
async fn write_stats_count_committed_writes_not_failed_ones() {
    use std::sync::atomic::Ordering::Relaxed;
    let dir = TempDir::new("stats");
    let s = Store::open(&dir.db()).await.unwrap();
    let before = (
        s.write_stats().commits.load(Relaxed),
        s.write_stats().writes.load(Relaxed),
    );
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.insert_session(&session(&format!("s{i}"), 1_000)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // A duplicate id fails and is not counted.
    assert!(s.insert_session(&session("s0", 1_000)).await.is_err());
    let commits = s.write_stats().commits.load(Relaxed) - before.0;
    let writes = s.write_stats().writes.load(Relaxed) - before.1;
    assert_eq!(writes, 20);
    assert!((1..=21).contains(&commits), "{commits}");
}

/// Under writes that never pause (and readers holding snapshots), the
/// write-ahead log must still start over. SQLite counts the times it did in
/// the log file's header (the checkpoint sequence number, bytes 12–15); it
/// is read from the file, since a checkpoint run by the test could itself
/// let the log start over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_starts_over_under_steady_load() {
    use std::time::{Duration, Instant};
    let dir = TempDir::new("wal-restart");
    let options = mamori_store::StoreOptions {
        restart_log_frames: 64,
        ..Default::default()
    };
    let s = Store::open_with(&dir.db(), options).await.unwrap();
    let mut wal = dir.db().into_os_string();
    wal.push("-wal");
    let restarts = || -> u32 {
        let header = std::fs::read(&wal).unwrap_or_default();
        header
            .get(12..16)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    s.insert_session(&session("first", 1_000)).await.unwrap();
    let before = restarts();
    let until = Instant::now() + Duration::from_millis(4_000);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < until {
                s.insert_session(&session(&format!("w{w}-{i}"), 1_000))
                    .await
                    .unwrap();
                s.get_session(&format!("w{w}-{}", i / 2)).await.unwrap();
                i += 1;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // About one restart a second is due; two leave a margin for a slow
    // machine, and a log never started over shows none.
    let after = restarts();
    assert!(
        after >= before + 2,
        "the log started over {} times in 4 s of steady writes",
        after.saturating_sub(before)
    );
}

#[tokio::test]
async fn resources_are_served_from_the_nodes_copy_until_it_is_forgotten() {
    let dir = TempDir::new("resource-copy");
    let a = Store::open(&dir.db()).await.unwrap();
    let b = Store::open(&dir.db()).await.unwrap();
    a.put_resource("r/k/1", b"v1", 1).await.unwrap();
    assert_eq!(a.get_resource("r/k/1").await.unwrap().unwrap(), b"v1");
    // Writes through the same store reach its copy at once.
    a.put_resource("r/k/1", b"v2", 2).await.unwrap();
    assert_eq!(a.get_resource("r/k/1").await.unwrap().unwrap(), b"v2");
    // Another node's delete reaches this node's copy when it is forgotten
    // (the service's periodic reload).
    assert!(b.delete_resource("r/k/1").await.unwrap());
    assert_eq!(a.get_resource("r/k/1").await.unwrap().unwrap(), b"v2");
    a.forget_cached_resources();
    assert!(a.get_resource("r/k/1").await.unwrap().is_none());
    // A deleted resource is not served from the copy of the node that
    // deleted it.
    a.put_resource("r/k/2", b"x", 3).await.unwrap();
    assert!(a.get_resource("r/k/2").await.unwrap().is_some());
    assert!(a.delete_resource("r/k/2").await.unwrap());
    assert!(a.get_resource("r/k/2").await.unwrap().is_none());
}

/// Polls `f` once and drops it; whether it was still pending.
fn pending_after_one_poll<F: std::future::Future>(f: F) -> bool {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.as_mut().poll(&mut cx).is_pending()
}

#[tokio::test]
async fn a_change_whose_caller_stopped_waiting_still_reaches_the_copy() {
    let dir = TempDir::new("resource-copy-cancel");
    let s = Store::open(&dir.db()).await.unwrap();
    for (path, v) in [("r/k/put", b"v1"), ("r/k/del", b"v1")] {
        s.put_resource(path, v, 1).await.unwrap();
        assert_eq!(s.get_resource(path).await.unwrap().unwrap(), v);
    }
    // Another connection holds the write lock, so the writes below wait in
    // the writer for as long as the test needs.
    let other = rusqlite::Connection::open(dir.db()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Each write is queued by its first poll, and its future then dropped,
    // as when a client hangs up on an admin request.
    assert!(pending_after_one_poll(s.put_resource("r/k/put", b"v2", 2)));
    assert!(pending_after_one_poll(s.delete_resource("r/k/del")));
    other.execute_batch("ROLLBACK").unwrap();
    // Writes are run in order: once this one is answered, both ran.
    s.put_resource("r/k/other", b"x", 3).await.unwrap();
    assert_eq!(s.get_resource("r/k/put").await.unwrap().unwrap(), b"v2");
    assert!(s.get_resource("r/k/del").await.unwrap().is_none());
}

#[tokio::test]
async fn purge_removes_expired_sessions_and_their_tokens_only() {
    let dir = TempDir::new("purge");
    let path = dir.db();
    let s = Store::open(&path).await.unwrap();
    for id in ["open-old", "attested-old", "attested-live", "open-new"] {
        let expires = if id.ends_with("new") { 500 } else { 100 };
        s.insert_session(&session(id, expires)).await.unwrap();
    }
    for (id, exp) in [("attested-old", 150), ("attested-live", 900)] {
        assert_eq!(
            s.complete_session(id, 50, Some(("tok", exp)))
                .await
                .unwrap(),
            Completion::Done
        );
    }
    // At 200: the unused session that expired and the attested one whose
    // token expired go; a live token keeps its session.
    assert_eq!(s.purge(200).await.unwrap(), 2);
    drop(s);
    let s = Store::open(&path).await.unwrap();
    assert!(s.get_session("open-old").await.unwrap().is_none());
    assert!(s.get_session("attested-old").await.unwrap().is_none());
    let live = s.get_session("attested-live").await.unwrap().unwrap();
    assert_eq!(live.token.as_deref(), Some("tok"));
    assert!(s.get_session("open-new").await.unwrap().is_some());
    let c = rusqlite::Connection::open(&path).unwrap();
    let rows: i64 = c
        .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2);
}

/// A purge works in bounded steps: sessions sharing an expiry time across a
/// step's end, and sessions kept for a live token, are all handled right.
#[tokio::test]
async fn purge_deletes_in_chunks_and_misses_nothing() {
    let dir = TempDir::new("purge-chunks");
    let options = mamori_store::StoreOptions {
        purge_chunk: 10,
        ..Default::default()
    };
    let s = Store::open_with(&dir.db(), options).await.unwrap();
    // 35 expired sessions, three per expiry second; every fourth of another
    // 16 keeps its session with a live token; 5 that have not expired.
    for i in 0..35 {
        s.insert_session(&session(&format!("old-{i}"), 100 + i / 3))
            .await
            .unwrap();
    }
    for i in 0..16 {
        let id = format!("tok-{i}");
        s.insert_session(&session(&id, 100 + i)).await.unwrap();
        let exp = if i % 4 == 0 { 900 } else { 150 };
        s.complete_session(&id, 50, Some(("tok", exp)))
            .await
            .unwrap();
    }
    for i in 0..5 {
        s.insert_session(&session(&format!("new-{i}"), 500))
            .await
            .unwrap();
    }
    // The counter counts a write just after answering it: let it settle.
    let writes = || async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        s.write_stats()
            .writes
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = writes().await;
    assert_eq!(s.purge(200).await.unwrap(), 35 + 12);
    // 51 sessions expired before 200, read 10 at a time: six steps, each
    // deleting the dead among the sessions it read.
    assert_eq!(writes().await - before, 6);
    let c = rusqlite::Connection::open(dir.db()).unwrap();
    let mut left: Vec<String> = c
        .prepare("SELECT id FROM sessions ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    left.sort();
    let mut expected: Vec<String> = (0..5)
        .map(|i| format!("new-{i}"))
        .chain([0, 4, 8, 12].map(|i| format!("tok-{i}")))
        .collect();
    expected.sort();
    assert_eq!(left, expected);
    // Nothing is left to purge at the same time.
    assert_eq!(s.purge(200).await.unwrap(), 0);
}

/// A failed attempt spends an unused nonce once: a second burn (a
/// concurrent failure) reports that it spent nothing.
#[tokio::test]
async fn a_session_is_burned_once() {
    let dir = TempDir::new("burn");
    let s = Store::open(&dir.db()).await.unwrap();
    s.insert_session(&session("b", 500)).await.unwrap();
    assert!(s.burn_session("b").await.unwrap());
    assert!(!s.burn_session("b").await.unwrap());
    assert!(!s.burn_session("never-issued").await.unwrap());
    assert!(s.get_session("b").await.unwrap().unwrap().used);
}

/// The readiness probe answers while the store works, and reports a writer
/// held up by another process's lock instead of waiting for it.
#[tokio::test]
async fn ping_reports_a_writer_that_cannot_take_the_lock() {
    let dir = TempDir::new("ping");
    let s = Store::open(&dir.db()).await.unwrap();
    let within = std::time::Duration::from_millis(300);
    s.ping(std::time::Duration::from_secs(10)).await.unwrap();
    let other = rusqlite::Connection::open(dir.db()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    assert!(matches!(
        s.ping(within).await,
        Err(StoreError::Unresponsive(300))
    ));
    other.execute_batch("ROLLBACK").unwrap();
    // The writer catches up with the probe it was given, then answers.
    s.ping(std::time::Duration::from_secs(10)).await.unwrap();
}

fn admin_entry(action: &str, subject: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: 10,
        actor: "admin:test".into(),
        action: action.into(),
        subject: subject.into(),
        outcome: "ok".into(),
        detail: "{}".into(),
    }
}

#[tokio::test]
async fn an_admin_change_commits_with_its_audit_entry_or_not_at_all() {
    let dir = TempDir::new("recorded");
    let s = Store::open(&dir.db()).await.unwrap();
    s.put_resource_recorded(
        "r/k/1",
        b"v1",
        1,
        Some(admin_entry("resource.set", "r/k/1")),
    )
    .await
    .unwrap();
    // Deleting nothing records nothing.
    assert!(!s
        .delete_resource_recorded("r/k/none", Some(admin_entry("resource.delete", "r/k/none")))
        .await
        .unwrap());
    let log = s.list_audit(0, 100).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.subject.as_str()).collect::<Vec<_>>(),
        ["r/k/1"]
    );
    // An audit chain that cannot take another entry (its head at the end
    // of the sequence range): the changes it would record are not made.
    inject(&dir.db(), "UPDATE audit SET seq = 9223372036854775807");
    let entry = || Some(admin_entry("x", "y"));
    assert!(s
        .put_resource_recorded("r/k/1", b"v2", 2, entry())
        .await
        .is_err());
    assert!(s.delete_resource_recorded("r/k/1", entry()).await.is_err());
    let rv = ReferenceValue {
        name: "n".into(),
        values: vec![serde_json::json!("v")],
        expires_at: None,
        updated_at: 2,
    };
    assert!(s.put_reference_value_recorded(&rv, entry()).await.is_err());
    drop(s);
    let s = Store::open(&dir.db()).await.unwrap();
    assert_eq!(s.get_resource("r/k/1").await.unwrap().unwrap(), b"v1");
    assert!(s.list_reference_values().await.unwrap().is_empty());
    assert_eq!(s.list_audit(0, 100).await.unwrap().len(), 1);
}

/// The collateral cache keeps the newest fetch, is shared by stores on one
/// file and survives reopening.
#[tokio::test]
async fn collateral_keeps_the_newest_fetch_across_stores_and_restarts() {
    let dir = TempDir::new("collateral");
    let a = Store::open(&dir.db()).await.unwrap();
    let b = Store::open(&dir.db()).await.unwrap();
    assert_eq!(a.get_collateral("kds:x").await.unwrap(), None);
    a.put_collateral("kds:x", b"second", 20).await.unwrap();
    // An older fetch finishing later does not replace the newer one.
    b.put_collateral("kds:x", b"first", 10).await.unwrap();
    let got = b.get_collateral("kds:x").await.unwrap().unwrap();
    assert_eq!((got.body.as_slice(), got.fetched_at), (&b"second"[..], 20));
    a.put_collateral("kds:x", b"third", 30).await.unwrap();
    drop((a, b));
    let c = Store::open(&dir.db()).await.unwrap();
    let got = c.get_collateral("kds:x").await.unwrap().unwrap();
    assert_eq!((got.body.as_slice(), got.fetched_at), (&b"third"[..], 30));
    // Purged by prefix and age; the prefix's `_` and `%` are literal.
    c.put_collateral("kds:vcek:a", b"old", 5).await.unwrap();
    c.put_collateral("kds:vcek:b", b"new", 50).await.unwrap();
    c.put_collateral("kds:vcekXa", b"other", 5).await.unwrap();
    c.put_collateral("kds:crl:a", b"crl", 5).await.unwrap();
    assert_eq!(c.purge_collateral("kds:vcek:", 40).await.unwrap(), 1);
    assert_eq!(c.purge_collateral("kds:v_ek:", 100).await.unwrap(), 0);
    assert_eq!(c.get_collateral("kds:vcek:a").await.unwrap(), None);
    for kept in ["kds:vcek:b", "kds:vcekXa", "kds:crl:a", "kds:x"] {
        assert!(c.get_collateral(kept).await.unwrap().is_some(), "{kept}");
    }
}

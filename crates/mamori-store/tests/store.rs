#![allow(clippy::unwrap_used)]

use mamori_store::{NonceUse, ReferenceValue, SessionRecord, Store};

fn session(id: &str, expires_at: i64) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        tee: "snp".into(),
        nonce: format!("nonce-{id}"),
        created_at: 100,
        expires_at,
        used: false,
        token: None,
        token_exp: None,
    }
}

#[tokio::test]
async fn nonces_are_single_use_and_expire() {
    let s = Store::open_in_memory().await.unwrap();
    s.insert_session(&session("a", 200)).await.unwrap();
    s.insert_session(&session("b", 150)).await.unwrap();
    assert!(
        matches!(s.consume_nonce("a", 120).await.unwrap(), NonceUse::Fresh(r) if r.nonce == "nonce-a")
    );
    assert_eq!(
        s.consume_nonce("a", 121).await.unwrap(),
        NonceUse::AlreadyUsed
    );
    assert_eq!(s.consume_nonce("b", 151).await.unwrap(), NonceUse::Expired);
    assert_eq!(s.consume_nonce("zzz", 1).await.unwrap(), NonceUse::Unknown);
    assert_eq!(s.count_open_sessions(120).await.unwrap(), 1);
}

#[tokio::test]
async fn concurrent_consumption_has_one_winner() {
    let dir = std::env::temp_dir().join(format!("mamori-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let s = Store::open(&dir.join("db.sqlite")).await.unwrap();
    s.insert_session(&session("race", 1_000)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.consume_nonce("race", 10).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), NonceUse::Fresh(_)) {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
}

#[tokio::test]
async fn evidence_replay_is_detected() {
    let s = Store::open_in_memory().await.unwrap();
    assert!(s.record_evidence("d1", 1).await.unwrap());
    assert!(!s.record_evidence("d1", 2).await.unwrap());
}

#[tokio::test]
async fn records_survive_reopening() {
    let dir = std::env::temp_dir().join(format!("mamori-store-reopen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("db.sqlite");
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

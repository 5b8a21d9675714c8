//! What the service writes to disk is readable by its own user only.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

use mamori_service::{Config, Service};
use std::os::unix::fs::PermissionsExt;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_new_data_directory_and_its_files_are_private() {
    let root = std::env::temp_dir().join(format!("mamori-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("nested").join("data");
    let cfg = Config {
        data_dir: data.clone(),
        ..Config::default()
    };
    let svc = Service::start(cfg, 1_800_000_000).await.unwrap();
    // A write, so that the log file exists.
    svc.challenge("snp", 1_800_000_000).await.unwrap();
    assert_eq!(mode(&data), 0o700);
    for file in ["mamori.db", "mamori.db-wal", "mamori.db-shm", "kek.key"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    svc.store().close().await;
    drop(svc);
    let _ = std::fs::remove_dir_all(&root);
}

/// A database whose key-encryption key is missing is not given a new one:
/// that key would open nothing, and its file would be in the way of the
/// restored one. `check` says so beforehand.
#[tokio::test]
async fn a_missing_key_encryption_key_is_not_replaced() {
    let root = std::env::temp_dir().join(format!("mamori-kek-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let cfg = Config {
        data_dir: root.join("data"),
        ..Config::default()
    };
    let now = 1_800_000_000;
    let report = mamori_service::check(&cfg, now).unwrap();
    assert_eq!(report.kek, "created at first start");
    assert!(!report.database_present);
    let svc = Service::start(cfg.clone(), now).await.unwrap();
    svc.store().close().await;
    drop(svc);
    let kek = cfg.kek_path();
    let saved = std::fs::read(&kek).unwrap();
    assert_eq!(
        mamori_service::check(&cfg, now).unwrap().kek,
        kek.display().to_string()
    );

    std::fs::remove_file(&kek).unwrap();
    let e = mamori_service::check(&cfg, now).unwrap_err().to_string();
    assert!(e.contains("does not exist"), "{e}");
    let e = match Service::start(cfg.clone(), now).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("started without its key-encryption key"),
    };
    assert!(e.contains(&kek.display().to_string()), "{e}");
    assert!(
        !kek.exists(),
        "a new key was written in place of the missing one"
    );

    // The restored key opens everything again.
    std::fs::write(&kek, &saved).unwrap();
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    let svc = Service::start(cfg, now).await.unwrap();
    svc.store().close().await;
    let _ = std::fs::remove_dir_all(&root);
}

/// `check` for a shared store: it needs the operator's key and readable,
/// well-formed store settings, and contacts no database.
#[test]
fn check_reads_a_shared_stores_settings_without_connecting() {
    let root = std::env::temp_dir().join(format!("mamori-check-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let mut cfg = Config {
        data_dir: root.join("data"),
        ..Config::default()
    };
    // Nothing listens on port 1: `check` must not try.
    cfg.store.postgres_url = "host=127.0.0.1 port=1 user=mamori dbname=mamori".into();
    let now = 1_800_000_000;
    let e = mamori_service::check(&cfg, now).unwrap_err().to_string();
    assert!(e.contains("every node"), "{e}");

    let kek = root.join("kek");
    std::fs::write(&kek, [7u8; 32]).unwrap();
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    cfg.kek.file = kek;
    let report = mamori_service::check(&cfg, now).unwrap();
    assert!(report.database_present);

    cfg.store.ca_file = Some(root.join("missing-ca.pem"));
    let e = mamori_service::check(&cfg, now).unwrap_err().to_string();
    assert!(e.contains("missing-ca.pem"), "{e}");
    std::fs::write(root.join("ca.pem"), "not a certificate").unwrap();
    cfg.store.ca_file = Some(root.join("ca.pem"));
    let e = mamori_service::check(&cfg, now).unwrap_err().to_string();
    assert!(e.contains("no PEM certificate"), "{e}");

    cfg.store.ca_file = None;
    cfg.store.postgres_url = "postgres://[::1".into();
    let e = mamori_service::check(&cfg, now).unwrap_err().to_string();
    assert!(e.contains("store.postgres_url"), "{e}");
    assert!(
        !root.join("data").exists(),
        "check created the data directory"
    );
    let _ = std::fs::remove_dir_all(&root);
}

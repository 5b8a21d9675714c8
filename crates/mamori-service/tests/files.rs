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

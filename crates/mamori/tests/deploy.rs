//! The deployment examples in `deploy/` stay true to the binary: their
//! configurations load and validate, and the systemd unit passes
//! `systemd-analyze verify` (where systemd is installed) with this binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn deploy(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(rel)
}

#[test]
fn example_configurations_load_and_validate() {
    for rel in ["systemd/mamori.toml", "kubernetes/mamori.toml"] {
        let cfg = mamori_service::Config::from_file(&deploy(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        cfg.validate().unwrap_or_else(|e| panic!("{rel}: {e}"));
        // A public listener, so TLS: the validation above depends on it.
        assert!(cfg.tls.is_some(), "{rel}");
    }
    let k8s = mamori_service::Config::from_file(&deploy("kubernetes/mamori.toml")).unwrap();
    assert_eq!(k8s.kek.env.as_deref(), Some("MAMORI_KEK"));
    let manifest = std::fs::read_to_string(deploy("kubernetes/mamori.yaml")).unwrap();
    assert!(
        manifest.contains("name: MAMORI_KEK"),
        "the manifest sets the KEK variable"
    );
    for path in ["/readyz", "/healthz", "--check"] {
        assert!(manifest.contains(path), "{path} missing from the manifest");
    }
}

#[test]
fn the_cluster_example_shares_one_database_and_one_key() {
    let cfg = mamori_service::Config::from_file(&deploy("kubernetes/cluster/mamori.toml")).unwrap();
    cfg.validate().unwrap();
    assert!(cfg.store.is_shared());
    assert!(cfg.store.postgres_url.contains("sslmode=require"));
    assert_eq!(cfg.kek.env.as_deref(), Some("MAMORI_KEK"));
    assert!(cfg.tls.is_some());
    let manifest = std::fs::read_to_string(deploy("kubernetes/cluster/mamori.yaml")).unwrap();
    for wired in [
        "name: MAMORI_KEK",
        &format!("name: {}", cfg.store.password_env),
        "/readyz",
        "/healthz",
        "--check",
        "kind: PodDisruptionBudget",
    ] {
        assert!(
            manifest.contains(wired),
            "{wired} missing from the manifest"
        );
    }
    let ca = cfg.store.ca_file.as_ref().unwrap();
    let ca_dir = ca.parent().unwrap().display().to_string();
    assert!(
        manifest.contains(&format!("mountPath: {ca_dir}")),
        "the database CA is not mounted at {ca_dir}"
    );
    let replicas: u32 = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("replicas: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(replicas >= 2, "{replicas} replicas");
}

#[test]
fn the_systemd_unit_verifies() {
    let Ok(found) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit is not verified");
        return;
    };
    assert!(found.status.success());
    let unit = std::fs::read_to_string(deploy("systemd/mamori.service"))
        .unwrap()
        .replace("/usr/local/bin/mamori", env!("CARGO_BIN_EXE_mamori"));
    let dir = std::env::temp_dir().join(format!("mamori-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mamori.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

//! `mamori admin` against a running `mamori serve`: key generation, every
//! admin subcommand, and the refusal of a bad key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;
use std::process::{Command, Output};

fn mamori(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mamori")
}

fn ok_json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// `mamori admin keygen --out DIR`, which must succeed; its JSON report.
fn keygen(out: &std::path::Path) -> Value {
    ok_json(&mamori(&[
        "admin",
        "keygen",
        "--out",
        out.to_str().unwrap(),
    ]))
}

#[test]
fn admin_subcommands_against_a_running_server() {
    let dir = std::env::temp_dir().join(format!("mamori-admin-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys");
    let k = keygen(&keys);
    assert!(k["public_key"].as_str().unwrap().ends_with("admin.pub"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join("admin.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private key readable by others");
    }
    // keygen refuses to overwrite.
    assert!(
        !mamori(&["admin", "keygen", "--out", keys.to_str().unwrap()])
            .status
            .success()
    );

    let (mut server, port) = common::spawn_ready(&dir, |command| {
        command
            .arg("--admin-public-key")
            .arg(keys.join("admin.pub"))
            .env("MAMORI_LOG", "warn");
    });
    let url = format!("http://127.0.0.1:{port}");
    let key = keys.join("admin.key");
    let admin = |args: &[&str]| {
        let mut v = vec!["admin", "--url", &url, "--key", key.to_str().unwrap()];
        v.extend_from_slice(args);
        mamori(&v)
    };

    let secret = dir.join("secret.bin");
    std::fs::write(&secret, b"top secret").unwrap();
    ok_json(&admin(&[
        "resource",
        "set",
        "default/disk/vm1",
        "--file",
        secret.to_str().unwrap(),
    ]));
    let list = ok_json(&admin(&["resource", "list"]));
    assert_eq!(list["resources"][0], "default/disk/vm1");
    let policy = dir.join("p.rego");
    std::fs::write(&policy, "package mamori.resource\nimport rego.v1\ndefault allow := false\nallow if input.resource.segments[0] == \"default\"\n").unwrap();
    let r = ok_json(&admin(&[
        "resource-policy",
        "set",
        "default",
        "--file",
        policy.to_str().unwrap(),
    ]));
    assert_eq!(r["digest"].as_str().unwrap().len(), 64);
    // A policy that breaks its contract is refused with the reason.
    std::fs::write(&policy, "package mamori.resource\nimport rego.v1\nx := 1\n").unwrap();
    let o = admin(&[
        "resource-policy",
        "set",
        "default",
        "--file",
        policy.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("allow"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    ok_json(&admin(&[
        "reference-value",
        "set",
        "snp_launch_measurement",
        &"ab".repeat(48),
        &"cd".repeat(48),
        "--expires-in",
        "3600",
    ]));
    let rv = ok_json(&admin(&["reference-value", "list"]));
    assert_eq!(
        rv["reference_values"][0]["values"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Dry run of the appraisal policy in force over claims of a debug guest.
    let input = dir.join("input.json");
    std::fs::write(&input, r#"{"claims": {"policy": {"debug": true, "migrate_ma": false}, "measurement": "00"}, "binding": {"report_data_bound": true}}"#).unwrap();
    let out = ok_json(&admin(&[
        "dry-run",
        "--kind",
        "appraisal",
        "--tee",
        "snp",
        "--input",
        input.to_str().unwrap(),
    ]));
    assert_eq!(out["status"], "contraindicated", "{out}");
    assert!(out["reasons"].to_string().contains("policy.debug"));
    ok_json(&admin(&["rotate-signing-key"]));
    ok_json(&admin(&["resource", "delete", "default/disk/vm1"]));
    let o = admin(&["resource", "delete", "default/disk/vm1"]);
    assert!(!o.status.success(), "deleting twice is a 404");
    let audit = ok_json(&admin(&["audit", "list"]));
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "resource.set",
        "resource-policy.set",
        "reference-value.set",
        "signing-key.rotate",
        "resource.delete",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
    let check = ok_json(&admin(&["audit", "verify"]));
    assert!(check["first_broken"].is_null());
    // Another key is refused.
    let other = dir.join("other");
    keygen(&other);
    let o = mamori(&[
        "admin",
        "--url",
        &url,
        "--key",
        other.join("admin.key").to_str().unwrap(),
        "resource",
        "list",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("401"));
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_refuses_an_insecure_public_listener() {
    let o = mamori(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("tls"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn agent_fetches_a_secret_from_a_simulated_vm() {
    let dir = std::env::temp_dir().join(format!("mamori-agent-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let platform = dir.join("platform");
    let m = "5e".repeat(48);
    // Create the development platform (and its root) once.
    let o = mamori(&[
        "sim",
        "snp",
        "--out",
        dir.join("vm").to_str().unwrap(),
        "--platform",
        platform.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let keys = dir.join("keys");
    keygen(&keys);
    let (mut server, port) = common::spawn_ready(&dir, |command| {
        command
            .arg("--admin-public-key")
            .arg(keys.join("admin.pub"))
            .arg("--snp-trust-anchor")
            .arg(dir.join("vm/certs/ark.pem"))
            .env("MAMORI_LOG", "warn");
    });
    let url = format!("http://127.0.0.1:{port}");
    let key = keys.join("admin.key");
    let admin = |args: &[&str]| {
        let mut v = vec!["admin", "--url", &url, "--key", key.to_str().unwrap()];
        v.extend_from_slice(args);
        mamori(&v)
    };
    let secret = dir.join("secret.bin");
    std::fs::write(&secret, [0u8, 1, 2, 255, 254]).unwrap();
    ok_json(&admin(&[
        "resource",
        "set",
        "default/disk/vm",
        "--file",
        secret.to_str().unwrap(),
    ]));
    ok_json(&admin(&[
        "reference-value",
        "set",
        "snp_launch_measurement",
        &m,
    ]));
    for protocol in ["kbs", "native"] {
        let out = dir.join(format!("got-{protocol}"));
        let o = mamori(&[
            "agent",
            "--url",
            &url,
            "--protocol",
            protocol,
            "--sim-platform",
            platform.to_str().unwrap(),
            "--measurement",
            &m,
            "get-resource",
            "default/disk/vm",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(std::fs::read(&out).unwrap(), [0u8, 1, 2, 255, 254]);
    }
    // A debug launch is refused, and says why.
    let o = mamori(&[
        "agent",
        "--url",
        &url,
        "--protocol",
        "native",
        "--sim-platform",
        platform.to_str().unwrap(),
        "--measurement",
        &m,
        "--debug",
        "get-resource",
        "default/disk/vm",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("policy.debug"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Without a simulated platform this machine has no configfs-tsm TEE.
    if !std::path::Path::new(mamori_agent_tsm_root()).exists() {
        let o = mamori(&["agent", "--url", &url, "attest"]);
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("configfs-tsm"));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn mamori_agent_tsm_root() -> &'static str {
    "/sys/kernel/config/tsm/report"
}

#[test]
fn resource_paths_the_url_would_change_are_refused_before_sending() {
    let dir = std::env::temp_dir().join(format!("mamori-admin-paths-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let keys = dir.join("keys");
    keygen(&keys);
    let key = keys.join("admin.key");
    let file = dir.join("secret");
    std::fs::write(&file, b"s").unwrap();
    // Nothing listens on port 9: a request that was sent would fail with a
    // connection error instead of naming the path.
    for args in [
        vec!["resource", "delete", "default/disk-key/vm1#old"],
        vec![
            "resource",
            "set",
            "a/../../reference-value",
            "--file",
            file.to_str().unwrap(),
        ],
        vec!["resource", "delete", "a/b?c=d"],
    ] {
        let mut all = vec![
            "admin",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            key.to_str().unwrap(),
        ];
        all.extend(args.iter().copied());
        let o = mamori(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(err.contains("resource path"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn admin_warns_before_sending_its_token_over_plain_http_to_another_machine() {
    let dir = std::env::temp_dir().join(format!("mamori-admin-plain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let keys = dir.join("keys");
    keygen(&keys);
    let key = keys.join("admin.key");
    let run = |url: &str| {
        let o = mamori(&[
            "admin",
            "--url",
            url,
            "--key",
            key.to_str().unwrap(),
            "audit",
            "list",
        ]);
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // `.invalid` never resolves: the request fails after the warning.
    let err = run("http://kbs.invalid:1");
    assert!(err.contains("plain HTTP to another machine"), "{err}");
    let err = run("http://127.0.0.1:1");
    assert!(
        !err.contains("plain HTTP"),
        "loopback is not warned about: {err}"
    );
}

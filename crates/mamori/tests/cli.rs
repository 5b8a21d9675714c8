//! The command-line contract: exit statuses, JSON shape, collateral
//! recognition, the simulator round trip and the demo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mamori(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mamori")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

fn vec_path(rel: &str) -> Option<String> {
    mamori_testvectors::path(rel).map(|p| p.display().to_string())
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mamori-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn positive_vectors_verify_with_json_claims() {
    let cases = [
        ("snp-report/snp-milan-v2-virtee.hex", "snp-vcek/vcek-milan-virtee.der", "2023-04-04T19:23:43Z", "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f", "milan", "vcek"),
        ("snp-report/snp-milan-v3-vlek-aws-trustee.bin", "snp-vcek/vlek-milan-aws-use2-trustee.der", "2024-12-11T22:14:21Z", "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0", "milan", "vlek"),
        ("derived/snp-report/snp-genoa-v3-azure-derived.bin", "snp-vcek/vcek-genoa-azure-trustee.pem", "2025-01-25T02:21:48Z", "f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae", "genoa", "vcek"),
    ];
    for (report, vcek, as_of, measurement, product, key) in cases {
        let (Some(r), Some(v)) = (vec_path(report), vec_path(vcek)) else {
            return;
        };
        let o = mamori(&["verify", &r, "--collateral", &v, "--as-of", as_of, "--json"]);
        assert_eq!(
            code(&o),
            0,
            "{report}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let j = json(&o);
        assert_eq!(j["tee"], "snp");
        assert_eq!(j["verified"], true);
        let c = &j["claims"];
        assert_eq!(c["measurement"], measurement, "{report}");
        assert_eq!(c["product"], product);
        assert_eq!(c["signing_key"], key);
        for name in ["version", "vmpl", "report_data", "host_data", "chip_id"] {
            assert!(c.get(name).is_some(), "{report}: claim {name} missing");
        }
        for name in ["debug", "migrate_ma", "smt", "single_socket", "raw"] {
            assert!(c["policy"].get(name).is_some(), "policy.{name} missing");
        }
        for tcb in ["reported_tcb", "current_tcb", "committed_tcb", "launch_tcb"] {
            for f in ["bootloader", "tee", "snp", "microcode"] {
                assert!(c[tcb][f].is_u64(), "{tcb}.{f}");
            }
        }
    }
}

#[test]
fn azure_evidence_json_verifies_and_binds_runtime_data() {
    let Some(ev) = vec_path("az-snp-vtpm/az-snp-milan-v1-trustee.json") else {
        return;
    };
    let o = mamori(&["verify", &ev, "--as-of", "2025-06-01T00:00:00Z", "--json"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let j = json(&o);
    assert_eq!(j["claims"]["container"], "azure-hcl");
    assert_eq!(j["claims"]["runtime_data"]["keys"][0]["kid"], "HCLAkPub");
}

#[test]
fn collateral_directory_is_recognised_by_content() {
    let (Some(r), Some(dir)) = (
        vec_path("snp-report/snp-milan-v2-trustee.bin"),
        vec_path("snp-vcek"),
    ) else {
        return;
    };
    // The folder holds other chips' VCEKs and the invalid ones too.
    let o = mamori(&[
        "verify",
        &r,
        "--collateral",
        &dir,
        "--as-of",
        "2025-06-01T00:00:00Z",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn rejections_exit_one_and_name_the_check() {
    let (Some(r), Some(bad)) = (
        vec_path("snp-report/snp-milan-v2-trustee.bin"),
        vec_path("snp-vcek/vcek-milan-trustee-invalid-new.der"),
    ) else {
        return;
    };
    let o = mamori(&[
        "verify",
        &r,
        "--collateral",
        &bad,
        "--as-of",
        "2025-06-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(code(&o), 1);
    let j = json(&o);
    assert_eq!(j["verified"], false);
    assert!(j["check"].is_string());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("rejected: "), "{err}");

    let vcek = vec_path("snp-vcek/vcek-milan-trustee.der").unwrap();
    let o = mamori(&[
        "verify",
        &r,
        "--collateral",
        &vcek,
        "--as-of",
        "2031-01-01T00:00:00Z",
    ]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("expired"));
}

#[test]
fn usage_errors_exit_two() {
    let d = tempdir("usage");
    let junk = d.join("junk.bin");
    std::fs::write(&junk, [7u8; 100]).unwrap();
    let j = junk.display().to_string();
    assert_eq!(code(&mamori(&["verify", "/nonexistent/report.bin"])), 2);
    assert_eq!(code(&mamori(&["verify", &j])), 2);
    assert_eq!(code(&mamori(&["verify", &j, "--as-of", "yesterday"])), 2);
    assert_eq!(code(&mamori(&["verify", &j, "--collateral", &j])), 2);
    assert_eq!(code(&mamori(&["inspect", &j])), 2);
    assert_eq!(code(&mamori(&["verify"])), 2);
    // With --json a usage error keeps the output's shape.
    let o = mamori(&["verify", &j, "--tee", "snp", "--json"]);
    assert_eq!(code(&o), 2);
    let v = json(&o);
    assert_eq!(v["tee"], "snp");
    assert_eq!(v["verified"], false);
    assert!(v["claims"].is_object() && v["error"].is_string(), "{v}");
}

#[test]
fn a_forced_tee_must_be_the_one_that_made_the_quote() {
    let Some(q) = vec_path("tdx-quote-v4/tdx-v4-gcp-cos113-gotdxguest.dat") else {
        eprintln!("skipped: no test vectors (set MAMORI_VECTORS)");
        return;
    };
    let o = mamori(&["verify", &q, "--tee", "sgx"]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("TDX"), "{err}");
}

#[test]
fn simulator_round_trip_needs_the_named_root() {
    let d = tempdir("sim");
    let out = d.join("vm");
    let m = "ab".repeat(48);
    let o = mamori(&[
        "sim",
        "snp",
        "--out",
        out.to_str().unwrap(),
        "--measurement",
        &m,
        "--report-data",
        "0102",
        "--debug",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let report = out.join("report.bin").display().to_string();
    let certs = out.join("certs").display().to_string();
    let ark = out.join("certs/ark.pem").display().to_string();
    let o = mamori(&[
        "verify",
        &report,
        "--collateral",
        &certs,
        "--trust-anchor",
        &ark,
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let j = json(&o);
    assert_eq!(j["claims"]["measurement"], m);
    assert_eq!(j["claims"]["policy"]["debug"], true);
    assert_eq!(j["claims"]["root"], "explicit");
    assert!(j["claims"]["report_data"]
        .as_str()
        .unwrap()
        .starts_with("0102000000"));
    // Without naming the development root: rejected, exit 1.
    let o = mamori(&["verify", &report, "--collateral", &certs]);
    assert_eq!(code(&o), 1);
    // A tampered copy: rejected by the signature check.
    let mut bytes = std::fs::read(out.join("report.bin")).unwrap();
    bytes[0x90] ^= 1;
    let t = d.join("tampered.bin");
    std::fs::write(&t, &bytes).unwrap();
    let o = mamori(&[
        "verify",
        t.to_str().unwrap(),
        "--collateral",
        &certs,
        "--trust-anchor",
        &ark,
        "--json",
    ]);
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o)["check"], "signature");
}

#[test]
fn simulator_platform_is_reused() {
    let d = tempdir("platform");
    let plat = d.join("platform");
    let run = |out: &Path| {
        let o = mamori(&[
            "sim",
            "snp",
            "--out",
            out.to_str().unwrap(),
            "--platform",
            plat.to_str().unwrap(),
            "--product",
            "turin",
        ]);
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out.join("certs/ark.pem")).unwrap()
    };
    let a = run(&d.join("one"));
    let b = run(&d.join("two"));
    assert_eq!(a, b, "the stored platform keeps its root");
    let o = mamori(&[
        "verify",
        d.join("two/report.bin").to_str().unwrap(),
        "--collateral",
        d.join("one/certs").to_str().unwrap(),
        "--trust-anchor",
        d.join("one/certs/ark.pem").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&o)["claims"]["product"], "turin");
}

#[test]
fn inspect_prints_text_and_json() {
    let Some(r) = vec_path("snp-report/snp-milan-v2-virtee.hex") else {
        return;
    };
    let o = mamori(&["inspect", &r]);
    assert_eq!(code(&o), 0);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("AMD SEV-SNP attestation report, version 2"),
        "{text}"
    );
    assert!(text.contains("encoding hex"));
    let o = mamori(&["inspect", &r, "--json"]);
    let j = json(&o);
    assert_eq!(j["claims"]["version"], 2);
    assert_eq!(j["claims"]["encoding"], "hex");
}

#[test]
fn demo_runs_to_the_end() {
    let o = mamori(&["demo", "--no-color"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("verified"));
    assert!(text.contains("refused (signature)"));
}

#[test]
fn dcap_quotes_verify_through_the_cli() {
    let (Some(q), Some(c)) = (
        vec_path("tdx-quote-v4/tdx-v4-b0c06f-dcapqvl.bin"),
        vec_path("dcap-collateral/collateral-tdx-b0c06f-2025-06-dcapqvl.json"),
    ) else {
        return;
    };
    let o = mamori(&[
        "verify",
        &q,
        "--collateral",
        &c,
        "--as-of",
        "2025-06-20T00:00:00Z",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let j = json(&o);
    assert_eq!(j["tee"], "tdx");
    assert_eq!(j["claims"]["tcb_status"], "UpToDate");
    // The same platform's other quote is below every TCB level.
    let hex = vec_path("tdx-quote-v4/tdx-v4-b0c06f-hex-dcapqvl.hex").unwrap();
    let o = mamori(&[
        "verify",
        &hex,
        "--collateral",
        &c,
        "--as-of",
        "2025-06-20T00:00:00Z",
    ]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no matching TCB level"));
    // No collateral: rejected, naming what is missing.
    let o = mamori(&["verify", &q, "--as-of", "2025-06-20T00:00:00Z"]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("TCB info"));
    // Stale collateral: a year later.
    let o = mamori(&[
        "verify",
        &q,
        "--collateral",
        &c,
        "--as-of",
        "2026-06-20T00:00:00Z",
    ]);
    assert_eq!(code(&o), 1);
    // Inspect prints the body.
    let o = mamori(&["inspect", &q]);
    assert_eq!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("MRTD"));
}

#[test]
fn dcap_quotes_from_a_private_hierarchy_need_its_root_named() {
    let d = tempdir("dcap-anchor");
    let sim = tee_dcap_sim::DcapSim::generate(&tee_dcap_sim::SimOptions::default()).unwrap();
    let quote = d.join("quote.bin");
    std::fs::write(&quote, sim.tdx_quote(&Default::default()).unwrap()).unwrap();
    let (collateral, root) = sim.write_to(&d).unwrap();
    let (quote, collateral, root) = (
        quote.to_str().unwrap(),
        collateral.to_str().unwrap(),
        root.to_str().unwrap(),
    );
    // SimOptions::default().now is 1,800,000,000.
    let as_of = "2027-01-15T08:00:00Z";
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            quote,
            "--collateral",
            collateral,
            "--as-of",
            as_of,
        ];
        args.extend_from_slice(extra);
        args.push("--json");
        mamori(&args)
    };
    let o = verify(&["--trust-anchor", root]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let j = json(&o);
    assert_eq!(j["tee"], "tdx");
    assert_eq!(j["claims"]["root"], "explicit");
    // Not trusted unless named: the PCK chain does not lead to Intel's root.
    let o = verify(&[]);
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o)["verified"], false);
    // Another root named instead: still refused.
    let other = tee_dcap_sim::DcapSim::generate(&tee_dcap_sim::SimOptions::default()).unwrap();
    let other_root = d.join("other-root.pem");
    std::fs::write(&other_root, other.root_pem()).unwrap();
    let o = verify(&["--trust-anchor", other_root.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    // A root that cannot anchor a DCAP chain (an RSA SEV-SNP root) is a usage error.
    let snp = d.join("snp");
    let o = mamori(&["sim", "snp", "--out", snp.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let ark = snp.join("certs/ark.pem");
    let o = verify(&["--trust-anchor", ark.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("not usable for Intel DCAP"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("with Intel's root the quote was refused"));
    // Named with the right root, it is passed over (one list serves both TEEs).
    let o = verify(&[
        "--trust-anchor",
        ark.to_str().unwrap(),
        "--trust-anchor",
        root,
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(json(&o)["claims"]["root"], "explicit");
}

#[test]
fn azure_tdx_evidence_json_carries_a_quote() {
    let (Some(ev), Some(tcb), Some(qe), Some(chains)) = (
        vec_path("az-tdx-vtpm/az-tdx-v1-trustee.json"),
        vec_path("dcap-collateral/tcbinfo-tdx-00806f05-2025-10-automata.json"),
        vec_path("dcap-collateral/qeid-tdqe-2025-10-automata.json"),
        vec_path("derived/dcap-collateral"),
    ) else {
        return;
    };
    let o = mamori(&[
        "verify",
        &ev,
        "--collateral",
        &tcb,
        "--collateral",
        &qe,
        "--collateral",
        &chains,
        "--as-of",
        "2025-10-20T00:00:00Z",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let j = json(&o);
    assert_eq!(j["claims"]["tcb_status"], "OutOfDate");
    assert_eq!(j["claims"]["container"], "azure-tdx-vtpm");
}

#[test]
fn measure_is_wired() {
    let ovmf = "/usr/share/ovmf/OVMF.fd";
    if !std::path::Path::new(ovmf).exists() {
        eprintln!("skipping: {ovmf} not installed");
        return;
    }
    let o = mamori(&[
        "measure",
        "snp",
        "--mode",
        "snp",
        "--vcpus",
        "2",
        "--vcpu-type",
        "EPYC-v4",
        "--ovmf",
        ovmf,
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.trim().len(), 96, "{out}");
    let o = mamori(&[
        "measure",
        "snp",
        "--mode",
        "snp",
        "--vcpus",
        "2",
        "--vcpu-type",
        "EPYC-v4",
        "--ovmf",
        "/nonexistent.fd",
    ]);
    assert_eq!(code(&o), 2);
}

#[test]
fn kbs_evidence_json_verifies_offline() {
    let d = tempdir("kbsjson");
    let out = d.join("vm");
    let o = mamori(&["sim", "snp", "--out", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0);
    let bytes = std::fs::read(out.join("report.bin")).unwrap();
    let report = tee_snp::Report::parse(&bytes).unwrap();
    let vcek = std::fs::read_to_string(out.join("certs/vcek.pem")).unwrap();
    let der = mamori_x509::split_blobs(vcek.as_bytes()).unwrap().unwrap();
    let mamori_x509::Blob::Certificate(c) = &der[0] else {
        panic!("not a certificate")
    };
    let data: Vec<Value> = c.der().iter().map(|b| Value::from(*b)).collect();
    let ev = serde_json::json!({
        "attestation_report": tee_snp::sev_json::report_json(&report),
        "cert_chain": [{"cert_type": "VCEK", "data": data}],
    });
    let f = d.join("evidence.json");
    std::fs::write(&f, ev.to_string()).unwrap();
    let certs = out.join("certs").display().to_string();
    let ark = out.join("certs/ark.pem").display().to_string();
    let o = mamori(&[
        "verify",
        f.to_str().unwrap(),
        "--collateral",
        &certs,
        "--trust-anchor",
        &ark,
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&o)["claims"]["container"], "kbs-json");
}

#[test]
fn serve_check_reads_every_named_file_and_creates_nothing() {
    let dir = tempdir("serve-check");
    let o = mamori(&["admin", "keygen", "--out", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let admin_pub = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pub"))
        .expect("keygen writes a .pub file");
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("cert.pem"), pair.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), pair.key_pair.serialize_pem()).unwrap();
    let config = |admin: &Path| {
        format!(
            "listen = \"0.0.0.0:8443\"\ndata_dir = {:?}\n[tls]\ncert = {:?}\nkey = {:?}\n[admin]\npublic_keys = [{:?}]\n",
            dir.join("data"),
            dir.join("cert.pem"),
            dir.join("key.pem"),
            admin
        )
    };
    let cfg = dir.join("mamori.toml");
    std::fs::write(&cfg, config(&admin_pub)).unwrap();
    let check = || mamori(&["serve", "--config", cfg.to_str().unwrap(), "--check"]);

    let o = check();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("configuration OK"), "{out}");
    assert!(out.contains("TLS with"), "{out}");
    assert!(out.contains("admin keys    1"), "{out}");
    assert!(out.contains("per client    no limit"), "{out}");
    assert!(out.contains("AMD KDS       off"), "{out}");
    assert!(out.contains("created at first start"), "{out}");
    assert!(
        !dir.join("data").exists(),
        "--check created the data directory"
    );

    // Collateral services: shown when set, refused when not a URL.
    let with = |extra: &str| {
        std::fs::write(&cfg, format!("{}{extra}", config(&admin_pub))).unwrap();
        check()
    };
    let o = with("[snp]\nkds_url = \"https://kdsintf.amd.com\"\n");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{out}");
    assert!(
        out.contains("AMD KDS       https://kdsintf.amd.com"),
        "{out}"
    );
    let o = with("[dcap]\npcs_url = \"ftp://pcs\"\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("dcap.pcs_url"), "{err}");
    let o = with("[dcap]\npcs_url = \"https://api.trustedservices.intel.com\"\n");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{out}");
    assert!(
        out.contains("Intel PCS     https://api.trustedservices.intel.com; root CA CRL from https://certificates.trustedservices.intel.com/IntelSGXRootCA.der; both CRLs required"),
        "{out}"
    );
    let o = with("[dcap]\npcs_url = \"https://pccs:8081\"\n");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("root CA CRL from https://pccs:8081/sgx/certification/v4/rootcacrl"),
        "{out}"
    );
    let o =
        with("[dcap]\npcs_url = \"https://pccs:8081\"\nroot_ca_crl_url = \"https://pccs:8081/\"\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("dcap.root_ca_crl_url"), "{err}");
    let o = with("[dcap]\nroot_ca_crl_url = \"https://crl.example/root.der\"\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("dcap.root_ca_crl_url is set without dcap.pcs_url"),
        "{err}"
    );
    let o = with("[store]\npostgres_url = \"host=127.0.0.1 user=mamori\"\nclient_cert = \"/nonexistent/c.pem\"\nclient_key = \"/nonexistent/k.pem\"\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("store.client_cert /nonexistent/c.pem"),
        "{err}"
    );
    let o = with("[dcap]\npcs_ca_file = \"ca.pem\"\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("dcap.pcs_ca_file is set without its URL"),
        "{err}"
    );
    let o =
        with("[dcap]\npcs_url = \"https://pccs:8081\"\npcs_ca_file = \"/nonexistent/ca.pem\"\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("dcap.pcs_ca_file /nonexistent/ca.pem"),
        "{err}"
    );
    // Per-client budgets: shown when set, refused when a proxy is no
    // address.
    let o = with("[limits]\nclient_requests_per_second = 20\nclient_burst = 50\ntrusted_proxies = [\"10.0.0.0/8\"]\n");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{out}");
    assert!(
        out.contains("per client    20 requests/s, bursts of 50; X-Forwarded-For from 10.0.0.0/8"),
        "{out}"
    );
    let o =
        with("[limits]\nclient_requests_per_second = 20\ntrusted_proxies = [\"lb.internal\"]\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("limits.trusted_proxies \"lb.internal\""),
        "{err}"
    );
    std::fs::write(&cfg, config(&admin_pub)).unwrap();

    // A key that is not the certificate's.
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.join("key.pem"), other.serialize_pem()).unwrap();
    let o = check();
    assert_eq!(code(&o), 2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("TLS key and certificate"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(dir.join("key.pem"), pair.key_pair.serialize_pem()).unwrap();

    // An admin key file that is not there is named.
    std::fs::write(&cfg, config(&dir.join("missing.pub"))).unwrap();
    let o = check();
    assert_eq!(code(&o), 2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("missing.pub"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A public address without TLS.
    std::fs::write(&cfg, "listen = \"0.0.0.0:8080\"\n").unwrap();
    assert_eq!(code(&check()), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

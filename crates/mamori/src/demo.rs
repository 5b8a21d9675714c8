//! `mamori demo`: the verifier's story on this machine, narrated. A
//! simulated SEV-SNP platform launches a confidential VM; its report is
//! inspected and verified; tampered, unanchored and debug reports are shown
//! for what they are.

use crate::cli::DemoArgs;
use crate::output::outln;
use crate::style::Style;
use mamori_x509::{Certificate, UnixTime};
use std::process::ExitCode;
use tee_sim::snp::POLICY_DEBUG;
use tee_sim::{ReportOptions, SimChainOptions, SnpSimChain};
use tee_snp::{verify_report, Report, SnpClaims, TrustStore};

struct Narrator {
    s: Style,
    step: usize,
}

impl Narrator {
    fn step(&mut self, title: &str) {
        self.step += 1;
        outln("");
        outln(&self.s.bold(&format!("[{}] {title}", self.step)));
    }
    fn say(&self, text: &str) {
        outln(&format!("    {text}"));
    }
    fn ok(&self, text: &str) {
        outln(&format!("    {} {text}", self.s.green("✔")));
    }
    fn refused(&self, text: &str) {
        outln(&format!("    {} {text}", self.s.red("✘")));
    }
    fn field(&self, name: &str, value: &str) {
        outln(&format!(
            "      {:<14}{}",
            self.s.dim(name),
            self.s.cyan(value)
        ));
    }
}

fn sha384(data: &[u8]) -> [u8; 48] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, data);
    let mut out = [0u8; 48];
    out.copy_from_slice(d.as_ref());
    out
}

fn offline(n: &mut Narrator, chain: &SnpSimChain) -> Result<(), String> {
    let now = crate::verify::now();
    let ark = Certificate::from_der(chain.ark_der()).map_err(|e| e.to_string())?;
    let certs = vec![
        Certificate::from_der(chain.vcek_der()).map_err(|e| e.to_string())?,
        Certificate::from_der(chain.ask_der()).map_err(|e| e.to_string())?,
    ];

    n.step("A confidential VM launches and asks for an attestation report");
    let measurement = sha384(b"ovmf + kernel + initrd + cmdline of the approved image");
    let nonce = sha384(b"a fresh verifier nonce");
    let mut report_data = [0u8; 64];
    report_data[..48].copy_from_slice(&nonce);
    let opts = ReportOptions {
        measurement,
        report_data,
        ..ReportOptions::default()
    };
    let good = chain.report(&opts).map_err(|e| e.to_string())?;
    n.say(
        "The secure processor signs 1184 bytes: measurement, policy, TCB, 64 bytes of guest data.",
    );
    let parsed = Report::parse(&good).map_err(|e| e.to_string())?;
    let claims = SnpClaims::new(&parsed, None, None);
    n.field("version", &claims.version.to_string());
    n.field("measurement", &format!("{}…", &claims.measurement[..32]));
    n.field("report_data", &format!("{}…", &claims.report_data[..32]));
    n.field(
        "policy",
        &format!("{} (debug: {})", claims.policy.raw, claims.policy.debug),
    );
    n.field(
        "reported_tcb",
        &format!(
            "bl {} tee {} snp {} ucode {}",
            claims.reported_tcb.bootloader,
            claims.reported_tcb.tee,
            claims.reported_tcb.snp,
            claims.reported_tcb.microcode
        ),
    );

    let trusted = TrustStore::amd().with_anchor(ark.clone());
    n.step("The verifier checks it, offline, against the development root");
    n.say(
        "Signature (P-384 over bytes 0..0x2A0 as received) → VCEK → ASK → root, validity at now,",
    );
    n.say("VCEK TCB extensions = REPORTED_TCB, VCEK hwID = CHIP_ID.");
    match verify_report(&good, &certs, &[], &trusted, now) {
        Ok(v) => {
            let c = v.claims();
            n.ok(&format!(
                "verified: {} report signed by the {}",
                c.product.map(|p| p.to_string()).unwrap_or_default(),
                c.signing_key.as_str().to_uppercase()
            ));
            n.field(
                "measurement",
                &format!("{}… (matches the approved image)", &c.measurement[..32]),
            );
        }
        Err(e) => return Err(format!("the genuine report did not verify: {e}")),
    }

    n.step("The same report without naming the development root");
    match verify_report(&good, &certs, &[], &TrustStore::amd(), now) {
        Ok(_) => return Err("a development report verified against AMD's roots".into()),
        Err(e) => n.refused(&format!("refused ({}): {e}", e.check())),
    }
    n.say("Only AMD's pinned ARKs (Milan, Genoa, Turin) are trusted by default.");

    n.step("A host flips one bit of the measurement");
    let mut tampered = good.clone();
    tampered[0x90] ^= 0x01;
    match verify_report(&tampered, &certs, &[], &trusted, now) {
        Ok(_) => return Err("a tampered report verified".into()),
        Err(e) => n.refused(&format!("refused ({}): {e}", e.check())),
    }

    n.step("A VM launched with debugging allowed");
    let debug = chain
        .report(&ReportOptions {
            policy: opts.policy | POLICY_DEBUG,
            ..opts.clone()
        })
        .map_err(|e| e.to_string())?;
    match verify_report(&debug, &certs, &[], &trusted, now) {
        Ok(v) => {
            n.ok("the report is genuine…");
            n.say(&n.s.yellow(&format!(
                "…but policy.debug = {}: the host can read this VM's memory. Appraisal policy must refuse it.",
                v.claims().policy.debug
            )));
        }
        Err(e) => return Err(format!("the debug report did not verify: {e}")),
    }

    n.step("Time matters: the same genuine report checked after the chain expired");
    let later = UnixTime(chain.options().not_after + 1);
    match verify_report(&good, &certs, &[], &trusted, later) {
        Ok(_) => return Err("an expired chain verified".into()),
        Err(e) => n.refused(&format!("refused ({}): {e}", e.check())),
    }
    outln("");
    outln(&n.s.bold(
        "Done: a genuine report verified; unanchored, tampered and expired ones were refused.",
    ));
    Ok(())
}

pub fn run(a: &DemoArgs) -> ExitCode {
    let mut n = Narrator {
        s: Style::detect(a.no_color),
        step: 0,
    };
    outln(
        &n.s.bold("Mamori demo: remote attestation of a (simulated) AMD SEV-SNP confidential VM"),
    );
    match run_all(&mut n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mamori demo failed: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_all(n: &mut Narrator) -> Result<(), String> {
    outln("");
    outln(&n.s.bold("Part 1 — the Verifier, offline"));
    n.step("A simulated AMD SEV-SNP platform");
    n.say("Generating a development chain: ARK and ASK (RSA-4096, RSASSA-PSS) and a P-384 VCEK");
    n.say("with AMD's TCB and chip-id extensions. It is not AMD's: it is trusted only when named.");
    let chain = std::sync::Arc::new(
        SnpSimChain::generate(SimChainOptions::default()).map_err(|e| e.to_string())?,
    );
    n.ok(&format!(
        "platform ready: product {}, chip id {}…",
        chain.options().product,
        &hex::encode(chain.chip_id())[..16]
    ));
    offline(n, &chain)?;
    outln("");
    outln(&n.s.bold("Part 2 — the key broker: attestation, policy, secret release"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(service_part(n, chain))?;
    outln("");
    outln(&n.s.bold(
        "Done: the approved VM got its disk key; the debug VM and the unknown image were refused, with the claim that failed.",
    ));
    Ok(())
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn service_part(n: &mut Narrator, chain: std::sync::Arc<SnpSimChain>) -> Result<(), String> {
    use mamori_agent::{NativeClient, SimulatedSnp, TeeKey};
    use serde_json::json;
    let dir = TempDir(std::env::temp_dir().join(format!(
        "mamori-demo-{}-{}",
        std::process::id(),
        mamori_server::now()
    )));
    std::fs::create_dir_all(&dir.0).map_err(|e| e.to_string())?;

    n.step("The operator starts `mamori serve` (embedded store, loopback, ephemeral port)");
    let (admin_private, admin_public) = mamori_service::admin::generate_key_pair()?;
    std::fs::write(dir.0.join("admin.pub"), admin_public).map_err(|e| e.to_string())?;
    std::fs::write(dir.0.join("ark.pem"), chain.ark_pem()).map_err(|e| e.to_string())?;
    let mut cfg = mamori_service::Config {
        data_dir: dir.0.join("data"),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        ..mamori_service::Config::default()
    };
    cfg.admin.public_keys = vec![dir.0.join("admin.pub")];
    cfg.snp.trust_anchors = vec![dir.0.join("ark.pem")];
    let svc = mamori_service::Service::start(cfg, mamori_server::now())
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let served = svc.clone();
    let server = tokio::spawn(async move {
        let _ = mamori_server::serve(listener, served, std::future::pending()).await;
    });
    n.ok(&format!("listening on {url}; token-signing key created and sealed; development root trusted for this demo only"));

    let http = mamori_agent::http_client(None).map_err(|e| e.to_string())?;
    let admin = crate::admin::Client::new(&url, admin_private.as_bytes(), None)?;
    n.step("The operator registers the approved launch measurement and a disk key");
    let approved = sha384(b"ovmf + kernel + initrd + cmdline of the approved image");
    admin
        .send(
            reqwest::Method::PUT,
            "/v1/admin/reference-value",
            Some(
                json!({"name": "snp_launch_measurement", "values": [hex::encode(approved)]})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await?;
    n.field(
        "reference",
        &format!("snp_launch_measurement = {}…", &hex::encode(approved)[..32]),
    );
    let disk_key = b"LUKS2 volume key for vm-42 (256 bits of randomness in real life)";
    admin
        .send(
            reqwest::Method::PUT,
            "/v1/admin/resource/default/disk-key/vm-42",
            Some(disk_key.to_vec()),
        )
        .await?;
    n.field(
        "resource",
        "default/disk-key/vm-42 (sealed with AES-256-GCM under the key-encryption key)",
    );
    n.field(
        "policy",
        "release only when every submodule is affirming (the default resource policy)",
    );

    let client = NativeClient::new(&url, http.clone());
    let vm = |policy: u64, measurement: [u8; 48]| SimulatedSnp {
        chain: chain.clone(),
        options: ReportOptions {
            measurement,
            policy,
            ..ReportOptions::default()
        },
    };

    n.step("VM vm-42 boots the approved image and attests (passport model)");
    let key = TeeKey::generate().map_err(|e| e.to_string())?;
    n.say("It makes a P-256 key, asks for a nonce, and binds both into REPORT_DATA:");
    n.say(
        "SHA-384(JCS({\"nonce\", \"tee-pubkey\"})) — only this VM can open what is released to it.",
    );
    let passport = client
        .attest(&vm(0x30000, approved), &key)
        .await
        .map_err(|e| e.to_string())?;
    n.ok(&format!(
        "EAR token issued: ear.status = {}",
        n.s.green(&passport.status)
    ));
    if let Some(v) = passport.response.get("trust_vector") {
        n.field("trust vector", &v.to_string());
    }
    let secret = client
        .resource(&passport.token, &key, "default/disk-key/vm-42")
        .await
        .map_err(|e| e.to_string())?;
    n.ok(&format!(
        "disk key released as a JWE and decrypted inside the VM: {:?}",
        String::from_utf8_lossy(&secret)
    ));

    n.step("A VM launched with debugging allowed asks for the same key");
    let key = TeeKey::generate().map_err(|e| e.to_string())?;
    let p = client
        .attest(&vm(0x30000 | tee_sim::snp::POLICY_DEBUG, approved), &key)
        .await
        .map_err(|e| e.to_string())?;
    n.say(&format!(
        "its report is genuine, but the appraisal says {}",
        n.s.red(&p.status)
    ));
    for r in &p.reasons {
        n.field("failed claim", r);
    }
    match client
        .resource(&p.token, &key, "default/disk-key/vm-42")
        .await
    {
        Ok(_) => return Err("the debug VM received the key".into()),
        Err(e) => n.refused(&format!("release refused: {e}")),
    }

    n.step("A VM booted from an unknown image asks for the key");
    let key = TeeKey::generate().map_err(|e| e.to_string())?;
    let p = client
        .attest(&vm(0x30000, sha384(b"an image nobody approved")), &key)
        .await
        .map_err(|e| e.to_string())?;
    n.say(&format!("appraisal: {}", n.s.red(&p.status)));
    for r in &p.reasons {
        n.field("failed claim", r);
    }
    match client
        .resource(&p.token, &key, "default/disk-key/vm-42")
        .await
    {
        Ok(_) => return Err("the unknown image received the key".into()),
        Err(e) => n.refused(&format!("release refused: {e}")),
    }

    n.step("Every decision is in the hash-chained audit log");
    let check = svc.audit_verify().await.map_err(|e| e.to_string())?;
    n.ok(&format!(
        "{} entries, chain intact (head {}…)",
        check.entries,
        check.head.get(..16).unwrap_or(&check.head)
    ));
    server.abort();
    svc.store().close().await;
    Ok(())
}

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

fn run_inner(n: &mut Narrator) -> Result<(), String> {
    let now = crate::verify::now();
    n.step("A simulated AMD SEV-SNP platform");
    n.say("Generating a development chain: ARK and ASK (RSA-4096, RSASSA-PSS) and a P-384 VCEK");
    n.say("with AMD's TCB and chip-id extensions. It is not AMD's: it is trusted only when named.");
    let chain = SnpSimChain::generate(SimChainOptions::default()).map_err(|e| e.to_string())?;
    let ark = Certificate::from_der(chain.ark_der()).map_err(|e| e.to_string())?;
    let certs = vec![
        Certificate::from_der(chain.vcek_der()).map_err(|e| e.to_string())?,
        Certificate::from_der(chain.ask_der()).map_err(|e| e.to_string())?,
    ];
    n.ok(&format!(
        "platform ready: product {}, chip id {}…",
        chain.options().product,
        &hex::encode(chain.chip_id())[..16]
    ));

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
    match run_inner(&mut n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mamori demo failed: {e}");
            ExitCode::from(1)
        }
    }
}

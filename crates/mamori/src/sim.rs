//! `mamori sim snp`: a development SEV-SNP platform on disk.

use crate::cli::{ProductArg, SigningKeyArg, SimSnpArgs};
use crate::output::outln;
use std::path::Path;
use std::process::ExitCode;
use tee_sim::{ReportOptions, SimChainOptions, SnpSimChain};
use tee_snp::{Product, SigningKey};

/// Parses hex into exactly `N` bytes, right-padding shorter input with zeros
/// only when `pad` is set.
pub fn hex_field<const N: usize>(name: &str, s: &str, pad: bool) -> Result<[u8; N], String> {
    let bytes = hex::decode(s.trim().trim_start_matches("0x"))
        .map_err(|e| format!("--{name}: not hex: {e}"))?;
    if bytes.len() > N || (!pad && bytes.len() != N) {
        return Err(format!("--{name}: {} bytes, expected {N}", bytes.len()));
    }
    let mut out = [0u8; N];
    out[..bytes.len()].copy_from_slice(&bytes);
    Ok(out)
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let t = s.trim();
    match t.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse(),
    }
    .map_err(|e| format!("--policy {s:?}: {e}"))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Loads the platform stored in `dir`, or creates and stores a new one.
pub fn platform(dir: Option<&Path>, options: SimChainOptions) -> Result<SnpSimChain, String> {
    if let Some(d) = dir {
        if d.join("vcek.key").exists() {
            let get = |n: &str| std::fs::read(d.join(n)).ok();
            return SnpSimChain::import(&get).map_err(|e| format!("{}: {e}", d.display()));
        }
    }
    let chain = SnpSimChain::generate(options).map_err(|e| e.to_string())?;
    if let Some(d) = dir {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        for (name, bytes) in chain.export().map_err(|e| e.to_string())? {
            let p = d.join(name);
            // Created 0600, never readable by others even for a moment (the
            // directory holds the private keys of a root servers may trust).
            // A leftover from an interrupted run is replaced.
            let _ = std::fs::remove_file(&p);
            mamori_service::kek::write_private(&p, &bytes)
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        }
    }
    Ok(chain)
}

fn run_inner(a: &SimSnpArgs) -> Result<(), String> {
    let product = match a.product {
        ProductArg::Milan => Product::Milan,
        ProductArg::Genoa => Product::Genoa,
        ProductArg::Turin => Product::Turin,
    };
    let signing_key = match a.signing_key {
        SigningKeyArg::Vcek => SigningKey::Vcek,
        SigningKeyArg::Vlek => SigningKey::Vlek,
    };
    let mut opts = ReportOptions {
        version: a.report_version,
        vmpl: a.vmpl,
        ..ReportOptions::default()
    };
    if let Some(m) = &a.measurement {
        opts.measurement = hex_field("measurement", m, false)?;
    }
    if let Some(r) = &a.report_data {
        opts.report_data = hex_field("report-data", r, true)?;
    }
    if let Some(h) = &a.host_data {
        opts.host_data = hex_field("host-data", h, false)?;
    }
    if let Some(p) = &a.policy {
        opts.policy = parse_u64(p)?;
    }
    if a.debug {
        opts.policy |= tee_sim::snp::POLICY_DEBUG;
    }
    let chain = platform(
        a.platform.as_deref(),
        SimChainOptions {
            product,
            signing_key,
            ..SimChainOptions::default()
        },
    )?;
    let report = chain.report(&opts).map_err(|e| e.to_string())?;
    let certs = a.out.join("certs");
    std::fs::create_dir_all(&certs)
        .map_err(|e| format!("cannot create {}: {e}", certs.display()))?;
    let report_path = a.out.join("report.bin");
    write(&report_path, &report)?;
    let leaf = if chain.options().signing_key == SigningKey::Vlek {
        "vlek.pem"
    } else {
        "vcek.pem"
    };
    write(&certs.join(leaf), chain.vcek_pem().as_bytes())?;
    write(&certs.join("ask.pem"), chain.ask_pem().as_bytes())?;
    write(&certs.join("ark.pem"), chain.ark_pem().as_bytes())?;
    outln(&format!(
        "wrote {} (simulated {} report, version {})",
        report_path.display(),
        chain.options().product,
        opts.version
    ));
    outln(&format!(
        "wrote {}/{{{leaf},ask.pem,ark.pem}} (development chain: NOT an AMD root)",
        certs.display()
    ));
    outln(&format!(
        "verify with: mamori verify {} --collateral {} --trust-anchor {}",
        report_path.display(),
        certs.display(),
        certs.join("ark.pem").display()
    ));
    Ok(())
}

pub fn run_snp(a: &SimSnpArgs) -> ExitCode {
    match run_inner(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mamori sim snp: {e}");
            ExitCode::from(2)
        }
    }
}

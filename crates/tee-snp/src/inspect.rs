//! A human-readable rendering of a report, in the spirit of vendor tools:
//! every field, policy bits spelled out, TCBs side by side, hex wrapped.

use crate::claims::SnpClaims;
use crate::report::Report;
use crate::types::TcbComponents;
use std::fmt::Write;

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn hex_lines(out: &mut String, label: &str, hex: &str) {
    let mut first = true;
    for chunk in hex.as_bytes().chunks(64) {
        let text = String::from_utf8_lossy(chunk);
        if first {
            let _ = writeln!(out, "  {label:<24}{text}");
            first = false;
        } else {
            let _ = writeln!(out, "  {:<24}{text}", "");
        }
    }
}

fn tcb_row(out: &mut String, label: &str, t: &TcbComponents, fmc: bool) {
    let fmc_col = match (fmc, t.fmc) {
        (true, Some(f)) => format!("{f:>5}"),
        (true, None) => format!("{:>5}", "-"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "    {label:<12}{fmc_col}{:>12}{:>6}{:>6}{:>11}   0x{}",
        t.bootloader, t.tee, t.snp, t.microcode, t.raw
    );
}

/// Renders the report (and what is known about its origin) for people.
pub fn render(report: &Report<'_>, claims: &SnpClaims, container: &str, encoding: &str) -> String {
    let c = claims;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "AMD SEV-SNP attestation report, version {} ({} bytes; container {container}, encoding {encoding})",
        c.version,
        report.as_bytes().len()
    );
    let product = match (c.product, c.cpuid) {
        (Some(p), Some(id)) => format!(
            "{p} (CPUID family {:#04x}, model {:#04x}, stepping {:#04x})",
            id.family, id.model, id.stepping
        ),
        (Some(p), None) => p.to_string(),
        (None, Some(id)) => format!(
            "unknown (CPUID family {:#04x}, model {:#04x}, stepping {:#04x})",
            id.family, id.model, id.stepping
        ),
        (None, None) => "not stated by a v2 report (the VCEK names it)".into(),
    };
    let _ = writeln!(o, "  {:<24}{product}", "Product");
    let _ = writeln!(o, "  {:<24}{}", "Guest SVN", c.guest_svn);
    let _ = writeln!(o, "  {:<24}{}", "VMPL", c.vmpl);
    let _ = writeln!(
        o,
        "  {:<24}{} (ECDSA P-384 with SHA-384)",
        "Signature algorithm", c.signature_algo
    );
    let _ = writeln!(
        o,
        "  {:<24}{} (author key enabled: {}, chip id masked: {})",
        "Signing key",
        c.signing_key.as_str().to_uppercase(),
        yes(c.author_key_en),
        yes(c.mask_chip_key)
    );
    let p = &c.policy;
    let _ = writeln!(o, "  {:<24}{}", "Guest policy", p.raw);
    let _ = writeln!(
        o,
        "    {:<22}{}.{}",
        "minimum ABI", p.abi_major, p.abi_minor
    );
    for (name, v) in [
        ("SMT allowed", p.smt),
        ("migration agent", p.migrate_ma),
        ("debug allowed", p.debug),
        ("single socket", p.single_socket),
        ("CXL allowed", p.cxl_allow),
        ("AES-256-XTS required", p.mem_aes_256_xts),
        ("RAPL disabled", p.rapl_dis),
        ("ciphertext hiding", p.ciphertext_hiding),
        ("page swap disabled", p.page_swap_disable),
    ] {
        let mark = if name == "debug allowed" && v {
            "YES (the host can read guest memory)"
        } else {
            yes(v)
        };
        let _ = writeln!(o, "    {name:<22}{mark}");
    }
    let pi = &c.platform_info;
    let mut flags = Vec::new();
    for (name, v) in [
        ("SMT", pi.smt_enabled),
        ("TSME", pi.tsme_enabled),
        ("ECC", pi.ecc_enabled),
        ("RAPL disabled", pi.rapl_disabled),
        ("ciphertext hiding", pi.ciphertext_hiding_enabled),
        ("alias check complete", pi.alias_check_complete),
        ("TIO", pi.tio_enabled),
    ] {
        if v {
            flags.push(name);
        }
    }
    let _ = writeln!(
        o,
        "  {:<24}{} [{}]",
        "Platform info",
        pi.raw,
        flags.join(", ")
    );
    let fmc = c.reported_tcb.fmc.is_some();
    let _ = writeln!(
        o,
        "  TCB versions{}{:>12}{:>6}{:>6}{:>11}   raw",
        if fmc { "        fmc" } else { "      " },
        "bootloader",
        "tee",
        "snp",
        "microcode"
    );
    tcb_row(&mut o, "current", &c.current_tcb, fmc);
    tcb_row(&mut o, "reported", &c.reported_tcb, fmc);
    tcb_row(&mut o, "committed", &c.committed_tcb, fmc);
    tcb_row(&mut o, "launch", &c.launch_tcb, fmc);
    let _ = writeln!(
        o,
        "  {:<24}current {}, committed {}",
        "Firmware", c.current_version, c.committed_version
    );
    if let (Some(l), Some(cur)) = (&c.launch_mit_vector, &c.current_mit_vector) {
        let _ = writeln!(o, "  {:<24}launch {l}, current {cur}", "Mitigation vectors");
    }
    hex_lines(&mut o, "Measurement", &c.measurement);
    hex_lines(&mut o, "Report data", &c.report_data);
    hex_lines(&mut o, "Host data", &c.host_data);
    hex_lines(&mut o, "Family ID", &c.family_id);
    hex_lines(&mut o, "Image ID", &c.image_id);
    hex_lines(&mut o, "ID key digest", &c.id_key_digest);
    hex_lines(&mut o, "Author key digest", &c.author_key_digest);
    hex_lines(&mut o, "Report ID", &c.report_id);
    hex_lines(&mut o, "Report ID (MA)", &c.report_id_ma);
    hex_lines(&mut o, "Chip ID", &c.chip_id);
    let sig = report.signature_fixed();
    hex_lines(&mut o, "Signature R", &hex::encode(&sig[..48]));
    hex_lines(&mut o, "Signature S", &hex::encode(&sig[48..]));
    o
}

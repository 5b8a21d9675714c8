//! Human-readable rendering for `mamori inspect` / `mamori verify`.

use core::fmt::{self, Display, Formatter, Write as _};

use crate::claims::{PlatformClaims, QuoteClaims};
use crate::verify::{InspectedQuote, QuoteInfo, VerifiedQuote};

fn tee_name(t: u32) -> &'static str {
    match t {
        0 => "SGX",
        0x81 => "TDX",
        _ => "unknown",
    }
}

fn write_info(f: &mut Formatter<'_>, i: &QuoteInfo) -> fmt::Result {
    writeln!(
        f,
        "Intel DCAP quote v{} ({}, TEE type {:#04x})",
        i.version,
        tee_name(i.tee_type),
        i.tee_type
    )?;
    writeln!(f, "  container:            {:?}", i.container)?;
    writeln!(
        f,
        "  length:               {} bytes (+{} bytes zero padding)",
        i.quote_len, i.padding
    )?;
    writeln!(
        f,
        "  attestation key type: {} (ECDSA-256 with P-256)",
        i.att_key_type
    )?;
    writeln!(
        f,
        "  QE SVN / PCE SVN:     {} / {} (header)",
        i.header_qe_svn, i.header_pce_svn
    )?;
    writeln!(f, "  QE vendor id:         {}", i.qe_vendor_id)?;
    writeln!(f, "  user data:            {}", i.user_data)?;
    Ok(())
}

fn write_body(f: &mut Formatter<'_>, c: &QuoteClaims) -> fmt::Result {
    writeln!(f, "Body ({}):", c.body_type)?;
    if let Some(t) = &c.tdx {
        let mut rows = vec![
            ("TEE_TCB_SVN", t.tee_tcb_svn.hex()),
            ("MRSEAM", t.mr_seam.hex()),
            ("MRSIGNERSEAM", t.mr_signer_seam.hex()),
            ("SEAMATTRIBUTES", t.seam_attributes.hex()),
            (
                "TDATTRIBUTES",
                format!(
                    "{} [{}]",
                    t.td_attributes.hex(),
                    t.td_attributes_flags.join(", ")
                ),
            ),
            ("XFAM", t.xfam.hex()),
            ("MRTD", t.mr_td.hex()),
            ("MRCONFIGID", t.mr_config_id.hex()),
            ("MROWNER", t.mr_owner.hex()),
            ("MROWNERCONFIG", t.mr_owner_config.hex()),
            ("RTMR0", t.rtmr0.hex()),
            ("RTMR1", t.rtmr1.hex()),
            ("RTMR2", t.rtmr2.hex()),
            ("RTMR3", t.rtmr3.hex()),
        ];
        if let Some(x) = &t.tee_tcb_svn2 {
            rows.push(("TEE_TCB_SVN2", x.hex()));
        }
        if let Some(x) = &t.mr_servicetd {
            rows.push(("MRSERVICETD", x.hex()));
        }
        for (k, v) in rows {
            writeln!(f, "  {k:<15} {v}")?;
        }
    }
    if let Some(s) = &c.sgx {
        writeln!(f, "  {:<15} {}", "MRENCLAVE", s.mr_enclave)?;
        writeln!(f, "  {:<15} {}", "MRSIGNER", s.mr_signer)?;
        writeln!(f, "  {:<15} {}", "ISVPRODID", s.isv_prod_id)?;
        writeln!(f, "  {:<15} {}", "ISVSVN", s.isv_svn)?;
        writeln!(f, "  {:<15} {}", "ATTRIBUTES", s.attributes)?;
        writeln!(f, "  {:<15} {}", "CPUSVN", s.cpu_svn)?;
        writeln!(f, "  {:<15} {}", "MISCSELECT", s.misc_select)?;
        writeln!(f, "  {:<15} {}", "CONFIGID", s.config_id)?;
        writeln!(f, "  {:<15} {}", "CONFIGSVN", s.config_svn)?;
    }
    writeln!(f, "  {:<15} {}", "DEBUG", c.debug)?;
    writeln!(f, "  {:<15} {}", "REPORTDATA", c.report_data)?;
    Ok(())
}

fn write_sig(f: &mut Formatter<'_>, i: &QuoteInfo) -> fmt::Result {
    writeln!(
        f,
        "Signature data (certification data type {}):",
        i.cert_data_type
    )?;
    writeln!(f, "  signature:       {}", i.signature)?;
    writeln!(f, "  attestation key: {}", i.attestation_key)?;
    writeln!(
        f,
        "  QE report:       MRENCLAVE {} MRSIGNER {} ISVPRODID {} ISVSVN {}",
        i.qe_mr_enclave, i.qe_mr_signer, i.qe_isv_prod_id, i.qe_isv_svn
    )?;
    writeln!(f, "  QE auth data:    {} bytes", i.qe_auth_data_len)?;
    writeln!(f, "PCK certificate chain:")?;
    for c in &i.pck_chain {
        writeln!(f, "  - {} (serial {})", c.subject, c.serial)?;
        writeln!(
            f,
            "    issuer {}; valid {} .. {}",
            c.issuer, c.not_before, c.not_after
        )?;
    }
    if let Some(p) = &i.pck {
        write_pck(f, p)?;
    }
    Ok(())
}

fn write_pck(f: &mut Formatter<'_>, p: &PlatformClaims) -> fmt::Result {
    let mut comps = String::new();
    for (n, c) in p.sgx_tcb_components.iter().enumerate() {
        if n > 0 {
            comps.push(' ');
        }
        let _ = write!(comps, "{c}");
    }
    writeln!(
        f,
        "PCK extensions: FMSPC {} PCE-ID {} PCESVN {} CPUSVN {} SGX type {} ({} CA)",
        p.fmspc, p.pce_id, p.pce_svn, p.pck_cpu_svn, p.sgx_type, p.pck_ca
    )?;
    writeln!(f, "  SGX TCB components: {comps}")
}

impl Display for InspectedQuote {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_info(f, &self.info)?;
        write_body(f, &self.claims)?;
        write_sig(f, &self.info)?;
        writeln!(f, "(not verified)")
    }
}

impl Display for VerifiedQuote {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_info(f, &self.info)?;
        write_body(f, &self.claims.quote)?;
        write_sig(f, &self.info)?;
        let t = &self.claims.tcb;
        let c = &self.claims.collateral;
        writeln!(f, "TCB:")?;
        writeln!(f, "  status:            {}", t.tcb_status)?;
        writeln!(
            f,
            "  platform level:    {} (tcbDate {})",
            t.platform_tcb_status, t.tcb_date
        )?;
        if let Some(m) = &t.tdx_module_tcb_status {
            writeln!(
                f,
                "  TDX module:        {} ({})",
                m,
                t.tdx_module_identity.as_deref().unwrap_or("tdxModule")
            )?;
        }
        writeln!(
            f,
            "  QE identity level: {} (tcbDate {})",
            t.qe_tcb_status, t.qe_tcb_date
        )?;
        writeln!(f, "  advisories:        {}", t.advisory_ids.join(", "))?;
        writeln!(f, "  evaluation data #: {}", t.tcb_evaluation_data_number)?;
        writeln!(
            f,
            "Collateral: TCB info {}..{}, QE identity {}..{}, PCK CRL {}, root CA CRL {}",
            c.tcb_info_issue_date,
            c.tcb_info_next_update,
            c.qe_identity_issue_date,
            c.qe_identity_next_update,
            if c.pck_crl_checked {
                "checked"
            } else {
                "not given"
            },
            if c.root_ca_crl_checked {
                "checked"
            } else {
                "not given"
            }
        )?;
        writeln!(
            f,
            "Verified: quote signature, QE report, PCK chain to the Intel SGX Root CA, collateral"
        )
    }
}

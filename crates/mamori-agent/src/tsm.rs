//! Evidence from real hardware through the Linux configfs-tsm interface
//! (`/sys/kernel/config/tsm/report`): create a report directory, write the
//! 64 bytes of report data to `inblob`, read the signed report (SEV-SNP) or
//! quote (TDX) from `outblob`, and for SEV-SNP the certificate table the
//! host provides from `auxblob`.

use crate::{AgentError, EvidenceSource};
use base64::Engine;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The configfs-tsm mount point on Linux guests.
pub const DEFAULT_ROOT: &str = "/sys/kernel/config/tsm/report";

/// Certificate-table GUIDs (GHCB specification), in their wire byte order.
const GUIDS: [(&str, [u8; 16]); 4] = [
    (
        "VCEK",
        guid(
            0x63da758d,
            0xe664,
            0x4564,
            [0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd],
        ),
    ),
    (
        "VLEK",
        guid(
            0xa8074bc2,
            0xa25a,
            0x483e,
            [0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1],
        ),
    ),
    (
        "ASK",
        guid(
            0x4ab7b379,
            0xbbac,
            0x4fe4,
            [0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82],
        ),
    ),
    (
        "ARK",
        guid(
            0xc0b406a4,
            0xa803,
            0x4952,
            [0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae],
        ),
    ),
];

/// A GUID's binary form: the first three fields little-endian.
const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// One certificate of the host's table: its kind (`VCEK`, `ASK`, …) and DER.
pub type CertEntry = (String, Vec<u8>);

/// Parses the SEV-SNP certificate table (entries of GUID, offset, length,
/// ended by an all-zero entry; offsets relative to the table's start).
pub fn parse_cert_table(table: &[u8]) -> Result<Vec<CertEntry>, AgentError> {
    let bad = |m: &str| AgentError::Evidence(format!("certificate table: {m}"));
    let mut out = Vec::new();
    for i in 0.. {
        let at = i * 24;
        let e = table
            .get(at..at + 24)
            .ok_or_else(|| bad("no terminating entry"))?;
        if e.iter().all(|b| *b == 0) {
            return Ok(out);
        }
        let (g, rest) = e.split_at(16);
        let off = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let (off, len) = (
            usize::try_from(off).map_err(|_| bad("offset"))?,
            usize::try_from(len).map_err(|_| bad("length"))?,
        );
        let end = off.checked_add(len).ok_or_else(|| bad("entry overflows"))?;
        let der = table
            .get(off..end)
            .ok_or_else(|| bad("entry beyond the table"))?;
        let kind = GUIDS
            .iter()
            .find(|(_, id)| id.as_slice() == g)
            .map(|(k, _)| (*k).to_owned())
            .unwrap_or_else(|| "OTHER".to_owned());
        out.push((kind, der.to_vec()));
    }
    Ok(out)
}

/// The TEE behind configfs-tsm, as its `provider` file names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    SevGuest,
    TdxGuest,
}

/// What one report directory produced.
#[derive(Clone, Debug)]
pub struct TsmOutput {
    pub provider: Provider,
    pub outblob: Vec<u8>,
    pub auxblob: Option<Vec<u8>>,
}

/// Reads a report directory after `inblob` was written.
pub fn read_outputs(dir: &Path) -> Result<TsmOutput, AgentError> {
    let read = |n: &str| std::fs::read(dir.join(n));
    let provider = read("provider")
        .map_err(|e| AgentError::Evidence(format!("{}/provider: {e}", dir.display())))?;
    let provider = match String::from_utf8_lossy(&provider).trim() {
        "sev_guest" => Provider::SevGuest,
        "tdx_guest" => Provider::TdxGuest,
        other => {
            return Err(AgentError::Evidence(format!(
                "configfs-tsm provider {other:?} is not supported"
            )))
        }
    };
    let outblob = read("outblob")
        .map_err(|e| AgentError::Evidence(format!("{}/outblob: {e}", dir.display())))?;
    Ok(TsmOutput {
        provider,
        outblob,
        auxblob: read("auxblob").ok().filter(|a| !a.is_empty()),
    })
}

/// Evidence from configfs-tsm.
pub struct ConfigfsTsm {
    root: PathBuf,
    provider: Provider,
}

impl ConfigfsTsm {
    /// Finds which TEE the kernel's provider attests, by creating (and
    /// removing) a report directory under `root` ([`DEFAULT_ROOT`] on Linux).
    pub fn probe(root: &Path) -> Result<Self, AgentError> {
        let dir = root.join(format!("mamori-probe-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| {
            AgentError::Evidence(format!(
                "configfs-tsm {}: {e} (is this a confidential VM with configfs-tsm?)",
                dir.display()
            ))
        })?;
        let provider = std::fs::read_to_string(dir.join("provider"));
        let _ = std::fs::remove_dir(&dir);
        let provider = match provider.as_deref().map(str::trim) {
            Ok("sev_guest") => Provider::SevGuest,
            Ok("tdx_guest") => Provider::TdxGuest,
            Ok(other) => {
                return Err(AgentError::Evidence(format!(
                    "configfs-tsm provider {other:?} is not supported"
                )))
            }
            Err(e) => return Err(AgentError::Evidence(format!("configfs-tsm provider: {e}"))),
        };
        Ok(ConfigfsTsm {
            root: root.to_owned(),
            provider,
        })
    }

    /// Produces a report for `report_data` (the kernel fills `outblob`).
    pub fn collect(&self, report_data: &[u8; 64]) -> Result<TsmOutput, AgentError> {
        // One report entry per request: concurrent requests in this
        // process must not meet in the same directory.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = self.root.join(format!("mamori-{}-{n}", std::process::id()));
        let io = |what: &str, e: std::io::Error| {
            AgentError::Evidence(format!("configfs-tsm {what}: {e}"))
        };
        std::fs::create_dir(&dir).map_err(|e| io(&dir.display().to_string(), e))?;
        let result = std::fs::write(dir.join("inblob"), report_data)
            .map_err(|e| io("inblob", e))
            .and_then(|_| read_outputs(&dir));
        let _ = std::fs::remove_dir(&dir);
        result
    }

    /// The TEE kind this machine's provider attests.
    pub fn tee_of(provider: Provider) -> &'static str {
        match provider {
            Provider::SevGuest => "snp",
            Provider::TdxGuest => "tdx",
        }
    }
}

/// Turns configfs-tsm output into the evidence JSON of either protocol.
pub fn evidence_json(out: &TsmOutput, kbs: bool) -> Result<Value, AgentError> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match out.provider {
        Provider::TdxGuest => {
            // The CCEL event log, when the kernel exposes it.
            let ccel = std::fs::read("/sys/firmware/acpi/tables/data/CCEL")
                .ok()
                .map(|b| b64(&b));
            Ok(json!({"quote": b64(&out.outblob), "cc_eventlog": ccel}))
        }
        Provider::SevGuest => {
            let certs = match &out.auxblob {
                Some(t) => parse_cert_table(t)?,
                None => Vec::new(),
            };
            if kbs {
                let report = tee_snp::Report::parse(&out.outblob)
                    .map_err(|e| AgentError::Evidence(e.to_string()))?;
                let chain: Vec<Value> = certs
                    .iter()
                    .map(|(k, der)| json!({"cert_type": k, "data": der}))
                    .collect();
                Ok(json!({
                    "attestation_report": tee_snp::sev_json::report_json(&report),
                    "cert_chain": if chain.is_empty() { Value::Null } else { Value::Array(chain) },
                }))
            } else {
                let pems: Vec<String> = certs.iter().map(|(_, der)| b64(der)).collect();
                Ok(json!({"report": b64(&out.outblob), "certificates": pems}))
            }
        }
    }
}

impl EvidenceSource for ConfigfsTsm {
    fn tee(&self) -> &'static str {
        Self::tee_of(self.provider)
    }

    fn evidence(&self, report_data: &[u8; 64], kbs: bool) -> Result<Value, AgentError> {
        let out = self.collect(report_data)?;
        if out.provider != self.provider {
            return Err(AgentError::Evidence(
                "configfs-tsm provider changed between calls".into(),
            ));
        }
        evidence_json(&out, kbs)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn table(entries: &[(&[u8; 16], &[u8])]) -> Vec<u8> {
        let header = (entries.len() + 1) * 24;
        let mut t = vec![0u8; header];
        let mut off = header;
        for (i, (g, der)) in entries.iter().enumerate() {
            t[i * 24..i * 24 + 16].copy_from_slice(*g);
            t[i * 24 + 16..i * 24 + 20].copy_from_slice(&(off as u32).to_le_bytes());
            t[i * 24 + 20..i * 24 + 24].copy_from_slice(&(der.len() as u32).to_le_bytes());
            off += der.len();
        }
        for (_, der) in entries {
            t.extend_from_slice(der);
        }
        t
    }

    #[test]
    fn certificate_table_round_trip_and_malformed_tables() {
        let t = table(&[
            (&GUIDS[0].1, b"vcek-der"),
            (&GUIDS[2].1, b"ask"),
            (&[7u8; 16], b"x"),
        ]);
        let certs = parse_cert_table(&t).unwrap();
        assert_eq!(certs[0], ("VCEK".to_owned(), b"vcek-der".to_vec()));
        assert_eq!(certs[1].0, "ASK");
        assert_eq!(certs[2].0, "OTHER");
        // No terminator, an entry beyond the table, truncation: errors.
        assert!(parse_cert_table(&t[..24]).is_err());
        let mut beyond = t.clone();
        beyond[20] = 0xff;
        assert!(parse_cert_table(&beyond).is_err());
        for len in 0..t.len() {
            let _ = parse_cert_table(&t[..len]);
        }
    }

    #[test]
    fn vcek_guid_matches_the_ghcb_text_form() {
        // 63da758d-e664-4564-adc5-f4b93be8accd
        assert_eq!(hex::encode(GUIDS[0].1), "8d75da6364e66445adc5f4b93be8accd");
    }

    #[test]
    fn outputs_of_a_report_directory() {
        let dir = std::env::temp_dir().join(format!("mamori-tsm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("provider"), "tdx_guest\n").unwrap();
        std::fs::write(dir.join("outblob"), b"quote").unwrap();
        let out = read_outputs(&dir).unwrap();
        assert_eq!(out.provider, Provider::TdxGuest);
        let ev = evidence_json(&out, true).unwrap();
        assert_eq!(ev["quote"], "cXVvdGU=");
        std::fs::write(dir.join("provider"), "mystery\n").unwrap();
        assert!(read_outputs(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

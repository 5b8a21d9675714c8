//! The SEV-SNP evidence that Confidential Containers guests send to a key
//! broker: `{"attestation_report": {...}, "cert_chain": [...]}`, where the
//! report is the `sev` crate's serde form (one JSON member per field, byte
//! arrays as arrays of numbers, no reserved fields).
//!
//! The signature covers the firmware's bytes, which this form does not carry,
//! so the bytes are rebuilt field by field in the ABI layout with reserved
//! areas zero. Every member must be present with the right type and length
//! and nothing else may appear, so the rebuilt bytes are the only ones the
//! JSON can stand for; a report whose reserved bytes the firmware had set
//! fails the signature check rather than verifying something else.

use crate::report::REPORT_LEN;
use crate::types::{Product, TcbVersion};
use serde_json::{Map, Value};
use thiserror::Error;

/// Why the JSON is not a usable report.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SevJsonError {
    #[error("attestation_report.{field}: {reason}")]
    Field { field: String, reason: String },
    #[error("attestation_report: unknown member {0:?}")]
    Unknown(String),
    #[error("cert_chain: {0}")]
    CertChain(String),
}

fn field_err(field: &str, reason: impl Into<String>) -> SevJsonError {
    SevJsonError::Field {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

const MEMBERS: [&str; 29] = [
    "version",
    "guest_svn",
    "policy",
    "family_id",
    "image_id",
    "vmpl",
    "sig_algo",
    "current_tcb",
    "plat_info",
    "key_info",
    "report_data",
    "measurement",
    "host_data",
    "id_key_digest",
    "author_key_digest",
    "report_id",
    "report_id_ma",
    "reported_tcb",
    "cpuid_fam_id",
    "cpuid_mod_id",
    "cpuid_step",
    "chip_id",
    "committed_tcb",
    "current",
    "committed",
    "launch_tcb",
    "launch_mit_vector",
    "current_mit_vector",
    "signature",
];

struct Obj<'a> {
    m: &'a Map<String, Value>,
    prefix: &'a str,
}

impl<'a> Obj<'a> {
    fn get(&self, k: &str) -> Result<&'a Value, SevJsonError> {
        self.m
            .get(k)
            .ok_or_else(|| field_err(&format!("{}{k}", self.prefix), "missing"))
    }
    fn uint(&self, k: &str, max: u64) -> Result<u64, SevJsonError> {
        let v = self.get(k)?;
        let n = v
            .as_u64()
            .ok_or_else(|| field_err(&format!("{}{k}", self.prefix), "not an unsigned integer"))?;
        if n > max {
            return Err(field_err(
                &format!("{}{k}", self.prefix),
                format!("{n} exceeds {max}"),
            ));
        }
        Ok(n)
    }
    fn opt_uint(&self, k: &str, max: u64) -> Result<Option<u64>, SevJsonError> {
        match self.m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.uint(k, max).map(Some),
        }
    }
    fn bytes(&self, k: &str, len: usize) -> Result<Vec<u8>, SevJsonError> {
        json_bytes(self.get(k)?, &format!("{}{k}", self.prefix), Some(len))
    }
    fn obj(&self, k: &str) -> Result<&'a Map<String, Value>, SevJsonError> {
        self.get(k)?
            .as_object()
            .ok_or_else(|| field_err(&format!("{}{k}", self.prefix), "not an object"))
    }
}

fn json_bytes(v: &Value, field: &str, len: Option<usize>) -> Result<Vec<u8>, SevJsonError> {
    let a = v
        .as_array()
        .ok_or_else(|| field_err(field, "not an array of bytes"))?;
    if let Some(l) = len {
        if a.len() != l {
            return Err(field_err(field, format!("{} bytes, expected {l}", a.len())));
        }
    }
    a.iter()
        .map(|x| {
            x.as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| field_err(field, "element is not a byte"))
        })
        .collect()
}

fn u8_of(n: u64) -> u8 {
    // Callers bound n to 255 first.
    u8::try_from(n).unwrap_or(u8::MAX)
}

fn tcb(o: &Obj<'_>, k: &str, product: Product) -> Result<u64, SevJsonError> {
    let prefix = format!("{k}.");
    let t = Obj {
        m: o.obj(k)?,
        prefix: &prefix,
    };
    for key in t.m.keys() {
        if !["fmc", "bootloader", "tee", "snp", "microcode"].contains(&key.as_str()) {
            return Err(field_err(&format!("{k}.{key}"), "unknown member"));
        }
    }
    let bl = u8_of(t.uint("bootloader", 255)?);
    let tee = u8_of(t.uint("tee", 255)?);
    let snp = u8_of(t.uint("snp", 255)?);
    let uc = u8_of(t.uint("microcode", 255)?);
    let fmc = t.opt_uint("fmc", 255)?.map(u8_of);
    let bytes = if product.has_fmc() {
        [fmc.unwrap_or(0), bl, tee, snp, 0, 0, 0, uc]
    } else {
        if fmc.is_some() {
            return Err(field_err(
                &format!("{k}.fmc"),
                "set on a product without FMC",
            ));
        }
        [bl, tee, 0, 0, 0, 0, snp, uc]
    };
    Ok(u64::from_le_bytes(bytes))
}

fn version(o: &Obj<'_>, k: &str) -> Result<[u8; 3], SevJsonError> {
    let prefix = format!("{k}.");
    let v = Obj {
        m: o.obj(k)?,
        prefix: &prefix,
    };
    if v.m.len() != 3 {
        return Err(field_err(k, "expected exactly major, minor, build"));
    }
    Ok([
        u8_of(v.uint("build", 255)?),
        u8_of(v.uint("minor", 255)?),
        u8_of(v.uint("major", 255)?),
    ])
}

/// Rebuilds the 1184 report bytes from the `attestation_report` object.
pub fn report_bytes(v: &Value) -> Result<Vec<u8>, SevJsonError> {
    let m = v
        .as_object()
        .ok_or_else(|| field_err("", "not an object"))?;
    // The sev 6/7 form that current guests send; other shapes are refused.
    for k in m.keys() {
        if !MEMBERS.contains(&k.as_str()) {
            return Err(SevJsonError::Unknown(k.clone()));
        }
    }
    let o = Obj { m, prefix: "" };
    let ver = o.uint("version", u64::from(u32::MAX))?;
    let cpuid = (
        o.opt_uint("cpuid_fam_id", 255)?,
        o.opt_uint("cpuid_mod_id", 255)?,
        o.opt_uint("cpuid_step", 255)?,
    );
    let chip_id = o.bytes("chip_id", 64)?;
    // The TCB byte layout depends on the product. v3+ name it by CPUID; a
    // v2 report can only come from Milan or Genoa, which share one layout.
    let product = match cpuid {
        (Some(f), Some(m), Some(_)) if ver >= 3 => Product::from_cpuid(u8_of(f), u8_of(m))
            .ok_or_else(|| {
                field_err(
                    "cpuid_fam_id",
                    format!("unknown CPUID family {f:#x} model {m:#x}"),
                )
            })?,
        (None, None, None) if ver < 3 => Product::Milan,
        _ => {
            return Err(field_err(
                "cpuid_fam_id",
                "CPUID fields must be present exactly for v3 and later",
            ))
        }
    };
    let mut b = vec![0u8; REPORT_LEN];
    let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    let ver32 = u32::try_from(ver).unwrap_or(u32::MAX);
    put(0x00, &ver32.to_le_bytes());
    put(
        0x04,
        &(o.uint("guest_svn", u64::from(u32::MAX))? as u32).to_le_bytes(),
    );
    put(0x08, &o.uint("policy", u64::MAX)?.to_le_bytes());
    put(0x10, &o.bytes("family_id", 16)?);
    put(0x20, &o.bytes("image_id", 16)?);
    put(
        0x30,
        &(o.uint("vmpl", u64::from(u32::MAX))? as u32).to_le_bytes(),
    );
    put(
        0x34,
        &(o.uint("sig_algo", u64::from(u32::MAX))? as u32).to_le_bytes(),
    );
    put(0x38, &tcb(&o, "current_tcb", product)?.to_le_bytes());
    put(0x40, &o.uint("plat_info", u64::MAX)?.to_le_bytes());
    put(
        0x48,
        &(o.uint("key_info", u64::from(u32::MAX))? as u32).to_le_bytes(),
    );
    put(0x50, &o.bytes("report_data", 64)?);
    put(0x90, &o.bytes("measurement", 48)?);
    put(0xC0, &o.bytes("host_data", 32)?);
    put(0xE0, &o.bytes("id_key_digest", 48)?);
    put(0x110, &o.bytes("author_key_digest", 48)?);
    put(0x140, &o.bytes("report_id", 32)?);
    put(0x160, &o.bytes("report_id_ma", 32)?);
    put(0x180, &tcb(&o, "reported_tcb", product)?.to_le_bytes());
    if let (Some(f), Some(m), Some(s)) = cpuid {
        put(0x188, &[u8_of(f), u8_of(m), u8_of(s)]);
    }
    put(0x1A0, &chip_id);
    put(0x1E0, &tcb(&o, "committed_tcb", product)?.to_le_bytes());
    put(0x1E8, &version(&o, "current")?);
    put(0x1EC, &version(&o, "committed")?);
    put(0x1F0, &tcb(&o, "launch_tcb", product)?.to_le_bytes());
    let mit = (
        o.opt_uint("launch_mit_vector", u64::MAX)?,
        o.opt_uint("current_mit_vector", u64::MAX)?,
    );
    match mit {
        (Some(l), Some(c)) if ver >= 4 => {
            put(0x1F8, &l.to_le_bytes());
            put(0x200, &c.to_le_bytes());
        }
        (None, None) => {}
        _ => {
            return Err(field_err(
                "launch_mit_vector",
                "mitigation vectors must come in pairs and only for v4 and later",
            ))
        }
    }
    let sig = o.obj("signature")?;
    if sig.len() != 2 {
        return Err(field_err("signature", "expected exactly r and s"));
    }
    let so = Obj {
        m: sig,
        prefix: "signature.",
    };
    put(0x2A0, &so.bytes("r", 72)?);
    put(0x2E8, &so.bytes("s", 72)?);
    Ok(b)
}

/// The certificates of `cert_chain` (`[{"cert_type": "VCEK", "data": [..]}]`),
/// as DER blobs with their declared types.
pub fn cert_chain(v: &Value) -> Result<Vec<(String, Vec<u8>)>, SevJsonError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(entries) => entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let kind = match e.get("cert_type") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Object(o)) if o.contains_key("OTHER") => "OTHER".to_owned(),
                    _ => {
                        return Err(SevJsonError::CertChain(format!(
                            "entry {i}: cert_type missing"
                        )))
                    }
                };
                let data = e
                    .get("data")
                    .ok_or_else(|| SevJsonError::CertChain(format!("entry {i}: data missing")))?;
                let bytes = json_bytes(data, &format!("cert_chain[{i}].data"), None)?;
                Ok((kind, bytes))
            })
            .collect(),
        _ => Err(SevJsonError::CertChain("not an array".into())),
    }
}

/// The serde form of a report, for tests and for attesters written in Rust
/// that want to speak to stock key brokers: the inverse of [`report_bytes`].
pub fn report_json(r: &crate::Report<'_>) -> Value {
    use serde_json::json;
    let product = r.cpuid_product().unwrap_or(Product::Milan);
    let t = |v: TcbVersion| {
        let c = v.components(product);
        json!({"fmc": c.fmc, "bootloader": c.bootloader, "tee": c.tee, "snp": c.snp, "microcode": c.microcode})
    };
    let arr = |b: &[u8]| Value::Array(b.iter().map(|x| json!(x)).collect());
    let b = r.as_bytes();
    let cpuid = r.cpuid();
    json!({
        "version": r.version(),
        "guest_svn": r.guest_svn(),
        "policy": r.policy_raw(),
        "family_id": arr(r.family_id()),
        "image_id": arr(r.image_id()),
        "vmpl": r.vmpl(),
        "sig_algo": r.signature_algo(),
        "current_tcb": t(r.current_tcb()),
        "plat_info": r.platform_info_raw(),
        "key_info": r.key_info(),
        "report_data": arr(r.report_data()),
        "measurement": arr(r.measurement()),
        "host_data": arr(r.host_data()),
        "id_key_digest": arr(r.id_key_digest()),
        "author_key_digest": arr(r.author_key_digest()),
        "report_id": arr(r.report_id()),
        "report_id_ma": arr(r.report_id_ma()),
        "reported_tcb": t(r.reported_tcb()),
        "cpuid_fam_id": cpuid.map(|c| c.0),
        "cpuid_mod_id": cpuid.map(|c| c.1),
        "cpuid_step": cpuid.map(|c| c.2),
        "chip_id": arr(r.chip_id()),
        "committed_tcb": t(r.committed_tcb()),
        "current": {"major": b[0x1EA], "minor": b[0x1E9], "build": b[0x1E8]},
        "committed": {"major": b[0x1EE], "minor": b[0x1ED], "build": b[0x1EC]},
        "launch_tcb": t(r.launch_tcb()),
        "launch_mit_vector": r.launch_mit_vector(),
        "current_mit_vector": r.current_mit_vector(),
        "signature": {"r": arr(&b[0x2A0..0x2E8]), "s": arr(&b[0x2E8..0x330])},
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_of_a_real_report() {
        let Some(bytes) = mamori_testvectors_read("snp-report/snp-milan-v2-trustee.bin") else {
            return;
        };
        let r = crate::Report::parse(&bytes).unwrap();
        let j = report_json(&r);
        assert_eq!(report_bytes(&j).unwrap(), bytes);
    }

    #[test]
    fn unknown_and_missing_members_are_refused() {
        let bytes = vec![0u8; REPORT_LEN];
        let mut b = bytes.clone();
        b[0] = 2;
        b[0x34] = 1;
        b[0x0A] = 2; // policy bit 17
        let r = crate::Report::parse(&b).unwrap();
        let mut j = report_json(&r);
        j["extra"] = serde_json::json!(1);
        assert!(matches!(report_bytes(&j), Err(SevJsonError::Unknown(_))));
        let mut j = report_json(&r);
        j.as_object_mut().unwrap().remove("measurement");
        assert!(report_bytes(&j).is_err());
        let mut j = report_json(&r);
        j["measurement"] = serde_json::json!([1, 2, 3]);
        assert!(report_bytes(&j).is_err());
        let mut j = report_json(&r);
        j["measurement"][0] = serde_json::json!(256);
        assert!(report_bytes(&j).is_err());
    }

    fn mamori_testvectors_read(rel: &str) -> Option<Vec<u8>> {
        let dir = std::env::var_os("MAMORI_VECTORS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
            });
        std::fs::read(dir.join(rel)).ok()
    }
}

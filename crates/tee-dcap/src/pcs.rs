//! Intel PCS collateral objects: TCB info (v2, v3; SGX and TDX) and enclave identity
//! (QE / TD_QE, v2). The signed object is kept as the exact bytes served, and the
//! signature is checked over those bytes, never over a re-serialisation.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{CollateralError, Item};

/// TCB status as defined by Intel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum TcbStatus {
    /// Platform is up to date.
    UpToDate,
    /// Up to date; software hardening (mitigations) needed.
    SWHardeningNeeded,
    /// Up to date; platform configuration needed.
    ConfigurationNeeded,
    /// Up to date; configuration and software hardening needed.
    ConfigurationAndSWHardeningNeeded,
    /// TCB is out of date.
    OutOfDate,
    /// Out of date and configuration needed.
    OutOfDateConfigurationNeeded,
    /// TCB revoked.
    Revoked,
}

impl TcbStatus {
    /// Intel's name of the status.
    pub fn as_str(&self) -> &'static str {
        match self {
            TcbStatus::UpToDate => "UpToDate",
            TcbStatus::SWHardeningNeeded => "SWHardeningNeeded",
            TcbStatus::ConfigurationNeeded => "ConfigurationNeeded",
            TcbStatus::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            TcbStatus::OutOfDate => "OutOfDate",
            TcbStatus::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            TcbStatus::Revoked => "Revoked",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "UpToDate" => TcbStatus::UpToDate,
            "SWHardeningNeeded" => TcbStatus::SWHardeningNeeded,
            "ConfigurationNeeded" => TcbStatus::ConfigurationNeeded,
            "ConfigurationAndSWHardeningNeeded" => TcbStatus::ConfigurationAndSWHardeningNeeded,
            "OutOfDate" => TcbStatus::OutOfDate,
            "OutOfDateConfigurationNeeded" => TcbStatus::OutOfDateConfigurationNeeded,
            "Revoked" => TcbStatus::Revoked,
            _ => return None,
        })
    }
}

impl core::fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which TEE a TCB info / identity is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TcbInfoId {
    /// SGX (v2 TCB info has no id and is SGX).
    Sgx,
    /// TDX.
    Tdx,
}

/// One platform TCB level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbLevel {
    /// 16 SGX TCB component SVNs.
    pub sgx_components: [u8; 16],
    /// PCESVN.
    pub pce_svn: u16,
    /// 16 TDX TCB component SVNs (TDX TCB info only).
    pub tdx_components: Option<[u8; 16]>,
    /// tcbDate as served.
    pub tcb_date: String,
    /// Status.
    pub status: TcbStatus,
    /// Advisory IDs.
    pub advisory_ids: Vec<String>,
}

/// One identity TCB level (QE identity, TDX module identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsvTcbLevel {
    /// ISVSVN (QE) or TDX module minor SVN.
    pub isv_svn: u16,
    /// tcbDate as served.
    pub tcb_date: String,
    /// Status.
    pub status: TcbStatus,
    /// Advisory IDs.
    pub advisory_ids: Vec<String>,
}

/// TDX module identity (`tdxModuleIdentities` entry, or the v3 `tdxModule` object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxModuleIdentity {
    /// `TDX_01`, `TDX_03`, … (empty for the legacy `tdxModule` object).
    pub id: String,
    /// MRSIGNER_SEAM (48 bytes).
    pub mr_signer: Vec<u8>,
    /// SEAM attributes (8 bytes).
    pub attributes: Vec<u8>,
    /// SEAM attributes mask (8 bytes).
    pub attributes_mask: Vec<u8>,
    /// TCB levels (empty for the legacy object).
    pub tcb_levels: Vec<IsvTcbLevel>,
}

/// A parsed TCB info with the exact signed bytes.
#[derive(Debug, Clone)]
pub struct TcbInfo {
    /// SGX or TDX.
    pub id: TcbInfoId,
    /// 2 or 3.
    pub version: u32,
    /// issueDate (unix seconds).
    pub issue_date: i64,
    /// nextUpdate (unix seconds).
    pub next_update: i64,
    /// FMSPC.
    pub fmspc: [u8; 6],
    /// PCE-ID.
    pub pce_id: [u8; 2],
    /// tcbType.
    pub tcb_type: u32,
    /// tcbEvaluationDataNumber.
    pub tcb_evaluation_data_number: u32,
    /// Legacy `tdxModule` (v3 TDX).
    pub tdx_module: Option<TdxModuleIdentity>,
    /// `tdxModuleIdentities` (v3 TDX).
    pub tdx_module_identities: Vec<TdxModuleIdentity>,
    /// Platform TCB levels, in served order.
    pub tcb_levels: Vec<TcbLevel>,
    /// Exact bytes of the `tcbInfo` value as served.
    pub signed_bytes: Vec<u8>,
    /// Raw r||s signature.
    pub signature: Vec<u8>,
}

/// A parsed enclave identity (QE or TD_QE) with the exact signed bytes.
#[derive(Debug, Clone)]
pub struct QeIdentity {
    /// `QE`, `TD_QE` (or `QVE`, which is not used for quotes).
    pub id: String,
    /// Version (2).
    pub version: u32,
    /// issueDate (unix seconds).
    pub issue_date: i64,
    /// nextUpdate (unix seconds).
    pub next_update: i64,
    /// tcbEvaluationDataNumber.
    pub tcb_evaluation_data_number: u32,
    /// MISCSELECT (4 bytes, report order).
    pub miscselect: [u8; 4],
    /// MISCSELECT mask.
    pub miscselect_mask: [u8; 4],
    /// ATTRIBUTES (16 bytes).
    pub attributes: [u8; 16],
    /// ATTRIBUTES mask.
    pub attributes_mask: [u8; 16],
    /// MRSIGNER.
    pub mr_signer: [u8; 32],
    /// ISVPRODID.
    pub isv_prod_id: u16,
    /// TCB levels.
    pub tcb_levels: Vec<IsvTcbLevel>,
    /// Exact bytes of the `enclaveIdentity` value as served.
    pub signed_bytes: Vec<u8>,
    /// Raw r||s signature.
    pub signature: Vec<u8>,
}

// ---------- serde shapes (borrowing) ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedTcbInfoBody<'a> {
    #[serde(rename = "tcbInfo", borrow)]
    tcb_info: &'a RawValue,
    signature: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedIdentityBody<'a> {
    #[serde(rename = "enclaveIdentity", borrow)]
    identity: &'a RawValue,
    signature: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbInfoJson {
    id: Option<String>,
    version: u32,
    issue_date: String,
    next_update: String,
    fmspc: String,
    pce_id: String,
    tcb_type: u32,
    tcb_evaluation_data_number: u32,
    tdx_module: Option<TdxModuleJson>,
    tdx_module_identities: Option<Vec<TdxModuleJson>>,
    tcb_levels: Vec<TcbLevelJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TdxModuleJson {
    id: Option<String>,
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
    tcb_levels: Option<Vec<IsvLevelJson>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbLevelJson {
    tcb: serde_json::Map<String, serde_json::Value>,
    tcb_date: String,
    tcb_status: String,
    #[serde(rename = "advisoryIDs")]
    advisory_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct IsvTcbJson {
    isvsvn: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IsvLevelJson {
    tcb: IsvTcbJson,
    tcb_date: String,
    tcb_status: String,
    #[serde(rename = "advisoryIDs")]
    advisory_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityJson {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    tcb_evaluation_data_number: u32,
    miscselect: String,
    miscselect_mask: String,
    attributes: String,
    attributes_mask: String,
    mrsigner: String,
    isvprodid: u16,
    tcb_levels: Vec<IsvLevelJson>,
}

fn bad(item: Item, reason: impl Into<String>) -> CollateralError {
    CollateralError::Malformed {
        item,
        reason: reason.into(),
    }
}

/// Parses an RFC 3339 timestamp into unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn time_field(item: Item, name: &str, s: &str) -> Result<i64, CollateralError> {
    parse_time(s).ok_or_else(|| bad(item, format!("{name} {s:?} is not an RFC 3339 time")))
}

fn hex_n<const N: usize>(item: Item, name: &str, s: &str) -> Result<[u8; N], CollateralError> {
    let v = hex::decode(s).map_err(|_| bad(item, format!("{name} is not hex")))?;
    v.try_into()
        .map_err(|_| bad(item, format!("{name} is not {N} bytes")))
}

fn hex_vec(item: Item, name: &str, s: &str, n: usize) -> Result<Vec<u8>, CollateralError> {
    let v = hex::decode(s).map_err(|_| bad(item, format!("{name} is not hex")))?;
    if v.len() != n {
        return Err(bad(item, format!("{name} is not {n} bytes")));
    }
    Ok(v)
}

fn status(item: Item, s: &str) -> Result<TcbStatus, CollateralError> {
    TcbStatus::parse(s).ok_or_else(|| bad(item, format!("unknown tcbStatus {s:?}")))
}

fn isv_levels(item: Item, v: Vec<IsvLevelJson>) -> Result<Vec<IsvTcbLevel>, CollateralError> {
    v.into_iter()
        .map(|l| {
            Ok(IsvTcbLevel {
                isv_svn: l.tcb.isvsvn,
                tcb_date: l.tcb_date,
                status: status(item, &l.tcb_status)?,
                advisory_ids: l.advisory_ids.unwrap_or_default(),
            })
        })
        .collect()
}

fn signature_hex(item: Item, s: &str) -> Result<Vec<u8>, CollateralError> {
    hex_vec(item, "signature", s, 64)
}

fn svn_u8(item: Item, v: Option<&serde_json::Value>, what: &str) -> Result<u8, CollateralError> {
    v.and_then(|x| x.as_u64())
        .and_then(|x| u8::try_from(x).ok())
        .ok_or_else(|| bad(item, format!("{what} missing or not an SVN 0..255")))
}

fn components(
    item: Item,
    v: Option<&serde_json::Value>,
    what: &str,
) -> Result<[u8; 16], CollateralError> {
    let arr = v
        .and_then(|x| x.as_array())
        .ok_or_else(|| bad(item, format!("{what} missing")))?;
    if arr.len() != 16 {
        return Err(bad(
            item,
            format!("{what} has {} entries, not 16", arr.len()),
        ));
    }
    let mut out = [0u8; 16];
    for (o, c) in out.iter_mut().zip(arr) {
        *o = svn_u8(item, c.get("svn"), what)?;
    }
    Ok(out)
}

fn module(item: Item, m: TdxModuleJson) -> Result<TdxModuleIdentity, CollateralError> {
    Ok(TdxModuleIdentity {
        id: m.id.unwrap_or_default(),
        mr_signer: hex_vec(item, "tdxModule mrsigner", &m.mrsigner, 48)?,
        attributes: hex_vec(item, "tdxModule attributes", &m.attributes, 8)?,
        attributes_mask: hex_vec(item, "tdxModule attributesMask", &m.attributes_mask, 8)?,
        tcb_levels: isv_levels(item, m.tcb_levels.unwrap_or_default())?,
    })
}

impl TcbInfo {
    /// Parses a PCS TCB info body `{"tcbInfo":{...},"signature":"..."}` as served.
    pub fn from_body(body: &[u8]) -> Result<Self, CollateralError> {
        let item = Item::TcbInfo;
        let b: SignedTcbInfoBody<'_> =
            serde_json::from_slice(body).map_err(|e| bad(item, format!("body: {e}")))?;
        Self::from_signed(
            b.tcb_info.get().as_bytes(),
            &signature_hex(item, &b.signature)?,
        )
    }

    /// Parses the exact signed `tcbInfo` bytes plus the raw signature.
    pub fn from_signed(signed: &[u8], signature: &[u8]) -> Result<Self, CollateralError> {
        let item = Item::TcbInfo;
        let j: TcbInfoJson =
            serde_json::from_slice(signed).map_err(|e| bad(item, format!("tcbInfo: {e}")))?;
        if !(2..=3).contains(&j.version) {
            return Err(CollateralError::UnsupportedVersion {
                item,
                version: j.version,
            });
        }
        let id = match (j.version, j.id.as_deref()) {
            (2, None) | (3, Some("SGX")) => TcbInfoId::Sgx,
            (3, Some("TDX")) => TcbInfoId::Tdx,
            (_, other) => {
                return Err(bad(
                    item,
                    format!("unsupported id {other:?} for version {}", j.version),
                ))
            }
        };
        let tcb_levels = j
            .tcb_levels
            .into_iter()
            .map(|l| {
                let (sgx_components, tdx_components) = if j.version == 2 {
                    let mut c = [0u8; 16];
                    for (i, o) in c.iter_mut().enumerate() {
                        let key = format!("sgxtcbcomp{:02}svn", i.saturating_add(1));
                        *o = svn_u8(item, l.tcb.get(&key), &key)?;
                    }
                    (c, None)
                } else {
                    let sgx = components(item, l.tcb.get("sgxtcbcomponents"), "sgxtcbcomponents")?;
                    let tdx = if id == TcbInfoId::Tdx {
                        Some(components(
                            item,
                            l.tcb.get("tdxtcbcomponents"),
                            "tdxtcbcomponents",
                        )?)
                    } else {
                        None
                    };
                    (sgx, tdx)
                };
                let pce_svn = l
                    .tcb
                    .get("pcesvn")
                    .and_then(|x| x.as_u64())
                    .and_then(|x| u16::try_from(x).ok())
                    .ok_or_else(|| bad(item, "pcesvn missing"))?;
                Ok(TcbLevel {
                    sgx_components,
                    pce_svn,
                    tdx_components,
                    tcb_date: l.tcb_date,
                    status: status(item, &l.tcb_status)?,
                    advisory_ids: l.advisory_ids.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, CollateralError>>()?;
        Ok(TcbInfo {
            id,
            version: j.version,
            issue_date: time_field(item, "issueDate", &j.issue_date)?,
            next_update: time_field(item, "nextUpdate", &j.next_update)?,
            fmspc: hex_n::<6>(item, "fmspc", &j.fmspc)?,
            pce_id: hex_n::<2>(item, "pceId", &j.pce_id)?,
            tcb_type: j.tcb_type,
            tcb_evaluation_data_number: j.tcb_evaluation_data_number,
            tdx_module: j.tdx_module.map(|m| module(item, m)).transpose()?,
            tdx_module_identities: j
                .tdx_module_identities
                .unwrap_or_default()
                .into_iter()
                .map(|m| module(item, m))
                .collect::<Result<_, _>>()?,
            tcb_levels,
            signed_bytes: signed.to_vec(),
            signature: signature.to_vec(),
        })
    }
}

impl QeIdentity {
    /// Parses a PCS identity body `{"enclaveIdentity":{...},"signature":"..."}` as served.
    pub fn from_body(body: &[u8]) -> Result<Self, CollateralError> {
        let item = Item::QeIdentity;
        let b: SignedIdentityBody<'_> =
            serde_json::from_slice(body).map_err(|e| bad(item, format!("body: {e}")))?;
        Self::from_signed(
            b.identity.get().as_bytes(),
            &signature_hex(item, &b.signature)?,
        )
    }

    /// Parses the exact signed `enclaveIdentity` bytes plus the raw signature.
    pub fn from_signed(signed: &[u8], signature: &[u8]) -> Result<Self, CollateralError> {
        let item = Item::QeIdentity;
        let j: IdentityJson = serde_json::from_slice(signed)
            .map_err(|e| bad(item, format!("enclaveIdentity: {e}")))?;
        if j.version != 2 {
            return Err(CollateralError::UnsupportedVersion {
                item,
                version: j.version,
            });
        }
        Ok(QeIdentity {
            issue_date: time_field(item, "issueDate", &j.issue_date)?,
            next_update: time_field(item, "nextUpdate", &j.next_update)?,
            tcb_evaluation_data_number: j.tcb_evaluation_data_number,
            miscselect: hex_n::<4>(item, "miscselect", &j.miscselect)?,
            miscselect_mask: hex_n::<4>(item, "miscselectMask", &j.miscselect_mask)?,
            attributes: hex_n::<16>(item, "attributes", &j.attributes)?,
            attributes_mask: hex_n::<16>(item, "attributesMask", &j.attributes_mask)?,
            mr_signer: hex_n::<32>(item, "mrsigner", &j.mrsigner)?,
            isv_prod_id: j.isvprodid,
            tcb_levels: isv_levels(item, j.tcb_levels)?,
            id: j.id,
            version: j.version,
            signed_bytes: signed.to_vec(),
            signature: signature.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = r#"{"version":2,"issueDate":"2025-06-04T09:25:11Z","nextUpdate":"2025-07-04T09:25:11Z","fmspc":"00606a000000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":17,"tcbLevels":[{"tcb":{"sgxtcbcomp01svn":14,"sgxtcbcomp02svn":14,"sgxtcbcomp03svn":3,"sgxtcbcomp04svn":3,"sgxtcbcomp05svn":255,"sgxtcbcomp06svn":255,"sgxtcbcomp07svn":1,"sgxtcbcomp08svn":0,"sgxtcbcomp09svn":0,"sgxtcbcomp10svn":0,"sgxtcbcomp11svn":0,"sgxtcbcomp12svn":0,"sgxtcbcomp13svn":0,"sgxtcbcomp14svn":0,"sgxtcbcomp15svn":0,"sgxtcbcomp16svn":0,"pcesvn":13},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"SWHardeningNeeded"}]}"#;

    #[test]
    fn v2_tcb_info_keeps_the_served_bytes() {
        let body = format!(
            "{{\"tcbInfo\": {V2} ,\"signature\":\"{}\"}}\n",
            "ab".repeat(64)
        );
        let t = TcbInfo::from_body(body.as_bytes()).expect("parses");
        assert_eq!(t.signed_bytes, V2.as_bytes());
        assert_eq!(t.id, TcbInfoId::Sgx);
        assert_eq!(t.fmspc, [0, 0x60, 0x6a, 0, 0, 0]);
        let l = &t.tcb_levels[0];
        assert_eq!(
            (l.sgx_components[4], l.pce_svn, l.status),
            (255, 13, TcbStatus::SWHardeningNeeded)
        );
    }

    #[test]
    fn unknown_versions_statuses_and_fields_are_errors() {
        let v4 = V2.replacen("\"version\":2", "\"version\":4", 1);
        assert!(matches!(
            TcbInfo::from_signed(v4.as_bytes(), &[0; 64]),
            Err(CollateralError::UnsupportedVersion { version: 4, .. })
        ));
        let bad = V2.replacen("SWHardeningNeeded", "Fine", 1);
        assert!(TcbInfo::from_signed(bad.as_bytes(), &[0; 64]).is_err());
        let extra = format!(
            "{{\"tcbInfo\":{V2},\"signature\":\"{}\",\"x\":1}}",
            "ab".repeat(64)
        );
        assert!(TcbInfo::from_body(extra.as_bytes()).is_err());
        let short_sig = format!("{{\"tcbInfo\":{V2},\"signature\":\"abcd\"}}");
        assert!(TcbInfo::from_body(short_sig.as_bytes()).is_err());
        assert_eq!(parse_time("2025-06-04T09:25:11Z"), Some(1_749_029_111));
        assert_eq!(parse_time("yesterday"), None);
    }
}

//! TCB level matching (Intel's algorithm): the first platform TCB level whose SGX
//! components and PCESVN are all ≤ the PCK certificate's (and, for TDX, whose TDX
//! components are ≤ TEE_TCB_SVN, skipping bytes 0–1 when TEE_TCB_SVN[1] > 0) wins.
//! For TDX with TEE_TCB_SVN[1] > 0, the TDX module identity `TDX_<SVN[1]>` must match
//! MRSIGNER_SEAM and SEAM_ATTRIBUTES and its TCB level (by TEE_TCB_SVN[0]) is
//! converged into the platform status.

use crate::error::DcapError;
use crate::pcs::{IsvTcbLevel, TcbInfo, TcbLevel, TcbStatus, TdxModuleIdentity};

/// Finds the platform TCB level for the given PCK components/PCESVN and, for TDX,
/// the TEE_TCB_SVN.
pub fn match_platform_level<'a>(
    info: &'a TcbInfo,
    sgx_components: &[u8; 16],
    pce_svn: u16,
    tee_tcb_svn: Option<&[u8; 16]>,
) -> Result<&'a TcbLevel, DcapError> {
    info.tcb_levels
        .iter()
        .find(|l| {
            let sgx_ok = sgx_components
                .iter()
                .zip(l.sgx_components.iter())
                .all(|(have, need)| have >= need);
            let pce_ok = pce_svn >= l.pce_svn;
            let tdx_ok = match (tee_tcb_svn, l.tdx_components.as_ref()) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(svn), Some(need)) => {
                    let skip = if svn.get(1).copied().unwrap_or(0) > 0 {
                        2
                    } else {
                        0
                    };
                    svn.iter()
                        .zip(need.iter())
                        .skip(skip)
                        .all(|(have, need)| have >= need)
                }
            };
            sgx_ok && pce_ok && tdx_ok
        })
        .ok_or(DcapError::NoMatchingTcbLevel {
            what: "platform TCB info",
        })
}

/// First identity TCB level whose ISVSVN is ≤ `svn`.
pub fn match_isv_level<'a>(
    levels: &'a [IsvTcbLevel],
    svn: u16,
    what: &'static str,
) -> Result<&'a IsvTcbLevel, DcapError> {
    levels
        .iter()
        .find(|l| svn >= l.isv_svn)
        .ok_or(DcapError::NoMatchingTcbLevel { what })
}

/// Outcome of the TDX module identity check.
#[derive(Debug, Clone)]
pub struct TdxModuleOutcome {
    /// Identity id used (`TDX_01`, …), empty when the legacy `tdxModule` object was used.
    pub id: String,
    /// Matched module TCB level, if the identity has levels.
    pub level: Option<IsvTcbLevel>,
}

fn masked_eq(value: &[u8], mask: &[u8], expected: &[u8]) -> bool {
    value.len() == mask.len()
        && mask.len() == expected.len()
        && value
            .iter()
            .zip(mask)
            .zip(expected)
            .all(|((v, m), e)| v & m == e & m)
}

fn check_module(
    m: &TdxModuleIdentity,
    mr_signer_seam: &[u8; 48],
    seam_attributes: &[u8; 8],
) -> Result<(), DcapError> {
    let name = if m.id.is_empty() {
        "tdxModule".to_string()
    } else {
        m.id.clone()
    };
    if m.mr_signer.as_slice() != mr_signer_seam.as_slice() {
        return Err(DcapError::TdxModuleMismatch {
            id: name,
            field: "MRSIGNER_SEAM",
        });
    }
    if !masked_eq(seam_attributes, &m.attributes_mask, &m.attributes) {
        return Err(DcapError::TdxModuleMismatch {
            id: name,
            field: "SEAM_ATTRIBUTES",
        });
    }
    Ok(())
}

/// TDX module identity check and TCB level.
pub fn check_tdx_module(
    info: &TcbInfo,
    tee_tcb_svn: &[u8; 16],
    mr_signer_seam: &[u8; 48],
    seam_attributes: &[u8; 8],
) -> Result<Option<TdxModuleOutcome>, DcapError> {
    let major = tee_tcb_svn.get(1).copied().unwrap_or(0);
    let minor = tee_tcb_svn.first().copied().unwrap_or(0);
    if major > 0 && !info.tdx_module_identities.is_empty() {
        let id = format!("TDX_{major:02X}");
        let m = info
            .tdx_module_identities
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(&id))
            .ok_or_else(|| DcapError::TdxModuleMismatch {
                id: id.clone(),
                field: "identity (not listed in the TCB info)",
            })?;
        check_module(m, mr_signer_seam, seam_attributes)?;
        let level = match_isv_level(&m.tcb_levels, u16::from(minor), "TDX module identity")?;
        return Ok(Some(TdxModuleOutcome {
            id,
            level: Some(level.clone()),
        }));
    }
    if let Some(m) = &info.tdx_module {
        check_module(m, mr_signer_seam, seam_attributes)?;
        return Ok(Some(TdxModuleOutcome {
            id: String::new(),
            level: None,
        }));
    }
    Ok(None)
}

/// Converges a platform status with the status of a component (TDX module or QE) the
/// way Intel's library does: an out-of-date component makes an up-to-date platform
/// out of date (keeping "configuration needed"), a revoked one revokes.
pub fn converge(platform: TcbStatus, component: TcbStatus) -> TcbStatus {
    use TcbStatus::*;
    match component {
        Revoked => Revoked,
        OutOfDate | OutOfDateConfigurationNeeded => match platform {
            UpToDate | SWHardeningNeeded => OutOfDate,
            ConfigurationNeeded | ConfigurationAndSWHardeningNeeded => OutOfDateConfigurationNeeded,
            other => other,
        },
        _ => platform,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TcbStatus::*;

    #[test]
    fn convergence_follows_intel() {
        assert_eq!(converge(UpToDate, UpToDate), UpToDate);
        assert_eq!(converge(SWHardeningNeeded, UpToDate), SWHardeningNeeded);
        assert_eq!(converge(UpToDate, OutOfDate), OutOfDate);
        assert_eq!(converge(SWHardeningNeeded, OutOfDate), OutOfDate);
        assert_eq!(
            converge(ConfigurationNeeded, OutOfDate),
            OutOfDateConfigurationNeeded
        );
        assert_eq!(
            converge(ConfigurationAndSWHardeningNeeded, OutOfDate),
            OutOfDateConfigurationNeeded
        );
        assert_eq!(converge(OutOfDate, OutOfDate), OutOfDate);
        assert_eq!(converge(UpToDate, Revoked), Revoked);
    }

    #[test]
    fn isv_levels_pick_the_first_at_or_below() {
        let l = |svn, status| IsvTcbLevel {
            isv_svn: svn,
            tcb_date: String::new(),
            status,
            advisory_ids: vec![],
        };
        let levels = [l(8, UpToDate), l(4, OutOfDate)];
        assert_eq!(
            match_isv_level(&levels, 9, "x").map(|l| l.status),
            Ok(UpToDate)
        );
        assert_eq!(
            match_isv_level(&levels, 5, "x").map(|l| l.status),
            Ok(OutOfDate)
        );
        assert!(match_isv_level(&levels, 3, "x").is_err());
    }
}

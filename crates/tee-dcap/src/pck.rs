//! Intel SGX PCK certificate extensions (OID 1.2.840.113741.1.13.1).
//!
//! The extension value is `SEQUENCE OF SEQUENCE { OID, value }` with, under the
//! SGX extensions arc: `.1` PPID (OCTET STRING 16), `.2` TCB (SEQUENCE of
//! `{ .2.1 .. .2.16 INTEGER component SVNs, .2.17 INTEGER PCESVN, .2.18 OCTET STRING CPUSVN }`),
//! `.3` PCE-ID (OCTET STRING 2), `.4` FMSPC (OCTET STRING 6), `.5` SGX type
//! (ENUMERATED), and optionally `.6` platform instance id and `.7` configuration.

use serde::Serialize;

/// DER encoding of OID 1.2.840.113741.1.13.1 (content bytes only).
pub const SGX_EXTENSIONS_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01];

/// SGX type from the PCK certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SgxType {
    /// 0: Standard.
    Standard,
    /// 1: Scalable.
    Scalable,
    /// 2: Scalable with integrity.
    ScalableWithIntegrity,
    /// Any other value.
    Other(u64),
}

impl core::fmt::Display for SgxType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SgxType::Standard => f.write_str("Standard"),
            SgxType::Scalable => f.write_str("Scalable"),
            SgxType::ScalableWithIntegrity => f.write_str("ScalableWithIntegrity"),
            SgxType::Other(v) => write!(f, "Other({v})"),
        }
    }
}

/// Decoded SGX extensions of a PCK certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PckExtensions {
    /// PPID.
    pub ppid: Vec<u8>,
    /// The 16 SGX TCB component SVNs.
    pub tcb_components: [u8; 16],
    /// PCESVN.
    pub pce_svn: u16,
    /// CPUSVN.
    pub cpu_svn: [u8; 16],
    /// PCE-ID.
    pub pce_id: [u8; 2],
    /// FMSPC.
    pub fmspc: [u8; 6],
    /// SGX type.
    pub sgx_type: SgxType,
}

/// Minimal strict DER reader (definite lengths only).
pub(crate) struct Der<'a> {
    buf: &'a [u8],
}

impl<'a> Der<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Der { buf }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Reads one TLV; returns (tag, contents).
    pub(crate) fn next(&mut self) -> Result<(u8, &'a [u8]), String> {
        let tag = *self.buf.first().ok_or("unexpected end of DER")?;
        let l0 = *self.buf.get(1).ok_or("unexpected end of DER length")?;
        let (len, hdr) = if l0 < 0x80 {
            (usize::from(l0), 2usize)
        } else {
            let n = usize::from(l0 & 0x7f);
            if n == 0 || n > 4 {
                return Err("unsupported DER length form".into());
            }
            let bytes = self
                .buf
                .get(2..2usize.saturating_add(n))
                .ok_or("truncated DER length")?;
            let mut len = 0usize;
            for b in bytes {
                len = len
                    .checked_mul(256)
                    .and_then(|l| l.checked_add(usize::from(*b)))
                    .ok_or("DER length overflow")?;
            }
            (len, 2usize.saturating_add(n))
        };
        let end = hdr.checked_add(len).ok_or("DER length overflow")?;
        let content = self.buf.get(hdr..end).ok_or("DER value truncated")?;
        self.buf = self.buf.get(end..).unwrap_or(&[]);
        Ok((tag, content))
    }
    pub(crate) fn expect(&mut self, tag: u8, what: &str) -> Result<&'a [u8], String> {
        let (t, c) = self.next()?;
        if t != tag {
            return Err(format!("{what}: expected tag {tag:#04x}, found {t:#04x}"));
        }
        Ok(c)
    }
}

fn der_uint(c: &[u8], what: &str) -> Result<u64, String> {
    if c.is_empty() || c.len() > 9 || c.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(format!("{what}: not a small non-negative INTEGER"));
    }
    let mut v: u64 = 0;
    for b in c {
        v = v
            .checked_mul(256)
            .and_then(|x| x.checked_add(u64::from(*b)))
            .ok_or_else(|| format!("{what}: INTEGER too large"))?;
    }
    Ok(v)
}

/// Returns the last arc of `oid` if it is `prefix.N`, for single-byte N.
fn sub_arc(oid: &[u8], prefix: &[u8]) -> Option<u8> {
    let rest = oid.strip_prefix(prefix)?;
    match rest {
        [n] if *n < 0x80 => Some(*n),
        _ => None,
    }
}

impl PckExtensions {
    /// Decodes the DER value of the SGX extensions extension.
    pub fn parse(ext_value: &[u8]) -> Result<Self, String> {
        let mut outer = Der::new(ext_value);
        let seq = outer.expect(0x30, "SGX extensions")?;
        if !outer.is_empty() {
            return Err("trailing bytes after SGX extensions".into());
        }
        let mut ppid = None;
        let mut tcb = None;
        let mut pce_id = None;
        let mut fmspc = None;
        let mut sgx_type = None;
        let mut items = Der::new(seq);
        while !items.is_empty() {
            let item = items.expect(0x30, "SGX extension entry")?;
            let mut e = Der::new(item);
            let oid = e.expect(0x06, "SGX extension OID")?;
            let (tag, val) = e.next()?;
            let Some(arc) = sub_arc(oid, SGX_EXTENSIONS_OID) else {
                return Err("SGX extension entry with a foreign OID".into());
            };
            match (arc, tag) {
                (1, 0x04) => set_once(&mut ppid, val.to_vec(), "PPID")?,
                (2, 0x30) => set_once(&mut tcb, parse_tcb(val)?, "TCB")?,
                (3, 0x04) => set_once(
                    &mut pce_id,
                    <[u8; 2]>::try_from(val).map_err(|_| "PCE-ID is not 2 bytes")?,
                    "PCE-ID",
                )?,
                (4, 0x04) => set_once(
                    &mut fmspc,
                    <[u8; 6]>::try_from(val).map_err(|_| "FMSPC is not 6 bytes")?,
                    "FMSPC",
                )?,
                (5, 0x0a) => {
                    let v = der_uint(val, "SGX type")?;
                    let t = match v {
                        0 => SgxType::Standard,
                        1 => SgxType::Scalable,
                        2 => SgxType::ScalableWithIntegrity,
                        o => SgxType::Other(o),
                    };
                    set_once(&mut sgx_type, t, "SGX type")?
                }
                // Platform instance id and configuration (multi-package platforms): accepted.
                (6, _) | (7, _) => {}
                (a, t) => return Err(format!("unexpected SGX extension .{a} with tag {t:#04x}")),
            }
        }
        let (tcb_components, pce_svn, cpu_svn) = tcb.ok_or("TCB (.2) missing")?;
        Ok(PckExtensions {
            ppid: ppid.ok_or("PPID (.1) missing")?,
            tcb_components,
            pce_svn,
            cpu_svn,
            pce_id: pce_id.ok_or("PCE-ID (.3) missing")?,
            fmspc: fmspc.ok_or("FMSPC (.4) missing")?,
            sgx_type: sgx_type.ok_or("SGX type (.5) missing")?,
        })
    }
}

fn set_once<T>(slot: &mut Option<T>, v: T, what: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{what} appears twice"));
    }
    *slot = Some(v);
    Ok(())
}

type Tcb = ([u8; 16], u16, [u8; 16]);

fn parse_tcb(seq: &[u8]) -> Result<Tcb, String> {
    let mut comps: [Option<u8>; 16] = [None; 16];
    let mut pce_svn = None;
    let mut cpu_svn = None;
    let mut tcb_prefix = SGX_EXTENSIONS_OID.to_vec();
    tcb_prefix.push(2);
    let mut items = Der::new(seq);
    while !items.is_empty() {
        let item = items.expect(0x30, "TCB entry")?;
        let mut e = Der::new(item);
        let oid = e.expect(0x06, "TCB entry OID")?;
        let (tag, val) = e.next()?;
        let arc = sub_arc(oid, &tcb_prefix).ok_or("TCB entry with a foreign OID")?;
        match (arc, tag) {
            (1..=16, 0x02) => {
                let v = der_uint(val, "TCB component SVN")?;
                let v = u8::try_from(v).map_err(|_| "TCB component SVN > 255")?;
                let idx = usize::from(arc).saturating_sub(1);
                let slot = comps.get_mut(idx).ok_or("component index")?;
                set_once(slot, v, "TCB component")?;
            }
            (17, 0x02) => {
                let v = der_uint(val, "PCESVN")?;
                set_once(
                    &mut pce_svn,
                    u16::try_from(v).map_err(|_| "PCESVN > 65535")?,
                    "PCESVN",
                )?
            }
            (18, 0x04) => set_once(
                &mut cpu_svn,
                <[u8; 16]>::try_from(val).map_err(|_| "CPUSVN is not 16 bytes")?,
                "CPUSVN",
            )?,
            (a, t) => return Err(format!("unexpected TCB entry .2.{a} with tag {t:#04x}")),
        }
    }
    let mut out = [0u8; 16];
    for (o, c) in out.iter_mut().zip(comps.iter()) {
        *o = c.ok_or("TCB component missing")?;
    }
    Ok((
        out,
        pce_svn.ok_or("PCESVN missing")?,
        cpu_svn.ok_or("CPUSVN missing")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_reader_rejects_bad_lengths() {
        assert!(Der::new(&[0x30]).next().is_err());
        assert!(Der::new(&[0x30, 0x85, 1, 2, 3, 4, 5]).next().is_err());
        assert!(Der::new(&[0x30, 0x80]).next().is_err());
        assert!(Der::new(&[0x30, 0x82, 0xff, 0xff, 0]).next().is_err());
        assert_eq!(
            Der::new(&[0x04, 0x01, 0xaa]).next(),
            Ok((0x04, &[0xaa][..]))
        );
    }

    #[test]
    fn malformed_extensions_are_errors() {
        assert!(PckExtensions::parse(&[]).is_err());
        assert!(PckExtensions::parse(&[0x30, 0x00]).is_err()); // everything missing
        assert!(PckExtensions::parse(&[0x30, 0x00, 0x00]).is_err()); // trailing
        assert!(der_uint(&[0x80], "x").is_err());
        assert_eq!(der_uint(&[0x00, 0xff], "x"), Ok(255));
    }
}

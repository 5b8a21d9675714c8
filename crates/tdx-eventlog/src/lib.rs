//! TDX event log: the ACPI CCEL table and the TCG2 crypto-agile event log it points
//! to, with replay of the SHA-384 digests into RTMR0–3.
//!
//! * CCEL table (56 bytes): ACPI header (signature `CCEL`, length, revision,
//!   checksum, OEM fields; 36 bytes), CC type u8 @36 (2 = TDX), CC subtype u8 @37,
//!   reserved u16 @38, log area minimum length u64 @40, log area start address u64 @48.
//! * Event log: a first `TCG_PCClientPCREvent` (SHA-1 format, EV_NO_ACTION) carrying
//!   the `Spec ID Event03` header with the digest sizes, then `TCG_PCR_EVENT2`
//!   records: MR index u32, event type u32, digest count u32, {alg u16, digest},
//!   event size u32, event data. MR index 0 is MRTD, 1..4 are RTMR0..3.
//!   The log ends at an index/type of all-ones or all-zeros; what follows must be
//!   uniformly 0xFF or 0x00 (the unused log area).
//!
//! RTMR[i] = SHA-384(RTMR[i] ‖ digest), from 48 zero bytes, for every event of that
//! register except EV_NO_ACTION.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use serde::Serialize;
use thiserror::Error;

/// TPM_ALG_SHA384.
pub const ALG_SHA384: u16 = 0x000c;
/// EV_NO_ACTION.
pub const EV_NO_ACTION: u32 = 0x0000_0003;

/// Event log errors, with the byte offset in the log.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventLogError {
    /// CCEL table malformed.
    #[error("CCEL table: {0}")]
    Ccel(String),
    /// Log truncated.
    #[error("event log truncated at offset {offset} reading {field}")]
    Truncated {
        /// Offset.
        offset: usize,
        /// Field.
        field: &'static str,
    },
    /// First event is not a Spec ID Event03 header.
    #[error("event log: first event is not a TCG 'Spec ID Event03' header: {0}")]
    SpecId(String),
    /// A digest algorithm not announced in the header.
    #[error(
        "event {index} at offset {offset}: digest algorithm {alg:#06x} not in the Spec ID header"
    )]
    UnknownAlgorithm {
        /// Event number.
        index: usize,
        /// Offset.
        offset: usize,
        /// Algorithm id.
        alg: u16,
    },
    /// An event has no SHA-384 digest, or a register index outside 0..=4.
    #[error("event {index} at offset {offset}: {reason}")]
    BadEvent {
        /// Event number.
        index: usize,
        /// Offset.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// Non-uniform bytes after the end of the log.
    #[error("event log: unexpected data after the end marker at offset {0}")]
    TrailingData(usize),
    /// Replayed RTMR differs from the quote.
    #[error("RTMR{index} replay mismatch: quote {quote}, event log {replayed}")]
    RtmrMismatch {
        /// 0..=3.
        index: usize,
        /// From the quote.
        quote: String,
        /// Replayed.
        replayed: String,
    },
}

/// The ACPI CCEL table.
#[derive(Debug, Clone, Serialize)]
pub struct Ccel {
    /// ACPI revision.
    pub revision: u8,
    /// OEM id.
    pub oem_id: String,
    /// OEM table id.
    pub oem_table_id: String,
    /// CC type (2 = TDX).
    pub cc_type: u8,
    /// CC subtype.
    pub cc_subtype: u8,
    /// Log area minimum length.
    pub log_area_min_len: u64,
    /// Log area start address (guest physical).
    pub log_area_start: u64,
}

fn le_u32(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off.checked_add(4)?)?
        .try_into()
        .ok()
        .map(u32::from_le_bytes)
}

fn le_u64(b: &[u8], off: usize) -> Option<u64> {
    b.get(off..off.checked_add(8)?)?
        .try_into()
        .ok()
        .map(u64::from_le_bytes)
}

/// Parses the CCEL ACPI table (checksum verified).
pub fn parse_ccel(t: &[u8]) -> Result<Ccel, EventLogError> {
    let e = |s: &str| EventLogError::Ccel(s.to_string());
    if t.get(0..4) != Some(b"CCEL") {
        return Err(e("signature is not CCEL"));
    }
    let len = le_u32(t, 4).ok_or_else(|| e("truncated header"))?;
    if usize::try_from(len).ok() != Some(t.len()) || t.len() != 56 {
        return Err(e("length field does not match the 56-byte table"));
    }
    if t.iter().fold(0u8, |a, b| a.wrapping_add(*b)) != 0 {
        return Err(e("checksum does not sum to zero"));
    }
    let s = |r: core::ops::Range<usize>| {
        t.get(r)
            .map(|b| String::from_utf8_lossy(b).trim_end().to_string())
            .unwrap_or_default()
    };
    let b = |i: usize| t.get(i).copied().unwrap_or(0);
    if t.get(38..40) != Some(&[0, 0]) {
        return Err(e("reserved field not zero"));
    }
    Ok(Ccel {
        revision: b(8),
        oem_id: s(10..16),
        oem_table_id: s(16..24),
        cc_type: b(36),
        cc_subtype: b(37),
        log_area_min_len: le_u64(t, 40).ok_or_else(|| e("truncated"))?,
        log_area_start: le_u64(t, 48).ok_or_else(|| e("truncated"))?,
    })
}

/// One event.
#[derive(Debug, Clone, Serialize)]
pub struct Event<'a> {
    /// Position in the log (the Spec ID header is not counted).
    pub index: usize,
    /// Byte offset in the log.
    pub offset: usize,
    /// CC measurement register index (0 = MRTD, 1..4 = RTMR0..3).
    pub mr_index: u32,
    /// Event type.
    pub event_type: u32,
    /// SHA-384 digest.
    #[serde(serialize_with = "ser_hex")]
    pub digest: &'a [u8],
    /// Event data.
    #[serde(serialize_with = "ser_hex")]
    pub data: &'a [u8],
}

fn ser_hex<S: serde::Serializer>(b: &&[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(b))
}

impl Event<'_> {
    /// Name of the event type per the TCG PC Client spec (or `unknown`).
    pub fn type_name(&self) -> &'static str {
        event_type_name(self.event_type)
    }
    /// RTMR number (0..=3), `None` for MRTD.
    pub fn rtmr(&self) -> Option<usize> {
        usize::try_from(self.mr_index)
            .ok()
            .and_then(|i| i.checked_sub(1))
    }
    /// Whether this event's digest is SHA-384 of `text` (with or without a
    /// NUL terminator).
    pub fn digest_is_of(&self, text: &str) -> bool {
        let plain = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, text.as_bytes());
        let mut with_nul = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA384);
        with_nul.update(text.as_bytes());
        with_nul.update(&[0]);
        self.digest == plain.as_ref() || self.digest == with_nul.finish().as_ref()
    }

    /// Event data as text when it is printable UTF-8 (NUL terminator stripped).
    pub fn text(&self) -> Option<&str> {
        let d = self.data.strip_suffix(&[0]).unwrap_or(self.data);
        let s = core::str::from_utf8(d).ok()?;
        (!s.is_empty() && s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t')).then_some(s)
    }
}

/// Event type names.
pub fn event_type_name(t: u32) -> &'static str {
    match t {
        0x0000_0001 => "EV_POST_CODE",
        0x0000_0003 => "EV_NO_ACTION",
        0x0000_0004 => "EV_SEPARATOR",
        0x0000_0005 => "EV_ACTION",
        0x0000_0006 => "EV_EVENT_TAG",
        0x0000_0007 => "EV_S_CRTM_CONTENTS",
        0x0000_0008 => "EV_S_CRTM_VERSION",
        0x0000_0009 => "EV_CPU_MICROCODE",
        0x0000_000a => "EV_PLATFORM_CONFIG_FLAGS",
        0x0000_000b => "EV_TABLE_OF_DEVICES",
        0x0000_000c => "EV_COMPACT_HASH",
        0x0000_000d => "EV_IPL",
        0x0000_000e => "EV_IPL_PARTITION_DATA",
        0x0000_0012 => "EV_NONHOST_INFO",
        0x8000_0001 => "EV_EFI_VARIABLE_DRIVER_CONFIG",
        0x8000_0002 => "EV_EFI_VARIABLE_BOOT",
        0x8000_0003 => "EV_EFI_BOOT_SERVICES_APPLICATION",
        0x8000_0004 => "EV_EFI_BOOT_SERVICES_DRIVER",
        0x8000_0005 => "EV_EFI_RUNTIME_SERVICES_DRIVER",
        0x8000_0006 => "EV_EFI_GPT_EVENT",
        0x8000_0007 => "EV_EFI_ACTION",
        0x8000_0008 => "EV_EFI_PLATFORM_FIRMWARE_BLOB",
        0x8000_0009 => "EV_EFI_HANDOFF_TABLES",
        0x8000_000a => "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
        0x8000_000b => "EV_EFI_HANDOFF_TABLES2",
        0x8000_000c => "EV_EFI_VARIABLE_BOOT2",
        0x8000_00e0 => "EV_EFI_VARIABLE_AUTHORITY",
        _ => "unknown",
    }
}

/// A parsed event log.
#[derive(Debug, Clone)]
pub struct EventLog<'a> {
    /// Digest algorithms and sizes from the Spec ID header.
    pub algorithms: Vec<(u16, u16)>,
    /// Events after the header.
    pub events: Vec<Event<'a>>,
    /// Bytes used by the log (the rest of the area is padding).
    pub used_len: usize,
}

struct R<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], EventLogError> {
        let end = self.pos.checked_add(n);
        let s = end
            .and_then(|e| self.b.get(self.pos..e))
            .ok_or(EventLogError::Truncated {
                offset: self.pos,
                field,
            })?;
        self.pos = self.pos.saturating_add(n);
        Ok(s)
    }
    fn u16(&mut self, f: &'static str) -> Result<u16, EventLogError> {
        let s = self.take(2, f)?;
        Ok(u16::from_le_bytes([
            s.first().copied().unwrap_or(0),
            s.get(1).copied().unwrap_or(0),
        ]))
    }
    fn u32(&mut self, f: &'static str) -> Result<u32, EventLogError> {
        let s = self.take(4, f)?;
        Ok(le_u32(s, 0).unwrap_or(0))
    }
    fn len32(&mut self, f: &'static str) -> Result<usize, EventLogError> {
        let v = self.u32(f)?;
        usize::try_from(v).map_err(|_| EventLogError::Truncated {
            offset: self.pos,
            field: f,
        })
    }
}

/// Parses a TCG2 crypto-agile event log (the CCEL log area, or a copy of the used part).
pub fn parse(log: &[u8]) -> Result<EventLog<'_>, EventLogError> {
    let mut r = R { b: log, pos: 0 };
    // Header event (SHA-1 format).
    r.u32("header mr_index")?;
    let t = r.u32("header event_type")?;
    if t != EV_NO_ACTION {
        return Err(EventLogError::SpecId(format!("event type {t:#x}")));
    }
    r.take(20, "header digest")?;
    let n = r.len32("header event size")?;
    let spec = r.take(n, "header event")?;
    let algorithms = parse_spec_id(spec)?;
    let mut events = Vec::new();
    loop {
        let offset = r.pos;
        let head = log.get(offset..offset.saturating_add(8));
        let rest = log.get(offset..).unwrap_or(&[]);
        if head.is_none_or(|h| h.iter().all(|b| *b == 0xff) || h.iter().all(|b| *b == 0)) {
            let first = rest.first().copied().unwrap_or(0);
            if rest.iter().any(|b| *b != first) {
                return Err(EventLogError::TrailingData(offset));
            }
            break;
        }
        let index = events.len();
        let mr_index = r.u32("mr_index")?;
        let event_type = r.u32("event_type")?;
        let count = r.u32("digest count")?;
        let mut sha384 = None;
        for _ in 0..count {
            let alg = r.u16("digest algorithm")?;
            let size = algorithms
                .iter()
                .find(|(a, _)| *a == alg)
                .map(|(_, s)| usize::from(*s))
                .ok_or(EventLogError::UnknownAlgorithm { index, offset, alg })?;
            let d = r.take(size, "digest")?;
            if alg == ALG_SHA384 {
                sha384 = Some(d);
            }
        }
        let n = r.len32("event size")?;
        let data = r.take(n, "event data")?;
        let digest = sha384.ok_or_else(|| EventLogError::BadEvent {
            index,
            offset,
            reason: "no SHA-384 digest".into(),
        })?;
        if mr_index > 4 {
            return Err(EventLogError::BadEvent {
                index,
                offset,
                reason: format!("measurement register index {mr_index} > 4"),
            });
        }
        events.push(Event {
            index,
            offset,
            mr_index,
            event_type,
            digest,
            data,
        });
    }
    Ok(EventLog {
        algorithms,
        events,
        used_len: r.pos,
    })
}

fn parse_spec_id(b: &[u8]) -> Result<Vec<(u16, u16)>, EventLogError> {
    let e = |s: &str| EventLogError::SpecId(s.to_string());
    if b.get(0..16) != Some(b"Spec ID Event03\0") {
        return Err(e("signature is not 'Spec ID Event03'"));
    }
    let mut r = R { b, pos: 24 };
    let n = r.u32("numberOfAlgorithms")?;
    if n == 0 || n > 16 {
        return Err(e("bad numberOfAlgorithms"));
    }
    let mut algs = Vec::new();
    for _ in 0..n {
        let a = r.u16("algorithmId")?;
        let s = r.u16("digestSize")?;
        algs.push((a, s));
    }
    let vlen = r.take(1, "vendorInfoSize")?;
    r.take(
        usize::from(vlen.first().copied().unwrap_or(0)),
        "vendorInfo",
    )?;
    if r.pos != b.len() {
        return Err(e("trailing bytes in the Spec ID event"));
    }
    if !algs.contains(&(ALG_SHA384, 48)) {
        return Err(e("SHA-384 (48 bytes) not among the digest algorithms"));
    }
    Ok(algs)
}

impl EventLog<'_> {
    /// Replays the events into RTMR0..3.
    pub fn replay_rtmrs(&self) -> [[u8; 48]; 4] {
        let mut rtmr = [[0u8; 48]; 4];
        for ev in &self.events {
            if ev.event_type == EV_NO_ACTION {
                continue;
            }
            let Some(reg) = ev.rtmr().and_then(|i| rtmr.get_mut(i)) else {
                continue;
            };
            let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA384);
            ctx.update(reg.as_slice());
            ctx.update(ev.digest);
            reg.copy_from_slice(ctx.finish().as_ref());
        }
        rtmr
    }

    /// Replays and requires equality with the quote's RTMR0..3.
    pub fn verify_rtmrs(&self, quote_rtmrs: [&[u8; 48]; 4]) -> Result<(), EventLogError> {
        let replayed = self.replay_rtmrs();
        for (index, (q, r)) in quote_rtmrs.iter().zip(replayed.iter()).enumerate() {
            if q.as_slice() != r.as_slice() {
                return Err(EventLogError::RtmrMismatch {
                    index,
                    quote: hex::encode(q),
                    replayed: hex::encode(r),
                });
            }
        }
        Ok(())
    }

    /// Claims for policy: every event, plus the boot-relevant ones picked out.
    pub fn claims(&self) -> EventLogClaims {
        let mut c = EventLogClaims::default();
        for ev in &self.events {
            let text = ev.text().map(str::to_string);
            c.events.push(EventClaim {
                rtmr: ev.rtmr(),
                event_type: ev.event_type,
                event_type_name: ev.type_name(),
                digest: hex::encode(ev.digest),
                text: text.clone(),
            });
            // Only events the RTMR replay covers (not MRTD's, nor
            // EV_NO_ACTION) are picked out: a digest elsewhere in the log
            // is vouched for by nothing.
            if ev.rtmr().is_none() || ev.event_type == EV_NO_ACTION {
                continue;
            }
            match (ev.event_type, ev.rtmr()) {
                (0x8000_000a | 0x8000_0008, _) => c.firmware_blobs.push(hex::encode(ev.digest)),
                (0x8000_0003, _) => c.boot_applications.push(hex::encode(ev.digest)),
                (0x0000_000d, Some(2)) => {
                    if let Some(t) = text {
                        // The event text is not what the replay covers:
                        // a command line counts only when its digest is
                        // that of the command the bootloader measured
                        // (GRUB measures the command without its
                        // description prefix).
                        if let Some(cmd) = t.strip_prefix("kernel_cmdline: ") {
                            if ev.digest_is_of(cmd) {
                                c.kernel_cmdline = Some(cmd.to_string());
                            }
                        } else if let Some(cmd) = t.strip_prefix("grub_cmd: ") {
                            if let Some(args) = cmd.strip_prefix("linux ") {
                                if ev.digest_is_of(cmd) {
                                    c.kernel_cmdline = Some(args.to_string());
                                }
                            }
                        } else if t.starts_with('/') && !t.ends_with(".cfg") {
                            // A file's event digests its contents, not its
                            // name: the path is as logged, the digest is
                            // what the replay vouches for.
                            c.kernel_path = Some(t);
                            c.kernel_digest = Some(hex::encode(ev.digest));
                        }
                    }
                }
                _ => {}
            }
        }
        c
    }
}

/// One event as a claim.
#[derive(Debug, Clone, Serialize)]
pub struct EventClaim {
    /// RTMR index, `null` for MRTD.
    pub rtmr: Option<usize>,
    /// Event type.
    pub event_type: u32,
    /// Event type name.
    pub event_type_name: &'static str,
    /// SHA-384 digest (hex).
    pub digest: String,
    /// Event data as text, when printable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Event-log claims.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventLogClaims {
    /// Digests of firmware blobs (EV_EFI_PLATFORM_FIRMWARE_BLOB[2]).
    pub firmware_blobs: Vec<String>,
    /// Digests of boot services applications (shim, bootloader, kernel EFI stub).
    pub boot_applications: Vec<String>,
    /// Kernel path as logged by the bootloader (EV_IPL in RTMR2), if found.
    /// The name is not covered by the digest (the file's contents are):
    /// pin the kernel with `kernel_digest`.
    pub kernel_path: Option<String>,
    /// SHA-384 of the kernel file loaded from `kernel_path` (the event's
    /// digest, covered by the RTMR replay).
    pub kernel_digest: Option<String>,
    /// Kernel command line (EV_IPL in RTMR2), if found and its digest is
    /// the SHA-384 of the command the bootloader measured.
    pub kernel_cmdline: Option<String>,
    /// All events.
    pub events: Vec<EventClaim>,
}

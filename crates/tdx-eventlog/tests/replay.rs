//! CCEL table + event log of the GCP COS 113 TDX VM replay to the quote's RTMRs.

fn read(rel: &str) -> Option<Vec<u8>> {
    mamori_testvectors::read(rel)
}

#[test]
fn ccel_table_parses() {
    let Some(t) = read("tdx-quote-v4/tdx-v4-gcp-cos113-ccel-table-gotdxguest.bin") else {
        return;
    };
    let c = tdx_eventlog::parse_ccel(&t).expect("ccel");
    assert_eq!(c.cc_type, 2);
    assert_eq!(c.log_area_min_len, 0x40000);
    let mut bad = t.clone();
    bad[40] ^= 1;
    assert!(
        tdx_eventlog::parse_ccel(&bad).is_err(),
        "checksum must catch a flip"
    );
}

#[test]
fn event_log_replays_to_quote_rtmrs() {
    let (Some(log), Some(q)) = (
        read("tdx-quote-v4/tdx-v4-gcp-cos113-ccel-data-gotdxguest.bin"),
        read("tdx-quote-v4/tdx-v4-gcp-cos113-gotdxguest.dat"),
    ) else {
        return;
    };
    let quote = tee_dcap::Quote::parse(&q).expect("quote");
    let td = quote.body.td().expect("td");
    let el = tdx_eventlog::parse(&log).expect("event log");
    assert!(el.events.len() > 40);
    el.verify_rtmrs(td.rtmr).expect("RTMRs replay");
    let claims = el.claims();
    assert_eq!(claims.kernel_path.as_deref(), Some("/syslinux/vmlinuz.A"));
    assert!(claims
        .kernel_digest
        .as_deref()
        .is_some_and(|d| d.len() == 96));
    assert!(claims.kernel_cmdline.is_some(), "a measured command line");

    // The logged text is not what the replay covers: a command line edited
    // in the log (same length, digest kept) still replays, but is no longer
    // reported.
    // (Every event that carries it: GRUB logs it as a command and as the
    // kernel's command line.)
    let mut edited = log.clone();
    let mut n = 0;
    for ev in &el.events {
        let Some(t) = ev.text() else { continue };
        if t.starts_with("kernel_cmdline: ") || t.starts_with("grub_cmd: linux ") {
            let offset = ev.data.as_ptr() as usize - log.as_ptr() as usize;
            let at = offset + ev.data.len() / 2;
            edited[at] = if edited[at] == b'x' { b'y' } else { b'x' };
            n += 1;
        }
    }
    assert!(n > 0, "command-line events in the log");
    let el2 = tdx_eventlog::parse(&edited).expect("event log");
    el2.verify_rtmrs(td.rtmr)
        .expect("the digests are unchanged");
    assert_eq!(el2.claims().kernel_cmdline, None);
    assert!(!claims.boot_applications.is_empty());
    let j = serde_json::to_value(&claims).expect("json");
    assert!(j["events"].as_array().is_some_and(|a| !a.is_empty()));

    // A flipped digest byte changes the replay, naming the register.
    let first_rtmr1 = el
        .events
        .iter()
        .find(|e| e.rtmr() == Some(1))
        .expect("rtmr1 event")
        .offset;
    let mut bad = log.clone();
    bad[first_rtmr1 + 14 + 5] ^= 1; // inside the SHA-384 digest
    let el2 = tdx_eventlog::parse(&bad).expect("still parses");
    match el2.verify_rtmrs(td.rtmr) {
        Err(tdx_eventlog::EventLogError::RtmrMismatch { index: 1, .. }) => {}
        other => panic!("expected RTMR1 mismatch, got {other:?}"),
    }
}

#[test]
fn truncated_logs_never_panic() {
    let Some(log) = read("tdx-quote-v4/tdx-v4-gcp-cos113-ccel-data-gotdxguest.bin") else {
        return;
    };
    for n in (0..19000).step_by(13) {
        let _ = tdx_eventlog::parse(&log[..n]);
    }
    let mut junk = log.clone();
    junk[18200] = 0x12;
    assert!(tdx_eventlog::parse(&junk).is_err());
}

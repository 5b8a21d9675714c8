//! Every DCAP vector behaves as MANIFEST.md says at its as-of time.

mod common;

use common::*;
use tee_dcap::{DcapError, TcbStatus};

enum Expect {
    Status(TcbStatus),
    NoMatchingLevel,
}

struct Case {
    id: &'static str,
    quote: &'static str,
    collateral: &'static [&'static str],
    as_of: &'static str,
    expect: Expect,
    /// Extra collateral given inline (public certificates not in the vectors folder).
    extra: &'static [&'static str],
    /// Truncate the quote file to this many bytes first (None = as is).
    truncate: Option<usize>,
}

const ROOT_CRL_2023: &str = "dcap-collateral/rootcrl-2023-04-gotdxguest.der";

fn cases() -> Vec<Case> {
    use Expect::*;
    vec![
        Case {
            id: "tdx-v4-spr-e4-gotdxguest",
            quote: "tdx-quote-v4/tdx-v4-spr-e4-gotdxguest.dat",
            collateral: &[
                "dcap-collateral/tcbinfo-tdx-50806f-2023-06-gotdxguest.json",
                "dcap-collateral/qeid-tdqe-2023-06-gotdxguest.json",
                "dcap-collateral/pckcrl-platform-2023-06-gotdxguest.der",
                ROOT_CRL_2023,
                TCB_CHAIN,
            ],
            as_of: "2023-06-20T00:00:00Z",
            expect: NoMatchingLevel,
            extra: &[TCB_SIGNING_2018_PEM],
            truncate: Some(4935),
        },
        Case {
            id: "tdx-v4-50806f-trustee",
            quote: "tdx-quote-v4/tdx-v4-50806f-trustee.dat",
            collateral: &[
                "dcap-collateral/tcbinfo-tdx-50806f-2023-06-gotdxguest.json",
                "dcap-collateral/qeid-tdqe-2023-06-gotdxguest.json",
                "dcap-collateral/pckcrl-platform-2023-06-gotdxguest.der",
                ROOT_CRL_2023,
                TCB_CHAIN,
            ],
            as_of: "2023-06-20T00:00:00Z",
            expect: Status(TcbStatus::UpToDate),
            extra: &[TCB_SIGNING_2018_PEM],
            truncate: None,
        },
        Case {
            id: "tdx-v4-gcp-cos113-gotdxguest",
            quote: "tdx-quote-v4/tdx-v4-gcp-cos113-gotdxguest.dat",
            collateral: &[
                "dcap-collateral/tcbinfo-tdx-00806f05-2025-10-automata.json",
                "dcap-collateral/qeid-tdqe-2025-10-automata.json",
                "dcap-collateral/pckcrl-platform-2025-10-automata.der",
                "derived/dcap-collateral/intel-root-ca-crl-2025-derived.der",
                TCB_CHAIN,
            ],
            as_of: "2025-10-20T00:00:00Z",
            expect: Status(TcbStatus::UpToDate),
            extra: &[],
            truncate: None,
        },
        Case {
            id: "tdx-v4-b0c06f-dcapqvl",
            quote: "tdx-quote-v4/tdx-v4-b0c06f-dcapqvl.bin",
            collateral: &["dcap-collateral/collateral-tdx-b0c06f-2025-06-dcapqvl.json"],
            as_of: "2025-06-20T00:00:00Z",
            expect: Status(TcbStatus::UpToDate),
            extra: &[],
            truncate: None,
        },
        Case {
            id: "tdx-v4-b0c06f-hex-dcapqvl",
            quote: "tdx-quote-v4/tdx-v4-b0c06f-hex-dcapqvl.hex",
            collateral: &["dcap-collateral/collateral-tdx-b0c06f-2025-06-dcapqvl.json"],
            as_of: "2025-06-20T00:00:00Z",
            expect: NoMatchingLevel,
            extra: &[],
            truncate: None,
        },
        Case {
            id: "tdx-v4-b0c06f-tappd-dcapqvl",
            quote: "tdx-quote-v4/tdx-v4-b0c06f-tappd-dcapqvl.hex",
            collateral: &["dcap-collateral/collateral-tdx-b0c06f-2025-06-dcapqvl.json"],
            as_of: "2025-06-20T00:00:00Z",
            expect: NoMatchingLevel,
            extra: &[],
            truncate: None,
        },
        Case {
            id: "tdx-v4-20a06f-dcapqvl",
            quote: "tdx-quote-v4/tdx-v4-20a06f-dcapqvl.hex",
            collateral: &["dcap-collateral/collateral-tdx-20a06f-2025-09-dcapqvl.json"],
            as_of: "2025-09-03T00:00:00Z",
            expect: Status(TcbStatus::UpToDate),
            extra: &[],
            truncate: None,
        },
        Case {
            id: "tdx-v4-90c06f-dstack-quote-report",
            quote: "tdx-quote-v4/tdx-v4-90c06f-dstack-quote-report.json",
            collateral: &["dcap-collateral/collateral-tdx-90c06f-2026-02-dcapqvl.json"],
            as_of: "2026-02-19T00:00:00Z",
            expect: Status(TcbStatus::UpToDate),
            extra: &[],
            truncate: None,
        },
        Case {
            id: "tdx-v5-td15-gotdxguest",
            quote: "tdx-quote-v5/tdx-v5-td15-gotdxguest.dat",
            collateral: &[
                "dcap-collateral/collateral-tdx-90c06f-2026-02-dcapqvl.json",
                "dcap-collateral/tcbinfo-tdx-90c06f-2026-02-gotdxguest.json",
            ],
            as_of: "2026-02-19T00:00:00Z",
            expect: Status(TcbStatus::UpToDate),
            extra: &[],
            truncate: None,
        },
        Case {
            id: "tdx-v5-90c06f-outdated-dcapqvl",
            quote: "tdx-quote-v5/tdx-v5-90c06f-outdated-dcapqvl.bin",
            collateral: &["dcap-collateral/collateral-tdx-90c06f-2026-02-dcapqvl.json"],
            as_of: "2026-02-19T00:00:00Z",
            expect: NoMatchingLevel,
            extra: &[],
            truncate: None,
        },
        Case {
            id: "tdx-v5-90c06f-trustee",
            quote: "tdx-quote-v5/tdx-v5-90c06f-trustee.dat",
            collateral: &[
                "dcap-collateral/tcbinfo-tdx-90c06f-2025-06-automata.json",
                "dcap-collateral/qeid-tdqe-2025-06-automata.json",
                TCB_CHAIN,
            ],
            as_of: "2025-06-20T00:00:00Z",
            expect: NoMatchingLevel,
            extra: &[],
            truncate: None,
        },
        Case {
            id: "az-tdx-v1-trustee",
            quote: "az-tdx-vtpm/az-tdx-v1-trustee.json",
            collateral: &[
                "dcap-collateral/tcbinfo-tdx-00806f05-2025-10-automata.json",
                "dcap-collateral/qeid-tdqe-2025-10-automata.json",
                TCB_CHAIN,
            ],
            as_of: "2025-10-20T00:00:00Z",
            expect: Status(TcbStatus::OutOfDate),
            extra: &[],
            truncate: None,
        },
        Case {
            id: "az-tdx-v0-trustee",
            quote: "az-tdx-vtpm/az-tdx-v0-trustee.json",
            collateral: &[
                "dcap-collateral/tcbinfo-tdx-00806f05-2025-10-automata.json",
                "dcap-collateral/qeid-tdqe-2025-10-automata.json",
                TCB_CHAIN,
            ],
            as_of: "2025-10-20T00:00:00Z",
            expect: Status(TcbStatus::OutOfDate),
            extra: &[],
            truncate: None,
        },
        Case {
            id: "sgx-v3-00a067-dcapqvl",
            quote: "sgx-quote-v3/sgx-v3-00a067-dcapqvl.bin",
            collateral: &["dcap-collateral/collateral-sgx-00a067-2025-06-dcapqvl.json"],
            as_of: "2025-06-20T00:00:00Z",
            expect: Status(TcbStatus::ConfigurationAndSWHardeningNeeded),
            extra: &[],
            truncate: None,
        },
    ]
}

#[test]
fn manifest_vectors_behave_as_documented() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for c in cases() {
        let Some(mut q) = quote_bytes(c.quote) else {
            return;
        };
        if let Some(n) = c.truncate {
            q.truncate(n);
        }
        let Some(mut bag) = bag(c.collateral) else {
            return;
        };
        for (i, e) in c.extra.iter().enumerate() {
            bag.add_input(100 + i, e.as_bytes())
                .expect("extra collateral");
        }
        let r = tee_dcap::verify(&q, &bag, at(c.as_of));
        ran += 1;
        match (&c.expect, &r) {
            (Expect::Status(s), Ok(v)) if v.claims.tcb.tcb_status == *s => {
                println!("{}: {} {:?}", c.id, s, v.claims.tcb.advisory_ids)
            }
            (Expect::NoMatchingLevel, Err(DcapError::NoMatchingTcbLevel { what })) => {
                println!("{}: rejected: no matching TCB level ({what})", c.id)
            }
            (_, Ok(v)) => failures.push(format!(
                "{}: got {} (platform {}, module {:?}, qe {})",
                c.id,
                v.claims.tcb.tcb_status,
                v.claims.tcb.platform_tcb_status,
                v.claims.tcb.tdx_module_tcb_status,
                v.claims.tcb.qe_tcb_status
            )),
            (_, Err(e)) => failures.push(format!("{}: error {e}", c.id)),
        }
    }
    assert!(
        failures.is_empty(),
        "{ran} run, failures:\n{}",
        failures.join("\n")
    );
}

/// The go-tdx-guest SPR E4 file carries 39 bytes of text after the 4935-byte quote:
/// trailing garbage is rejected, naming the offset.
#[test]
fn trailing_garbage_is_rejected_with_offset() {
    let Some(q) = quote_bytes("tdx-quote-v4/tdx-v4-spr-e4-gotdxguest.dat") else {
        return;
    };
    match tee_dcap::Quote::parse(&q) {
        Err(tee_dcap::QuoteError::TrailingBytes {
            offset: 4935,
            count: 39,
        }) => {}
        other => panic!("expected trailing-bytes error, got {other:?}"),
    }
    assert!(!tee_dcap::detect(&q));
    assert!(tee_dcap::detect(&q[..4935]));
}

/// GCP quotes are 8000-byte buffers: zero padding is tolerated and reported.
#[test]
fn gcp_zero_padding_is_reported() {
    let Some(q) = quote_bytes("tdx-quote-v4/tdx-v4-gcp-cos113-gotdxguest.dat") else {
        return;
    };
    let p = tee_dcap::Quote::parse(&q).expect("parses");
    assert_eq!(p.raw.len(), 4935);
    assert_eq!(p.padding, 8000 - 4935);
}

/// What would be fetched from Intel PCS for a real quote names the
/// collateral that verifies it: the FMSPC and kind of the TCB info the
/// MANIFEST pairs with each quote, and the PCK CA that issued its PCK.
#[test]
fn pcs_paths_name_the_collateral_that_verifies_each_quote() {
    use tee_dcap::pcs_paths::CollateralNeeds;
    let cases = [
        // (quote, TCB info path it needs)
        (
            "tdx-quote-v4/tdx-v4-gcp-cos113-gotdxguest.dat",
            "tdx/certification/v4/tcb?fmspc=00806F050000",
        ),
        (
            "tdx-quote-v4/tdx-v4-b0c06f-dcapqvl.bin",
            "tdx/certification/v4/tcb?fmspc=B0C06F000000",
        ),
        (
            "sgx-quote-v3/sgx-v3-00a067-dcapqvl.bin",
            "sgx/certification/v4/tcb?fmspc=00A067110000",
        ),
    ];
    for (rel, tcb_info) in cases {
        let Some(q) = quote_bytes(rel) else {
            return;
        };
        let needs = CollateralNeeds::of_quote(&q).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(needs.tcb_info_path(), tcb_info, "{rel}");
        assert!(needs.pck_ca.is_some(), "{rel}: issued by a PCK CA");
        assert!(
            needs
                .pck_crl_path()
                .is_some_and(|p| p.starts_with("sgx/certification/v4/pckcrl?ca=")),
            "{rel}"
        );
    }
}

//! Every SEV-SNP vector of `../shared/vectors` verifies (or fails) as its
//! MANIFEST.md says, at the MANIFEST's as-of instant, and the claims equal the
//! values the MANIFEST lists. The vectors are read in place; when the folder
//! is absent each test prints a skip note and passes (see
//! `mamori_testvectors`).
#![allow(clippy::unwrap_used)]

use mamori_x509::{Blob, Certificate, ChainError, UnixTime};
use tee_snp::{
    extract, verify_report, Container, Product, Report, SigningKey, SnpError, TrustStore,
    VerifiedSigner,
};

// ---------------------------------------------------------------- helpers --

fn at(rfc3339: &str) -> UnixTime {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .expect("test time is RFC 3339");
    UnixTime(t.unix_timestamp())
}

/// Every certificate in a vector file (PEM or DER, one or many).
fn certs(rel: &str) -> Option<Vec<Certificate>> {
    let bytes = mamori_testvectors::read(rel)?;
    let blobs = mamori_x509::split_blobs(&bytes)
        .expect("certificate file parses")
        .expect("certificate file is PEM or DER");
    Some(
        blobs
            .into_iter()
            .filter_map(|b| match b {
                Blob::Certificate(c) => Some(*c),
                Blob::Crl(_) => None,
            })
            .collect(),
    )
}

fn cert(rel: &str) -> Option<Certificate> {
    let mut v = certs(rel)?;
    assert_eq!(v.len(), 1, "{rel} holds exactly one certificate");
    v.pop()
}

/// The evidence file unwrapped down to its report (and embedded certs).
fn evidence(rel: &str) -> Option<tee_snp::SnpEvidence> {
    let bytes = mamori_testvectors::read(rel)?;
    Some(extract(&bytes).unwrap_or_else(|e| panic!("{rel}: extract: {e}")))
}

fn err_of<T: std::fmt::Debug>(r: Result<T, SnpError>) -> SnpError {
    match r {
        Ok(v) => panic!("expected a rejection, got {v:?}"),
        Err(e) => e,
    }
}

/// Expected values of one positive vector, copied from MANIFEST.md.
struct Case {
    id: &'static str,
    evidence: &'static str,
    /// Collateral files beyond the certificates embedded in the evidence.
    collateral: &'static [&'static str],
    /// The AMD ASK/ASVK + ARK bundle of the vector's product (also pinned).
    ask_ark: &'static str,
    as_of: &'static str,
    container: &'static str,
    version: u32,
    product: Product,
    signing_key: SigningKey,
    vmpl: u32,
    policy: &'static str,
    guest_svn: u32,
    platform_info: &'static str,
    report_data: &'static str,
    measurement: &'static str,
    host_data: &'static str,
    chip_id: &'static str,
    report_id: &'static str,
    /// (bootloader, tee, snp, microcode) and the raw value.
    reported_tcb: (u8, u8, u8, u8, &'static str),
    current_tcb: &'static str,
    committed_tcb: &'static str,
    launch_tcb: &'static str,
    firmware: &'static str,
    /// CPUID (family, model, stepping), v3+.
    cpuid: Option<(u8, u8, u8)>,
}

const ZERO32: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const V2_VIRTEE: Case = Case {
    id: "snp-milan-v2-virtee",
    evidence: "snp-report/snp-milan-v2-virtee.hex",
    collateral: &["snp-vcek/vcek-milan-virtee.der"],
    ask_ark: "snp-ask-ark/amd-milan-ask-ark.pem",
    as_of: "2023-04-04T19:23:43Z",
    container: "report",
    version: 2,
    product: Product::Milan,
    signing_key: SigningKey::Vcek,
    vmpl: 0,
    policy: "0x30000",
    guest_svn: 0,
    platform_info: "0x1",
    report_data: "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd",
    measurement: "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f",
    host_data: ZERO32,
    chip_id: "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6",
    report_id: "92b3b47d59f0a2a10a74c5678868a80238cf593c01a82f3cffb878e904c28d5b",
    reported_tcb: (3, 0, 8, 115, "7308000000000003"),
    current_tcb: "7308000000000003",
    committed_tcb: "7308000000000003",
    launch_tcb: "7308000000000003",
    firmware: "1.52.4",
    cpuid: None,
};

const V2_TRUSTEE: Case = Case {
    id: "snp-milan-v2-trustee",
    evidence: "snp-report/snp-milan-v2-trustee.bin",
    collateral: &["snp-vcek/vcek-milan-trustee.der"],
    ask_ark: "snp-ask-ark/amd-milan-ask-ark.pem",
    as_of: "2023-01-25T17:58:26Z",
    container: "report",
    version: 2,
    product: Product::Milan,
    signing_key: SigningKey::Vcek,
    vmpl: 0,
    policy: "0x3001f",
    guest_svn: 4,
    platform_info: "0x1",
    report_data: "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e20000000000000000000000000000000000000000000000000000000000000000",
    measurement: "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c",
    host_data: ZERO32,
    chip_id: "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e",
    report_id: "385eba81216de4776548fcb86f8ead03c1ebc92b6207f3210d9ccebb89c99005",
    reported_tcb: (3, 0, 8, 115, "7308000000000003"),
    current_tcb: "ce08000000000003",
    committed_tcb: "7308000000000003",
    launch_tcb: "7308000000000003",
    firmware: "1.52.4",
    cpuid: None,
};

const V3_VLEK: Case = Case {
    id: "snp-milan-v3-vlek-aws-trustee",
    evidence: "snp-report/snp-milan-v3-vlek-aws-trustee.bin",
    collateral: &["snp-vcek/vlek-milan-aws-use2-trustee.der"],
    ask_ark: "snp-ask-ark/amd-milan-vlek-ask-ark.pem",
    as_of: "2024-12-11T22:14:21Z",
    container: "report",
    version: 3,
    product: Product::Milan,
    signing_key: SigningKey::Vlek,
    vmpl: 1,
    policy: "0x30000",
    guest_svn: 0,
    platform_info: "0x27",
    report_data: "819770b7e6ea6df8dd8fd4dd146b073c0bf4f3ce5b0977ecac486e3a05ed1bd54e2a7ac1f5d1ca02e7d7d5ef9f73b8574fd9359e3a480d741a4478e8a7bc27ca",
    measurement: "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0",
    host_data: ZERO32,
    chip_id: "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    report_id: "62e04fba700afd93b3a0cc0649b633ee36587fa8a8c2eb5d9b7cd7bc5f4bb057",
    reported_tcb: (4, 0, 24, 217, "d918000000000004"),
    current_tcb: "dc18000000000004",
    committed_tcb: "db18000000000004",
    launch_tcb: "db18000000000004",
    firmware: "1.55.29",
    cpuid: Some((0x19, 0x01, 0x01)),
};

const V3_DSTACK: Case = Case {
    id: "snp-milan-v3-dstack-wrapped",
    evidence: "snp-report/snp-milan-v3-dstack-wrapped.bin",
    collateral: &["snp-vcek/vcek-milan-dstack.pem"],
    ask_ark: "snp-ask-ark/amd-milan-ask-ark.pem",
    as_of: "2026-06-18T01:05:04Z",
    container: "dstack",
    version: 3,
    product: Product::Milan,
    signing_key: SigningKey::Vcek,
    vmpl: 0,
    policy: "0x30000",
    guest_svn: 0,
    platform_info: "0x25",
    report_data: "6174746573742d746573742d666978747572652d3230323600000000000000000000000000000000000000000000000000000000000000000000000000000000",
    measurement: "7f51e17f72a04d5422cb2c00998166536019a217376f3aa45a630e59c805a599847ff250dbffcd07e1ba639771d6f05d",
    host_data: "783f0057820acb99249af56cc3b07b4e8d80f65183167cba9cf437bb680f742f",
    chip_id: "38d174589d2dff97a6d40cb9f9d90b9507c027491219083cef3ce73ed18f7289142d941ad61eabecd27d25f268c1095d665f6001358e98a4769c82734a6bb877",
    report_id: "ab942f03af5e6389b3c0fb8401af5d2fa4010f87e86d424989a57303ceabab12",
    reported_tcb: (4, 0, 23, 213, "d517000000000004"),
    current_tcb: "d518000000000004",
    committed_tcb: "d518000000000004",
    launch_tcb: "d518000000000004",
    firmware: "1.55.29",
    cpuid: Some((0x19, 0x01, 0x01)),
};

const AZ_GENOA: Case = Case {
    id: "az-snp-genoa-trustee",
    evidence: "az-snp-vtpm/az-snp-genoa-trustee.json",
    collateral: &[],
    ask_ark: "snp-ask-ark/amd-genoa-ask-ark.pem",
    as_of: "2025-01-25T02:21:48Z",
    container: "azure-hcl",
    version: 3,
    product: Product::Genoa,
    signing_key: SigningKey::Vcek,
    vmpl: 0,
    policy: "0x3001f",
    guest_svn: 65547,
    platform_info: "0x24",
    report_data: "b581f12e29a2d7d64e5e0b738d563879a78b51c644d0fa0cce02b48699f6bf5f0000000000000000000000000000000000000000000000000000000000000000",
    measurement: "f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae",
    host_data: ZERO32,
    chip_id: "0506ffba875e939c2729d20c74eb72b4c5ba6bf7ea1faaa640141f12c6d64782fb487f68ce69dcd021e914cc0d9244327bc121f0242d6470903ad1d4aaea4ad1",
    report_id: "8c678f0cba548b25bc8ed1f723231570447886c74b1fa1f7eb23699755cb4801",
    reported_tcb: (10, 0, 23, 84, "541700000000000a"),
    current_tcb: "541700000000000a",
    committed_tcb: "541700000000000a",
    launch_tcb: "541700000000000a",
    firmware: "1.55.40",
    cpuid: Some((0x19, 0x11, 0x01)),
};

const AZ_MILAN_V0: Case = Case {
    id: "az-snp-milan-v0-trustee",
    evidence: "az-snp-vtpm/az-snp-milan-v0-trustee.json",
    collateral: &[],
    ask_ark: "snp-ask-ark/amd-milan-ask-ark.pem",
    as_of: "2025-01-29T16:26:55Z",
    container: "azure-hcl",
    version: 3,
    product: Product::Milan,
    signing_key: SigningKey::Vcek,
    vmpl: 0,
    policy: "0x3001f",
    guest_svn: 10,
    platform_info: "0x25",
    report_data: "af2910341dd8108360e485f1b72494255190b9cdd5ccb44b73b883037cf99f210000000000000000000000000000000000000000000000000000000000000000",
    measurement: "6a063be9dd79f6371c842e480f8dc3b5c725961344e57130e88c5adf49e8f7f6c79b75a5eb77fc769959f4aeb2f9401e",
    host_data: ZERO32,
    chip_id: "66a5a7b4403a3006ca734aa36a76dd3061d56f398e1e73b0be683ecd2eede9e70811c677abf8d9c9251b52baafbdc97b8121ec0c75661ffba636073b09fa563a",
    report_id: "5ab50660c013e1c2ea33b759d64e1ac2e9b68fc9b788640eca9df081cbb866c9",
    reported_tcb: (4, 0, 24, 219, "db18000000000004"),
    current_tcb: "db18000000000004",
    committed_tcb: "db18000000000004",
    launch_tcb: "db18000000000004",
    firmware: "1.55.29",
    cpuid: Some((0x19, 0x01, 0x01)),
};

const AZ_MILAN_V1: Case = Case {
    id: "az-snp-milan-v1-trustee",
    evidence: "az-snp-vtpm/az-snp-milan-v1-trustee.json",
    ..AZ_MILAN_V0
};

const AZ_HCL_2023: Case = Case {
    id: "az-snp-milan-hcl-2023-trustee",
    evidence: "az-snp-vtpm/az-snp-milan-hcl-2023-trustee.bin",
    collateral: &["snp-vcek/az-snp-milan-hcl-2023-vcek-chain-trustee.pem"],
    ask_ark: "snp-ask-ark/amd-milan-ask-ark.pem",
    as_of: "2023-05-03T21:22:19Z",
    container: "azure-hcl",
    version: 2,
    product: Product::Milan,
    signing_key: SigningKey::Vcek,
    vmpl: 0,
    policy: "0x3001f",
    guest_svn: 5,
    platform_info: "0x1",
    report_data: "b3fbad6514c83caeb0380882145e49f794229ef37c421b91fc47ff93556bafac0000000000000000000000000000000000000000000000000000000000000000",
    measurement: "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315",
    host_data: ZERO32,
    chip_id: "19752a447db501a32ade46428a46e92639bd3515dbb45e2e67bbcb0934ffcf1f3e3c004ccb4a99c9fa7e4ffb09da6b324ac58acedaf679f24ba7db5f838c6cca",
    report_id: "0d4188526468615ddf11dac0e0ef1b2a712631b2b9ec02d0e863a8f6d69ed0b0",
    reported_tcb: (3, 0, 8, 115, "7308000000000003"),
    current_tcb: "d208000000000003",
    committed_tcb: "7308000000000003",
    launch_tcb: "7308000000000003",
    firmware: "1.52.4",
    cpuid: None,
};

/// The Genoa report cut out of `az-snp-genoa-trustee` (Derived files).
const GENOA_DERIVED: Case = Case {
    id: "snp-genoa-v3-azure-derived",
    evidence: "derived/snp-report/snp-genoa-v3-azure-derived.bin",
    collateral: &["snp-vcek/vcek-genoa-azure-trustee.pem"],
    container: "report",
    ..AZ_GENOA
};

const POSITIVES: [&Case; 9] = [
    &V2_VIRTEE,
    &V2_TRUSTEE,
    &V3_VLEK,
    &V3_DSTACK,
    &AZ_GENOA,
    &AZ_MILAN_V0,
    &AZ_MILAN_V1,
    &AZ_HCL_2023,
    &GENOA_DERIVED,
];

/// The evidence of a case and the certificates to verify it with: those
/// embedded in the evidence plus the case's collateral files, plus (when
/// `with_ask_ark`) AMD's ASK/ARK bundle as a user would pass it.
fn load(case: &Case, with_ask_ark: bool) -> Option<(tee_snp::SnpEvidence, Vec<Certificate>)> {
    let ev = evidence(case.evidence)?;
    let mut all = ev.certificates.clone();
    for c in case.collateral {
        all.extend(certs(c)?);
    }
    if with_ask_ark {
        all.extend(certs(case.ask_ark)?);
    }
    Some((ev, all))
}

fn check_claims(case: &Case, v: &tee_snp::VerifiedReport<'_>) {
    let id = case.id;
    assert_eq!(v.product(), case.product, "{id}: product");
    assert_eq!(v.signer(), case.signing_key, "{id}: signer");
    assert!(v.anchor_pinned(), "{id}: root is AMD's pinned ARK");
    let c = v.claims();
    assert_eq!(c.version, case.version, "{id}: version");
    assert_eq!(c.product, Some(case.product), "{id}: product claim");
    assert_eq!(c.signing_key, case.signing_key, "{id}: signing_key");
    assert_eq!(c.vmpl, case.vmpl, "{id}: vmpl");
    assert_eq!(c.policy.raw, case.policy, "{id}: policy");
    assert_eq!(c.guest_svn, case.guest_svn, "{id}: guest_svn");
    assert_eq!(
        c.platform_info.raw, case.platform_info,
        "{id}: platform_info"
    );
    assert_eq!(c.report_data, case.report_data, "{id}: report_data");
    assert_eq!(c.measurement, case.measurement, "{id}: measurement");
    assert_eq!(c.host_data, case.host_data, "{id}: host_data");
    assert_eq!(c.chip_id, case.chip_id, "{id}: chip_id");
    assert_eq!(c.report_id, case.report_id, "{id}: report_id");
    let (bl, tee, snp, ucode, raw) = case.reported_tcb;
    let t = &c.reported_tcb;
    assert_eq!(
        (
            t.bootloader,
            t.tee,
            t.snp,
            t.microcode,
            t.fmc,
            t.raw.as_str()
        ),
        (bl, tee, snp, ucode, None, raw),
        "{id}: reported_tcb"
    );
    assert_eq!(c.current_tcb.raw, case.current_tcb, "{id}: current_tcb");
    assert_eq!(
        c.committed_tcb.raw, case.committed_tcb,
        "{id}: committed_tcb"
    );
    assert_eq!(c.launch_tcb.raw, case.launch_tcb, "{id}: launch_tcb");
    assert_eq!(c.current_version, case.firmware, "{id}: current_version");
    assert_eq!(
        c.committed_version, case.firmware,
        "{id}: committed_version"
    );
    assert_eq!(
        c.cpuid.map(|x| (x.family, x.model, x.stepping)),
        case.cpuid,
        "{id}: cpuid"
    );
    // No v4+ report among the vectors: no mitigation vectors.
    assert_eq!(c.launch_mit_vector, None, "{id}");
    assert_eq!(c.current_mit_vector, None, "{id}");
}

fn verify_case(case: &Case, with_ask_ark: bool) {
    let Some((ev, all)) = load(case, with_ask_ark) else {
        return;
    };
    assert_eq!(
        ev.container.name(),
        case.container,
        "{}: container",
        case.id
    );
    let now = at(case.as_of);
    let v = verify_report(&ev.report, &all, &[], &TrustStore::amd(), now)
        .unwrap_or_else(|e| panic!("{}: rejected ({}): {e}", case.id, e.check()));
    check_claims(case, &v);
    // The product's own store suffices, too.
    let v = verify_report(
        &ev.report,
        &all,
        &[],
        &TrustStore::amd_product(case.product),
        now,
    )
    .unwrap_or_else(|e| panic!("{}: rejected by the {} store: {e}", case.id, case.product));
    check_claims(case, &v);
}

// -------------------------------------------------------------- positives --

#[test]
fn every_positive_vector_verifies_with_its_claims() {
    for case in POSITIVES {
        verify_case(case, false);
    }
}

#[test]
fn every_positive_vector_verifies_with_the_ask_ark_bundle_supplied() {
    for case in POSITIVES {
        verify_case(case, true);
    }
}

#[test]
fn every_positive_vector_verifies_through_a_cached_signer() {
    for case in POSITIVES {
        let Some((ev, all)) = load(case, false) else {
            return;
        };
        let now = at(case.as_of);
        let leaf = all
            .iter()
            .find(|c| tee_snp::EndorsementInfo::is_endorsement_key(c))
            .expect("a VCEK/VLEK");
        let signer = VerifiedSigner::validate(leaf, &all, &[], &TrustStore::amd(), now)
            .unwrap_or_else(|e| panic!("{}: {e}", case.id));
        assert_eq!(signer.chain().len(), 3, "{}: VCEK, ASK, ARK", case.id);
        assert!(signer.anchor_pinned());
        let v = signer
            .verify(&ev.report, now)
            .unwrap_or_else(|e| panic!("{}: {e}", case.id));
        check_claims(case, &v);
    }
}

/// MANIFEST "Suggested as-of": 2025-06-01 lies in every SNP bundle's window
/// except dstack's (VCEK issued 2026-06-17; 2026-07-01 for it).
#[test]
fn the_suggested_common_as_of_instants_verify_every_bundle() {
    for case in POSITIVES {
        let Some((ev, all)) = load(case, false) else {
            return;
        };
        let now = if case.id == V3_DSTACK.id {
            at("2026-07-01T00:00:00Z")
        } else {
            at("2025-06-01T00:00:00Z")
        };
        if let Err(e) = verify_report(&ev.report, &all, &[], &TrustStore::amd(), now) {
            panic!("{}: {e}", case.id);
        }
    }
}

#[test]
fn claims_json_uses_the_documented_names() {
    let Some((ev, all)) = load(&V2_TRUSTEE, false) else {
        return;
    };
    let v = verify_report(
        &ev.report,
        &all,
        &[],
        &TrustStore::amd(),
        at(V2_TRUSTEE.as_of),
    )
    .expect("verifies");
    let j = v.claims().to_json();
    assert_eq!(j["version"], 2);
    assert_eq!(j["vmpl"], 0);
    assert_eq!(j["product"], "milan");
    assert_eq!(j["signing_key"], "vcek");
    assert_eq!(j["measurement"], V2_TRUSTEE.measurement);
    assert_eq!(j["report_data"], V2_TRUSTEE.report_data);
    assert_eq!(j["host_data"], V2_TRUSTEE.host_data);
    assert_eq!(j["chip_id"], V2_TRUSTEE.chip_id);
    // 0x3001f: ABI 0.31, SMT allowed (bit 16), reserved bit 17, nothing else.
    assert_eq!(j["policy"]["raw"], "0x3001f");
    assert_eq!(j["policy"]["abi_minor"], 0x1f);
    assert_eq!(j["policy"]["abi_major"], 0);
    assert_eq!(j["policy"]["smt"], true);
    assert_eq!(j["policy"]["debug"], false);
    assert_eq!(j["policy"]["migrate_ma"], false);
    assert_eq!(j["policy"]["single_socket"], false);
    for tcb in ["reported_tcb", "current_tcb", "committed_tcb", "launch_tcb"] {
        for k in ["bootloader", "tee", "snp", "microcode"] {
            assert!(j[tcb][k].is_u64(), "{tcb}.{k}");
        }
        assert!(j[tcb].get("fmc").is_none(), "{tcb}: no fmc on Milan");
    }
    assert_eq!(j["reported_tcb"]["microcode"], 115);
    assert_eq!(j["current_tcb"]["microcode"], 206);
    // v2: no CPUID in the report.
    assert!(j.get("cpuid").is_none());
}

#[test]
fn hex_text_and_raw_bytes_of_the_same_report_agree() {
    let Some(ev) = evidence(V2_VIRTEE.evidence) else {
        return;
    };
    assert_eq!(ev.encoding, mamori_verifier::Encoding::Hex);
    assert_eq!(ev.container, Container::Bare);
    let Some(raw) = mamori_testvectors::read(V2_VIRTEE.evidence) else {
        return;
    };
    let text = String::from_utf8(raw).expect("hex text");
    assert_eq!(ev.report, hex::decode(text.trim()).expect("hex"));
    // Bytes already decoded are not decoded again: the decoded report
    // unwraps as itself, while its hex text is no report.
    let decoded = tee_snp::extract_decoded(ev.report.clone()).expect("decoded report");
    assert_eq!(
        (decoded.report.as_slice(), decoded.encoding),
        (ev.report.as_slice(), mamori_verifier::Encoding::Raw)
    );
    assert!(tee_snp::extract_decoded(text.trim().as_bytes().to_vec()).is_err());
    // The dstack wrapper carries its report at offset 4.
    let (Some(d), Some(wrapped)) = (
        evidence(V3_DSTACK.evidence),
        mamori_testvectors::read(V3_DSTACK.evidence),
    ) else {
        return;
    };
    assert_eq!(d.report.as_slice(), &wrapped[4..4 + tee_snp::REPORT_LEN]);
}

#[test]
fn the_derived_genoa_report_is_the_one_inside_the_azure_json() {
    let (Some(a), Some(b)) = (
        evidence(AZ_GENOA.evidence),
        evidence(GENOA_DERIVED.evidence),
    ) else {
        return;
    };
    assert_eq!(a.report, b.report);
    // The VCEK embedded in the JSON equals the separate PEM.
    let Some(pem) = cert("snp-vcek/vcek-genoa-azure-trustee.pem") else {
        return;
    };
    assert_eq!(a.certificates.len(), 1);
    assert_eq!(a.certificates[0].der(), pem.der());
}

#[test]
fn vcek_extensions_are_read_as_the_manifest_lists() {
    // (file, product, productName, bl, tee, snp, ucode, fmc, hwID prefix)
    type Row = (
        &'static str,
        Product,
        &'static str,
        u8,
        u8,
        u8,
        u8,
        Option<u8>,
        &'static str,
    );
    let rows: [Row; 6] = [
        (
            "snp-vcek/vcek-milan-virtee.der",
            Product::Milan,
            "Milan-B0",
            3,
            0,
            8,
            115,
            None,
            "d49554ec717f4e5b",
        ),
        (
            "snp-vcek/vcek-milan-trustee.der",
            Product::Milan,
            "Milan-B0",
            3,
            0,
            8,
            115,
            None,
            "c38427a30d4c7af9",
        ),
        (
            "snp-vcek/vcek-milan-dstack.pem",
            Product::Milan,
            "Milan-B0",
            4,
            0,
            23,
            213,
            None,
            "38d174589d2dff97",
        ),
        (
            "snp-vcek/vcek-turin-virtee.der",
            Product::Turin,
            "Turin",
            0,
            0,
            0,
            9,
            Some(0),
            "1e550a8ee5cf9f4d",
        ),
        (
            "snp-vcek/vcek-genoa-azure-trustee.pem",
            Product::Genoa,
            "Genoa",
            10,
            0,
            23,
            84,
            None,
            "0506ffba875e939c",
        ),
        (
            "snp-vcek/vlek-milan-aws-use2-trustee.der",
            Product::Milan,
            "Milan",
            4,
            0,
            24,
            217,
            None,
            "",
        ),
    ];
    for (file, product, name, bl, tee, snp, ucode, fmc, hwid) in rows {
        let Some(c) = cert(file) else { return };
        let i = tee_snp::EndorsementInfo::from_certificate(&c).expect(file);
        assert_eq!(i.product, product, "{file}");
        assert_eq!(i.product_name, name, "{file}");
        assert_eq!(
            (i.bl_spl, i.tee_spl, i.snp_spl, i.ucode_spl, i.fmc_spl),
            (bl, tee, snp, ucode, fmc),
            "{file}"
        );
        if hwid.is_empty() {
            assert_eq!(i.kind, SigningKey::Vlek, "{file}");
            assert_eq!(i.hwid, None, "{file}");
            assert_eq!(
                i.csp_id.as_deref(),
                Some("CN=cc-us-east-2.amazonaws.com"),
                "{file}"
            );
        } else {
            assert_eq!(i.kind, SigningKey::Vcek, "{file}");
            let h = i.hwid.expect("hwID");
            // Turin VCEKs carry 8 bytes of the chip id, the others 64.
            let len = if product == Product::Turin { 8 } else { 64 };
            assert_eq!(h.len(), len, "{file}");
            assert!(hex::encode(&h).starts_with(hwid), "{file}");
        }
    }
}

#[test]
fn the_turin_vcek_validates_to_the_pinned_turin_root() {
    let Some(c) = cert("snp-vcek/vcek-turin-virtee.der") else {
        return;
    };
    let now = at("2025-06-01T00:00:00Z");
    let s = VerifiedSigner::validate(&c, &[], &[], &TrustStore::amd(), now).expect("validates");
    assert_eq!(s.info().product, Product::Turin);
    assert!(s.chain()[1].contains("SEV-Turin"), "{:?}", s.chain());
    assert!(s.chain()[2].contains("ARK-Turin"), "{:?}", s.chain());
    // ... and not to Milan's.
    let e = err_of(VerifiedSigner::validate(
        &c,
        &[],
        &[],
        &TrustStore::amd_product(Product::Milan),
        now,
    ));
    assert_eq!(e.check(), "certificate-chain", "{e}");
    // A Milan v3 report (CPUID says Milan) is refused by the Turin VCEK on
    // the product check, before any signature work.
    let Some(ev) = evidence(V3_DSTACK.evidence) else {
        return;
    };
    let e = err_of(s.verify(&ev.report, now));
    assert_eq!(
        e,
        SnpError::ProductMismatch {
            report: Product::Milan,
            certificate: Product::Turin,
            key: "VCEK"
        }
    );
    assert_eq!(e.check(), "product");
}

// -------------------------------------------------------------- negatives --

const INVALID_VCEKS: [&str; 2] = [
    "snp-vcek/vcek-milan-trustee-invalid-legacy.der",
    "snp-vcek/vcek-milan-trustee-invalid-new.der",
];

#[test]
fn invalid_vceks_fail_as_the_reports_signer() {
    let Some(ev) = evidence(V2_TRUSTEE.evidence) else {
        return;
    };
    let now = at(V2_TRUSTEE.as_of);
    for file in INVALID_VCEKS {
        let Some(bad) = cert(file) else { return };
        // Their hwID (00 01 02 ..) is not this chip's: the VCEK is skipped
        // and the error names the chip binding.
        let e = err_of(verify_report(
            &ev.report,
            std::slice::from_ref(&bad),
            &[],
            &TrustStore::amd(),
            now,
        ));
        assert_eq!(e, SnpError::ChipId, "{file}: {e}");
        assert_eq!(e.check(), "chip-id-binding");
        // With the ASK/ARK bundle beside it, the same.
        let mut pool = vec![bad];
        pool.extend(certs(V2_TRUSTEE.ask_ark).expect("ask/ark"));
        let e = err_of(verify_report(
            &ev.report,
            &pool,
            &[],
            &TrustStore::amd(),
            now,
        ));
        assert_eq!(e.check(), "chip-id-binding", "{file}: {e}");
        // And when the genuine VCEK is supplied too, the genuine one wins.
        pool.extend(certs("snp-vcek/vcek-milan-trustee.der").expect("vcek"));
        let v = verify_report(&ev.report, &pool, &[], &TrustStore::amd(), now)
            .expect("the genuine VCEK among impostors verifies");
        assert_eq!(v.claims().measurement, V2_TRUSTEE.measurement);
    }
}

#[test]
fn invalid_vceks_fail_validation_on_the_ask_signature() {
    let now = at(V2_TRUSTEE.as_of);
    for file in INVALID_VCEKS {
        let Some(bad) = cert(file) else { return };
        // Inside its own validity window, so only the signature is wrong.
        let now = now.max(bad.not_before());
        for pool in [
            Vec::new(),
            certs("snp-ask-ark/amd-milan-ask-ark.pem").expect("ask/ark"),
        ] {
            let e = err_of(VerifiedSigner::validate(
                &bad,
                &pool,
                &[],
                &TrustStore::amd(),
                now,
            ));
            assert_eq!(e.check(), "certificate-chain", "{file}: {e}");
            match &e {
                SnpError::Chain(ChainError::Signature { index, issuer, .. }) => {
                    assert_eq!(*index, 0, "{file}: the VCEK's own signature");
                    assert!(issuer.contains("SEV-Milan"), "{file}: {issuer}");
                }
                other => panic!("{file}: expected an ASK signature failure, got {other:?}"),
            }
        }
    }
}

#[test]
fn a_report_paired_with_another_chips_vcek_fails() {
    // (report case, VCEK of another chip)
    let pairs = [
        (&V2_TRUSTEE, "snp-vcek/vcek-milan-virtee.der"),
        (&V2_VIRTEE, "snp-vcek/vcek-milan-trustee.der"),
        (&V3_DSTACK, "snp-vcek/vcek-milan-trustee.der"),
        (&AZ_HCL_2023, "snp-vcek/vcek-milan-virtee.der"),
    ];
    for (case, other) in pairs {
        let (Some(ev), Some(vcek)) = (evidence(case.evidence), cert(other)) else {
            return;
        };
        // A time at which both certificates are valid.
        let now = at(case.as_of).max(vcek.not_before());
        let e = err_of(verify_report(
            &ev.report,
            std::slice::from_ref(&vcek),
            &[],
            &TrustStore::amd(),
            now,
        ));
        assert_eq!(e, SnpError::ChipId, "{} with {other}: {e}", case.id);
        // Forced through a validated signer, the signature check refuses it
        // first (it comes before the bindings).
        let s = VerifiedSigner::validate(&vcek, &[], &[], &TrustStore::amd(), now)
            .expect("the other VCEK is genuine");
        let e = err_of(s.verify(&ev.report, now));
        assert_eq!(e.check(), "signature", "{} with {other}: {e}", case.id);
    }
}

#[test]
fn a_milan_report_against_the_genoa_chain_fails() {
    for case in [&V2_TRUSTEE, &V2_VIRTEE, &V3_DSTACK, &AZ_MILAN_V0] {
        let Some((ev, all)) = load(case, false) else {
            return;
        };
        let now = at(case.as_of);
        let e = err_of(verify_report(
            &ev.report,
            &all,
            &[],
            &TrustStore::amd_product(Product::Genoa),
            now,
        ));
        assert_eq!(e.check(), "certificate-chain", "{}: {e}", case.id);
        // The Milan ASK/ARK supplied as collateral do not help: ARK-Milan
        // is not an anchor of the Genoa store.
        let Some((_, all)) = load(case, true) else {
            return;
        };
        let e = err_of(verify_report(
            &ev.report,
            &all,
            &[],
            &TrustStore::amd_product(Product::Genoa),
            now,
        ));
        assert!(
            matches!(e, SnpError::Chain(ChainError::UntrustedRoot { .. })),
            "{}: {e:?}",
            case.id
        );
    }
    // And the converse: the Genoa report against Milan's store.
    let Some((ev, all)) = load(&GENOA_DERIVED, true) else {
        return;
    };
    let e = err_of(verify_report(
        &ev.report,
        &all,
        &[],
        &TrustStore::amd_product(Product::Milan),
        at(GENOA_DERIVED.as_of),
    ));
    assert_eq!(e.check(), "certificate-chain", "{e}");
}

#[test]
fn a_v3_milan_report_with_a_genoa_vcek_fails_on_the_product() {
    let (Some(ev), Some(genoa)) = (
        evidence(V3_DSTACK.evidence),
        cert("snp-vcek/vcek-genoa-azure-trustee.pem"),
    ) else {
        return;
    };
    let now = at(V3_DSTACK.as_of);
    let s = VerifiedSigner::validate(&genoa, &[], &[], &TrustStore::amd(), now).expect("genuine");
    let e = err_of(s.verify(&ev.report, now));
    assert_eq!(
        e,
        SnpError::ProductMismatch {
            report: Product::Milan,
            certificate: Product::Genoa,
            key: "VCEK"
        }
    );
    assert_eq!(e.check(), "product");
}

#[test]
fn as_of_outside_the_vceks_validity_fails_naming_the_validity_check() {
    for case in [&V2_TRUSTEE, &V2_VIRTEE, &V3_DSTACK, &AZ_GENOA, &AZ_HCL_2023] {
        let Some((ev, all)) = load(case, false) else {
            return;
        };
        let leaf = all
            .iter()
            .find(|c| tee_snp::EndorsementInfo::is_endorsement_key(c))
            .expect("a VCEK");
        let (nb, na) = (leaf.not_before(), leaf.not_after());
        let trust = TrustStore::amd();
        // Validity is inclusive at both ends (RFC 5280 4.1.2.5).
        for ok in [nb, na] {
            verify_report(&ev.report, &all, &[], &trust, ok)
                .unwrap_or_else(|e| panic!("{} at {ok}: {e}", case.id));
        }
        let after = err_of(verify_report(
            &ev.report,
            &all,
            &[],
            &trust,
            UnixTime(na.0 + 1),
        ));
        assert_eq!(
            after.check(),
            "certificate-validity",
            "{}: {after}",
            case.id
        );
        assert!(
            matches!(after, SnpError::Chain(ChainError::Expired { index: 0, .. })),
            "{}: {after:?}",
            case.id
        );
        let before = err_of(verify_report(
            &ev.report,
            &all,
            &[],
            &trust,
            UnixTime(nb.0 - 1),
        ));
        assert_eq!(
            before.check(),
            "certificate-validity",
            "{}: {before}",
            case.id
        );
        assert!(
            matches!(
                before,
                SnpError::Chain(ChainError::NotYetValid { index: 0, .. })
            ),
            "{}: {before:?}",
            case.id
        );
        // A cached signer enforces the same window on every report.
        let s = VerifiedSigner::validate(leaf, &all, &[], &trust, at(case.as_of)).expect("valid");
        assert_eq!(s.not_after(), na, "{}: the VCEK expires first", case.id);
        for t in [UnixTime(na.0 + 1), UnixTime(nb.0 - 1)] {
            let e = err_of(s.verify(&ev.report, t));
            assert!(
                matches!(e, SnpError::SignerValidity { .. }),
                "{}: {e:?}",
                case.id
            );
            assert_eq!(e.check(), "certificate-validity");
        }
    }
}

#[test]
fn the_vlek_expired_on_2025_12_10() {
    let Some((ev, all)) = load(&V3_VLEK, true) else {
        return;
    };
    let trust = TrustStore::amd();
    verify_report(&ev.report, &all, &[], &trust, at("2025-12-10T22:14:20Z"))
        .expect("one second before expiry");
    let e = err_of(verify_report(
        &ev.report,
        &all,
        &[],
        &trust,
        at("2026-01-01T00:00:00Z"),
    ));
    assert_eq!(e.check(), "certificate-validity", "{e}");
    match e {
        SnpError::Chain(ChainError::Expired {
            index, not_after, ..
        }) => {
            assert_eq!(index, 0);
            assert_eq!(not_after, at("2025-12-10T22:14:21Z"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_signer_kind_must_match_the_reports_key_info() {
    let (Some(vlek_ev), Some(vcek_ev)) = (evidence(V3_VLEK.evidence), evidence(V3_DSTACK.evidence))
    else {
        return;
    };
    let (Some(vlek), Some(vcek)) = (
        cert("snp-vcek/vlek-milan-aws-use2-trustee.der"),
        cert("snp-vcek/vcek-milan-dstack.pem"),
    ) else {
        return;
    };
    let trust = TrustStore::amd();
    // verify_report only considers keys of the report's kind.
    let e = err_of(verify_report(
        &vlek_ev.report,
        std::slice::from_ref(&vcek),
        &[],
        &trust,
        at(V3_DSTACK.as_of),
    ));
    assert_eq!(e, SnpError::NoEndorsementKey { wanted: "VLEK" });
    assert_eq!(e.check(), "endorsement-key");
    let e = err_of(verify_report(
        &vcek_ev.report,
        std::slice::from_ref(&vlek),
        &[],
        &trust,
        at(V3_VLEK.as_of),
    ));
    assert_eq!(e, SnpError::NoEndorsementKey { wanted: "VCEK" });
    // A cached signer of the other kind refuses on the signing-key check.
    let now = at("2025-06-01T00:00:00Z");
    let s = VerifiedSigner::validate(&vlek, &[], &[], &trust, now).expect("VLEK validates");
    assert_eq!(s.info().kind, SigningKey::Vlek);
    let e = err_of(s.verify(&vcek_ev.report, now));
    assert_eq!(
        e,
        SnpError::SignerKind {
            report: "VCEK",
            certificate: "VLEK"
        }
    );
    assert_eq!(e.check(), "signing-key");
}

#[test]
fn no_endorsement_key_at_all_is_named() {
    let Some(ev) = evidence(V2_TRUSTEE.evidence) else {
        return;
    };
    let e = err_of(verify_report(
        &ev.report,
        &[],
        &[],
        &TrustStore::amd(),
        at(V2_TRUSTEE.as_of),
    ));
    assert_eq!(e, SnpError::NoEndorsementKey { wanted: "VCEK" });
    assert_eq!(e.check(), "endorsement-key");
    // The ASK/ARK bundle alone holds no endorsement key either.
    let all = certs(V2_TRUSTEE.ask_ark).expect("ask/ark");
    let e = err_of(verify_report(
        &ev.report,
        &all,
        &[],
        &TrustStore::amd(),
        at(V2_TRUSTEE.as_of),
    ));
    assert_eq!(e.check(), "endorsement-key");
}

#[test]
fn an_empty_trust_store_trusts_nothing() {
    let Some((ev, all)) = load(&V2_TRUSTEE, true) else {
        return;
    };
    let e = err_of(verify_report(
        &ev.report,
        &all,
        &[],
        &TrustStore::empty(),
        at(V2_TRUSTEE.as_of),
    ));
    assert_eq!(e.check(), "certificate-chain", "{e}");
    // Naming the (real) ARK explicitly makes it an anchor; in a store
    // without AMD's pinned roots it is an explicit, not a pinned, anchor.
    let ark = all
        .iter()
        .find(|c| c.subject_cn() == Some("ARK-Milan"))
        .expect("ARK")
        .clone();
    let v = verify_report(
        &ev.report,
        &all,
        &[],
        &TrustStore::empty().with_anchor(ark),
        at(V2_TRUSTEE.as_of),
    )
    .expect("verifies to the named root");
    assert!(!v.anchor_pinned(), "an empty store has no pinned roots");
}

// ------------------------------------------------------ Azure HCL binding --

fn hcl(case: &Case) -> Option<(tee_snp::SnpEvidence, tee_snp::container::HclReport)> {
    let ev = evidence(case.evidence)?;
    let Container::AzureHcl(h) = ev.container.clone() else {
        panic!("{}: not an HCL report: {:?}", case.id, ev.container);
    };
    Some((ev, h))
}

#[test]
fn azure_hcl_runtime_data_binding_holds_and_breaks_on_a_flipped_byte() {
    for case in [&AZ_GENOA, &AZ_MILAN_V0, &AZ_MILAN_V1, &AZ_HCL_2023] {
        let Some((ev, h)) = hcl(case) else { return };
        let report = Report::parse(&ev.report).expect("parses");
        assert_eq!(h.hash_type, 1, "{}: SHA-256", case.id);
        let digest = h.runtime_data_digest().expect("digest");
        assert_eq!(digest.len(), 32);
        assert_eq!(
            &report.report_data()[..32],
            digest.as_slice(),
            "{}",
            case.id
        );
        assert!(h.binding_holds(report.report_data()), "{}", case.id);
        let json = h.runtime_json().expect("runtime data is JSON");
        assert!(json.get("keys").is_some(), "{}: {json}", case.id);
        assert!(
            String::from_utf8_lossy(&h.runtime_data).contains("HCLAkPub"),
            "{}",
            case.id
        );
        // One flipped byte anywhere in the runtime JSON breaks the binding.
        for i in [0, h.runtime_data.len() / 2, h.runtime_data.len() - 1] {
            let mut bad = h.clone();
            bad.runtime_data[i] ^= 0x01;
            assert!(
                !bad.binding_holds(report.report_data()),
                "{}: byte {i}",
                case.id
            );
        }
        // A flipped REPORT_DATA byte (inside the digest) too.
        let mut rd = report.report_data().to_vec();
        rd[31] ^= 0x80;
        assert!(!h.binding_holds(&rd), "{}", case.id);
        // An unknown hash type binds nothing.
        let mut odd = h.clone();
        odd.hash_type = 9;
        assert!(!odd.binding_holds(report.report_data()));
    }
}

#[test]
fn a_flipped_byte_in_the_hcl_container_runtime_json_breaks_the_binding() {
    // Through the container bytes: the report still verifies (its bytes are
    // untouched) but the runtime data no longer matches REPORT_DATA.
    let Some(mut raw) = mamori_testvectors::read(AZ_HCL_2023.evidence) else {
        return;
    };
    let json_at = 0x4C0 + 0x14;
    assert_eq!(raw[json_at], b'{', "runtime JSON at 0x4D4");
    raw[json_at + 10] ^= 0x01;
    let ev = extract(&raw).expect("still an HCL report");
    let Container::AzureHcl(h) = &ev.container else {
        panic!("not HCL");
    };
    let all = certs(AZ_HCL_2023.collateral[0]).expect("chain");
    let v = verify_report(
        &ev.report,
        &all,
        &[],
        &TrustStore::amd(),
        at(AZ_HCL_2023.as_of),
    )
    .expect("the SNP report itself is intact");
    assert!(!h.binding_holds(v.report().report_data()));
}

/// What the service would fetch from AMD's KDS for a report that came
/// without its VCEK names exactly the certificate that verifies it: for
/// each positive vector, the VCEK whose chain verifies the report is among
/// the report's KDS candidates, and a VLEK-signed report is refused as not
/// fetchable.
#[test]
fn kds_names_the_vcek_that_verifies_each_report() {
    use tee_snp::endorsement::EndorsementInfo;
    use tee_snp::kds::{KdsError, VcekId};
    let mut checked = 0;
    for case in POSITIVES {
        let Some((ev, all)) = load(case, true) else {
            return;
        };
        let report = Report::parse(&ev.report).unwrap();
        let candidates = VcekId::candidates(&report);
        if case.signing_key == SigningKey::Vlek {
            assert_eq!(candidates, Err(KdsError::NotVcek("VLEK")), "{}", case.id);
            continue;
        }
        let candidates = candidates.unwrap_or_else(|e| panic!("{}: {e}", case.id));
        let signer = all
            .iter()
            .filter_map(|c| EndorsementInfo::from_certificate(c).ok())
            .filter_map(|info| VcekId::of_certificate(&info))
            .find(|id| candidates.iter().any(|c| c.same_key(id)))
            .unwrap_or_else(|| panic!("{}: no certificate is a KDS candidate", case.id));
        assert_eq!(signer.product, case.product, "{}", case.id);
        let path = candidates
            .iter()
            .find(|c| c.same_key(&signer))
            .unwrap()
            .path();
        assert!(
            path.starts_with(&format!("vcek/v1/{}/", case.product.amd_name())),
            "{}: {path}",
            case.id
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} VCEK-signed vectors checked");
}

//! Policy evaluation cost per call: the prepared form the service keeps
//! (regorus VM program, per-thread VM reuse), the interpreter form, and a
//! policy rebuilt (parsed and compiled) for every call, in one run.
#![allow(clippy::unwrap_used)] // a bench that cannot set up has nothing to measure

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mamori_policy::*;
use serde_json::json;

fn snp_input() -> AppraisalInput {
    let mut input = AppraisalInput {
        tee: "snp".into(),
        claims: json!({
            "version": 3, "guest_svn": 2, "vmpl": 0,
            "policy": {"abi_minor": 0, "abi_major": 0, "smt": true, "migrate_ma": false, "debug": false,
                       "single_socket": false, "cxl_allow": false, "mem_aes_256_xts": false, "rapl_dis": false,
                       "ciphertext_hiding": false, "page_swap_disable": false, "raw": "0x30000"},
            "measurement": "ab".repeat(48), "host_data": "00".repeat(32), "id_key_digest": "00".repeat(48),
            "report_data": "11".repeat(64), "chip_id": "22".repeat(64),
            "reported_tcb": {"bootloader": 10, "tee": 0, "snp": 23, "microcode": 213, "raw": "d517000000000a00"},
            "signing_key": "vcek", "product": "milan"
        }),
        ..Default::default()
    };
    input.reference.insert(
        "snp_launch_measurement".into(),
        vec![json!("ab".repeat(48))],
    );
    input
        .reference
        .insert("snp_min_tcb_snp".into(), vec![json!(20)]);
    input.binding.report_data_bound = true;
    input
}

fn resource_input() -> ResourceInput {
    ResourceInput {
        token: json!({
            "eat_profile": "tag:github.com,2023:veraison/ear", "iat": 1_700_000_000, "exp": 1_700_000_300,
            "ear.verifier-id": {"developer": "mamori", "build": "0.1.0"},
            "submods": {"cpu0": {"ear.status": "affirming",
                                 "ear.trustworthiness-vector": {"instance-identity": 2, "configuration": 2,
                                     "executables": 3, "hardware": 2, "runtime-opaque": 2},
                                 "ear.appraisal-policy-id": "default-snp"}}
        }),
        resource: "default/disk-key/vm1".into(),
    }
}

fn appraisal(c: &mut Criterion) {
    let input = snp_input();
    let json = serde_json::to_value(&input).unwrap();
    let policy = defaults::appraisal_policy_for_tee("snp").unwrap();
    assert_eq!(
        policy.evaluate(&input).unwrap().status,
        TrustTier::Affirming
    );
    let mut g = c.benchmark_group("appraisal_snp");
    g.bench_function("prepared_vm", |b| {
        b.iter(|| policy.evaluate(black_box(&input)).unwrap())
    });
    g.bench_function("prepared_vm_json_input", |b| {
        b.iter(|| policy.evaluate_json(black_box(&json)).unwrap())
    });
    g.bench_function("prepared_interpreter", |b| {
        b.iter(|| policy.evaluate_json_interpreted(black_box(&json)).unwrap())
    });
    g.bench_function("rebuilt_per_call", |b| {
        b.iter(|| {
            AppraisalPolicy::compile(black_box(defaults::SNP_APPRAISAL))
                .unwrap()
                .evaluate(&input)
                .unwrap()
        })
    });
    g.finish();
}

fn resource(c: &mut Criterion) {
    let input = resource_input();
    let json = input.to_json();
    let policy = defaults::resource_policy().unwrap();
    assert!(policy.evaluate(&input).unwrap().allow);
    let mut g = c.benchmark_group("resource_default");
    g.bench_function("prepared_vm", |b| {
        b.iter(|| policy.evaluate(black_box(&input)).unwrap())
    });
    g.bench_function("prepared_interpreter", |b| {
        b.iter(|| policy.evaluate_json_interpreted(black_box(&json)).unwrap())
    });
    g.bench_function("rebuilt_per_call", |b| {
        b.iter(|| {
            ResourcePolicy::compile(black_box(defaults::RESOURCE))
                .unwrap()
                .evaluate(&input)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = appraisal, resource
}
criterion_main!(benches);

use mamori_policy::*;
use serde_json::json;

#[test]
fn defaults_compile() {
    for tee in ["snp", "sample", "tdx"] {
        defaults::appraisal_policy_for_tee(tee).unwrap_or_else(|e| panic!("{tee}: {e}"));
    }
    defaults::resource_policy().unwrap_or_else(|e| panic!("resource: {e}"));
}

#[test]
fn snp_smoke() {
    let p = defaults::appraisal_policy_for_tee("snp").unwrap();
    let out = p
        .evaluate_json(&json!({"tee":"snp","claims":{"policy":{"debug":true,"migrate_ma":false},"measurement":"aa","vmpl":0,"reported_tcb":{"snp":3}},"reference":{"snp_launch_measurement":["AA"]},"binding":{"report_data_bound":true}}))
        .unwrap();
    println!("{out:?}");
}

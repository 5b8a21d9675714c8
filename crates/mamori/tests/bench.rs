//! `mamori bench` runs complete flows against a server it starts, on the
//! embedded store and on PostgreSQL, and reports them without errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn bench(extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args([
            "bench",
            "--mode",
            "kbs-sample",
            "--flows",
            "150",
            "--concurrency",
            "8",
        ])
        .args(extra)
        .env("MAMORI_LOG", "error")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn check(report: &str) {
    assert!(report.contains("150 flows in"), "{report}");
    assert!(report.contains("errors       0"), "{report}");
    for line in ["throughput", "latency      p50", "server CPU", "server RSS"] {
        assert!(report.contains(line), "{line} missing: {report}");
    }
}

#[test]
fn bench_runs_flows_on_the_embedded_store() {
    check(&bench(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_flows_on_postgresql() {
    let Some(db) = mamori_store::testing::postgres_schema("bench").await else {
        return;
    };
    let url = db.url();
    let report = tokio::task::spawn_blocking(move || bench(&["--postgres-url", &url]))
        .await
        .unwrap();
    check(&report);
    db.drop().await;
}

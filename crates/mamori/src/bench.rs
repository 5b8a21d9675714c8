//! `mamori bench`: a load generator that runs complete flows (challenge →
//! attest with simulated SNP evidence → release) with N concurrent clients,
//! bounded in count and time, and reports throughput, latency percentiles,
//! errors, and — for a server it started itself — the server's CPU time per
//! flow and its memory, read from /proc.

mod floor;

use crate::cli::BenchArgs;
use crate::output::outln;
use mamori_agent::{EvidenceSource, KbsClient, NativeClient, SampleTee, SimulatedSnp, TeeKey};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tee_sim::{ReportOptions, SnpSimChain};

const RESOURCE: &str = "bench/key/1";
const MEASUREMENT: [u8; 48] = [0x42; 48];

/// A server child process we started, for /proc accounting.
struct Child {
    proc: std::process::Child,
    _dir: tempdir::Dir,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

/// CPU time of a process (user, system), seconds.
fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux for every architecture we run on.
    Some((utime / 100.0, stime / 100.0))
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The server's store counters (commits, writes) from `/metrics`.
async fn store_counters(http: &reqwest::Client, url: &str) -> Option<(u64, u64)> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    };
    Some((
        value("mamori_store_commits_total")?,
        value("mamori_store_writes_total")?,
    ))
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

async fn start_server(
    chain: &SnpSimChain,
    sample: bool,
    postgres_url: Option<&str>,
) -> Result<(String, Child, String), String> {
    let dir = std::env::temp_dir().join(format!(
        "mamori-bench-{}-{}",
        std::process::id(),
        mamori_server::now()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let guard = tempdir::Dir(dir.clone());
    let (private, public) = mamori_service::admin::generate_key_pair()?;
    std::fs::write(dir.join("admin.pub"), public).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("ark.pem"), chain.ark_pem()).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--admin-public-key")
        .arg(dir.join("admin.pub"))
        .arg("--snp-trust-anchor")
        .arg(dir.join("ark.pem"))
        .env("MAMORI_LOG", "warn")
        .stdout(std::process::Stdio::null());
    if sample {
        cmd.arg("--insecure-allow-sample-tee");
    }
    if let Some(url) = postgres_url {
        // A shared store takes its key from the operator: a fresh one, in
        // the data directory the server would otherwise keep its file in.
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        mamori_service::kek::Kek::load_or_create(&data.join("kek.key"))
            .map_err(|e| format!("the bench's key-encryption key: {e}"))?;
        cmd.args(["--postgres-url", url]);
    }
    let proc = cmd
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let child = Child { proc, _dir: guard };
    let url = format!("http://127.0.0.1:{port}");
    let http = mamori_agent::http_client(None).map_err(|e| e.to_string())?;
    for _ in 0..200 {
        if http.get(format!("{url}/healthz")).send().await.is_ok() {
            return Ok((url, child, private));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the server did not come up".into())
}

async fn provision(url: &str, admin_key: &str, sample: bool) -> Result<(), String> {
    let admin = crate::admin::Client::new(url, admin_key.as_bytes(), None)?;
    let put = |path: String, body: String| {
        let admin = &admin;
        async move {
            admin
                .send(reqwest::Method::PUT, &path, Some(body.into_bytes()))
                .await
                .map(|_| ())
        }
    };
    put(
        "/v1/admin/reference-value".into(),
        serde_json::json!({"name": "snp_launch_measurement", "values": [hex::encode(MEASUREMENT)]})
            .to_string(),
    )
    .await?;
    put(
        format!("/v1/admin/resource/{RESOURCE}"),
        "bench secret".into(),
    )
    .await?;
    if sample {
        // The sample TEE is never affirming; the load test measures the
        // protocol path, so its resource policy allows any valid token.
        put(
            "/v1/admin/resource-policy".into(),
            serde_json::json!({"prefix": "bench", "policy": "package mamori.resource\nimport rego.v1\ndefault allow := false\nallow if count(input.token.submods) > 0\n"}).to_string(),
        )
        .await?;
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run_async(a: &BenchArgs) -> Result<(), String> {
    let sample = match a.mode.as_str() {
        "snp" => false,
        "kbs-sample" => true,
        other => return Err(format!("--mode {other:?}: expected snp or kbs-sample")),
    };
    let chain = Arc::new(match &a.platform {
        Some(p) => crate::sim::platform(Some(p), tee_sim::SimChainOptions::default())?,
        None => {
            SnpSimChain::generate(tee_sim::SimChainOptions::default()).map_err(|e| e.to_string())?
        }
    });
    let (url, child) = match &a.url {
        Some(u) => {
            if let Some(key) = &a.key {
                let k =
                    std::fs::read_to_string(key).map_err(|e| format!("{}: {e}", key.display()))?;
                provision(u, &k, sample).await?;
            }
            (u.clone(), None)
        }
        None => {
            let (u, c, k) = start_server(&chain, sample, a.postgres_url.as_deref()).await?;
            provision(&u, &k, sample).await?;
            (u, Some(c))
        }
    };
    let pid = child.as_ref().map(|c| c.proc.id());
    let source: Arc<dyn EvidenceSource> = if sample {
        Arc::new(SampleTee)
    } else {
        Arc::new(SimulatedSnp {
            chain: chain.clone(),
            options: ReportOptions {
                measurement: MEASUREMENT,
                ..ReportOptions::default()
            },
        })
    };
    // Pre-sign evidence outside the measured loop? No: the generator signs
    // per flow (the nonce is in the report), as a real guest would.
    let http = mamori_agent::http_client(None).map_err(|e| e.to_string())?;
    // Warm-up: connections, caches, the VCEK chain.
    let key = TeeKey::generate().map_err(|e| e.to_string())?;
    one_flow(&url, &http, source.as_ref(), &key, sample).await?;

    let floor_before = floor::measure(!sample)?;
    let store_before = store_counters(&http, &url).await;
    let started_cpu = pid.and_then(cpu_seconds);
    let remaining = Arc::new(AtomicUsize::new(a.flows));
    let errors = Arc::new(AtomicUsize::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let deadline = Instant::now() + Duration::from_secs(a.max_seconds);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let (url, http, source) = (url.clone(), http.clone(), source.clone());
        let (remaining, errors, first_error) =
            (remaining.clone(), errors.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let key = match TeeKey::generate() {
                Ok(k) => k,
                Err(e) => {
                    // A client that cannot start counts as a failure, not
                    // as a quiet absence from the results.
                    errors.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut f) = first_error.lock() {
                        f.get_or_insert(format!("TEE key generation: {e}"));
                    }
                    return lat;
                }
            };
            while Instant::now() < deadline
                && remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
            {
                let t = Instant::now();
                match one_flow(&url, &http, source.as_ref(), &key, sample).await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut f) = first_error.lock() {
                            f.get_or_insert(e);
                        }
                    }
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap_or_default());
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = match (started_cpu, pid.and_then(cpu_seconds)) {
        (Some(a), Some(b)) => Some((b.0 - a.0, b.1 - a.1)),
        _ => None,
    };
    let store_after = store_counters(&http, &url).await;
    let floor_after = floor::measure(!sample)?;
    let floor = if floor_after.per_flow < floor_before.per_flow {
        floor_after
    } else {
        floor_before
    };
    lat.sort();
    let ok = lat.len();
    let errs = errors.load(Ordering::Relaxed);
    outln(&format!(
        "mode {} · {} clients · {} flows in {:.2} s",
        a.mode,
        a.concurrency,
        ok + errs,
        elapsed
    ));
    outln(&format!(
        "throughput   {:.0} complete flows/s",
        ok as f64 / elapsed
    ));
    outln(&format!(
        "latency      p50 {:.1} ms · p90 {:.1} ms · p99 {:.1} ms · max {:.1} ms",
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.9).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    ));
    outln(&format!("errors       {errs}"));
    if let Some(e) = first_error.lock().ok().and_then(|f| f.clone()) {
        outln(&format!("first error  {e}"));
    }
    if let (Some(b), Some(a)) = (store_before, store_after) {
        let (commits, writes) = (a.0.saturating_sub(b.0), a.1.saturating_sub(b.1));
        if commits > 0 && ok > 0 {
            outln(&format!(
                "store        {:.1} writes per flow in {:.2} commits per flow ({:.1} writes per commit)",
                writes as f64 / ok as f64,
                commits as f64 / ok as f64,
                writes as f64 / commits as f64
            ));
        }
    }
    if let (Some((user, system)), Some(pid)) = (cpu, pid) {
        if ok > 0 {
            let c = user + system;
            let per_flow = c / ok as f64;
            outln(&format!(
                "server CPU   {:.3} ms per complete flow ({:.2} s total: {:.0} % user, {:.0} % system)",
                per_flow * 1e3,
                c,
                100.0 * user / c.max(f64::MIN_POSITIVE),
                100.0 * system / c.max(f64::MIN_POSITIVE)
            ));
            outln(&format!(
                "reference    {:.1} µs of raw crypto a flow needs ({}), timed in this run: server CPU = {:.2}× that",
                floor.per_flow.as_secs_f64() * 1e6,
                floor.what,
                per_flow / floor.per_flow.as_secs_f64()
            ));
        }
        if let Some(m) = rss_mib(pid) {
            outln(&format!("server RSS   {m:.1} MiB after the run"));
        }
        // Memory with 1,000 open sessions: issue challenges and leave them.
        let http = mamori_agent::http_client(None).map_err(|e| e.to_string())?;
        for _ in 0..1000 {
            let _ = http
                .post(format!("{url}/v1/challenge"))
                .json(&serde_json::json!({"tee": if sample { "sample" } else { "snp" }}))
                .send()
                .await;
        }
        if let Some(m) = rss_mib(pid) {
            outln(&format!(
                "server RSS   {m:.1} MiB with 1,000 more open sessions"
            ));
        }
    }
    drop(child);
    if errs > 0 {
        return Err(format!("{errs} flows failed"));
    }
    Ok(())
}

async fn one_flow(
    url: &str,
    http: &reqwest::Client,
    source: &dyn EvidenceSource,
    key: &TeeKey,
    kbs: bool,
) -> Result<(), String> {
    let secret = if kbs {
        let c = KbsClient::new(url, http.clone());
        let (cookie, _) = c.attest(source, key).await.map_err(|e| e.to_string())?;
        c.resource(&cookie, key, RESOURCE)
            .await
            .map_err(|e| e.to_string())?
    } else {
        let c = NativeClient::new(url, http.clone());
        let p = c.attest(source, key).await.map_err(|e| e.to_string())?;
        c.resource(&p.token, key, RESOURCE)
            .await
            .map_err(|e| e.to_string())?
    };
    if secret != b"bench secret" {
        return Err("released secret differs".into());
    }
    Ok(())
}

pub fn run(a: &BenchArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mamori bench: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run_async(a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mamori bench: {e}");
            ExitCode::from(1)
        }
    }
}

//! Counters and latency histograms in the Prometheus text format. Written
//! by hand: a handful of atomics is all a single binary needs, and it keeps
//! the hot path free of allocations. The labelled counters take a short
//! lock (one per attestation, held for a map lookup).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0,
];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; 12],
    over: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, secs: f64) {
        match BUCKETS.iter().position(|b| secs <= *b) {
            Some(i) => self.counts[i].fetch_add(1, Relaxed),
            None => self.over.fetch_add(1, Relaxed),
        };
        self.sum_micros.fetch_add((secs * 1e6) as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        self.render_series(out, name, "");
    }

    /// The series of one histogram; `labels` (`a="x",b="y"`) go before `le`.
    fn render_series(&self, out: &mut String, name: &str, labels: &str) {
        let (sep, braces) = if labels.is_empty() {
            ("", String::new())
        } else {
            (",", format!("{{{labels}}}"))
        };
        let mut cum = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cum}");
        }
        cum += self.over.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cum}");
        let _ = writeln!(
            out,
            "{name}_sum{braces} {}\n{name}_count{braces} {cum}",
            self.sum_micros.load(Relaxed) as f64 / 1e6
        );
    }
}

/// The HTTP listener's connections: kept here, with the service's other
/// counters, so that one `/metrics` page shows them; the listener holds a
/// clone of the `Arc`.
#[derive(Default)]
pub struct ConnectionStats {
    /// Connections accepted and not yet closed (TLS handshakes included).
    pub open: AtomicU64,
    /// Connections accepted since start.
    pub accepted: AtomicU64,
    /// Times every place under `limits.max_connections` was taken when the
    /// listener was ready for the next connection.
    pub full: AtomicU64,
    /// The limit in force (0: none).
    pub limit: AtomicU64,
    /// Request bodies not received within `limits.body_timeout_secs`.
    pub body_timeouts: AtomicU64,
}

/// HTTP requests by route (the router's pattern, so paths a client makes up
/// do not add series) and method: answers by status, and latency.
#[derive(Default)]
pub struct HttpStats {
    routes: Mutex<BTreeMap<String, BTreeMap<&'static str, RouteStats>>>,
}

#[derive(Default)]
struct RouteStats {
    statuses: BTreeMap<u16, u64>,
    latency: Histogram,
}

impl HttpStats {
    /// Counts one answered request. `route` is allocated once, the first
    /// time it is seen.
    pub fn observe(&self, method: &'static str, route: &str, status: u16, secs: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let methods = match routes.get_mut(route) {
            Some(m) => m,
            None => routes.entry(route.to_owned()).or_default(),
        };
        let stats = methods.entry(method).or_default();
        *stats.statuses.entry(status).or_default() += 1;
        stats.latency.observe(secs);
    }

    fn render(&self, o: &mut String) {
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let name = "mamori_http_requests_total";
        let _ = writeln!(
            o,
            "# HELP {name} HTTP requests answered, by method, route pattern and status.\n# TYPE {name} counter"
        );
        for (route, methods) in routes.iter() {
            for (method, stats) in methods {
                for (status, n) in &stats.statuses {
                    let _ = writeln!(
                        o,
                        "{name}{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        let name = "mamori_http_request_duration_seconds";
        let _ = writeln!(
            o,
            "# HELP {name} Time from a request's headers to its answer, by method and route pattern.\n# TYPE {name} histogram"
        );
        for (route, methods) in routes.iter() {
            for (method, stats) in methods {
                let labels = format!("method=\"{method}\",route=\"{route}\"");
                stats.latency.render_series(o, name, &labels);
            }
        }
    }
}

/// A value owned outside the service — the log writer's count of dropped
/// lines, the TLS certificate's expiry — read at each scrape.
struct Probe {
    name: &'static str,
    help: &'static str,
    kind: ProbeKind,
    read: Box<dyn Fn() -> Option<f64> + Send + Sync>,
}

#[derive(Clone, Copy, Debug)]
pub enum ProbeKind {
    Counter,
    Gauge,
}

#[derive(Default)]
pub struct Metrics {
    pub connections: Arc<ConnectionStats>,
    pub http: HttpStats,
    probes: Mutex<Vec<Probe>>,
    pub challenges: AtomicU64,
    pub challenges_refused: AtomicU64,
    pub releases_ok: AtomicU64,
    pub releases_denied: AtomicU64,
    pub releases_failed: AtomicU64,
    pub admin_changes: AtomicU64,
    pub attest_latency: Histogram,
    pub release_latency: Histogram,
    /// Rejected attestations by reason (the error's kind) and, for
    /// evidence that failed verification, the check that failed. Both are
    /// names from the code, a small fixed set, so the series stay few.
    rejections: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Completed attestations by TEE kind and overall `ear.status`: how
    /// much of a fleet the appraisal policies find affirming.
    appraisals: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Collateral asked of AMD's KDS by item and outcome.
    collateral_fetches: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

fn bump(
    map: &Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    key: (&'static str, &'static str),
) {
    *map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default() += 1;
}

fn total(map: &Mutex<BTreeMap<(&'static str, &'static str), u64>>) -> u64 {
    map.lock().unwrap_or_else(|p| p.into_inner()).values().sum()
}

/// A metric family of one unlabelled sample.
fn single(o: &mut String, name: &str, help: &str, kind: ProbeKind, v: impl std::fmt::Display) {
    let kind = match kind {
        ProbeKind::Counter => "counter",
        ProbeKind::Gauge => "gauge",
    };
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
}

fn render_pairs(
    o: &mut String,
    name: &str,
    help: &str,
    labels: (&str, &str),
    map: &Mutex<BTreeMap<(&'static str, &'static str), u64>>,
) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
    for ((a, b), n) in map.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(o, "{name}{{{}=\"{a}\",{}=\"{b}\"}} {n}", labels.0, labels.1);
    }
}

impl Metrics {
    /// Adds a value read at each scrape (`None`: not known, left out),
    /// replacing one of the same name.
    pub fn add_probe(
        &self,
        name: &'static str,
        help: &'static str,
        kind: ProbeKind,
        read: impl Fn() -> Option<f64> + Send + Sync + 'static,
    ) {
        let mut probes = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        probes.retain(|p| p.name != name);
        probes.push(Probe {
            name,
            help,
            kind,
            read: Box::new(read),
        });
    }

    /// Counts a rejected attestation under its reason and failed check
    /// (`""` when the reason has none).
    pub fn rejected(&self, reason: &'static str, check: &'static str) {
        bump(&self.rejections, (reason, check));
    }

    /// Counts a completed attestation under its TEE kind and overall status.
    pub fn appraised(&self, tee: &'static str, status: &'static str) {
        bump(&self.appraisals, (tee, status));
    }

    /// Counts one fetch of collateral (`vcek`, `cert_chain`) by outcome
    /// (`fetched`, `not_found`, `unreachable`, …).
    pub fn collateral_fetch(&self, item: &'static str, outcome: &'static str) {
        bump(&self.collateral_fetches, (item, outcome));
    }

    pub fn render(&self, open_sessions: i64, store: &mamori_store::WriteStats) -> String {
        let mut o = String::new();
        let counter = |o: &mut String, name: &str, help: &str, v: &AtomicU64| {
            single(o, name, help, ProbeKind::Counter, v.load(Relaxed));
        };
        counter(
            &mut o,
            "mamori_challenges_total",
            "Challenges (nonces) issued.",
            &self.challenges,
        );
        counter(
            &mut o,
            "mamori_challenges_refused_total",
            "Challenges refused because session.max_open sessions awaited evidence.",
            &self.challenges_refused,
        );
        let _ = writeln!(
            o,
            "# HELP mamori_attestations_total Attestations by result.\n# TYPE mamori_attestations_total counter\nmamori_attestations_total{{result=\"ok\"}} {}\nmamori_attestations_total{{result=\"rejected\"}} {}",
            total(&self.appraisals),
            total(&self.rejections)
        );
        let _ = writeln!(
            o,
            "# HELP mamori_releases_total Secret releases by result.\n# TYPE mamori_releases_total counter\nmamori_releases_total{{result=\"ok\"}} {}\nmamori_releases_total{{result=\"denied\"}} {}\nmamori_releases_total{{result=\"error\"}} {}",
            self.releases_ok.load(Relaxed),
            self.releases_denied.load(Relaxed),
            self.releases_failed.load(Relaxed)
        );
        render_pairs(
            &mut o,
            "mamori_attestation_rejections_total",
            "Rejected attestations by reason and, for evidence, the verification check that failed.",
            ("reason", "check"),
            &self.rejections,
        );
        render_pairs(
            &mut o,
            "mamori_collateral_fetches_total",
            "Collateral fetched from vendor services (AMD KDS, Intel PCS) by item and outcome.",
            ("item", "outcome"),
            &self.collateral_fetches,
        );
        render_pairs(
            &mut o,
            "mamori_appraisals_total",
            "Completed attestations by TEE kind and overall ear.status.",
            ("tee", "status"),
            &self.appraisals,
        );
        counter(
            &mut o,
            "mamori_admin_changes_total",
            "Admin changes applied.",
            &self.admin_changes,
        );
        single(
            &mut o,
            "mamori_open_sessions",
            "Sessions whose nonce is still usable.",
            ProbeKind::Gauge,
            open_sessions,
        );
        counter(
            &mut o,
            "mamori_store_commits_total",
            "Store transactions committed (each carries one or more writes).",
            &store.commits,
        );
        counter(
            &mut o,
            "mamori_store_writes_total",
            "Store writes committed; writes per commit shows how well concurrent writes share a commit.",
            &store.writes,
        );
        let c = &self.connections;
        single(
            &mut o,
            "mamori_http_connections_open",
            "HTTP connections open, TLS handshakes included.",
            ProbeKind::Gauge,
            c.open.load(Relaxed),
        );
        single(
            &mut o,
            "mamori_http_connections_limit",
            "limits.max_connections in force (0: no limit).",
            ProbeKind::Gauge,
            c.limit.load(Relaxed),
        );
        counter(
            &mut o,
            "mamori_http_connections_total",
            "HTTP connections accepted.",
            &c.accepted,
        );
        counter(
            &mut o,
            "mamori_http_connection_limit_reached_total",
            "Times limits.max_connections connections were open when the listener was ready for another; further connections waited in the listen backlog.",
            &c.full,
        );
        counter(
            &mut o,
            "mamori_http_body_timeouts_total",
            "Requests whose body did not arrive within limits.body_timeout_secs (answered 408).",
            &c.body_timeouts,
        );
        self.http.render(&mut o);
        for p in self.probes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            if let Some(v) = (p.read)() {
                single(&mut o, p.name, p.help, p.kind, v);
            }
        }
        self.attest_latency.render(
            &mut o,
            "mamori_attest_seconds",
            "Attestation latency inside the service.",
        );
        self.release_latency.render(
            &mut o,
            "mamori_release_seconds",
            "Release latency inside the service.",
        );
        o
    }
}

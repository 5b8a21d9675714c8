//! `mamori serve`: the Verifier and key broker on the embedded store.

use crate::cli::ServeArgs;
use mamori_service::metrics::ProbeKind;
use mamori_service::{Config, Service};
use std::process::ExitCode;

/// Reads the config file (if any) and applies the command-line overrides.
pub fn load_config(a: &ServeArgs) -> Result<Config, String> {
    let mut cfg = match &a.config {
        Some(p) => Config::from_file(p).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Some(l) = &a.listen {
        cfg.listen = l.parse().map_err(|e| format!("--listen {l:?}: {e}"))?;
    }
    if let Some(url) = &a.postgres_url {
        cfg.store.postgres_url = url.clone();
    }
    if let Some(d) = &a.data_dir {
        cfg.data_dir = d.clone();
    }
    cfg.admin
        .public_keys
        .extend(a.admin_public_key.iter().cloned());
    cfg.snp
        .trust_anchors
        .extend(a.snp_trust_anchor.iter().cloned());
    cfg.dcap
        .collateral
        .extend(a.dcap_collateral.iter().cloned());
    if a.insecure_allow_sample_tee {
        cfg.insecure_allow_sample_tee = true;
    }
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

/// `mamori serve --check`: what start-up would read, read; nothing
/// created, nothing bound.
fn check(cfg: &Config) -> ExitCode {
    // What start-up would warn about is shown too (extra roots, collateral
    // files skipped in a directory, …).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .try_init();
    let now = mamori_server::now();
    let report = match mamori_service::check(cfg, now) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mamori serve: {e}");
            return ExitCode::from(2);
        }
    };
    let connections = match connection_room(cfg.limits.max_connections, &OpenFiles::current()) {
        Ok(Some(fits)) => format!(
            "{fits} (lowered from {} to fit the open-files limit)",
            cfg.limits.max_connections
        ),
        Ok(None) => cfg.limits.max_connections.to_string(),
        Err(e) => {
            eprintln!("mamori serve: {e}");
            return ExitCode::from(2);
        }
    };
    let tls = match &cfg.tls {
        Some(t) => match mamori_server::tls::CertReloader::load(t) {
            Ok(pair) => {
                let until = pair.not_after();
                let date = until
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_else(|| "an unreadable date".into());
                if until.is_some_and(|t| t <= now) {
                    eprintln!(
                        "mamori serve: warning: the TLS certificate {} expired at {date}",
                        t.cert.display()
                    );
                }
                format!("TLS with {} (valid until {date})", t.cert.display())
            }
            Err(e) => {
                eprintln!("mamori serve: {e}");
                return ExitCode::from(2);
            }
        },
        None => "plain HTTP (loopback)".into(),
    };
    println!("configuration OK");
    println!("  listen        {} · {tls}", cfg.listen);
    println!("  connections   {connections}");
    let limits = &cfg.limits;
    if limits.client_requests_per_second == 0 {
        println!("  per client    no limit");
    } else {
        println!(
            "  per client    {} requests/s, bursts of {}{}",
            limits.client_requests_per_second,
            limits.client_burst,
            if limits.trusted_proxies.is_empty() {
                String::new()
            } else {
                format!(
                    "; X-Forwarded-For from {}",
                    limits.trusted_proxies.join(", ")
                )
            }
        );
    }
    println!("  data dir      {}", cfg.data_dir.display());
    println!(
        "  database      {}",
        if cfg.store.is_shared() && cfg.store.client_cert.is_some() {
            "PostgreSQL, shared, with a client certificate (not contacted by --check)"
        } else if cfg.store.is_shared() {
            "PostgreSQL, shared (not contacted by --check)"
        } else if report.database_present {
            "present"
        } else {
            "created at first start"
        }
    );
    println!("  KEK           {}", report.kek);
    println!("  admin keys    {}", report.admin_keys);
    let off = "off (nothing is fetched)";
    println!(
        "  AMD KDS       {}",
        cfg.snp.kds_url.as_deref().unwrap_or(off)
    );
    match &cfg.dcap.pcs_url {
        None => println!("  Intel PCS     {off}"),
        Some(url) => {
            // The configuration was validated, so the URL is a base URL.
            let root =
                mamori_service::pcs::root_ca_crl_url(url, cfg.dcap.root_ca_crl_url.as_deref())
                    .unwrap_or_default();
            println!("  Intel PCS     {url}; root CA CRL from {root}; both CRLs required");
        }
    }
    if cfg.insecure_allow_sample_tee {
        println!("  INSECURE      the unsigned sample TEE is accepted");
    }
    ExitCode::SUCCESS
}

/// Log lines queued for the writer thread before new ones are dropped:
/// a few MB at most (the crate's default, 128,000, is tens of MB).
pub const LOG_QUEUE_LINES: usize = 8_192;

/// The log writer: its guard flushes the queue when dropped; its counter
/// tells how many lines were dropped.
pub struct Logging {
    _guard: tracing_appender::non_blocking::WorkerGuard,
    dropped: tracing_appender::non_blocking::ErrorCounter,
}

/// Installs the log subscriber. Lines go to stderr from a background
/// thread through a bounded queue that drops lines when it is full: with a
/// slow log reader (a container runtime's log pipe under pressure) or a
/// flood of refused requests, logging loses lines instead of blocking the
/// tokio workers, and with them every request. The returned guard flushes
/// what is queued when dropped, at exit (waiting a second at most).
pub fn init_logging(cfg: &Config) -> Logging {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("MAMORI_LOG").unwrap_or_else(|_| EnvFilter::new(&cfg.log.level));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("mamori-log")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    // Colour codes only for a person at a terminal: in a log file, a pipe to
    // journald or a container runtime they are noise (and cost a formatting
    // pass per field).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    let _ = if cfg.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    Logging {
        _guard: guard,
        dropped,
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, listened for once the port is bound (during
/// start-up they end the process as usual): the first resolves the returned
/// future, which starts the drain; a second ends the process at once with
/// 128 + its number (what has been committed is on disk: the store's log
/// makes each commit durable), for an operator who will not wait. One task
/// owns both streams, so no signal falls between two listeners.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{signal, Signal, SignalKind};
    let listen =
        |kind: SignalKind| signal(kind).map_err(|e| format!("cannot listen for signals: {e}"));
    let mut int = listen(SignalKind::interrupt())?;
    let mut term = listen(SignalKind::terminate())?;
    let (first, drain) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        async fn next(int: &mut Signal, term: &mut Signal) -> i32 {
            tokio::select! {
                _ = int.recv() => 2,
                _ = term.recv() => 15,
            }
        }
        next(&mut int, &mut term).await;
        tracing::info!("shutting down (signal again to exit now)");
        let _ = first.send(());
        let signo = next(&mut int, &mut term).await;
        // Nothing is written to stderr here: with a log reader that has
        // stopped reading, the write would block and the exit never come.
        std::process::exit(128 + signo);
    });
    Ok(async {
        let _ = drain.await;
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// File descriptors kept beside connections: the store's database, log and
/// shared-memory files, the listener, the KEK and TLS files when read, and
/// spare; the store's reader connections (two descriptors each, opened per
/// worker thread under load) are added per CPU, up to 256 more.
fn fd_reserve() -> u64 {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get() as u64);
    256 + (8 * cpus).min(256)
}

/// Fewer places than this (unless fewer were asked for) and a handful of
/// slow clients would hold the server: it refuses to start instead.
const MIN_CONNECTIONS: u64 = 64;

/// The open-files limits of this process.
struct OpenFiles {
    soft: u64,
    hard: u64,
}

impl OpenFiles {
    #[cfg(unix)]
    fn current() -> OpenFiles {
        let (soft, hard) = rlimit::Resource::NOFILE
            .get()
            .unwrap_or((u64::MAX, u64::MAX));
        OpenFiles { soft, hard }
    }

    #[cfg(not(unix))]
    fn current() -> OpenFiles {
        OpenFiles {
            soft: u64::MAX,
            hard: u64::MAX,
        }
    }

    /// What the soft limit becomes when raised as far as `need` allows.
    fn raised_for(&self, need: u64) -> u64 {
        self.soft.max(self.hard.min(need))
    }
}

fn descriptors_needed(max_connections: usize) -> u64 {
    match max_connections as u64 {
        0 => u64::MAX,
        n => n.saturating_add(fd_reserve()),
    }
}

/// The connection limit that fits once the soft limit is raised as far as
/// the hard one allows: `None` when the configured one fits, `Some(n)` when
/// it must be lowered to `n`, an error when too few would be left.
fn connection_room(max_connections: usize, files: &OpenFiles) -> Result<Option<u64>, String> {
    let wanted = max_connections as u64;
    let need = descriptors_needed(max_connections);
    let limit = files.raised_for(need);
    if wanted == 0 || limit >= need {
        return Ok(None);
    }
    let fits = limit.saturating_sub(fd_reserve());
    if fits < MIN_CONNECTIONS.min(wanted) {
        return Err(format!(
            "the open-files limit ({limit}) leaves room for {fits} connections, fewer than {}: raise it (ulimit -n, LimitNOFILE=)",
            MIN_CONNECTIONS.min(wanted)
        ));
    }
    Ok(Some(fits))
}

/// Makes room for `limits.max_connections` under the open-files limit. The
/// usual soft default, 1,024, is below the default connection limit, so the
/// soft limit is raised towards the hard limit (as Go's runtime does at
/// start) as far as the connections need; where the hard limit is lower,
/// the connection limit is lowered to fit, since accepting past it would
/// fail on every descriptor the process opens.
fn fit_connections_to_open_files(cfg: &mut Config) -> Result<(), String> {
    #[cfg(unix)]
    let raised = rlimit::increase_nofile_limit(descriptors_needed(cfg.limits.max_connections));
    #[cfg(not(unix))]
    let raised: std::io::Result<u64> = Ok(0);
    // Read back what was raised; if nothing could be, the soft limit is
    // all there is.
    let mut files = OpenFiles::current();
    if let Err(e) = raised {
        tracing::warn!(error = %e, "cannot raise the open-files limit");
        files.hard = files.soft;
    }
    if let Some(fits) = connection_room(cfg.limits.max_connections, &files)? {
        tracing::warn!(
            open_files_limit = files.soft,
            configured = cfg.limits.max_connections,
            serving = fits,
            "limits.max_connections lowered to fit the open-files limit (raise it with ulimit -n or LimitNOFILE=)"
        );
        cfg.limits.max_connections = fits as usize;
    }
    Ok(())
}

async fn run_async(mut cfg: Config, log: &Logging) -> Result<(), String> {
    fit_connections_to_open_files(&mut cfg)?;
    let svc = Service::start(cfg.clone(), mamori_server::now())
        .await
        .map_err(|e| e.to_string())?;
    let dropped = log.dropped.clone();
    svc.metrics.add_probe(
        "mamori_log_lines_dropped_total",
        "Log lines dropped because the log reader fell behind.",
        ProbeKind::Counter,
        move || Some(dropped.dropped_lines() as f64),
    );
    #[cfg(target_os = "linux")]
    crate::process_metrics::register(&svc.metrics);
    if cfg.admin.public_keys.is_empty() {
        tracing::warn!("no admin public key configured: admin endpoints refuse every request (see `mamori admin keygen`)");
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // From here on the signals start the drain; before, during start-up,
    // they end the process as usual.
    let shutdown = shutdown_signal()?;
    let store = if cfg.store.is_shared() {
        "postgresql"
    } else {
        "sqlite"
    };
    tracing::info!(%addr, data_dir = %cfg.data_dir.display(), store, "mamori serving");
    let housekeeping = mamori_server::spawn_housekeeping(svc.clone());
    let result = mamori_server::serve(listener, svc.clone(), shutdown).await;
    housekeeping.abort();
    svc.store().close().await;
    result
}

pub fn run(a: &ServeArgs) -> ExitCode {
    let cfg = match load_config(a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mamori serve: {e}");
            return ExitCode::from(2);
        }
    };
    if a.check {
        return check(&cfg);
    }
    let log = init_logging(&cfg);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mamori serve: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run_async(cfg, &log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mamori serve: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(soft: u64, hard: u64) -> OpenFiles {
        OpenFiles { soft, hard }
    }

    #[test]
    fn connections_fit_under_the_open_files_limit() {
        let r = fd_reserve();
        // No limit configured, or room once the soft limit is raised.
        assert_eq!(connection_room(0, &files(1024, 1024)), Ok(None));
        assert_eq!(connection_room(4096, &files(1024, 1 << 20)), Ok(None));
        // The hard limit is the ceiling: lowered to what fits.
        assert_eq!(
            connection_room(4096, &files(1024, 2048)),
            Ok(Some(2048 - r))
        );
        // Too few left: refused, whether 64 or fewer were asked for.
        assert!(connection_room(4096, &files(r + 10, r + 10)).is_err());
        assert!(connection_room(16, &files(r + 8, r + 8)).is_err());
        assert_eq!(connection_room(16, &files(r + 16, r + 16)), Ok(None));
    }
}

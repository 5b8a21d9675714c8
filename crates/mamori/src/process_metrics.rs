//! The standard `process_*` series every Prometheus client library exports
//! (CPU time, resident memory, open and allowed file descriptors, start
//! time), read from `/proc/self` at each scrape. With the connection limit
//! sized from the open-files limit, `process_open_fds` against
//! `process_max_fds` is what an operator alerts on. Linux only: elsewhere
//! the series are left out.

use mamori_service::metrics::{Metrics, ProbeKind};

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ): 100 on every
/// Linux architecture Mamori runs on.
const TICKS_PER_SECOND: f64 = 100.0;

pub fn register(metrics: &Metrics) {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64().floor());
    metrics.add_probe(
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, seconds.",
        ProbeKind::Gauge,
        move || Some(started),
    );
    metrics.add_probe(
        "process_cpu_seconds_total",
        "User and system CPU time spent, seconds.",
        ProbeKind::Counter,
        || {
            let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
            cpu_seconds(&stat)
        },
    );
    metrics.add_probe(
        "process_resident_memory_bytes",
        "Resident memory size, bytes.",
        ProbeKind::Gauge,
        || {
            let status = std::fs::read_to_string("/proc/self/status").ok()?;
            resident_bytes(&status)
        },
    );
    metrics.add_probe(
        "process_open_fds",
        "Open file descriptors.",
        ProbeKind::Gauge,
        || Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as f64),
    );
    metrics.add_probe(
        "process_max_fds",
        "The soft limit on open file descriptors.",
        ProbeKind::Gauge,
        || {
            let (soft, _) = rlimit::Resource::NOFILE.get().ok()?;
            Some(soft as f64)
        },
    );
}

/// utime + stime of a `/proc/<pid>/stat` line, seconds. The fields are
/// counted after the command name's closing parenthesis, since the name
/// itself may hold spaces and parentheses.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are the 14th and 15th fields of the whole line.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// VmRSS of `/proc/<pid>/status`, bytes.
fn resident_bytes(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        // A command name with a space and a parenthesis, as a process may
        // give itself.
        let line = "4242 (mamori (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 12345 1000 2000";
        assert_eq!(cpu_seconds(line), Some(3.0));
        assert_eq!(cpu_seconds("4242 (truncated"), None);
        assert_eq!(cpu_seconds("4242 (x) S 1 2"), None);
    }

    #[test]
    fn resident_memory_is_read_in_kib() {
        let status = "Name:\tmamori\nVmPeak:\t  9000 kB\nVmRSS:\t  2048 kB\nThreads:\t3\n";
        assert_eq!(resident_bytes(status), Some(2048.0 * 1024.0));
        assert_eq!(resident_bytes("Name:\tmamori\n"), None);
    }

    #[test]
    fn this_process_is_read() {
        let m = Metrics::default();
        register(&m);
        let text = m.render(0, &Default::default());
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }
}

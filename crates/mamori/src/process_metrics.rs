//! The standard `process_*` series every Prometheus client library exports
//! (CPU time, resident memory, open and allowed file descriptors, start
//! time), read from `/proc/self` at each scrape. With the connection limit
//! sized from the open-files limit, `process_open_fds` against
//! `process_max_fds` is what an operator alerts on. Linux only (the module
//! is not built elsewhere).

use mamori_service::metrics::{Metrics, ProbeKind};

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ): 100 on every
/// Linux architecture Mamori runs on.
const TICKS_PER_SECOND: f64 = 100.0;

pub fn register(metrics: &Metrics) {
    metrics.add_probe(
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, seconds.",
        ProbeKind::Gauge,
        || {
            let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
            let boot = std::fs::read_to_string("/proc/stat").ok()?;
            start_time(&stat, &boot)
        },
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

/// Field `n` (1-based, as proc(5) numbers them) of a `/proc/<pid>/stat`
/// line. Fields are counted after the command name's closing parenthesis,
/// since the name itself may hold spaces and parentheses.
fn stat_field(stat: &str, n: usize) -> Option<f64> {
    // The name is field 2; the text after it starts with field 3.
    let after_name = stat.rsplit_once(')')?.1;
    after_name
        .split_whitespace()
        .nth(n.checked_sub(3)?)?
        .parse()
        .ok()
}

/// utime + stime (fields 14 and 15), seconds.
fn cpu_seconds(stat: &str) -> Option<f64> {
    Some((stat_field(stat, 14)? + stat_field(stat, 15)?) / TICKS_PER_SECOND)
}

/// Boot time (`btime` of `/proc/stat`) plus the process's start in ticks
/// after boot (field 22), seconds since the epoch.
fn start_time(stat: &str, proc_stat: &str) -> Option<f64> {
    let boot: f64 = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(boot + stat_field(stat, 22)? / TICKS_PER_SECOND)
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
        assert_eq!(
            start_time(line, "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_123.45)
        );
        assert_eq!(start_time(line, "cpu  1 2 3\n"), None);
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

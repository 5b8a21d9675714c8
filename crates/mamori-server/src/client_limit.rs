//! A request budget per client address (`[limits]
//! client_requests_per_second`): a token bucket for each client, so that
//! one guest in a retry loop, or one host flooding the unauthenticated
//! endpoints, cannot take every session slot, store write and CPU second
//! from the others. The open-session limit protects the store; this keeps
//! that limit from becoming one client's to exhaust.
//!
//! Written here rather than taken from `tower_governor`/`governor`: the
//! client must be found behind trusted proxies (`X-Forwarded-For`), IPv6
//! clients counted by /64, and the table bounded against made-up
//! addresses. With those, what is left of such a crate is the bucket's
//! three lines of arithmetic.

use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Clients tracked at once. Beyond it, after idle clients have been let
/// go, new clients share one bucket: a flood from many addresses then
/// slows the clients it finds untracked, not those spending their budget
/// meanwhile. About 64 bytes each.
const MAX_CLIENTS: usize = 65_536;

/// The least time between two sweeps of the full table: with made-up
/// addresses arriving faster, each request must not pay for a sweep.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What one budget is kept for: an IPv4 address, or an IPv6 /64 (one host
/// commonly has a whole /64 to choose addresses from).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    V6(u64),
    /// The clients beyond [`MAX_CLIENTS`].
    Overflow,
}

impl ClientKey {
    fn of(addr: IpAddr) -> ClientKey {
        match addr {
            IpAddr::V4(a) => ClientKey::V4(a.into()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(v4.into()),
                None => ClientKey::V6((u128::from(a) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
struct Table {
    buckets: HashMap<ClientKey, Bucket>,
    last_sweep: Option<Instant>,
}

/// The per-client budgets of one node.
#[derive(Debug)]
pub struct ClientLimiter {
    rate: f64,
    burst: f64,
    proxies: Vec<IpNet>,
    max_clients: usize,
    table: Mutex<Table>,
    refused: AtomicU64,
}

impl ClientLimiter {
    /// `rate` requests a second with bursts of `burst` for each client;
    /// `None` when `rate` is 0 (no per-client limit).
    pub fn new(rate: u32, burst: u32, proxies: Vec<IpNet>) -> Option<ClientLimiter> {
        (rate > 0).then(|| ClientLimiter {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            proxies,
            max_clients: MAX_CLIENTS,
            table: Mutex::default(),
            refused: AtomicU64::new(0),
        })
    }

    /// The client of a request from `peer`: `peer` itself, unless it is a
    /// trusted proxy, in which case the right-most address of
    /// `X-Forwarded-For` (all its values, in order) that is not a trusted
    /// proxy. Addresses left of that one were written by the client and are
    /// not believed. An entry that is not an address ends the walk at the
    /// last trusted hop.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded: impl DoubleEndedIterator<Item = &'a [u8]>,
    ) -> IpAddr {
        // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`, and
        // some proxies write hops so: compared as IPv4, as configured.
        let trusted = |a: &IpAddr| self.proxies.iter().any(|n| n.contains(a));
        let mut client = peer.to_canonical();
        if !trusted(&client) {
            return client;
        }
        for value in forwarded.rev() {
            let Ok(value) = std::str::from_utf8(value) else {
                return client;
            };
            for hop in value.rsplit(',') {
                let Some(addr) = parse_hop(hop.trim()) else {
                    return client;
                };
                client = addr.to_canonical();
                if !trusted(&client) {
                    return client;
                }
            }
        }
        client
    }

    /// Takes one request from `client`'s budget at `now`, or says how long
    /// until one is available.
    pub fn admit(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let mut key = ClientKey::of(client);
        if table.buckets.len() >= self.max_clients && !table.buckets.contains_key(&key) {
            self.sweep(&mut table, now);
            if table.buckets.len() >= self.max_clients {
                key = ClientKey::Overflow;
            }
        }
        let burst = self.burst;
        let bucket = table.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let earned = now.saturating_duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + earned).min(burst);
        // A request that read the clock before another took the lock must
        // not set the bucket back and be credited the overlap twice.
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            self.refused.fetch_add(1, Relaxed);
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }

    /// Requests refused so far, for `/metrics`.
    pub fn refused(&self) -> u64 {
        self.refused.load(Relaxed)
    }

    /// Clients tracked now (the shared bucket of the overflow included),
    /// for `/metrics`: near the bound, a flood from many addresses.
    pub fn tracked(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .buckets
            .len()
    }

    /// Lets go of the clients whose budget is whole again: they have been
    /// idle long enough that a new bucket is the same as theirs.
    fn sweep(&self, table: &mut Table, now: Instant) {
        if table
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < SWEEP_EVERY)
        {
            return;
        }
        table.last_sweep = Some(now);
        let (rate, burst) = (self.rate, self.burst);
        table.buckets.retain(|key, b| {
            *key == ClientKey::Overflow
                || b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
        });
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`), as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limiter(rate: u32, burst: u32, proxies: &[&str]) -> ClientLimiter {
        ClientLimiter::new(
            rate,
            burst,
            proxies.iter().map(|p| p.parse().unwrap()).collect(),
        )
        .unwrap()
    }

    #[test]
    fn no_rate_is_no_limiter() {
        assert!(ClientLimiter::new(0, 10, vec![]).is_none());
    }

    #[test]
    fn a_client_gets_its_burst_then_its_rate() {
        let l = limiter(2, 3, &[]);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(l.admit(a, t0), Ok(()));
        }
        let wait = l.admit(a, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Others are not held up by it.
        assert_eq!(l.admit(ip("192.0.2.2"), t0), Ok(()));
        // Half a second later, one more; a minute later, the burst again
        // and no more.
        assert_eq!(l.admit(a, t0 + Duration::from_millis(500)), Ok(()));
        assert!(l.admit(a, t0 + Duration::from_millis(500)).is_err());
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(l.admit(a, later), Ok(()));
        }
        assert!(l.admit(a, later).is_err());
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64_and_mapped_ipv4_is_ipv4() {
        let l = limiter(1, 1, &[]);
        let t = Instant::now();
        assert_eq!(l.admit(ip("2001:db8:1:2::1"), t), Ok(()));
        assert!(l.admit(ip("2001:db8:1:2:ffff::9"), t).is_err());
        assert_eq!(l.admit(ip("2001:db8:1:3::1"), t), Ok(()));
        assert_eq!(l.admit(ip("192.0.2.7"), t), Ok(()));
        assert!(l.admit(ip("::ffff:192.0.2.7"), t).is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let l = limiter(1, 1, &["10.0.0.0/8", "2001:db8:ff::/48"]);
        let xff = |v: &'static [&'static str]| v.iter().map(|s| s.as_bytes());
        // From an untrusted peer, the header is the client's say-so.
        assert_eq!(
            l.client(ip("192.0.2.9"), xff(&["203.0.113.5"])),
            ip("192.0.2.9")
        );
        // Behind two trusted proxies: the right-most untrusted address.
        assert_eq!(
            l.client(
                ip("10.0.0.2"),
                xff(&["198.51.100.1, 203.0.113.5, 10.0.0.1"])
            ),
            ip("203.0.113.5")
        );
        // Several header lines read as one list; ports and brackets are
        // allowed.
        assert_eq!(
            l.client(
                ip("10.0.0.2"),
                xff(&["198.51.100.1", "[2001:db8::5]:443, 10.1.2.3:80"])
            ),
            ip("2001:db8::5")
        );
        // Without the header, or all hops trusted, or garbage: the last
        // trusted hop.
        assert_eq!(l.client(ip("10.0.0.2"), xff(&[])), ip("10.0.0.2"));
        assert_eq!(l.client(ip("10.0.0.2"), xff(&["10.9.9.9"])), ip("10.9.9.9"));
        assert_eq!(
            l.client(ip("10.0.0.2"), xff(&["203.0.113.5, unknown, 10.0.0.3"])),
            ip("10.0.0.3")
        );
        assert_eq!(
            l.client(ip("2001:db8:ff:1::1"), [&b"\xff"[..]].into_iter()),
            ip("2001:db8:ff:1::1")
        );
        // A dual-stack listener's IPv4 peers, and hops written the same way.
        assert_eq!(
            l.client(ip("::ffff:10.0.0.2"), xff(&["203.0.113.5"])),
            ip("203.0.113.5")
        );
        assert_eq!(
            l.client(
                ip("10.0.0.2"),
                xff(&["::ffff:203.0.113.5, ::ffff:10.0.0.1"])
            ),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn the_table_is_bounded_and_idle_clients_are_let_go() {
        let mut l = limiter(1, 2, &[]);
        l.max_clients = 4;
        let t0 = Instant::now();
        for i in 1..=4 {
            assert_eq!(l.admit(ip(&format!("192.0.2.{i}")), t0), Ok(()));
        }
        // Full, nobody idle: new clients share the overflow budget (2).
        assert_eq!(l.admit(ip("198.51.100.1"), t0), Ok(()));
        assert_eq!(l.admit(ip("198.51.100.2"), t0), Ok(()));
        assert!(l.admit(ip("198.51.100.3"), t0).is_err());
        assert_eq!(l.refused(), 1);
        assert_eq!(l.tracked(), 5);
        // Known clients keep their own budgets meanwhile.
        assert_eq!(l.admit(ip("192.0.2.1"), t0), Ok(()));
        // Two seconds on, everyone is whole again and is let go.
        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(l.admit(ip("198.51.100.3"), t2), Ok(()));
        assert_eq!(l.tracked(), 2, "the overflow bucket and the new client");
        // Full again within the second: no second sweep, so the third new
        // client is counted in the overflow budget (whole again by now).
        for i in 1..=3 {
            assert_eq!(l.admit(ip(&format!("203.0.113.{i}")), t2), Ok(()));
        }
        assert_eq!(l.tracked(), 4);
        assert_eq!(l.admit(ip("203.0.113.9"), t2), Ok(()), "overflow");
        assert!(l.admit(ip("203.0.113.10"), t2).is_err(), "overflow spent");
        assert_eq!(l.tracked(), 4);
    }
}

//! A `mamori serve` child process on a free loopback port, for the tests
//! that need the real binary (signals, its stderr).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server process, killed (and its directory removed) however the
/// test ends.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a `mamori serve` on `port` answers `GET /healthz` (over a
/// connection that is not a self-connect).
pub fn answers_health(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    if s.local_addr().ok() == s.peer_addr().ok() {
        return false;
    }
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok\n")
}

/// Starts `mamori serve --listen 127.0.0.1:PORT --data-dir DIR/data` with
/// what `configure` adds, and waits until it answers `/healthz`; returns
/// the child and its port. A free port found by binding port 0 can be
/// taken by another socket before the server binds it (one of the tests'
/// outgoing connections, say, or another test's server): a server that
/// exits at start is started again on another port, and readiness is a
/// health answer from a live child rather than a bare connect (which can
/// even reach itself: a TCP self-connect to an unbound port in the
/// ephemeral range).
pub fn spawn_ready(dir: &std::path::Path, configure: impl Fn(&mut Command)) -> (Child, u16) {
    let mut exits = Vec::new();
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mamori"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.join("data"));
        configure(&mut command);
        let mut child = command.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                exits.push(status);
                break; // its port was taken: another port
            }
            if answers_health(port) && child.try_wait().unwrap().is_none() {
                return (child, port);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Five exits are no port race: say how it ended (its stderr, where
    // the test keeps it, says why).
    panic!("server did not start on any of 5 ports; it exited with {exits:?}");
}

impl Server {
    /// Starts `mamori serve` with its stderr as `stderr` makes it (and
    /// `MAMORI_LOG` when `log` is set), and waits until it answers
    /// `/healthz` (see [`spawn_ready`]).
    pub fn start(name: &str, stderr: fn() -> Stdio, log: Option<&str>) -> Server {
        let dir = std::env::temp_dir().join(format!("mamori-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (child, port) = spawn_ready(&dir, |command| {
            command.stdout(Stdio::null()).stderr(stderr());
            if let Some(filter) = log {
                command.env("MAMORI_LOG", filter);
            }
        });
        Server { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends a signal by name (`-TERM`, `-INT`) with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([name, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {name}");
    }

    /// The exit status, if the process ends within `wait`.
    pub fn exit_within(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

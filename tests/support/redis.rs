//! A private `redis-server` per test: a free loopback port (never the shared 6379), its own
//! temp dir, AOF on with `appendfsync always`; killed when dropped. Also a 3-master
//! Redis Cluster on loopback ports.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port that is free now, and whose cluster-bus port (+10000) is free too.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// A running redis-server.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl RedisServer {
    /// AOF on, fsync on every write.
    pub fn start() -> RedisServer {
        Self::start_with(&["--appendonly", "yes", "--appendfsync", "always"])
    }

    /// With these extra `redis-server` arguments.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--save", "", "--daemonize", "no", "--logfile", "redis.log"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start redis-server (tests/run.sh installs it)");
        self.child = Some(child);
        wait_ready(self.port, self.dir.path());
    }

    /// `redis://127.0.0.1:PORT/0?queue=NAME` plus `extra` parameters.
    pub fn url(&self, queue: &str, extra: &str) -> String {
        let mut url = format!("redis://127.0.0.1:{}/0?queue={queue}", self.port);
        if !extra.is_empty() {
            url.push('&');
            url.push_str(extra);
        }
        url
    }

    /// SIGKILLs the server (AOF with `appendfsync always` keeps every acknowledged write).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and dir.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs `redis-cli -p PORT args…` and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_ready(port: u16, dir: &Path) {
    let start = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && cli(port, &["PING"]).contains("PONG")
        {
            return;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
            panic!("redis-server on port {port} did not start:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Three masters on loopback ports, slots spread by `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                    "--appendonly",
                    "yes",
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let start = Instant::now();
        for n in &nodes {
            while !n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "the cluster did not become ready"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        RedisCluster { nodes }
    }

    /// `redis://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/?queue=NAME`.
    pub fn url(&self, queue: &str) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis://{}/?queue={queue}", hosts.join(","))
    }
}

/// A TCP proxy in front of a redis-server that loses one reply: the first request that
/// contains `marker` reaches the server, runs there, and then the proxy closes the
/// connection before the reply gets back. The client cannot know whether its command ran;
/// later connections pass through untouched.
pub struct DropReplyProxy {
    pub port: u16,
    fired: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl DropReplyProxy {
    pub fn start(upstream: u16, marker: &[u8]) -> DropReplyProxy {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let fired = Arc::new(AtomicBool::new(false));
        let marker = marker.to_vec();
        let fired_in = fired.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let armed = Arc::new(AtomicBool::new(false));
                proxy_requests(&client, &server, marker.clone(), armed.clone(), &fired_in);
                proxy_replies(client, server, armed, fired_in.clone());
            }
        });
        DropReplyProxy { port, fired }
    }

    /// True once a reply was lost.
    pub fn fired(&self) -> bool {
        self.fired.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The URL of the proxy, as [`RedisServer::url`] makes it.
    pub fn url(&self, queue: &str, extra: &str) -> String {
        let mut url = format!("redis://127.0.0.1:{}/0?queue={queue}", self.port);
        if !extra.is_empty() {
            url.push('&');
            url.push_str(extra);
        }
        url
    }
}

/// Client to server; arms the connection once a request holding `marker` went through.
fn proxy_requests(
    client: &TcpStream,
    server: &TcpStream,
    marker: Vec<u8>,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    fired: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let (mut from, mut to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let fired = fired.clone();
    std::thread::spawn(move || {
        let mut seen: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Armed before the request goes on, so that its reply is the one lost.
            if !fired.load(Ordering::SeqCst) && !armed.load(Ordering::SeqCst) {
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(marker.len()).any(|w| w == marker.as_slice()) {
                    armed.store(true, Ordering::SeqCst);
                }
                let keep = seen.len().saturating_sub(marker.len());
                seen.drain(..keep);
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

/// Server to client; once armed, swallows the reply and closes both ends.
fn proxy_replies(
    client: TcpStream,
    server: TcpStream,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    fired: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    std::thread::spawn(move || {
        let (mut from, mut to) = (server, client);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if armed.load(Ordering::SeqCst) && !fired.swap(true, Ordering::SeqCst) {
                break; // the reply is lost
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Both);
        let _ = from.shutdown(std::net::Shutdown::Both);
    });
}

//! A real Redis Sentinel (Debian's `redis-sentinel`) monitoring one primary,
//! for failover tests. Quick to decide: the primary counts as down after
//! 500 ms, and one Sentinel is a quorum. Dropping the guard kills it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::redis_server::RedisTls;

pub struct RedisSentinel {
    port: u16,
    dir: TempDir,
    child: Child,
    tls: bool,
}

impl RedisSentinel {
    /// Starts a Sentinel that monitors `127.0.0.1:{primary_port}` as
    /// `service`, and waits until it answers.
    ///
    /// # Panics
    /// `redis-sentinel` is not installed or does not answer within 10 s.
    pub fn start(primary_port: u16, service: &str) -> Self {
        Self::start_inner(primary_port, service, None)
    }

    /// A Sentinel that speaks TLS only (`tls-port`), and reaches the
    /// primary over TLS too (`tls-replication yes`), with `tls`'s files;
    /// waits until it logs that it monitors the primary.
    pub fn start_tls(primary_port: u16, service: &str, tls: &RedisTls) -> Self {
        Self::start_inner(primary_port, service, Some(tls))
    }

    fn start_inner(primary_port: u16, service: &str, tls: Option<&RedisTls>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("revokd-sentinel-")
            .tempdir()
            .expect("temporary directory");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // Sentinel rewrites its configuration file: it must be writable.
        let conf = dir.path().join("sentinel.conf");
        let listen = match tls {
            None => format!("port {port}\n"),
            Some(tls) => format!(
                "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\n\
                 tls-ca-cert-file {}\ntls-auth-clients {}\ntls-replication yes\n",
                tls.cert_file.display(),
                tls.key_file.display(),
                tls.ca_file.display(),
                if tls.auth_clients { "yes" } else { "no" },
            ),
        };
        std::fs::write(
            &conf,
            format!(
                "bind 127.0.0.1\n{listen}dir {dir}\nlogfile {dir}/sentinel.log\n\
                 sentinel monitor {service} 127.0.0.1 {primary_port} 1\n\
                 sentinel down-after-milliseconds {service} 500\n\
                 sentinel failover-timeout {service} 5000\n\
                 sentinel parallel-syncs {service} 1\n",
                dir = dir.path().display()
            ),
        )
        .expect("sentinel.conf");
        let child = Command::new("redis-sentinel")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("`redis-sentinel` not found: install Debian's redis-sentinel");
        let sentinel = Self {
            port,
            dir,
            child,
            tls: tls.is_some(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // A TLS Sentinel cannot be asked in plain text: its log says
            // when it monitors the primary.
            let ready = if sentinel.tls {
                sentinel.log().contains("+monitor master")
            } else {
                sentinel
                    .ask(&["PING"])
                    .is_some_and(|r| r.starts_with("+PONG"))
            };
            if ready {
                return sentinel;
            }
            sleep(Duration::from_millis(20));
        }
        panic!("redis-sentinel did not answer\n{}", sentinel.log());
    }

    /// `redis://127.0.0.1:{port}` (`rediss://` for a TLS Sentinel).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The raw RESP reply to one command, or `None` when unreachable.
    pub fn ask(&self, args: &[&str]) -> Option<String> {
        let mut stream = TcpStream::connect_timeout(
            &(Ipv4Addr::LOCALHOST, self.port).into(),
            Duration::from_millis(200),
        )
        .ok()?;
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .ok()?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).ok()?;
        let mut reply = vec![0u8; 64 * 1024];
        let n = stream.read(&mut reply).ok()?;
        Some(String::from_utf8_lossy(&reply[..n]).into_owned())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sentinel.log"))
            .unwrap_or_else(|_| "(no sentinel log)".to_owned())
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

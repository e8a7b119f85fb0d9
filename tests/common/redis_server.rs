//! A real `redis-server` per test, no mocks.
//!
//! [`RedisServer::start`] runs Debian's `redis-server` on a free loopback
//! port with its own temporary directory and the durability settings revokd
//! recommends (`appendonly yes`, `appendfsync always`, no RDB snapshots), so
//! that a test can stop and restart it and check that nothing acknowledged
//! was lost. Dropping the guard kills the process: no server outlives its
//! test, even one that panics.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long `start` and `restart` wait for the first `PONG`.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// How long `stop` waits for a graceful exit before killing.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// A running (or stopped) `redis-server`; see the module docs.
pub struct RedisServer {
    port: u16,
    /// Holds the append-only file across `stop`/`restart`; removed on drop.
    dir: TempDir,
    child: Option<Child>,
    extra: Vec<String>,
    /// `Some`: TLS only (`--port 0 --tls-port`), see [`RedisServer::start_tls`].
    tls: Option<RedisTls>,
}

/// The certificate files of a TLS-only server (Debian's redis-server is
/// built with TLS).
#[derive(Clone, Debug)]
pub struct RedisTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The CA that client certificates must chain to.
    pub ca_file: PathBuf,
    /// `--tls-auth-clients yes`: a client without a certificate is refused.
    pub auth_clients: bool,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    ///
    /// # Panics
    /// `redis-server` is not installed, or does not answer within
    /// [`READY_WITHIN`].
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra command-line settings (e.g. `--replicaof
    /// 127.0.0.1 6379`), as [`RedisServer::start`] does.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_inner(extra, None)
    }

    /// Starts a server that speaks TLS only, on a free port, and waits
    /// until it logs that it accepts connections (a plain `PING` cannot
    /// reach it).
    pub fn start_tls(tls: RedisTls) -> Self {
        Self::start_inner(&[], Some(tls))
    }

    fn start_inner(extra: &[&str], tls: Option<RedisTls>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("revokd-redis-")
            .tempdir()
            .expect("cannot create a temporary directory for redis-server");
        // Another process may take the port between our probe and Redis's
        // bind; a server that exits at once is retried on a new port.
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            tls,
        };
        for _ in 0..5 {
            if server.spawn_and_wait() {
                return server;
            }
            server.port = free_port();
        }
        panic!(
            "redis-server exited at once on 5 free ports in a row\n{}",
            server.log()
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Shuts the server down gracefully with `SHUTDOWN` (data stays in the
    /// directory) and waits for the process to exit.
    ///
    /// # Panics
    /// The server is already stopped, or does not exit within
    /// [`STOP_WITHIN`].
    pub fn stop(&mut self) {
        let mut child = self
            .child
            .take()
            .expect("stop: redis-server is not running");
        // The server closes the connection instead of answering SHUTDOWN.
        // A TLS server gets SIGTERM, which shuts it down the same way.
        if self.tls.is_some() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
        } else if let Ok(mut stream) = TcpStream::connect(self.addr()) {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = stream.write_all(b"*1\r\n$8\r\nSHUTDOWN\r\n");
        }
        let deadline = Instant::now() + STOP_WITHIN;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "redis-server did not exit within {STOP_WITHIN:?} of SHUTDOWN\n{}",
                        self.log()
                    );
                }
            }
        }
    }

    /// Kills the server with `SIGKILL`, as a crash or power cut would: only
    /// what `appendfsync always` already put on disk survives.
    ///
    /// # Panics
    /// The server is already stopped.
    pub fn crash(&mut self) {
        let mut child = self
            .child
            .take()
            .expect("crash: redis-server is not running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same port and directory, so it
    /// reloads what it had written.
    ///
    /// # Panics
    /// The server is running, or does not come back within [`READY_WITHIN`].
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "restart: redis-server is still running; stop it first"
        );
        assert!(
            self.spawn_and_wait(),
            "redis-server did not restart on port {}\n{}",
            self.port,
            self.log()
        );
    }

    /// Freezes the process (`SIGSTOP`): it keeps accepting connections in
    /// the kernel but answers nothing, like a Redis stuck on a slow disk.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Undoes [`RedisServer::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis-server is not running");
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("cannot run `kill`");
        assert!(status.success(), "kill {signal} failed");
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Spawns the process and waits for `PONG`; `false` when the process
    /// exited (typically: the port was taken).
    fn spawn_and_wait(&mut self) -> bool {
        let dir = self.dir.path();
        if self.tls.is_some() {
            // Readiness is read from the log: not from an earlier run's.
            let _ = std::fs::remove_file(dir.join("redis.log"));
        }
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1"]);
        match &self.tls {
            None => {
                command.args(["--port", &self.port.to_string()]);
            }
            Some(tls) => {
                command
                    .args(["--port", "0", "--tls-port", &self.port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(&tls.cert_file)
                    .arg("--tls-key-file")
                    .arg(&tls.key_file)
                    .arg("--tls-ca-cert-file")
                    .arg(&tls.ca_file)
                    .args([
                        "--tls-auth-clients",
                        if tls.auth_clients { "yes" } else { "no" },
                    ]);
            }
        }
        let spawned = command
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--daemonize", "no"])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                panic!(
                    "`redis-server` not found on PATH: install Debian's redis-server (apt-get install redis-server)"
                )
            }
            Err(err) => panic!("cannot start redis-server: {err}"),
        };
        let addr = self.addr();
        let child = self.child.insert(child);
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                return false;
            }
            // PING answers `-LOADING` until the append-only file is
            // replayed; the pid check makes sure that the server answering
            // is ours, not another test's that happened to get the port.
            // A TLS server is ready when its own log says so (it logs that
            // once the data is loaded and the port is bound).
            let ready = if self.tls.is_some() {
                std::fs::read_to_string(dir.join("redis.log"))
                    .is_ok_and(|log| log.contains("Ready to accept connections"))
            } else {
                answers_ping(addr) && server_pid(addr) == Some(child.id())
            };
            if ready {
                return true;
            }
            sleep(Duration::from_millis(10));
        }
        panic!(
            "redis-server did not answer PING within {READY_WITHIN:?}\n{}",
            self.log()
        );
    }

    fn log(&self) -> String {
        read_log(self.dir.path())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("cannot bind a loopback port");
    listener.local_addr().expect("bound address").port()
}

fn answers_ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// The `process_id` that `INFO server` reports.
fn server_pid(addr: SocketAddr) -> Option<u32> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream
        .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        .ok()?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    // A bulk string: `$len\r\n` then `len` bytes and `\r\n`.
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        reply.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&reply);
        let (header, body) = text.split_once("\r\n")?;
        let len: usize = header.strip_prefix('$')?.parse().ok()?;
        if body.len() >= len {
            let pid = body
                .lines()
                .find_map(|line| line.strip_prefix("process_id:"))?;
            return pid.trim().parse().ok();
        }
    }
}

fn read_log(dir: &Path) -> String {
    match std::fs::read_to_string(dir.join("redis.log")) {
        Ok(log) => format!("redis-server log:\n{log}"),
        Err(_) => "(no redis-server log)".to_owned(),
    }
}

//! Real reverse proxies on loopback for the gateway tests: Debian's nginx
//! and Caddy, each started with a configuration from `deploy/` (addresses
//! and key replaced, nothing else), and a small upstream that counts what
//! reaches it.
//!
//! Every guard kills its process on drop, so no proxy outlives its test.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a proxy may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// The addresses and key the committed configurations use, replaced by a
/// test's own.
pub const DEPLOY_REVOKD: &str = "127.0.0.1:8080";
pub const DEPLOY_UPSTREAM: &str = "127.0.0.1:8123";

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .expect("cannot bind a loopback port")
        .local_addr()
        .expect("bound address")
        .port()
}

/// A committed file of `deploy/`, read.
pub fn deploy_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where a proxy's configuration points: revokd, the upstream, the key.
pub struct Wiring<'a> {
    pub revokd: &'a str,
    pub upstream: &'a str,
    pub key_placeholder: &'a str,
    pub key: &'a str,
}

impl Wiring<'_> {
    /// `config` with the deploy addresses and key replaced. Panics if one of
    /// them is missing, so a changed deploy file cannot silently escape the
    /// test.
    pub fn apply(&self, config: &str, listen: (&str, &str)) -> String {
        for needle in [
            DEPLOY_REVOKD,
            DEPLOY_UPSTREAM,
            self.key_placeholder,
            listen.0,
        ] {
            assert!(
                config.contains(needle),
                "the configuration lacks {needle:?}"
            );
        }
        config
            .replace(DEPLOY_REVOKD, self.revokd)
            .replace(DEPLOY_UPSTREAM, self.upstream)
            .replace(self.key_placeholder, self.key)
            .replace(listen.0, listen.1)
    }
}

/// A running proxy process.
pub struct Proxy {
    pub port: u16,
    child: Child,
    dir: TempDir,
    log: PathBuf,
}

impl Proxy {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What the proxy logged so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(mut self, name: &str) -> Self {
        let deadline = Instant::now() + READY_WITHIN;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{name} exited at once ({status}):\n{}", self.log());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return self;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{name} did not listen within {READY_WITHIN:?}:\n{}",
            self.log()
        );
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.dir();
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Starts nginx with `site` (a server-level file of `deploy/nginx/`, wired)
/// inside a minimal main configuration whose paths all lie in a temporary
/// directory.
pub fn start_nginx(site: &str, port: u16) -> Proxy {
    let dir = tempfile::Builder::new()
        .prefix("revokd-nginx-")
        .tempdir()
        .expect("temp dir");
    let d = dir.path().display();
    // As root, nginx would switch its workers to `nobody`, who cannot use
    // the temporary directory.
    let user = if running_as_root() { "user root;" } else { "" };
    let conf = format!(
        "{user}
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{site}
}}
"
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("write nginx.conf");
    let log = dir.path().join("error.log");
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(&log)
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is not installed (apt-get install nginx-light)");
    Proxy {
        port,
        child,
        dir,
        log,
    }
    .wait_ready("nginx")
}

/// Starts Caddy with `caddyfile` (wired), its state in a temporary
/// directory.
pub fn start_caddy(caddyfile: &str, port: u16) -> Proxy {
    let dir = tempfile::Builder::new()
        .prefix("revokd-caddy-")
        .tempdir()
        .expect("temp dir");
    let file = dir.path().join("Caddyfile");
    std::fs::write(&file, caddyfile).expect("write Caddyfile");
    let log = dir.path().join("caddy.log");
    let out = std::fs::File::create(&log).expect("log file");
    let child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .spawn()
        .expect("caddy is not installed (apt-get install caddy)");
    Proxy {
        port,
        child,
        dir,
        log,
    }
    .wait_ready("caddy")
}

/// What reached the upstream.
#[derive(Debug, Clone, Default)]
pub struct Hits(Arc<AtomicUsize>);

impl Hits {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A stand-in for Home Assistant: answers 200 with the path and the
/// identity header it received, and counts requests.
pub struct Upstream {
    pub addr: String,
    pub hits: Hits,
    server: actix_web::dev::ServerHandle,
}

impl Upstream {
    pub async fn start() -> Self {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        let hits = Hits::default();
        let counter = hits.clone();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind upstream");
        let addr = listener.local_addr().expect("addr").to_string();
        let server = HttpServer::new(move || {
            let counter = counter.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                counter.0.fetch_add(1, Ordering::SeqCst);
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let body = serde_json::json!({
                    "upstream": true,
                    "path": req.uri().to_string(),
                    "x-auth-subject": header("x-auth-subject"),
                    "x-revokd-key": header("x-revokd-key"),
                });
                async move { HttpResponse::Ok().json(body) }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            addr,
            hits,
            server: handle,
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

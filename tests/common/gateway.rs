//! Real reverse proxies in front of a real revokd, no mocks.
//!
//! Gateway enforcement is only as good as the proxy configuration people
//! copy, so the tests run **the committed files in `deploy/`**: [`render`]
//! fills their placeholders, and [`Proxy::home_assistant`] starts them in
//! Debian's `nginx` ([`Nginx`]) or `caddy` ([`Caddy`]) on a free loopback
//! port, in a temporary directory of their own (pid file, logs, temp
//! files, Caddy's storage), never touching ports 80/443 or `/etc`.
//!
//! Behind the proxy, [`Upstream`] plays the app: an in-process HTTP server
//! that answers every request with what it received (path, headers, body
//! size) as JSON, records it (so a test can assert the app was *not*
//! reached), and accepts WebSocket upgrades by echoing the bytes it gets.
//! [`Revokd`] runs the real `revokd` binary.
//!
//! Every guard stops its process when dropped, and prints the process's
//! log when dropped during a panic, so a failing test shows what nginx,
//! Caddy or revokd said.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::header::{CONNECTION, UPGRADE};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

/// How long a process gets to accept connections after it is started.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// How long a process gets to exit after it was asked to.
const STOP_WITHIN: Duration = Duration::from_secs(5);
/// How many free ports a start tries when another process takes the port
/// between our probe and the server's bind.
const PORT_ATTEMPTS: usize = 5;

/// The path of revokd's forward-auth endpoint as the `deploy/` files spell
/// it; [`Placeholders::auth_path`] replaces it.
pub const FORWARD_AUTH_PATH: &str = "/v1/forward-auth";

/// The placeholder a proxy guard fills itself with the port it chose.
const LISTEN: &str = "{{LISTEN}}";

// ---------------------------------------------------------------------------
// Templates: the files in deploy/
// ---------------------------------------------------------------------------

/// Values for the placeholders of the `deploy/` files. `{{LISTEN}}` is not
/// here: [`Nginx`] and [`Caddy`] fill it with the free port they bind.
#[derive(Debug, Clone)]
pub struct Placeholders {
    /// `{{REVOKD}}`: revokd's `host:port`.
    pub revokd: String,
    /// `{{UPSTREAM}}`: the app's `host:port`.
    pub upstream: String,
    /// `{{KEY}}`: the proxy's client key, sent as `X-Revokd-Key`.
    pub key: String,
    /// Replaces every [`FORWARD_AUTH_PATH`] in the files, so that a test
    /// can aim the proxies at another route (an existing one, while the
    /// endpoint is being written). [`FORWARD_AUTH_PATH`] by default.
    pub auth_path: String,
}

impl Placeholders {
    /// The files as committed, between revokd at `revokd` and the app at
    /// `upstream` (both `host:port`).
    pub fn new(revokd: &str, upstream: &str, key: &str) -> Self {
        Self {
            revokd: revokd.to_owned(),
            upstream: upstream.to_owned(),
            key: key.to_owned(),
            auth_path: FORWARD_AUTH_PATH.to_owned(),
        }
    }

    /// The same, with the proxies asking revokd at `path` (may hold a
    /// query) instead of [`FORWARD_AUTH_PATH`].
    pub fn auth_path(mut self, path: &str) -> Self {
        self.auth_path = path.to_owned();
        self
    }
}

/// The absolute path of `deploy/<relative>`.
pub fn deploy_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(relative)
}

/// `deploy/<relative>` with its placeholders filled, except `{{LISTEN}}`.
///
/// # Panics
/// The file cannot be read, or holds a placeholder this function does not
/// know (so that a new one in `deploy/` cannot go untested by mistake).
pub fn render(relative: &str, vars: &Placeholders) -> String {
    let path = deploy_file(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    let text = text
        .replace("{{REVOKD}}", &vars.revokd)
        .replace("{{UPSTREAM}}", &vars.upstream)
        .replace("{{KEY}}", &vars.key)
        .replace(FORWARD_AUTH_PATH, &vars.auth_path);
    let unknown: Vec<&str> = placeholders_in(&text)
        .into_iter()
        .filter(|name| *name != LISTEN)
        .collect();
    assert!(
        unknown.is_empty(),
        "{relative} holds placeholders render() does not fill: {unknown:?}"
    );
    text
}

/// Every `{{NAME}}` in `text`.
pub fn placeholders_in(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        found.push(&rest[start..start + len + 2]);
        rest = &rest[start + len + 2..];
    }
    found
}

// ---------------------------------------------------------------------------
// Proxy: nginx or Caddy, with the Home Assistant configuration
// ---------------------------------------------------------------------------

/// Which reverse proxy a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Nginx,
    Caddy,
}

/// A running reverse proxy of either kind.
pub enum Proxy {
    Nginx(Nginx),
    Caddy(Caddy),
}

impl Proxy {
    /// The Home Assistant example of `deploy/` (`nginx/home-assistant.conf`
    /// with `nginx/revokd-auth.conf`, or `caddy/home-assistant.Caddyfile`
    /// with `caddy/revokd-auth.caddy`), files laid out as the comments in
    /// them tell users to.
    pub fn home_assistant(kind: ProxyKind, vars: &Placeholders) -> Self {
        match kind {
            ProxyKind::Nginx => Self::Nginx(Nginx::start_with(
                &render("nginx/home-assistant.conf", vars),
                &[(
                    "snippets/revokd-auth.conf",
                    &render("nginx/revokd-auth.conf", vars),
                )],
            )),
            ProxyKind::Caddy => Self::Caddy(Caddy::start_with(
                &render("caddy/home-assistant.Caddyfile", vars),
                &[(
                    "revokd-auth.caddy",
                    &render("caddy/revokd-auth.caddy", vars),
                )],
            )),
        }
    }

    /// The generic example of `deploy/`, which guards every path. Caddy
    /// only: nginx's generic part is the snippet itself.
    pub fn caddy_generic(vars: &Placeholders) -> Self {
        Self::Caddy(Caddy::start_with(
            &render("caddy/Caddyfile", vars),
            &[(
                "revokd-auth.caddy",
                &render("caddy/revokd-auth.caddy", vars),
            )],
        ))
    }

    pub fn kind(&self) -> ProxyKind {
        match self {
            Self::Nginx(_) => ProxyKind::Nginx,
            Self::Caddy(_) => ProxyKind::Caddy,
        }
    }

    /// `127.0.0.1:{port}`.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::Nginx(nginx) => nginx.addr(),
            Self::Caddy(caddy) => caddy.addr(),
        }
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// Everything the proxy logged so far.
    pub fn log(&self) -> String {
        match self {
            Self::Nginx(nginx) => nginx.log(),
            Self::Caddy(caddy) => caddy.log(),
        }
    }
}

// ---------------------------------------------------------------------------
// nginx
// ---------------------------------------------------------------------------

/// A running `nginx` (master and one worker) with its own prefix
/// directory; see the module docs.
pub struct Nginx {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Nginx {
    /// Starts nginx with `site` in its `http { }` block; `{{LISTEN}}` in it
    /// becomes `127.0.0.1:{port}` of a free port.
    pub fn start(site: &str) -> Self {
        Self::start_with(site, &[])
    }

    /// The same, with more files (such as included snippets) written first,
    /// at paths relative to the configuration directory, where nginx
    /// resolves a relative `include`.
    ///
    /// # Panics
    /// `nginx` is not installed, rejects the configuration, or does not
    /// listen within [`READY_WITHIN`].
    pub fn start_with(site: &str, files: &[(&str, &str)]) -> Self {
        let dir = temp_dir("revokd-nginx-");
        write_files(dir.path(), files);
        std::fs::create_dir(dir.path().join("temp")).expect("nginx temp directory");
        let mut nginx = Self {
            port: 0,
            dir,
            child: None,
        };
        for _ in 0..PORT_ATTEMPTS {
            nginx.port = free_port();
            let site = site.replace(LISTEN, &format!("127.0.0.1:{}", nginx.port));
            write_file(&nginx.dir.path().join("site.conf"), &site);
            write_file(
                &nginx.dir.path().join("nginx.conf"),
                &nginx_main_conf(nginx.dir.path()),
            );
            match nginx.spawn_and_wait() {
                Started::Ready => return nginx,
                Started::PortTaken => continue,
            }
        }
        panic!(
            "nginx found its port taken {PORT_ATTEMPTS} times in a row\n{}",
            nginx.log()
        );
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The error log (with nginx's own start-up messages) and access log.
    pub fn log(&self) -> String {
        let dir = self.dir.path();
        let mut log = String::new();
        for name in ["stderr.log", "error.log", "access.log"] {
            let _ = writeln!(log, "--- nginx {name}\n{}", read_or_empty(&dir.join(name)));
        }
        log
    }

    fn spawn_and_wait(&mut self) -> Started {
        let dir = self.dir.path();
        let stderr = File::create(dir.join("stderr.log")).expect("nginx stderr file");
        // `-e`: nginx opens its compiled-in error log before reading the
        // configuration; keep even that in our directory.
        let spawned = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == ErrorKind::NotFound => panic!(
                "`nginx` not found on PATH: apt-get install nginx-light (it has auth_request)"
            ),
            Err(err) => panic!("cannot start nginx: {err}"),
        };
        let pid = child.id();
        let child = self.child.insert(child);
        let pid_file = dir.join("nginx.pid");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        // Ours once it wrote its pid file (after binding) and accepts.
        let ready = wait_until(child, || {
            read_or_empty(&pid_file).trim() == pid.to_string() && accepts(addr)
        });
        if ready.is_err() {
            self.child = None;
        }
        settle(ready, "nginx", &self.log(), "Address already in use")
    }
}

/// The main configuration: everything nginx writes goes to `dir`.
fn nginx_main_conf(dir: &Path) -> String {
    let dir = dir.display();
    // Run as root, nginx hands requests to workers running as `nobody`,
    // who could not enter our 0700 temporary directory; as another user,
    // the `user` directive is ignored with a warning, so say it only as root.
    let user = if effective_uid_is_root() {
        "user root;"
    } else {
        ""
    };
    format!(
        "{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/temp/client_body;
    proxy_temp_path {dir}/temp/proxy;
    fastcgi_temp_path {dir}/temp/fastcgi;
    uwsgi_temp_path {dir}/temp/uwsgi;
    scgi_temp_path {dir}/temp/scgi;
    include site.conf;
}}
"
    )
}

/// Whether this process runs with effective uid 0, from `/proc/self/status`
/// (`Uid: real effective saved fs`).
fn effective_uid_is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.log());
        }
        if let Some(child) = self.child.take() {
            // SIGKILL would leave the worker running (and listening):
            // SIGTERM is nginx's fast shutdown, which stops the workers.
            stop(child, "-TERM");
        }
    }
}

// ---------------------------------------------------------------------------
// Caddy
// ---------------------------------------------------------------------------

/// A running `caddy run` with no admin endpoint, no automatic HTTPS, and
/// its storage, configuration and home in its own directory.
pub struct Caddy {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Caddy {
    /// Starts Caddy on `caddyfile` (site blocks, no global options block:
    /// the test's own comes first); `{{LISTEN}}` in it becomes the site
    /// address `http://127.0.0.1:{port}` of a free port.
    pub fn start(caddyfile: &str) -> Self {
        Self::start_with(caddyfile, &[])
    }

    /// The same, with more files written first next to the Caddyfile,
    /// where Caddy resolves a relative `import`.
    ///
    /// # Panics
    /// `caddy` is not installed, rejects the configuration, or does not
    /// listen within [`READY_WITHIN`].
    pub fn start_with(caddyfile: &str, files: &[(&str, &str)]) -> Self {
        let dir = temp_dir("revokd-caddy-");
        write_files(dir.path(), files);
        let mut caddy = Self {
            port: 0,
            dir,
            child: None,
        };
        for _ in 0..PORT_ATTEMPTS {
            caddy.port = free_port();
            let sites = caddyfile.replace(LISTEN, &format!("http://127.0.0.1:{}", caddy.port));
            let global = caddy_global_options(caddy.dir.path());
            write_file(
                &caddy.dir.path().join("Caddyfile"),
                &format!("{global}\n{sites}"),
            );
            match caddy.spawn_and_wait() {
                Started::Ready => return caddy,
                Started::PortTaken => continue,
            }
        }
        panic!(
            "caddy found its port taken {PORT_ATTEMPTS} times in a row\n{}",
            caddy.log()
        );
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// What Caddy logged (to stderr).
    pub fn log(&self) -> String {
        format!(
            "--- caddy log\n{}",
            read_or_empty(&self.dir.path().join("caddy.log"))
        )
    }

    fn spawn_and_wait(&mut self) -> Started {
        let dir = self.dir.path();
        let log = File::create(dir.join("caddy.log")).expect("caddy log file");
        let spawned = Command::new("caddy")
            .arg("run")
            .arg("--config")
            .arg(dir.join("Caddyfile"))
            .args(["--adapter", "caddyfile"])
            .arg("--pidfile")
            .arg(dir.join("caddy.pid"))
            // Caddy keeps certificates, locks and an autosaved configuration
            // under these: never the real home.
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                panic!("`caddy` not found on PATH: apt-get install caddy")
            }
            Err(err) => panic!("cannot start caddy: {err}"),
        };
        let pid = child.id();
        let child = self.child.insert(child);
        let pid_file = dir.join("caddy.pid");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let ready = wait_until(child, || {
            read_or_empty(&pid_file).trim() == pid.to_string() && accepts(addr)
        });
        if ready.is_err() {
            self.child = None;
        }
        settle(ready, "caddy", &self.log(), "address already in use")
    }
}

/// The global options block the tests put before the sites: no admin
/// endpoint, plain HTTP, loopback only, storage in `dir`.
fn caddy_global_options(dir: &Path) -> String {
    format!(
        "{{
\tadmin off
\tauto_https off
\tdefault_bind 127.0.0.1
\tstorage file_system {}
}}
",
        dir.join("storage").display()
    )
}

impl Drop for Caddy {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.log());
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// revokd, the binary
// ---------------------------------------------------------------------------

/// A running `revokd` binary (the one `cargo test` built), on a port the
/// kernel chose, with its embedded store in its own directory.
pub struct Revokd {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Revokd {
    /// Starts revokd configured by `env` only (`REVOKD_...` variables, as
    /// users would), plus JSON logs on `127.0.0.1:0` and an embedded store
    /// in a temporary directory, and waits for its "listening" line.
    ///
    /// # Panics
    /// revokd exits (bad configuration) or does not listen within
    /// [`READY_WITHIN`].
    pub fn start(env: &[(&str, &str)]) -> Self {
        let dir = temp_dir("revokd-gateway-");
        let mut command = Command::new(env!("CARGO_BIN_EXE_revokd"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("REVOKD_LISTEN", "127.0.0.1:0")
            .env("REVOKD_LOG__FORMAT", "json")
            .env("REVOKD_EMBEDDED__PATH", dir.path().join("data"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("cannot start the revokd binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = mpsc::channel();
        collect_lines(child.stdout.take().expect("stdout"), &lines, Some(port_tx));
        collect_lines(child.stderr.take().expect("stderr"), &lines, None);
        let mut revokd = Self {
            port: 0,
            dir,
            child: Some(child),
            lines,
        };
        match port_rx.recv_timeout(READY_WITHIN) {
            Ok(port) => revokd.port = port,
            Err(_) => panic!(
                "revokd did not log that it listens within {READY_WITHIN:?}\n{}",
                revokd.log()
            ),
        }
        revokd
    }

    /// `127.0.0.1:{port}`, for `{{REVOKD}}`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// Kills the process (`SIGKILL`): it stops answering at once, and every
    /// connection a proxy kept open to it is closed, as in a crash.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("kill: revokd is not running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Where the embedded store lives.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Every line revokd printed so far.
    pub fn log(&self) -> String {
        let lines = self.lines.lock().unwrap();
        format!("--- revokd log\n{}", lines.join("\n"))
    }
}

/// Reads `stream` line by line into `lines` on a thread; when `port` is
/// given, sends the port of the first "revokd listening" line to it.
fn collect_lines(
    stream: impl Read + Send + 'static,
    lines: &Arc<Mutex<Vec<String>>>,
    mut port: Option<mpsc::Sender<u16>>,
) {
    let lines = Arc::clone(lines);
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let (Some(tx), Some(p)) = (&port, listening_port(&line)) {
                let _ = tx.send(p);
                port = None;
            }
            lines.lock().unwrap().push(line);
        }
    });
}

/// The `port` of revokd's "revokd listening" JSON log line.
fn listening_port(line: &str) -> Option<u16> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let message = value["message"].as_str()?;
    if !message.starts_with("revokd listening") {
        return None;
    }
    u16::try_from(value["port"].as_u64()?).ok()
}

impl Drop for Revokd {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.log());
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// The upstream app
// ---------------------------------------------------------------------------

/// One request as the upstream received it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seen {
    pub method: String,
    /// Path and query, exactly as sent by the proxy.
    pub uri: String,
    /// Header names in lower case; several values joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// Size of the request body.
    pub body_len: usize,
}

impl Seen {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

type Record = Arc<Mutex<Vec<Seen>>>;

/// Extra response headers the upstream adds to every non-WebSocket answer.
type ExtraHeaders = Arc<Vec<(String, String)>>;

/// The path of the Home Assistant integration's readiness view
/// (`clients/home-assistant/custom_components/revokd/ready.py`).
pub const HA_READY_PATH: &str = "/api/revokd/ready";

/// What [`Upstream`] answers at [`HA_READY_PATH`], as Home Assistant does:
/// `200 {"ready": true, ...}` once the integration is set up, `404` before
/// (the route does not exist yet). Its requests are counted here, not
/// recorded as app traffic.
#[derive(Default)]
struct HaReady {
    not_ready: AtomicBool,
    probes: AtomicUsize,
}

/// The app behind the proxy (or, in wiring tests, a stand-in for the auth
/// service that records what the proxy asks): answers `200` with the
/// [`Seen`] request as JSON. Runs on its own thread and actix system, so
/// it serves whatever runtime (if any) the test uses.
pub struct Upstream {
    addr: SocketAddr,
    record: Record,
    ha_ready: Arc<HaReady>,
    handle: ServerHandle,
    thread: Option<thread::JoinHandle<()>>,
}

impl Upstream {
    /// Starts an upstream on a free loopback port.
    pub fn start() -> Self {
        Self::start_answering_with(&[])
    }

    /// The same, adding `headers` to each `200` (e.g. an `X-Auth-Subject`,
    /// to stand in for the auth service in a test of header wiring).
    pub fn start_answering_with(headers: &[(&str, &str)]) -> Self {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("cannot bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let record = Record::default();
        let ha_ready = Arc::new(HaReady::default());
        let server_ready = Arc::clone(&ha_ready);
        let extra: ExtraHeaders = Arc::new(
            headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        let (handle_tx, handle_rx) = mpsc::channel();
        let server_record = Arc::clone(&record);
        let thread = thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(Arc::clone(&server_record)))
                        .app_data(web::Data::new(Arc::clone(&extra)))
                        .app_data(web::Data::new(Arc::clone(&server_ready)))
                        .default_service(web::to(answer))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("upstream listens")
                .run();
                let _ = handle_tx.send(server.handle());
                let _ = server.await;
            });
        });
        let handle = handle_rx
            .recv_timeout(READY_WITHIN)
            .expect("the upstream did not start");
        Self {
            addr,
            record,
            ha_ready,
            handle,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:{port}`, for `{{UPSTREAM}}` (or `{{REVOKD}}`).
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Seen> {
        self.record.lock().unwrap().clone()
    }

    /// How many requests were received so far.
    pub fn hits(&self) -> usize {
        self.record.lock().unwrap().len()
    }

    /// Whether the stand-in Home Assistant's integration is set up (the
    /// default): `false` makes [`HA_READY_PATH`] answer 404, as Home
    /// Assistant does before the integration's setup has returned.
    pub fn set_ha_ready(&self, ready: bool) {
        self.ha_ready.not_ready.store(!ready, Ordering::SeqCst);
    }

    /// How many times [`HA_READY_PATH`] was asked.
    pub fn ha_ready_probes(&self) -> usize {
        self.ha_ready.probes.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("--- upstream {} received:", self.addr);
            for seen in self.requests() {
                eprintln!("{} {}", seen.method, seen.uri);
            }
        }
        // The stop command is sent at once; the returned future only waits.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Records the request and answers with it; a WebSocket upgrade is
/// accepted (`101`) and every byte sent afterwards is echoed back raw.
async fn answer(
    req: HttpRequest,
    payload: web::Payload,
    record: web::Data<Record>,
    extra: web::Data<ExtraHeaders>,
    ha_ready: web::Data<Arc<HaReady>>,
) -> HttpResponse {
    if req.path() == HA_READY_PATH {
        // A plain view in Home Assistant: never upgraded, whatever the
        // headers of the request it gates.
        ha_ready.probes.fetch_add(1, Ordering::SeqCst);
        return if ha_ready.not_ready.load(Ordering::SeqCst) {
            HttpResponse::NotFound().body("404: Not Found")
        } else {
            HttpResponse::Ok().json(serde_json::json!({"ready": true, "caught_up": true}))
        };
    }
    let mut headers = BTreeMap::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|all: &mut String| {
                all.push_str(", ");
                all.push_str(&value);
            })
            .or_insert(value);
    }
    let websocket_key = is_websocket_upgrade(&req)
        .then(|| req.headers().get("sec-websocket-key"))
        .flatten()
        .map(|key| websocket_accept(key.as_bytes()));
    if let Some(accept) = websocket_key {
        record.lock().unwrap().push(Seen {
            method: req.method().to_string(),
            uri: req.uri().to_string(),
            headers,
            body_len: 0,
        });
        return HttpResponse::SwitchingProtocols()
            .upgrade("websocket")
            .insert_header(("sec-websocket-accept", accept))
            .streaming(payload);
    }
    let body_len = payload.to_bytes().await.map_or(0, |body| body.len());
    let seen = Seen {
        method: req.method().to_string(),
        uri: req.uri().to_string(),
        headers,
        body_len,
    };
    record.lock().unwrap().push(seen.clone());
    let mut response = HttpResponse::Ok();
    for (name, value) in extra.iter() {
        response.insert_header((name.as_str(), value.as_str()));
    }
    response.json(seen)
}

fn is_websocket_upgrade(req: &HttpRequest) -> bool {
    let has = |name, token: &str| {
        req.headers().get_all(name).any(|value| {
            value
                .to_str()
                .unwrap_or("")
                .split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    };
    has(UPGRADE, "websocket") && has(CONNECTION, "upgrade")
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn websocket_accept(key: &[u8]) -> String {
    let mut input = key.to_vec();
    input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC11B85");
    base64::engine::general_purpose::STANDARD.encode(openssl::sha::sha1(&input))
}

// ---------------------------------------------------------------------------
// Raw HTTP, for what a normal client would tidy up first
// ---------------------------------------------------------------------------

/// A response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// The status line and headers, as received.
    pub head: String,
    /// Whatever followed the head before the server closed the connection
    /// or went quiet.
    pub body: Vec<u8>,
}

/// Sends `GET {target}` exactly as given (no normalisation of dot
/// segments or percent-encoding, which HTTP clients do for you) and reads
/// the response of a `Connection: close` exchange.
pub fn raw_get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> RawResponse {
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    let mut stream = connect(addr);
    stream
        .write_all(request.as_bytes())
        .expect("send raw request");
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let (head, body) =
        split_head(&bytes).unwrap_or_else(|| panic!("no HTTP response to {target}: {bytes:?}"));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_vec()
    };
    RawResponse {
        status: status_of(&head),
        head,
        body,
    }
}

/// The payload of a `Transfer-Encoding: chunked` body (extensions and
/// trailers ignored); stops at the first malformed chunk.
fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size_field = String::from_utf8_lossy(&bytes[..line_end]);
        let size_hex = size_field.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            break;
        };
        let start = line_end + 2;
        if size == 0 || bytes.len() < start + size {
            break;
        }
        out.extend_from_slice(&bytes[start..start + size]);
        bytes = bytes.get(start + size + 2..).unwrap_or(&[]);
    }
    out
}

/// Opens a WebSocket at `path` through `addr` and checks that bytes travel
/// both ways: the handshake's `101` and accept key, then `payload` echoed
/// back by [`Upstream`]. Returns the response head on success.
///
/// # Panics
/// The handshake is refused or the echo does not come back.
pub fn websocket_roundtrip(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
) -> String {
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    let mut stream = connect(addr);
    stream
        .write_all(request.as_bytes())
        .expect("send handshake");
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let head = loop {
        let n = stream.read(&mut chunk).expect("read handshake answer");
        assert!(
            n > 0,
            "connection closed during the handshake: {received:?}"
        );
        received.extend_from_slice(&chunk[..n]);
        if let Some((head, rest)) = split_head(&received) {
            let rest = rest.to_vec();
            received = rest;
            break head;
        }
    };
    assert_eq!(status_of(&head), 101, "handshake refused:\n{head}");
    let accept = websocket_accept(KEY.as_bytes());
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "sec-websocket-accept: {}",
            accept.to_ascii_lowercase()
        )),
        "wrong or missing Sec-WebSocket-Accept:\n{head}"
    );
    stream.write_all(payload).expect("send through the tunnel");
    while received.len() < payload.len() {
        let n = stream.read(&mut chunk).expect("read the echo");
        assert!(n > 0, "tunnel closed before the echo: {received:?}");
        received.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(received, payload, "the echo differs");
    head
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream
}

/// The head (up to the blank line) as text, and the bytes after it.
fn split_head(bytes: &[u8]) -> Option<(String, &[u8])> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((
        String::from_utf8_lossy(&bytes[..end]).into_owned(),
        &bytes[end + 4..],
    ))
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}

// ---------------------------------------------------------------------------
// Shared plumbing
// ---------------------------------------------------------------------------

enum Started {
    Ready,
    PortTaken,
}

enum Exited {
    Early,
    Timeout,
}

/// Polls `ready` until it holds, the child exits, or [`READY_WITHIN`]
/// (then kills it). On `Err`, the child is gone.
fn wait_until(child: &mut Child, mut ready: impl FnMut() -> bool) -> Result<(), Exited> {
    let deadline = Instant::now() + READY_WITHIN;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return Err(Exited::Early);
        }
        if ready() {
            return Ok(());
        }
        sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(Exited::Timeout)
}

/// What a start came to: ready, or worth another port when the process
/// exited saying `port_taken` in its `log`.
///
/// # Panics
/// Any other failure, with the log.
fn settle(ready: Result<(), Exited>, name: &str, log: &str, port_taken: &str) -> Started {
    match ready {
        Ok(()) => Started::Ready,
        Err(Exited::Early) if log.contains(port_taken) => Started::PortTaken,
        Err(Exited::Early) => panic!("{name} exited at start-up\n{log}"),
        Err(Exited::Timeout) => panic!("{name} did not listen within {READY_WITHIN:?}\n{log}"),
    }
}

/// Sends `signal` (as `kill` spells it) and waits for the exit, killing
/// after [`STOP_WITHIN`].
fn stop(mut child: Child, signal: &str) {
    let _ = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + STOP_WITHIN;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

fn free_port() -> u16 {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("cannot bind a loopback port");
    listener.local_addr().expect("bound address").port()
}

fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("cannot create a temporary directory")
}

fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        write_file(&dir.join(name), content);
    }
}

fn write_file(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent directory");
    }
    std::fs::write(path, content)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
}

fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

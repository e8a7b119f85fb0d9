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

mod caddy;
mod nginx;
mod raw_http;
mod revokd;
mod upstream;
// Each test binary uses some of these; none uses all.
#[allow(unused_imports)]
pub use caddy::*;
#[allow(unused_imports)]
pub use nginx::*;
#[allow(unused_imports)]
pub use raw_http::*;
#[allow(unused_imports)]
pub use revokd::*;
#[allow(unused_imports)]
pub use upstream::*;

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

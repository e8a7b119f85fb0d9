//! The upstream app: an in-process server that echoes what it received.

use super::*;

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

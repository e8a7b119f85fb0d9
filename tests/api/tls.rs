//! TLS (issue 12 item 5): the API listener over HTTPS with certificates
//! from a CA made in the test (`curl --cacert`, `openssl s_client`), its
//! reload on file change and on SIGHUP, a real provider's logout delivered
//! over https, and Redis over TLS (Debian's redis-server with
//! `--tls-port`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use reqwest::StatusCode;
use revokd::config::{Settings, StoreKind};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::backchannel::{free_port, provider, register, wait_for_provider};
use crate::binary::{BIN, Process, base_url};
use crate::common::certified_idp::{ClientConfig, TestOidcProvider};
use crate::common::certs::{KeyKind, Leaf, TestCa};
use crate::common::redis_server::{RedisServer, RedisTls};
use crate::helpers::{Backend, CLIENT_KEY, Infra, TestApp, spawn_app_with, spawn_on};

/// Where revokd reads its pair; the tests replace the files in place.
struct Served {
    _dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Served {
    fn new(leaf: &Leaf, chain_with: Option<&Path>) -> Self {
        let dir = TempDir::new().unwrap();
        let served = Self {
            cert: dir.path().join("fullchain.pem"),
            key: dir.path().join("privkey.pem"),
            _dir: dir,
        };
        served.install(leaf, chain_with);
        served
    }

    /// Replaces both files, each by a rename (as certbot and friends do),
    /// the key first.
    fn install(&self, leaf: &Leaf, chain_with: Option<&Path>) {
        let mut cert = std::fs::read(&leaf.cert).unwrap();
        if let Some(ca) = chain_with {
            cert.extend(std::fs::read(ca).unwrap());
        }
        self.write(&self.key, &std::fs::read(&leaf.key).unwrap());
        self.write(&self.cert, &cert);
    }

    fn write(&self, path: &Path, bytes: &[u8]) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    fn apply(&self, s: &mut Settings) {
        s.tls.cert_file = Some(self.cert.clone());
        s.tls.key_file = Some(self.key.clone());
    }
}

/// A client that trusts `ca` only (fresh connections per client).
fn trusting(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn port_of(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

/// Points the app's helpers at its https URL, through a client trusting `ca`.
fn over_https(app: &mut TestApp, ca: &Path) {
    app.address = format!("https://127.0.0.1:{}", port_of(app));
    app.client = trusting(ca);
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("cannot run curl")
}

fn check_with_curl(port: u16, ca: &Path) -> Output {
    curl(&[
        "-v",
        "--cacert",
        ca.to_str().unwrap(),
        "-H",
        &format!("Authorization: Bearer {CLIENT_KEY}"),
        &format!("https://127.0.0.1:{port}/v1/check?jti=never-revoked"),
    ])
}

fn assert_curl_ok(output: &Output, served_cn: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "curl failed: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        r#"{"active":true}"#,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("CN={served_cn}")),
        "served certificate is not {served_cn}: {stderr}"
    );
}

/// One handshake with `openssl s_client` at the given protocol option.
fn handshake(port: u16, ca: &Path, protocol: &str) -> (bool, String) {
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args([
            protocol,
            "-CAfile",
            ca.to_str().unwrap(),
            "-verify_return_error",
        ])
        // Let the client offer TLS 1.1 at all (OpenSSL 3 refuses it at
        // its default security level): the refusal must be the server's.
        .args(["-cipher", "DEFAULT:@SECLEVEL=0"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cannot run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A metric's value in an ops listener's `/metrics`, 0 if absent.
async fn metric(ops: &str, line_start: &str) -> f64 {
    let text = reqwest::get(format!("{ops}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn wait_for_metric(ops: &str, line_start: &str, at_least: f64) {
    for _ in 0..100 {
        if metric(ops, line_start).await >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{line_start} never reached {at_least}");
}

const RELOADS_OK: &str = r#"revokd_tls_reloads_total{result="ok"} "#;
const RELOADS_ERROR: &str = r#"revokd_tls_reloads_total{result="error"} "#;
const NOT_AFTER: &str = "revokd_tls_certificate_not_after_seconds ";

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_serves_https_to_clients_that_trust_its_ca_only() {
    let ca = TestCa::new("one");
    let served = Served::new(&ca.leaf("revokd-one", 1), Some(&ca.cert));
    let app = spawn_app_with(Backend::Embedded, |s| {
        served.apply(s);
        s.ops_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let port = port_of(&app);

    // curl --cacert: the chain verifies for 127.0.0.1 and the API answers.
    assert_curl_ok(&check_with_curl(port, &ca.cert), "revokd-one");
    // Without the test CA (the system's roots only): the handshake fails.
    let untrusted = curl(&[&format!("https://127.0.0.1:{port}/healthz")]);
    assert!(!untrusted.status.success());
    assert_eq!(untrusted.status.code(), Some(60), "{untrusted:?}");
    let other_ca = TestCa::new("other");
    let wrong = trusting(&other_ca.cert)
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(wrong.is_err(), "a client trusting another CA connected");
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = curl(&[&format!("http://127.0.0.1:{port}/v1/check?jti=x")]);
    assert!(!plain.status.success(), "{plain:?}");

    // TLS 1.2 and 1.3 are served; TLS 1.1 is refused by the server.
    for protocol in ["-tls1_2", "-tls1_3"] {
        let (ok, text) = handshake(port, &ca.cert, protocol);
        assert!(ok, "{protocol}: {text}");
        assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    }
    let (ok, text) = handshake(port, &ca.cert, "-tls1_1");
    assert!(!ok, "TLS 1.1 was accepted: {text}");
    // The alert comes from the server (the client offered TLS 1.1 only).
    assert!(
        text.contains("SSL alert number") && text.contains("Protocol  : TLSv1.1"),
        "not the server's refusal of TLS 1.1: {text}"
    );
    // No h2 (not built): ALPN selects http/1.1.
    let (ok, text) = {
        let output = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .args(["-alpn", "h2,http/1.1", "-CAfile", ca.cert.to_str().unwrap()])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    assert!(ok, "{text}");
    assert!(
        text.contains("ALPN protocol: http/1.1"),
        "ALPN did not select http/1.1: {text}"
    );

    // The ops listener stays plain HTTP, with the certificate's expiry.
    let ops = app.ops_address.clone().unwrap();
    let not_after = metric(&ops, NOT_AFTER).await;
    assert!(
        not_after > now() + 86_400.0 && not_after < now() + 3.0 * 86_400.0,
        "the test certificate is valid for 2 days: {not_after}"
    );
    assert_eq!(metric(&ops, RELOADS_OK).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_reaches_new_connections_while_open_ones_keep_theirs() {
    let (one, two) = (TestCa::new("one"), TestCa::new("two"));
    let served = Served::new(&one.leaf("revokd-one", 1), None);
    let app = spawn_app_with(Backend::Embedded, |s| {
        served.apply(s);
        s.tls.reload_interval = Duration::from_millis(100);
        s.ops_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (port, ops) = (port_of(&app), app.ops_address.clone().unwrap());
    let url = format!("https://127.0.0.1:{port}/v1/check?jti=x");
    let get = |client: &reqwest::Client| client.get(&url).bearer_auth(CLIENT_KEY).send();

    // A keep-alive connection, made with the first certificate.
    let kept = trusting(&one.cert);
    assert_eq!(get(&kept).await.unwrap().status(), StatusCode::OK);
    let first_not_after = metric(&ops, NOT_AFTER).await;

    // Renewal by another CA (so that each client can tell which
    // certificate a new connection gets): the files change, revokd
    // notices without a signal.
    served.install(&two.leaf("revokd-two", 2), None);
    wait_for_metric(&ops, RELOADS_OK, 1.0).await;

    assert_curl_ok(&check_with_curl(port, &two.cert), "revokd-two");
    assert!(
        get(&trusting(&one.cert)).await.is_err(),
        "a new connection still got the old certificate"
    );
    // The open connection is still served (it is the only way this client,
    // which trusts the old CA only, can get an answer).
    let again = get(&kept).await.expect("the kept connection still works");
    assert_eq!(again.status(), StatusCode::OK);
    assert!(metric(&ops, NOT_AFTER).await >= first_not_after);

    // A bad pair (the old CA's certificate with the new key): refused and
    // counted; the current certificate keeps serving new connections.
    let errors = metric(&ops, RELOADS_ERROR).await;
    let mismatched = one.leaf("revokd-bad", 3);
    served.write(&served.cert, &std::fs::read(&mismatched.cert).unwrap());
    wait_for_metric(&ops, RELOADS_ERROR, errors + 1.0).await;
    assert_curl_ok(&check_with_curl(port, &two.cert), "revokd-two");
    // And garbage in the file: the same.
    served.write(&served.cert, b"not a certificate\n");
    wait_for_metric(&ops, RELOADS_ERROR, errors + 2.0).await;
    assert_curl_ok(&check_with_curl(port, &two.cert), "revokd-two");
    // Counted once per bad content, not at every look.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(metric(&ops, RELOADS_ERROR).await, errors + 2.0);
}

#[test]
fn sighup_reloads_the_certificate_and_a_bad_pair_keeps_the_old_one() {
    let (one, two) = (TestCa::new("one"), TestCa::new("two"));
    let served = Served::new(&one.leaf("revokd-one", 1), Some(&one.cert));
    let dir = TempDir::new().unwrap();
    let keys = format!(r#"[{{name="app", role="client", key="{CLIENT_KEY}"}}]"#);
    let env = [
        ("REVOKD_KEYS", keys.as_str()),
        ("REVOKD_TLS__CERT_FILE", served.cert.to_str().unwrap()),
        ("REVOKD_TLS__KEY_FILE", served.key.to_str().unwrap()),
        // Only the signal reloads within this test.
        ("REVOKD_TLS__RELOAD_INTERVAL", "1h"),
    ];
    let (mut process, listening) = Process::start(dir.path(), &env);
    assert_eq!(listening["https"], true, "{listening}");
    let port = u16::try_from(listening["port"].as_u64().unwrap()).unwrap();
    assert_curl_ok(&check_with_curl(port, &one.cert), "revokd-one");
    let hup = |pid: u32| {
        let status = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };

    // A key that is not the certificate's: refused with an ERROR line, and
    // the old pair keeps serving.
    let stranger = two.leaf("revokd-two", 2);
    served.write(&served.key, &std::fs::read(&stranger.key).unwrap());
    hup(process.pid());
    process.wait_for("SIGHUP received");
    let refused = process.wait_for("the new TLS certificate or key cannot be used");
    assert_eq!(refused["level"], "ERROR", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not belong")),
        "{refused}"
    );
    assert_curl_ok(&check_with_curl(port, &one.cert), "revokd-one");

    // The complete new pair: served after the next SIGHUP.
    served.install(&stranger, Some(&two.cert));
    hup(process.pid());
    process.wait_for("TLS certificate reloaded");
    assert_curl_ok(&check_with_curl(port, &two.cert), "revokd-two");
    let old = check_with_curl(port, &one.cert);
    assert!(!old.status.success(), "the old CA still verifies: {old:?}");
}

#[test]
fn healthcheck_asks_the_tls_listener_trusting_only_the_served_certificate() {
    // `revokd healthcheck` (the container's HEALTHCHECK) reads the same
    // configuration; on a TLS listener it must speak https, on loopback,
    // whose name is not in the certificate and whose CA it does not know.
    let (one, two) = (TestCa::new("one"), TestCa::new("two"));
    let served = Served::new(&one.leaf("revokd-one", 1), Some(&one.cert));
    let other = Served::new(&two.leaf("revokd-two", 2), None);
    let dir = TempDir::new().unwrap();
    let tls_env = |s: &Served| {
        [
            ("REVOKD_TLS__CERT_FILE", s.cert.to_str().unwrap().to_owned()),
            ("REVOKD_TLS__KEY_FILE", s.key.to_str().unwrap().to_owned()),
        ]
    };
    let env = tls_env(&served);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_process, listening) = Process::start(dir.path(), &env);
    let port = listening["port"].as_u64().unwrap();
    let healthcheck = |s: &Served| {
        Command::new(BIN)
            .arg("healthcheck")
            .current_dir(dir.path())
            .env_clear()
            .env("REVOKD_LISTEN", format!("0.0.0.0:{port}"))
            .envs(tls_env(s))
            .output()
            .unwrap()
    };

    let ok = healthcheck(&served);
    let said = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{said}");
    assert!(
        said.contains(&format!("https://127.0.0.1:{port}/readyz is ready")),
        "{said}"
    );

    // Configured with another certificate than the one presented: refused.
    let refused = healthcheck(&other);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "https://127.0.0.1:{port}/readyz could not be asked"
        )),
        "{said}"
    );
}

#[test]
fn sighup_without_tls_is_logged_not_fatal() {
    let dir = TempDir::new().unwrap();
    let (mut process, listening) = Process::start(dir.path(), &[]);
    assert_eq!(listening["https"], false, "{listening}");
    let status = Command::new("kill")
        .args(["-HUP", &process.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    process.wait_for("SIGHUP received; no TLS certificate is configured");
    let ready = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{}/healthz", base_url(&listening)),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&ready.stdout),
        "200",
        "still serving"
    );
}

#[test]
fn check_config_loads_and_checks_the_tls_files() {
    let ca = TestCa::new("one");
    let good = ca.leaf("revokd-one", 1);
    let other = ca.leaf("revokd-other", 2);
    let dir = TempDir::new().unwrap();
    let check = |env: &[(&str, &Path)]| {
        let mut command = Command::new(BIN);
        command
            .arg("check-config")
            .current_dir(dir.path())
            .env_clear();
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let ok = check(&[
        ("REVOKD_TLS__CERT_FILE", &good.cert),
        ("REVOKD_TLS__KEY_FILE", &good.key),
    ]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("listen: https://127.0.0.1:8080"),
        "{ok:?}"
    );
    let missing = dir.path().join("missing.pem");
    for (env, key, needle) in [
        (
            vec![("REVOKD_TLS__CERT_FILE", good.cert.as_path())],
            "`tls.key_file`",
            "both or neither",
        ),
        (
            vec![("REVOKD_TLS__KEY_FILE", good.key.as_path())],
            "`tls.cert_file`",
            "both or neither",
        ),
        (
            vec![
                ("REVOKD_TLS__CERT_FILE", good.cert.as_path()),
                ("REVOKD_TLS__KEY_FILE", other.key.as_path()),
            ],
            "`tls.cert_file`",
            "does not belong to the certificate",
        ),
        (
            vec![
                ("REVOKD_TLS__CERT_FILE", good.cert.as_path()),
                ("REVOKD_TLS__KEY_FILE", missing.as_path()),
            ],
            "`tls.key_file`",
            "missing.pem",
        ),
        (
            vec![
                ("REVOKD_TLS__CERT_FILE", good.key.as_path()),
                ("REVOKD_TLS__KEY_FILE", good.key.as_path()),
            ],
            "`tls.cert_file`",
            "no PEM certificate",
        ),
        (
            vec![
                ("REVOKD_TLS__CERT_FILE", good.cert.as_path()),
                ("REVOKD_TLS__KEY_FILE", good.cert.as_path()),
            ],
            "`tls.key_file`",
            "private key",
        ),
    ] {
        let output = check(&env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?} accepted");
        assert!(
            stderr.contains(key) && stderr.contains(needle),
            "{env:?}: {stderr}"
        );
        assert!(!stderr.contains("PRIVATE KEY-----"), "{stderr}");
    }
}

#[test]
fn every_documented_key_form_loads() {
    let ca = TestCa::new("kinds");
    for (serial, kind) in [
        KeyKind::EcSec1,
        KeyKind::RsaPkcs1,
        KeyKind::RsaPkcs8,
        KeyKind::Ed25519,
    ]
    .into_iter()
    .enumerate()
    {
        let leaf = ca.leaf_with("kind", u32::try_from(serial).unwrap() + 1, kind);
        let pair = revokd::tls::load_pair(&leaf.cert, &leaf.key)
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert!(pair.not_after > 0, "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_delivers_its_logout_over_https() {
    let ca = TestCa::new("idp");
    let served = Served::new(&ca.leaf("revokd", 1), Some(&ca.cert));
    let port = free_port();
    let ca_file = ca.cert.to_str().unwrap().to_owned();
    let idp = tokio::task::spawn_blocking(move || {
        TestOidcProvider::start_with_env(
            ClientConfig::confidential(format!("https://127.0.0.1:{port}/backchannel-logout")),
            // Node trusts the test CA only through this.
            &[("NODE_EXTRA_CA_CERTS", ca_file.as_str())],
        )
    })
    .await
    .unwrap();
    let (issuer, client_id) = (idp.issuer().to_owned(), idp.client().client_id.clone());
    let mut app = spawn_app_with(Backend::Embedded, |s| {
        served.apply(s);
        s.listen = format!("127.0.0.1:{port}").parse().unwrap();
        s.providers = vec![provider("test-idp", &issuer, &client_id)];
    })
    .await;
    over_https(&mut app, &ca.cert);
    wait_for_provider(&app, "test-idp").await;

    let alice = idp.login("alice").await;
    let sid = alice.sid.clone().unwrap();
    let registered = register(&app, &issuer, &sid, "alice", "alice-app-refresh").await;
    assert_eq!(registered.status(), StatusCode::OK);
    assert_eq!(
        app.verdict(&[("jti", "alice-app-refresh")]).await,
        json!({"active": true})
    );

    idp.logout(&alice).await;

    let mut last = Value::Null;
    for _ in 0..50 {
        last = app.verdict(&[("jti", "alice-app-refresh")]).await;
        if last["reason"] == "session_revoked" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        last["reason"],
        "session_revoked",
        "{:?}",
        idp.stderr_lines()
    );
    let recent = app.logout_tokens().await;
    assert_eq!(recent[0]["outcome"], "revoked", "{recent}");
    assert_eq!(recent[0]["sid"], sid.as_str());
}

/// A TLS-only Redis whose certificate `ca` signed; client certificates are
/// required when `auth_clients`.
fn tls_redis(ca: &TestCa, auth_clients: bool) -> RedisServer {
    let leaf = ca.leaf("redis", 100);
    RedisServer::start_tls(RedisTls {
        cert_file: leaf.cert,
        key_file: leaf.key,
        ca_file: ca.cert.clone(),
        auth_clients,
    })
}

/// revokd on `redis` with the given `[redis.tls]` files.
fn on_redis(
    redis: &RedisServer,
    ca_file: Option<&Path>,
    client: Option<&Leaf>,
) -> impl FnOnce(&mut Settings) + Clone + use<> {
    let url = redis.url();
    let ca_file = ca_file.map(Path::to_owned);
    let client = client.cloned();
    move |s: &mut Settings| {
        s.store = StoreKind::Redis;
        s.redis.url = SecretString::from(url);
        s.redis.key_prefix = format!("revokd-tls-{}:", std::process::id());
        s.redis.connect_timeout = Duration::from_secs(2);
        s.redis.command_timeout = Duration::from_secs(2);
        s.redis.tls.ca_file = ca_file;
        if let Some(client) = client {
            s.redis.tls.cert_file = Some(client.cert);
            s.redis.tls.key_file = Some(client.key);
        }
    }
}

/// `/readyz` until the store check reports `status`.
async fn store_status(app: &TestApp, status: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        last = app.readiness().await;
        if last["checks"]["store"]["status"] == status {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the store never became {status}: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_on_a_tls_redis_survive_a_restart_of_revokd() {
    let ca = TestCa::new("redis");
    let redis = tls_redis(&ca, false);
    assert!(redis.url().starts_with("rediss://"));
    let setup = on_redis(&redis, Some(&ca.cert), None);
    let app = spawn_app_with(Backend::Embedded, setup.clone()).await;
    store_status(&app, "up").await;
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "t1"}))
        .await;
    assert_eq!(
        app.verdict(&[("jti", "t1")]).await["reason"],
        "token_revoked"
    );

    let infra: Infra = app.stop().await;
    let app = spawn_on(infra, setup).await;
    store_status(&app, "up").await;
    assert_eq!(
        app.verdict(&[("jti", "t1")]).await["reason"],
        "token_revoked"
    );
    assert_eq!(app.verdict(&[("jti", "t2")]).await, json!({"active": true}));
}

/// revokd (the binary, JSON logs) on a TLS `redis` that will refuse it:
/// `/readyz` answers 503, and the log line that says why names the
/// address, never the password. Returns that line's cause chain.
fn refused_by_tls_redis(redis: &RedisServer, ca_file: &Path) -> String {
    let dir = TempDir::new().unwrap();
    let url = format!("rediss://:hunter2@127.0.0.1:{}", redis.port());
    let env = [
        ("REVOKD_STORE", "redis"),
        ("REVOKD_REDIS__URL", url.as_str()),
        ("REVOKD_REDIS__TLS__CA_FILE", ca_file.to_str().unwrap()),
        ("REVOKD_REDIS__CONNECT_TIMEOUT", "1s"),
    ];
    let (mut process, listening) = Process::start(dir.path(), &env);
    let line = process.wait_for("change feed unavailable");
    let ready = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{}/readyz", base_url(&listening)),
    ]);
    assert_eq!(String::from_utf8_lossy(&ready.stdout), "503");
    let chain = line["error.cause_chain"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        chain.contains(&format!("127.0.0.1:{}", redis.port())),
        "{line}"
    );
    let logged: Vec<String> = process.drain().iter().map(Value::to_string).collect();
    assert!(!line.to_string().contains("hunter2"), "{line}");
    assert!(!logged.iter().any(|l| l.contains("hunter2")), "{logged:?}");
    chain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_requires_a_client_certificate_gets_the_configured_one() {
    let ca = TestCa::new("redis");
    let redis = tls_redis(&ca, true);

    // Without a client certificate: not ready, and the log says where.
    let ca_file = ca.cert.clone();
    let redis = tokio::task::spawn_blocking(move || {
        let chain = refused_by_tls_redis(&redis, &ca_file);
        // rustls's words for Redis's alert: "received fatal alert:
        // CertificateRequired".
        assert!(chain.contains("CertificateRequired"), "{chain}");
        redis
    })
    .await
    .unwrap();

    // With it: served.
    let client = ca.leaf("revokd-client", 101);
    let app = spawn_app_with(
        Backend::Embedded,
        on_redis(&redis, Some(&ca.cert), Some(&client)),
    )
    .await;
    store_status(&app, "up").await;
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "t1"}))
        .await;
    assert_eq!(
        app.verdict(&[("jti", "t1")]).await["reason"],
        "token_revoked"
    );
}

#[test]
fn a_redis_certificate_from_another_ca_is_refused() {
    let (ca, other) = (TestCa::new("redis"), TestCa::new("other"));
    let redis = tls_redis(&ca, false);
    let chain = refused_by_tls_redis(&redis, &other.cert);
    assert!(
        chain.contains("invalid peer certificate: UnknownIssuer"),
        "{chain}"
    );
}

#[test]
fn check_config_accepts_rediss_and_checks_the_tls_files() {
    let ca = TestCa::new("redis");
    let client = ca.leaf("revokd-client", 1);
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("missing-ca.pem");
    let check = |env: &[(&str, &str)]| {
        let mut command = Command::new(BIN);
        command
            .arg("check-config")
            .current_dir(dir.path())
            .env_clear()
            .env("REVOKD_STORE", "redis");
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let (ca_s, cert_s, key_s) = (path(&ca.cert), path(&client.cert), path(&client.key));
    for env in [
        vec![("REVOKD_REDIS__URL", "rediss://:hunter2@redis.example:6380")],
        vec![
            ("REVOKD_REDIS__URL", "rediss://:hunter2@127.0.0.1:6380"),
            ("REVOKD_REDIS__TLS__CA_FILE", ca_s.as_str()),
            ("REVOKD_REDIS__TLS__CERT_FILE", cert_s.as_str()),
            ("REVOKD_REDIS__TLS__KEY_FILE", key_s.as_str()),
        ],
    ] {
        let output = check(&env);
        assert!(output.status.success(), "{env:?}: {output:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Redis store over TLS"),
            "{output:?}"
        );
    }
    let missing_s = path(&missing);
    for (env, key, needle) in [
        (
            vec![
                ("REVOKD_REDIS__URL", "rediss://:hunter2@127.0.0.1:6380"),
                ("REVOKD_REDIS__TLS__CA_FILE", missing_s.as_str()),
            ],
            "`redis.tls.ca_file`",
            "missing-ca.pem",
        ),
        (
            vec![
                ("REVOKD_REDIS__URL", "rediss://:hunter2@127.0.0.1:6380"),
                ("REVOKD_REDIS__TLS__CA_FILE", key_s.as_str()),
            ],
            "`redis.tls.ca_file`",
            "no PEM certificate",
        ),
        (
            vec![
                ("REVOKD_REDIS__URL", "redis://:hunter2@127.0.0.1:6379"),
                ("REVOKD_REDIS__TLS__CA_FILE", ca_s.as_str()),
            ],
            "`redis.tls.ca_file`",
            "rediss://",
        ),
        (
            vec![
                ("REVOKD_REDIS__URL", "rediss://:hunter2@127.0.0.1:6380"),
                ("REVOKD_REDIS__TLS__CERT_FILE", cert_s.as_str()),
            ],
            "`redis.tls.key_file`",
            "both or neither",
        ),
    ] {
        let output = check(&env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?} accepted");
        assert!(
            stderr.contains(key) && stderr.contains(needle),
            "{env:?}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

//! `revokd doctor`, the real binary, against real failures made in each
//! test: a Redis that evicts and keeps no AOF, a provider that says it
//! does not do back-channel logout, a provider whose clock is off, a JWKS
//! nobody answers, gateway files that let a client name itself.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::binary::{BIN, Process, base_url};
use crate::common::forging_idp::TestIdp;
use crate::common::redis_server::RedisServer;
use crate::helpers::ADMIN_KEY;

/// A configuration for `idp` and the given store lines.
fn config(dir: &Path, idp: &TestIdp, store: &str) -> std::path::PathBuf {
    let path = dir.join("revokd.toml");
    let text = format!(
        r#"{store}

[[keys]]
name = "ops"
role = "admin"
key = "{ADMIN_KEY}"

[[providers]]
name = "idp"
issuer = "{issuer}"
client_ids = ["{client}"]
"#,
        issuer = idp.issuer(),
        client = idp.client_id(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn embedded(dir: &Path) -> String {
    format!(
        "store = \"embedded\"\n[embedded]\npath = \"{}\"",
        dir.join("data").display()
    )
}

fn redis(server: &RedisServer) -> String {
    format!("store = \"redis\"\n[redis]\nurl = \"{}\"", server.url())
}

/// Runs `revokd --config CONFIG doctor --json ARGS`: its exit status and
/// the status of each check by name.
fn doctor(config: &Path, args: &[&str]) -> (bool, Vec<(String, String, String)>) {
    let output = Command::new(BIN)
        .env_clear()
        .arg("--config")
        .arg(config)
        .args(["doctor", "--json", "--timeout", "3s"])
        .args(args)
        .output()
        .expect("revokd runs");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let checks = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
                c["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (output.status.success(), checks)
}

fn status_of<'a>(checks: &'a [(String, String, String)], name: &str) -> &'a str {
    checks
        .iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, s, _)| s.as_str())
        .unwrap_or_else(|| panic!("no check {name:?} in {checks:#?}"))
}

#[tokio::test]
async fn a_well_set_up_provider_redis_and_running_instance_pass_every_check() {
    let dir = TempDir::new().unwrap();
    let idp = TestIdp::start();
    let server = RedisServer::start();
    let path = config(dir.path(), &idp, &redis(&server));
    let (_process, listening) =
        Process::start(dir.path(), &[("REVOKD_CONFIG", path.to_str().unwrap())]);
    let url = base_url(&listening);
    // The instance loads the provider's keys in the background.
    let mut ready = false;
    for _ in 0..100 {
        let answer = reqwest::get(format!("{url}/readyz")).await.unwrap();
        let body: Value = answer.json().await.unwrap();
        if body["status"] == "ready" && body["checks"]["provider:idp"]["status"] == "up" {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "revokd became ready");

    let (success, checks) = doctor(&path, &["--url", &url]);
    let not_ok: Vec<_> = checks.iter().filter(|(_, s, _)| s != "ok").collect();
    assert!(not_ok.is_empty(), "{not_ok:#?}");
    assert!(success);
    for name in [
        "provider:idp discovery",
        "provider:idp issuer",
        "provider:idp backchannel_logout",
        "provider:idp backchannel_logout_session",
        "provider:idp algorithms",
        "provider:idp clock",
        "provider:idp jwks",
        "store:redis reachable",
        "store:redis version",
        "store:redis appendonly",
        "store:redis appendfsync",
        "store:redis eviction",
        "store:redis permissions",
        "store:redis replication",
        "keys admin",
        "instance ready",
        "instance mirror",
        "instance store",
        "instance provider:idp",
        "instance feed_lag",
    ] {
        assert_eq!(status_of(&checks, name), "ok", "{name}");
    }
}

#[test]
fn a_redis_that_evicts_and_keeps_no_aof_fails_and_warns() {
    let dir = TempDir::new().unwrap();
    let idp = TestIdp::start();
    let server = RedisServer::start_with(&[
        "--maxmemory-policy",
        "allkeys-lru",
        "--appendonly",
        "no",
        "--appendfsync",
        "everysec",
    ]);
    let path = config(dir.path(), &idp, &redis(&server));
    let (success, checks) = doctor(&path, &[]);
    assert!(!success, "a fail makes the exit status non-zero");
    assert_eq!(status_of(&checks, "store:redis eviction"), "fail");
    assert_eq!(status_of(&checks, "store:redis appendonly"), "warn");
    assert_eq!(status_of(&checks, "store:redis appendfsync"), "warn");
    assert_eq!(status_of(&checks, "provider:idp jwks"), "ok");
}

#[test]
fn a_redis_nobody_answers_fails_reachable() {
    let dir = TempDir::new().unwrap();
    let idp = TestIdp::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = format!("store = \"redis\"\n[redis]\nurl = \"redis://127.0.0.1:{port}\"");
    let path = config(dir.path(), &idp, &store);
    let (success, checks) = doctor(&path, &[]);
    assert!(!success);
    assert_eq!(status_of(&checks, "store:redis reachable"), "fail");
}

#[test]
fn a_provider_without_back_channel_logout_warns_but_passes() {
    let dir = TempDir::new().unwrap();
    let idp = TestIdp::start();
    let mut document = idp.discovery_document();
    document["backchannel_logout_supported"] = Value::Bool(false);
    document["backchannel_logout_session_supported"] = Value::Bool(false);
    idp.set_discovery_body(document.to_string());
    let path = config(dir.path(), &idp, &embedded(dir.path()));
    let (success, checks) = doctor(&path, &[]);
    assert_eq!(
        status_of(&checks, "provider:idp backchannel_logout"),
        "warn"
    );
    assert_eq!(
        status_of(&checks, "provider:idp backchannel_logout_session"),
        "warn"
    );
    assert_eq!(status_of(&checks, "provider:idp jwks"), "ok");
    assert!(success, "warnings alone exit 0: {checks:#?}");
}

#[test]
fn a_provider_clock_five_minutes_ahead_fails() {
    let dir = TempDir::new().unwrap();
    let idp = TestIdp::start();
    idp.set_clock_offset(300);
    let path = config(dir.path(), &idp, &embedded(dir.path()));
    let (success, checks) = doctor(&path, &[]);
    assert!(!success);
    assert_eq!(status_of(&checks, "provider:idp clock"), "fail");
    idp.set_clock_offset(0);
    let (_, checks) = doctor(&path, &[]);
    assert_eq!(status_of(&checks, "provider:idp clock"), "ok");
}

#[test]
fn an_unreachable_jwks_and_an_issuer_without_its_slash_fail() {
    let dir = TempDir::new().unwrap();
    let idp = TestIdp::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut document = idp.discovery_document();
    document["jwks_uri"] = Value::String(format!("http://127.0.0.1:{closed}/jwks"));
    document["issuer"] = Value::String(format!("{}/", idp.issuer()));
    idp.set_discovery_body(document.to_string());
    let path = config(dir.path(), &idp, &embedded(dir.path()));
    let (success, checks) = doctor(&path, &[]);
    assert!(!success);
    assert_eq!(status_of(&checks, "provider:idp jwks"), "fail");
    assert_eq!(status_of(&checks, "provider:idp issuer"), "fail");
    let detail = &checks
        .iter()
        .find(|(n, _, _)| n == "provider:idp issuer")
        .unwrap()
        .2;
    assert!(detail.contains("trailing slash"), "{detail}");
}

#[test]
fn the_human_output_has_one_line_per_check_and_what_to_do() {
    let dir = TempDir::new().unwrap();
    let idp = TestIdp::start();
    idp.set_clock_offset(-300);
    let path = config(dir.path(), &idp, &embedded(dir.path()));
    let output = Command::new(BIN)
        .env_clear()
        .arg("--config")
        .arg(&path)
        .arg("doctor")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("fail  provider:idp clock: the provider's clock is 300s behind")
            || text.contains("fail  provider:idp clock: the provider's clock is 299s behind")
            || text.contains("fail  provider:idp clock: the provider's clock is 301s behind"),
        "{text}"
    );
    assert!(text.contains("      -> synchronise both clocks"), "{text}");
    assert!(text.contains("ok    provider:idp jwks:"), "{text}");
}

/// deploy/'s nginx or Caddy files, placeholders filled, in `dir`.
fn deploy_files(dir: &Path, files: &[(&str, &str)], key: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    for (from, to) in files {
        let text = std::fs::read_to_string(root.join(from))
            .unwrap()
            .replace("{{KEY}}", key)
            .replace("{{REVOKD}}", "127.0.0.1:8080")
            .replace("{{UPSTREAM}}", "127.0.0.1:3000")
            .replace("{{LISTEN}}", "8443");
        let to = dir.join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, text).unwrap();
    }
}

#[test]
fn the_nginx_example_passes_and_each_unsafe_variant_fails() {
    let dir = TempDir::new().unwrap();
    let idp = TestIdp::start();
    let path = config(dir.path(), &idp, &embedded(dir.path()));
    let nginx = dir.path().join("nginx");
    deploy_files(
        &nginx,
        &[
            ("nginx/app.conf", "conf.d/app.conf"),
            ("nginx/revokd-auth.conf", "snippets/revokd-auth.conf"),
        ],
        "client-key-0123456789",
    );
    let app = nginx.join("conf.d/app.conf");
    let gateway = |checks: &[(String, String, String)]| -> Vec<(String, String)> {
        checks
            .iter()
            .filter(|(n, _, _)| n.starts_with("gateway"))
            .map(|(n, s, _)| (n.clone(), s.clone()))
            .collect()
    };
    let (_, checks) = doctor(&path, &["--gateway", app.to_str().unwrap()]);
    let found = gateway(&checks);
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(found.iter().all(|(_, s)| s == "ok"), "{found:?}");
    // The Home Assistant example too.
    deploy_files(
        &nginx,
        &[("nginx/home-assistant.conf", "conf.d/home-assistant.conf")],
        "client-key-0123456789",
    );
    let ha = nginx.join("conf.d/home-assistant.conf");
    let (success, checks) = doctor(&path, &["--gateway", ha.to_str().unwrap()]);
    let found = gateway(&checks);
    assert!(success && found.len() == 4, "{found:?}");
    assert!(found.iter().all(|(_, s)| s == "ok"), "{found:?}");

    // The snippet included inside the location: no server-level header.
    let text = std::fs::read_to_string(&app).unwrap();
    let inside = text
        .replace("    include snippets/revokd-auth.conf;\n", "")
        .replace(
            "        auth_request /_revokd/auth;\n",
            "        include snippets/revokd-auth.conf;\n        auth_request /_revokd/auth;\n",
        );
    assert_ne!(inside, text);
    std::fs::write(&app, &inside).unwrap();
    let (success, checks) = doctor(&path, &["--gateway", app.to_str().unwrap()]);
    assert!(!success);
    assert_eq!(status_of(&checks, "gateway:nginx subject_header"), "fail");

    // A guarded location with a proxy_set_header of its own.
    let own = text.replace(
        "        proxy_pass http://app;\n",
        "        proxy_set_header X-Debug 1;\n        proxy_pass http://app;\n",
    );
    assert_ne!(own, text);
    std::fs::write(&app, &own).unwrap();
    let (_, checks) = doctor(&path, &["--gateway", app.to_str().unwrap()]);
    assert_eq!(status_of(&checks, "gateway:nginx subject_header"), "fail");

    // The key placeholder left in the snippet.
    std::fs::write(&app, &text).unwrap();
    deploy_files(
        &nginx,
        &[("nginx/revokd-auth.conf", "snippets/revokd-auth.conf")],
        "{{KEY}}",
    );
    let (_, checks) = doctor(&path, &["--gateway", app.to_str().unwrap()]);
    assert_eq!(status_of(&checks, "gateway:nginx key"), "fail");
}

#[test]
fn the_caddy_example_passes_and_one_that_keeps_the_client_subject_fails() {
    let dir = TempDir::new().unwrap();
    let idp = TestIdp::start();
    let path = config(dir.path(), &idp, &embedded(dir.path()));
    let caddy = dir.path().join("caddy");
    deploy_files(
        &caddy,
        &[
            ("caddy/Caddyfile", "Caddyfile"),
            ("caddy/revokd-auth.caddy", "revokd-auth.caddy"),
            ("caddy/home-assistant.Caddyfile", "home-assistant.Caddyfile"),
        ],
        "client-key-0123456789",
    );
    let (success, _) = doctor(
        &path,
        &[
            "--gateway",
            caddy.join("home-assistant.Caddyfile").to_str().unwrap(),
        ],
    );
    assert!(success, "the Home Assistant example passes");
    let file = caddy.join("Caddyfile");
    let (_, checks) = doctor(&path, &["--gateway", file.to_str().unwrap()]);
    for name in [
        "gateway:caddy forward_auth",
        "gateway:caddy key",
        "gateway:caddy subject_header",
    ] {
        assert_eq!(status_of(&checks, name), "ok", "{name}");
    }
    let snippet = caddy.join("revokd-auth.caddy");
    let text = std::fs::read_to_string(&snippet).unwrap();
    let unsafe_text = text.replace("\t\trequest_header -X-Auth-Subject\n", "");
    assert_ne!(unsafe_text, text);
    std::fs::write(&snippet, unsafe_text).unwrap();
    let (success, checks) = doctor(&path, &["--gateway", file.to_str().unwrap()]);
    assert!(!success);
    assert_eq!(status_of(&checks, "gateway:caddy subject_header"), "fail");
}

#[tokio::test]
async fn a_running_instance_on_an_evicting_redis_warns_in_its_log_readyz_and_metrics() {
    let dir = TempDir::new().unwrap();
    let idp = TestIdp::start();
    let server = RedisServer::start_with(&["--maxmemory-policy", "volatile-lru"]);
    let path = config(dir.path(), &idp, &redis(&server));
    let (mut process, listening) =
        Process::start(dir.path(), &[("REVOKD_CONFIG", path.to_str().unwrap())]);
    let warning = process.wait_for_any("Redis may evict revocations");
    assert_eq!(warning["level"], "WARN", "{warning}");
    let url = base_url(&listening);
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\nrevokd_store_eviction_safe 0\n"),
        "{metrics}"
    );
    let readyz: Value = reqwest::get(format!("{url}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let eviction = &readyz["checks"]["store:eviction"];
    assert_eq!(eviction["status"], "down", "{readyz}");
    assert!(
        eviction["error"]
            .as_str()
            .unwrap()
            .contains("maxmemory-policy"),
        "{readyz}"
    );

    // noeviction: no entry, the gauge says safe.
    let safe = RedisServer::start();
    let path = config(dir.path(), &idp, &redis(&safe));
    let (_process, listening) =
        Process::start(dir.path(), &[("REVOKD_CONFIG", path.to_str().unwrap())]);
    let url = base_url(&listening);
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if !metrics.contains("\nrevokd_store_eviction_safe -1\n") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("\nrevokd_store_eviction_safe 1\n"),
        "{metrics}"
    );
    let readyz: Value = reqwest::get(format!("{url}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(readyz["checks"].get("store:eviction").is_none(), "{readyz}");
}

#[test]
fn a_redis_user_without_what_revokd_runs_fails_naming_the_commands() {
    let dir = TempDir::new().unwrap();
    let idp = TestIdp::start();
    let server = RedisServer::start_with(&[
        "--user",
        "narrow",
        "on",
        ">narrow-pass",
        "~revokd:*",
        "+ping",
        "+info",
        "+get",
        "+set",
        "+del",
    ]);
    let url = server
        .url()
        .replace("redis://", "redis://narrow:narrow-pass@");
    let store = format!("store = \"redis\"\n[redis]\nurl = \"{url}\"");
    let path = config(dir.path(), &idp, &store);
    let (success, checks) = doctor(&path, &[]);
    assert!(!success);
    let (_, status, detail) = checks
        .iter()
        .find(|(n, _, _)| n == "store:redis permissions")
        .unwrap();
    assert_eq!(status, "fail");
    assert_eq!(
        detail,
        "denied: EXISTS, EXPIREAT, XREVRANGE, SCAN, EVALSHA, ROLE"
    );
    // What it may run, it was allowed: the eviction check read INFO.
    assert_eq!(status_of(&checks, "store:redis eviction"), "ok");
}

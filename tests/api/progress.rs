//! Progress of long work (issue 16 part 5): while the mirror loads,
//! `/readyz` says how far it got (the load held up for real: Redis pauses
//! the index build's script with `CLIENT PAUSE WRITE`); once loaded, the log
//! says how many entries at what rate.

use serde_json::json;
use tempfile::TempDir;

use crate::binary::{Process, base_url};
use crate::common::redis_server::RedisServer;
use crate::helpers::ADMIN_KEY;

#[tokio::test]
async fn the_mirror_load_logs_its_count_and_rate() {
    let dir = TempDir::new().unwrap();
    let server = RedisServer::start();
    let keys = format!(r#"[{{name="ops", role="admin", key="{ADMIN_KEY}"}}]"#);
    let url_env = server.url();
    let env = [
        ("REVOKD_STORE", "redis"),
        ("REVOKD_REDIS__URL", url_env.as_str()),
        ("REVOKD_KEYS", keys.as_str()),
    ];
    let client = reqwest::Client::new();
    {
        let (_writer, listening) = Process::start(dir.path(), &env);
        let url = base_url(&listening);
        for n in 0..3 {
            let status = client
                .post(format!("{url}/v1/admin/tokens/revoke"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"jti": format!("progress-{n}")}))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 200);
        }
    }

    let (mut process, _listening) = Process::start(dir.path(), &env);
    let loaded = process.wait_for_any("revocation mirror loaded");
    assert_eq!(loaded["entries"], 3, "{loaded}");
    let progress = loaded["progress"].as_str().unwrap();
    assert!(
        progress.starts_with("loading the revocation mirror: 3 entries, "),
        "{progress}"
    );
    assert!(progress.contains("/s, "), "{progress}");
}

/// `redis-cli -p PORT ARGS`.
fn redis_cli(server: &RedisServer, args: &[&str]) -> String {
    let output = std::process::Command::new("redis-cli")
        .args(["-p", &server.port().to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn readyz_shows_a_load_in_progress() {
    let dir = TempDir::new().unwrap();
    let server = RedisServer::start();
    let keys = format!(r#"[{{name="ops", role="admin", key="{ADMIN_KEY}"}}]"#);
    let url_env = server.url();
    let env = [
        ("REVOKD_STORE", "redis"),
        ("REVOKD_REDIS__URL", url_env.as_str()),
        ("REVOKD_KEYS", keys.as_str()),
    ];
    {
        let (_writer, listening) = Process::start(dir.path(), &env);
        let status = reqwest::Client::new()
            .post(format!("{}/v1/admin/tokens/revoke", base_url(&listening)))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"jti": "progress"}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    // The next start rebuilds the snapshot index (a script, SCAN), and
    // Redis holds every script for a few seconds: the load hangs there.
    assert_eq!(
        redis_cli(&server, &["HDEL", "revokd:mirror", "complete"]).trim(),
        "1"
    );
    assert_eq!(
        redis_cli(&server, &["CLIENT", "PAUSE", "4000", "WRITE"]).trim(),
        "OK"
    );
    let (_process, listening) = Process::start(dir.path(), &env);
    let url = base_url(&listening);
    let mut detail = String::new();
    for _ in 0..60 {
        let body: serde_json::Value = reqwest::get(format!("{url}/readyz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        detail = body["checks"]["mirror"]["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if detail.contains("; loading the revocation mirror: ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        detail.starts_with(
            "the revocation mirror has not finished loading; loading the revocation mirror: 0 entries, 0/s, "
        ),
        "{detail}"
    );
}

//! `revokd admin …`, the real binary against a real instance: each command
//! once, table and JSON, and the error line for each kind of refusal.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::binary::{BIN, Process, base_url};
use crate::helpers::ADMIN_KEY;

const ISS: &str = "https://idp.example";

fn start(dir: &Path) -> (Process, String) {
    let keys = format!(
        r#"[{{name="ops", role="admin", key="{ADMIN_KEY}"}}, {{name="app", role="client", key="client-key-0123456789abcdef"}}]"#
    );
    let (process, listening) = Process::start(dir, &[("REVOKD_KEYS", keys.as_str())]);
    (process, base_url(&listening))
}

/// `revokd admin --url URL --key-file FILE ARGS` with nothing else in its
/// environment.
fn admin(url: &str, key_file: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .env_clear()
        .args(["admin", "--url", url, "--key-file"])
        .arg(key_file)
        .args(args)
        .output()
        .expect("revokd runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn key_file(dir: &Path, key: &str) -> std::path::PathBuf {
    let path = dir.join("admin.key");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    path
}

#[test]
fn each_command_answers_as_a_table_and_as_json() {
    let dir = TempDir::new().unwrap();
    let (_process, url) = start(dir.path());
    let key = key_file(dir.path(), ADMIN_KEY);

    let text = stdout(&admin(
        &url,
        &key,
        &["revoke-token", "--jti", "cli-1", "--reason", "lost laptop"],
    ));
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("ID"), "{text}");
    let row = lines.next().unwrap();
    assert!(
        row.contains("token_revoked")
            && row.contains("jti=cli-1")
            && row.contains("admin:ops")
            && row.contains("lost laptop"),
        "{text}"
    );

    let session = stdout(&admin(
        &url,
        &key,
        &["revoke-session", "--iss", ISS, "--sid", "s-1"],
    ));
    assert!(
        session.contains("session_revoked") && session.contains("sid=s-1"),
        "{session}"
    );

    let disabled = stdout(&admin(
        &url,
        &key,
        &["--json", "disable", "--iss", ISS, "--sub", "bob"],
    ));
    let event: Value = serde_json::from_str(&disabled).unwrap();
    assert_eq!(event["kind"], "subject_disabled");
    assert_eq!(event["sub"], "bob");

    let status = stdout(&admin(
        &url,
        &key,
        &["status", "--iss", ISS, "--sub", "bob"],
    ));
    assert_eq!(
        status
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>(),
        [ISS, "bob", "true"],
        "{status}"
    );
    stdout(&admin(
        &url,
        &key,
        &["enable", "--iss", ISS, "--sub", "bob"],
    ));
    let status: Value = serde_json::from_str(&stdout(&admin(
        &url,
        &key,
        &["--json", "status", "--iss", ISS, "--sub", "bob"],
    )))
    .unwrap();
    assert_eq!(status["disabled"], false);

    let everywhere = stdout(&admin(
        &url,
        &key,
        &["revoke-subject-tokens", "--iss", ISS, "--sub", "bob"],
    ));
    assert!(everywhere.contains("sub=bob"), "{everywhere}");

    let audit = stdout(&admin(&url, &key, &["audit", "--limit", "3"]));
    assert_eq!(
        audit.lines().count(),
        4,
        "a header and three events: {audit}"
    );
    let page: Value =
        serde_json::from_str(&stdout(&admin(&url, &key, &["--json", "audit"]))).unwrap();
    let kinds: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    assert_eq!(
        kinds.last(),
        Some(&"token_revoked"),
        "newest first: {kinds:?}"
    );

    let tokens = stdout(&admin(&url, &key, &["logout-tokens"]));
    assert!(tokens.starts_with("AT"), "{tokens}");
    let records: Value =
        serde_json::from_str(&stdout(&admin(&url, &key, &["--json", "logout-tokens"]))).unwrap();
    assert!(records.is_array());
}

#[test]
fn the_event_stream_is_followed_until_the_count() {
    let dir = TempDir::new().unwrap();
    let (_process, url) = start(dir.path());
    let key = key_file(dir.path(), ADMIN_KEY);
    let follower = Command::new(BIN)
        .env_clear()
        .args(["admin", "--url", &url, "--key-file"])
        .arg(&key)
        .args(["--json", "events", "--count", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The stream shows what happens after it opened: revoke until the
    // follower has seen one event and exited.
    let mut follower = follower;
    for n in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if follower.try_wait().unwrap().is_some() {
            break;
        }
        stdout(&admin(
            &url,
            &key,
            &["revoke-token", "--jti", &format!("streamed-{n}")],
        ));
    }
    let output = follower.wait_with_output().unwrap();
    assert!(output.status.success());
    let line = String::from_utf8(output.stdout).unwrap();
    let event: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(event["kind"], "token_revoked", "{line}");
    assert!(
        event["jti"].as_str().unwrap().starts_with("streamed-"),
        "{line}"
    );
}

#[test]
fn every_refusal_is_one_clear_line_and_a_failure() {
    let dir = TempDir::new().unwrap();
    let (_process, url) = start(dir.path());

    let wrong = key_file(dir.path(), "not-a-key-of-this-instance");
    let output = admin(&url, &wrong, &["status", "--iss", ISS, "--sub", "bob"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("revokd: 401: "), "{stderr}");

    let client = key_file(dir.path(), "client-key-0123456789abcdef");
    let output = admin(&url, &client, &["revoke-token", "--jti", "x"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("revokd: 403: "), "{stderr}");

    let admin_key = key_file(dir.path(), ADMIN_KEY);
    let output = admin(&url, &admin_key, &["status", "--iss", "", "--sub", "bob"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("revokd: 400: "), "{stderr}");
    assert!(!output.status.success());

    // No key at all: said before anything is sent.
    let output = Command::new(BIN)
        .env_clear()
        .args(["admin", "--url", &url, "audit"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no admin key: set REVOKDCTL_KEY or give --key-file"),
        "{stderr}"
    );

    // The key from the environment instead of a file.
    let output = Command::new(BIN)
        .env_clear()
        .env("REVOKDCTL_KEY", ADMIN_KEY)
        .env("REVOKDCTL_URL", &url)
        .args(["admin", "audit"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Nobody there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = admin(&format!("http://{closed}"), &admin_key, &["audit"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("revokd: http://{closed}/v1/admin/events: ")),
        "{stderr}"
    );
}

//! `revokd admin …`, the real binary against a real instance: each command
//! once, table and JSON, and the error line for each kind of refusal.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::binary::{BIN, Process, base_url};
use crate::helpers::ADMIN_KEY;

const ISS: &str = "https://idp.example";

fn keys() -> String {
    format!(
        r#"[{{name="ops", role="admin", key="{ADMIN_KEY}"}}, {{name="app", role="client", key="client-key-0123456789abcdef"}}]"#
    )
}

fn start(dir: &Path) -> (Process, String) {
    let keys = keys();
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

    // The session registry: one login of carol's, registered by the app.
    let expires_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let registered = tokio::runtime::Runtime::new().unwrap().block_on(
        reqwest::Client::new()
            .post(format!("{url}/v1/sessions"))
            .bearer_auth("client-key-0123456789abcdef")
            .json(
                &serde_json::json!({"iss": ISS, "sid": "s-9", "sub": "carol",
                "token_ids": ["reg-1"], "expires_at": expires_at}),
            )
            .send(),
    );
    assert!(registered.unwrap().status().is_success());
    let sessions = stdout(&admin(
        &url,
        &key,
        &["sessions", "--iss", ISS, "--sub", "carol"],
    ));
    let mut lines = sessions.lines();
    assert!(lines.next().unwrap().starts_with("JTI"), "{sessions}");
    assert_eq!(
        lines
            .next()
            .unwrap()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>(),
        ["reg-1", "s-9", "app"],
        "{sessions}"
    );
    let sessions: Value = serde_json::from_str(&stdout(&admin(
        &url,
        &key,
        &[
            "--json", "sessions", "--iss", ISS, "--sub", "carol", "--limit", "1",
        ],
    )))
    .unwrap();
    assert_eq!(sessions["registrations"][0]["expires_at"], expires_at);
    assert_eq!(sessions["truncated"], false);

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

/// `revokd admin ARGS` running in the background, its standard output
/// read line by line.
struct Follower {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Follower {
    fn spawn(url: &str, key_file: &Path, args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(BIN)
            .env_clear()
            .args(["admin", "--url", url, "--key-file"])
            .arg(key_file)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("revokd runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the follower printed a line in time")
    }

    fn event(&self) -> Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Sends `signal` and waits (at most 10 s) for the exit; its output.
    fn stop(mut self, signal: libc::c_int) -> (std::process::ExitStatus, String) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: a signal to our own child, which has not been waited for.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr)
                    .unwrap();
                return (status, stderr);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("the follower did not stop on signal {signal}");
    }
}

#[test]
fn audit_follow_tails_the_log_across_a_restart_and_stops_on_ctrl_c() {
    let dir = TempDir::new().unwrap();
    let (process, url) = start(dir.path());
    let key = key_file(dir.path(), ADMIN_KEY);
    for jti in ["old-1", "old-2", "old-3"] {
        stdout(&admin(&url, &key, &["revoke-token", "--jti", jti]));
    }
    let follower = Follower::spawn(&url, &key, &["--json", "audit", "--follow", "--limit", "2"]);
    // The newest two, oldest first, as `tail` shows them.
    assert_eq!(follower.event()["jti"], "old-2");
    assert_eq!(follower.event()["jti"], "old-3");
    stdout(&admin(&url, &key, &["revoke-token", "--jti", "new-1"]));
    let new = follower.event();
    assert_eq!(new["jti"], "new-1");
    assert_eq!(new["actor"], "admin:ops");

    // revokd goes away and comes back on the same address and store; an
    // event recorded before the follower reconnects is not missed, and
    // none is printed twice.
    drop(process);
    let address = url.trim_start_matches("http://").to_owned();
    let keys = keys();
    let (_process, _) = Process::start(
        dir.path(),
        &[
            ("REVOKD_KEYS", keys.as_str()),
            ("REVOKD_LISTEN", address.as_str()),
        ],
    );
    stdout(&admin(
        &url,
        &key,
        &["revoke-token", "--jti", "after-restart"],
    ));
    assert_eq!(follower.event()["jti"], "after-restart");
    stdout(&admin(&url, &key, &["revoke-token", "--jti", "new-2"]));
    assert_eq!(follower.event()["jti"], "new-2");

    let (status, stderr) = follower.stop(libc::SIGINT);
    assert!(
        status.success(),
        "Ctrl-C is a clean stop: {status:?} {stderr}"
    );
    assert!(
        stderr.contains("reconnecting") || stderr.contains("retrying"),
        "the reconnect is said on stderr: {stderr}"
    );
}

#[test]
fn audit_follow_prints_a_table_and_stops_on_sigterm() {
    let dir = TempDir::new().unwrap();
    let (_process, url) = start(dir.path());
    let key = key_file(dir.path(), ADMIN_KEY);
    let follower = Follower::spawn(&url, &key, &["audit", "--follow"]);
    assert!(follower.line().starts_with("ID"), "a header first");
    stdout(&admin(
        &url,
        &key,
        &[
            "disable", "--iss", ISS, "--sub", "carol", "--reason", "left",
        ],
    ));
    // A disable is recorded with its revoked-before mark: two rows.
    let rows = [follower.line(), follower.line()];
    assert!(
        rows.iter().any(|r| r.contains("subject_disabled")
            && r.contains("sub=carol")
            && r.contains("admin:ops")
            && r.contains("left")),
        "{rows:?}"
    );
    let (status, _) = follower.stop(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
}

#[test]
fn audit_follow_with_a_wrong_key_fails_at_once() {
    let dir = TempDir::new().unwrap();
    let (_process, url) = start(dir.path());
    let wrong = key_file(dir.path(), "not-a-key-of-this-instance");
    let started = std::time::Instant::now();
    let output = admin(&url, &wrong, &["audit", "--follow"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("revokd: 401: "), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn audit_follow_stops_when_its_reader_goes_away() {
    use std::io::BufRead;
    let dir = TempDir::new().unwrap();
    let (_process, url) = start(dir.path());
    let key = key_file(dir.path(), ADMIN_KEY);
    stdout(&admin(&url, &key, &["revoke-token", "--jti", "only"]));
    let mut child = Command::new(BIN)
        .env_clear()
        .args(["admin", "--url", &url, "--key-file"])
        .arg(&key)
        .args(["audit", "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut header = String::new();
    reader.read_line(&mut header).unwrap();
    assert!(header.starts_with("ID"), "{header}");
    let mut row = String::new();
    reader.read_line(&mut row).unwrap();
    assert!(row.contains("jti=only"), "{row}");
    // As `| head -2` does: the reader exits after everything was written,
    // while the log is quiet, so no write can fail to tell it.
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(reader);
    for _ in 0..50 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("audit --follow kept running after its reader went away");
}

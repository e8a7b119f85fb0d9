//! The `revokd` binary itself: start-up on defaults, configuration errors,
//! subcommands, and durability across `kill -9`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::ADMIN_KEY;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_revokd");

/// A running `revokd` process and the JSON log lines it printed.
pub(crate) struct Process {
    child: Child,
    lines: mpsc::Receiver<Value>,
    /// Lines `wait_for` read past, for [`Process::wait_for_any`].
    passed: Vec<Value>,
}

impl Process {
    /// Starts the binary in `dir` with only the given environment (plus a
    /// free port and JSON logs), and waits for its "listening" line.
    pub(crate) fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> (Self, Value) {
        let mut command = Command::new(BIN);
        command
            .current_dir(dir)
            .env_clear()
            .env("REVOKD_LISTEN", "127.0.0.1:0")
            .env("REVOKD_LOG__FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("revokd starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value =
                    serde_json::from_str(&line).unwrap_or_else(|_| json!({"unparsed": line}));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut process = Self {
            child,
            lines,
            passed: Vec::new(),
        };
        let listening = process.wait_for("revokd listening");
        (process, listening)
    }

    pub(crate) fn wait_for(&mut self, message: &str) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("revokd did not log {message:?} in time"));
            if line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(message))
            {
                return line;
            }
            self.passed.push(line);
        }
    }

    /// [`Process::wait_for`], also finding a line logged before one that
    /// an earlier `wait_for` waited for (start-up order is not fixed).
    pub(crate) fn wait_for_any(&mut self, message: &str) -> Value {
        let starts = |line: &Value| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(message))
        };
        match self.passed.iter().find(|line| starts(line)) {
            Some(line) => line.clone(),
            None => self.wait_for(message),
        }
    }

    /// Every line logged so far.
    pub(crate) fn drain(&self) -> Vec<Value> {
        self.lines.try_iter().collect()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn base_url(listening: &Value) -> String {
    format!(
        "http://127.0.0.1:{}",
        listening["port"]
            .as_u64()
            .expect("the listening line names the port")
    )
}

#[test]
fn with_no_configuration_it_runs_on_the_embedded_store_in_the_working_directory() {
    let dir = TempDir::new().unwrap();
    let (_process, listening) = Process::start(dir.path(), &[]);
    assert_eq!(listening["path"], "./revokd-data");
    assert!(
        dir.path().join("revokd-data").is_dir(),
        "the data directory is created"
    );
}

#[tokio::test]
async fn an_acknowledged_revocation_survives_kill_9() {
    let dir = TempDir::new().unwrap();
    let keys = format!(r#"[{{name="ops", role="admin", key="{ADMIN_KEY}"}}]"#);
    let env = [("REVOKD_KEYS", keys.as_str())];
    let client = reqwest::Client::new();

    let (process, listening) = Process::start(dir.path(), &env);
    let url = base_url(&listening);
    let response = client
        .post(format!("{url}/v1/admin/tokens/revoke"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"jti": "survivor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    process.kill_9();

    let (_process, listening) = Process::start(dir.path(), &env);
    let url = base_url(&listening);
    let verdict: Value = client
        .get(format!("{url}/v1/check?jti=survivor"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict, json!({"active": false, "reason": "token_revoked"}));
}

#[test]
fn invalid_configuration_stops_start_up_naming_the_key() {
    let dir = TempDir::new().unwrap();
    let cases = [
        (vec![("REVOKD_STORE", "postgres")], "store"),
        (vec![("REVOKD_CHECK__FAIL_MODE", "sometimes")], "fail_mode"),
        (
            vec![("REVOKD_KEYS", r#"[{name="a", role="admin", key="short"}]"#)],
            "keys[0].key",
        ),
        (
            vec![("REVOKD_CONFIG", "/nonexistent/revokd.toml")],
            "/nonexistent/revokd.toml",
        ),
    ];
    for (env, key) in cases {
        let output = Command::new(BIN)
            .current_dir(dir.path())
            .env_clear()
            .envs(env.clone())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{env:?} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
        assert!(
            stderr.contains(key),
            "{env:?}: {stderr:?} should name {key}"
        );
        assert!(
            !dir.path().join("revokd-data").exists(),
            "nothing is created on bad configuration"
        );
    }
}

#[test]
fn check_config_validates_a_file() {
    let dir = TempDir::new().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "store = \"redis\"\n[redis]\nurl = \"redis://:hunter2@127.0.0.1:6379\"\n",
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["--config", good.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("configuration is valid") && stdout.contains("Redis"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"), "secrets are never printed");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[check]\nrequire_client_key = \"maybe\"\n").unwrap();
    let output = Command::new(BIN)
        .args(["--config", bad.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("require_client_key") && stderr.contains("bad.toml"),
        "{stderr}"
    );
}

#[test]
fn the_openapi_subcommand_prints_the_committed_document() {
    let output = Command::new(BIN).arg("openapi").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        include_str!("../../openapi/revokd.yaml")
    );
}

/// Issue 12 item 7: `--version` names the source revision the binary was
/// built from, the one git reports for this checkout.
#[test]
fn version_names_the_git_revision() {
    let output = Command::new(BIN).arg("--version").output().unwrap();
    assert!(output.status.success());
    let revision = env!("BUILD_GIT_REVISION");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("revokd {} ({revision})\n", env!("CARGO_PKG_VERSION"))
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        // Built from a git checkout without GIT_REVISION: its HEAD, dirty or not.
        Ok(head) if head.status.success() && std::env::var_os("GIT_REVISION").is_none() => {
            let head = String::from_utf8(head.stdout).unwrap();
            let head = head.trim();
            assert!(
                revision == head || revision == format!("{head}-dirty"),
                "{revision} is not {head}"
            );
        }
        _ => assert!(!revision.is_empty()),
    }
}

/// The build script on its own, where there is no `.git` (a container build
/// context): `unknown`, or the revision the build passes in `GIT_REVISION`.
#[test]
fn the_build_script_works_without_git() {
    let dir = TempDir::new().unwrap();
    let script = dir.path().join("build-script");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let compiled = Command::new(rustc)
        .args(["--edition", "2024", "-o"])
        .arg(&script)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/build.rs"))
        .status()
        .unwrap();
    assert!(compiled.success());
    let work = dir.path().join("no-git");
    std::fs::create_dir(&work).unwrap();
    for (given, expected) in [(None, "unknown"), (Some("a1b2c3d4e5f6"), "a1b2c3d4e5f6")] {
        let mut command = Command::new(&script);
        command
            .current_dir(&work)
            .env_remove("GIT_REVISION")
            .env_remove("GIT_DIR")
            .env("GIT_CEILING_DIRECTORIES", dir.path());
        if let Some(given) = given {
            command.env("GIT_REVISION", given);
        }
        let output = command.output().unwrap();
        assert!(output.status.success());
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            stdout.contains(&format!("cargo:rustc-env=BUILD_GIT_REVISION={expected}\n")),
            "{given:?}: {stdout}"
        );
    }
}

#[test]
fn hash_key_prints_what_sha256_expects() {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("hash-key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery staple\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        "c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a"
    );
}

#[test]
fn the_example_configurations_in_deploy_are_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    for file in [
        "deploy/revokd.toml",
        "deploy/revokd-redis.toml",
        "deploy/revokd-home-assistant.toml",
    ] {
        // The examples point at key files that exist only on a server.
        let output = Command::new(BIN)
            .args(["--config", &format!("{root}/{file}"), "check-config"])
            .env("REVOKD_KEYS", "[]")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test]
async fn keys_and_tokens_never_reach_the_logs() {
    let dir = TempDir::new().unwrap();
    let keys = format!(r#"[{{name="ops", role="admin", key="{ADMIN_KEY}"}}]"#);
    let env = [("REVOKD_KEYS", keys.as_str()), ("RUST_LOG", "trace")];
    let (process, listening) = Process::start(dir.path(), &env);
    let url = base_url(&listening);
    let client = reqwest::Client::new();
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJzZWNyZXQtand0LWJvZHkifQ.c2VjcmV0LXNpZ25hdHVyZQ";

    for key in [ADMIN_KEY, "wrong-but-secret-key-material"] {
        client
            .post(format!("{url}/v1/check"))
            .bearer_auth(key)
            .json(&json!({"token": token}))
            .send()
            .await
            .unwrap();
        client
            .post(format!("{url}/v1/admin/tokens/revoke"))
            .bearer_auth(key)
            .json(&json!({"jti": "x"}))
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let logged = process
        .drain()
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        logged.contains("revocation recorded"),
        "the logs were captured: {logged}"
    );
    for secret in [
        ADMIN_KEY,
        "wrong-but-secret-key-material",
        token,
        "c2VjcmV0LXNpZ25hdHVyZQ",
    ] {
        assert!(!logged.contains(secret), "{secret:?} was logged");
    }
}

/// Issue 17 item 12: `check-config` refuses the Redis URLs that `serve`
/// cannot use, and both name the key (not "the store is unavailable") and
/// never the password. (`rediss://` is accepted since issue 12 item 5:
/// see `tls::check_config_accepts_rediss_and_checks_the_tls_files`.)
#[test]
fn check_config_and_serve_agree_on_unusable_redis_urls() {
    let dir = TempDir::new().unwrap();
    for (url, needle) in [
        (
            "http://:hunter2@127.0.0.1:6379",
            "`http://` is not a Redis URL scheme",
        ),
        ("not a url hunter2", "is not a URL"),
        (
            "redis://:hunter2@127.0.0.1:notaport",
            "not a usable Redis URL",
        ),
    ] {
        for command in ["check-config", "serve"] {
            let output = Command::new(BIN)
                .arg(command)
                .current_dir(dir.path())
                .env_clear()
                .env("REVOKD_LISTEN", "127.0.0.1:0")
                .env("REVOKD_STORE", "redis")
                .env("REVOKD_REDIS__URL", url)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                !output.status.success(),
                "{command} accepted {url:?}: {}",
                String::from_utf8_lossy(&output.stdout)
            );
            assert!(
                stderr.contains("`redis.url`") && stderr.contains(needle),
                "{command} {url:?}: {stderr}"
            );
            assert!(
                !stderr.contains("unavailable"),
                "{command} {url:?}: {stderr}"
            );
            assert!(!stderr.contains("hunter2"), "{command} {url:?}: {stderr}");
        }
    }
}

/// Issue 17 item 12: a reader that stops reading (`revokd openapi | head
/// -1`) is no reason to panic, for any subcommand that writes to stdout.
#[test]
fn subcommands_do_not_panic_when_stdout_is_closed() {
    use std::io::Write;
    for args in [
        &["openapi"][..],
        &["print-default-config"],
        &["check-config"],
        &["hash-key"],
    ] {
        // A pipe whose reading end is already closed: every write fails
        // with EPIPE, however short the output.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(b"some key\n");
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(output.status.success(), "{args:?}: {stderr}");
    }
}

/// Starts the binary with `env` (and a free port), collecting its stdout
/// lines as text until one contains `until`; returns them all.
fn raw_lines_until(env: &[(&str, &str)], until: &str) -> Vec<String> {
    let dir = TempDir::new().unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("REVOKD_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no line with {until:?} in time: {lines:#?}");
        };
        let done = line.contains(until);
        lines.push(line);
        if done {
            let _ = child.kill();
            let _ = child.wait();
            return lines;
        }
    }
}

/// Issue 17 item 17: the `pretty` format writes no colour codes when its
/// output is not a terminal (a file, a pipe, the journal).
#[test]
fn pretty_logs_to_a_pipe_hold_no_colour_codes() {
    let lines = raw_lines_until(&[("REVOKD_LOG__FORMAT", "pretty")], "revokd listening");
    let text = lines.join("\n");
    assert!(text.contains("INFO"), "{text}");
    assert!(!text.contains('\u{1b}'), "escape codes in {text:?}");
}

/// Issue 17 item 17: a Redis connection error names host and port, never
/// the password of the URL.
#[test]
fn redis_connection_errors_name_the_address_but_not_the_password() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://revokd:hunter2secret@127.0.0.1:{port}");
    let lines = raw_lines_until(
        &[
            ("REVOKD_LOG__FORMAT", "json"),
            ("REVOKD_STORE", "redis"),
            ("REVOKD_REDIS__URL", &url),
        ],
        "change feed unavailable",
    );
    let text = lines.join("\n");
    let warning = lines.last().unwrap();
    assert!(
        warning.contains(&format!("127.0.0.1:{port}")),
        "the address is not named: {warning}"
    );
    assert!(
        !text.contains("hunter2secret"),
        "the password was logged: {text}"
    );
}

/// Issue 17 item 17: an unknown `REVOKD_*` variable still stops start-up,
/// naming the variable and the nearest key.
#[test]
fn an_unknown_variable_is_named_with_a_suggestion() {
    for (variable, wanted) in [
        ("REVOKD_REDIS_URL", Some("REVOKD_REDIS__URL")),
        ("REVOKD_BIN", None),
    ] {
        let output = Command::new(BIN)
            .arg("check-config")
            .env_clear()
            .env(variable, "redis://127.0.0.1:6379")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{variable} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("`{variable}`")), "{stderr}");
        match wanted {
            Some(key) => assert!(
                stderr.contains(&format!("did you mean `{key}`")),
                "{stderr}"
            ),
            None => assert!(!stderr.contains("did you mean"), "{stderr}"),
        }
    }
}

//! The certified identity provider: a real, certified OpenID Provider per
//! test, panva's `oidc-provider` (`tests/idp/server.mjs`), driven over
//! plain HTTP, no browser. It sends only the logout tokens a real provider
//! sends; for broken or forged tokens use [`super::forging_idp`].
//!
//! [`TestOidcProvider::start`] runs `node tests/idp/server.mjs` on a free
//! loopback port with one client ([`ClientConfig`]) whose
//! `backchannel_logout_uri` is the receiver under test, and waits for its
//! ready line. [`TestOidcProvider::login`] signs a fixed account (`alice`,
//! `bob`, `carol`) in with the authorization code flow and PKCE (S256),
//! following redirects by hand with a cookie jar of its own: the
//! `/interaction/:uid/login?account=` route of the test IdP stands in for
//! the login and consent pages. [`TestOidcProvider::logout`] ends that
//! login's IdP session with RP-Initiated Logout (`/session/end` with
//! `id_token_hint`, then the confirmation form POST with its `xsrf` value),
//! which makes the provider sign and POST **its own** logout token to the
//! client's `backchannel_logout_uri`.
//!
//! The provider awaits that POST (for at most 2.5 s) before it answers the
//! confirmation, but a failed delivery never fails the logout: assert on
//! what the receiver got, never on `logout` returning. The IdP's stderr
//! (including `backchannel.success` / `backchannel.error` lines) is copied
//! to the test's stderr, so a failing test shows it.
//!
//! Needs `node` (20.19+) and `npm ci --prefix tests/idp` once. Dropping the
//! guard kills the process; the IdP also exits when its stdin closes, so it
//! never outlives the test process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::redirect::Policy;
use reqwest::{StatusCode, Url};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long `start` waits for the ready line (node start-up and key
/// generation take well under a second on an idle machine).
const READY_WITHIN: Duration = Duration::from_secs(30);
/// Timeout of every HTTP request the harness sends to the IdP.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects `login` follows before it gives up.
const MAX_REDIRECTS: usize = 10;

/// The fixed accounts of the test IdP; each one's `sub` is its name.
pub const ACCOUNTS: [&str; 3] = ["alice", "bob", "carol"];

/// The one client registered at the test IdP.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub client_id: String,
    /// `Some`: a confidential client (`client_secret_basic`); `None`: a
    /// public client (`token_endpoint_auth_method: none`). PKCE is required
    /// either way.
    pub client_secret: Option<String>,
    /// The first one is used by `login`. Never contacted: the harness stops
    /// at the redirect and reads the code from its URL.
    pub redirect_uris: Vec<String>,
    /// Where the IdP POSTs its logout tokens: the receiver under test.
    pub backchannel_logout_uri: String,
    /// `true` (the default): logout tokens and id_tokens carry `sid`.
    pub backchannel_logout_session_required: bool,
    /// The first one (if any) is sent by `logout` as
    /// `post_logout_redirect_uri`. Never contacted.
    pub post_logout_redirect_uris: Vec<String>,
    /// `"RS256"` (default) or `"ES256"`: signs id_tokens and logout tokens.
    pub id_token_signed_response_alg: String,
}

impl ClientConfig {
    /// A confidential client `revokd-test-client` whose logout tokens go to
    /// `backchannel_logout_uri`.
    pub fn confidential(backchannel_logout_uri: impl Into<String>) -> Self {
        Self {
            client_id: "revokd-test-client".to_owned(),
            client_secret: Some("revokd-test-client-secret".to_owned()),
            redirect_uris: vec!["http://127.0.0.1/rp/callback".to_owned()],
            backchannel_logout_uri: backchannel_logout_uri.into(),
            backchannel_logout_session_required: true,
            post_logout_redirect_uris: vec!["http://127.0.0.1/rp/logged-out".to_owned()],
            id_token_signed_response_alg: "RS256".to_owned(),
        }
    }

    /// Like [`ClientConfig::confidential`], as a public client (PKCE only).
    pub fn public(backchannel_logout_uri: impl Into<String>) -> Self {
        Self {
            client_id: "revokd-test-public-client".to_owned(),
            client_secret: None,
            ..Self::confidential(backchannel_logout_uri)
        }
    }
}

/// One account's login: its own cookie jar (its IdP session) and tokens.
#[derive(Debug)]
pub struct Login {
    pub account: String,
    /// The id_token's `sub`.
    pub sub: String,
    /// The id_token's `sid` (present when the client requires sessions).
    pub sid: Option<String>,
    pub id_token: String,
    /// The id_token's payload, decoded but not verified.
    pub id_token_claims: Value,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// The PKCE verifier sent to the token endpoint (its S256 challenge went
    /// to the authorization endpoint).
    pub code_verifier: String,
    pub nonce: String,
    /// Holds this login's cookie jar, so `logout` acts on its IdP session.
    http: reqwest::Client,
}

/// A running test IdP; see the module docs.
pub struct TestOidcProvider {
    issuer: String,
    port: u16,
    client: ClientConfig,
    child: Child,
    /// Open while the IdP runs: the IdP exits when it closes.
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl TestOidcProvider {
    /// Starts an IdP on a free loopback port and waits for its ready line.
    ///
    /// # Panics
    /// `tests/idp/node_modules` is missing (run `npm ci --prefix tests/idp`),
    /// `node` cannot be run, or the IdP is not ready within
    /// [`READY_WITHIN`].
    pub fn start(client: ClientConfig) -> Self {
        Self::start_with_env(client, &[])
    }

    /// [`TestOidcProvider::start`] with extra environment variables for
    /// node, e.g. `NODE_EXTRA_CA_CERTS` so that it trusts a test CA when
    /// it POSTs to an `https://` `backchannel_logout_uri`.
    pub fn start_with_env(client: ClientConfig, env: &[(&str, &str)]) -> Self {
        let dir = idp_dir();
        let installed = dir.join("node_modules/oidc-provider/package.json");
        assert!(
            installed.is_file(),
            "the test OpenID Provider is not installed ({} is missing): \
             run `npm ci --prefix tests/idp` in {} first (needs Node.js 20.19+ and npm)",
            installed.display(),
            env!("CARGO_MANIFEST_DIR"),
        );

        let mut command = Command::new("node");
        command
            .current_dir(&dir)
            .arg(dir.join("server.mjs"))
            .args(["--port", "0"])
            .args(["--client-id", &client.client_id])
            .args(["--backchannel-logout-uri", &client.backchannel_logout_uri])
            .args([
                "--backchannel-logout-session-required",
                if client.backchannel_logout_session_required {
                    "true"
                } else {
                    "false"
                },
            ])
            .args(["--id-token-alg", &client.id_token_signed_response_alg])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(secret) = &client.client_secret {
            command.args(["--client-secret", secret]);
        }
        for uri in &client.redirect_uris {
            command.args(["--redirect-uri", uri]);
        }
        for uri in &client.post_logout_redirect_uris {
            command.args(["--post-logout-redirect-uri", uri]);
        }
        // The harness passes everything on the command line.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("IDP_") {
                command.env_remove(key);
            }
        }

        command.envs(env.iter().copied());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` for the test OpenID Provider: {e}"));
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        forward_stderr(child.stderr.take().expect("piped stderr"), &stderr);
        let ready = first_stdout_line(child.stdout.take().expect("piped stdout"));

        let line = match ready.recv_timeout(READY_WITHIN) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                // Let the stderr thread drain what the IdP said last.
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "the test OpenID Provider did not print its ready line ({}; exit: {status:?}); \
                     if its dependencies are missing or stale, run `npm ci --prefix tests/idp`\n\
                     --- its stderr ---\n{}",
                    match e {
                        mpsc::RecvTimeoutError::Timeout => format!("waited {READY_WITHIN:?}"),
                        mpsc::RecvTimeoutError::Disconnected => "stdout closed".to_owned(),
                    },
                    stderr.lock().unwrap().join("\n"),
                );
            }
        };
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the test IdP's ready line is not JSON ({e}): {line}"));
        assert_eq!(ready["ready"], true, "unexpected ready line: {line}");
        let issuer = ready["issuer"]
            .as_str()
            .unwrap_or_else(|| panic!("no issuer in the ready line: {line}"))
            .to_owned();
        let port = ready["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("no port in the ready line: {line}"));

        Self {
            issuer,
            port,
            client,
            child,
            stdin,
            stderr,
        }
    }

    /// `http://127.0.0.1:{port}`: the `iss` of every token it signs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `{issuer}/jwks`: the public signing keys (one RS256, one ES256, fresh
    /// at every start).
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    pub fn client(&self) -> &ClientConfig {
        &self.client
    }

    /// What the IdP wrote to stderr so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Signs `account` in: authorization request with PKCE (S256), the
    /// test-only interaction route for login and consent, then the token
    /// exchange. Each call has its own cookie jar, so each login is its own
    /// IdP session with its own `sid`.
    ///
    /// # Panics
    /// Any step does not answer as the protocol says (the message has the
    /// response).
    pub async fn login(&self, account: &str) -> Login {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("reqwest client");
        let redirect_uri = self
            .client
            .redirect_uris
            .first()
            .expect("the client has no redirect_uris")
            .clone();
        let code_verifier = random_token();
        let code_challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
        let state = random_token();
        let nonce = random_token();

        let mut url = self.url("/auth");
        url.query_pairs_mut()
            .append_pair("client_id", &self.client.client_id)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid email profile")
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &code_challenge)
            .append_pair("code_challenge_method", "S256");

        // Follow the redirects by hand until the IdP sends the browser back
        // to the client with the code.
        let mut callback = None;
        for _ in 0..MAX_REDIRECTS {
            let response = http
                .get(url.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("login: GET {url}: {e}"));
            let next = redirect_target(&url, response).await;
            if next.as_str().split(['?', '#']).next() == Some(redirect_uri.as_str()) {
                callback = Some(next);
                break;
            }
            url = if is_interaction_page(&next) {
                let mut login = next.clone();
                login.set_path(&format!("{}/login", next.path()));
                login.query_pairs_mut().append_pair("account", account);
                login
            } else {
                next
            };
        }
        let callback = callback.unwrap_or_else(|| {
            panic!("login: no redirect to {redirect_uri} within {MAX_REDIRECTS} hops")
        });
        let params = query_map(&callback);
        if let Some(error) = params.get("error") {
            panic!(
                "login: the IdP answered error={error} ({}) for {account}",
                params.get("error_description").map_or("", String::as_str)
            );
        }
        assert_eq!(
            params.get("state"),
            Some(&state),
            "login: state mismatch in {callback}"
        );
        assert_eq!(
            params.get("iss").map(String::as_str),
            Some(self.issuer.as_str()),
            "login: iss (RFC 9207) mismatch in {callback}"
        );
        let code = params
            .get("code")
            .unwrap_or_else(|| panic!("login: no code in {callback}"));

        // Token exchange.
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", code_verifier.as_str()),
        ];
        let request = http.post(self.url("/token"));
        let request = match &self.client.client_secret {
            Some(secret) => request
                .basic_auth(
                    form_encode(&self.client.client_id),
                    Some(form_encode(secret)),
                )
                .form(&form),
            None => request
                .form(&[&form[..], &[("client_id", self.client.client_id.as_str())]].concat()),
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("login: POST /token: {e}"));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "login: POST /token: {body}");
        let tokens: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("login: /token answered non-JSON ({e}): {body}"));
        let text = |name: &str| tokens[name].as_str().map(str::to_owned);
        assert_eq!(
            text("token_type").as_deref(),
            Some("Bearer"),
            "login: {body}"
        );
        let id_token = text("id_token").unwrap_or_else(|| panic!("login: no id_token: {body}"));
        let access_token =
            text("access_token").unwrap_or_else(|| panic!("login: no access_token: {body}"));

        let claims = jwt_payload(&id_token);
        assert_eq!(
            claims["iss"],
            self.issuer.as_str(),
            "id_token iss: {claims}"
        );
        assert_eq!(
            claims["aud"],
            self.client.client_id.as_str(),
            "id_token aud: {claims}"
        );
        assert_eq!(claims["nonce"], nonce.as_str(), "id_token nonce: {claims}");
        let sub = claims["sub"]
            .as_str()
            .unwrap_or_else(|| panic!("id_token without sub: {claims}"))
            .to_owned();

        Login {
            account: account.to_owned(),
            sub,
            sid: claims["sid"].as_str().map(str::to_owned),
            id_token,
            id_token_claims: claims,
            access_token,
            refresh_token: text("refresh_token"),
            code_verifier,
            nonce,
            http,
        }
    }

    /// Ends `login`'s IdP session with RP-Initiated Logout: GET
    /// `/session/end` with its `id_token_hint` (and the first
    /// `post_logout_redirect_uri`, with a `state`), then POST the
    /// confirmation form with its `xsrf` value and `logout=yes`, with that
    /// login's cookies. The IdP POSTs a logout token to the client's
    /// `backchannel_logout_uri` before it answers; whether that delivery
    /// worked is for the receiver to tell, not this call.
    ///
    /// # Panics
    /// The IdP does not show the confirmation form (for example: the session
    /// is already over) or does not redirect where RP-Initiated Logout says.
    pub async fn logout(&self, login: &Login) {
        let state = random_token();
        let post_logout = self.client.post_logout_redirect_uris.first();
        let mut url = self.url("/session/end");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("id_token_hint", &login.id_token);
            if let Some(uri) = post_logout {
                query
                    .append_pair("post_logout_redirect_uri", uri)
                    .append_pair("state", &state);
            }
        }
        let response = login
            .http
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("logout: GET /session/end: {e}"));
        let status = response.status();
        let page = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "logout: GET /session/end: {page}");
        assert!(
            page.contains("op.logoutForm"),
            "logout: no confirmation form for {} (is the session already over?): {page}",
            login.account
        );
        let xsrf = hidden_input(&page, "xsrf")
            .unwrap_or_else(|| panic!("logout: no xsrf in the confirmation form: {page}"));

        let confirm = self.url("/session/end/confirm");
        let response = login
            .http
            .post(confirm.clone())
            .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
            .send()
            .await
            .unwrap_or_else(|e| panic!("logout: POST /session/end/confirm: {e}"));
        let target = redirect_target(&confirm, response).await;
        match post_logout {
            Some(uri) => {
                assert_eq!(
                    target.as_str().split('?').next(),
                    Some(uri.as_str()),
                    "logout: redirected to {target}"
                );
                assert_eq!(
                    query_map(&target).get("state"),
                    Some(&state),
                    "logout: state mismatch in {target}"
                );
            }
            None => assert_eq!(
                target.path(),
                "/session/end/success",
                "logout: redirected to {target}"
            ),
        }
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.issuer)).expect("issuer URL")
    }
}

impl Drop for TestOidcProvider {
    fn drop(&mut self) {
        // Closing stdin alone would stop it too; kill so that nothing waits.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn idp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp")
}

/// Copies the IdP's stderr to the test's stderr (shown when a test fails)
/// and keeps it for panic messages.
fn forward_stderr(stderr: impl Read + Send + 'static, lines: &Arc<Mutex<Vec<String>>>) {
    let lines = Arc::clone(lines);
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("[test-idp] {line}");
            lines.lock().unwrap().push(line);
        }
    });
}

/// Sends the first stdout line on the channel; anything after it (there
/// should be nothing) goes to the test's stderr.
fn first_stdout_line(stdout: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        drop(tx);
        for line in lines.map_while(Result::ok) {
            eprintln!("[test-idp stdout] {line}");
        }
    });
    rx
}

/// The absolute `Location` of a redirect response.
async fn redirect_target(from: &Url, response: reqwest::Response) -> Url {
    let status = response.status();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match location {
        Some(location) if status.is_redirection() => from
            .join(&location)
            .unwrap_or_else(|e| panic!("{from}: bad Location {location}: {e}")),
        _ => {
            let body = response.text().await.unwrap_or_default();
            panic!("{from}: expected a redirect, got {status}: {body}")
        }
    }
}

/// `/interaction/{uid}`: the page that would show the login or consent form.
fn is_interaction_page(url: &Url) -> bool {
    let mut segments = url.path_segments().into_iter().flatten();
    segments.next() == Some("interaction")
        && segments.next().is_some_and(|uid| !uid.is_empty())
        && segments.next().is_none()
}

fn query_map(url: &Url) -> std::collections::HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// The `value` of `<input ... name="{name}" value="...">`.
fn hidden_input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// The payload of a compact JWS, decoded and **not** verified.
pub fn jwt_payload(jwt: &str) -> Value {
    jwt_part(jwt, 1)
}

/// The protected header of a compact JWS, decoded and **not** verified.
pub fn jwt_header(jwt: &str) -> Value {
    jwt_part(jwt, 0)
}

fn jwt_part(jwt: &str, index: usize) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWS: {jwt}");
    let bytes = URL_SAFE_NO_PAD
        .decode(parts[index])
        .unwrap_or_else(|e| panic!("JWS part {index} is not base64url ({e}): {jwt}"));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("JWS part {index} is not JSON ({e}): {jwt}"))
}

/// 32 random bytes, base64url: a PKCE verifier (43 characters), a state or
/// a nonce.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("cannot read /dev/urandom");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `application/x-www-form-urlencoded` encoding, as RFC 6749 §2.3.1 asks
/// for the client id and secret of HTTP Basic authentication.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

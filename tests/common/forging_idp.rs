//! The forging identity provider: an in-process OpenID Provider that
//! integration tests control completely and that forges any logout token,
//! well-formed or broken (STYLE §10, "Two kinds of identity provider in
//! tests": this is the in-process one, for the rule-by-rule negative
//! cases; the real provider is [`super::certified_idp`]).
//!
//! [`TestIdp::start`] serves, on `http://127.0.0.1:PORT`:
//!
//! - `GET /.well-known/openid-configuration`: `issuer` is that base URL,
//!   `jwks_uri` is `{issuer}/jwks`, `id_token_signing_alg_values_supported`
//!   is [`ADVERTISED_ALGS`], `backchannel_logout_supported` is `true`;
//! - `GET /jwks`: the public halves of the published signing keys.
//!
//! It starts with one current key of each kind: RSA 2048 (`kid` `rsa-1`,
//! published without `alg`, so it verifies RS* and PS*), EC P-256 (`ec-1`,
//! `alg` ES256) and Ed25519 (`ed-1`, `alg` EdDSA), all `use: sig`.
//! [`rotate`](TestIdp::rotate) replaces them with a new generation;
//! [`add_key_not_published`](TestIdp::add_key_not_published) makes a key
//! that signs but is not in the JWKS. Every key the IdP ever had can still
//! sign ([`LogoutTokenBuilder::signing_key`]).
//!
//! Failure controls: [`set_down`](TestIdp::set_down) (503 on both
//! endpoints), [`set_delay`](TestIdp::set_delay),
//! [`set_clock_offset`](TestIdp::set_clock_offset) (a skewed `Date`),
//! [`set_jwks_body`](TestIdp::set_jwks_body) and
//! [`set_discovery_body`](TestIdp::set_discovery_body) (serve any bytes), and
//! request counters ([`jwks_fetch_count`](TestIdp::jwks_fetch_count)).
//!
//! [`TestIdp::logout_token`] starts a [`LogoutTokenBuilder`] whose defaults
//! pass every rule of Back-Channel Logout 1.0 §2.4/§2.6 for a relying party
//! configured with this issuer and [`TestIdp::client_id`]; each method
//! breaks or changes one thing. [`RelyingPartyKey`] is the relying party's
//! decryption key pair for encrypted (nested JWE) logout tokens.
//!
//! Keys, signing and encryption come from the crate's one forging kit
//! (`revokd::oidc::testkit`, the `testkit` feature): [`KeyGenerations`]
//! holds the keys, the kit's `forge` signs and encrypts; this file adds
//! the HTTP endpoints, the failure controls and the builder.
//!
//! The server runs on a thread of its own with its own actix system, so it
//! works under `#[tokio::test]`, `#[actix_web::test]` or a plain `#[test]`,
//! and is independent of the runtime that runs revokd. Dropping the
//! [`TestIdp`] stops it. Nothing here is shared between `TestIdp`s.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use revokd::oidc::testkit::{
    KeyGenerations, Recipient, b64, corrupt_signature, default_alg, encrypt_jwe, hs256_jws,
    kind_for, unsigned_jws,
};
use revokd::oidc::{BACKCHANNEL_LOGOUT_EVENT, JwsAlg, KeyKind};
use serde_json::{Map, Value, json};

/// The client id (`aud`) of [`TestIdp::start`].
pub const DEFAULT_CLIENT_ID: &str = "revokd-app";
/// The `sub` of a default logout token. There is no default `sid`: a token
/// with `sub` alone means "every session of this subject" (§2.4).
pub const DEFAULT_SUB: &str = "alice";
/// `exp - iat` of a default logout token (§4 suggests two minutes).
pub const DEFAULT_LIFETIME_SECS: i64 = 120;
/// The discovery document's `id_token_signing_alg_values_supported`.
pub const ADVERTISED_ALGS: [JwsAlg; 4] =
    [JwsAlg::Rs256, JwsAlg::Ps256, JwsAlg::Es256, JwsAlg::EdDsa];

/// Seconds since the Unix epoch, as `iat`/`exp` count them.
pub fn unix_now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_secs()).expect("seconds fit in i64")
}

/// The decoded header and claims of a compact JWS, unverified: for tests
/// that look at what they built or received.
pub fn jws_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let header = json_part(parts.next(), "header", token);
    let claims = json_part(parts.next(), "claims", token);
    (header, claims)
}

/// The decoded protected header of a compact JWE.
pub fn jwe_header(token: &str) -> Value {
    json_part(token.split('.').next(), "JWE header", token)
}

fn json_part(part: Option<&str>, what: &str, token: &str) -> Value {
    let part = part.unwrap_or_else(|| panic!("no {what} in {token:?}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("{what} is not base64url: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
}

fn random_id() -> String {
    let mut bytes = [0; 16];
    openssl::rand::rand_bytes(&mut bytes).expect("random bytes");
    b64(bytes)
}

struct State {
    /// The signing keys, every generation: the kit's API for them.
    keys: KeyGenerations,
    down: bool,
    delay: Duration,
    jwks_body: Option<Vec<u8>>,
    discovery_body: Option<Vec<u8>>,
    /// Seconds added to the `Date` header of every answer.
    clock_offset: i64,
}

struct Shared {
    issuer: String,
    state: Mutex<State>,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
}

impl Shared {
    /// A failed assertion elsewhere must not turn every later call into a
    /// poisoned-lock panic.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn discovery_document(&self) -> Value {
        let issuer = &self.issuer;
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/jwks"),
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported":
                ADVERTISED_ALGS.iter().map(|a| a.name()).collect::<Vec<_>>(),
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
        })
    }
}

/// Waits for the configured delay, then answers with `body` unless down.
async fn answer(shared: &Shared, body: impl FnOnce(&State) -> Vec<u8>) -> HttpResponse {
    let delay = shared.lock().delay;
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    let state = shared.lock();
    if state.down {
        return HttpResponse::ServiceUnavailable()
            .content_type("application/json")
            .body(r#"{"error":"temporarily_unavailable"}"#);
    }
    let offset = Duration::from_secs(state.clock_offset.unsigned_abs());
    let date = if state.clock_offset >= 0 {
        SystemTime::now() + offset
    } else {
        SystemTime::now() - offset
    };
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Date", httpdate::fmt_http_date(date)))
        .body(body(&state))
}

async fn discovery(shared: web::Data<Shared>) -> HttpResponse {
    shared.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    answer(&shared, |state| {
        state
            .discovery_body
            .clone()
            .unwrap_or_else(|| shared.discovery_document().to_string().into_bytes())
    })
    .await
}

async fn jwks(shared: web::Data<Shared>) -> HttpResponse {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    answer(&shared, |state| {
        state
            .jwks_body
            .clone()
            .unwrap_or_else(|| state.keys.jwks().to_string().into_bytes())
    })
    .await
}

/// An in-process OpenID Provider on `127.0.0.1:0`. See the module docs.
pub struct TestIdp {
    shared: Arc<Shared>,
    client_id: String,
    server: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl TestIdp {
    /// Starts an IdP whose default tokens are addressed to
    /// [`DEFAULT_CLIENT_ID`].
    pub fn start() -> Self {
        Self::start_with_client_id(DEFAULT_CLIENT_ID)
    }

    /// Starts an IdP whose default tokens have `aud` = `client_id`.
    pub fn start_with_client_id(client_id: impl Into<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test IdP");
        let port = listener.local_addr().expect("test IdP address").port();
        let state = State {
            keys: KeyGenerations::new(),
            down: false,
            delay: Duration::ZERO,
            jwks_body: None,
            discovery_body: None,
            clock_offset: 0,
        };
        let shared = Arc::new(Shared {
            issuer: format!("http://127.0.0.1:{port}"),
            state: Mutex::new(state),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
        });

        let data = web::Data::from(Arc::clone(&shared));
        let (started, handle) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("test-idp-{port}"))
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .route(
                                "/.well-known/openid-configuration",
                                web::get().to(discovery),
                            )
                            .route("/jwks", web::get().to(jwks))
                    })
                    .workers(1)
                    .disable_signals()
                    .listen(listener)
                    .expect("listen on the test IdP socket")
                    .run();
                    started
                        .send(server.handle())
                        .expect("the starting test waits for the handle");
                    server.await.expect("test IdP server");
                });
            })
            .expect("spawn the test IdP thread");
        let server = handle.recv().expect("the test IdP thread started");
        Self {
            shared,
            client_id: client_id.into(),
            server,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, exactly as in discovery and in default `iss`.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    pub fn discovery_uri(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.shared.issuer)
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.shared.issuer)
    }

    /// The `aud` of default tokens.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The JWK Set the IdP publishes now (ignores [`set_jwks_body`](Self::set_jwks_body)).
    pub fn jwks(&self) -> Value {
        self.shared.lock().keys.jwks()
    }

    /// The `kid`s in the published JWK Set, in order.
    pub fn published_kids(&self) -> Vec<String> {
        self.shared.lock().keys.published_kids()
    }

    /// The `kid` of the key that signs tokens of `kind` by default.
    pub fn current_kid(&self, kind: KeyKind) -> String {
        self.shared.lock().keys.current(kind).kid.clone()
    }

    /// Replaces every current key with a new one (new `kid`s); the old keys
    /// leave the JWK Set but can still sign when named by `kid`.
    pub fn rotate(&self) {
        self.shared.lock().keys.rotate(false);
    }

    /// Like [`rotate`](Self::rotate), but the old keys stay published: the
    /// usual overlap while a provider rolls its keys.
    pub fn rotate_keeping_old(&self) {
        self.shared.lock().keys.rotate(true);
    }

    /// A new key of `kind` that signs but is not in the JWK Set; returns its
    /// `kid` (ends in `-unpublished`). Sign with it through
    /// [`LogoutTokenBuilder::signing_key`].
    pub fn add_key_not_published(&self, kind: KeyKind) -> String {
        self.shared.lock().keys.add_unpublished(kind)
    }

    /// Adds the key `kid` (any key this IdP has) to the JWK Set.
    pub fn publish_key(&self, kid: &str) {
        self.shared.lock().keys.set_published(kid, true);
    }

    /// Removes the key `kid` from the JWK Set; it can still sign.
    pub fn unpublish_key(&self, kid: &str) {
        self.shared.lock().keys.set_published(kid, false);
    }

    /// While down, discovery and JWKS answer 503 (requests are still counted).
    pub fn set_down(&self, down: bool) {
        self.shared.lock().down = down;
    }

    /// Every discovery and JWKS request waits this long before it is
    /// answered (zero, the default, for none).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// Serves `body` verbatim as the JWKS (status 200, `application/json`)
    /// until [`clear_jwks_body`](Self::clear_jwks_body).
    pub fn set_jwks_body(&self, body: impl Into<Vec<u8>>) {
        self.shared.lock().jwks_body = Some(body.into());
    }

    pub fn clear_jwks_body(&self) {
        self.shared.lock().jwks_body = None;
    }

    /// Sets the `Date` header of every answer `seconds` ahead of (negative:
    /// behind) the real clock, as a provider with a wrong clock sends it.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.shared.lock().clock_offset = seconds;
    }

    /// The discovery document as served by default, to change a field
    /// and serve with [`set_discovery_body`](Self::set_discovery_body).
    pub fn discovery_document(&self) -> Value {
        self.shared.discovery_document()
    }

    /// Serves `body` verbatim as the discovery document until
    /// [`clear_discovery_body`](Self::clear_discovery_body).
    pub fn set_discovery_body(&self, body: impl Into<Vec<u8>>) {
        self.shared.lock().discovery_body = Some(body.into());
    }

    pub fn clear_discovery_body(&self) {
        self.shared.lock().discovery_body = None;
    }

    /// `GET /jwks` requests received so far, answered or not.
    pub fn jwks_fetch_count(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Discovery requests received so far, answered or not.
    pub fn discovery_fetch_count(&self) -> usize {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }

    /// A logout token that passes every rule (see [`LogoutTokenBuilder`]).
    pub fn logout_token(&self) -> LogoutTokenBuilder {
        let now = unix_now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.shared.issuer));
        claims.insert("aud".into(), json!(self.client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + DEFAULT_LIFETIME_SECS));
        claims.insert("jti".into(), json!(random_id()));
        claims.insert("sub".into(), json!(DEFAULT_SUB));
        claims.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
        LogoutTokenBuilder {
            shared: Arc::clone(&self.shared),
            claims,
            header_edits: BTreeMap::new(),
            alg: None,
            kid: None,
            signing: Signing::Key,
            corrupt: false,
            encryption: None,
            jwe_header_edits: BTreeMap::new(),
        }
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        // `stop` sends its command at once; the returned future only waits.
        drop(self.server.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for TestIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIdp")
            .field("issuer", &self.shared.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
enum Signing {
    /// A real signature by the chosen key with the chosen algorithm.
    Key,
    /// `alg: none`, empty signature.
    Unsigned,
    /// HS256 keyed with the signing key's public PEM.
    Hs256WithPublicKey,
    /// HS256 keyed with these bytes.
    Hs256(Vec<u8>),
}

#[derive(Clone, Debug)]
struct Encryption {
    recipient: Recipient,
    alg: String,
    enc: String,
}

/// A logout token in the making. [`TestIdp::logout_token`] starts it with
/// defaults that pass every rule:
///
/// - header `{"alg": "RS256", "typ": "logout+jwt", "kid": <current RSA kid>}`,
///   signed by the current RSA key;
/// - claims `iss` = [`TestIdp::issuer`], `aud` = [`TestIdp::client_id`]
///   (a string), `iat` = now, `exp` = now + [`DEFAULT_LIFETIME_SECS`], a
///   fresh random `jti`, `sub` = [`DEFAULT_SUB`], no `sid`, and `events` =
///   `{"http://schemas.openid.net/event/backchannel-logout": {}}`.
///
/// Claim edits apply in call order. Header edits are applied after `alg`,
/// `typ` and `kid` are derived from the chosen key, so `header("alg", ..)`
/// lies about the algorithm without changing how the token is signed.
/// Nothing is validated: a builder misused (a key that cannot sign the
/// chosen algorithm, an unknown `kid`) panics in [`sign`](Self::sign).
#[must_use]
#[derive(Clone)]
pub struct LogoutTokenBuilder {
    shared: Arc<Shared>,
    claims: Map<String, Value>,
    header_edits: BTreeMap<String, Option<Value>>,
    alg: Option<JwsAlg>,
    kid: Option<String>,
    signing: Signing,
    corrupt: bool,
    encryption: Option<Encryption>,
    jwe_header_edits: BTreeMap<String, Option<Value>>,
}

impl LogoutTokenBuilder {
    /// Sets claim `name` to any JSON value (replacing a default).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes claim `name`.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    pub fn sid(self, sid: &str) -> Self {
        self.claim("sid", sid)
    }

    pub fn sub(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }

    /// `aud`: a string, or for several audiences a JSON array.
    pub fn aud(self, aud: impl Into<Value>) -> Self {
        self.claim("aud", aud)
    }

    pub fn iss(self, iss: &str) -> Self {
        self.claim("iss", iss)
    }

    pub fn jti(self, jti: &str) -> Self {
        self.claim("jti", jti)
    }

    /// `iat`, seconds since the epoch (see [`unix_now`]).
    pub fn iat(self, iat: i64) -> Self {
        self.claim("iat", iat)
    }

    /// `exp`, seconds since the epoch (see [`unix_now`]).
    pub fn exp(self, exp: i64) -> Self {
        self.claim("exp", exp)
    }

    /// Sets JWS header member `name` to any JSON value, overriding what
    /// the chosen key and algorithm would put there.
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header_edits
            .insert(name.to_owned(), Some(value.into()));
        self
    }

    /// Removes JWS header member `name` (`kid`, `typ`, even `alg`).
    pub fn without_header(mut self, name: &str) -> Self {
        self.header_edits.insert(name.to_owned(), None);
        self
    }

    /// Signs with `alg`, by the current key of the kind that fits it (all
    /// eight [`JwsAlg`]s; only [`ADVERTISED_ALGS`] are in discovery). With
    /// [`signing_key`](Self::signing_key), signs with that key instead.
    pub fn alg(mut self, alg: JwsAlg) -> Self {
        self.alg = Some(alg);
        self
    }

    /// Signs with the key `kid`: any key this IdP has, current, rotated out
    /// or never published. The header's `kid` names it.
    pub fn signing_key(mut self, kid: &str) -> Self {
        self.kid = Some(kid.to_owned());
        self
    }

    /// `alg: none` and an empty signature (RFC 7519 §6.1, "Unsecured JWT").
    pub fn unsigned(mut self) -> Self {
        self.signing = Signing::Unsigned;
        self
    }

    /// The algorithm-confusion attack (RFC 8725 §2.1): `alg: HS256`, keyed
    /// with the PEM (SubjectPublicKeyInfo) of the signing key's public half,
    /// which anyone can derive from the JWKS. The header keeps that key's `kid`.
    pub fn hs256_with_public_key(mut self) -> Self {
        self.signing = Signing::Hs256WithPublicKey;
        self
    }

    /// `alg: HS256`, keyed with `secret`.
    pub fn hs256_with_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.signing = Signing::Hs256(secret.into());
        self
    }

    /// Flips one bit of the signature after signing.
    pub fn corrupt_signature(mut self) -> Self {
        self.corrupt = true;
        self
    }

    /// Wraps the signed token in a JWE (compact, `cty: "JWT"`) to
    /// `recipient` with key management `alg` (e.g. "RSA-OAEP-256",
    /// "ECDH-ES+A256KW") and content encryption `enc` (e.g. "A256GCM"):
    /// a Nested JWT as Back-Channel Logout 1.0 §2.6 step 1 expects. The JWE
    /// header carries the recipient's `kid` when it has one.
    pub fn encrypt_for(mut self, recipient: impl Into<Recipient>, alg: &str, enc: &str) -> Self {
        self.encryption = Some(Encryption {
            recipient: recipient.into(),
            alg: alg.to_owned(),
            enc: enc.to_owned(),
        });
        self
    }

    /// Sets a JWE header member (after `cty` and `kid`; `alg` is always the
    /// encrypter's). josekit checks types: `cty`, `kid`, `zip`, `enc` must
    /// be strings. Needs [`encrypt_for`](Self::encrypt_for).
    pub fn jwe_header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.jwe_header_edits
            .insert(name.to_owned(), Some(value.into()));
        self
    }

    /// Removes a JWE header member (`cty`, `kid`). Needs
    /// [`encrypt_for`](Self::encrypt_for).
    pub fn without_jwe_header(mut self, name: &str) -> Self {
        self.jwe_header_edits.insert(name.to_owned(), None);
        self
    }

    /// The claims as they will be signed.
    pub fn claims(&self) -> Value {
        Value::Object(self.claims.clone())
    }

    /// The compact JWS (or, with [`encrypt_for`](Self::encrypt_for), JWE).
    pub fn sign(self) -> String {
        let jws = self.signed_jws();
        match &self.encryption {
            None => {
                assert!(
                    self.jwe_header_edits.is_empty(),
                    "jwe_header/without_jwe_header need encrypt_for"
                );
                jws
            }
            Some(encryption) => self.encrypt(&jws, encryption),
        }
    }

    fn signed_jws(&self) -> String {
        let state = self.shared.lock();
        let key = match (&self.kid, &self.signing, self.alg) {
            (Some(kid), _, _) => state.keys.key(kid),
            (None, Signing::Key, Some(alg)) => state.keys.current(kind_for(alg)),
            (None, _, _) => state.keys.current(KeyKind::Rsa),
        };
        let alg = self.alg.unwrap_or_else(|| default_alg(key.kind));
        let alg_name = match self.signing {
            Signing::Key => {
                assert!(
                    alg.fits(key.kind),
                    "key {:?} ({:?}) cannot sign {alg}",
                    key.kid,
                    key.kind
                );
                alg.name()
            }
            Signing::Unsigned => "none",
            Signing::Hs256WithPublicKey | Signing::Hs256(_) => "HS256",
        };

        let mut header = Map::new();
        header.insert("alg".into(), json!(alg_name));
        header.insert("typ".into(), json!("logout+jwt"));
        header.insert("kid".into(), json!(key.kid));
        for (name, value) in &self.header_edits {
            match value {
                Some(value) => header.insert(name.clone(), value.clone()),
                None => header.remove(name),
            };
        }
        let header = Value::Object(header);
        let claims = Value::Object(self.claims.clone());
        let token = match &self.signing {
            Signing::Key => key.sign(&header, &claims, alg),
            Signing::Unsigned => unsigned_jws(&header, &claims),
            Signing::Hs256WithPublicKey => hs256_jws(&header, &claims, &key.public_pem()),
            Signing::Hs256(secret) => hs256_jws(&header, &claims, secret),
        };
        if self.corrupt {
            corrupt_signature(&token)
        } else {
            token
        }
    }

    fn encrypt(&self, jws: &str, encryption: &Encryption) -> String {
        encrypt_jwe(
            jws,
            &encryption.recipient,
            &encryption.alg,
            &encryption.enc,
            self.jwe_header_edits
                .iter()
                .map(|(name, value)| (name.as_str(), value.clone())),
        )
    }
}

impl std::fmt::Debug for LogoutTokenBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogoutTokenBuilder")
            .field("claims", &self.claims)
            .field("header_edits", &self.header_edits)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("signing", &self.signing)
            .field("corrupt", &self.corrupt)
            .field("encryption", &self.encryption)
            .finish_non_exhaustive()
    }
}

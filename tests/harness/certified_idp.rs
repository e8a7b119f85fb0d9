//! The certified identity provider harness (`common::certified_idp`:
//! panva's certified oidc-provider under tests/idp) works, without revokd:
//! it signs alice and bob in, RP-Initiated Logout of alice makes it POST its
//! own logout token to a bare receiver, and bob stays signed in.
//!
//! Needs `npm ci --prefix tests/idp` (see `common::certified_idp`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::certified_idp::{
    ClientConfig, Login, TestOidcProvider, jwt_header, jwt_payload,
};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::Url;
use serde_json::{Value, json};

const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long the receiver may take to see a logout token after `logout`.
const DELIVERY_WITHIN: Duration = Duration::from_secs(10);

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    content_type: Option<String>,
    body: String,
}

/// An HTTP server on 127.0.0.1:0 that records every request (any method,
/// any path) and answers 200, as a back-channel logout receiver does.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let data = web::Data::from(Arc::clone(&seen));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind the receiver");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/backchannel-logout"),
            seen,
            handle,
        }
    }

    fn snapshot(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived (or the bound passes),
    /// then returns everything received.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + DELIVERY_WITHIN;
        while self.snapshot().len() < count && Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        self.snapshot()
    }
}

async fn record(
    request: HttpRequest,
    body: web::Bytes,
    seen: web::Data<Mutex<Vec<Received>>>,
) -> HttpResponse {
    seen.lock().unwrap().push(Received {
        method: request.method().to_string(),
        path: request.path().to_owned(),
        content_type: request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .finish()
}

/// The form parameters of an `application/x-www-form-urlencoded` body.
fn form_params(body: &str) -> Vec<(String, String)> {
    Url::parse(&format!("http://form.invalid/?{body}"))
        .expect("form body")
        .query_pairs()
        .into_owned()
        .collect()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// Checks one received request is a back-channel logout POST for `login`
/// (OIDC Back-Channel Logout 1.0 §2.4, §2.5) and returns the token's claims.
fn assert_logout_token_for(
    received: &Received,
    idp: &TestOidcProvider,
    receiver_path: &str,
    login: &Login,
) -> Value {
    assert_eq!(received.method, "POST", "{received:?}");
    assert_eq!(received.path, receiver_path, "{received:?}");
    let content_type = received.content_type.as_deref().unwrap_or_default();
    assert!(
        content_type
            .split(';')
            .next()
            .is_some_and(|media| media.trim() == "application/x-www-form-urlencoded"),
        "Content-Type: {content_type:?}"
    );
    let params = form_params(&received.body);
    let tokens: Vec<&str> = params
        .iter()
        .filter(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(tokens.len(), 1, "exactly one logout_token: {params:?}");
    let token = tokens[0];

    let header = jwt_header(token);
    assert_eq!(
        header["alg"],
        idp.client().id_token_signed_response_alg.as_str(),
        "logout token header: {header}"
    );
    assert_eq!(header["typ"], "logout+jwt", "logout token header: {header}");

    let claims = jwt_payload(token);
    assert_eq!(claims["iss"], idp.issuer(), "iss: {claims}");
    let client_id = idp.client().client_id.as_str();
    let aud_ok = match &claims["aud"] {
        Value::String(aud) => aud == client_id,
        Value::Array(auds) => auds.iter().any(|a| a == client_id),
        _ => false,
    };
    assert!(aud_ok, "aud must be (or contain) {client_id}: {claims}");
    assert_eq!(
        claims["sid"].as_str(),
        login.sid.as_deref(),
        "sid of {}: {claims}",
        login.account
    );
    assert_eq!(claims["sub"], login.sub.as_str(), "sub: {claims}");
    assert!(
        claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()),
        "jti: {claims}"
    );
    let iat = claims["iat"]
        .as_i64()
        .unwrap_or_else(|| panic!("iat: {claims}"));
    assert!(
        (iat - now()).abs() <= 60,
        "iat {iat} is not now ({}): {claims}",
        now()
    );
    assert_eq!(
        claims["events"],
        json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        "events: {claims}"
    );
    assert!(
        claims.get("nonce").is_none(),
        "a logout token has no nonce: {claims}"
    );
    claims
}

#[actix_web::test]
async fn rp_initiated_logout_sends_the_providers_own_logout_token() {
    let started = Instant::now();
    let receiver = Receiver::start().await;
    let receiver_path = Url::parse(&receiver.url).unwrap().path().to_owned();
    let idp = TestOidcProvider::start(ClientConfig::confidential(&receiver.url));
    assert!(
        idp.issuer().starts_with("http://127.0.0.1:"),
        "{}",
        idp.issuer()
    );

    let alice = idp.login("alice").await;
    let bob = idp.login("bob").await;

    // The id_tokens carry sub and sid; two logins are two IdP sessions.
    assert_eq!(alice.sub, "alice");
    assert_eq!(alice.id_token_claims["sub"], "alice");
    let alice_sid = alice.sid.clone().expect("alice's id_token has a sid");
    assert!(!alice_sid.is_empty());
    assert_eq!(alice.id_token_claims["sid"], alice_sid.as_str());
    assert_eq!(bob.sub, "bob");
    let bob_sid = bob.sid.clone().expect("bob's id_token has a sid");
    assert_ne!(alice_sid, bob_sid, "each login has its own session");
    assert!(!alice.access_token.is_empty());
    assert_eq!(alice.code_verifier.len(), 43, "a 32-byte PKCE verifier");
    assert!(
        receiver.snapshot().is_empty(),
        "nothing is sent on login: {:?}",
        receiver.snapshot()
    );

    // Alice logs out: the provider POSTs one logout token for her session.
    idp.logout(&alice).await;
    let received = receiver.wait_for(1).await;
    assert!(
        !received.is_empty(),
        "no logout token within {DELIVERY_WITHIN:?}; IdP stderr:\n{}",
        idp.stderr_lines().join("\n")
    );
    // Give a stray second delivery (say, for bob) the chance to show up.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.snapshot();
    assert_eq!(received.len(), 1, "one logout, one token: {received:?}");
    let alice_token = assert_logout_token_for(&received[0], &idp, &receiver_path, &alice);

    // Bob was not logged out: no token names his session or him.
    for r in &received {
        let claims = form_params(&r.body)
            .into_iter()
            .find(|(name, _)| name == "logout_token")
            .map(|(_, token)| jwt_payload(&token))
            .unwrap_or(Value::Null);
        assert_ne!(
            claims["sid"],
            bob_sid.as_str(),
            "bob's session ended: {claims}"
        );
        assert_ne!(claims["sub"], "bob", "bob was logged out: {claims}");
    }

    // ...and his session is alive: logging him out now sends his own token,
    // which also shows the receiver would have seen one for him above.
    idp.logout(&bob).await;
    let received = receiver.wait_for(2).await;
    assert_eq!(received.len(), 2, "bob's logout token: {received:?}");
    let bob_token = assert_logout_token_for(&received[1], &idp, &receiver_path, &bob);
    assert_ne!(
        alice_token["jti"], bob_token["jti"],
        "each token its own jti"
    );

    drop(idp);
    receiver.handle.stop(false).await;
    eprintln!("smoke test took {:?}", started.elapsed());
}

/// The other harness paths: a public client (PKCE and `client_id` in the
/// token request, no secret) whose tokens are signed with ES256.
#[actix_web::test]
async fn public_client_with_es256_gets_its_logout_token() {
    let receiver = Receiver::start().await;
    let receiver_path = Url::parse(&receiver.url).unwrap().path().to_owned();
    let client = ClientConfig {
        id_token_signed_response_alg: "ES256".to_owned(),
        ..ClientConfig::public(&receiver.url)
    };
    assert!(client.client_secret.is_none());
    let idp = TestOidcProvider::start(client);

    let carol = idp.login("carol").await;
    assert_eq!(jwt_header(&carol.id_token)["alg"], "ES256");
    assert_eq!(carol.id_token_claims["aud"], "revokd-test-public-client");
    assert!(carol.sid.is_some(), "{}", carol.id_token_claims);

    idp.logout(&carol).await;
    let received = receiver.wait_for(1).await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_logout_token_for(&received[0], &idp, &receiver_path, &carol);

    drop(idp);
    receiver.handle.stop(false).await;
}

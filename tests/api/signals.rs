//! Shared Signals push (RFC 8935) and Global Token Revocation over HTTP,
//! against the forging identity provider acting as the SET transmitter and
//! the Universal Logout caller: every rule a SET or a caller token can
//! break, the RFC 8935 error body, and end to end, a RISC
//! `account-disabled` making `/v1/check` and `/v1/forward-auth` refuse the
//! person's tokens on both stores, and (with a GTR call and a SCIM
//! deactivation) across two instances on one Redis.

use reqwest::{Response, StatusCode};
use revokd::api_keys::sha256_hex;
use revokd::providers::{GlobalTokenRevocationSettings, StreamSettings};
use serde_json::{Value, json};

use crate::backchannel::{provider, wait_for_provider};
use crate::common::forging_idp::{LogoutTokenBuilder, TestIdp, unix_now};
use revokd::config::Settings;

use crate::helpers::{Backend, CLIENT_KEY, Infra, TestApp, spawn_on};

const PUSH_TOKEN: &str = "ssf-push-token-for-the-tests";
const SET_AUD: &str = "https://revokd.test/ssf/push/okta";
const GTR_AUD: &str = "https://revokd.test/global-token-revocation/idp";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";

async fn signals_app(idp: &TestIdp, backend: Backend) -> TestApp {
    let app = spawn_on(Infra::new(backend), configure(idp)).await;
    wait_for_provider(&app, "idp").await;
    app
}

/// The provider, one stream and one Global Token Revocation caller.
fn configure(idp: &TestIdp) -> impl FnOnce(&mut Settings) + use<> {
    let settings = provider("idp", idp.issuer(), idp.client_id());
    let client_id = idp.client_id().to_owned();
    move |s: &mut Settings| {
        s.providers = vec![settings];
        s.streams = vec![StreamSettings {
            name: "okta".into(),
            provider: "idp".into(),
            audience: vec![SET_AUD.into()],
            push_token_sha256: Some(sha256_hex(PUSH_TOKEN)),
            push_token_file: None,
            subject_formats_as_sub: vec!["opaque".into()],
            max_set_age: std::time::Duration::from_secs(3600),
            poll_url: None,
            poll_token_file: None,
            poll_max_events: 100,
            poll_timeout: std::time::Duration::from_secs(60),
            poll_retry_interval: std::time::Duration::from_secs(5),
            allow_insecure_http: false,
            management: None,
        }];
        s.global_token_revocation = vec![GlobalTokenRevocationSettings {
            provider: "idp".into(),
            audience: vec![GTR_AUD.into()],
            subject_formats_as_sub: vec!["opaque".into()],
            max_token_age: std::time::Duration::from_secs(300),
        }];
        s.forward_auth.jwt.provider = "idp".into();
        s.forward_auth.jwt.audiences = vec![client_id];
    }
}

fn risc(name: &str) -> String {
    format!("{RISC}{name}")
}

/// A SET that passes every rule: RISC `account-disabled` for alice.
fn set(idp: &TestIdp, event: &str) -> LogoutTokenBuilder {
    idp.logout_token()
        .without_claim("sub")
        .without_claim("exp")
        .header("typ", "secevent+jwt")
        .aud(SET_AUD)
        .claim("txn", "txn-42")
        .claim(
            "sub_id",
            json!({"format": "iss_sub", "iss": idp.issuer(), "sub": "alice"}),
        )
        .claim("events", json!({ event: {} }))
}

async fn push_with(
    app: &TestApp,
    stream: &str,
    bearer: Option<&str>,
    ct: &str,
    body: String,
) -> Response {
    let mut request = app
        .client
        .post(app.url(&format!("/ssf/push/{stream}")))
        .header("content-type", ct)
        .body(body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    request.send().await.unwrap()
}

async fn push(app: &TestApp, token: String) -> Response {
    push_with(
        app,
        "okta",
        Some(PUSH_TOKEN),
        "application/secevent+jwt",
        token,
    )
    .await
}

async fn events(app: &TestApp) -> Vec<Value> {
    let page: Value = app
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .unwrap();
    page["events"].as_array().unwrap().clone()
}

/// alice's login token at the provider, as an app would hold it.
fn login_token(idp: &TestIdp, iat: i64) -> String {
    idp.logout_token()
        .without_claim("events")
        .sub("alice")
        .sid("s-1")
        .iat(iat)
        .exp(unix_now() + 600)
        .sign()
}

async fn forward_auth(app: &TestApp, token: &str) -> Response {
    app.client
        .get(app.url("/v1/forward-auth"))
        .header("x-revokd-key", CLIENT_KEY)
        .header("x-original-uri", "/x")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn assert_set_refused(
    app: &TestApp,
    response: Response,
    status: StatusCode,
    err: &str,
    rule: &str,
) {
    assert_eq!(response.status(), status, "{rule}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["err"], err, "{rule}: {body}");
    let description = body["description"].as_str().unwrap();
    assert!(
        description.contains(rule),
        "{description:?} should name {rule}"
    );
    assert!(
        events(app).await.is_empty(),
        "a SET breaking {rule} changed something"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risc_account_disabled_refuses_the_subjects_tokens_on_both_stores() {
    for backend in [Backend::Embedded, Backend::Redis] {
        let idp = TestIdp::start();
        let app = signals_app(&idp, backend).await;
        let iat = unix_now() - 30;
        let token = login_token(&idp, iat);
        let iat_text = iat.to_string();
        let check = [
            ("iss", idp.issuer()),
            ("sub", "alice"),
            ("iat", iat_text.as_str()),
        ];
        assert_eq!(forward_auth(&app, &token).await.status(), StatusCode::OK);
        assert_eq!(app.verdict(&check).await["active"], true);

        let disabled = set(&idp, &risc("account-disabled")).jti("set-1").sign();
        let response = push(&app, disabled.clone()).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{backend:?}");
        assert_eq!(response.text().await.unwrap(), "");

        let refused = forward_auth(&app, &token).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(refused.headers()["revokd-reason"], "subject_disabled");
        assert_eq!(app.verdict(&check).await["reason"], "subject_disabled");
        let recorded = events(&app).await;
        assert_eq!(recorded.len(), 2, "{recorded:?}");
        assert!(recorded.iter().all(|e| e["actor"] == "ssf:okta"));
        assert!(recorded.iter().any(|e| e["kind"] == "subject_disabled"));
        assert!(
            recorded[0]["reason"]
                .as_str()
                .unwrap()
                .contains("txn=txn-42")
        );

        // A replay (or the transmitter's retry) is acknowledged and changes
        // nothing new.
        assert_eq!(push(&app, disabled).await.status(), StatusCode::ACCEPTED);
        let after = events(&app).await;
        assert_eq!(
            after
                .iter()
                .filter(|e| e["kind"] == "subject_disabled")
                .count(),
            1
        );

        // Enabled again: the old token stays dead (revoked before), a new
        // login works.
        let enabled = set(&idp, &risc("account-enabled")).sign();
        assert_eq!(push(&app, enabled).await.status(), StatusCode::ACCEPTED);
        let old = forward_auth(&app, &token).await;
        assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(old.headers()["revokd-reason"], "subject_revoked_before");
        let fresh = login_token(&idp, unix_now() + 2);
        assert_eq!(forward_auth(&app, &fresh).await.status(), StatusCode::OK);

        let metrics = app.metrics().await;
        assert!(
            metrics.contains(r#"revokd_signals_total{event="risc-account-disabled",outcome="applied",rule="",stream="okta"} 1"#),
            "{metrics}"
        );
        assert!(metrics.contains(r#"revokd_signals_total{event="risc-account-disabled",outcome="replayed",rule="",stream="okta"} 1"#));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_has_a_set_that_breaks_it() {
    let idp = TestIdp::start();
    let app = signals_app(&idp, Backend::Embedded).await;
    let now = unix_now();
    let disabled = risc("account-disabled");
    let valid = || set(&idp, &disabled);
    let unpublished = idp.add_key_not_published(revokd::oidc::KeyKind::Rsa);
    let cases: Vec<(&str, &str, LogoutTokenBuilder)> = vec![
        ("invalid_key", "alg_none", valid().unsigned()),
        (
            "invalid_key",
            "alg_symmetric",
            valid().hs256_with_public_key(),
        ),
        ("invalid_key", "bad_signature", valid().corrupt_signature()),
        (
            "invalid_key",
            "unknown_kid",
            valid().signing_key(&unpublished),
        ),
        (
            "invalid_request",
            "unsupported_type",
            valid().header("typ", "JWT"),
        ),
        (
            "invalid_request",
            "unsupported_critical",
            valid().header("crit", json!(["exp"])),
        ),
        (
            "invalid_issuer",
            "issuer_mismatch",
            valid().iss("https://evil.example"),
        ),
        (
            "invalid_audience",
            "audience_mismatch",
            valid().aud("https://other.example"),
        ),
        (
            "invalid_request",
            "missing_iat",
            valid().without_claim("iat"),
        ),
        (
            "invalid_request",
            "issued_in_future",
            valid().iat(now + 600),
        ),
        ("invalid_request", "too_old", valid().iat(now - 7200)),
        ("invalid_request", "expired", valid().exp(now - 600)),
        (
            "invalid_request",
            "missing_jti",
            valid().without_claim("jti"),
        ),
        (
            "invalid_request",
            "bad_events",
            valid().claim("events", json!([])),
        ),
        (
            "invalid_request",
            "not_one_event",
            valid().claim(
                "events",
                json!({ disabled.clone(): {}, risc("account-enabled"): {} }),
            ),
        ),
        (
            "invalid_request",
            "missing_subject",
            valid().without_claim("sub_id"),
        ),
        (
            "invalid_request",
            "subject_no_mapping",
            valid().claim(
                "sub_id",
                json!({"format": "email", "email": "alice@example.com"}),
            ),
        ),
        (
            "invalid_request",
            "subject_foreign_issuer",
            valid().claim(
                "sub_id",
                json!({"format": "iss_sub", "iss": "https://evil.example", "sub": "alice"}),
            ),
        ),
        (
            "invalid_request",
            "subject_unknown_format",
            valid().claim("sub_id", json!({"format": "x509", "id": "1"})),
        ),
        ("invalid_request", "txn", valid().claim("txn", 5)),
    ];
    for (err, rule, token) in cases {
        let response = push(&app, token.sign()).await;
        assert_set_refused(&app, response, StatusCode::BAD_REQUEST, err, rule).await;
    }
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"revokd_signals_total{event="unknown",outcome="rejected",rule="bad_signature",stream="okta"} 1"#), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_must_be_authenticated_typed_bounded_and_to_a_stream() {
    let idp = TestIdp::start();
    let app = signals_app(&idp, Backend::Embedded).await;
    let token = || set(&idp, &risc("account-disabled")).sign();
    let ct = "application/secevent+jwt";
    for bearer in [None, Some("wrong-token-of-some-length")] {
        let response = push_with(&app, "okta", bearer, ct, token()).await;
        assert_eq!(response.headers().get("www-authenticate"), None);
        assert_set_refused(
            &app,
            response,
            StatusCode::UNAUTHORIZED,
            "authentication_failed",
            "bearer token",
        )
        .await;
    }
    let response = push_with(&app, "okta", Some(PUSH_TOKEN), "application/jwt", token()).await;
    assert_set_refused(
        &app,
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "secevent+jwt",
    )
    .await;
    let response = push_with(&app, "okta", Some(PUSH_TOKEN), ct, "x".repeat(17 * 1024)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = push_with(&app, "okta", Some(PUSH_TOKEN), ct, "not-a-jwt".into()).await;
    assert_set_refused(
        &app,
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "malformed",
    )
    .await;
    let response = push_with(&app, "nope", Some(PUSH_TOKEN), ct, token()).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unknown_stream", "{body}");
    assert!(events(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_record_only_events_are_acknowledged_counted_and_change_nothing() {
    let idp = TestIdp::start();
    let app = signals_app(&idp, Backend::Embedded).await;
    for event in [
        "https://example.com/events/something-new".to_owned(),
        format!("{CAEP}assurance-level-change"),
        risc("identifier-changed"),
        "https://schemas.openid.net/secevent/ssf/event-type/verification".to_owned(),
    ] {
        assert_eq!(
            push(&app, set(&idp, &event).sign()).await.status(),
            StatusCode::ACCEPTED,
            "{event}"
        );
    }
    assert!(events(&app).await.is_empty());
    let metrics = app.metrics().await;
    for label in [
        "unknown",
        "assurance-level-change",
        "risc-identifier-changed",
        "verification",
    ] {
        assert!(
            metrics.contains(&format!(r#"revokd_signals_total{{event="{label}",outcome="no_change",rule="",stream="okta"}} 1"#)),
            "{label}: {metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caep_session_revoked_ends_the_session_or_the_users_tokens() {
    let idp = TestIdp::start();
    let app = signals_app(&idp, Backend::Embedded).await;
    let event = format!("{CAEP}session-revoked");
    let session = set(&idp, &event).claim(
        "sub_id",
        json!({"user": {"format": "opaque", "id": "bob"}, "session": {"format": "opaque", "id": "s-7"}}),
    );
    assert_eq!(
        push(&app, session.sign()).await.status(),
        StatusCode::ACCEPTED
    );
    let verdict = app.verdict(&[("iss", idp.issuer()), ("sid", "s-7")]).await;
    assert_eq!(verdict["reason"], "session_revoked");
    // The user only: every token of the user until now.
    let user = set(&idp, &event).claim("sub_id", json!({"format": "opaque", "id": "carol"}));
    assert_eq!(push(&app, user.sign()).await.status(), StatusCode::ACCEPTED);
    let iat = (unix_now() - 5).to_string();
    let verdict = app
        .verdict(&[("iss", idp.issuer()), ("sub", "carol"), ("iat", &iat)])
        .await;
    assert_eq!(verdict["reason"], "subject_revoked_before");
}

async fn gtr(
    app: &TestApp,
    provider: &str,
    bearer: Option<&str>,
    ct: &str,
    body: String,
) -> Response {
    let mut request = app
        .client
        .post(app.url(&format!("/global-token-revocation/{provider}")))
        .header("content-type", ct)
        .body(body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    request.send().await.unwrap()
}

fn caller(idp: &TestIdp) -> LogoutTokenBuilder {
    idp.logout_token()
        .without_claim("events")
        .without_claim("sub")
        .header("typ", "JWT")
        .aud(GTR_AUD)
}

fn sub_id(idp: &TestIdp, sub: &str) -> String {
    json!({"sub_id": {"format": "iss_sub", "iss": idp.issuer(), "sub": sub}}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_token_revocation_revokes_the_users_tokens_for_a_signed_caller() {
    let idp = TestIdp::start();
    let app = signals_app(&idp, Backend::Embedded).await;
    let iat = unix_now() - 30;
    let token = login_token(&idp, iat);
    assert_eq!(forward_auth(&app, &token).await.status(), StatusCode::OK);
    let json = "application/json";
    let call = caller(&idp).sign();
    let response = gtr(&app, "idp", Some(&call), json, sub_id(&idp, "alice")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The same caller token again (a replay): answered alike, applied once.
    let replay = gtr(&app, "idp", Some(&call), json, sub_id(&idp, "alice")).await;
    assert_eq!(replay.status(), StatusCode::NO_CONTENT);
    let refused = forward_auth(&app, &token).await;
    assert_eq!(refused.headers()["revokd-reason"], "subject_revoked_before");
    let iat_text = iat.to_string();
    let verdict = app
        .verdict(&[("iss", idp.issuer()), ("sub", "alice"), ("iat", &iat_text)])
        .await;
    assert_eq!(verdict["reason"], "subject_revoked_before");
    let recorded = events(&app).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["actor"], "gtr:idp");
    // Okta's opaque user id is the provider's `sub` (subject_formats_as_sub).
    let opaque = json!({"sub_id": {"format": "opaque", "id": "00u1"}}).to_string();
    let response = gtr(&app, "idp", Some(&caller(&idp).sign()), json, opaque).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(app.metrics().await.contains(
        r#"revokd_global_token_revocations_total{outcome="applied",provider="idp",rule=""} 2"#
    ));
    assert!(app.metrics().await.contains(
        r#"revokd_global_token_revocations_total{outcome="replayed",provider="idp",rule=""} 1"#
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_token_revocation_answers_every_status_of_the_draft() {
    let idp = TestIdp::start();
    let app = signals_app(&idp, Backend::Embedded).await;
    let json = "application/json";
    let body = || sub_id(&idp, "alice");
    let ok = || Some(caller(&idp).sign());
    let now = unix_now();
    let cases: Vec<(StatusCode, &str, Response)> = vec![
        (StatusCode::NOT_FOUND, "unknown_provider", gtr(&app, "nope", ok().as_deref(), json, body()).await),
        (StatusCode::UNAUTHORIZED, "unauthorized", gtr(&app, "idp", None, json, body()).await),
        (StatusCode::UNAUTHORIZED, "bad_signature", gtr(&app, "idp", Some(&caller(&idp).corrupt_signature().sign()), json, body()).await),
        (StatusCode::UNAUTHORIZED, "alg_none", gtr(&app, "idp", Some(&caller(&idp).unsigned().sign()), json, body()).await),
        (StatusCode::UNAUTHORIZED, "issuer_mismatch", gtr(&app, "idp", Some(&caller(&idp).iss("https://evil.example").sign()), json, body()).await),
        (StatusCode::UNAUTHORIZED, "audience_mismatch", gtr(&app, "idp", Some(&caller(&idp).aud("https://other.example").sign()), json, body()).await),
        (StatusCode::UNAUTHORIZED, "expired", gtr(&app, "idp", Some(&caller(&idp).exp(now - 600).sign()), json, body()).await),
        (StatusCode::UNAUTHORIZED, "missing_exp", gtr(&app, "idp", Some(&caller(&idp).without_claim("exp").sign()), json, body()).await),
        (StatusCode::UNAUTHORIZED, "too_old", gtr(&app, "idp", Some(&caller(&idp).iat(now - 3600).sign()), json, body()).await),
        (StatusCode::UNAUTHORIZED, "unsupported_type", gtr(&app, "idp", Some(&caller(&idp).header("typ", "logout+jwt").sign()), json, body()).await),
        (StatusCode::UNAUTHORIZED, "malformed", gtr(&app, "idp", Some("not-a-jwt"), json, body()).await),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", gtr(&app, "idp", ok().as_deref(), "text/plain", body()).await),
        (StatusCode::BAD_REQUEST, "not JSON", gtr(&app, "idp", ok().as_deref(), json, "{".into()).await),
        (StatusCode::BAD_REQUEST, "sub_id", gtr(&app, "idp", ok().as_deref(), json, "{}".into()).await),
        (StatusCode::BAD_REQUEST, "subject_no_mapping", gtr(&app, "idp", ok().as_deref(), json, json!({"sub_id": {"format": "email", "email": "a@example.com"}}).to_string()).await),
        (StatusCode::FORBIDDEN, "provider's issuer", gtr(&app, "idp", ok().as_deref(), json, json!({"sub_id": {"format": "iss_sub", "iss": "https://evil.example", "sub": "alice"}}).to_string()).await),
    ];
    for (status, needle, response) in cases {
        assert_eq!(response.status(), status, "{needle}");
        let body: Value = response.json().await.unwrap();
        assert!(body.to_string().contains(needle), "{needle} not in {body}");
    }
    assert!(events(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_applied_before_a_restart_is_not_applied_again_after_it() {
    for backend in [Backend::Embedded, Backend::Redis] {
        let idp = TestIdp::start();
        let app = signals_app(&idp, backend).await;
        let ready = app.readiness().await;
        assert_eq!(ready["checks"]["stream:okta"]["status"], "up", "{ready}");
        assert_eq!(ready["checks"]["stream:okta"]["kind"], "ssf_stream");
        let purged = set(&idp, &risc("account-purged")).jti("purge-1").sign();
        assert_eq!(
            push(&app, purged.clone()).await.status(),
            StatusCode::ACCEPTED
        );
        assert!(
            app.metrics()
                .await
                .contains(r#"revokd_signals_last_received_timestamp_seconds{stream="okta"}"#)
        );
        let before = events(&app).await;
        assert!(before.iter().any(|e| e["kind"] == "subject_disabled"));

        let infra = app.stop().await;
        let app = spawn_on(infra, configure(&idp)).await;
        wait_for_provider(&app, "idp").await;
        // The transmitter retries (it never saw the 202): acknowledged, and
        // the disable is not recorded twice.
        assert_eq!(push(&app, purged).await.status(), StatusCode::ACCEPTED);
        let after = events(&app).await;
        assert_eq!(
            after
                .iter()
                .filter(|e| e["kind"] == "subject_disabled")
                .count(),
            1,
            "{backend:?}: {after:?}"
        );
        let iat = (unix_now() - 60).to_string();
        let verdict = app
            .verdict(&[("iss", idp.issuer()), ("sub", "alice"), ("iat", &iat)])
            .await;
        assert_eq!(verdict["reason"], "subject_disabled");
        assert!(app.metrics().await.contains(r#"revokd_signals_total{event="risc-account-purged",outcome="replayed",rule="",stream="okta"} 1"#));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_providers_keys_a_stream_is_down_and_sets_are_answered_503() {
    let idp = TestIdp::start();
    idp.set_down(true);
    let app = spawn_on(Infra::new(Backend::Embedded), configure(&idp)).await;
    let ready = app.readiness().await;
    let stream = &ready["checks"]["stream:okta"];
    assert_eq!(stream["status"], "down", "{ready}");
    assert!(
        stream["error"]
            .as_str()
            .unwrap()
            .contains("keys not loaded"),
        "{ready}"
    );
    let response = push(&app, set(&idp, &risc("account-disabled")).sign()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert!(events(&app).await.is_empty());
    assert!(app.metrics().await.contains(r#"revokd_signals_total{event="unknown",outcome="unavailable",rule="keys_unavailable",stream="okta"} 1"#));
}

/// A Shared Signals transmitter's RFC 8936 poll endpoint, in process:
/// `POST /poll` with its bearer token; it removes what `ack` names, records
/// `setErrs`, and answers at most `maxEvents` of the SETs still queued with
/// `moreAvailable`; with nothing queued and `returnImmediately` false it
/// holds the request 200 ms (a short long poll). SETs named in
/// `redeliver_once` are delivered once more after their ack (an ack lost,
/// as in a restart between poll and ack).
struct TestTransmitter {
    shared: std::sync::Arc<TransmitterState>,
    server: actix_web::dev::ServerHandle,
}

#[derive(Default)]
struct TransmitterState {
    queue: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    acked: std::sync::Mutex<Vec<String>>,
    errs: std::sync::Mutex<serde_json::Map<String, Value>>,
    redeliver_once: std::sync::Mutex<Vec<String>>,
    largest_batch: std::sync::atomic::AtomicUsize,
}

const POLL_TOKEN: &str = "poll-token-revokd-presents";

async fn poll(
    state: actix_web::web::Data<TransmitterState>,
    req: actix_web::HttpRequest,
    body: actix_web::web::Json<Value>,
) -> actix_web::HttpResponse {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {POLL_TOKEN}")) {
        return actix_web::HttpResponse::Unauthorized().finish();
    }
    for jti in body["ack"].as_array().into_iter().flatten() {
        let jti = jti.as_str().unwrap().to_owned();
        let mut again = state.redeliver_once.lock().unwrap();
        if let Some(i) = again.iter().position(|j| *j == jti) {
            again.remove(i);
        } else {
            state.queue.lock().unwrap().remove(&jti);
        }
        state.acked.lock().unwrap().push(jti);
    }
    for (jti, err) in body["setErrs"].as_object().into_iter().flatten() {
        state.queue.lock().unwrap().remove(jti);
        state.errs.lock().unwrap().insert(jti.clone(), err.clone());
    }
    let max = body["maxEvents"].as_u64().unwrap() as usize;
    if state.queue.lock().unwrap().is_empty() && body["returnImmediately"] == false {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let queue = state.queue.lock().unwrap();
    let sets: serde_json::Map<String, Value> = queue
        .iter()
        .take(max)
        .map(|(jti, token)| (jti.clone(), Value::String(token.clone())))
        .collect();
    state
        .largest_batch
        .fetch_max(sets.len(), std::sync::atomic::Ordering::SeqCst);
    actix_web::HttpResponse::Ok().json(json!({"sets": sets, "moreAvailable": queue.len() > max}))
}

impl TestTransmitter {
    fn start() -> (Self, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/poll",
            listener.local_addr().unwrap().port()
        );
        let shared = std::sync::Arc::new(TransmitterState::default());
        let data = actix_web::web::Data::from(std::sync::Arc::clone(&shared));
        let (started, handle) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new()
                        .app_data(data.clone())
                        .route("/poll", actix_web::web::post().to(poll))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
                started.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        let server = handle.recv().unwrap();
        (Self { shared, server }, url)
    }

    fn queue(&self, jti: &str, token: String) {
        self.shared
            .queue
            .lock()
            .unwrap()
            .insert(jti.to_owned(), token);
    }

    fn acked(&self) -> Vec<String> {
        self.shared.acked.lock().unwrap().clone()
    }

    fn errs(&self) -> serde_json::Map<String, Value> {
        self.shared.errs.lock().unwrap().clone()
    }
}

impl Drop for TestTransmitter {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polled_stream_acks_applied_sets_reports_refused_ones_and_applies_a_redelivery_once() {
    for backend in [Backend::Embedded, Backend::Redis] {
        let idp = TestIdp::start();
        let (transmitter, url) = TestTransmitter::start();
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("poll-token");
        std::fs::write(&token_file, POLL_TOKEN).unwrap();
        transmitter.queue(
            "a-disable",
            set(&idp, &risc("account-disabled")).jti("a-disable").sign(),
        );
        transmitter.queue(
            "b-unknown",
            set(&idp, "https://example.com/new-event")
                .jti("b-unknown")
                .sign(),
        );
        transmitter.queue(
            "c-bad",
            set(&idp, &risc("account-disabled"))
                .aud("https://other.example")
                .jti("c-bad")
                .sign(),
        );
        transmitter
            .shared
            .redeliver_once
            .lock()
            .unwrap()
            .push("a-disable".into());
        let configure = configure(&idp);
        let app = spawn_on(Infra::new(backend), move |s| {
            configure(s);
            let stream = &mut s.streams[0];
            stream.push_token_sha256 = None;
            stream.poll_url = Some(url);
            stream.poll_token_file = Some(token_file);
            stream.poll_max_events = 1;
        })
        .await;
        for _ in 0..100 {
            if transmitter.acked().len() >= 3 && transmitter.errs().len() == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let acked = transmitter.acked();
        // a-disable twice (its first ack "lost"), b-unknown once.
        assert_eq!(
            acked.iter().filter(|j| *j == "a-disable").count(),
            2,
            "{acked:?}"
        );
        assert!(acked.contains(&"b-unknown".to_owned()), "{acked:?}");
        let errs = transmitter.errs();
        assert_eq!(errs["c-bad"]["err"], "invalid_audience", "{errs:?}");
        assert!(!acked.contains(&"c-bad".to_owned()));
        assert_eq!(
            transmitter
                .shared
                .largest_batch
                .load(std::sync::atomic::Ordering::SeqCst),
            1
        );
        let recorded = events(&app).await;
        assert_eq!(
            recorded
                .iter()
                .filter(|e| e["kind"] == "subject_disabled")
                .count(),
            1,
            "{backend:?}: {recorded:?}"
        );
        let iat = (unix_now() - 60).to_string();
        let verdict = app
            .verdict(&[("iss", idp.issuer()), ("sub", "alice"), ("iat", &iat)])
            .await;
        assert_eq!(verdict["reason"], "subject_disabled");
        // A polled stream without a push token refuses pushes.
        let pushed = push(&app, set(&idp, &risc("account-enabled")).sign()).await;
        assert_eq!(pushed.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.readiness().await["checks"]["stream:okta"]["status"],
            "up"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_poll_shows_in_readyz() {
    let idp = TestIdp::start();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("poll-token");
    std::fs::write(&token_file, "not-the-token").unwrap();
    let (_transmitter, url) = TestTransmitter::start();
    let configure = configure(&idp);
    let app = spawn_on(Infra::new(Backend::Embedded), move |s| {
        configure(s);
        s.streams[0].poll_url = Some(url);
        s.streams[0].poll_token_file = Some(token_file);
    })
    .await;
    wait_for_provider(&app, "idp").await;
    let mut last = Value::Null;
    for _ in 0..50 {
        last = app.readiness().await;
        if last["checks"]["stream:okta"]["status"] == "down" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let error = last["checks"]["stream:okta"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("last poll failed") && error.contains("status 401"),
        "{last}"
    );
    // Readiness itself does not depend on a stream.
    assert_eq!(last["status"], "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_transmitter_pauses_is_down_in_readyz_until_enabled() {
    let idp = TestIdp::start();
    let app = signals_app(&idp, Backend::Embedded).await;
    let updated = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";
    let status = |status: &str| {
        set(&idp, updated)
            .without_claim("sub_id")
            .claim(
                "events",
                json!({ updated: {"status": status, "reason": "maintenance"} }),
            )
            .sign()
    };
    assert_eq!(
        push(&app, status("paused")).await.status(),
        StatusCode::ACCEPTED
    );
    let ready = app.readiness().await;
    let stream = &ready["checks"]["stream:okta"];
    assert_eq!(stream["status"], "down", "{ready}");
    assert!(
        stream["error"].as_str().unwrap().contains("`paused`"),
        "{ready}"
    );
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        push(&app, status("enabled")).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.readiness().await["checks"]["stream:okta"]["status"],
        "up"
    );
    assert!(events(&app).await.is_empty());
}

/// The JSON error body of a refused push or call: RFC 8935's `err` for a
/// refused SET, revokd's `error` for the rest; never empty.
async fn assert_refused(response: Response, allowed: &[StatusCode], what: &str) {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{what}: the error body is not JSON: {e}"));
    assert!(allowed.contains(&status), "{what}: {status} {body}");
    let code = body["err"].as_str().or(body["error"].as_str());
    assert!(code.is_some_and(|c| !c.is_empty()), "{what}: {body}");
}

/// Both endpoints face the internet: every part of a valid SET and of a
/// valid caller token, resized to every length, and the Universal Logout
/// body cut at every byte, are refused with a precise status and body —
/// 400 or 401, or 503 when the damage names a `kid` the keys lack (fetched
/// again at most once a minute) — never a panic, and nothing is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_sets_caller_tokens_and_bodies_are_refused_without_a_panic() {
    use futures_util::StreamExt;

    let idp = TestIdp::start();
    let app = signals_app(&idp, Backend::Embedded).await;
    let refused = [
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::SERVICE_UNAVAILABLE,
    ];

    let sets = crate::mutated::jws_mutations(&set(&idp, &risc("account-disabled")).sign());
    let callers = crate::mutated::jws_mutations(&caller(&idp).sign());
    let body = sub_id(&idp, "alice");
    let bodies: Vec<String> = (0..body.len()).map(|n| body[..n].to_owned()).collect();
    let valid_caller = caller(&idp).sign();
    let count = sets.len() + callers.len() + bodies.len();

    let mut answers = futures_util::stream::iter(
        sets.into_iter()
            .map(|t| ("SET", t, None))
            .chain(callers.into_iter().map(|t| ("caller token", t, None)))
            .chain(bodies.into_iter().map(|b| ("body", b, Some(()))))
            .map(|(what, input, is_body)| {
                let (app, valid_caller, body) = (&app, &valid_caller, &body);
                async move {
                    let response = match (what, is_body) {
                        ("SET", _) => push(app, input.clone()).await,
                        (_, Some(())) => {
                            gtr(
                                app,
                                "idp",
                                Some(valid_caller),
                                "application/json",
                                input.clone(),
                            )
                            .await
                        }
                        _ => gtr(app, "idp", Some(&input), "application/json", body.clone()).await,
                    };
                    (what, input, response)
                }
            }),
    )
    .buffer_unordered(8);
    while let Some((what, input, response)) = answers.next().await {
        assert_refused(response, &refused, &format!("{what} {input}")).await;
    }
    assert!(count > 500, "only {count} mutations");
    assert!(events(&app).await.is_empty(), "a mutated input was applied");
}

/// A person's login token at the provider, as an app would hold it.
fn login_token_of(idp: &TestIdp, sub: &str, iat: i64) -> String {
    idp.logout_token()
        .without_claim("events")
        .sub(sub)
        .sid(&format!("session-of-{sub}"))
        .iat(iat)
        .exp(unix_now() + 600)
        .sign()
}

/// Waits (bounded) until `/v1/forward-auth` at `app` refuses `token`; the
/// refusal.
async fn refused_at(app: &TestApp, token: &str) -> Response {
    for _ in 0..50 {
        let response = forward_auth(app, token).await;
        if response.status() != StatusCode::OK {
            return response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the token is still accepted after 2.5 s");
}

/// [`configure`], and a SCIM client `entra` of the same provider mapping
/// `externalId` to `sub`.
fn configure_with_scim(idp: &TestIdp) -> impl FnOnce(&mut Settings) + use<> {
    let signals = configure(idp);
    let issuer = idp.issuer().to_owned();
    move |s: &mut Settings| {
        signals(s);
        s.scim = vec![crate::scim::client("entra", &issuer, crate::scim::TOKEN)];
    }
}

/// A SCIM request of the `entra` client to `app`.
async fn scim_call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut request = app
        .client
        .request(method, app.url(&format!("/scim/v2{path}")))
        .bearer_auth(crate::scim::TOKEN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    request.send().await.unwrap()
}

/// End to end across two instances on one real Redis: a RISC
/// `account-disabled` pushed to instance A, a Global Token Revocation
/// call to instance A, and an Entra-style SCIM deactivation (`PATCH`
/// `active` `"False"`) sent to instance A, each make `/v1/check` and
/// `/v1/forward-auth` at instance B refuse that person's existing tokens
/// (B learns it through the store's change feed), and only that person's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_to_one_instance_is_enforced_by_another_on_the_same_redis() {
    let idp = TestIdp::start();
    let infra = Infra::new(Backend::Redis);
    let a = spawn_on(infra.clone(), configure_with_scim(&idp)).await;
    let b = spawn_on(infra, configure_with_scim(&idp)).await;
    wait_for_provider(&a, "idp").await;
    wait_for_provider(&b, "idp").await;
    let iat = unix_now() - 30;
    let iat_text = iat.to_string();
    let tokens: Vec<(&str, String)> = ["alice", "bob", "carol", "dave"]
        .into_iter()
        .map(|sub| (sub, login_token_of(&idp, sub, iat)))
        .collect();
    for (sub, token) in &tokens {
        for app in [&a, &b] {
            assert_eq!(
                forward_auth(app, token).await.status(),
                StatusCode::OK,
                "{sub}"
            );
            let check = [
                ("iss", idp.issuer()),
                ("sub", *sub),
                ("iat", iat_text.as_str()),
            ];
            assert_eq!(app.verdict(&check).await["active"], true, "{sub}");
        }
    }

    // RISC account-disabled for alice, to A.
    let disabled = set(&idp, &risc("account-disabled"))
        .jti("e2e-disable")
        .sign();
    assert_eq!(push(&a, disabled).await.status(), StatusCode::ACCEPTED);
    let refused = refused_at(&b, &tokens[0].1).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["revokd-reason"], "subject_disabled");
    let check = [
        ("iss", idp.issuer()),
        ("sub", "alice"),
        ("iat", iat_text.as_str()),
    ];
    assert_eq!(b.verdict(&check).await["reason"], "subject_disabled");

    // Global Token Revocation for bob, to A.
    let call = caller(&idp).sign();
    let response = gtr(
        &a,
        "idp",
        Some(&call),
        "application/json",
        sub_id(&idp, "bob"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let refused = refused_at(&b, &tokens[1].1).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["revokd-reason"], "subject_revoked_before");
    let check = [
        ("iss", idp.issuer()),
        ("sub", "bob"),
        ("iat", iat_text.as_str()),
    ];
    assert_eq!(b.verdict(&check).await["reason"], "subject_revoked_before");

    // SCIM: dave and carol are provisioned (active: nothing is revoked),
    // then Entra ID deactivates dave, through A.
    let mut ids = Vec::new();
    for sub in ["dave", "carol"] {
        let created = scim_call(
            &a,
            reqwest::Method::POST,
            "/Users",
            Some(json!({
                "schemas": [crate::scim::USER],
                "userName": format!("{sub}@example.com"),
                "externalId": sub,
                "active": true,
            })),
        )
        .await;
        assert_eq!(created.status(), StatusCode::CREATED, "{sub}");
        let created: Value = created.json().await.unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let disable = json!({
        "schemas": [crate::scim::PATCH],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    });
    let patched = scim_call(
        &a,
        reqwest::Method::PATCH,
        &format!("/Users/{}", ids[0]),
        Some(disable),
    )
    .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let refused = refused_at(&b, &tokens[3].1).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["revokd-reason"], "subject_disabled");
    let check = [
        ("iss", idp.issuer()),
        ("sub", "dave"),
        ("iat", iat_text.as_str()),
    ];
    assert_eq!(b.verdict(&check).await["reason"], "subject_disabled");
    // B serves the same SCIM users: dave inactive, carol active.
    for (id, active) in [(&ids[0], false), (&ids[1], true)] {
        let user: Value = scim_call(&b, reqwest::Method::GET, &format!("/Users/{id}"), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(user["active"], active, "{user}");
    }

    // carol is untouched on both; the changes were recorded once, by A.
    for app in [&a, &b] {
        let check = [
            ("iss", idp.issuer()),
            ("sub", "carol"),
            ("iat", iat_text.as_str()),
        ];
        assert_eq!(app.verdict(&check).await["active"], true);
        assert_eq!(
            forward_auth(app, &tokens[2].1).await.status(),
            StatusCode::OK
        );
    }
    let recorded = events(&b).await;
    let actors: Vec<&str> = recorded
        .iter()
        .filter_map(|e| e["actor"].as_str())
        .collect();
    assert!(
        actors.contains(&"ssf:okta")
            && actors.contains(&"gtr:idp")
            && actors.contains(&"scim:entra"),
        "{recorded:?}"
    );
    // Provisioning carol (active, never disabled) recorded nothing.
    assert!(
        !recorded.iter().any(|e| e.to_string().contains("carol")),
        "{recorded:?}"
    );
    // B heard nothing itself: it enforces what A stored.
    let patch_served =
        r#"revokd_scim_requests_total{client="entra",operation="patch",outcome="ok""#;
    assert!(a.metrics().await.contains(patch_served), "A counts it");
    let heard = b.metrics().await;
    assert!(!heard.contains(r#"revokd_signals_total{event="risc-account-disabled""#));
    assert!(!heard.contains(patch_served), "{heard}");
}

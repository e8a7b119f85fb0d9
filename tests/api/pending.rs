//! No logout lost while keys are missing (issue 17 item 18, DESIGN 10): a
//! real OpenID Provider (panva's oidc-provider) posts its logout token once,
//! while revokd cannot reach the provider's JWKS; revokd keeps it, answers
//! 503, and applies it when the JWKS comes back, with no second post.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backchannel::{free_port, provider, provider_posting_to_a_free_port, register};
use crate::helpers::{Backend, TestApp, spawn_app_with};

/// Serves `body` as the JWKS on `port` from now on: the provider's key
/// endpoint "comes back". Until this is called nothing listens there.
fn serve_jwks_on(port: u16, body: Vec<u8>) -> tokio::task::JoinHandle<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the JWKS port");
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    })
}

async fn recent(app: &TestApp) -> Vec<Value> {
    app.logout_tokens().await.as_array().unwrap().clone()
}

async fn metric(app: &TestApp, line_start: &str) -> Option<f64> {
    let text = app.metrics().await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn a_logout_posted_while_the_jwks_is_unreachable_takes_effect_when_it_returns(
    backend: Backend,
) {
    // Arrange: a real provider whose JWKS revokd reads from a port where
    // nothing answers yet.
    let (port, idp) = provider_posting_to_a_free_port().await;
    let jwks = reqwest::get(idp.jwks_uri())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let jwks_port = free_port();
    let mut settings = provider("test-idp", idp.issuer(), &idp.client().client_id);
    settings.jwks_uri = Some(format!("http://127.0.0.1:{jwks_port}/jwks"));
    let app = spawn_app_with(backend, move |s| {
        s.listen = format!("127.0.0.1:{port}").parse().unwrap();
        s.providers = vec![settings];
        s.backchannel.pending_retry_interval = Duration::from_millis(200);
    })
    .await;
    let alice = idp.login("alice").await;
    let sid = alice.sid.clone().unwrap();
    let iss = idp.issuer().to_owned();
    assert_eq!(
        register(&app, &iss, &sid, "alice", "alice-app-token")
            .await
            .status(),
        StatusCode::OK
    );

    // Act: the provider sends its logout token, once, while revokd has no
    // keys to verify it with.
    idp.logout(&alice).await;

    // Assert: kept, not applied, visible as pending.
    let mut records = Vec::new();
    for _ in 0..50 {
        records = recent(&app).await;
        if !records.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "pending", "{records:?}");
    assert_eq!(records[0]["rule"], "keys_not_loaded");
    let pending_id = records[0]["pending_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.verdict(&[("jti", "alice-app-token")]).await["active"],
        true
    );
    let ready = app.readiness().await;
    assert!(
        ready["checks"]["provider:test-idp"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("1 logout token(s) kept"),
        "{ready}"
    );
    assert_eq!(
        metric(&app, "revokd_logout_tokens_pending ").await,
        Some(1.0)
    );

    // The JWKS comes back; nobody posts anything again.
    let _jwks = serve_jwks_on(jwks_port, jwks);

    let mut last = Value::Null;
    for _ in 0..300 {
        last = app.verdict(&[("jti", "alice-app-token")]).await;
        if last["reason"] == "session_revoked" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last["reason"], "session_revoked", "{last}");
    // The retry pass records its outcome and counts what is still kept
    // after it applied the change the check already sees: wait for it.
    let mut records = Vec::new();
    for _ in 0..50 {
        records = recent(&app).await;
        if records[0]["outcome"] == "revoked"
            && metric(&app, "revokd_logout_tokens_pending ").await == Some(0.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(records[0]["outcome"], "revoked", "{records:?}");
    assert_eq!(records[0]["pending_id"], pending_id.as_str());
    assert!(records[0]["pending_since"].is_number());
    assert_eq!(records[0]["sid"], sid.as_str());
    let events: Value = app
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .unwrap();
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "applied once: {events:?}");
    assert_eq!(events[0]["actor"], "backchannel:test-idp");
    assert_eq!(
        metric(
            &app,
            "revokd_logout_tokens_pending_total{outcome=\"applied\"}"
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        metric(&app, "revokd_logout_tokens_pending ").await,
        Some(0.0)
    );
}

crate::on_both_stores!(a_logout_posted_while_the_jwks_is_unreachable_takes_effect_when_it_returns);

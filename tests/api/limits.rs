//! Slow clients cannot starve the check path (issue 17, item 2).
//!
//! Every connection here is to 127.0.0.1, bounded in number and in time:
//! each slow sender stops after `SLOW_FOR` whatever happens.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, CLIENT_KEY, TestApp, spawn_app_with};

/// The limits the attack exceeds.
const BODY_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_BODY_REQUESTS: usize = 8;
const MAX_CONNECTIONS: usize = 48;
/// Slow connections opened: more than both limits.
const SLOW_CONNECTIONS: usize = 80;
/// How long a slow sender keeps sending (one byte per `DRIP`) at most.
const SLOW_FOR: Duration = Duration::from_secs(4);
const DRIP: Duration = Duration::from_millis(100);

/// What a slow sender got back: the status (None: no answer) and when.
struct Outcome {
    status: Option<u16>,
    body: String,
    after: Duration,
}

/// A `/backchannel-logout` request announcing 1,000 bytes of body and
/// sending one byte per `DRIP`, for at most `SLOW_FOR`, while reading
/// whatever answer comes.
async fn slow_sender(port: u16) -> Outcome {
    let started = Instant::now();
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return Outcome {
            status: None,
            body: "connect failed".into(),
            after: started.elapsed(),
        };
    };
    let (mut read, mut write) = stream.into_split();
    let head = "POST /backchannel-logout HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n";
    let drip = tokio::spawn(async move {
        if write.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let deadline = Instant::now() + SLOW_FOR;
        while Instant::now() < deadline {
            tokio::time::sleep(DRIP).await;
            if write.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let read_all = read.read_to_end(&mut answer);
    let _ = tokio::time::timeout(SLOW_FOR + Duration::from_secs(1), read_all).await;
    let after = started.elapsed();
    drip.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Outcome {
        status,
        body,
        after,
    }
}

/// A check on a new connection (no pooled one), and how long it took.
async fn fresh_check(app: &TestApp) -> (Result<StatusCode, String>, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let started = Instant::now();
    let status = client
        .get(app.url("/v1/check"))
        .bearer_auth(CLIENT_KEY)
        .query(&[("jti", "t-1")])
        .send()
        .await
        .map(|r| r.status())
        .map_err(|e| format!("{e:#}"));
    (status, started.elapsed())
}

async fn slow_bodies_are_cut_off_while_checks_keep_answering(backend: Backend) {
    // Arrange
    let app = spawn_app_with(backend, |s| {
        s.http.body_timeout = BODY_TIMEOUT;
        s.http.max_body_requests = MAX_BODY_REQUESTS;
        s.http.max_connections = MAX_CONNECTIONS;
        s.http.workers = 2;
    })
    .await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();

    // Act: the slow senders, then checks on new connections while they send.
    let attack: Vec<_> = (0..SLOW_CONNECTIONS)
        .map(|_| tokio::spawn(slow_sender(port)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut checks = Vec::new();
    for _ in 0..10 {
        checks.push(fresh_check(&app).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut outcomes = Vec::new();
    for sender in attack {
        outcomes.push(sender.await.unwrap());
    }

    // Assert: every check answered without waiting for a slow body to be
    // cut off (without the bounds they wait for a sender to give up, up to
    // `SLOW_FOR`). The bound is `BODY_TIMEOUT`, not a tight latency: this
    // is a liveness test on a shared machine, not a benchmark.
    for (status, took) in &checks {
        assert_eq!(status.as_ref().ok(), Some(&StatusCode::OK), "{status:?}");
        assert!(*took < BODY_TIMEOUT, "a check took {took:?}");
    }
    // ... and every slow sender got a JSON answer well before it would
    // have finished: 408 after `http.body_timeout` for the bodies being
    // read, 503 at once for those beyond `http.max_body_requests`.
    let mut timed_out = 0;
    for outcome in &outcomes {
        let body: Value = serde_json::from_str(&outcome.body)
            .unwrap_or_else(|_| panic!("{:?}: {:?}", outcome.status, outcome.body));
        match outcome.status {
            Some(408) => {
                timed_out += 1;
                assert_eq!(body["error"], "request_timeout", "{body}");
                assert!(
                    outcome.after >= BODY_TIMEOUT && outcome.after < BODY_TIMEOUT * 3,
                    "408 after {:?}",
                    outcome.after
                );
            }
            Some(503) => {
                assert_eq!(body["error"], "temporarily_unavailable", "{body}");
                assert!(
                    body["error_description"]
                        .as_str()
                        .unwrap()
                        .contains("http.max_body_requests"),
                    "{body}"
                );
            }
            other => panic!("a slow sender got {other:?} after {:?}", outcome.after),
        }
    }
    assert!(
        (1..=SLOW_CONNECTIONS - MAX_BODY_REQUESTS).contains(&timed_out),
        "{timed_out} bodies timed out"
    );
}

crate::on_both_stores!(slow_bodies_are_cut_off_while_checks_keep_answering);

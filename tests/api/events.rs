//! `GET /v1/events`: live revocation events over Server-Sent Events,
//! resumable with `Last-Event-ID`.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_KEY, Backend, CLIENT_KEY, TestApp, assert_error, spawn_app, spawn_app_with, spawn_on,
};
use crate::on_both_stores;

/// How long a test waits for a frame that must come.
const PATIENCE: Duration = Duration::from_secs(5);

/// One parsed SSE frame.
#[derive(Debug, Default, Clone, PartialEq)]
struct Frame {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    comment: bool,
}

impl Frame {
    fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().expect("data")).expect("JSON data")
    }
}

/// Reads frames off an open stream.
struct Sse {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<actix_web::web::Bytes>>,
    buffer: String,
}

impl Sse {
    async fn open(app: &TestApp, last_event_id: Option<&str>) -> Self {
        let response = open_response(app, last_event_id).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["content-type"], "text/event-stream");
        assert_eq!(headers["cache-control"], "no-store");
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next frame, or `None` when the stream ended or nothing came
    /// within `wait`.
    async fn next_within(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&raw));
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            self.buffer
                .push_str(std::str::from_utf8(&chunk.expect("body chunk")).expect("UTF-8"));
        }
    }

    /// The next frame that is not a comment; panics when none comes.
    async fn next_event(&mut self) -> Frame {
        loop {
            let frame = self
                .next_within(PATIENCE)
                .await
                .expect("an event within the patience");
            if !frame.comment {
                return frame;
            }
        }
    }

    /// Whether the stream stays quiet (comments aside) for `wait`.
    async fn quiet_for(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        while let Some(frame) = self
            .next_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if !frame.comment {
                return Some(frame);
            }
        }
        None
    }
}

async fn open_response(app: &TestApp, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url("/v1/events"))
        .bearer_auth(CLIENT_KEY);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    request.send().await.expect("request")
}

fn parse(raw: &str) -> Frame {
    let mut frame = Frame::default();
    for line in raw.lines() {
        if line.starts_with(':') {
            frame.comment = true;
        } else if let Some(v) = line.strip_prefix("id: ") {
            frame.id = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("event: ") {
            frame.event = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("data: ") {
            assert!(frame.data.is_none(), "one data line per event: {raw:?}");
            frame.data = Some(v.to_owned());
        }
    }
    frame
}

async fn revoke(app: &TestApp, jti: &str) {
    app.admin_ok("/v1/admin/tokens/revoke", &json!({ "jti": jti }))
        .await;
}

/// The next revocation event's id and `jti`.
async fn next_revocation(sse: &mut Sse) -> (String, String) {
    let frame = sse.next_event().await;
    assert_eq!(frame.event.as_deref(), Some("revocation"), "{frame:?}");
    let data = frame.json();
    assert_eq!(data["kind"], "token_revoked", "{data}");
    assert_eq!(Some(data["id"].as_str().expect("id")), frame.id.as_deref());
    (
        frame.id.expect("an id"),
        data["jti"].as_str().expect("jti").to_owned(),
    )
}

async fn live_revocations_arrive_in_order_with_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut sse = Sse::open(&app, None).await;
    let hello = sse.next_event().await;
    assert_eq!(hello.event.as_deref(), Some("hello"));
    assert_eq!(hello.id, None, "hello does not move Last-Event-ID");
    // An empty log's checkpoint is the id before its first event.
    let beginning = match backend {
        Backend::Embedded => "0",
        Backend::Redis => "0-0",
    };
    assert_eq!(hello.json(), json!({ "last_event_id": beginning }));

    revoke(&app, "t1").await;
    revoke(&app, "t2").await;
    let (id1, jti1) = next_revocation(&mut sse).await;
    let (id2, jti2) = next_revocation(&mut sse).await;
    assert_eq!((jti1.as_str(), jti2.as_str()), ("t1", "t2"));
    assert_ne!(id1, id2);
    let events: Value = app
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        events["events"][0]["id"],
        id2.as_str(),
        "the audit log's ids"
    );

    // A new stream's checkpoint is the newest id.
    let mut later = Sse::open(&app, None).await;
    assert_eq!(
        later.next_event().await.json(),
        json!({ "last_event_id": id2 })
    );
}

async fn a_consumer_that_reconnects_misses_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut sse = Sse::open(&app, None).await;
    sse.next_event().await; // hello
    revoke(&app, "t1").await;
    let (id1, _) = next_revocation(&mut sse).await;
    drop(sse);

    // Written while nobody listens.
    revoke(&app, "t2").await;
    revoke(&app, "t3").await;

    let mut sse = Sse::open(&app, Some(&id1)).await;
    assert_eq!(next_revocation(&mut sse).await.1, "t2");
    let (_, jti) = next_revocation(&mut sse).await;
    assert_eq!(jti, "t3");
    // Then live, and nothing twice.
    revoke(&app, "t4").await;
    assert_eq!(next_revocation(&mut sse).await.1, "t4");
    assert_eq!(sse.quiet_for(Duration::from_millis(600)).await, None);
}

async fn an_id_the_log_cannot_continue_from_gets_resync(backend: Backend) {
    let app = spawn_app(backend).await;
    revoke(&app, "t1").await;
    let ahead = match backend {
        Backend::Embedded => "999999",
        Backend::Redis => "99999999999999-0",
    };
    let mut sse = Sse::open(&app, Some(ahead)).await;
    let frame = sse.next_event().await;
    assert_eq!(frame.event.as_deref(), Some("resync"));
    assert_eq!(frame.json(), json!({ "reason": "behind_retention" }));
    assert_eq!(sse.next_within(PATIENCE).await, None, "and the stream ends");
}

async fn a_malformed_id_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for id in ["not-an-id", "1.5", "-1"] {
        let response = open_response(&app, Some(id)).await;
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Last-Event-ID",
        )
        .await;
    }
    // The other store's format is not this store's.
    let foreign = match backend {
        Backend::Embedded => "1700000000000-0",
        Backend::Redis => "17",
    };
    let response = open_response(&app, Some(foreign)).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "Last-Event-ID",
    )
    .await;
}

async fn a_key_is_required(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(app.url("/v1/events"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .client
        .get(app.url("/v1/events"))
        .bearer_auth("wrong-key-0123456789abcdef")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn heartbeats_keep_an_idle_stream_alive(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.events.heartbeat = Duration::from_millis(150);
    })
    .await;
    let mut sse = Sse::open(&app, None).await;
    sse.next_event().await; // hello
    let beat = sse.next_within(PATIENCE).await.expect("a heartbeat");
    assert!(beat.comment, "{beat:?}");
    assert_eq!((beat.id, beat.event, beat.data), (None, None, None));
}

async fn a_stream_that_falls_behind_catches_up_from_the_store(backend: Backend) {
    // One message of slack: a burst of writes overflows it at once.
    let app = spawn_app_with(backend, |s| s.events.buffer = 1).await;
    let mut sse = Sse::open(&app, None).await;
    sse.next_event().await; // hello
    let burst: Vec<String> = (0..12).map(|i| format!("burst-{i}")).collect();
    futures_util::future::join_all(burst.iter().map(|jti| revoke(&app, jti))).await;
    let mut seen = Vec::new();
    for _ in &burst {
        seen.push(next_revocation(&mut sse).await.1);
    }
    seen.sort();
    let mut expected = burst.clone();
    expected.sort();
    assert_eq!(seen, expected, "each exactly once");
    assert_eq!(sse.quiet_for(Duration::from_millis(400)).await, None);
}

async fn live_page(app: &TestApp, query: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .get(app.url("/v1/revocations"))
        .bearer_auth(CLIENT_KEY)
        .query(query)
        .send()
        .await
        .expect("request")
}

async fn the_live_set_then_the_stream_miss_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 0..7 {
        revoke(&app, &format!("t{i}")).await;
    }
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": crate::helpers::ISS, "sub": "alice"}),
    )
    .await;
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": crate::helpers::ISS, "sub": "bob"}),
    )
    .await;
    app.admin_ok(
        "/v1/admin/subjects/enable",
        &json!({"iss": crate::helpers::ISS, "sub": "bob"}),
    )
    .await;

    // Every page, with the first page's as_of.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut as_of: Option<Value> = None;
    loop {
        let response = live_page(&app, &[("limit", "3"), ("cursor", &cursor)]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.expect("JSON");
        as_of.get_or_insert(page["as_of"].clone());
        for item in page["revocations"].as_array().expect("array") {
            seen.push(match item["kind"].as_str() {
                Some("token_revoked") => format!("token {}", item["jti"].as_str().unwrap()),
                Some("subject_disabled") => format!("disabled {}", item["sub"].as_str().unwrap()),
                // A disable is recorded with a revoked-before mark.
                Some("subject_revoked_before") => {
                    format!("before {}", item["sub"].as_str().unwrap())
                }
                other => panic!("unexpected {other:?}: {item}"),
            });
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    seen.sort();
    let mut expected: Vec<String> = (0..7).map(|i| format!("token t{i}")).collect();
    expected.extend([
        "before alice".to_owned(),
        "before bob".to_owned(),
        "disabled alice".to_owned(),
    ]);
    expected.sort();
    assert_eq!(seen, expected, "bob's disable was lifted; his mark stays");

    // A change after the listing arrives on the stream from as_of.
    revoke(&app, "after-listing").await;
    let as_of = as_of.expect("a first page");
    let mut sse = Sse::open(&app, Some(as_of.as_str().expect("an id"))).await;
    assert_eq!(next_revocation(&mut sse).await.1, "after-listing");
}

async fn the_live_set_can_leave_out_token_revocations(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 0..5 {
        revoke(&app, &format!("t{i}")).await;
    }
    app.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": crate::helpers::ISS, "sid": "s-1"}),
    )
    .await;
    let response = live_page(
        &app,
        &[(
            "kinds",
            "session_revoked,subject_disabled,subject_revoked_before",
        )],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.expect("JSON");
    let kinds: Vec<&str> = page["revocations"]
        .as_array()
        .expect("array")
        .iter()
        .map(|item| item["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["session_revoked"], "{page}");
    assert_eq!(page["next_cursor"], Value::Null);
}

async fn an_empty_live_set_still_says_where_to_follow_from(backend: Backend) {
    // The race this closes: a consumer reads an empty live set, a revocation
    // lands, then the consumer connects. With no id it would start from the
    // hello's newest id and miss it; with as_of it gets it.
    let app = spawn_app(backend).await;
    let page: Value = live_page(&app, &[]).await.json().await.expect("JSON");
    assert_eq!(page["revocations"], json!([]));
    let as_of = page["as_of"].as_str().expect("as_of is an id").to_owned();
    revoke(&app, "between").await;
    let mut sse = Sse::open(&app, Some(&as_of)).await;
    assert_eq!(next_revocation(&mut sse).await.1, "between");
}

async fn a_bad_live_set_request_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for (query, needle) in [
        (&[("limit", "0")][..], "limit"),
        (&[("limit", "1001")][..], "limit"),
        (&[("cursor", "nonsense")][..], "cursor"),
        (&[("kinds", "")][..], "kinds"),
        (&[("kinds", "sessions")][..], "unknown kind `sessions`"),
        (&[("kinds", "session_revoked,")][..], "kinds"),
    ] {
        let response = live_page(&app, query).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request", needle).await;
    }
    let response = app
        .client
        .get(app.url("/v1/revocations"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

on_both_stores!(
    the_live_set_then_the_stream_miss_nothing,
    the_live_set_can_leave_out_token_revocations,
    an_empty_live_set_still_says_where_to_follow_from,
    a_bad_live_set_request_is_refused,
    a_stream_that_falls_behind_catches_up_from_the_store,
    live_revocations_arrive_in_order_with_ids,
    a_consumer_that_reconnects_misses_nothing,
    an_id_the_log_cannot_continue_from_gets_resync,
    a_malformed_id_is_refused,
    a_key_is_required,
    heartbeats_keep_an_idle_stream_alive,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_through_one_instance_streams_from_another() {
    let a = spawn_app(Backend::Redis).await;
    let b = spawn_on(a.infra.clone(), |s| {
        s.events.poll_interval = Duration::from_millis(100);
    })
    .await;
    let mut sse = Sse::open(&b, None).await;
    sse.next_event().await; // hello
    revoke(&a, "through-a").await;
    assert_eq!(next_revocation(&mut sse).await.1, "through-a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instances_revocation_streams_without_waiting_for_a_poll() {
    // Arrange: B polls the log only once a minute; only the blocking read
    // of the audit stream can bring A's revocation over in time.
    let a = spawn_app(Backend::Redis).await;
    let b = spawn_on(a.infra.clone(), |s| {
        s.events.poll_interval = Duration::from_secs(60);
    })
    .await;
    let mut sse = Sse::open(&b, None).await;
    sse.next_event().await; // hello

    // Act
    let started = std::time::Instant::now();
    revoke(&a, "through-a").await;

    // Assert
    assert_eq!(next_revocation(&mut sse).await.1, "through-a");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

async fn an_open_stream_does_not_hold_up_shutdown(backend: Backend) {
    // Arrange: a consumer connected and idle.
    let app = spawn_app(backend).await;
    let mut sse = Sse::open(&app, None).await;
    sse.next_event().await; // hello

    // Act
    let started = std::time::Instant::now();
    app.stop().await;

    // Assert: well within http.shutdown_timeout (10 s), and the stream
    // ended rather than hanging.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopping took {:?}",
        started.elapsed()
    );
    assert!(sse.quiet_for(Duration::from_secs(1)).await.is_none());
}

mod shutdown {
    use super::*;
    on_both_stores!(an_open_stream_does_not_hold_up_shutdown);
}

/// A stream opened with `key`; the response, whatever its status.
async fn open_with(app: &TestApp, key: &str) -> reqwest::Response {
    app.client
        .get(app.url("/v1/events"))
        .bearer_auth(key)
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_capped_per_key_and_per_instance() {
    // Arrange: two places per key, three per instance.
    let app = spawn_app_with(Backend::Embedded, |s| {
        s.events.max_streams = 3;
        s.events.max_streams_per_key = 2;
        s.events.heartbeat = Duration::from_millis(100);
    })
    .await;
    let mut client_streams = Vec::new();
    for _ in 0..2 {
        let response = open_with(&app, CLIENT_KEY).await;
        assert_eq!(response.status(), StatusCode::OK);
        client_streams.push(response);
    }

    // Act + Assert: the key's third stream is 429, with Retry-After.
    let response = open_with(&app, CLIENT_KEY).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "events.max_streams_per_key",
    )
    .await;

    // Another key takes the last place of the instance; then it is full.
    let admin = open_with(&app, ADMIN_KEY).await;
    assert_eq!(admin.status(), StatusCode::OK);
    let response = open_with(&app, ADMIN_KEY).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "events.max_streams",
    )
    .await;

    // A stream that ends frees its place (noticed at the next heartbeat).
    drop(client_streams.pop());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let response = open_with(&app, CLIENT_KEY).await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

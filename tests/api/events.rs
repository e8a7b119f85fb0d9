//! `GET /v1/events` and `GET /v1/revocations`: a consumer learns every
//! revocation, in order, across disconnects and instances; one that is too
//! far behind is told to resync; the live set pages.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_KEY, Backend, CLIENT_KEY, ISS, TestApp, assert_error, spawn_app, spawn_app_with, spawn_on,
};

/// Long enough for a write to reach a stream; a stream that says nothing
/// for this long has nothing to say.
const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(400);

/// One Server-Sent Events message (or a comment).
#[derive(Debug, Clone, Default, PartialEq)]
struct Message {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    comment: Option<String>,
}

impl Message {
    fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().expect("data")).expect("data is JSON")
    }
}

/// Reads a `text/event-stream` body message by message.
struct EventStream {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buffer: String,
}

impl EventStream {
    async fn open(app: &TestApp, last_event_id: Option<&str>) -> Self {
        let response = open(app, last_event_id, &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-accel-buffering"], "no");
        Self {
            body: Box::pin(response.bytes_stream().map(|r| r.map(|b| b.to_vec()))),
            buffer: String::new(),
        }
    }

    /// The next message within `wait`; `None` on timeout or end of stream.
    async fn next_within(&mut self, wait: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??
                .expect("stream chunk");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next message that is not a keep-alive comment.
    async fn next_message(&mut self) -> Option<Message> {
        loop {
            let message = self.next_within(WAIT).await?;
            if message.comment.is_none() {
                return Some(message);
            }
        }
    }

    async fn next_revocation(&mut self) -> Value {
        let message = self.next_message().await.expect("a revocation message");
        assert_eq!(message.event.as_deref(), Some("revocation"), "{message:?}");
        let event = message.json();
        assert_eq!(
            message.id.as_deref(),
            event["id"].as_str(),
            "id line = event id"
        );
        event
    }

    /// Asserts that nothing but keep-alives comes for a while.
    async fn assert_quiet(&mut self) {
        let deadline = tokio::time::Instant::now() + QUIET;
        while let Some(message) = self
            .next_within(deadline - tokio::time::Instant::now())
            .await
        {
            assert!(message.comment.is_some(), "unexpected {message:?}");
        }
    }
}

fn parse(block: &str) -> Message {
    let mut message = Message::default();
    for line in block.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix(':') {
            message.comment = Some(comment.trim().to_owned());
            continue;
        }
        let (field, value) = line.split_once(": ").expect("field: value");
        let slot = match field {
            "id" => &mut message.id,
            "event" => &mut message.event,
            "data" => {
                assert!(message.data.is_none(), "data is one line: {block:?}");
                &mut message.data
            }
            other => panic!("unexpected field {other}"),
        };
        *slot = Some(value.to_owned());
    }
    message
}

async fn open(
    app: &TestApp,
    last_event_id: Option<&str>,
    query: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url("/v1/events"))
        .bearer_auth(CLIENT_KEY)
        .query(query);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    request.send().await.expect("request")
}

/// Opens a stream without an id; returns it and the checkpoint of its hello.
async fn open_live(app: &TestApp) -> (EventStream, String) {
    let mut stream = EventStream::open(app, None).await;
    let hello = stream.next_message().await.expect("hello");
    assert_eq!(hello.event.as_deref(), Some("hello"), "{hello:?}");
    let last = hello.json()["last_event_id"]
        .as_str()
        .expect("a checkpoint")
        .to_owned();
    (stream, last)
}

async fn revoke(app: &TestApp, jti: &str) -> Value {
    app.admin_ok("/v1/admin/tokens/revoke", &json!({ "jti": jti }))
        .await
}

async fn the_stream_delivers_revocations_made_after_connecting_in_order(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    revoke(&app, "before").await;
    let (mut stream, _) = open_live(&app).await;

    // Act
    let mut recorded = Vec::new();
    for jti in ["t1", "t2", "t3"] {
        recorded.push(revoke(&app, jti).await);
    }
    let session = json!({"iss": ISS, "sid": "s1"});
    recorded.push(app.admin_ok("/v1/admin/sessions/revoke", &session).await);

    // Assert: exactly these, in order, as recorded; nothing from before.
    for expected in &recorded {
        assert_eq!(&stream.next_revocation().await, expected);
    }
    stream.assert_quiet().await;
}

async fn a_consumer_that_reconnects_gets_exactly_what_it_missed(backend: Backend) {
    // Arrange: a consumer that saw t1, then went away.
    let app = spawn_app(backend).await;
    let (mut stream, _) = open_live(&app).await;
    revoke(&app, "t1").await;
    let seen = stream.next_revocation().await;
    drop(stream);

    // Act: what it misses, then a reconnect from its last id.
    let missed = [revoke(&app, "t2").await, revoke(&app, "t3").await];
    let mut stream = EventStream::open(&app, seen["id"].as_str()).await;

    // Assert: the missed ones, then live ones, each once.
    for expected in &missed {
        assert_eq!(&stream.next_revocation().await, expected);
    }
    let live = revoke(&app, "t4").await;
    assert_eq!(stream.next_revocation().await, live);
    stream.assert_quiet().await;

    // `?after=` works the same, and the header wins over it.
    let mut by_query =
        EventStream::open_with_query(&app, &[("after", seen["id"].as_str().unwrap())]).await;
    assert_eq!(&by_query.next_revocation().await, &missed[0]);
    let response = open(&app, live["id"].as_str(), &[("after", "garbage")]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

impl EventStream {
    async fn open_with_query(app: &TestApp, query: &[(&str, &str)]) -> Self {
        let response = open(app, None, query).await;
        assert_eq!(response.status(), StatusCode::OK);
        Self {
            body: Box::pin(response.bytes_stream().map(|r| r.map(|b| b.to_vec()))),
            buffer: String::new(),
        }
    }
}

async fn an_id_behind_retention_gets_resync(backend: Backend) {
    // Arrange: a tiny audit log, and a checkpoint from before it wrapped.
    let app = spawn_app_with(backend, |s| {
        s.embedded.max_events = 2;
        s.embedded.sweep_interval = Duration::from_millis(100);
        s.redis.max_events = 10;
    })
    .await;
    let (stream, checkpoint) = open_live(&app).await;
    drop(stream);
    // Redis trims whole stream nodes (100 entries) at a time.
    let writes = if backend == Backend::Redis { 250 } else { 5 };
    for i in 0..writes {
        revoke(&app, &format!("t{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Act
    let mut stream = EventStream::open(&app, Some(&checkpoint)).await;

    // Assert: one resync, then the end of the stream.
    let message = stream.next_message().await.expect("resync");
    assert_eq!(message.event.as_deref(), Some("resync"), "{message:?}");
    assert_eq!(message.id, None);
    assert_eq!(message.json(), json!({"reason": "behind_retention"}));
    assert_eq!(stream.next_within(WAIT).await, None, "the stream ends");
}

async fn a_malformed_or_unknown_id_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let event = revoke(&app, "t1").await;
    let newer = match event["id"].as_str().unwrap().split_once('-') {
        Some((ms, seq)) => format!("{}-{seq}", ms.parse::<u64>().unwrap() + 1000),
        None => "1000".to_owned(),
    };
    for id in ["not-an-id", "1.5", "-1", newer.as_str()] {
        let response = open(&app, Some(id), &[]).await;
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "not an event id",
        )
        .await;
        let response = open(&app, None, &[("after", id)]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "?after={id}");
    }
}

async fn idle_streams_get_heartbeats(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.events.heartbeat = Duration::from_millis(200);
    })
    .await;
    let (mut stream, _) = open_live(&app).await;
    let message = stream
        .next_within(Duration::from_secs(2))
        .await
        .expect("a heartbeat");
    assert_eq!(message.comment.as_deref(), Some("keepalive"));
}

async fn the_live_set_pages_and_omits_lifted_disables(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    for i in 0..23 {
        revoke(&app, &format!("t{i:02}")).await;
    }
    let carol = json!({"iss": ISS, "sub": "carol"});
    app.admin_ok("/v1/admin/subjects/disable", &carol).await;
    app.admin_ok("/v1/admin/subjects/enable", &carol).await;
    let session = json!({"iss": ISS, "sid": "s1"});
    let newest = app.admin_ok("/v1/admin/sessions/revoke", &session).await;

    // Act
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("limit", "10".to_owned())];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let response = app
            .client
            .get(app.url("/v1/revocations"))
            .bearer_auth(CLIENT_KEY)
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        assert_eq!(page["as_of"], newest["id"]);
        let items = page["revocations"].as_array().unwrap();
        assert!(items.len() <= 10);
        listed.extend(items.iter().cloned());
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    // Assert: 23 tokens, the session and carol's mark, once each; her
    // disable was lifted. (Expiry against the listing's `now` is a store contract
    // test: here nothing could expire within the test.)
    assert_eq!(pages, 3);
    let mut tokens: Vec<&str> = listed
        .iter()
        .filter(|r| r["kind"] == "token_revoked")
        .map(|r| r["jti"].as_str().unwrap())
        .collect();
    tokens.sort_unstable();
    let expected: Vec<String> = (0..23).map(|i| format!("t{i:02}")).collect();
    assert_eq!(tokens, expected);
    let mut others: Vec<String> = listed
        .iter()
        .filter(|r| r["kind"] != "token_revoked")
        .map(|r| {
            format!(
                "{} {}",
                r["kind"],
                r["sub"].as_str().or(r["sid"].as_str()).unwrap()
            )
        })
        .collect();
    others.sort();
    // The disable is gone; the revoked-before mark it set stays.
    assert_eq!(
        others,
        ["\"session_revoked\" s1", "\"subject_revoked_before\" carol"]
    );
}

async fn the_endpoints_need_a_key_and_valid_parameters(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/v1/events", "/v1/revocations"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_error(
            response,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "API key",
        )
        .await;
    }
    for query in [
        [("limit", "0")],
        [("limit", "1001")],
        [("cursor", "not a cursor!")],
    ] {
        let response = app
            .client
            .get(app.url("/v1/revocations"))
            .bearer_auth(ADMIN_KEY)
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query:?}");
    }
}

crate::on_both_stores!(
    the_stream_delivers_revocations_made_after_connecting_in_order,
    a_consumer_that_reconnects_gets_exactly_what_it_missed,
    an_id_behind_retention_gets_resync,
    a_malformed_or_unknown_id_is_refused,
    idle_streams_get_heartbeats,
    the_live_set_pages_and_omits_lifted_disables,
    the_endpoints_need_a_key_and_valid_parameters,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_through_one_instance_is_streamed_by_another() {
    // Arrange: two instances on one Redis and key prefix.
    let a = spawn_app(Backend::Redis).await;
    let b = spawn_on(a.infra.clone(), |_| {}).await;
    let (mut from_b, _) = open_live(&b).await;

    // Act
    let recorded = revoke(&a, "via-a").await;

    // Assert
    assert_eq!(from_b.next_revocation().await, recorded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_answers_503_before_starting_when_redis_is_down() {
    let app = spawn_app(Backend::Redis).await;
    app.infra.stop_redis();
    let response = open(&app, None, &[]).await;
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "unavailable",
    )
    .await;
}

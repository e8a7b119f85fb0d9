//! Redis stopped mid-test: writes get 503; checks keep answering from the
//! mirror for `mirror.max_staleness`, then fail closed (or open when
//! configured); nothing acknowledged is lost, and the service recovers by
//! itself when Redis returns.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use revokd::gateway::ProfileKind;
use revokd::gateway::settings::RouteSettings;

use crate::gateway::ha_token;
use crate::helpers::{Backend, CLIENT_KEY, ISS, TestApp, assert_error, spawn_app, spawn_app_with};

/// The staleness bound these tests run with.
const STALE_AFTER: Duration = Duration::from_secs(1);

/// Waits (bounded) until a check of `jti` answers `status`; returns when.
async fn until_check_status(app: &TestApp, jti: &str, status: StatusCode) -> Instant {
    let deadline = Instant::now() + STALE_AFTER * 5;
    loop {
        let answered = app.check(&[("jti", jti)]).await.status();
        if answered == status {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "checks never answered {status}; last {answered}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_means_503_for_writes_and_closed_checks_and_no_loss() {
    // Arrange: acknowledged revocations before the outage.
    let app = spawn_app_with(Backend::Redis, |s| s.mirror.max_staleness = STALE_AFTER).await;
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "before-outage"}))
        .await;
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": ISS, "sub": "alice"}),
    )
    .await;

    // Act: Redis goes away.
    app.infra.stop_redis();
    let stopped = Instant::now();

    // Assert: no false 200 anywhere.
    let write = app
        .admin_post("/v1/admin/tokens/revoke", &json!({"jti": "during-outage"}))
        .await;
    assert_eq!(write.headers()["retry-after"], "1");
    assert_error(
        write,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "nothing was recorded",
    )
    .await;

    // Within the staleness bound the mirror still enforces what it knows.
    assert_eq!(
        app.verdict(&[("jti", "before-outage")]).await["reason"],
        "token_revoked"
    );
    // Past it, checks fail closed: the mirror may be missing changes. The
    // answer says so (the mirror is behind), not that the store is down.
    let closed = until_check_status(&app, "anything", StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        closed.duration_since(stopped) >= STALE_AFTER - Duration::from_millis(100),
        "checks failed closed before the staleness bound"
    );
    let check = app.check(&[("jti", "anything")]).await;
    assert_eq!(check.headers()["retry-after"], "1");
    assert_error(
        check,
        StatusCode::SERVICE_UNAVAILABLE,
        "mirror_unavailable",
        "behind the store",
    )
    .await;
    // What the stale mirror holds is still refused, with its reason.
    let known = app.check(&[("jti", "before-outage")]).await;
    assert_eq!(known.status(), StatusCode::OK);
    assert_eq!(
        known.json::<Value>().await.unwrap(),
        json!({"active": false, "reason": "token_revoked"})
    );

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["store"]["status"], "down");
    assert_eq!(body["checks"]["mirror"]["status"], "down", "{body}");
    assert!(
        body["checks"]["mirror"]["error"]
            .as_str()
            .unwrap()
            .contains("stale"),
        "{body}"
    );

    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(
        live.status(),
        StatusCode::OK,
        "liveness does not depend on Redis"
    );

    // Redis returns: the service recovers without a restart, and everything
    // acknowledged before the outage is still there.
    app.infra.restart_redis();
    let mut recovered = false;
    for _ in 0..50 {
        if app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "readyz recovers once Redis is back");
    assert_eq!(
        app.verdict(&[("jti", "before-outage")]).await["reason"],
        "token_revoked"
    );
    assert_eq!(
        app.verdict(&[("iss", ISS), ("sub", "alice"), ("iat", "1")])
            .await["reason"],
        "subject_disabled"
    );
    assert_eq!(
        app.verdict(&[("jti", "during-outage")]).await,
        json!({"active": true}),
        "a refused write was not half-done"
    );
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "after-outage"}))
        .await;
    assert_eq!(
        app.verdict(&[("jti", "after-outage")]).await["reason"],
        "token_revoked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_lets_checks_through_flagged() {
    let app = spawn_app_with(Backend::Redis, |s| {
        s.check.fail_mode = revokd::config::FailMode::Open;
        s.mirror.max_staleness = STALE_AFTER;
    })
    .await;
    app.infra.stop_redis();
    // Wait until the mirror is stale: then the fail mode applies.
    let deadline = Instant::now() + STALE_AFTER * 5;
    while app.readiness().await["checks"]["mirror"]["status"] != "down" {
        assert!(Instant::now() < deadline, "the mirror never went stale");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let check = app.check(&[("jti", "anything")]).await;
    assert_eq!(check.status(), StatusCode::OK);
    assert_eq!(check.headers()["revokd-degraded"], "store_unavailable");
    assert_eq!(
        check.json::<Value>().await.unwrap(),
        json!({"active": true})
    );

    // Writes never pretend, whatever the fail mode.
    let write = app
        .admin_post("/v1/admin/tokens/revoke", &json!({"jti": "t"}))
        .await;
    assert_eq!(write.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// Decision 9 of DESIGN.md: fail-open answers active only what the
/// instance cannot know; every revocation its mirror holds is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_still_refuses_every_revocation_the_mirror_holds() {
    // Arrange: revocations of each kind before the outage.
    let app = spawn_app_with(Backend::Redis, |s| {
        s.check.fail_mode = revokd::config::FailMode::Open;
        s.mirror.max_staleness = STALE_AFTER;
        s.forward_auth.routes = vec![RouteSettings {
            prefix: "/api/".into(),
            profile: ProfileKind::HomeAssistant,
        }];
    })
    .await;
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "revoked"}))
        .await;
    app.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": ISS, "sid": "s-revoked"}),
    )
    .await;
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": ISS, "sub": "mallory"}),
    )
    .await;

    // Act: Redis goes away and the mirror goes stale.
    app.infra.stop_redis();
    let deadline = Instant::now() + STALE_AFTER * 5;
    while app.readiness().await["checks"]["mirror"]["status"] != "down" {
        assert!(Instant::now() < deadline, "the mirror never went stale");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Assert: what it holds is refused, by GET and POST, unflagged.
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("jti", "revoked")], "token_revoked"),
        (&[("iss", ISS), ("sid", "s-revoked")], "session_revoked"),
        (
            &[("iss", ISS), ("sub", "mallory"), ("iat", "1")],
            "subject_disabled",
        ),
    ];
    for (query, reason) in cases {
        let check = app.check(query).await;
        assert_eq!(check.status(), StatusCode::OK, "{query:?}");
        assert!(
            check.headers().get("revokd-degraded").is_none(),
            "{query:?}"
        );
        assert_eq!(
            check.json::<Value>().await.unwrap(),
            json!({"active": false, "reason": reason}),
            "{query:?}"
        );
    }
    let posted = app.post_check(&json!({"jti": "revoked"})).await;
    assert_eq!(
        posted.json::<Value>().await.unwrap(),
        json!({"active": false, "reason": "token_revoked"})
    );
    // What it cannot know is let through, flagged.
    let unknown = app.check(&[("jti", "never-revoked")]).await;
    assert_eq!(unknown.headers()["revokd-degraded"], "store_unavailable");
    assert_eq!(
        unknown.json::<Value>().await.unwrap(),
        json!({"active": true})
    );

    // The same rule at /v1/forward-auth and /v1/introspect (Home Assistant
    // tokens carry the revoked id as `iss`).
    let (revoked, unknown) = (ha_token("revoked"), ha_token("never-revoked"));
    let gate = |token: String| {
        app.client
            .get(app.url("/v1/forward-auth"))
            .header("x-revokd-key", CLIENT_KEY)
            .header("x-original-uri", "/api/states")
            .bearer_auth(token)
            .send()
    };
    let refused = gate(revoked.clone()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["revokd-reason"], "token_revoked");
    let flagged = gate(unknown.clone()).await.unwrap();
    assert_eq!(flagged.status(), StatusCode::OK);
    assert_eq!(flagged.headers()["revokd-degraded"], "store_unavailable");
    let introspect = |token: String| {
        app.client
            .post(app.url("/v1/introspect"))
            .bearer_auth(CLIENT_KEY)
            .form(&[("token", token.as_str()), ("profile", "home-assistant")])
            .send()
    };
    let inactive = introspect(revoked).await.unwrap();
    assert!(inactive.headers().get("revokd-degraded").is_none());
    assert_eq!(
        inactive.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
    let active = introspect(unknown).await.unwrap();
    assert_eq!(active.headers()["revokd-degraded"], "store_unavailable");
    assert_eq!(active.json::<Value>().await.unwrap()["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_start_up_does_not_stop_revokd() {
    let app = spawn_app(Backend::Redis).await;
    let infra = app.stop().await;
    infra.stop_redis();

    let app = crate::helpers::spawn_on(infra, |_| {}).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    app.infra.restart_redis();
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "t"}))
        .await;
}

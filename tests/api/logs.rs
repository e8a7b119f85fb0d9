//! No token reaches the logs, wherever a client puts it (issue 17, item
//! 13), and refusals are logged briefly (item 15).

use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::binary::{Process, base_url};
use crate::helpers::{ADMIN_KEY, CLIENT_KEY};

/// A token-looking secret, distinct per place so a failure names it.
fn secret(place: &str) -> String {
    format!("eyJhbGciOiJSUzI1NiJ9.eyJwbGFjZSI6InNlY3JldCJ9.{place}-c2VjcmV0LXNpZw")
}

const PLACES: [&str; 14] = [
    "query-logout",
    "query-check",
    "query-authsig",
    "path-forward",
    "path-unknown",
    "header-authorization",
    "header-original-uri",
    "header-forwarded-uri",
    "header-user-agent",
    "header-referer",
    "cookie",
    "body-form",
    "body-json",
    "body-json-variant",
];

#[tokio::test]
async fn tokens_never_reach_the_logs_wherever_a_client_puts_them() {
    // Arrange: the real binary at its most verbose.
    let dir = TempDir::new().unwrap();
    let keys = format!(
        r#"[{{name="ops", role="admin", key="{ADMIN_KEY}"}}, {{name="app", role="client", key="{CLIENT_KEY}"}}]"#
    );
    let env = [("REVOKD_KEYS", keys.as_str()), ("RUST_LOG", "trace")];
    let (process, listening) = Process::start(dir.path(), &env);
    let url = base_url(&listening);
    let client = reqwest::Client::new();
    let s = |place: &str| secret(place);

    // Act: every place a client can put a token, on routes that refuse.
    let requests = [
        client.get(format!(
            "{url}/backchannel-logout?logout_token={}",
            s("query-logout")
        )),
        client
            .get(format!("{url}/v1/check?token={}&jti=", s("query-check")))
            .bearer_auth(CLIENT_KEY),
        client.get(format!(
            "{url}/v1/forward-auth/app/{}?authSig={}",
            s("path-forward"),
            s("query-authsig")
        )),
        client.get(format!("{url}/v1/{}", s("path-unknown"))),
        client
            .get(format!("{url}/v1/forward-auth"))
            .header("x-revokd-key", CLIENT_KEY)
            .bearer_auth(s("header-authorization"))
            .header(
                "x-original-uri",
                format!("/app?authSig={}", s("header-original-uri")),
            )
            .header(
                "x-forwarded-uri",
                format!("/app?authSig={}", s("header-forwarded-uri")),
            )
            .header("user-agent", s("header-user-agent"))
            .header("referer", format!("https://x/?t={}", s("header-referer")))
            .header("cookie", format!("session={}", s("cookie"))),
        client
            .get(format!("{url}/v1/forward-auth"))
            .header("x-revokd-key", CLIENT_KEY)
            .header("cookie", format!("session={}", s("cookie")))
            .bearer_auth(s("header-authorization")),
        client
            .post(format!("{url}/backchannel-logout"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("logout_token={}", s("body-form"))),
        client
            .post(format!("{url}/v1/check"))
            .bearer_auth(CLIENT_KEY)
            .header("content-type", "application/json")
            .body(format!(r#"{{"token":"{}","jti":"x"}}"#, s("body-json"))),
        client
            .get(format!(
                "{url}/v1/revocations?kinds={}",
                s("body-json-variant")
            ))
            .bearer_auth(CLIENT_KEY),
        client
            .post(format!("{url}/v1/check"))
            .bearer_auth(CLIENT_KEY)
            .header("content-type", "application/json")
            .body(format!(r#"{{"token":{{"{}":1}}}}"#, s("body-json-variant"))),
    ];
    for request in requests {
        let response = request.send().await.expect("request");
        assert!(
            response.status().is_client_error(),
            "every request here is refused: {}",
            response.status()
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Assert
    let lines = process.drain();
    let logged = lines
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        logged.contains("request refused"),
        "the refusals were logged: {logged}"
    );
    for place in PLACES {
        let secret = secret(place);
        // The distinctive tail of each secret, whatever encoding it got.
        let tail = format!("{place}-c2VjcmV0LXNpZw");
        assert!(
            !logged.contains(&secret) && !logged.contains(&tail),
            "the token sent in {place} was logged:\n{}",
            lines
                .iter()
                .map(Value::to_string)
                .filter(|l| l.contains(&tail))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // Refusals are one short line each, never at WARN.
    for line in &lines {
        if line["message"] == "request refused" {
            assert_eq!(line["level"], "DEBUG", "{line}");
            assert!(line.to_string().len() < 400, "{line}");
        }
        assert!(
            !(line["level"] == "WARN" && line.to_string().contains("forward")),
            "a forward-auth refusal at WARN: {line}"
        );
    }
}

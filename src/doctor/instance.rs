//! The checks of a running instance, asked over HTTP as a load balancer
//! and Prometheus ask it (`/readyz`, `/metrics`), and of the keys the
//! configuration gives it.

use std::time::Duration;

use serde_json::Value;

use super::Check;
use crate::api_keys::Role;
use crate::config::Settings;

/// No admin key: nobody can revoke a token or disable a subject by hand.
pub fn admin_key(settings: &Settings) -> Check {
    if settings.keys.iter().any(|k| k.role == Role::Admin) {
        Check::ok("keys admin", "an admin key is configured")
    } else {
        Check::warn(
            "keys admin",
            "no [[keys]] entry with role = \"admin\"",
            "add one (`revokd hash-key` prints its sha256): without it nobody can revoke or disable by hand",
        )
    }
}

/// `/readyz` (ready, mirror, store, each provider) and `/metrics` (feed
/// lag against `mirror.max_staleness`) of the instance at `base`.
pub async fn check(base: &str, settings: &Settings, timeout: Duration) -> Vec<Check> {
    let base = base.trim_end_matches('/');
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            return vec![Check::fail(
                "instance ready",
                format!("cannot build an HTTP client: {err}"),
                "check the system's TLS set-up",
            )];
        }
    };
    let readyz = format!("{base}/readyz");
    let (status, body) = match client.get(&readyz).send().await {
        Ok(response) => {
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
        Err(err) => {
            return vec![Check::fail(
                "instance ready",
                format!("GET {readyz}: {}", err.without_url()),
                "is revokd running, and is --url its listen (or ops_listen) address?",
            )];
        }
    };
    let mut checks = Vec::new();
    if status == reqwest::StatusCode::OK {
        checks.push(Check::ok(
            "instance ready",
            format!("{readyz} answered 200"),
        ));
    } else {
        checks.push(Check::fail(
            "instance ready",
            format!("{readyz} answered {status}"),
            "see the checks below and revokd's log; a load balancer sends it no traffic",
        ));
    }
    if let Some(entries) = body["checks"].as_object() {
        for (name, entry) in entries {
            checks.push(readiness_entry(name, entry));
        }
    }
    checks.push(feed_lag(&client, base, settings.mirror.max_staleness).await);
    checks
}

/// One entry of `/readyz`'s `checks`.
fn readiness_entry(name: &str, entry: &Value) -> Check {
    let check = format!("instance {name}");
    let error = entry["error"].as_str().unwrap_or_default();
    match (entry["status"].as_str(), name) {
        (Some("up"), _) if error.is_empty() => Check::ok(check, "up"),
        (Some("up"), _) => Check::warn(check, format!("up: {error}"), "see revokd's log"),
        (_, "mirror") => Check::fail(
            check,
            format!("down: {error}"),
            "the mirror is loading or stale: checks fail closed until the store answers again",
        ),
        (_, n) if n.starts_with("provider:") => Check::fail(
            check,
            format!("keys not loaded: {error}"),
            "logout tokens from this provider are kept, not applied, until its keys load: run doctor without --url for the provider's own checks",
        ),
        _ => Check::fail(
            check,
            format!("down: {error}"),
            "see revokd's log and the store checks above",
        ),
    }
}

/// `revokd_mirror_feed_lag_seconds`: warn past half the staleness bound
/// (`/readyz` fails at the bound).
async fn feed_lag(client: &reqwest::Client, base: &str, bound: Duration) -> Check {
    let url = format!("{base}/metrics");
    let text = match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => response.text().await.unwrap_or_default(),
        Ok(response) => {
            return Check::warn(
                "instance feed_lag",
                format!("{url} answered {}", response.status()),
                "is /metrics served on this address (ops_listen)?",
            );
        }
        Err(err) => {
            return Check::warn(
                "instance feed_lag",
                format!("GET {url}: {}", err.without_url()),
                "is /metrics served on this address (ops_listen)?",
            );
        }
    };
    match sample(&text, "revokd_mirror_feed_lag_seconds") {
        None => Check::ok("instance feed_lag", "no change feed (embedded store)"),
        Some(lag) if lag < bound.as_secs_f64() / 2.0 => {
            Check::ok("instance feed_lag", format!("{lag:.1}s"))
        }
        Some(lag) => Check::warn(
            "instance feed_lag",
            format!(
                "{lag:.1}s, the staleness bound (mirror.max_staleness) is {}s",
                bound.as_secs()
            ),
            "the store has not answered the change feed for a while: check it",
        ),
    }
}

/// The value of an unlabelled sample in Prometheus text format.
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;
    use serde_json::json;

    #[test]
    fn samples_are_read_by_exact_name() {
        let text = "# HELP x\nrevokd_mirror_feed_lag_seconds_other 9\nrevokd_mirror_feed_lag_seconds 2.5\n";
        assert_eq!(sample(text, "revokd_mirror_feed_lag_seconds"), Some(2.5));
        assert_eq!(sample(text, "revokd_missing"), None);
    }

    #[test]
    fn a_provider_without_keys_fails() {
        let entry = json!({"status": "down", "kind": "provider", "error": "GET x: 503"});
        let check = readiness_entry("provider:idp", &entry);
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.contains("503"));
        let up = json!({"status": "up", "kind": "redis"});
        assert_eq!(readiness_entry("store", &up).status, Status::Ok);
    }
}

//! The checks of one `[[providers]]` entry: discovery, the issuer string,
//! back-channel logout support, algorithms, keys and the provider's clock.
//!
//! They fetch what `serve` fetches (the discovery document, then the JWKS)
//! with the same URL rules, timeout and size limit, but look at every field
//! that decides whether a logout will arrive and verify, not only at what
//! loading keys needs.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::Check;
use crate::oidc::{JwsAlg, KeySet};
use crate::providers::settings::check_url;
use crate::providers::{BackchannelSettings, ProviderSettings};

/// One GET's outcome: the body and the `Date` header.
struct Fetched {
    body: Vec<u8>,
    date: Option<SystemTime>,
}

async fn get(client: &reqwest::Client, url: &str, limit: usize) -> Result<Fetched, String> {
    let response = client.get(url).send().await.map_err(without_url)?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    let date = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let body = response.bytes().await.map_err(without_url)?;
    if body.len() > limit {
        return Err(format!(
            "larger than backchannel.fetch_max_bytes ({limit} bytes)"
        ));
    }
    Ok(Fetched {
        body: body.to_vec(),
        date,
    })
}

/// The error and its causes, without the URL (the caller names it once).
fn without_url(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Every check of `provider`.
pub async fn check(
    provider: &ProviderSettings,
    backchannel: &BackchannelSettings,
    timeout: Duration,
) -> Vec<Check> {
    let name = |what: &str| format!("provider:{} {what}", provider.name);
    let mut checks = Vec::new();
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("revokd-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            checks.push(Check::fail(
                name("discovery"),
                format!("cannot build an HTTP client: {err}"),
                "check the system's TLS set-up",
            ));
            return checks;
        }
    };
    let limit = backchannel.fetch_max_bytes;
    let url = format!(
        "{}/.well-known/openid-configuration",
        provider.issuer.trim_end_matches('/')
    );
    if let Err(cause) = check_url(&url, provider.allow_insecure_http) {
        checks.push(Check::fail(
            name("discovery"),
            format!("{url}: {cause}"),
            "use the provider's https:// issuer",
        ));
        return checks;
    }
    let fetched = match get(&client, &url, limit).await {
        Ok(fetched) => fetched,
        Err(cause) => {
            checks.push(Check::fail(
                name("discovery"),
                format!("GET {url}: {cause}"),
                "check providers.issuer and that revokd's host can reach the provider",
            ));
            return checks;
        }
    };
    let document: Value = match serde_json::from_slice(&fetched.body) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => {
            checks.push(Check::fail(
                name("discovery"),
                format!("{url} is not a JSON object"),
                "check providers.issuer: it must be the provider's issuer URL, not a login page",
            ));
            return checks;
        }
    };
    let jwks_uri = provider
        .jwks_uri
        .clone()
        .or_else(|| document["jwks_uri"].as_str().map(str::to_owned));
    match (&jwks_uri, document["issuer"].as_str()) {
        (Some(_), Some(_)) => checks.push(Check::ok(name("discovery"), format!("{url} read"))),
        _ => {
            checks.push(Check::fail(
                name("discovery"),
                format!("{url} lacks `issuer` or `jwks_uri`"),
                "the provider's discovery document is not OpenID Connect Discovery 1.0",
            ));
            return checks;
        }
    }
    checks.push(issuer(&name("issuer"), &provider.issuer, &document));
    checks.extend(backchannel_support(&name("backchannel_logout"), &document));
    let (algs_check, algs) = algorithms(&name("algorithms"), provider, &document);
    checks.push(algs_check);
    checks.push(clock(&name("clock"), fetched.date, backchannel.clock_skew));
    if let Some(jwks_uri) = jwks_uri {
        checks.push(keys(&name("jwks"), &client, provider, &jwks_uri, &algs, limit).await);
    }
    checks
}

/// The issuer as it will appear in tokens: discovery's `issuer`, byte for
/// byte (OpenID Connect Discovery 1.0 §4.3), trailing slash included.
fn issuer(check: &str, configured: &str, document: &Value) -> Check {
    let advertised = document["issuer"].as_str().unwrap_or_default();
    if advertised == configured {
        return Check::ok(check, format!("{configured:?} as in discovery"));
    }
    let hint = if advertised.trim_end_matches('/') == configured.trim_end_matches('/') {
        " (they differ only in the trailing slash, which tokens' `iss` keeps)"
    } else {
        ""
    };
    Check::fail(
        check,
        format!("configured {configured:?}, discovery says {advertised:?}{hint}"),
        format!(
            "set providers.issuer = {advertised:?}: every logout token's iss is compared exactly"
        ),
    )
}

/// `backchannel_logout_supported` and `backchannel_logout_session_supported`
/// (Back-Channel Logout 1.0 §2.1).
fn backchannel_support(check: &str, document: &Value) -> Vec<Check> {
    let mut checks = Vec::new();
    if document["backchannel_logout_supported"] == Value::Bool(true) {
        checks.push(Check::ok(check, "backchannel_logout_supported: true"));
    } else {
        checks.push(Check::warn(
            check,
            format!(
                "discovery says backchannel_logout_supported: {}",
                document["backchannel_logout_supported"]
            ),
            "enable back-channel logout at the provider (and register revokd's /backchannel-logout URL): without it no logout reaches revokd",
        ));
    }
    let session = format!("{check}_session");
    if document["backchannel_logout_session_supported"] == Value::Bool(true) {
        checks.push(Check::ok(
            session,
            "backchannel_logout_session_supported: true",
        ));
    } else {
        checks.push(Check::warn(
            session,
            format!(
                "discovery says backchannel_logout_session_supported: {}",
                document["backchannel_logout_session_supported"]
            ),
            "logout tokens will carry no sid: a logout revokes every session of the subject, not one",
        ));
    }
    checks
}

/// The algorithms tokens may be signed with (as `serve` computes them) and
/// whether they agree with what the provider advertises.
fn algorithms(check: &str, provider: &ProviderSettings, document: &Value) -> (Check, Vec<JwsAlg>) {
    let advertised: Vec<String> = document["id_token_signing_alg_values_supported"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let supported: Vec<JwsAlg> = advertised
        .iter()
        .filter_map(|n| JwsAlg::from_name(n))
        .collect();
    let names = |algs: &[JwsAlg]| algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ");
    match &provider.algorithms {
        Some(configured) => {
            let configured: Vec<JwsAlg> = configured
                .iter()
                .filter_map(|n| JwsAlg::from_name(n))
                .collect();
            let missing: Vec<JwsAlg> = configured
                .iter()
                .copied()
                .filter(|a| !supported.contains(a))
                .collect();
            let result = if advertised.is_empty() {
                Check::ok(
                    check,
                    format!(
                        "configured {}; discovery advertises none",
                        names(&configured)
                    ),
                )
            } else if missing.len() == configured.len() {
                Check::fail(
                    check,
                    format!(
                        "configured {}, the provider advertises {}",
                        names(&configured),
                        advertised.join(", ")
                    ),
                    "no configured algorithm is one the provider signs with: fix providers.algorithms",
                )
            } else if missing.is_empty() {
                Check::ok(check, format!("configured {}", names(&configured)))
            } else {
                Check::warn(
                    check,
                    format!("configured {} not advertised", names(&missing)),
                    "remove them from providers.algorithms, or confirm the provider signs with them",
                )
            };
            (result, configured)
        }
        None if supported.is_empty() => (
            Check::warn(
                check,
                format!(
                    "the provider advertises no algorithm revokd verifies ({}); RS256 is assumed",
                    if advertised.is_empty() {
                        "none".to_owned()
                    } else {
                        advertised.join(", ")
                    }
                ),
                "set providers.algorithms to what the provider signs logout tokens with",
            ),
            vec![JwsAlg::Rs256],
        ),
        None => (
            Check::ok(check, format!("as advertised: {}", names(&supported))),
            supported,
        ),
    }
}

/// The provider's clock (its `Date` header) against ours: beyond
/// `backchannel.clock_skew`, fresh tokens look expired or not yet issued.
fn clock(check: &str, date: Option<SystemTime>, allowed: Duration) -> Check {
    let Some(date) = date else {
        return Check::warn(
            check,
            "the provider sent no Date header",
            "compare the provider's clock with this host's by hand (both should use NTP)",
        );
    };
    let now = SystemTime::now();
    let (skew, direction) = match date.duration_since(now) {
        Ok(ahead) => (ahead, "ahead of"),
        Err(behind) => (behind.duration(), "behind"),
    };
    // `Date` has a resolution of one second.
    let detail = format!(
        "the provider's clock is {}s {direction} this host's",
        skew.as_secs()
    );
    if skew <= allowed + Duration::from_secs(1) {
        Check::ok(check, detail)
    } else {
        Check::fail(
            check,
            format!(
                "{detail}, more than backchannel.clock_skew ({}s)",
                allowed.as_secs()
            ),
            "synchronise both clocks (NTP); logout tokens will be refused as issued in the future or too old",
        )
    }
}

async fn keys(
    check: &str,
    client: &reqwest::Client,
    provider: &ProviderSettings,
    url: &str,
    algs: &[JwsAlg],
    limit: usize,
) -> Check {
    if let Err(cause) = check_url(url, provider.allow_insecure_http) {
        return Check::fail(
            check,
            format!("{url}: {cause}"),
            "the JWKS must be served over https",
        );
    }
    let fetched = match get(client, url, limit).await {
        Ok(fetched) => fetched,
        Err(cause) => {
            return Check::fail(
                check,
                format!("GET {url}: {cause}"),
                "revokd cannot verify any logout token without the provider's keys: check jwks_uri and the network",
            );
        }
    };
    let set = match KeySet::from_jwks(&fetched.body) {
        Ok(set) => set,
        Err(err) => {
            return Check::fail(
                check,
                format!("{url}: {err}"),
                "the provider's JWKS holds no usable public signing key",
            );
        }
    };
    let unusable: Vec<&str> = algs
        .iter()
        .filter(|a| !set.verifies(**a))
        .map(|a| a.name())
        .collect();
    if unusable.len() == algs.len() {
        Check::fail(
            check,
            format!(
                "{} key(s), none for {}",
                set.len(),
                algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
            ),
            "the keys and the algorithms disagree: fix providers.algorithms or the provider's signing keys",
        )
    } else if unusable.is_empty() {
        Check::ok(
            check,
            format!("{} usable key(s) for every allowed algorithm", set.len()),
        )
    } else {
        Check::warn(
            check,
            format!("no key for {}", unusable.join(", ")),
            "tokens signed with those algorithms will be refused: narrow providers.algorithms",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;
    use serde_json::json;

    #[test]
    fn the_issuer_must_match_to_the_trailing_slash() {
        let document = json!({"issuer": "https://idp.example/"});
        assert_eq!(
            issuer("i", "https://idp.example/", &document).status,
            Status::Ok
        );
        let check = issuer("i", "https://idp.example", &document);
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.contains("trailing slash"), "{}", check.detail);
    }

    #[test]
    fn a_clock_beyond_the_skew_fails() {
        let skew = Duration::from_secs(30);
        let now = SystemTime::now();
        assert_eq!(clock("c", Some(now), skew).status, Status::Ok);
        let ahead = clock("c", Some(now + Duration::from_secs(300)), skew);
        assert_eq!(ahead.status, Status::Fail);
        assert!(ahead.detail.contains("ahead of"), "{}", ahead.detail);
        assert_eq!(clock("c", None, skew).status, Status::Warn);
    }
}

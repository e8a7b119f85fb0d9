//! Loading and validating the configuration: precedence of defaults,
//! file and environment, and messages that name the key.

use super::*;
use crate::store::check_redis_url;
use figment::Jail;

fn load_env(file: Option<&Path>) -> Result<Settings, ConfigError> {
    Settings::load_from(
        file,
        Env::prefixed("REVOKD_").split("__").ignore(&["config"]),
    )
}

#[test]
fn defaults_alone_are_valid() {
    Jail::expect_with(|_| {
        let s = load_env(None).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.store, StoreKind::Embedded);
        assert_eq!(s.check.fail_mode, FailMode::Closed);
        assert!(s.check.require_client_key);
        assert_eq!(s.http.body_limit, 64 * 1024);
        Ok(())
    });
}

#[test]
fn environment_overrides_file_which_overrides_defaults() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "r.toml",
            "listen = \"127.0.0.1:7000\"\nstore = \"redis\"\n[redis]\npool_size = 3\n",
        )?;
        jail.set_env("REVOKD_LISTEN", "127.0.0.1:9000");
        jail.set_env("REVOKD_REDIS__KEY_PREFIX", "x:");
        let s = load_env(Some(Path::new("r.toml"))).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(s.store, StoreKind::Redis);
        assert_eq!(s.redis.pool_size, 3);
        assert_eq!(s.redis.key_prefix, "x:");
        Ok(())
    });
}

#[test]
fn errors_name_the_key() {
    let cases: [(&str, &str, &str); 14] = [
        ("REVOKD_LISTEN", "not an address", "listen"),
        (
            "REVOKD_FORWARD_AUTH__KEY_HEADER",
            "Authorization",
            "forward_auth.key_header",
        ),
        (
            "REVOKD_FORWARD_AUTH__KEY_HEADER",
            "bad header",
            "forward_auth.key_header",
        ),
        (
            "REVOKD_FORWARD_AUTH__PROFILE",
            "saml",
            "forward_auth.profile",
        ),
        (
            "REVOKD_FORWARD_AUTH__SKIP",
            r#"["/auth/../api"]"#,
            "forward_auth.skip[0]",
        ),
        (
            "REVOKD_FORWARD_AUTH__SKIP",
            r#"["api/"]"#,
            "forward_auth.skip[0]",
        ),
        (
            "REVOKD_FORWARD_AUTH__ROUTES",
            r#"[{prefix="//x", profile="jwt"}]"#,
            "forward_auth.routes[0].prefix",
        ),
        (
            "REVOKD_FORWARD_AUTH__HEADERS__SUBJECT",
            "x y",
            "forward_auth.headers.subject",
        ),
        ("REVOKD_STORE", "postgres", "store"),
        ("REVOKD_LIFETIMES__TOKEN", "0s", "lifetimes.token"),
        ("REVOKD_HTTP__BODY_LIMIT", "12", "http.body_limit"),
        (
            "REVOKD_SESSIONS__MAX_TOKEN_IDS_PER_KEY",
            "99",
            "sessions.max_token_ids_per_key",
        ),
        ("REVOKD_LOG__FILTER", "[[[", "log.filter"),
        ("REVOKD_BOGUS", "1", "bogus"),
    ];
    for (var, value, key) in cases {
        Jail::expect_with(|jail| {
            jail.set_env(var, value);
            let err = load_env(None).unwrap_err().to_string().to_lowercase();
            assert!(
                err.contains(key),
                "{var}={value}: message {err:?} does not name {key}"
            );
            Ok(())
        });
    }
}

#[test]
fn keys_can_come_from_the_environment() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "REVOKD_KEYS",
            r#"[{name="ops", role="admin", key="0123456789abcdef0123"}]"#,
        );
        let s = load_env(None).unwrap();
        assert_eq!(s.keys.len(), 1);
        assert!(
            s.key_ring()
                .unwrap()
                .authenticate("0123456789abcdef0123")
                .is_some()
        );
        Ok(())
    });
}

#[test]
fn providers_are_validated_key_by_key() {
    let ok = r#"{name="idp", issuer="https://idp.example", client_ids=["app"]}"#;
    let cases = [
        (r#"[{name="i p", issuer="https://idp.example", client_ids=["a"]}]"#.to_owned(), "providers[0].name"),
        (r#"[{name="a", issuer="http://idp.example", client_ids=["a"]}]"#.to_owned(), "providers[0].issuer"),
        (r#"[{name="a", issuer="ftp://idp.example", client_ids=["a"]}]"#.to_owned(), "providers[0].issuer"),
        (r#"[{name="a", issuer="https://idp.example", client_ids=[]}]"#.to_owned(), "providers[0].client_ids"),
        (format!("[{ok}, {ok}]"), "providers[1].name"),
        (
            r#"[{name="a", issuer="https://i", client_ids=["a"], jwks_uri="http://k.example/jwks"}]"#.to_owned(),
            "providers[0].jwks_uri",
        ),
        (
            r#"[{name="a", issuer="https://i", client_ids=["a"], require_encryption=true}]"#.to_owned(),
            "providers[0].require_encryption",
        ),
    ];
    for (value, key) in cases {
        Jail::expect_with(|jail| {
            jail.set_env("REVOKD_PROVIDERS", &value);
            let err = load_env(None).unwrap_err().to_string();
            assert!(err.contains(key), "{value}: {err:?} should name {key}");
            Ok(())
        });
    }
}

#[test]
fn streams_and_callers_need_a_configured_provider_and_unique_names() {
    let idp = r#"[{name="idp", issuer="https://idp.example", client_ids=["app"]}]"#;
    let stream = |name: &str, provider: &str| {
        format!(
            r#"{{name="{name}", provider="{provider}", audience=["https://r/ssf"], push_token_sha256="{}"}}"#,
            "a".repeat(64)
        )
    };
    let cases = [
        (
            "REVOKD_STREAMS",
            format!("[{}]", stream("s", "nope")),
            "streams[0].provider",
        ),
        (
            "REVOKD_STREAMS",
            format!("[{}, {}]", stream("s", "idp"), stream("s", "idp")),
            "streams[1].name",
        ),
        (
            "REVOKD_GLOBAL_TOKEN_REVOCATION",
            r#"[{provider="nope", audience=["https://r/gtr"]}]"#.to_owned(),
            "global_token_revocation[0].provider",
        ),
        (
            "REVOKD_GLOBAL_TOKEN_REVOCATION",
            r#"[{provider="idp", audience=["a"]}, {provider="idp", audience=["b"]}]"#.to_owned(),
            "global_token_revocation[1].provider",
        ),
    ];
    for (var, value, key) in cases {
        Jail::expect_with(|jail| {
            jail.set_env("REVOKD_PROVIDERS", idp);
            jail.set_env(var, &value);
            let err = load_env(None).unwrap_err().to_string();
            assert!(err.contains(key), "{value}: {err:?} should name {key}");
            Ok(())
        });
    }
    Jail::expect_with(|jail| {
        jail.set_env("REVOKD_PROVIDERS", idp);
        jail.set_env("REVOKD_STREAMS", format!("[{}]", stream("s", "idp")));
        let settings = load_env(None).unwrap();
        assert_eq!(settings.streams[0].subject_formats_as_sub, ["opaque"]);
        Ok(())
    });
}

#[test]
fn stream_management_comes_from_the_environment_with_its_defaults() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "REVOKD_PROVIDERS",
            r#"[{name="okta", issuer="https://org.okta.example", client_ids=["app"]}]"#,
        );
        jail.set_env(
            "REVOKD_STREAMS",
            r#"[{name="okta", provider="okta", audience=["https://r/ssf/push/okta"], push_token_file="/run/push", management={transmitter="https://org.okta.example", token_file="/run/mgmt", delivery="push", push_endpoint_url="https://r/ssf/push/okta"}}]"#,
        );
        let settings = load_env(None).unwrap();
        let m = settings.streams[0].management.as_ref().unwrap();
        assert_eq!(m.delivery, crate::providers::Delivery::Push);
        assert_eq!(m.status_interval, std::time::Duration::from_secs(300));
        assert_eq!(m.retry_interval, std::time::Duration::from_secs(30));
        assert!(m.verify_at_start);
        assert_eq!(
            m.events_requested,
            crate::providers::signal_settings::DEFAULT_EVENTS_REQUESTED
        );
        // A managed push stream without push_token_file names the key.
        jail.set_env(
            "REVOKD_STREAMS",
            r#"[{name="okta", provider="okta", audience=["https://r/ssf/push/okta"], push_token_sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", management={transmitter="https://org.okta.example", token_file="/run/mgmt", delivery="push", push_endpoint_url="https://r/ssf/push/okta"}}]"#,
        );
        let err = load_env(None).unwrap_err().to_string();
        assert!(err.contains("streams[0].push_token_file"), "{err}");
        Ok(())
    });
}

#[test]
fn loopback_and_explicitly_allowed_http_issuers_are_accepted() {
    for value in [
        r#"[{name="a", issuer="http://127.0.0.1:4000", client_ids=["a"]}]"#,
        r#"[{name="a", issuer="http://localhost:4000/realms/x", client_ids=["a"]}]"#,
        r#"[{name="a", issuer="http://[::1]:4000", client_ids=["a"]}]"#,
        r#"[{name="a", issuer="http://idp.lan", client_ids=["a"], allow_insecure_http=true}]"#,
    ] {
        Jail::expect_with(|jail| {
            jail.set_env("REVOKD_PROVIDERS", value);
            assert_eq!(load_env(None).unwrap().providers.len(), 1, "{value}");
            Ok(())
        });
    }
}

#[test]
fn redis_urls_are_parsed_as_serve_parses_them() {
    for url in [
        "redis://127.0.0.1:6379",
        "redis://:pw@redis.lan:6380/2",
        "redis://user:pw@redis.lan",
        "unix:///run/redis/redis.sock",
        "rediss://u:hunter2@redis.lan:6380",
        "valkeys://redis.lan",
    ] {
        assert_eq!(check_redis_url(url), Ok(()), "{url}");
    }
    for (url, needle) in [
        (
            "http://u:hunter2@redis.lan",
            "`http://` is not a Redis URL scheme",
        ),
        ("not a url", "is not a URL"),
        ("hunter2", "is not a URL"),
        (
            "redis://u:hunter2@redis.lan:notaport",
            "not a usable Redis URL",
        ),
        ("redis://:hunter2@redis.lan/abc", "not a usable Redis URL"),
    ] {
        let message = check_redis_url(url).unwrap_err();
        assert!(message.contains(needle), "{url}: {message}");
        assert!(!message.contains("hunter2"), "{url}: {message}");
    }
}

#[test]
fn an_unusable_redis_url_names_the_key_only_with_the_redis_store() {
    Jail::expect_with(|jail| {
        jail.set_env("REVOKD_REDIS__URL", "http://127.0.0.1:6379");
        assert!(load_env(None).is_ok(), "unused with the embedded store");
        jail.set_env("REVOKD_STORE", "redis");
        let err = load_env(None).unwrap_err().to_string();
        assert!(err.contains("`redis.url`"), "{err}");
        jail.set_env("REVOKD_REDIS__URL", "redis://127.0.0.1:6379");
        jail.set_env("REVOKD_REDIS__SENTINELS", r#"["redis://s1:26379", "s2"]"#);
        let err = load_env(None).unwrap_err().to_string();
        assert!(err.contains("`redis.sentinels[1]`"), "{err}");
        Ok(())
    });
}

#[test]
fn an_unknown_variable_is_named_with_the_nearest_key() {
    let cases = [
        ("REVOKD_REDIS_URL", Some("REVOKD_REDIS__URL")),
        ("REVOKD_LOG__FORMATT", Some("REVOKD_LOG__FORMAT")),
        (
            "REVOKD_MIRROR_MAX_STALENESS",
            Some("REVOKD_MIRROR__MAX_STALENESS"),
        ),
        ("revokd_check__fail_mod", Some("REVOKD_CHECK__FAIL_MODE")),
        ("REVOKD_BIN", None),
    ];
    for (variable, suggestion) in cases {
        Jail::expect_with(|jail| {
            jail.set_env(variable, "x");
            let err = load_env(None).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(&format!("`{variable}`")),
                "{variable}: {text}"
            );
            match (&err, suggestion) {
                (
                    ConfigError::UnknownVariable {
                        suggestion: got, ..
                    },
                    want,
                ) => {
                    assert_eq!(got.as_deref(), want, "{variable}: {text}");
                }
                _ => panic!("{variable}: {err:?}"),
            }
            Ok(())
        });
    }
}

#[test]
fn edit_distance_counts_single_byte_edits() {
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("abc", "abc"), 0);
    assert_eq!(edit_distance("REVOKD_REDIS_URL", "REVOKD_REDIS__URL"), 1);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    Jail::expect_with(|_| {
        let err = load_env(Some(Path::new("nope.toml")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.toml"), "{err}");
        Ok(())
    });
}

#[test]
fn the_admin_page_is_off_by_default_and_needs_an_admin_key() {
    Jail::expect_with(|jail| {
        assert!(!load_env(None).unwrap().admin_ui);
        jail.set_env("REVOKD_ADMIN_UI", "true");
        let err = load_env(None).unwrap_err().to_string();
        assert!(err.contains("admin_ui"), "{err}");
        jail.set_env(
            "REVOKD_KEYS",
            r#"[{name="app", role="client", key="0123456789abcdef0123"}]"#,
        );
        let err = load_env(None).unwrap_err().to_string();
        assert!(err.contains("admin_ui"), "{err}");
        jail.set_env(
            "REVOKD_KEYS",
            r#"[{name="ops", role="admin", key="0123456789abcdef0123"}]"#,
        );
        assert!(load_env(None).unwrap().admin_ui);
        Ok(())
    });
}

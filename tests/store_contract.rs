//! The storage contract of [`RevocationStore`], written once and run
//! against every backend.
//!
//! Each behaviour is a generic `async fn(&impl RevocationStore)`; the
//! [`contract!`] macro instantiates it as `embedded::<case>` (a `redb` file
//! in a temporary directory) and `redis::<case>` (a real `redis-server` per
//! test, see `common::redis_server`). Behaviour that only Redis has (key
//! prefixes, real TTLs, a server that goes away) lives in `redis_only`.
//!
//! Redis expires keys on the wall clock, so every case works with instants
//! around the real `UnixTime::now()` and moves only the `now` it *passes*,
//! never relying on the store's own clock.

mod common;

use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use deadpool_redis::redis as raw_redis;
use futures_util::future::join_all;
use revokd::domain::{
    BoundFacts, Change, ChangeKinds, CheckRequest, Event, EventId, EventPage, FactUpdate, Facts,
    Issuer, Lookup, Note, Owner, Provenance, Reason, Registration, RegistrationLimits, SeenKey,
    Session, SessionId, SessionRegistration, Subject, SubjectId, TokenId, UnixTime, Verdict,
    decide,
};
use revokd::store::{
    EmbeddedSettings, EmbeddedStore, MirroredKey, RedisSettings, RedisStore, RevocationStore,
    StoreError,
};
use secrecy::SecretString;
use tempfile::TempDir;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const IDP_A: &str = "https://idp-a.example";
const IDP_B: &str = "https://idp-b.example";
/// An issuer whose byte length differs from its character count: the Redis
/// scripts rebuild key names from it and must count as `FactKey` does.
const IDP_U: &str = "https://idp-ü.example/realms/straße";

fn now() -> UnixTime {
    UnixTime::now()
}

/// `t` moved by `secs` (negative: earlier).
fn at(t: UnixTime, secs: i64) -> UnixTime {
    UnixTime::from_secs(t.as_secs() + secs)
}

fn jti(value: &str) -> TokenId {
    TokenId::parse(value).expect("valid jti")
}

fn session(iss: &str, sid: &str) -> Session {
    Session {
        iss: Issuer::parse(iss).expect("valid iss"),
        sid: SessionId::parse(sid).expect("valid sid"),
    }
}

fn subject(iss: &str, sub: &str) -> Subject {
    Subject {
        iss: Issuer::parse(iss).expect("valid iss"),
        sub: SubjectId::parse(sub).expect("valid sub"),
    }
}

fn by(actor: &str) -> Provenance {
    Provenance {
        actor: actor.to_owned(),
        reason: None,
    }
}

fn because(actor: &str, reason: &str) -> Provenance {
    Provenance {
        actor: actor.to_owned(),
        reason: Some(Note::parse(reason).expect("valid reason")),
    }
}

fn token_lookup(jti: &TokenId) -> Lookup<'_> {
    Lookup {
        jti: Some(jti),
        ..Lookup::default()
    }
}

fn session_lookup(session: &Session) -> Lookup<'_> {
    Lookup {
        session: Some(session),
        ..Lookup::default()
    }
}

fn subject_lookup(subject: &Subject) -> Lookup<'_> {
    Lookup {
        subject: Some(subject),
        ..Lookup::default()
    }
}

async fn apply(store: &impl RevocationStore, change: Change, now: UnixTime) -> Event {
    store
        .apply(change, by("admin:test"), now)
        .await
        .expect("apply")
}

async fn facts(store: &impl RevocationStore, lookup: Lookup<'_>, now: UnixTime) -> Facts {
    store.lookup(lookup, now).await.expect("lookup")
}

fn seen(iss: &str, logout_jti: &str, expires_at: UnixTime) -> SeenKey {
    SeenKey {
        iss: Issuer::parse(iss).expect("valid iss"),
        jti: jti(logout_jti),
        expires_at,
    }
}

fn registration(
    iss: &str,
    sid: Option<&str>,
    sub: &str,
    token_ids: &[&str],
    expires_at: UnixTime,
) -> SessionRegistration {
    registration_by(&app(), iss, sid, sub, token_ids, expires_at)
}

/// The key name every registration helper registers as, unless told.
fn app() -> Owner {
    Owner::parse("app").expect("valid owner")
}

fn registration_by(
    owner: &Owner,
    iss: &str,
    sid: Option<&str>,
    sub: &str,
    token_ids: &[&str],
    expires_at: UnixTime,
) -> SessionRegistration {
    SessionRegistration::new(
        owner.clone(),
        RegistrationLimits::default(),
        Issuer::parse(iss).expect("valid iss"),
        sid.map(|sid| SessionId::parse(sid).expect("valid sid")),
        SubjectId::parse(sub).expect("valid sub"),
        token_ids.iter().map(|id| jti(id)).collect(),
        expires_at,
    )
    .expect("valid registration")
}

async fn register(
    store: &impl RevocationStore,
    reg: &SessionRegistration,
    now: UnixTime,
) -> Registration {
    store
        .register_session(reg, by("client:app"), now)
        .await
        .expect("register_session")
}

/// The binding facts of a token id looked up by itself.
async fn bound(store: &impl RevocationStore, token: &str, now: UnixTime) -> Option<BoundFacts> {
    facts(store, token_lookup(&jti(token)), now).await.bound
}

/// What a check that knows only the token id answers.
async fn verdict_by_jti(
    store: &impl RevocationStore,
    token: &str,
    iat: Option<UnixTime>,
    now: UnixTime,
) -> Verdict {
    let request = CheckRequest::new(None, Some(jti(token)), None, None, iat).expect("request");
    decide(&request, &facts(store, request.lookup(), now).await)
}

/// A live binding with no facts about its session or subject.
fn clean_binding(registered_at: UnixTime) -> Option<BoundFacts> {
    Some(BoundFacts {
        session_revoked: false,
        subject_disabled: false,
        subject_revoked_before: None,
        registered_at,
    })
}

async fn all_events(store: &impl RevocationStore) -> Vec<Event> {
    store
        .events(&EventPage {
            before: None,
            limit: 1000,
        })
        .await
        .expect("events")
}

// ---------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------

/// An embedded store in its own directory, removed on drop.
struct EmbeddedHarness {
    store: EmbeddedStore,
    _dir: TempDir,
}

fn embedded() -> EmbeddedHarness {
    let dir = TempDir::new().expect("temporary directory");
    let settings = EmbeddedSettings {
        path: dir.path().join("data"),
        sweep_interval: Duration::from_secs(60),
        max_events: 10_000,
        max_admin_events: 10_000,
    };
    let store = EmbeddedStore::open(&settings).expect("open the embedded store");
    EmbeddedHarness { store, _dir: dir }
}

/// A Redis store on its own `redis-server`, killed on drop.
struct RedisHarness {
    store: RedisStore,
    server: RedisServer,
}

fn redis_settings(server: &RedisServer, key_prefix: &str) -> RedisSettings {
    RedisSettings {
        url: SecretString::from(server.url()),
        key_prefix: key_prefix.to_owned(),
        pool_size: 4,
        connect_timeout: Duration::from_millis(500),
        command_timeout: Duration::from_millis(500),
        max_events: 10_000,
        max_admin_events: 10_000,
        sentinels: Vec::new(),
        sentinel_service: "mymaster".into(),
        tls: Default::default(),
    }
}

fn redis() -> RedisHarness {
    let server = RedisServer::start();
    let store = RedisStore::connect(&redis_settings(&server, "revokd-test:")).expect("connect");
    RedisHarness { store, server }
}

/// One test CA and Redis certificate for every `redis_tls` case (made
/// once: `openssl` per case would cost more than the case), under the
/// test-scratch directory Cargo provides.
static TLS_CERTS: std::sync::LazyLock<(common::certs::TestCa, common::certs::Leaf)> =
    std::sync::LazyLock::new(|| {
        let ca = common::certs::TestCa::new_in(
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")),
            "contract",
        );
        let leaf = ca.leaf("redis", 1);
        (ca, leaf)
    });

/// A Redis store over TLS (`rediss://`, the test CA as `redis.tls.ca_file`)
/// on its own TLS-only `redis-server`.
fn redis_tls() -> RedisHarness {
    let (ca, leaf) = &*TLS_CERTS;
    let server = RedisServer::start_tls(common::redis_server::RedisTls {
        cert_file: leaf.cert.clone(),
        key_file: leaf.key.clone(),
        ca_file: ca.cert.clone(),
        auth_clients: false,
    });
    let mut settings = redis_settings(&server, "revokd-test:");
    settings.tls.ca_file = Some(ca.cert.clone());
    let store = RedisStore::connect(&settings).expect("connect");
    RedisHarness { store, server }
}

/// Instantiates every listed case once per backend: `embedded::<case>`,
/// `redis::<case>` and `redis_tls::<case>` (Redis over TLS).
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = super::embedded();
                    super::$case(&harness.store).await;
                }
            )*
        }

        mod redis {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = super::redis();
                    super::$case(&harness.store).await;
                }
            )*
        }

        mod redis_tls {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = super::redis_tls();
                    super::$case(&harness.store).await;
                }
            )*
        }
    };
}

contract!(
    ping_succeeds,
    an_empty_lookup_finds_nothing,
    a_revoked_token_is_visible,
    a_revoked_session_is_visible,
    a_disabled_subject_is_visible,
    a_revoked_before_mark_is_visible,
    facts_expired_for_the_given_now_are_not_returned,
    a_token_revocation_keeps_the_later_expiry,
    a_session_revocation_keeps_the_later_expiry,
    a_revoked_before_mark_never_moves_back,
    a_revoked_before_mark_keeps_the_later_expiry,
    an_expired_mark_is_not_revived_by_a_later_one,
    a_disable_leaves_the_revoked_before_mark_alone,
    a_disable_keeps_the_later_expiry,
    a_disable_without_expiry_stays,
    enabling_lifts_only_the_disable,
    events_are_newest_first_with_actor_and_reason,
    events_respect_the_limit,
    paging_with_before_yields_each_event_once,
    an_invalid_cursor_is_rejected,
    events_after_a_cursor_are_oldest_first_and_exclusive,
    a_cursor_beyond_the_newest_event_means_resync,
    an_invalid_cursor_after_is_rejected,
    the_live_set_pages_through_live_revocations_only,
    live_set_pages_are_not_shifted_by_changes_between_them,
    the_live_set_of_some_kinds_holds_those_only,
    an_invalid_live_set_cursor_is_rejected,
    issuers_sharing_a_sub_or_sid_do_not_collide,
    apply_once_applies_then_ignores_a_replay,
    concurrent_apply_once_with_one_key_applies_exactly_once,
    a_seen_marker_expires,
    seen_markers_of_different_issuers_are_independent,
    a_registered_token_id_reports_its_binding,
    revoking_the_bound_session_reaches_the_token,
    disabling_the_bound_subject_reaches_the_token,
    a_revoked_before_mark_after_registration_kills_bound_tokens_one_before_does_not,
    a_sub_only_mark_reaches_a_registered_session_checked_by_sid,
    a_disabled_subject_reaches_a_registered_session_checked_by_sid,
    a_session_binding_keeps_its_first_subject_and_registration,
    re_registration_adds_ids_and_keeps_the_first_registered_at,
    a_registration_for_a_revoked_session_is_refused_and_its_tokens_are_born_revoked,
    a_registration_for_a_disabled_subject_is_refused_and_its_tokens_are_born_revoked,
    a_revoked_session_is_the_reason_when_the_subject_is_disabled_too,
    a_registration_without_sid_binds_to_the_subject_only,
    unregister_removes_the_session_and_its_bindings,
    registrations_expire,
    a_token_id_bound_elsewhere_keeps_its_first_binding,
    two_issuers_with_the_same_sid_and_sub_do_not_collide_in_the_registry,
    bound_facts_are_found_for_an_issuer_with_non_ascii_characters,
    a_session_holds_token_ids_up_to_its_cap_and_not_one_more,
    the_session_cap_counts_each_owner_separately,
    a_key_holds_token_ids_up_to_its_volume_and_not_one_more,
    expiry_frees_room_in_a_key_volume_exactly_at_the_expiry,
    unregistering_frees_room_in_a_key_volume,
    another_key_cannot_unregister_a_registration,
    another_key_cannot_rebind_or_refresh_a_token_id,
    a_refused_registration_does_not_revoke_another_keys_token_ids,
    an_owner_unregisters_every_token_id_of_a_large_session,
    a_refusal_of_a_hundred_ids_writes_one_event,
    read_states_reports_each_mirrored_fact_as_stored,
    a_snapshot_holds_every_mirrored_fact_and_nothing_else,
);

// ---------------------------------------------------------------------------
// The contract
// ---------------------------------------------------------------------------

async fn ping_succeeds(store: &impl RevocationStore) {
    store.ping().await.expect("ping");
}

async fn an_empty_lookup_finds_nothing(store: &impl RevocationStore) {
    let t = now();
    apply(
        store,
        Change::TokenRevoked {
            jti: jti("t1"),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    assert_eq!(facts(store, Lookup::default(), t).await, Facts::default());
}

async fn a_revoked_token_is_visible(store: &impl RevocationStore) {
    let t = now();
    let (revoked, other) = (jti("t1"), jti("t2"));

    apply(
        store,
        Change::TokenRevoked {
            jti: revoked.clone(),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    assert_eq!(
        facts(store, token_lookup(&revoked), t).await,
        Facts {
            token_revoked: true,
            ..Facts::default()
        }
    );
    assert_eq!(
        facts(store, token_lookup(&other), t).await,
        Facts::default()
    );
}

async fn a_revoked_session_is_visible(store: &impl RevocationStore) {
    let t = now();
    let (revoked, other) = (session(IDP_A, "s1"), session(IDP_A, "s2"));

    apply(
        store,
        Change::SessionRevoked {
            session: revoked.clone(),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    assert_eq!(
        facts(store, session_lookup(&revoked), t).await,
        Facts {
            session_revoked: true,
            ..Facts::default()
        }
    );
    assert_eq!(
        facts(store, session_lookup(&other), t).await,
        Facts::default()
    );
}

async fn a_disabled_subject_is_visible(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");

    apply(
        store,
        Change::SubjectDisabled {
            subject: alice.clone(),
            expires_at: Some(at(t, 3600)),
        },
        t,
    )
    .await;

    let found = facts(store, subject_lookup(&alice), t).await;
    assert!(found.subject_disabled, "{found:?}");
    assert_eq!(
        facts(store, subject_lookup(&subject(IDP_A, "bob")), t).await,
        Facts::default()
    );
}

async fn a_revoked_before_mark_is_visible(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");

    apply(
        store,
        Change::SubjectRevokedBefore {
            subject: alice.clone(),
            before: at(t, -5),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    assert_eq!(
        facts(store, subject_lookup(&alice), t).await,
        Facts {
            subject_revoked_before: Some(at(t, -5)),
            ..Facts::default()
        }
    );
}

async fn facts_expired_for_the_given_now_are_not_returned(store: &impl RevocationStore) {
    // Arrange: one fact of each kind, all expiring at t + 100.
    let t = now();
    let end = at(t, 100);
    let (token, ses, alice, bob) = (
        jti("t1"),
        session(IDP_A, "s1"),
        subject(IDP_A, "alice"),
        subject(IDP_A, "bob"),
    );
    apply(
        store,
        Change::TokenRevoked {
            jti: token.clone(),
            expires_at: end,
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SessionRevoked {
            session: ses.clone(),
            expires_at: end,
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectDisabled {
            subject: alice.clone(),
            expires_at: Some(end),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectRevokedBefore {
            subject: bob.clone(),
            before: t,
            expires_at: end,
        },
        t,
    )
    .await;
    let all = Lookup {
        jti: Some(&token),
        session: Some(&ses),
        subject: Some(&alice),
    };

    // Assert: live one second before, gone at `expires_at` itself.
    let before_end = facts(store, all, at(end, -1)).await;
    assert_eq!(
        before_end,
        Facts {
            token_revoked: true,
            session_revoked: true,
            subject_disabled: true,
            // Bob holds the mark; a disable writes none (see
            // `a_disable_leaves_the_revoked_before_mark_alone`).
            subject_revoked_before: None,
            bound: None,
            session_bound: None,
        }
    );
    assert_eq!(
        facts(store, subject_lookup(&bob), at(end, -1))
            .await
            .subject_revoked_before,
        Some(t)
    );
    assert_eq!(facts(store, all, end).await, Facts::default());
    assert_eq!(
        facts(store, subject_lookup(&bob), end).await,
        Facts::default()
    );
}

async fn a_token_revocation_keeps_the_later_expiry(store: &impl RevocationStore) {
    let t = now();
    let token = jti("t1");

    // A shorter revocation does not cut a longer one short...
    apply(
        store,
        Change::TokenRevoked {
            jti: token.clone(),
            expires_at: at(t, 200),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::TokenRevoked {
            jti: token.clone(),
            expires_at: at(t, 100),
        },
        t,
    )
    .await;
    assert!(
        facts(store, token_lookup(&token), at(t, 150))
            .await
            .token_revoked,
        "shortened by an earlier expiry"
    );

    // ...and a longer one extends it.
    apply(
        store,
        Change::TokenRevoked {
            jti: token.clone(),
            expires_at: at(t, 300),
        },
        t,
    )
    .await;
    assert!(
        facts(store, token_lookup(&token), at(t, 250))
            .await
            .token_revoked,
        "not extended by a later expiry"
    );
    assert!(
        !facts(store, token_lookup(&token), at(t, 300))
            .await
            .token_revoked
    );
}

async fn a_session_revocation_keeps_the_later_expiry(store: &impl RevocationStore) {
    let t = now();
    let ses = session(IDP_A, "s1");

    apply(
        store,
        Change::SessionRevoked {
            session: ses.clone(),
            expires_at: at(t, 200),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SessionRevoked {
            session: ses.clone(),
            expires_at: at(t, 100),
        },
        t,
    )
    .await;
    assert!(
        facts(store, session_lookup(&ses), at(t, 150))
            .await
            .session_revoked,
        "shortened by an earlier expiry"
    );

    apply(
        store,
        Change::SessionRevoked {
            session: ses.clone(),
            expires_at: at(t, 300),
        },
        t,
    )
    .await;
    assert!(
        facts(store, session_lookup(&ses), at(t, 250))
            .await
            .session_revoked,
        "not extended by a later expiry"
    );
    assert!(
        !facts(store, session_lookup(&ses), at(t, 300))
            .await
            .session_revoked
    );
}

async fn a_revoked_before_mark_never_moves_back(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");
    let mark = |before, expires_at| Change::SubjectRevokedBefore {
        subject: alice.clone(),
        before,
        expires_at,
    };

    apply(store, mark(at(t, -10), at(t, 3600)), t).await;
    apply(store, mark(at(t, -50), at(t, 3600)), t).await;
    assert_eq!(
        facts(store, subject_lookup(&alice), t)
            .await
            .subject_revoked_before,
        Some(at(t, -10))
    );

    apply(store, mark(at(t, -5), at(t, 3600)), t).await;
    assert_eq!(
        facts(store, subject_lookup(&alice), t)
            .await
            .subject_revoked_before,
        Some(at(t, -5))
    );
}

async fn a_revoked_before_mark_keeps_the_later_expiry(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");
    let mark = |before, expires_at| Change::SubjectRevokedBefore {
        subject: alice.clone(),
        before,
        expires_at,
    };

    // A later `before` with an earlier expiry: the mark moves forward and
    // keeps living until the later expiry.
    apply(store, mark(at(t, -10), at(t, 300)), t).await;
    apply(store, mark(at(t, -5), at(t, 100)), t).await;
    assert_eq!(
        facts(store, subject_lookup(&alice), at(t, 200))
            .await
            .subject_revoked_before,
        Some(at(t, -5))
    );

    // An earlier `before` with a later expiry: the mark stays put and lives
    // longer.
    apply(store, mark(at(t, -50), at(t, 500)), t).await;
    assert_eq!(
        facts(store, subject_lookup(&alice), at(t, 400))
            .await
            .subject_revoked_before,
        Some(at(t, -5))
    );
    assert_eq!(
        facts(store, subject_lookup(&alice), at(t, 500))
            .await
            .subject_revoked_before,
        None
    );
}

async fn an_expired_mark_is_not_revived_by_a_later_one(store: &impl RevocationStore) {
    // A mark that expired for `now` is gone: a new, earlier mark applied
    // after that does not inherit its `before`.
    let t = now();
    let alice = subject(IDP_A, "alice");
    let mark = |before, expires_at| Change::SubjectRevokedBefore {
        subject: alice.clone(),
        before,
        expires_at,
    };

    apply(store, mark(at(t, -10), at(t, 5)), t).await;
    let later = at(t, 10);
    apply(store, mark(at(t, -50), at(t, 300)), later).await;

    assert_eq!(
        facts(store, subject_lookup(&alice), later)
            .await
            .subject_revoked_before,
        Some(at(t, -50))
    );
}

/// A disable touches only the disable: the revoked-before mark that the
/// service writes beside it is a change of its own.
async fn a_disable_leaves_the_revoked_before_mark_alone(store: &impl RevocationStore) {
    let t = now();
    let (alice, bob) = (subject(IDP_A, "alice"), subject(IDP_A, "bob"));
    apply(
        store,
        Change::SubjectRevokedBefore {
            subject: bob.clone(),
            before: at(t, -100),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    for who in [&alice, &bob] {
        apply(
            store,
            Change::SubjectDisabled {
                subject: who.clone(),
                expires_at: Some(at(t, 7200)),
            },
            t,
        )
        .await;
    }

    let alice_facts = facts(store, subject_lookup(&alice), t).await;
    assert!(alice_facts.subject_disabled);
    assert_eq!(
        alice_facts.subject_revoked_before, None,
        "no mark is created"
    );
    let bob_facts = facts(store, subject_lookup(&bob), t).await;
    assert!(bob_facts.subject_disabled);
    assert_eq!(
        bob_facts.subject_revoked_before,
        Some(at(t, -100)),
        "the existing mark is not moved"
    );
    assert_eq!(
        facts(store, subject_lookup(&bob), at(t, 3600))
            .await
            .subject_revoked_before,
        None,
        "nor does it live longer"
    );
}

/// Not spelled out in the trait docs: a second disable with an earlier
/// expiry does not shorten the first, like every other fact (fail closed;
/// enable first to shorten). Both stores must agree either way.
async fn a_disable_keeps_the_later_expiry(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");

    apply(
        store,
        Change::SubjectDisabled {
            subject: alice.clone(),
            expires_at: None,
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectDisabled {
            subject: alice.clone(),
            expires_at: Some(at(t, 100)),
        },
        t,
    )
    .await;
    assert!(
        facts(store, subject_lookup(&alice), at(t, 200))
            .await
            .subject_disabled,
        "indefinite disable shortened"
    );

    let bob = subject(IDP_A, "bob");
    apply(
        store,
        Change::SubjectDisabled {
            subject: bob.clone(),
            expires_at: Some(at(t, 300)),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectDisabled {
            subject: bob.clone(),
            expires_at: Some(at(t, 100)),
        },
        t,
    )
    .await;
    assert!(
        facts(store, subject_lookup(&bob), at(t, 200))
            .await
            .subject_disabled,
        "disable shortened"
    );
}

async fn a_disable_without_expiry_stays(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");

    apply(
        store,
        Change::SubjectDisabled {
            subject: alice.clone(),
            expires_at: None,
        },
        t,
    )
    .await;

    let ten_years = at(t, 10 * 365 * 24 * 3600);
    assert_eq!(
        facts(store, subject_lookup(&alice), ten_years).await,
        Facts {
            subject_disabled: true,
            ..Facts::default()
        }
    );
}

async fn enabling_lifts_only_the_disable(store: &impl RevocationStore) {
    // Arrange: every kind of fact about one person.
    let t = now();
    let alice = subject(IDP_A, "alice");
    let (token, ses) = (jti("t1"), session(IDP_A, "s1"));
    apply(
        store,
        Change::TokenRevoked {
            jti: token.clone(),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SessionRevoked {
            session: ses.clone(),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectRevokedBefore {
            subject: alice.clone(),
            before: t,
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectDisabled {
            subject: alice.clone(),
            expires_at: None,
        },
        t,
    )
    .await;

    // Act
    let later = at(t, 10);
    apply(
        store,
        Change::SubjectEnabled {
            subject: alice.clone(),
        },
        later,
    )
    .await;

    // Assert: the revoked-before mark stays, so tokens issued before it
    // stay dead.
    let all = Lookup {
        jti: Some(&token),
        session: Some(&ses),
        subject: Some(&alice),
    };
    assert_eq!(
        facts(store, all, later).await,
        Facts {
            token_revoked: true,
            session_revoked: true,
            subject_disabled: false,
            subject_revoked_before: Some(t),
            bound: None,
            session_bound: None,
        }
    );
}

async fn events_are_newest_first_with_actor_and_reason(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");
    let changes = [
        (
            Change::TokenRevoked {
                jti: jti("t1"),
                expires_at: at(t, 3600),
            },
            because("admin:ops", "leaked in a log"),
        ),
        (
            Change::SubjectDisabled {
                subject: alice.clone(),
                expires_at: None,
            },
            by("client:gateway"),
        ),
        (
            Change::SubjectEnabled { subject: alice },
            because("admin:ops", "back from leave"),
        ),
    ];
    let mut applied = Vec::new();
    for (i, (change, provenance)) in changes.iter().enumerate() {
        let when = at(t, i as i64);
        let event = store
            .apply(change.clone(), provenance.clone(), when)
            .await
            .expect("apply");
        assert_eq!(
            (&event.change, &event.actor, &event.reason, event.at),
            (change, &provenance.actor, &provenance.reason, when),
            "apply returns the event it recorded"
        );
        applied.push(event);
    }

    let listed = all_events(store).await;

    applied.reverse();
    assert_eq!(listed, applied);
}

async fn events_respect_the_limit(store: &impl RevocationStore) {
    let t = now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let event = apply(
            store,
            Change::TokenRevoked {
                jti: jti(&format!("t{i}")),
                expires_at: at(t, 3600),
            },
            t,
        )
        .await;
        ids.push(event.id);
    }

    let page = store
        .events(&EventPage {
            before: None,
            limit: 2,
        })
        .await
        .expect("events");

    let got: Vec<&EventId> = page.iter().map(|e| &e.id).collect();
    assert_eq!(got, vec![&ids[4], &ids[3]]);
}

async fn paging_with_before_yields_each_event_once(store: &impl RevocationStore) {
    // Arrange: seven events, read three at a time.
    let t = now();
    let mut ids = Vec::new();
    for i in 0..7 {
        let event = apply(
            store,
            Change::TokenRevoked {
                jti: jti(&format!("t{i}")),
                expires_at: at(t, 3600),
            },
            t,
        )
        .await;
        ids.push(event.id);
    }

    // Act
    let mut seen = Vec::new();
    let mut before = None;
    for _ in 0..10 {
        let page = store
            .events(&EventPage {
                before: before.clone(),
                limit: 3,
            })
            .await
            .expect("events");
        let Some(last) = page.last() else { break };
        before = Some(last.id.clone());
        seen.extend(page.into_iter().map(|e| e.id));
    }

    // Assert: every id once, newest first, and nothing after the last page.
    ids.reverse();
    assert_eq!(seen, ids);
}

/// An id that sorts after `id`, in the same store's format.
fn beyond(id: &EventId) -> EventId {
    let (major, minor) = id.order().expect("a store id");
    EventId(match id.0.contains('-') {
        true => format!("{}-{minor}", major + 1000),
        false => (major + 10).to_string(),
    })
}

async fn revoke_n(store: &impl RevocationStore, n: usize) -> Vec<Event> {
    let t = now();
    let mut events = Vec::new();
    for i in 0..n {
        let change = Change::TokenRevoked {
            jti: jti(&format!("t{i}")),
            expires_at: at(t, 3600),
        };
        events.push(apply(store, change, t).await);
    }
    events
}

async fn events_after_a_cursor_are_oldest_first_and_exclusive(store: &impl RevocationStore) {
    let events = revoke_n(store, 5).await;
    let ids = |events: Vec<Event>| events.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let after = |i: usize, limit| store.events_after(&events[i].id, limit);

    let page = after(0, 2).await.expect("read").expect("all retained");
    assert_eq!(ids(page), [events[1].id.clone(), events[2].id.clone()]);
    let rest = after(2, 100).await.expect("read").expect("all retained");
    assert_eq!(rest, events[3..].to_vec(), "whole events, oldest first");
    let none = after(4, 100).await.expect("read").expect("all retained");
    assert!(none.is_empty(), "nothing after the newest");
    // Ids increase in the order the store wrote them.
    let orders: Vec<_> = events
        .iter()
        .map(|e| e.id.order().expect("order"))
        .collect();
    assert!(orders.windows(2).all(|w| w[0] < w[1]), "{orders:?}");
}

async fn a_cursor_beyond_the_newest_event_means_resync(store: &impl RevocationStore) {
    let events = revoke_n(store, 2).await;
    let ahead = beyond(&events[1].id);
    assert_eq!(
        store.events_after(&ahead, 10).await.expect("read"),
        None,
        "an id this log never handed out: it was reset, or belongs to another"
    );
}

async fn an_invalid_cursor_after_is_rejected(store: &impl RevocationStore) {
    revoke_n(store, 1).await;
    for cursor in ["not an id", "", "1.5", "-1", "1-x"] {
        let result = store.events_after(&EventId(cursor.to_owned()), 10).await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "{cursor:?}: {result:?}"
        );
    }
}

async fn the_live_set_pages_through_live_revocations_only(store: &impl RevocationStore) {
    let t = now();
    // Live: 30 tokens, a session, a disable, a revoked-before mark, and the
    // facts of one_of_each (minus what is not a revocation).
    let mut expected: Vec<Change> = Vec::new();
    for i in 0..30 {
        let change = Change::TokenRevoked {
            jti: jti(&format!("live-{i}")),
            expires_at: at(t, 600),
        };
        apply(store, change.clone(), t).await;
        expected.push(change);
    }
    for update in one_of_each(store, t).await {
        if let Some(change) = revokd::store::live_change(update, t) {
            expected.push(change);
        }
    }
    // Not live: expired by the time of reading, enabled again.
    apply(
        store,
        Change::TokenRevoked {
            jti: jti("short"),
            expires_at: at(t, 5),
        },
        t,
    )
    .await;
    let bob = subject(IDP_A, "bob");
    apply(
        store,
        Change::SubjectDisabled {
            subject: bob.clone(),
            expires_at: None,
        },
        t,
    )
    .await;
    apply(store, Change::SubjectEnabled { subject: bob }, t).await;

    let seen = read_live_set(store, 4, ChangeKinds::ALL, at(t, 10)).await;
    expected.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(seen, expected);
}

/// Every page of the live set of `kinds`, sorted; each page must hold
/// exactly `limit` revocations but the last, which holds at most that.
async fn read_live_set(
    store: &impl RevocationStore,
    limit: usize,
    kinds: ChangeKinds,
    now: UnixTime,
) -> Vec<Change> {
    let mut seen: Vec<Change> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let page = store
            .live_page(cursor.as_deref(), limit, kinds, now)
            .await
            .expect("page");
        assert!(
            page.revocations.len() <= limit,
            "a page holds at most limit"
        );
        if page.next.is_some() {
            assert_eq!(page.revocations.len(), limit, "only the last page is short");
        }
        seen.extend(page.revocations);
        match page.next {
            Some(next) => cursor = Some(next),
            None => {
                seen.sort_by_key(|c| format!("{c:?}"));
                return seen;
            }
        }
    }
    panic!("the cursor must move on");
}

async fn live_set_pages_are_not_shifted_by_changes_between_them(store: &impl RevocationStore) {
    let t = now();
    let token = |i: usize| Change::TokenRevoked {
        jti: jti(&format!("stable-{i}")),
        expires_at: at(t, 600),
    };
    for i in 0..40 {
        apply(store, token(i), t).await;
    }
    let mut seen: Vec<Change> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut round = 0;
    loop {
        let page = store
            .live_page(cursor.as_deref(), 3, ChangeKinds::ALL, t)
            .await
            .expect("page");
        seen.extend(page.revocations);
        // Between pages, a new revocation lands somewhere in the store's
        // order: before or after the cursor.
        round += 1;
        apply(store, token(1000 + round), t).await;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    // Every revocation live from the first page to the last shows exactly
    // once; those recorded meanwhile may or may not.
    for i in 0..40 {
        let expected = token(i);
        let count = seen.iter().filter(|c| **c == expected).count();
        assert_eq!(count, 1, "{expected:?} seen {count} times");
    }
    let mut unique = seen.clone();
    unique.sort_by_key(|c| format!("{c:?}"));
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a revocation served twice");
}

async fn the_live_set_of_some_kinds_holds_those_only(store: &impl RevocationStore) {
    let t = now();
    let mut tokens = Vec::new();
    for i in 0..25 {
        let change = Change::TokenRevoked {
            jti: jti(&format!("many-{i}")),
            expires_at: at(t, 600),
        };
        apply(store, change.clone(), t).await;
        tokens.push(change);
    }
    let mut people = vec![
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 600),
        },
        Change::SessionRevoked {
            session: session(IDP_B, "s2"),
            expires_at: at(t, 600),
        },
        Change::SubjectDisabled {
            subject: subject(IDP_A, "alice"),
            expires_at: None,
        },
        Change::SubjectRevokedBefore {
            subject: subject(IDP_U, "bob"),
            before: at(t, -10),
            expires_at: at(t, 600),
        },
    ];
    for change in &people {
        apply(store, change.clone(), t).await;
    }
    // A binding is never a revocation, whatever the kinds.
    register(
        store,
        &registration(IDP_A, Some("s9"), "carol", &["app-1"], at(t, 600)),
        t,
    )
    .await;

    let read = |kinds: &str, limit| read_live_set(store, limit, kinds.parse().unwrap(), t);
    people.sort_by_key(|c| format!("{c:?}"));
    tokens.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        read("session_revoked,subject_disabled,subject_revoked_before", 2).await,
        people
    );
    assert_eq!(read("token_revoked", 7).await, tokens);
    let sessions: Vec<Change> = people
        .iter()
        .filter(|c| matches!(c, Change::SessionRevoked { .. }))
        .cloned()
        .collect();
    assert_eq!(read("session_revoked", 1).await, sessions);
    assert_eq!(read("subject_enabled", 5).await, Vec::<Change>::new());
}

async fn an_invalid_live_set_cursor_is_rejected(store: &impl RevocationStore) {
    for cursor in ["zz", "", "99999999", "-1", "not a cursor"] {
        let result = store
            .live_page(Some(cursor), 10, ChangeKinds::ALL, now())
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "{cursor:?}: {result:?}"
        );
    }
}

async fn an_invalid_cursor_is_rejected(store: &impl RevocationStore) {
    let t = now();
    apply(
        store,
        Change::TokenRevoked {
            jti: jti("t1"),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    for cursor in ["not an id", "", "1.5"] {
        let result = store
            .events(&EventPage {
                before: Some(EventId(cursor.to_owned())),
                limit: 10,
            })
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "cursor {cursor:?}: {result:?}"
        );
    }
}

async fn issuers_sharing_a_sub_or_sid_do_not_collide(store: &impl RevocationStore) {
    let t = now();
    let (alice_a, alice_b) = (subject(IDP_A, "alice"), subject(IDP_B, "alice"));
    let (carol_a, carol_b) = (subject(IDP_A, "carol"), subject(IDP_B, "carol"));
    let (s_a, s_b) = (session(IDP_A, "s1"), session(IDP_B, "s1"));

    apply(
        store,
        Change::SubjectDisabled {
            subject: alice_a.clone(),
            expires_at: None,
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SessionRevoked {
            session: s_a.clone(),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectRevokedBefore {
            subject: carol_a.clone(),
            before: t,
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    assert!(
        facts(store, subject_lookup(&alice_a), t)
            .await
            .subject_disabled
    );
    assert!(facts(store, session_lookup(&s_a), t).await.session_revoked);
    assert_eq!(
        facts(store, subject_lookup(&carol_a), t)
            .await
            .subject_revoked_before,
        Some(t)
    );
    let at_b = Lookup {
        session: Some(&s_b),
        subject: Some(&alice_b),
        ..Lookup::default()
    };
    assert_eq!(facts(store, at_b, t).await, Facts::default());
    assert_eq!(
        facts(store, subject_lookup(&carol_b), t).await,
        Facts::default()
    );
}

// ---------------------------------------------------------------------------
// Replay protection: apply_once
// ---------------------------------------------------------------------------

async fn apply_once_applies_then_ignores_a_replay(store: &impl RevocationStore) {
    // Arrange
    let t = now();
    let key = seen(IDP_A, "logout-1", at(t, 600));
    let ses = session(IDP_A, "s1");
    let change = Change::SessionRevoked {
        session: ses.clone(),
        expires_at: at(t, 3600),
    };
    let provenance = because("logout:idp-a", "back-channel logout");

    // Act
    let first = store
        .apply_once(&key, change.clone(), provenance.clone(), t)
        .await
        .expect("apply_once");
    let replay = store
        .apply_once(&key, change.clone(), provenance.clone(), at(t, 1))
        .await
        .expect("apply_once");

    // Assert: the first call is an ordinary apply, the second a no-op.
    let first = first.expect("the first call applies");
    assert_eq!(
        (&first.change, &first.actor, &first.reason, first.at),
        (&change, &provenance.actor, &provenance.reason, t)
    );
    assert_eq!(replay, None, "a replay applies again");
    assert_eq!(all_events(store).await, vec![first]);
    assert!(facts(store, session_lookup(&ses), t).await.session_revoked);
}

async fn concurrent_apply_once_with_one_key_applies_exactly_once(store: &impl RevocationStore) {
    // Arrange: 100 calls with one logout token, each revoking a token of
    // its own, so that the store shows which of them took effect.
    let t = now();
    let key = seen(IDP_A, "logout-1", at(t, 600));
    let calls = (0..100).map(|i| {
        let change = Change::TokenRevoked {
            jti: jti(&format!("t{i}")),
            expires_at: at(t, 3600),
        };
        store.apply_once(&key, change, by("logout:idp-a"), t)
    });

    // Act
    let results = join_all(calls).await;

    // Assert
    let applied: Vec<Event> = results
        .into_iter()
        .filter_map(|r| r.expect("apply_once"))
        .collect();
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(all_events(store).await, applied);
    let Change::TokenRevoked { jti: winner, .. } = &applied[0].change else {
        panic!("unexpected change {:?}", applied[0].change);
    };
    for i in 0..100 {
        let token = jti(&format!("t{i}"));
        assert_eq!(
            facts(store, token_lookup(&token), t).await.token_revoked,
            &token == winner,
            "t{i}"
        );
    }
}

async fn a_seen_marker_expires(store: &impl RevocationStore) {
    let t = now();
    let change = |i: i64| Change::TokenRevoked {
        jti: jti(&format!("t{i}")),
        expires_at: at(t, 3600),
    };
    let once = |key: SeenKey, change, now| async move {
        store
            .apply_once(&key, change, by("logout:idp-a"), now)
            .await
            .expect("apply_once")
    };

    let first = once(seen(IDP_A, "logout-1", at(t, 100)), change(1), t).await;
    let before_expiry = once(seen(IDP_A, "logout-1", at(t, 100)), change(2), at(t, 99)).await;
    // The same key at its expiry: applies again, and remembers again.
    let at_expiry = once(seen(IDP_A, "logout-1", at(t, 200)), change(3), at(t, 100)).await;
    let after = once(seen(IDP_A, "logout-1", at(t, 200)), change(4), at(t, 150)).await;

    assert!(first.is_some());
    assert_eq!(before_expiry, None, "the marker is live until expires_at");
    assert!(at_expiry.is_some(), "the marker is gone at expires_at");
    assert_eq!(after, None, "the new marker is live");
    let revoked: Vec<bool> = join_all((1..=4).map(|i| async move {
        facts(store, token_lookup(&jti(&format!("t{i}"))), at(t, 150))
            .await
            .token_revoked
    }))
    .await;
    assert_eq!(revoked, [true, false, true, false]);
}

async fn seen_markers_of_different_issuers_are_independent(store: &impl RevocationStore) {
    let t = now();
    let (at_a, at_b) = (
        seen(IDP_A, "logout-1", at(t, 600)),
        seen(IDP_B, "logout-1", at(t, 600)),
    );
    let change = |i: i64| Change::TokenRevoked {
        jti: jti(&format!("t{i}")),
        expires_at: at(t, 3600),
    };

    let a = store.apply_once(&at_a, change(1), by("logout:a"), t).await;
    let b = store.apply_once(&at_b, change(2), by("logout:b"), t).await;
    let a_again = store.apply_once(&at_a, change(3), by("logout:a"), t).await;

    assert!(a.expect("apply_once").is_some());
    assert!(
        b.expect("apply_once").is_some(),
        "the same jti from another issuer is not a replay"
    );
    assert_eq!(a_again.expect("apply_once"), None);
    assert_eq!(all_events(store).await.len(), 2);
}

// ---------------------------------------------------------------------------
// Session registry
// ---------------------------------------------------------------------------

async fn a_registered_token_id_reports_its_binding(store: &impl RevocationStore) {
    // Arrange
    let t = now();
    let reg = registration(IDP_A, Some("s1"), "alice", &["t1", "t2"], at(t, 3600));

    // Act
    let outcome = register(store, &reg, t).await;

    // Assert
    assert_eq!(outcome, Registration::Registered);
    assert_eq!(bound(store, "t1", t).await, clean_binding(t));
    assert_eq!(bound(store, "t2", at(t, 10)).await, clean_binding(t));
    assert_eq!(bound(store, "t3", t).await, None, "never registered");
    assert_eq!(verdict_by_jti(store, "t1", None, t).await, Verdict::Active);
    assert!(
        all_events(store).await.is_empty(),
        "a registration is not an audit event"
    );
    // The binding is reported beside the facts of the keys asked for.
    let alice = subject(IDP_A, "alice");
    let token = jti("t1");
    let both = Lookup {
        jti: Some(&token),
        subject: Some(&alice),
        ..Lookup::default()
    };
    assert_eq!(facts(store, both, t).await.bound, clean_binding(t));
}

async fn revoking_the_bound_session_reaches_the_token(store: &impl RevocationStore) {
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_A, Some("s2"), "alice", &["t2"], at(t, 3600)),
        t,
    )
    .await;

    apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 3600),
        },
        at(t, 5),
    )
    .await;

    let later = at(t, 10);
    let t1 = bound(store, "t1", later).await.expect("t1 is bound");
    assert!(t1.session_revoked, "{t1:?}");
    assert!(!t1.subject_disabled);
    assert_eq!(
        verdict_by_jti(store, "t1", None, later).await,
        Verdict::Inactive(Reason::SessionRevoked)
    );
    assert_eq!(bound(store, "t2", later).await, clean_binding(t));
    assert_eq!(
        verdict_by_jti(store, "t2", None, later).await,
        Verdict::Active,
        "another session of the same subject"
    );
}

async fn disabling_the_bound_subject_reaches_the_token(store: &impl RevocationStore) {
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_A, Some("s2"), "bob", &["t2"], at(t, 3600)),
        t,
    )
    .await;

    apply(
        store,
        Change::SubjectDisabled {
            subject: subject(IDP_A, "alice"),
            expires_at: None,
        },
        at(t, 5),
    )
    .await;

    let later = at(t, 10);
    let t1 = bound(store, "t1", later).await.expect("t1 is bound");
    assert!(t1.subject_disabled, "{t1:?}");
    assert!(!t1.session_revoked);
    assert_eq!(
        verdict_by_jti(store, "t1", Some(later), later).await,
        Verdict::Inactive(Reason::SubjectDisabled)
    );
    assert_eq!(bound(store, "t2", later).await, clean_binding(t));

    apply(
        store,
        Change::SubjectEnabled {
            subject: subject(IDP_A, "alice"),
        },
        at(t, 20),
    )
    .await;
    assert_eq!(
        bound(store, "t1", at(t, 20)).await,
        clean_binding(t),
        "enabling lifts it again"
    );
}

async fn a_revoked_before_mark_after_registration_kills_bound_tokens_one_before_does_not(
    store: &impl RevocationStore,
) {
    // Arrange: registered at t + 10.
    let t = now();
    let registered = at(t, 10);
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        registered,
    )
    .await;
    let alice = subject(IDP_A, "alice");
    let mark = |before| Change::SubjectRevokedBefore {
        subject: alice.clone(),
        before,
        expires_at: at(t, 3600),
    };
    let later = at(t, 30);

    // A mark before the registration leaves the token alone...
    apply(store, mark(at(t, 9)), later).await;
    let t1 = bound(store, "t1", later).await.expect("t1 is bound");
    assert_eq!(t1.subject_revoked_before, Some(at(t, 9)));
    assert_eq!(t1.registered_at, registered);
    assert_eq!(
        verdict_by_jti(store, "t1", None, later).await,
        Verdict::Active
    );

    // ...one at or after it kills it, unless the check shows a later iat.
    apply(store, mark(registered), later).await;
    assert_eq!(
        verdict_by_jti(store, "t1", None, later).await,
        Verdict::Inactive(Reason::SubjectRevokedBefore)
    );
    apply(store, mark(at(t, 20)), later).await;
    assert_eq!(
        verdict_by_jti(store, "t1", None, later).await,
        Verdict::Inactive(Reason::SubjectRevokedBefore)
    );
    assert_eq!(
        verdict_by_jti(store, "t1", Some(at(t, 21)), later).await,
        Verdict::Active,
        "a token issued after the mark"
    );
}

/// What a check that knows only `(iss, sid)` answers.
async fn verdict_by_sid(
    store: &impl RevocationStore,
    iss: &str,
    sid: &str,
    iat: Option<UnixTime>,
    now: UnixTime,
) -> Verdict {
    let request = CheckRequest::new(
        Some(Issuer::parse(iss).expect("iss")),
        None,
        Some(SessionId::parse(sid).expect("sid")),
        None,
        iat,
    )
    .expect("request");
    decide(&request, &facts(store, request.lookup(), now).await)
}

async fn a_sub_only_mark_reaches_a_registered_session_checked_by_sid(store: &impl RevocationStore) {
    // Arrange: s1 of alice registered at t + 10.
    let t = now();
    let registered = at(t, 10);
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        registered,
    )
    .await;
    let alice = subject(IDP_A, "alice");
    let mark = |before| Change::SubjectRevokedBefore {
        subject: alice.clone(),
        before,
        expires_at: at(t, 3600),
    };
    let later = at(t, 30);
    let found = facts(store, session_lookup(&session(IDP_A, "s1")), later)
        .await
        .session_bound;
    assert_eq!(found, clean_binding(registered), "the session's binding");

    // A mark before the registration leaves the session alone...
    apply(store, mark(at(t, 9)), later).await;
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s1", None, later).await,
        Verdict::Active
    );

    // ...one at (fail closed) or after it kills it, unless the check shows
    // a later iat.
    apply(store, mark(registered), later).await;
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s1", None, later).await,
        Verdict::Inactive(Reason::SubjectRevokedBefore)
    );
    apply(store, mark(at(t, 20)), later).await;
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s1", None, later).await,
        Verdict::Inactive(Reason::SubjectRevokedBefore)
    );
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s1", Some(at(t, 21)), later).await,
        Verdict::Active,
        "a token issued after the mark"
    );
    // Another issuer's session of the same sid, and an unregistered sid,
    // know nothing of alice.
    assert_eq!(
        verdict_by_sid(store, IDP_B, "s1", None, later).await,
        Verdict::Active
    );
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s2", None, later).await,
        Verdict::Active
    );
}

async fn a_disabled_subject_reaches_a_registered_session_checked_by_sid(
    store: &impl RevocationStore,
) {
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectDisabled {
            subject: subject(IDP_A, "alice"),
            expires_at: None,
        },
        t,
    )
    .await;
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s1", Some(at(t, 5)), at(t, 10)).await,
        Verdict::Inactive(Reason::SubjectDisabled)
    );
}

async fn a_session_binding_keeps_its_first_subject_and_registration(store: &impl RevocationStore) {
    // Arrange: alice's s1 registered at t, then again at t + 50 (same
    // subject, longer life), then by another key naming bob.
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 100)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t2"], at(t, 300)),
        at(t, 50),
    )
    .await;
    register(
        store,
        &registration_by(
            &owner("other"),
            IDP_A,
            Some("s1"),
            "bob",
            &["t3"],
            at(t, 900),
        ),
        at(t, 60),
    )
    .await;

    // Assert: alice's, from t, until t + 300.
    let states = store
        .read_states(&[MirroredKey::SessionBinding(session(IDP_A, "s1"))])
        .await
        .expect("read_states");
    assert_eq!(
        states,
        [FactUpdate::SessionBound {
            session: session(IDP_A, "s1"),
            subject: subject(IDP_A, "alice"),
            registered_at: t,
            expires_at: at(t, 300),
        }]
    );
    let s1 = session(IDP_A, "s1");
    assert_eq!(
        facts(store, session_lookup(&s1), at(t, 299))
            .await
            .session_bound,
        clean_binding(t)
    );
    assert_eq!(
        facts(store, session_lookup(&s1), at(t, 300))
            .await
            .session_bound,
        None,
        "gone at its expiry"
    );
}

async fn re_registration_adds_ids_and_keeps_the_first_registered_at(store: &impl RevocationStore) {
    // Arrange
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 100)),
        t,
    )
    .await;

    // Act: a token refresh registers a new id (and the old one again) with
    // a later expiry.
    let refreshed = at(t, 50);
    let outcome = register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t2", "t1"], at(t, 300)),
        refreshed,
    )
    .await;

    // Assert
    assert_eq!(outcome, Registration::Registered);
    let later = at(t, 200);
    assert_eq!(
        bound(store, "t1", later).await,
        clean_binding(t),
        "t1 keeps its first registered_at and gains the later expiry"
    );
    assert_eq!(bound(store, "t2", later).await, clean_binding(refreshed));
    // A shorter registration does not cut the binding short.
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 100)),
        later,
    )
    .await;
    assert_eq!(bound(store, "t1", at(t, 250)).await, clean_binding(t));
    // Both ids belong to the session: a local logout removes both.
    let (iss, sid) = (
        Issuer::parse(IDP_A).expect("iss"),
        SessionId::parse("s1").expect("sid"),
    );
    assert!(
        store
            .unregister_session(&app(), &iss, &sid, at(t, 250))
            .await
            .expect("unregister")
            .is_some()
    );
    assert_eq!(bound(store, "t1", at(t, 250)).await, None);
    assert_eq!(bound(store, "t2", at(t, 250)).await, None);
}

/// Checks a refusal: the reason, one `TokensRevoked` event listing every id
/// until the registration's expiry with the caller as actor (one event per
/// refusal, however many ids: issue 17 item 5), and every id revoked.
async fn assert_refused_with_born_revoked_tokens(
    store: &impl RevocationStore,
    outcome: Registration,
    expected: Reason,
    ids: &[&str],
    expires_at: UnixTime,
    now: UnixTime,
) {
    let Registration::Refused { reason, event } = outcome else {
        panic!("registered, expected a refusal for {expected:?}");
    };
    assert_eq!(reason, expected);
    let event = event.expect("one event");
    assert_eq!(
        event.change,
        Change::TokensRevoked {
            jtis: ids.iter().map(|id| jti(id)).collect(),
            expires_at,
        }
    );
    assert!(event.actor == "client:app" && event.at == now, "{event:?}");
    assert_eq!(
        all_events(store).await.first(),
        Some(&event),
        "the event is recorded as the newest"
    );
    for id in ids {
        assert_eq!(
            verdict_by_jti(store, id, None, now).await,
            Verdict::Inactive(Reason::TokenRevoked),
            "{id}"
        );
        assert_eq!(bound(store, id, now).await, None, "{id} was bound");
        assert!(
            facts(store, token_lookup(&jti(id)), at(expires_at, -1))
                .await
                .token_revoked,
            "{id} is revoked until the registration's expiry"
        );
        assert!(
            !facts(store, token_lookup(&jti(id)), expires_at)
                .await
                .token_revoked,
            "{id} is revoked beyond the registration's expiry"
        );
    }
}

async fn a_registration_for_a_revoked_session_is_refused_and_its_tokens_are_born_revoked(
    store: &impl RevocationStore,
) {
    // Arrange: the logout arrives before the application registers the login.
    let t = now();
    apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;
    let expires_at = at(t, 600);

    // Act
    let later = at(t, 5);
    let outcome = register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1", "t2"], expires_at),
        later,
    )
    .await;

    // Assert
    assert_refused_with_born_revoked_tokens(
        store,
        outcome,
        Reason::SessionRevoked,
        &["t1", "t2"],
        expires_at,
        later,
    )
    .await;
    let (iss, sid) = (
        Issuer::parse(IDP_A).expect("iss"),
        SessionId::parse("s1").expect("sid"),
    );
    assert!(
        store
            .unregister_session(&app(), &iss, &sid, later)
            .await
            .expect("unregister")
            .is_none(),
        "a refused registration stores no session record"
    );
}

async fn a_registration_for_a_disabled_subject_is_refused_and_its_tokens_are_born_revoked(
    store: &impl RevocationStore,
) {
    let t = now();
    apply(
        store,
        Change::SubjectDisabled {
            subject: subject(IDP_A, "alice"),
            expires_at: Some(at(t, 3600)),
        },
        t,
    )
    .await;
    let expires_at = at(t, 600);

    let outcome = register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], expires_at),
        t,
    )
    .await;
    let bob = register(
        store,
        &registration(IDP_A, Some("s2"), "bob", &["t9"], expires_at),
        t,
    )
    .await;

    assert_refused_with_born_revoked_tokens(
        store,
        outcome,
        Reason::SubjectDisabled,
        &["t1"],
        expires_at,
        t,
    )
    .await;
    assert_eq!(bob, Registration::Registered, "another subject");
}

async fn a_revoked_session_is_the_reason_when_the_subject_is_disabled_too(
    store: &impl RevocationStore,
) {
    let t = now();
    apply(
        store,
        Change::SubjectDisabled {
            subject: subject(IDP_A, "alice"),
            expires_at: None,
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    let outcome = register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 600)),
        t,
    )
    .await;

    assert!(
        matches!(
            outcome,
            Registration::Refused {
                reason: Reason::SessionRevoked,
                ..
            }
        ),
        "{outcome:?}"
    );
}

async fn a_registration_without_sid_binds_to_the_subject_only(store: &impl RevocationStore) {
    let t = now();
    // A revoked session of the same subject does not refuse a registration
    // that names no session.
    apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    let outcome = register(
        store,
        &registration(IDP_A, None, "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;

    assert_eq!(outcome, Registration::Registered);
    assert_eq!(bound(store, "t1", t).await, clean_binding(t));
    apply(
        store,
        Change::SubjectDisabled {
            subject: subject(IDP_A, "alice"),
            expires_at: None,
        },
        at(t, 5),
    )
    .await;
    assert_eq!(
        verdict_by_jti(store, "t1", None, at(t, 5)).await,
        Verdict::Inactive(Reason::SubjectDisabled)
    );
}

async fn unregister_removes_the_session_and_its_bindings(store: &impl RevocationStore) {
    // Arrange: two sessions.
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1", "t2"], at(t, 3600)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_A, Some("s2"), "alice", &["t3"], at(t, 3600)),
        t,
    )
    .await;
    let iss = Issuer::parse(IDP_A).expect("iss");
    let s1 = SessionId::parse("s1").expect("sid");

    // Act
    let removed = store
        .unregister_session(&app(), &iss, &s1, at(t, 5))
        .await
        .expect("unregister");
    let removed_again = store
        .unregister_session(&app(), &iss, &s1, at(t, 6))
        .await
        .expect("unregister");

    // Assert
    let mut unbound: Vec<String> = removed
        .expect("a live record was removed")
        .iter()
        .map(|id| id.as_ref().to_owned())
        .collect();
    unbound.sort();
    assert_eq!(unbound, ["t1", "t2"], "the ids a mirror must forget");
    assert_eq!(removed_again, None, "nothing left to remove");
    assert_eq!(bound(store, "t1", at(t, 6)).await, None);
    assert_eq!(bound(store, "t2", at(t, 6)).await, None);
    assert_eq!(bound(store, "t3", at(t, 6)).await, clean_binding(t));
    // A later logout of the session no longer reaches the unbound tokens.
    apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 3600),
        },
        at(t, 7),
    )
    .await;
    assert_eq!(
        verdict_by_jti(store, "t1", None, at(t, 8)).await,
        Verdict::Active
    );
    assert!(
        store
            .unregister_session(&app(), &iss, &SessionId::parse("never").expect("sid"), t)
            .await
            .expect("unregister")
            .is_none(),
        "an unknown session"
    );
    assert!(
        all_events(store).await.len() == 1,
        "unregister is not audited"
    );
}

async fn registrations_expire(store: &impl RevocationStore) {
    // Arrange
    let t = now();
    let end = at(t, 100);
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], end),
        t,
    )
    .await;
    apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_A, "s2"),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    // Assert: live one second before, gone at `expires_at` itself.
    assert_eq!(bound(store, "t1", at(end, -1)).await, clean_binding(t));
    assert_eq!(bound(store, "t1", end).await, None);
    let (iss, sid) = (
        Issuer::parse(IDP_A).expect("iss"),
        SessionId::parse("s1").expect("sid"),
    );
    assert!(
        store
            .unregister_session(&app(), &iss, &sid, end)
            .await
            .expect("unregister")
            .is_none(),
        "an expired registration counts as absent"
    );
    // A registration after expiry starts afresh: the dead binding lends
    // it neither its registered_at nor its session.
    let again = at(end, 10);
    register(
        store,
        &registration(IDP_A, Some("s2"), "alice", &["t2"], at(t, 3600)),
        again,
    )
    .await;
    let outcome = register(
        store,
        &registration(IDP_A, Some("s3"), "alice", &["t1"], at(t, 3600)),
        again,
    )
    .await;
    assert_eq!(outcome, Registration::Registered);
    assert_eq!(bound(store, "t1", again).await, clean_binding(again));
}

/// The documented choice of the trait: a token id already bound to another
/// session keeps that binding, so a registration cannot detach a token from
/// a session that may be revoked later.
async fn a_token_id_bound_elsewhere_keeps_its_first_binding(store: &impl RevocationStore) {
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;

    let outcome = register(
        store,
        &registration(IDP_A, Some("s2"), "bob", &["t1", "t2"], at(t, 3600)),
        at(t, 5),
    )
    .await;

    assert_eq!(outcome, Registration::Registered);
    let iss = Issuer::parse(IDP_A).expect("iss");
    assert!(
        store
            .unregister_session(
                &app(),
                &iss,
                &SessionId::parse("s2").expect("sid"),
                at(t, 6)
            )
            .await
            .expect("unregister")
            .is_some()
    );
    assert_eq!(
        bound(store, "t1", at(t, 6)).await,
        clean_binding(t),
        "t1 still belongs to s1"
    );
    assert_eq!(bound(store, "t2", at(t, 6)).await, None);
    apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 3600),
        },
        at(t, 7),
    )
    .await;
    assert_eq!(
        verdict_by_jti(store, "t1", None, at(t, 8)).await,
        Verdict::Inactive(Reason::SessionRevoked)
    );
}

async fn two_issuers_with_the_same_sid_and_sub_do_not_collide_in_the_registry(
    store: &impl RevocationStore,
) {
    // Arrange: the same sid and sub at two providers.
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["ta"], at(t, 3600)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_B, Some("s1"), "alice", &["tb"], at(t, 3600)),
        t,
    )
    .await;

    // Act: provider A logs its session out, provider B disables its alice.
    apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectDisabled {
            subject: subject(IDP_B, "alice"),
            expires_at: None,
        },
        t,
    )
    .await;

    // Assert
    let ta = bound(store, "ta", t).await.expect("ta is bound");
    let tb = bound(store, "tb", t).await.expect("tb is bound");
    assert_eq!((ta.session_revoked, ta.subject_disabled), (true, false));
    assert_eq!((tb.session_revoked, tb.subject_disabled), (false, true));
    // The tombstone of A's session does not refuse B's.
    let outcome = register(
        store,
        &registration(IDP_B, Some("s1"), "carol", &["tc"], at(t, 3600)),
        t,
    )
    .await;
    assert_eq!(outcome, Registration::Registered);
    // Unregistering A's session leaves B's bindings alone.
    let s1 = SessionId::parse("s1").expect("sid");
    assert!(
        store
            .unregister_session(&app(), &Issuer::parse(IDP_A).expect("iss"), &s1, t)
            .await
            .expect("unregister")
            .is_some()
    );
    assert_eq!(bound(store, "ta", t).await, None);
    assert!(bound(store, "tb", t).await.is_some());
    assert!(bound(store, "tc", t).await.is_some());
}

async fn bound_facts_are_found_for_an_issuer_with_non_ascii_characters(
    store: &impl RevocationStore,
) {
    let t = now();
    register(
        store,
        &registration(IDP_U, Some("sïd"), "jürgen", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_U, "sïd"),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectDisabled {
            subject: subject(IDP_U, "jürgen"),
            expires_at: None,
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectRevokedBefore {
            subject: subject(IDP_U, "jürgen"),
            before: t,
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    assert_eq!(
        bound(store, "t1", t).await,
        Some(BoundFacts {
            session_revoked: true,
            subject_disabled: true,
            subject_revoked_before: Some(t),
            registered_at: t,
        })
    );
    assert!(
        store
            .unregister_session(
                &app(),
                &Issuer::parse(IDP_U).expect("iss"),
                &SessionId::parse("sïd").expect("sid"),
                t
            )
            .await
            .expect("unregister")
            .is_some()
    );
    assert_eq!(bound(store, "t1", t).await, None);
}

// ---------------------------------------------------------------------------
// Redis only
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Bounds and ownership of registrations (issue 17, items 3 and 4)
// ---------------------------------------------------------------------------

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn limited(
    owner: &Owner,
    sid: &str,
    token_ids: &[String],
    per_session: usize,
) -> SessionRegistration {
    let limits = RegistrationLimits {
        per_registration: 100,
        per_session,
        per_key: usize::MAX,
    };
    SessionRegistration::new(
        owner.clone(),
        limits,
        Issuer::parse(IDP_A).expect("valid iss"),
        Some(SessionId::parse(sid).expect("valid sid")),
        SubjectId::parse("alice").expect("valid sub"),
        token_ids.iter().map(|id| jti(id)).collect(),
        at(now(), 3600),
    )
    .expect("valid registration")
}

fn owner(name: &str) -> Owner {
    Owner::parse(name).expect("valid owner")
}

async fn a_session_holds_token_ids_up_to_its_cap_and_not_one_more(store: &impl RevocationStore) {
    // Arrange: a cap of 5; 3 ids, then 2 more reach it exactly.
    let t = now();
    let first = ids("t", 5);
    let reg = |token_ids: &[String]| limited(&app(), "s1", token_ids, 5);
    assert_eq!(
        register(store, &reg(&first[..3]), t).await,
        Registration::Registered
    );
    assert_eq!(
        register(store, &reg(&first[3..]), t).await,
        Registration::Registered,
        "at the cap"
    );

    // Act: ids the session holds already are no new ones; one more is.
    let again = register(store, &reg(&first[..2]), t).await;
    let past = register(store, &reg(&["t0".into(), "t5".into()]), t).await;

    // Assert
    assert_eq!(
        again,
        Registration::Registered,
        "re-registering adds nothing"
    );
    assert_eq!(
        past,
        Registration::SessionFull {
            held: 5,
            adding: 1,
            max: 5
        },
        "one past the cap"
    );
    assert_eq!(
        bound(store, "t5", t).await,
        None,
        "a full session stores nothing"
    );
    assert_eq!(bound(store, "t4", t).await, clean_binding(t));
    // A session without a sid has no record, so no session cap.
}

/// A registration by `owner` under a volume of `per_key` live ids.
fn with_volume(
    owner: &Owner,
    sid: Option<&str>,
    token_ids: &[&str],
    per_key: usize,
    expires_at: UnixTime,
) -> SessionRegistration {
    SessionRegistration::new(
        owner.clone(),
        RegistrationLimits {
            per_registration: 100,
            per_session: 1000,
            per_key,
        },
        Issuer::parse(IDP_A).expect("valid iss"),
        sid.map(|sid| SessionId::parse(sid).expect("valid sid")),
        SubjectId::parse("alice").expect("valid sub"),
        token_ids.iter().map(|id| jti(id)).collect(),
        expires_at,
    )
    .expect("valid registration")
}

async fn held(store: &impl RevocationStore, owner: &Owner, now: UnixTime) -> usize {
    store
        .token_ids_held(owner, now)
        .await
        .expect("token_ids_held")
}

async fn a_key_holds_token_ids_up_to_its_volume_and_not_one_more(store: &impl RevocationStore) {
    // Arrange: a volume of 5, filled over two sessions and a registration
    // without a sid.
    let t = now();
    let (a, b) = (owner("app-a"), owner("app-b"));
    let reg = |sid, token_ids: &[&str]| with_volume(&a, sid, token_ids, 5, at(t, 3600));
    for (sid, token_ids) in [
        (Some("s1"), &["v0", "v1"][..]),
        (Some("s2"), &["v2", "v3"][..]),
        (None, &["v4"][..]),
    ] {
        assert_eq!(
            register(store, &reg(sid, token_ids), t).await,
            Registration::Registered
        );
    }
    assert_eq!(held(store, &a, t).await, 5, "at the volume");

    // Act: refreshing held ids adds none; one new id is one too many.
    let refresh = register(
        store,
        &with_volume(&a, Some("s1"), &["v0", "v1"], 5, at(t, 7200)),
        t,
    )
    .await;
    let past = register(store, &reg(Some("s3"), &["v1", "v5"]), t).await;
    let other = register(
        store,
        &with_volume(
            &b,
            Some("s1"),
            &["w0", "w1", "w2", "w3", "w4"],
            5,
            at(t, 3600),
        ),
        t,
    )
    .await;

    // Assert
    assert_eq!(refresh, Registration::Registered, "a refresh is no new id");
    assert_eq!(
        past,
        Registration::KeyFull {
            held: 5,
            adding: 1,
            max: 5
        },
        "one past the volume (v1 is held already)"
    );
    assert_eq!(
        bound(store, "v5", t).await,
        None,
        "a full key stores nothing"
    );
    assert_eq!(held(store, &a, t).await, 5);
    assert_eq!(
        other,
        Registration::Registered,
        "each key has its own volume"
    );
    assert_eq!(held(store, &b, t).await, 5);
}

async fn expiry_frees_room_in_a_key_volume_exactly_at_the_expiry(store: &impl RevocationStore) {
    // Arrange: a volume of 3; two ids end at t+10, one at t+3600.
    let t = now();
    let a = owner("app-a");
    let short = with_volume(&a, Some("s1"), &["e0", "e1"], 3, at(t, 10));
    let long = with_volume(&a, Some("s2"), &["e2"], 3, at(t, 3600));
    assert_eq!(register(store, &short, t).await, Registration::Registered);
    assert_eq!(register(store, &long, t).await, Registration::Registered);
    let next = with_volume(&a, Some("s3"), &["x0", "x1"], 3, at(t, 3600));

    // Act + Assert: one second before the expiry the key is still full...
    assert_eq!(held(store, &a, at(t, 9)).await, 3);
    assert_eq!(
        register(store, &next, at(t, 9)).await,
        Registration::KeyFull {
            held: 3,
            adding: 2,
            max: 3
        }
    );
    // ...and at the expiry the two expired ids no longer count.
    assert_eq!(held(store, &a, at(t, 10)).await, 1);
    assert_eq!(
        register(store, &next, at(t, 10)).await,
        Registration::Registered
    );
    assert_eq!(held(store, &a, at(t, 10)).await, 3);
    // Re-registering an expired id counts it again, once.
    assert_eq!(
        register(
            store,
            &with_volume(&a, Some("s1"), &["e0"], 3, at(t, 3600)),
            at(t, 11)
        )
        .await,
        Registration::KeyFull {
            held: 3,
            adding: 1,
            max: 3
        }
    );
}

async fn unregistering_frees_room_in_a_key_volume(store: &impl RevocationStore) {
    let t = now();
    let a = owner("app-a");
    let first = with_volume(&a, Some("s1"), &["u0", "u1", "u2"], 3, at(t, 3600));
    assert_eq!(register(store, &first, t).await, Registration::Registered);
    let next = with_volume(&a, Some("s2"), &["u3"], 3, at(t, 3600));
    assert!(matches!(
        register(store, &next, t).await,
        Registration::KeyFull { held: 3, .. }
    ));

    // Act: a local logout of s1.
    let removed = store
        .unregister_session(
            &a,
            &Issuer::parse(IDP_A).expect("iss"),
            &SessionId::parse("s1").expect("sid"),
            t,
        )
        .await
        .expect("unregister");

    // Assert
    assert_eq!(removed.map(|ids| ids.len()), Some(3));
    assert_eq!(held(store, &a, t).await, 0);
    assert_eq!(register(store, &next, t).await, Registration::Registered);
    assert_eq!(held(store, &a, t).await, 1);
}

async fn the_session_cap_counts_each_owner_separately(store: &impl RevocationStore) {
    let t = now();
    let (a, b) = (owner("app-a"), owner("app-b"));
    assert_eq!(
        register(store, &limited(&a, "s1", &ids("a", 3), 3), t).await,
        Registration::Registered
    );
    assert_eq!(
        register(store, &limited(&b, "s1", &ids("b", 3), 3), t).await,
        Registration::Registered,
        "another key's registration of the same session has its own count"
    );
}

async fn another_key_cannot_unregister_a_registration(store: &impl RevocationStore) {
    // Arrange: app A registers t1 under s1.
    let t = now();
    let (a, b) = (owner("app-a"), owner("app-b"));
    register(
        store,
        &registration_by(&a, IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    register(
        store,
        &registration_by(&b, IDP_A, Some("s1"), "alice", &["t2"], at(t, 3600)),
        t,
    )
    .await;
    let (iss, sid) = (
        Issuer::parse(IDP_A).expect("iss"),
        SessionId::parse("s1").expect("sid"),
    );

    // Act: app B forgets "the session".
    let removed = store
        .unregister_session(&b, &iss, &sid, t)
        .await
        .expect("unregister");
    apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    // Assert: only B's own registration went; A's token still dies with
    // the session.
    assert_eq!(removed, Some(vec![jti("t2")]));
    assert_eq!(
        verdict_by_jti(store, "t1", None, t).await,
        Verdict::Inactive(Reason::SessionRevoked)
    );
    assert_eq!(
        store
            .unregister_session(&a, &iss, &sid, t)
            .await
            .expect("unregister"),
        Some(vec![jti("t1")]),
        "the owner still can"
    );
}

async fn another_key_cannot_rebind_or_refresh_a_token_id(store: &impl RevocationStore) {
    let t = now();
    let (a, b) = (owner("app-a"), owner("app-b"));
    register(
        store,
        &registration_by(&a, IDP_A, Some("s1"), "alice", &["t1"], at(t, 100)),
        t,
    )
    .await;

    // Act: B registers A's token id under the same session, later.
    register(
        store,
        &registration_by(&b, IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        at(t, 5),
    )
    .await;
    let removed = store
        .unregister_session(
            &b,
            &Issuer::parse(IDP_A).expect("iss"),
            &SessionId::parse("s1").expect("sid"),
            at(t, 6),
        )
        .await
        .expect("unregister");

    // Assert: the binding is A's as it was (B's record held nothing).
    assert_eq!(removed, Some(vec![]), "B's registration held no token id");
    assert_eq!(bound(store, "t1", at(t, 6)).await, clean_binding(t));
    assert_eq!(
        bound(store, "t1", at(t, 100)).await,
        None,
        "B did not extend A's binding"
    );
}

async fn a_refused_registration_does_not_revoke_another_keys_token_ids(
    store: &impl RevocationStore,
) {
    // Arrange: A registered t1; the session is then logged out.
    let t = now();
    let (a, b) = (owner("app-a"), owner("app-b"));
    register(
        store,
        &registration_by(&a, IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    let revoked = apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 3600),
        },
        t,
    )
    .await;

    // Act: B registers A's t1 and its own t2 under the revoked session.
    let outcome = register(
        store,
        &registration_by(&b, IDP_A, Some("s1"), "alice", &["t1", "t2"], at(t, 3600)),
        t,
    )
    .await;

    // Assert: refused; only B's own id is born revoked.
    let Registration::Refused { reason, event } = outcome else {
        panic!("expected a refusal, got {outcome:?}");
    };
    assert_eq!(reason, Reason::SessionRevoked);
    assert_eq!(
        event.map(|e| e.change),
        Some(Change::TokensRevoked {
            jtis: vec![jti("t2")],
            expires_at: at(t, 3600)
        })
    );
    assert!(
        !facts(store, token_lookup(&jti("t1")), t)
            .await
            .token_revoked
    );
    assert!(
        facts(store, token_lookup(&jti("t2")), t)
            .await
            .token_revoked
    );
    let events = all_events(store).await;
    assert_eq!(events.len(), 2, "the logout and t2's revocation");
    assert_eq!(events[1], revoked);
}

async fn a_refusal_of_a_hundred_ids_writes_one_event(store: &impl RevocationStore) {
    // Arrange: a disabled subject; ids with characters JSON must escape.
    let t = now();
    apply(
        store,
        Change::SubjectDisabled {
            subject: subject(IDP_A, "alice"),
            expires_at: None,
        },
        t,
    )
    .await;
    let mut token_ids = ids("t", 98);
    token_ids.push(r#"quote"d"#.into());
    token_ids.push(r"back\slash/".into());

    // Act
    let reg = limited(&app(), "s1", &token_ids, 1_000);
    let outcome = register(store, &reg, t).await;

    // Assert
    let Registration::Refused { event, .. } = outcome else {
        panic!("expected a refusal, got {outcome:?}");
    };
    let event = event.expect("one event");
    let events = all_events(store).await;
    assert_eq!(events.len(), 2, "the disable and one event for 100 ids");
    assert_eq!(events[0], event);
    assert_eq!(
        event.change,
        Change::TokensRevoked {
            jtis: token_ids.iter().map(|id| jti(id)).collect(),
            expires_at: reg.expires_at(),
        }
    );
    for id in &token_ids {
        assert!(
            facts(store, token_lookup(&jti(id)), t).await.token_revoked,
            "{id}"
        );
    }
}

async fn an_owner_unregisters_every_token_id_of_a_large_session(store: &impl RevocationStore) {
    // Arrange: a session of 1,000 ids (10 registrations of 100), more than
    // one batch of any store.
    let t = now();
    let all = ids("big-", 1_000);
    for chunk in all.chunks(100) {
        assert_eq!(
            register(store, &limited(&app(), "s1", chunk, 1_000), t).await,
            Registration::Registered
        );
    }

    // Act
    let removed = store
        .unregister_session(
            &app(),
            &Issuer::parse(IDP_A).expect("iss"),
            &SessionId::parse("s1").expect("sid"),
            t,
        )
        .await
        .expect("unregister")
        .expect("a live record");

    // Assert
    let mut removed: Vec<String> = removed.iter().map(|id| id.as_ref().to_owned()).collect();
    removed.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(removed, expected);
    for id in [&all[0], &all[499], &all[999]] {
        assert_eq!(bound(store, id, t).await, None, "{id}");
    }
    assert_eq!(
        register(store, &limited(&app(), "s1", &ids("again-", 100), 100), t).await,
        Registration::Registered,
        "the emptied session counts from zero"
    );
}

// ---------------------------------------------------------------------------
// What a mirror reads: current states and snapshots
// ---------------------------------------------------------------------------

/// Writes one fact of every mirrored kind (and a seen marker and a session
/// record, which are not mirrored); returns the updates a mirror must hold.
async fn one_of_each(store: &impl RevocationStore, t: UnixTime) -> Vec<FactUpdate> {
    let alice = subject(IDP_U, "alice");
    apply(
        store,
        Change::TokenRevoked {
            jti: jti("t1"),
            expires_at: at(t, 100),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::TokenRevoked {
            jti: jti("t1"),
            expires_at: at(t, 50),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 200),
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectDisabled {
            subject: alice.clone(),
            expires_at: None,
        },
        t,
    )
    .await;
    apply(
        store,
        Change::SubjectRevokedBefore {
            subject: alice.clone(),
            before: at(t, -5),
            expires_at: at(t, 300),
        },
        t,
    )
    .await;
    store
        .apply_once(
            &seen(IDP_A, "logout-1", at(t, 60)),
            Change::TokenRevoked {
                jti: jti("t2"),
                expires_at: at(t, 400),
            },
            by("backchannel:test"),
            t,
        )
        .await
        .expect("apply_once");
    register(
        store,
        &registration(IDP_B, Some("s9"), "bob", &["r1"], at(t, 500)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_B, None, "carol", &["r2"], at(t, 600)),
        t,
    )
    .await;
    vec![
        FactUpdate::Token {
            jti: jti("t1"),
            expires_at: at(t, 100),
        },
        FactUpdate::Session {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 200),
        },
        FactUpdate::SubjectDisabled {
            subject: alice.clone(),
            expires_at: None,
        },
        FactUpdate::SubjectRevokedBefore {
            subject: alice,
            before: at(t, -5),
            expires_at: at(t, 300),
        },
        FactUpdate::Token {
            jti: jti("t2"),
            expires_at: at(t, 400),
        },
        FactUpdate::Binding {
            jti: jti("r1"),
            session: Some(session(IDP_B, "s9")),
            subject: subject(IDP_B, "bob"),
            registered_at: t,
            expires_at: at(t, 500),
        },
        FactUpdate::SessionBound {
            session: session(IDP_B, "s9"),
            subject: subject(IDP_B, "bob"),
            registered_at: t,
            expires_at: at(t, 500),
        },
        FactUpdate::Binding {
            jti: jti("r2"),
            session: None,
            subject: subject(IDP_B, "carol"),
            registered_at: t,
            expires_at: at(t, 600),
        },
    ]
}

fn key_of(update: &FactUpdate) -> MirroredKey {
    match update {
        FactUpdate::Token { jti, .. } => MirroredKey::Token(jti.clone()),
        FactUpdate::Session { session, .. } => MirroredKey::Session(session.clone()),
        FactUpdate::SubjectDisabled { subject, .. } | FactUpdate::SubjectEnabled { subject } => {
            MirroredKey::SubjectDisabled(subject.clone())
        }
        FactUpdate::SubjectRevokedBefore { subject, .. } => {
            MirroredKey::SubjectRevokedBefore(subject.clone())
        }
        FactUpdate::Binding { jti, .. } | FactUpdate::Unbound { jti } => {
            MirroredKey::Binding(jti.clone())
        }
        FactUpdate::SessionBound { session, .. } | FactUpdate::SessionUnbound { session } => {
            MirroredKey::SessionBinding(session.clone())
        }
    }
}

fn sorted(mut updates: Vec<FactUpdate>) -> Vec<FactUpdate> {
    updates.sort_by_key(|u| format!("{u:?}"));
    updates
}

async fn read_states_reports_each_mirrored_fact_as_stored(store: &impl RevocationStore) {
    let t = now();
    let expected = one_of_each(store, t).await;
    let keys: Vec<MirroredKey> = expected.iter().map(key_of).collect();

    let states = store.read_states(&keys).await.expect("read_states");
    assert_eq!(states, expected);

    // Absent keys come back as the updates that remove them.
    let alice = subject(IDP_U, "alice");
    apply(
        store,
        Change::SubjectEnabled {
            subject: alice.clone(),
        },
        t,
    )
    .await;
    store
        .unregister_session(
            &app(),
            &Issuer::parse(IDP_B).expect("iss"),
            &SessionId::parse("s9").expect("sid"),
            t,
        )
        .await
        .expect("unregister");
    let absent = [
        MirroredKey::SubjectDisabled(alice),
        MirroredKey::Binding(jti("r1")),
        MirroredKey::Token(jti("never-revoked")),
        MirroredKey::SubjectRevokedBefore(subject(IDP_A, "nobody")),
        MirroredKey::SessionBinding(session(IDP_A, "nobody")),
    ];
    let states = store.read_states(&absent).await.expect("read_states");
    let gone = UnixTime::from_secs(0);
    assert_eq!(
        states,
        [
            FactUpdate::SubjectEnabled {
                subject: subject(IDP_U, "alice")
            },
            FactUpdate::Unbound { jti: jti("r1") },
            FactUpdate::Token {
                jti: jti("never-revoked"),
                expires_at: gone
            },
            FactUpdate::SubjectRevokedBefore {
                subject: subject(IDP_A, "nobody"),
                before: gone,
                expires_at: gone,
            },
            FactUpdate::SessionUnbound {
                session: session(IDP_A, "nobody"),
            },
        ]
    );
    assert!(store.read_states(&[]).await.expect("empty read").is_empty());
}

async fn a_snapshot_holds_every_mirrored_fact_and_nothing_else(store: &impl RevocationStore) {
    let t = now();
    let expected = one_of_each(store, t).await;
    let mut seen_updates = Vec::new();
    store
        .snapshot(&mut |batch| seen_updates.extend(batch))
        .await
        .expect("snapshot");
    assert_eq!(sorted(seen_updates), sorted(expected));
}

mod redis_only {
    use super::*;

    /// Generous: the store's own bound is `connect_timeout +
    /// command_timeout` = 1 s here; this only catches a hang.
    const FAIL_FAST: Duration = Duration::from_secs(5);

    async fn raw(server: &RedisServer) -> raw_redis::aio::MultiplexedConnection {
        let client = raw_redis::Client::open(server.url()).expect("client");
        client
            .get_multiplexed_async_connection()
            .await
            .expect("raw connection")
    }

    /// Calls every store method and checks that each fails as
    /// `Unavailable`, quickly.
    async fn assert_unavailable(store: &RedisStore) {
        let t = now();
        let token = jti("t-down");
        let revoke = Change::TokenRevoked {
            jti: token.clone(),
            expires_at: at(t, 60),
        };
        let page = EventPage {
            before: None,
            limit: 10,
        };

        let reg = registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 60));
        let (iss, sid) = (
            Issuer::parse(IDP_A).expect("iss"),
            SessionId::parse("s1").expect("sid"),
        );
        let logout = seen(IDP_A, "logout-1", at(t, 60));

        let started = Instant::now();
        let ping = store.ping().await.err();
        let ping_took = started.elapsed();
        let apply = store.apply(revoke.clone(), by("admin:test"), t).await.err();
        let apply_took = started.elapsed() - ping_took;
        let lookup = store.lookup(token_lookup(&token), t).await.err();
        let lookup_took = started.elapsed() - ping_took - apply_took;
        let events = store.events(&page).await.err();
        let events_took = started.elapsed() - ping_took - apply_took - lookup_took;
        let mut results = vec![
            ("ping", ping, ping_took),
            ("apply", apply, apply_took),
            ("lookup", lookup, lookup_took),
            ("events", events, events_took),
        ];
        let started = Instant::now();
        let once = store
            .apply_once(&logout, revoke, by("admin:test"), t)
            .await
            .err();
        results.push(("apply_once", once, started.elapsed()));
        let started = Instant::now();
        let registered = store
            .register_session(&reg, by("client:app"), t)
            .await
            .err();
        results.push(("register_session", registered, started.elapsed()));
        let started = Instant::now();
        let unregistered = store.unregister_session(&app(), &iss, &sid, t).await.err();
        results.push(("unregister_session", unregistered, started.elapsed()));

        for (call, err, took) in results {
            assert!(
                matches!(err, Some(StoreError::Unavailable(_))),
                "{call}: {err:?}"
            );
            assert!(took < FAIL_FAST, "{call} took {took:?}");
        }
    }

    #[tokio::test]
    async fn two_prefixes_on_one_server_do_not_see_each_other() {
        let server = RedisServer::start();
        let one = RedisStore::connect(&redis_settings(&server, "one:")).expect("connect");
        let two = RedisStore::connect(&redis_settings(&server, "two:")).expect("connect");
        let t = now();
        let (token, alice) = (jti("t1"), subject(IDP_A, "alice"));

        apply(
            &one,
            Change::TokenRevoked {
                jti: token.clone(),
                expires_at: at(t, 3600),
            },
            t,
        )
        .await;
        apply(
            &one,
            Change::SubjectDisabled {
                subject: alice.clone(),
                expires_at: None,
            },
            t,
        )
        .await;

        let both = Lookup {
            jti: Some(&token),
            subject: Some(&alice),
            ..Lookup::default()
        };
        assert_eq!(facts(&two, both, t).await, Facts::default());
        assert!(all_events(&two).await.is_empty());
        assert_eq!(all_events(&one).await.len(), 2);
        let mut conn = raw(&server).await;
        let keys: Vec<String> = raw_redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut conn)
            .await
            .expect("KEYS");
        assert!(keys.iter().all(|k| k.starts_with("one:")), "{keys:?}");
    }

    #[tokio::test]
    async fn key_ttls_match_expires_at() {
        let h = redis();
        let mut conn = raw(&h.server).await;
        let t = now();
        let (token, alice, bob) = (jti("t1"), subject(IDP_A, "alice"), subject(IDP_A, "bob"));

        apply(
            &h.store,
            Change::TokenRevoked {
                jti: token,
                expires_at: at(t, 1000),
            },
            t,
        )
        .await;
        apply(
            &h.store,
            Change::SubjectDisabled {
                subject: alice,
                expires_at: None,
            },
            t,
        )
        .await;
        apply(
            &h.store,
            Change::SubjectDisabled {
                subject: bob.clone(),
                expires_at: Some(at(t, 2000)),
            },
            t,
        )
        .await;
        apply(
            &h.store,
            Change::SubjectRevokedBefore {
                subject: bob,
                before: t,
                expires_at: at(t, 2000),
            },
            t,
        )
        .await;

        let pttl = |key: &'static str| {
            let mut conn = conn.clone();
            async move {
                raw_redis::cmd("PTTL")
                    .arg(key)
                    .query_async::<i64>(&mut conn)
                    .await
                    .expect("PTTL")
            }
        };
        // EXAT has whole seconds and the clock moved on since `t`: allow a
        // few seconds below, nothing above.
        let token_ttl = pttl("revokd-test:tok:t1").await;
        assert!(
            (995_000..=1_000_000).contains(&token_ttl),
            "token PTTL {token_ttl}"
        );
        let bob_ttl = pttl("revokd-test:dis:21:https://idp-a.example:bob").await;
        assert!(
            (1_995_000..=2_000_000).contains(&bob_ttl),
            "disable PTTL {bob_ttl}"
        );
        let bob_mark_ttl = pttl("revokd-test:rb:21:https://idp-a.example:bob").await;
        assert!(
            (1_995_000..=2_000_000).contains(&bob_mark_ttl),
            "mark PTTL {bob_mark_ttl}"
        );
        assert_eq!(
            pttl("revokd-test:dis:21:https://idp-a.example:alice").await,
            -1,
            "indefinite disable has no TTL"
        );
        let stream_ttl: i64 = raw_redis::cmd("PTTL")
            .arg("revokd-test:events")
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        assert_eq!(stream_ttl, -1, "the event stream does not expire");
    }

    #[tokio::test]
    async fn unreadable_values_are_corrupt_and_apply_writes_nothing() {
        let h = redis();
        let mut conn = raw(&h.server).await;
        let t = now();
        let alice = subject(IDP_A, "alice");
        let _: () = raw_redis::cmd("SET")
            .arg("revokd-test:rb:21:https://idp-a.example:alice")
            .arg("garbage")
            .query_async(&mut conn)
            .await
            .expect("SET");

        let lookup = h.store.lookup(subject_lookup(&alice), t).await;
        let applied = h
            .store
            .apply(
                Change::SubjectRevokedBefore {
                    subject: alice,
                    before: t,
                    expires_at: at(t, 3600),
                },
                by("admin:test"),
                t,
            )
            .await;

        assert!(matches!(lookup, Err(StoreError::Corrupt(_))), "{lookup:?}");
        assert!(
            matches!(applied, Err(StoreError::Corrupt(_))),
            "{applied:?}"
        );
        let mark: Option<String> = raw_redis::cmd("GET")
            .arg("revokd-test:rb:21:https://idp-a.example:alice")
            .query_async(&mut conn)
            .await
            .expect("GET");
        assert_eq!(
            mark.as_deref(),
            Some("garbage"),
            "a failed apply overwrote the mark"
        );
        assert!(
            all_events(&h.store).await.is_empty(),
            "a failed apply appended its event"
        );
    }

    async fn get(conn: &mut raw_redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
        raw_redis::cmd("GET")
            .arg(key)
            .query_async(conn)
            .await
            .expect("GET")
    }

    async fn exists(conn: &mut raw_redis::aio::MultiplexedConnection, key: &str) -> bool {
        raw_redis::cmd("EXISTS")
            .arg(key)
            .query_async::<i64>(conn)
            .await
            .expect("EXISTS")
            == 1
    }

    #[tokio::test]
    async fn a_failed_apply_once_leaves_no_marker_and_a_retry_applies() {
        // Arrange: a mark the script cannot read.
        let h = redis();
        let mut conn = raw(&h.server).await;
        let t = now();
        let mark_key = "revokd-test:rb:21:https://idp-a.example:alice";
        let _: () = raw_redis::cmd("SET")
            .arg(mark_key)
            .arg("garbage")
            .query_async(&mut conn)
            .await
            .expect("SET");
        let key = seen(IDP_A, "logout-1", at(t, 600));
        let change = Change::SubjectRevokedBefore {
            subject: subject(IDP_A, "alice"),
            before: t,
            expires_at: at(t, 3600),
        };

        // Act
        let failed = h
            .store
            .apply_once(&key, change.clone(), by("logout:idp-a"), t)
            .await;

        // Assert: nothing written, so the provider's retry goes through.
        assert!(matches!(failed, Err(StoreError::Corrupt(_))), "{failed:?}");
        assert!(
            !exists(
                &mut conn,
                "revokd-test:seen:21:https://idp-a.example:logout-1"
            )
            .await,
            "a failed call left its marker"
        );
        assert_eq!(get(&mut conn, mark_key).await.as_deref(), Some("garbage"));
        assert!(all_events(&h.store).await.is_empty());
        let _: () = raw_redis::cmd("DEL")
            .arg(mark_key)
            .query_async(&mut conn)
            .await
            .expect("DEL");
        let retried = h
            .store
            .apply_once(&key, change, by("logout:idp-a"), t)
            .await
            .expect("apply_once");
        assert!(retried.is_some());
    }

    #[tokio::test]
    async fn registry_keys_expire_with_what_they_record() {
        let h = redis();
        let mut conn = raw(&h.server).await;
        let t = now();

        register(
            &h.store,
            &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 1000)),
            t,
        )
        .await;
        h.store
            .apply_once(
                &seen(IDP_A, "logout-1", at(t, 2000)),
                Change::TokenRevoked {
                    jti: jti("t9"),
                    expires_at: at(t, 3000),
                },
                by("logout:idp-a"),
                t,
            )
            .await
            .expect("apply_once");

        // EXPIREAT has whole seconds and the clock moved on since `t`:
        // allow a few seconds below, nothing above.
        for (key, secs) in [
            ("revokd-test:bnd:t1", 1000),
            ("revokd-test:reg:3:app:21:https://idp-a.example:s1", 1000),
            ("revokd-test:seen:21:https://idp-a.example:logout-1", 2000),
        ] {
            let pttl: i64 = raw_redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .expect("PTTL");
            assert!(
                ((secs - 5) * 1000..=secs * 1000).contains(&pttl),
                "{key}: PTTL {pttl}"
            );
        }
    }

    #[tokio::test]
    async fn a_registration_that_meets_an_unreadable_binding_writes_nothing() {
        let h = redis();
        let mut conn = raw(&h.server).await;
        let t = now();
        let _: () = raw_redis::cmd("SET")
            .arg("revokd-test:bnd:t2")
            .arg("not a hash")
            .query_async(&mut conn)
            .await
            .expect("SET");

        let result = h
            .store
            .register_session(
                &registration(IDP_A, Some("s1"), "alice", &["t1", "t2"], at(t, 600)),
                by("client:app"),
                t,
            )
            .await;

        assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
        assert!(!exists(&mut conn, "revokd-test:bnd:t1").await);
        assert!(!exists(&mut conn, "revokd-test:reg:21:https://idp-a.example:s1").await);
    }

    #[tokio::test]
    async fn a_refusal_that_meets_an_unreadable_token_revocation_writes_nothing() {
        let h = redis();
        let mut conn = raw(&h.server).await;
        let t = now();
        apply(
            &h.store,
            Change::SessionRevoked {
                session: session(IDP_A, "s1"),
                expires_at: at(t, 3600),
            },
            t,
        )
        .await;
        let _: () = raw_redis::cmd("SET")
            .arg("revokd-test:tok:t2")
            .arg("garbage")
            .query_async(&mut conn)
            .await
            .expect("SET");

        let result = h
            .store
            .register_session(
                &registration(IDP_A, Some("s1"), "alice", &["t1", "t2"], at(t, 600)),
                by("client:app"),
                t,
            )
            .await;

        assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
        assert!(!exists(&mut conn, "revokd-test:tok:t1").await);
        assert_eq!(all_events(&h.store).await.len(), 1, "only the tombstone");
    }

    #[tokio::test]
    async fn a_redis_down_at_start_does_not_stop_connect() {
        let mut server = RedisServer::start();
        server.stop();

        let store = RedisStore::connect(&redis_settings(&server, "revokd-test:"))
            .expect("connect without Redis");

        assert_unavailable(&store).await;
        server.restart();
        store.ping().await.expect("ping once Redis is up");
    }

    #[tokio::test]
    async fn a_stopped_redis_fails_fast_and_a_restarted_one_has_every_acknowledged_write() {
        // Arrange: acknowledged writes, and pooled connections to the server.
        let mut h = redis();
        let t = now();
        let mut acknowledged = Vec::new();
        for i in 0..20 {
            let change = Change::TokenRevoked {
                jti: jti(&format!("t{i}")),
                expires_at: at(t, 3600),
            };
            acknowledged.push(apply(&h.store, change, t).await);
        }

        // Act + Assert: down...
        h.server.stop();
        assert_unavailable(&h.store).await;

        // ...and back, without a new store.
        h.server.restart();
        h.store.ping().await.expect("ping after restart");
        for i in 0..20 {
            let token = jti(&format!("t{i}"));
            assert!(
                facts(&h.store, token_lookup(&token), t).await.token_revoked,
                "t{i} lost"
            );
        }
        acknowledged.reverse();
        assert_eq!(all_events(&h.store).await, acknowledged);
        let token = jti("after");
        apply(
            &h.store,
            Change::TokenRevoked {
                jti: token.clone(),
                expires_at: at(t, 3600),
            },
            t,
        )
        .await;
        assert!(facts(&h.store, token_lookup(&token), t).await.token_revoked);
    }

    #[tokio::test]
    async fn writes_acknowledged_before_a_crash_survive_it() {
        // An Ok from apply comes after Redis appended the script's writes to
        // its append-only file, so a SIGKILL right after loses none of them.
        // (That they also reached the platter, `appendfsync always`, only a
        // power cut could show.)
        let mut h = redis();
        let t = now();
        let mut acknowledged = Vec::new();
        for i in 0..20 {
            let change = Change::SubjectDisabled {
                subject: subject(IDP_A, &format!("u{i}")),
                expires_at: None,
            };
            acknowledged.push(apply(&h.store, change, t).await);
        }

        h.server.crash();
        h.server.restart();

        for i in 0..20 {
            let who = subject(IDP_A, &format!("u{i}"));
            assert!(
                facts(&h.store, subject_lookup(&who), t)
                    .await
                    .subject_disabled,
                "u{i} lost"
            );
        }
        acknowledged.reverse();
        assert_eq!(all_events(&h.store).await, acknowledged);
    }

    #[tokio::test]
    async fn a_frozen_redis_fails_fast_and_recovers() {
        let h = redis();
        h.store.ping().await.expect("ping");

        h.server.pause();
        assert_unavailable(&h.store).await;
        h.server.resume();

        h.store.ping().await.expect("ping after resume");
    }

    #[tokio::test]
    async fn every_write_names_its_mirrored_keys_on_the_feed() {
        let h = redis();
        let settings = redis_settings(&h.server, "revokd-test:");
        let mut reader = h
            .store
            .feed_reader(&settings, Duration::from_millis(100))
            .await
            .expect("feed reader");
        let empty = reader.next("0-0", 100).await.expect("read");
        assert!(empty.keys.is_empty() && empty.last_id.is_none());
        let t = now();

        let expected: Vec<MirroredKey> = super::one_of_each(&h.store, t)
            .await
            .iter()
            .map(super::key_of)
            .collect();
        let batch = reader.next("0-0", 100).await.expect("read");
        // t1 was revoked twice: two entries; the seen marker is not mirrored.
        let mut wanted = expected.clone();
        wanted.insert(1, MirroredKey::Token(jti("t1")));
        assert_eq!(batch.keys, wanted);
        let last = batch.last_id.expect("an id");

        h.store
            .unregister_session(
                &app(),
                &Issuer::parse(IDP_B).expect("iss"),
                &SessionId::parse("s9").expect("sid"),
                t,
            )
            .await
            .expect("unregister");
        let batch = reader.next(&last, 100).await.expect("read");
        assert_eq!(batch.keys, [MirroredKey::Binding(jti("r1"))]);

        let info = reader.info().await.expect("info");
        assert_eq!(info.entries_added, 9, "8 writes, then the unregistration");
        assert_eq!(info.length, 9, "nothing trimmed yet");
        let head = h
            .store
            .snapshot(&mut |_| {})
            .await
            .expect("snapshot")
            .expect("Redis has a feed");
        assert_eq!(head.id, batch.last_id.expect("an id"));
        assert_eq!(head.consumed, 9);
    }

    /// The snapshot index's own record.
    const INDEX: &str = "revokd-test:mirror";

    /// Writes index entries as a write script would, into their buckets.
    async fn index_put(
        store: &RedisStore,
        conn: &mut raw_redis::aio::MultiplexedConnection,
        entries: &[(&str, String)],
    ) {
        for (field, value) in entries {
            let _: i64 = raw_redis::cmd("HSET")
                .arg(store.index_bucket(field))
                .arg(*field)
                .arg(value)
                .query_async(conn)
                .await
                .expect("HSET");
        }
    }

    async fn snapshot_of(store: &RedisStore) -> Vec<FactUpdate> {
        let mut updates = Vec::new();
        store
            .snapshot(&mut |batch| updates.extend(batch))
            .await
            .expect("snapshot");
        super::sorted(updates)
    }

    async fn index_complete(conn: &mut raw_redis::aio::MultiplexedConnection) -> bool {
        raw_redis::cmd("HEXISTS")
            .arg(INDEX)
            .arg("complete")
            .query_async(conn)
            .await
            .expect("HEXISTS")
    }

    #[tokio::test]
    async fn snapshots_from_the_index_match_a_full_scan() {
        let h = redis();
        let mut conn = raw(&h.server).await;
        let t = now();
        let expected = super::sorted(super::one_of_each(&h.store, t).await);

        // No complete index yet: the first snapshot scans, and builds it.
        assert!(!index_complete(&mut conn).await);
        assert_eq!(snapshot_of(&h.store).await, expected);
        assert!(index_complete(&mut conn).await, "built by the scan");

        // Later writes keep it current: a removal, an enable, a new fact.
        h.store
            .unregister_session(
                &app(),
                &Issuer::parse(IDP_B).expect("iss"),
                &SessionId::parse("s9").expect("sid"),
                t,
            )
            .await
            .expect("unregister");
        apply(
            &h.store,
            Change::SubjectEnabled {
                subject: subject(IDP_U, "alice"),
            },
            t,
        )
        .await;
        apply(
            &h.store,
            Change::TokenRevoked {
                jti: jti("t-late"),
                expires_at: at(t, 90),
            },
            t,
        )
        .await;
        let from_index = snapshot_of(&h.store).await;
        assert!(from_index.contains(&FactUpdate::Token {
            jti: jti("t-late"),
            expires_at: at(t, 90),
        }));
        assert!(
            !from_index
                .iter()
                .any(|u| matches!(u, FactUpdate::SubjectDisabled { .. })
                    || matches!(u,
                FactUpdate::Binding { jti: bound, .. } if *bound == jti("r1"))),
            "enabled and unregistered facts left the index: {from_index:?}"
        );
        assert_eq!(
            from_index.len(),
            expected.len() - 1,
            "r1 and alice out, t-late in"
        );

        // The same as a scan of the keys themselves.
        let _: i64 = raw_redis::cmd("HDEL")
            .arg(INDEX)
            .arg("complete")
            .query_async(&mut conn)
            .await
            .expect("HDEL");
        assert_eq!(snapshot_of(&h.store).await, from_index);
    }

    #[tokio::test]
    async fn facts_written_before_the_index_existed_are_indexed_once() {
        let h = redis();
        let mut conn = raw(&h.server).await;
        let t = now();
        apply(
            &h.store,
            Change::TokenRevoked {
                jti: jti("t-new"),
                expires_at: at(t, 60),
            },
            t,
        )
        .await;
        // A fact as an older revokd wrote it: the key, no index entry; and
        // an index that lost its completion mark with it.
        let exp = at(t, 120).as_secs().to_string();
        let _: () = raw_redis::cmd("SET")
            .arg("revokd-test:tok:t-old")
            .arg(&exp)
            .arg("EXAT")
            .arg(&exp)
            .query_async(&mut conn)
            .await
            .expect("SET");
        let old = FactUpdate::Token {
            jti: jti("t-old"),
            expires_at: at(t, 120),
        };
        assert!(snapshot_of(&h.store).await.contains(&old));
        let indexed: Option<String> = raw_redis::cmd("HGET")
            .arg(h.store.index_bucket("tok:t-old"))
            .arg("tok:t-old")
            .query_async(&mut conn)
            .await
            .expect("HGET");
        assert_eq!(indexed.as_deref(), Some(exp.as_str()));
        assert!(index_complete(&mut conn).await);
        assert!(
            snapshot_of(&h.store).await.contains(&old),
            "and read back from the index"
        );
    }

    #[tokio::test]
    async fn the_index_sweep_drops_expired_facts_and_keeps_live_ones() {
        let h = redis();
        let mut conn = raw(&h.server).await;
        let t = now();
        // No index at all: a sweep does not create one.
        assert_eq!(h.store.sweep_index(t, 10).await.expect("sweep"), 0);
        let exists: i64 = raw_redis::cmd("EXISTS")
            .arg(INDEX)
            .query_async(&mut conn)
            .await
            .expect("EXISTS");
        assert_eq!(exists, 0);

        let expected = super::sorted(super::one_of_each(&h.store, t).await);
        assert_eq!(snapshot_of(&h.store).await, expected);
        // Facts whose keys Redis already expired: their index entries stay
        // until a sweep, and no snapshot hands them out meanwhile.
        let past = at(t, -10).as_secs();
        let gone = [
            ("tok:gone", past.to_string()),
            ("rb:3:iss:gone", format!("{} {past}", past - 100)),
            (
                "bnd:gone",
                format!("{past}\n{}\nhttps://idp\nsomeone", past - 100),
            ),
            ("sbn:3:iss:gone", format!("{past} {} some one", past - 100)),
        ];
        index_put(&h.store, &mut conn, &gone).await;
        assert_eq!(snapshot_of(&h.store).await, expected);

        // A full pass (the sweep stops after the last bucket).
        assert_eq!(h.store.sweep_index(t, usize::MAX).await.expect("sweep"), 4);
        for (field, _) in &gone {
            let there: bool = raw_redis::cmd("HEXISTS")
                .arg(h.store.index_bucket(field))
                .arg(*field)
                .query_async(&mut conn)
                .await
                .expect("HEXISTS");
            assert!(!there, "{field} swept");
        }
        assert_eq!(
            h.store
                .sweep_index(t, usize::MAX)
                .await
                .expect("sweep again"),
            0
        );
        assert_eq!(snapshot_of(&h.store).await, expected, "live facts stay");
    }

    #[tokio::test]
    async fn an_unreadable_index_entry_fails_the_snapshot() {
        let h = redis();
        let mut conn = raw(&h.server).await;
        let t = now();
        super::one_of_each(&h.store, t).await;
        snapshot_of(&h.store).await;
        index_put(&h.store, &mut conn, &[("tok:bad", "soon".to_owned())]).await;
        let err = h
            .store
            .snapshot(&mut |_| {})
            .await
            .expect_err("a corrupt entry is not skipped");
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_cursor_whose_successors_were_trimmed_means_resync() {
        let h = redis();
        let mut conn = raw(&h.server).await;
        let events = super::revoke_n(&h.store, 5).await;
        let _: i64 = raw_redis::cmd("XTRIM")
            .arg("revokd-test:events")
            .arg("MAXLEN")
            .arg(2)
            .query_async(&mut conn)
            .await
            .expect("XTRIM");
        // events[2] was trimmed: a consumer at events[1] missed it.
        assert_eq!(
            h.store.events_after(&events[1].id, 10).await.expect("read"),
            None
        );
        // At the last trimmed id nothing is missing, but the stream cannot
        // tell (MAXLEN trimming keeps no record): resync, never a gap.
        assert_eq!(
            h.store.events_after(&events[2].id, 10).await.expect("read"),
            None
        );
        // From the first retained entry on, reading goes on.
        let rest = h
            .store
            .events_after(&events[3].id, 10)
            .await
            .expect("read")
            .expect("retained");
        assert_eq!(rest, events[4..].to_vec());
        // The beginning of an empty log is fine; of a trimmed one it is not.
        assert_eq!(
            h.store
                .events_after(&EventId("0-0".into()), 10)
                .await
                .expect("read"),
            None
        );
    }

    #[tokio::test]
    async fn the_beginning_of_an_absent_log_is_empty_not_a_resync() {
        let h = redis();
        assert_eq!(
            h.store
                .events_after(&EventId("0-0".into()), 10)
                .await
                .expect("read"),
            Some(Vec::new())
        );
    }
}

// ---------------------------------------------------------------------------
// Kept logout tokens (issue 17 item 18): the same contract on both stores.
// ---------------------------------------------------------------------------

mod pending_logouts {
    use super::*;
    use revokd::store::{PendingLogout, PendingLogoutStore, PendingPut};

    fn pending(token: &str, received_at: i64) -> PendingLogout {
        PendingLogout {
            id: PendingLogout::id_of(token),
            provider: "idp".into(),
            token: token.into(),
            received_at: UnixTime::from_secs(received_at),
            expires_at: UnixTime::from_secs(received_at + 360),
        }
    }

    async fn a_kept_token_is_listed_once_until_forgotten(store: &impl PendingLogoutStore) {
        let (a, b) = (pending("a.b.c", 200), pending("d.e.f", 100));
        assert_eq!(
            store.keep_pending_logout(&a, 10).await.unwrap(),
            PendingPut::Kept
        );
        assert_eq!(
            store.keep_pending_logout(&b, 10).await.unwrap(),
            PendingPut::Kept
        );
        assert_eq!(
            store.keep_pending_logout(&a, 10).await.unwrap(),
            PendingPut::AlreadyKept
        );
        assert_eq!(
            store.pending_logouts().await.unwrap(),
            vec![b.clone(), a.clone()]
        );

        assert!(store.forget_pending_logout(&a.id).await.unwrap());
        assert!(!store.forget_pending_logout(&a.id).await.unwrap());
        assert_eq!(store.pending_logouts().await.unwrap(), vec![b]);
    }

    async fn nothing_kept_is_an_empty_list(store: &impl PendingLogoutStore) {
        assert_eq!(store.pending_logouts().await.unwrap(), Vec::new());
        assert!(!store.forget_pending_logout("nope").await.unwrap());
    }

    async fn no_more_than_max_count_are_kept(store: &impl PendingLogoutStore) {
        let tokens: Vec<PendingLogout> = (0..3).map(|i| pending(&format!("t{i}"), i)).collect();
        assert_eq!(
            store.keep_pending_logout(&tokens[0], 2).await.unwrap(),
            PendingPut::Kept
        );
        assert_eq!(
            store.keep_pending_logout(&tokens[1], 2).await.unwrap(),
            PendingPut::Kept
        );
        assert_eq!(
            store.keep_pending_logout(&tokens[2], 2).await.unwrap(),
            PendingPut::Full
        );
        assert_eq!(store.pending_logouts().await.unwrap().len(), 2);
        store.forget_pending_logout(&tokens[0].id).await.unwrap();
        assert_eq!(
            store.keep_pending_logout(&tokens[2], 2).await.unwrap(),
            PendingPut::Kept
        );
    }

    async fn concurrent_keeps_never_exceed_max_count(store: &impl PendingLogoutStore) {
        let tokens: Vec<PendingLogout> = (0..12).map(|i| pending(&format!("c{i}"), i)).collect();
        let results = join_all(tokens.iter().map(|p| store.keep_pending_logout(p, 5))).await;
        let kept = results
            .into_iter()
            .filter(|r| *r.as_ref().unwrap() == PendingPut::Kept)
            .count();
        assert_eq!(kept, 5);
        assert_eq!(store.pending_logouts().await.unwrap().len(), 5);
    }

    contract!(
        a_kept_token_is_listed_once_until_forgotten,
        nothing_kept_is_an_empty_list,
        no_more_than_max_count_are_kept,
        concurrent_keeps_never_exceed_max_count,
    );
}

// ---------------------------------------------------------------------------
// The audit log's own retention of admin events (issue 17, item 5)
// ---------------------------------------------------------------------------

/// A disable by an admin, then `flood` refused registrations by a client
/// key (one client-caused event each) in a log that keeps far fewer; after
/// `trim` (the embedded store trims in its sweep), the admin's event is
/// still in the audit log, merged in order with the newest client events.
async fn admin_events_outlive_a_flood_of_client_events<F, Fut>(
    store: &impl RevocationStore,
    flood: usize,
    trim: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // Arrange
    let t = now();
    let disable = store
        .apply(
            Change::SubjectDisabled {
                subject: subject(IDP_A, "alice"),
                expires_at: None,
            },
            by("admin:ops"),
            t,
        )
        .await
        .expect("disable");
    let refused = registration(IDP_A, Some("s1"), "alice", &["f"], at(t, 3600));

    // Act: the flood.
    for _ in 0..flood {
        let outcome = store
            .register_session(&refused, by("client:app"), t)
            .await
            .expect("register");
        assert!(matches!(outcome, Registration::Refused { .. }));
    }
    trim().await;

    // Assert
    let events = all_events(store).await;
    let ids: Vec<&str> = events.iter().map(|e| e.id.0.as_str()).collect();
    let client = events.iter().filter(|e| e.actor == "client:app").count();
    assert!(
        client < flood,
        "the log was trimmed ({client} of {flood} client events left)"
    );
    assert!(client > 0, "the newest client events are kept");
    assert_eq!(
        events.last(),
        Some(&disable),
        "the admin's disable is still there, the oldest: {ids:?}"
    );
    assert_eq!(events.iter().filter(|e| e.id == disable.id).count(), 1);
    assert!(
        events.windows(2).all(|w| w[0].id != w[1].id),
        "no event twice: {ids:?}"
    );
    assert_eq!(events[0].actor, "client:app", "newest first");
}

mod audit_retention {
    use super::*;

    #[tokio::test]
    async fn embedded() {
        let dir = TempDir::new().expect("temporary directory");
        let store = EmbeddedStore::open(&EmbeddedSettings {
            path: dir.path().join("data"),
            sweep_interval: Duration::from_secs(60),
            max_events: 50,
            max_admin_events: 50,
        })
        .expect("open the embedded store");
        let sweeper = store.clone();
        admin_events_outlive_a_flood_of_client_events(&store, 200, || async move {
            sweeper.sweep(now()).await.expect("sweep");
        })
        .await;
    }

    #[tokio::test]
    async fn redis() {
        let server = RedisServer::start();
        let mut settings = redis_settings(&server, "revokd-test:");
        settings.max_events = 50;
        settings.max_admin_events = 50;
        let store = RedisStore::connect(&settings).expect("connect");
        // MAXLEN ~ trims whole nodes of 100 entries: flood past several.
        admin_events_outlive_a_flood_of_client_events(&store, 600, || async {}).await;
    }
}

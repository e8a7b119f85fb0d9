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
use revokd::domain::{
    Change, Event, EventId, EventPage, Facts, Issuer, Lookup, Note, Provenance, Session, SessionId,
    Subject, SubjectId, TokenId, UnixTime,
};
use revokd::store::{
    EmbeddedSettings, EmbeddedStore, RedisSettings, RedisStore, RevocationStore, StoreError,
};
use secrecy::SecretString;
use tempfile::TempDir;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const IDP_A: &str = "https://idp-a.example";
const IDP_B: &str = "https://idp-b.example";

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
    }
}

fn redis() -> RedisHarness {
    let server = RedisServer::start();
    let store = RedisStore::connect(&redis_settings(&server, "revokd-test:")).expect("connect");
    RedisHarness { store, server }
}

/// Instantiates every listed case once per backend: `embedded::<case>` and
/// `redis::<case>`.
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
    issuers_sharing_a_sub_or_sid_do_not_collide,
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
// Redis only
// ---------------------------------------------------------------------------

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

        let started = Instant::now();
        let ping = store.ping().await.err();
        let ping_took = started.elapsed();
        let apply = store.apply(revoke, by("admin:test"), t).await.err();
        let apply_took = started.elapsed() - ping_took;
        let lookup = store.lookup(token_lookup(&token), t).await.err();
        let lookup_took = started.elapsed() - ping_took - apply_took;
        let events = store.events(&page).await.err();
        let events_took = started.elapsed() - ping_took - apply_took - lookup_took;

        let results = [
            ("ping", ping, ping_took),
            ("apply", apply, apply_took),
            ("lookup", lookup, lookup_took),
            ("events", events, events_took),
        ];
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
}

//! Names, instants and writers every contract case shares, and the
//! harnesses that open each backend (embedded, Redis, Redis over TLS).
//! The imports are re-exported so a case module needs only
//! `use crate::fixtures::*;`.

pub(crate) use std::time::{Duration, Instant};

pub(crate) use crate::common::redis_server::RedisServer;
pub(crate) use deadpool_redis::redis as raw_redis;
pub(crate) use futures_util::future::join_all;
pub(crate) use revokd::domain::{
    BoundFacts, Change, ChangeKinds, CheckRequest, Event, EventId, EventPage, FactUpdate, Facts,
    Issuer, Lookup, Note, Owner, Provenance, Reason, Registration, RegistrationLimits, SeenKey,
    Session, SessionId, SessionRegistration, Subject, SubjectId, TokenId, UnixTime, Verdict,
    decide,
};
pub(crate) use revokd::store::{
    EmbeddedSettings, EmbeddedStore, MirroredKey, RedisSettings, RedisStore, RevocationStore,
    StoreError,
};
pub(crate) use secrecy::SecretString;
pub(crate) use tempfile::TempDir;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

pub(crate) const IDP_A: &str = "https://idp-a.example";
pub(crate) const IDP_B: &str = "https://idp-b.example";
/// An issuer whose byte length differs from its character count: the Redis
/// scripts rebuild key names from it and must count as `FactKey` does.
pub(crate) const IDP_U: &str = "https://idp-ü.example/realms/straße";

pub(crate) fn now() -> UnixTime {
    UnixTime::now()
}

/// `t` moved by `secs` (negative: earlier).
pub(crate) fn at(t: UnixTime, secs: i64) -> UnixTime {
    UnixTime::from_secs(t.as_secs() + secs)
}

pub(crate) fn jti(value: &str) -> TokenId {
    TokenId::parse(value).expect("valid jti")
}

pub(crate) fn session(iss: &str, sid: &str) -> Session {
    Session {
        iss: Issuer::parse(iss).expect("valid iss"),
        sid: SessionId::parse(sid).expect("valid sid"),
    }
}

pub(crate) fn subject(iss: &str, sub: &str) -> Subject {
    Subject {
        iss: Issuer::parse(iss).expect("valid iss"),
        sub: SubjectId::parse(sub).expect("valid sub"),
    }
}

pub(crate) fn by(actor: &str) -> Provenance {
    Provenance {
        actor: actor.to_owned(),
        reason: None,
    }
}

pub(crate) fn because(actor: &str, reason: &str) -> Provenance {
    Provenance {
        actor: actor.to_owned(),
        reason: Some(Note::parse(reason).expect("valid reason")),
    }
}

pub(crate) fn token_lookup(jti: &TokenId) -> Lookup<'_> {
    Lookup {
        jti: Some(jti),
        ..Lookup::default()
    }
}

pub(crate) fn session_lookup(session: &Session) -> Lookup<'_> {
    Lookup {
        session: Some(session),
        ..Lookup::default()
    }
}

pub(crate) fn subject_lookup(subject: &Subject) -> Lookup<'_> {
    Lookup {
        subject: Some(subject),
        ..Lookup::default()
    }
}

pub(crate) async fn apply(store: &impl RevocationStore, change: Change, now: UnixTime) -> Event {
    store
        .apply(change, by("admin:test"), now)
        .await
        .expect("apply")
}

/// Revokes one token id (as `admin:test`); the writers below spare each
/// case a nine-line `Change` literal and say which change it makes.
pub(crate) async fn revoke_token(
    store: &impl RevocationStore,
    jti: TokenId,
    expires_at: UnixTime,
    now: UnixTime,
) -> Event {
    apply(store, Change::TokenRevoked { jti, expires_at }, now).await
}

pub(crate) async fn revoke_session(
    store: &impl RevocationStore,
    session: Session,
    expires_at: UnixTime,
    now: UnixTime,
) -> Event {
    apply(
        store,
        Change::SessionRevoked {
            session,
            expires_at,
        },
        now,
    )
    .await
}

/// Disables a subject; `expires_at: None` until enabled.
pub(crate) async fn disable_subject(
    store: &impl RevocationStore,
    subject: Subject,
    expires_at: Option<UnixTime>,
    now: UnixTime,
) -> Event {
    apply(
        store,
        Change::SubjectDisabled {
            subject,
            expires_at,
        },
        now,
    )
    .await
}

pub(crate) async fn enable_subject(
    store: &impl RevocationStore,
    subject: Subject,
    now: UnixTime,
) -> Event {
    apply(store, Change::SubjectEnabled { subject }, now).await
}

/// Marks every token of `subject` issued at or before `before` revoked.
pub(crate) async fn revoke_before(
    store: &impl RevocationStore,
    subject: Subject,
    before: UnixTime,
    expires_at: UnixTime,
    now: UnixTime,
) -> Event {
    let change = Change::SubjectRevokedBefore {
        subject,
        before,
        expires_at,
    };
    apply(store, change, now).await
}

pub(crate) async fn facts(
    store: &impl RevocationStore,
    lookup: Lookup<'_>,
    now: UnixTime,
) -> Facts {
    store.lookup(lookup, now).await.expect("lookup")
}

pub(crate) fn seen(iss: &str, logout_jti: &str, expires_at: UnixTime) -> SeenKey {
    SeenKey {
        iss: Issuer::parse(iss).expect("valid iss"),
        jti: jti(logout_jti),
        expires_at,
    }
}

pub(crate) fn registration(
    iss: &str,
    sid: Option<&str>,
    sub: &str,
    token_ids: &[&str],
    expires_at: UnixTime,
) -> SessionRegistration {
    registration_by(&app(), iss, sid, sub, token_ids, expires_at)
}

/// The key name every registration helper registers as, unless told.
pub(crate) fn app() -> Owner {
    Owner::parse("app").expect("valid owner")
}

/// A key name (the owner of registrations).
pub(crate) fn owner(name: &str) -> Owner {
    Owner::parse(name).expect("valid owner")
}

pub(crate) fn registration_by(
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

pub(crate) async fn register(
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
pub(crate) async fn bound(
    store: &impl RevocationStore,
    token: &str,
    now: UnixTime,
) -> Option<BoundFacts> {
    facts(store, token_lookup(&jti(token)), now).await.bound
}

/// What a check that knows only the token id answers.
pub(crate) async fn verdict_by_jti(
    store: &impl RevocationStore,
    token: &str,
    iat: Option<UnixTime>,
    now: UnixTime,
) -> Verdict {
    let request = CheckRequest::new(None, Some(jti(token)), None, None, iat).expect("request");
    decide(&request, &facts(store, request.lookup(), now).await)
}

/// A live binding with no facts about its session or subject.
pub(crate) fn clean_binding(registered_at: UnixTime) -> Option<BoundFacts> {
    Some(BoundFacts {
        session_revoked: false,
        subject_disabled: false,
        subject_revoked_before: None,
        registered_at,
    })
}

pub(crate) async fn all_events(store: &impl RevocationStore) -> Vec<Event> {
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
pub(crate) struct EmbeddedHarness {
    pub(crate) store: EmbeddedStore,
    _dir: TempDir,
}

pub(crate) fn embedded() -> EmbeddedHarness {
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
pub(crate) struct RedisHarness {
    pub(crate) store: RedisStore,
    pub(crate) server: RedisServer,
}

pub(crate) fn redis_settings(server: &RedisServer, key_prefix: &str) -> RedisSettings {
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

pub(crate) fn redis() -> RedisHarness {
    let server = RedisServer::start();
    let store = RedisStore::connect(&redis_settings(&server, "revokd-test:")).expect("connect");
    RedisHarness { store, server }
}

/// One test CA and Redis certificate for every `redis_tls` case (made
/// once: `openssl` per case would cost more than the case), under the
/// test-scratch directory Cargo provides.
pub(crate) static TLS_CERTS: std::sync::LazyLock<(
    crate::common::certs::TestCa,
    crate::common::certs::Leaf,
)> = std::sync::LazyLock::new(|| {
    let ca = crate::common::certs::TestCa::new_in(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")),
        "contract",
    );
    let leaf = ca.leaf("redis", 1);
    (ca, leaf)
});

/// A Redis store over TLS (`rediss://`, the test CA as `redis.tls.ca_file`)
/// on its own TLS-only `redis-server`.
pub(crate) fn redis_tls() -> RedisHarness {
    let (ca, leaf) = &*TLS_CERTS;
    let server = RedisServer::start_tls(crate::common::redis_server::RedisTls {
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
